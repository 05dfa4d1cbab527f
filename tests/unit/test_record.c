/*
 * test_record.c — unit tests for wal/record.c (the log record codec) and
 * wal/lsn.c: every field round-trips, compressed and not; every truncation
 * asks for more; a flipped bit anywhere is caught; expected LSN, oversize
 * lengths, reserved bits and bad zlib streams are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "lsn.h"
#include "record.h"
#include "sl_error.h"
#include "testbytes.h"

/* ---------------------------------------------------------------- helpers */

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Rewrites the CRC of an encoded record after a deliberate change. */
static void fix_crc(uint8_t *rec, size_t total)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, rec + 8, (uInt)(total - 8));
	put32(rec + 4, (uint32_t)crc);
}

/* A record with any header fields and stored bytes, with a correct CRC. */
static void build_raw(struct buf *b, uint64_t lsn, uint8_t type, uint8_t flags, const void *stored, uint32_t n)
{
	uint8_t h[RECORD_HEADER_SIZE] = { 0 };
	put32(h, 0x534C5231u);
	put64(h + 8, lsn);
	put64(h + 16, 3);
	put64(h + 24, 1700000000000000ull);
	h[32] = type;
	h[33] = flags;
	put32(h + 36, n);
	buf_reset(b);
	buf_append(b, h, sizeof(h));
	buf_append(b, stored, n);
	assert_false(b->oom);
	fix_crc(b->data, b->len);
}

/* A compressed stored payload: u32 raw_len + the zlib stream of raw. */
static void build_zstored(struct buf *out, const uint8_t *raw, size_t n, uint32_t claimed_raw_len)
{
	uLongf zlen = compressBound(n);
	uint8_t *z = malloc(zlen);
	assert_non_null(z);
	assert_int_equal(compress2(z, &zlen, raw, n, 1), Z_OK);
	buf_reset(out);
	buf_put_u32(out, claimed_raw_len);
	buf_append(out, z, zlen);
	free(z);
}

static void check_roundtrip(const uint8_t *payload, size_t len, bool compress, bool expect_compressed)
{
	struct buf b, out;
	struct record r;
	size_t used = 0;
	buf_init(&b);
	buf_init(&out);
	buf_append(&b, "xyz", 3); /* encode appends after what is there */
	assert_int_equal(record_encode(&b, 0x123456789ull, 77, 1700000000123456ull, RECORD_TXN, payload, len, compress), 0);
	assert_int_equal(record_decode(b.data + 3, b.len - 3, 0x123456789ull, &r, &used), 0);
	assert_int_equal(used, b.len - 3);
	assert_int_equal(record_size(&r), used);
	assert_int_equal(r.lsn, 0x123456789ull);
	assert_int_equal(r.epoch, 77);
	assert_int_equal(r.commit_ts, 1700000000123456ull);
	assert_int_equal(r.type, RECORD_TXN);
	assert_int_equal(r.raw_len, len);
	assert_true(r.payload == b.data + 3 + RECORD_HEADER_SIZE);
	assert_int_equal(!!(r.flags & RECORD_F_COMPRESSED), expect_compressed);
	if (expect_compressed)
		assert_true(r.payload_len < len);
	else
		assert_int_equal(r.payload_len, len);
	assert_int_equal(record_payload(&r, &out), 0);
	assert_int_equal(out.len, len);
	if (len)
		assert_memory_equal(out.data, payload, len);
	assert_null(record_diagnose(b.data + 3, b.len - 3, 0x123456789ull));
	buf_free(&b);
	buf_free(&out);
}

/* ---------------------------------------------------------------- round trips */

static void test_roundtrip_plain(void **state)
{
	(void)state;
	uint8_t p[3000];
	fill_random(p, sizeof(p), 1);
	size_t sizes[] = { 0, 1, 2, 39, 40, 41, 1000, sizeof(p) };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		check_roundtrip(p, sizes[i], false, false);
		/* Random bytes do not compress: stored as they are. */
		check_roundtrip(p, sizes[i], true, false);
	}
}

static void test_roundtrip_compressed(void **state)
{
	(void)state;
	uint8_t p[20000];
	fill_text(p, sizeof(p));
	check_roundtrip(p, sizeof(p), true, true);
	check_roundtrip(p, 200, true, true);
	check_roundtrip(p, sizeof(p), false, false);
	/* Too short to gain anything: stored plain even with compress. */
	check_roundtrip(p, 4, true, false);
	memset(p, 0, sizeof(p));
	check_roundtrip(p, sizeof(p), true, true);
}

static void test_every_field(void **state)
{
	(void)state;
	uint64_t values[] = { 0, 1, 0xFFFFFFFFull, 0x100000000ull, UINT64_MAX - 1 };
	struct buf b;
	struct record r;
	size_t used;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
		for (uint8_t type = RECORD_TXN; type <= RECORD_EPOCH; type++) {
			buf_reset(&b);
			uint64_t v = values[i];
			assert_int_equal(record_encode(&b, v, ~v, v ^ 0x5555, type, "ab", 2, false), 0);
			assert_int_equal(record_decode(b.data, b.len, UINT64_MAX, &r, &used), 0);
			assert_int_equal(r.lsn, v);
			assert_int_equal(r.epoch, ~v);
			assert_int_equal(r.commit_ts, v ^ 0x5555);
			assert_int_equal(r.type, type);
			assert_int_equal(r.flags, 0);
		}
	}
	/* Two records back to back decode one after the other. */
	buf_reset(&b);
	assert_int_equal(record_encode(&b, 100, 1, 1, RECORD_EPOCH, "first", 5, false), 0);
	assert_int_equal(record_encode(&b, 145, 1, 2, RECORD_TXN, "second", 6, false), 0);
	assert_int_equal(record_decode(b.data, b.len, 100, &r, &used), 0);
	assert_int_equal(used, 45);
	assert_int_equal(record_decode(b.data + used, b.len - used, 145, &r, &used), 0);
	assert_int_equal(r.commit_ts, 2);
	buf_free(&b);
}

/* ---------------------------------------------------------------- damage */

static void check_truncations(bool compress)
{
	uint8_t p[600];
	fill_text(p, sizeof(p));
	struct buf b;
	struct record r;
	size_t used;
	buf_init(&b);
	assert_int_equal(record_encode(&b, 4096, 2, 3, RECORD_TXN, p, sizeof(p), compress), 0);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
		assert_non_null(copy);
		memcpy(copy, b.data, n);
		assert_int_equal(record_decode(copy, n, 4096, &r, &used), SL_EAGAIN);
		assert_non_null(record_diagnose(copy, n, 4096));
		free(copy);
	}
	assert_int_equal(record_decode(b.data, b.len, 4096, &r, &used), 0);
	buf_free(&b);
}

static void test_truncated(void **state)
{
	(void)state;
	check_truncations(false);
	check_truncations(true);
}

/* Flips every bit of the record; with room after it to read a longer claim. */
static void check_bitflips(bool compress)
{
	uint8_t p[300];
	fill_text(p, sizeof(p));
	struct buf b;
	struct record r;
	size_t used;
	buf_init(&b);
	assert_int_equal(record_encode(&b, 1000, 9, 99, RECORD_TXN, p, sizeof(p), compress), 0);
	size_t total = b.len;
	assert_int_equal(!!(b.data[33] & RECORD_F_COMPRESSED), compress);
	uint8_t pad[8192] = { 0 };
	buf_append(&b, pad, sizeof(pad));
	for (size_t i = 0; i < total; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b.data[i] ^= (uint8_t)(1u << bit);
			int rc = record_decode(b.data, b.len, 1000, &r, &used);
			uint32_t claimed = get_u32(b.data + 36);
			if (i >= 36 && i < 40 && claimed <= RECORD_MAX_PAYLOAD && claimed + 40ull > b.len)
				assert_int_equal(rc, SL_EAGAIN); /* a longer claim than the buffer holds */
			else
				assert_int_equal(rc, SL_ECORRUPT);
			rc = record_decode(b.data, b.len, UINT64_MAX, &r, &used);
			assert_int_not_equal(rc, 0);
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(record_decode(b.data, b.len, 1000, &r, &used), 0);
	buf_free(&b);
}

static void test_bitflips(void **state)
{
	(void)state;
	check_bitflips(false);
	check_bitflips(true);
}

static void test_expected_lsn(void **state)
{
	(void)state;
	struct buf b;
	struct record r;
	size_t used;
	buf_init(&b);
	assert_int_equal(record_encode(&b, 500, 1, 1, RECORD_TXN, "x", 1, false), 0);
	assert_int_equal(record_decode(b.data, b.len, 500, &r, &used), 0);
	assert_int_equal(record_decode(b.data, b.len, UINT64_MAX, &r, &used), 0);
	assert_int_equal(record_decode(b.data, b.len, 501, &r, &used), SL_ECORRUPT);
	assert_int_equal(record_decode(b.data, b.len, 499, &r, &used), SL_ECORRUPT);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), SL_ECORRUPT);
	assert_string_equal(record_diagnose(b.data, b.len, 0), "record has an unexpected LSN");
	buf_free(&b);
}

static void test_header_fields(void **state)
{
	(void)state;
	struct buf b;
	struct record r;
	size_t used;
	buf_init(&b);
	build_raw(&b, 7, RECORD_TXN, 0, "abc", 3);
	assert_int_equal(record_decode(b.data, b.len, 7, &r, &used), 0);
	/* Each must be refused even with a correct CRC. */
	uint8_t types[] = { 0, 3, 255 };
	for (size_t i = 0; i < sizeof(types); i++) {
		build_raw(&b, 7, types[i], 0, "abc", 3);
		assert_int_equal(record_decode(b.data, b.len, 7, &r, &used), SL_ECORRUPT);
		assert_string_equal(record_diagnose(b.data, b.len, 7), "unknown record type");
	}
	for (int bit = 1; bit < 8; bit++) {
		build_raw(&b, 7, RECORD_TXN, (uint8_t)(1u << bit), "abc", 3);
		assert_int_equal(record_decode(b.data, b.len, 7, &r, &used), SL_ECORRUPT);
	}
	build_raw(&b, 7, RECORD_TXN, 0, "abc", 3);
	b.data[35] = 1;
	fix_crc(b.data, b.len);
	assert_int_equal(record_decode(b.data, b.len, 7, &r, &used), SL_ECORRUPT);
	assert_string_equal(record_diagnose(b.data, b.len, 7), "reserved field is not zero");
	build_raw(&b, 7, RECORD_TXN, 0, "abc", 3);
	b.data[0] = 'X';
	assert_int_equal(record_decode(b.data, b.len, 7, &r, &used), SL_ECORRUPT);
	assert_string_equal(record_diagnose(b.data, b.len, 7), "bad magic");
	/* Header checks come before the length is used: 40 bytes suffice. */
	memset(b.data, 0, RECORD_HEADER_SIZE);
	assert_int_equal(record_decode(b.data, RECORD_HEADER_SIZE, UINT64_MAX, &r, &used), SL_ECORRUPT);
	buf_free(&b);
}

static void test_oversize(void **state)
{
	(void)state;
	struct buf b;
	struct record r;
	size_t used;
	buf_init(&b);
	/* The length is checked before the payload is touched. */
	assert_int_equal(record_encode(&b, 0, 1, 1, RECORD_TXN, "", (size_t)RECORD_MAX_PAYLOAD + 1, false),
			 SL_ETOOBIG);
	assert_int_equal(b.len, 0);
	build_raw(&b, 7, RECORD_TXN, 0, "abc", 3);
	put32(b.data + 36, RECORD_MAX_PAYLOAD + 1);
	assert_int_equal(record_decode(b.data, b.len, 7, &r, &used), SL_ECORRUPT);
	assert_string_equal(record_diagnose(b.data, b.len, 7), "payload length beyond the maximum");
	put32(b.data + 36, UINT32_MAX);
	assert_int_equal(record_decode(b.data, b.len, 7, &r, &used), SL_ECORRUPT);
	/* The maximum itself is allowed: it just needs more bytes. */
	put32(b.data + 36, RECORD_MAX_PAYLOAD);
	assert_int_equal(record_decode(b.data, b.len, 7, &r, &used), SL_EAGAIN);
	buf_free(&b);
}

static void test_bad_type_and_oom(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	assert_int_equal(record_encode(&b, 0, 1, 1, 0, "a", 1, false), SL_EINVAL);
	assert_int_equal(record_encode(&b, 0, 1, 1, 3, "a", 1, false), SL_EINVAL);
	assert_int_equal(b.len, 0);
	buf_append(&b, "keep", 4);
	b.oom = true; /* an earlier failure: nothing more is appended */
	assert_int_equal(record_encode(&b, 0, 1, 1, RECORD_TXN, "a", 1, false), SL_ENOMEM);
	assert_int_equal(b.len, 4);
	assert_true(b.oom);
	buf_free(&b);
}

/* ---------------------------------------------------------------- zlib */

static void test_bad_zlib(void **state)
{
	(void)state;
	uint8_t raw[5000];
	fill_text(raw, sizeof(raw));
	struct buf b, z, out;
	struct record r;
	size_t used;
	buf_init(&b);
	buf_init(&z);
	buf_init(&out);

	/* A well-formed one, built by hand, decodes. */
	build_zstored(&z, raw, sizeof(raw), sizeof(raw));
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, z.data, (uint32_t)z.len);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), 0);
	assert_int_equal(r.raw_len, sizeof(raw));
	assert_int_equal(record_payload(&r, &out), 0);
	assert_memory_equal(out.data, raw, sizeof(raw));

	/* The stream inflates to more, or fewer, bytes than claimed. */
	build_zstored(&z, raw, sizeof(raw), sizeof(raw) - 1);
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, z.data, (uint32_t)z.len);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), 0);
	assert_int_equal(record_payload(&r, &out), SL_ECORRUPT);
	build_zstored(&z, raw, sizeof(raw), sizeof(raw) + 1);
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, z.data, (uint32_t)z.len);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), 0);
	assert_int_equal(record_payload(&r, &out), SL_ECORRUPT);

	/* Garbage instead of a stream; a stream cut short; bytes after it. */
	build_zstored(&z, raw, sizeof(raw), sizeof(raw));
	size_t zlen = z.len;
	for (size_t i = 4; i < z.len; i++)
		z.data[i] ^= 0xA5;
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, z.data, (uint32_t)z.len);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), 0);
	assert_int_equal(record_payload(&r, &out), SL_ECORRUPT);
	assert_int_equal(out.len, 0);
	build_zstored(&z, raw, sizeof(raw), sizeof(raw));
	for (size_t cut = 5; cut < zlen; cut++) {
		build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, z.data, (uint32_t)cut);
		if (record_decode(b.data, b.len, 0, &r, &used) == 0)
			assert_int_equal(record_payload(&r, &out), SL_ECORRUPT);
	}
	buf_append(&z, "junk", 4);
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, z.data, (uint32_t)z.len);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), 0);
	assert_int_equal(record_payload(&r, &out), SL_ECORRUPT);

	/* Raw lengths refused before any allocation. */
	uint8_t tiny[8] = { 0, 0, 0, 0, 0x78, 0x01, 0x03, 0x00 };
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, tiny, sizeof(tiny));
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), SL_ECORRUPT); /* raw length 0 */
	put32(tiny, RECORD_MAX_PAYLOAD + 1);
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, tiny, sizeof(tiny));
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), SL_ECORRUPT);
	put32(tiny, RECORD_MAX_PAYLOAD); /* a gigabyte from 4 bytes is impossible */
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, tiny, sizeof(tiny));
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), SL_ECORRUPT);
	assert_string_equal(record_diagnose(b.data, b.len, 0), "raw payload length impossible for its compressed size");
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, tiny, 4);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), SL_ECORRUPT);
	assert_string_equal(record_diagnose(b.data, b.len, 0), "compressed payload too short");

	/* A hand-made struct with inconsistent fields is refused too. */
	build_zstored(&z, raw, sizeof(raw), sizeof(raw));
	build_raw(&b, 0, RECORD_TXN, RECORD_F_COMPRESSED, z.data, (uint32_t)z.len);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), 0);
	r.raw_len--;
	assert_int_equal(record_payload(&r, &out), SL_ECORRUPT);
	r.raw_len++;
	r.flags |= 0x80;
	assert_int_equal(record_payload(&r, &out), SL_ECORRUPT);
	build_raw(&b, 0, RECORD_TXN, 0, "abc", 3);
	assert_int_equal(record_decode(b.data, b.len, 0, &r, &used), 0);
	r.raw_len = 4;
	assert_int_equal(record_payload(&r, &out), SL_ECORRUPT);

	buf_free(&b);
	buf_free(&z);
	buf_free(&out);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(record_type_name(RECORD_TXN), "TXN");
	assert_string_equal(record_type_name(RECORD_EPOCH), "EPOCH");
	assert_string_equal(record_type_name(0), "unknown");
	assert_string_equal(record_type_name(77), "unknown");
}

/* ---------------------------------------------------------------- LSNs */

static void test_lsn_format(void **state)
{
	(void)state;
	char t[LSN_TEXT_MAX];
	assert_string_equal(lsn_format(0, t), "0/0");
	assert_string_equal(lsn_format(0x16B3F0, t), "0/16B3F0");
	assert_string_equal(lsn_format(0x100000000ull, t), "1/0");
	assert_string_equal(lsn_format(0xABCDEF0123456789ull, t), "ABCDEF01/23456789");
	assert_string_equal(lsn_format(UINT64_MAX, t), "FFFFFFFF/FFFFFFFF");
	assert_int_equal(strlen(t) + 1, LSN_TEXT_MAX);
}

static void test_lsn_parse(void **state)
{
	(void)state;
	uint64_t v = 42;
	assert_int_equal(lsn_parse("0/0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(lsn_parse("0/16b3f0", &v), 0);
	assert_int_equal(v, 0x16B3F0);
	assert_int_equal(lsn_parse("FFFFFFFF/FFFFFFFF", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(lsn_parse("00000001/00000000", &v), 0);
	assert_int_equal(v, 0x100000000ull);
	const char *bad[] = { "", "/", "0/", "/0", "0", "0/0/0", "1FFFFFFFF/0", "0/123456789", "-1/0", "0/+1",
			      " 0/0", "0/0 ", "0x1/0", "g/0", "0/G", "0:0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 42;
		assert_int_equal(lsn_parse(bad[i], &v), SL_EINVAL);
		assert_int_equal(v, 42);
	}
	assert_int_equal(lsn_parse(NULL, &v), SL_EINVAL);
	/* Every value survives format then parse. */
	char t[LSN_TEXT_MAX];
	uint64_t samples[] = { 1, 0xFFFFFFFFull, 0x1234500000000ull, 0x8000000000000001ull };
	for (size_t i = 0; i < sizeof(samples) / sizeof(*samples); i++) {
		assert_int_equal(lsn_parse(lsn_format(samples[i], t), &v), 0);
		assert_int_equal(v, samples[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_plain),
		cmocka_unit_test(test_roundtrip_compressed),
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bitflips),
		cmocka_unit_test(test_expected_lsn),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_bad_type_and_oom),
		cmocka_unit_test(test_bad_zlib),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_lsn_format),
		cmocka_unit_test(test_lsn_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
