/*
 * test_peer.c — unit tests for the peer protocol: common/peerframe.c (frames),
 * common/peermsg.c (message bodies), common/peerauth.c (proofs of the
 * cluster secret), common/peerlink.c (framed socket I/O) and the two sides
 * of a link's handshake (common/peerdial.c, common/peeraccept.c).
 *
 * Every message type round-trips, compressed and not; every truncation of a
 * frame asks for more; every malformed header, CRC, compressed payload and
 * message body is a protocol error, and a length beyond the maximum is
 * refused from the header alone. Links run over a socketpair.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "peeraccept.h"
#include "peerauth.h"
#include "peerdial.h"
#include "peerframe.h"
#include "peerlink.h"
#include "peermsg.h"
#include "record.h"
#include "sl_error.h"
#include "testbytes.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- helpers */

/* A copy in an allocation of exactly n bytes, so ASan sees a read past it. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* Sets the CRC of the frame at f (header and len stored bytes). */
static void fix_crc(uint8_t *f, uint32_t len)
{
	uLong crc = crc32(0L, f, 20);
	if (len)
		crc = crc32(crc, f + PEER_HEADER_SIZE, len);
	put32(f + 20, (uint32_t)crc);
}

/* A frame with any header fields, a correct CRC and len stored bytes. */
static void raw_frame(struct buf *b, uint8_t type, uint8_t flags, uint16_t reserved, uint64_t epoch,
		      const void *stored, uint32_t len)
{
	uint8_t h[PEER_HEADER_SIZE];
	put32(h, 0x534C5031u);
	h[4] = type;
	h[5] = flags;
	h[6] = (uint8_t)(reserved >> 8);
	h[7] = (uint8_t)reserved;
	put32(h + 8, (uint32_t)(epoch >> 32));
	put32(h + 12, (uint32_t)epoch);
	put32(h + 16, len);
	buf_reset(b);
	buf_append(b, h, sizeof(h));
	buf_append(b, stored, len);
	assert_false(b->oom);
	fix_crc(b->data, len);
}

/* A compressed stored payload: u32 claimed raw length + the zlib stream of raw. */
static void zstored(struct buf *out, const uint8_t *raw, size_t n, uint32_t claimed)
{
	uLongf zlen = compressBound(n);
	uint8_t *z = malloc(zlen);
	assert_non_null(z);
	assert_int_equal(compress2(z, &zlen, raw, n, 1), Z_OK);
	buf_reset(out);
	buf_put_u32(out, claimed);
	buf_append(out, z, zlen);
	free(z);
	assert_false(out->oom);
}

/* Every prefix of a frame asks for more bytes. */
static void check_truncations(const uint8_t *frame, size_t total)
{
	for (size_t n = 0; n < total; n++) {
		uint8_t *c = exact_copy(frame, n);
		struct peer_frame f;
		size_t used = 12345, size = 0;
		assert_int_equal(peer_frame_decode(c, n, &f, &used), SL_EAGAIN);
		assert_int_equal(used, 12345);
		assert_string_equal(peer_frame_diagnose(c, n), "truncated frame");
		if (n < PEER_HEADER_SIZE) {
			assert_int_equal(peer_frame_size(c, n, &size), SL_EAGAIN);
		} else {
			assert_int_equal(peer_frame_size(c, n, &size), 0);
			assert_int_equal(size, total);
		}
		free(c);
	}
}

/*
 * Frames body as type (after a few bytes already in the buffer), decodes it
 * from an exact-size copy, checks the frame, and leaves the raw payload in
 * raw. Returns whether the frame was stored compressed.
 */
static bool frame_trip(uint8_t type, uint64_t epoch, const uint8_t *body, size_t len, bool compress,
		       struct buf *raw, bool truncations)
{
	struct buf b;
	buf_init(&b);
	buf_append(&b, "abc", 3); /* encode appends after what is there */
	assert_int_equal(peer_frame_encode(&b, type, epoch, body, len, compress), 0);
	assert_memory_equal(b.data, "abc", 3);
	size_t total = b.len - 3;
	uint8_t *c = exact_copy(b.data + 3, total);
	struct peer_frame f;
	size_t used = 0, size = 0;
	assert_int_equal(peer_frame_size(c, total, &size), 0);
	assert_int_equal(size, total);
	assert_int_equal(peer_frame_decode(c, total, &f, &used), 0);
	assert_null(peer_frame_diagnose(c, total));
	assert_int_equal(used, total);
	assert_int_equal(f.type, type);
	assert_int_equal(f.epoch, epoch);
	assert_true(f.payload == c + PEER_HEADER_SIZE);
	assert_int_equal(f.len, total - PEER_HEADER_SIZE);
	bool compressed = f.flags & PEER_F_COMPRESSED;
	assert_int_equal(f.flags & ~PEER_F_COMPRESSED, 0);
	if (!compress)
		assert_false(compressed);
	if (compressed)
		assert_true(f.len < len);
	else
		assert_int_equal(f.len, len);
	assert_int_equal(peer_frame_payload(&f, PEER_MAX_PAYLOAD, raw), 0);
	assert_int_equal(raw->len, len);
	if (len)
		assert_memory_equal(raw->data, body, len);
	if (truncations)
		check_truncations(c, total);
	free(c);
	buf_free(&b);
	return compressed;
}

/* frame_trip for a message body built in b, plain and compressed. */
static void body_trip(uint8_t type, const struct buf *body, bool compress, struct buf *raw)
{
	assert_false(body->oom);
	frame_trip(type, 7, body->data, body->len, compress, raw, true);
}

/* Every proper prefix of body and body plus a byte are refused by get. */
typedef int (*getter)(const uint8_t *p, size_t len, void *out);

static int get_hello(const uint8_t *p, size_t n, void *o) { return peer_hello_get(p, n, o); }
static int get_challenge(const uint8_t *p, size_t n, void *o) { return peer_challenge_get(p, n, o); }
static int get_auth(const uint8_t *p, size_t n, void *o) { return peer_auth_get(p, n, o); }
static int get_text(const uint8_t *p, size_t n, void *o) { return peer_text_get(p, n, o); }
static int get_follow(const uint8_t *p, size_t n, void *o) { return peer_follow_get(p, n, o); }
static int get_snap_begin(const uint8_t *p, size_t n, void *o) { return peer_snap_begin_get(p, n, o); }
static int get_u64(const uint8_t *p, size_t n, void *o) { return peer_u64_get(p, n, o); }
static int get_heartbeat(const uint8_t *p, size_t n, void *o) { return peer_heartbeat_get(p, n, o); }
static int get_ack(const uint8_t *p, size_t n, void *o) { return peer_ack_get(p, n, o); }
static int get_election(const uint8_t *p, size_t n, void *o) { return peer_election_get(p, n, o); }
static int get_welcome(const uint8_t *p, size_t n, void *o)
{
	int rc = peer_welcome_get(p, n, o);
	if (rc == 0)
		peer_welcome_free(o);
	return rc;
}

static void check_body_strict(getter get, const struct buf *body)
{
	union {
		struct peer_hello h;
		struct peer_welcome w;
		char text[PEER_STR_MAX * 2];
		uint8_t bytes[PEER_PROOF_SIZE];
		uint64_t v;
		struct peer_election e;
	} out;
	assert_int_equal(get(body->data, body->len, &out), 0);
	for (size_t n = 0; n < body->len; n++) {
		uint8_t *c = exact_copy(body->data, n);
		assert_int_equal(get(c, n, &out), SL_EPROTO);
		free(c);
	}
	uint8_t *longer = malloc(body->len + 1);
	assert_non_null(longer);
	memcpy(longer, body->data, body->len);
	longer[body->len] = 0;
	assert_int_equal(get(longer, body->len + 1, &out), SL_EPROTO);
	free(longer);
}

/* ---------------------------------------------------------------- frames */

static void test_frame_roundtrip(void **state)
{
	(void)state;
	uint8_t p[3000];
	fill_random(p, sizeof(p), 1);
	struct buf raw;
	buf_init(&raw);
	size_t sizes[] = { 0, 1, 4, 5, 23, 24, 25, 1000, sizeof(p) };
	uint64_t epochs[] = { 0, 1, 0xFFFFFFFFull, 0x0123456789ABCDEFull, UINT64_MAX };
	for (size_t i = 0; i < N_ELEMS(sizes); i++) {
		for (size_t e = 0; e < N_ELEMS(epochs); e++) {
			/* random bytes do not compress: stored as they are either way */
			assert_false(frame_trip(PEER_RECORDS, epochs[e], p, sizes[i], false, &raw, false));
			assert_false(frame_trip(PEER_RECORDS, epochs[e], p, sizes[i], true, &raw, false));
		}
	}
	assert_false(frame_trip(PEER_SNAP_DATA, 3, p, 300, true, &raw, true));
	fill_text(p, sizeof(p));
	assert_true(frame_trip(PEER_SNAP_DATA, 3, p, sizeof(p), true, &raw, true));
	assert_true(frame_trip(PEER_SNAP_DATA, 3, p, 100, true, &raw, true));
	assert_false(frame_trip(PEER_SNAP_DATA, 3, p, sizeof(p), false, &raw, false));
	/* too short to gain anything */
	assert_false(frame_trip(PEER_SNAP_DATA, 3, p, 4, true, &raw, true));
	assert_false(frame_trip(PEER_SNAPSHOT_REQ, 3, NULL, 0, true, &raw, true));
	/* every type */
	for (uint8_t t = PEER_HELLO; t <= PEER_TYPE_LAST; t++) {
		assert_false(frame_trip(t, t, p, 10, false, &raw, false));
		assert_true(frame_trip(t, t, p, 2000, true, &raw, false));
	}
	buf_free(&raw);
}

static void test_frame_big(void **state)
{
	(void)state;
	size_t n = 3u << 20;
	uint8_t *p = malloc(n);
	assert_non_null(p);
	struct buf raw;
	buf_init(&raw);
	fill_text(p, n);
	assert_true(frame_trip(PEER_RECORDS, 9, p, n, true, &raw, false));
	fill_random(p, n, 5);
	assert_false(frame_trip(PEER_RECORDS, 9, p, n, true, &raw, false));
	buf_free(&raw);
	free(p);
}

static void test_frames_back_to_back(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	uint8_t text[500];
	fill_text(text, sizeof(text));
	assert_int_equal(peer_frame_encode(&b, PEER_HEARTBEAT, 1, "0123456789abcdef", 16, false), 0);
	assert_int_equal(peer_frame_encode(&b, PEER_RECORDS, 2, text, sizeof(text), true), 0);
	assert_int_equal(peer_frame_encode(&b, PEER_SNAPSHOT_REQ, 3, NULL, 0, false), 0);
	size_t off = 0;
	uint8_t want[] = { PEER_HEARTBEAT, PEER_RECORDS, PEER_SNAPSHOT_REQ };
	for (size_t i = 0; i < 3; i++) {
		struct peer_frame f;
		size_t used;
		assert_int_equal(peer_frame_decode(b.data + off, b.len - off, &f, &used), 0);
		assert_int_equal(f.type, want[i]);
		assert_int_equal(f.epoch, i + 1);
		off += used;
	}
	assert_int_equal(off, b.len);
	buf_free(&b);
}

static void test_encode_too_big(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_append(&b, "x", 1);
	uint8_t one = 0;
	/* the length is refused before the payload is touched */
	assert_int_equal(peer_frame_encode(&b, PEER_RECORDS, 1, &one, (size_t)PEER_MAX_PAYLOAD + 1, false),
			 SL_ETOOBIG);
	assert_int_equal(peer_frame_encode(&b, PEER_RECORDS, 1, &one, SIZE_MAX, true), SL_ETOOBIG);
	assert_int_equal(b.len, 1);
	assert_false(b.oom);
	buf_free(&b);
}

/* A small compressed frame that inflates past the link's limit is refused
 * before its raw size is allocated (a bomb before authentication). */
static void test_inflate_bound(void **state)
{
	(void)state;
	size_t len = 1u << 20; /* 1 MiB of zeroes: about 1 kB compressed */
	uint8_t *zeroes = calloc(1, len);
	assert_non_null(zeroes);
	struct buf b, raw;
	buf_init(&b);
	buf_init(&raw);
	assert_int_equal(peer_frame_encode(&b, PEER_HELLO, 0, zeroes, len, true), 0);
	assert_true(b.len < 64u * 1024u);
	struct peer_frame f;
	size_t used;
	assert_int_equal(peer_frame_decode(b.data, b.len, &f, &used), 0);
	assert_true(f.flags & PEER_F_COMPRESSED);
	assert_int_equal(peer_frame_payload(&f, 64u * 1024u, &raw), SL_EPROTO);
	assert_int_equal(raw.len, 0);
	assert_true(raw.cap < len);
	assert_int_equal(peer_frame_payload(&f, (uint32_t)len, &raw), 0);
	assert_int_equal(raw.len, len);
	buf_free(&raw);
	buf_free(&b);
	free(zeroes);
}

/* A valid frame whose header byte i is set to v: refused from the header alone. */
static void check_bad_header(const struct buf *good, size_t i, uint8_t v, const char *why)
{
	uint8_t *c = exact_copy(good->data, good->len);
	c[i] = v;
	fix_crc(c, (uint32_t)(good->len - PEER_HEADER_SIZE));
	for (size_t n = PEER_HEADER_SIZE; n <= good->len; n++) {
		struct peer_frame f;
		size_t used = 99, size = 99;
		assert_int_equal(peer_frame_size(c, n, &size), SL_EPROTO);
		assert_int_equal(size, 99);
		assert_int_equal(peer_frame_decode(c, n, &f, &used), SL_EPROTO);
		assert_int_equal(used, 99);
		assert_string_equal(peer_frame_diagnose(c, n), why);
	}
	free(c);
}

static void test_header_errors(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	assert_int_equal(peer_frame_encode(&b, PEER_HEARTBEAT, 5, "0123456789abcdef", 16, false), 0);
	check_bad_header(&b, 0, 'X', "bad magic");
	check_bad_header(&b, 3, '2', "bad magic");
	uint8_t types[] = { 0, PEER_TYPE_LAST + 1, 0x7F, 0xFF };
	for (size_t i = 0; i < N_ELEMS(types); i++)
		check_bad_header(&b, 4, types[i], "unknown frame type");
	for (int bit = 2; bit < 8; bit++) /* bit 0: compressed, bit 1: sealed */
		check_bad_header(&b, 5, (uint8_t)(1u << bit), "unknown flags");
	check_bad_header(&b, 5, 0xFF, "unknown flags");
	check_bad_header(&b, 6, 1, "reserved bits set");
	check_bad_header(&b, 7, 0x80, "reserved bits set");
	buf_free(&b);
}

/* A sealed frame checks with its key and sequence number only, and not
 * once a byte of it changed (CRC mended, as someone on the path would). */
static void test_seal(void **state)
{
	(void)state;
	uint8_t key[PEER_KEY_SIZE], other[PEER_KEY_SIZE];
	memset(key, 0x5A, sizeof(key));
	memset(other, 0x5B, sizeof(other));
	uint8_t text[300];
	fill_text(text, sizeof(text));
	for (int compress = 0; compress <= 1; compress++) {
		struct buf b;
		buf_init(&b);
		assert_int_equal(peer_frame_encode(&b, PEER_RECORDS, 7, text, sizeof(text), compress), 0);
		struct peer_frame f;
		size_t used;
		assert_int_equal(peer_frame_decode(b.data, b.len, &f, &used), 0);
		assert_false(peer_frame_seal_ok(&f, key, 0)); /* not sealed */
		size_t plain = b.len;
		assert_int_equal(peer_frame_seal(&b, 0, key, 41), 0);
		assert_int_equal(b.len, plain + PEER_TAG_SIZE);
		assert_int_equal(peer_frame_decode(b.data, b.len, &f, &used), 0);
		assert_int_equal(used, b.len);
		assert_true(f.flags & PEER_F_SEALED);
		assert_true(peer_frame_seal_ok(&f, key, 41));
		assert_false(peer_frame_seal_ok(&f, key, 40));
		assert_false(peer_frame_seal_ok(&f, key, 42));
		assert_false(peer_frame_seal_ok(&f, other, 41));
		struct buf raw;
		buf_init(&raw);
		assert_int_equal(peer_frame_payload(&f, PEER_MAX_PAYLOAD, &raw), 0);
		assert_memory_equal(raw.data, text, sizeof(text));
		buf_free(&raw);
		/* a truncated sealed frame is not whole yet */
		assert_int_equal(peer_frame_decode(b.data, b.len - 1, &f, &used), SL_EAGAIN);
		/* one byte of the payload or header changed, the CRC made right */
		size_t at[] = { PEER_HEADER_SIZE + 3, 9 /* epoch */ };
		for (size_t i = 0; i < N_ELEMS(at); i++) {
			b.data[at[i]] ^= 0x01;
			uLong crc = crc32(crc32(0L, b.data, 20), b.data + PEER_HEADER_SIZE, f.len);
			uint8_t c[4] = { (uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc };
			uint8_t keep[4];
			memcpy(keep, b.data + 20, 4);
			memcpy(b.data + 20, c, 4);
			assert_int_equal(peer_frame_decode(b.data, b.len, &f, &used), 0);
			assert_false(peer_frame_seal_ok(&f, key, 41));
			b.data[at[i]] ^= 0x01;
			memcpy(b.data + 20, keep, 4);
		}
		assert_int_equal(peer_frame_decode(b.data, b.len, &f, &used), 0);
		assert_true(peer_frame_seal_ok(&f, key, 41));
		buf_free(&b);
	}
}

static void test_length_limit(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	uint32_t over[] = { PEER_MAX_PAYLOAD + 1, 0x80000000u, UINT32_MAX };
	for (size_t i = 0; i < N_ELEMS(over); i++) {
		raw_frame(&b, PEER_RECORDS, 0, 0, 1, NULL, 0);
		put32(b.data + 16, over[i]);
		fix_crc(b.data, 0);
		/* the header alone, in an allocation of its own size */
		uint8_t *h = exact_copy(b.data, PEER_HEADER_SIZE);
		size_t size = 99, used = 99;
		struct peer_frame f;
		assert_int_equal(peer_frame_size(h, PEER_HEADER_SIZE, &size), SL_EPROTO);
		assert_int_equal(size, 99);
		assert_int_equal(peer_frame_decode(h, PEER_HEADER_SIZE, &f, &used), SL_EPROTO);
		assert_string_equal(peer_frame_diagnose(h, PEER_HEADER_SIZE), "payload length beyond the maximum");
		free(h);
	}
	/* the maximum itself is a frame to wait for */
	raw_frame(&b, PEER_RECORDS, 0, 0, 1, NULL, 0);
	put32(b.data + 16, PEER_MAX_PAYLOAD);
	size_t size = 0, used = 99;
	struct peer_frame f;
	assert_int_equal(peer_frame_size(b.data, PEER_HEADER_SIZE, &size), 0);
	assert_int_equal(size, (size_t)PEER_HEADER_SIZE + PEER_MAX_PAYLOAD);
	assert_int_equal(peer_frame_decode(b.data, PEER_HEADER_SIZE, &f, &used), SL_EAGAIN);
	buf_free(&b);
}

static void test_crc(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	uint8_t text[400];
	fill_text(text, sizeof(text));
	for (int compress = 0; compress <= 1; compress++) {
		buf_reset(&b);
		assert_int_equal(peer_frame_encode(&b, PEER_RECORDS, 77, text, sizeof(text), compress), 0);
		for (size_t i = 0; i < b.len; i++) {
			for (int bit = 0; bit < 8; bit++) {
				b.data[i] ^= (uint8_t)(1u << bit);
				struct peer_frame f;
				size_t used;
				int rc = peer_frame_decode(b.data, b.len, &f, &used);
				if (i >= 16 && i < 20 && rc == SL_EAGAIN) /* a longer length: wait for it */
					assert_true(get_u32(b.data + 16) > b.len - PEER_HEADER_SIZE);
				else if (i == 5 && (1u << bit) == PEER_F_SEALED) /* a tag to wait for */
					assert_int_equal(rc, SL_EAGAIN);
				else
					assert_int_equal(rc, SL_EPROTO);
				if (i >= 8 && i < 16) /* the epoch has no check but the CRC */
					assert_string_equal(peer_frame_diagnose(b.data, b.len), "CRC mismatch");
				if (i >= 20)
					assert_string_equal(peer_frame_diagnose(b.data, b.len), "CRC mismatch");
				b.data[i] ^= (uint8_t)(1u << bit);
			}
		}
		/* the CRC covers the flags: a frame marked compressed after the fact */
		b.data[5] ^= PEER_F_COMPRESSED;
		assert_string_equal(peer_frame_diagnose(b.data, b.len), "CRC mismatch");
	}
	buf_free(&b);
}

/* A frame with a compressed flag and these stored bytes (correct CRC). */
static int decode_stored(const struct buf *stored, struct buf *raw, const char **why)
{
	struct buf b;
	buf_init(&b);
	raw_frame(&b, PEER_RECORDS, PEER_F_COMPRESSED, 0, 1, stored->data, (uint32_t)stored->len);
	uint8_t *c = exact_copy(b.data, b.len);
	struct peer_frame f;
	size_t used;
	int rc = peer_frame_decode(c, b.len, &f, &used);
	*why = peer_frame_diagnose(c, b.len);
	if (rc == 0) {
		assert_null(*why);
		rc = peer_frame_payload(&f, PEER_MAX_PAYLOAD, raw);
		if (rc != 0) {
			assert_int_equal(rc, SL_EPROTO);
			*why = "payload";
		}
	}
	free(c);
	buf_free(&b);
	return rc;
}

static void test_compressed_errors(void **state)
{
	(void)state;
	uint8_t text[2000];
	fill_text(text, sizeof(text));
	struct buf s, raw;
	buf_init(&s);
	buf_init(&raw);
	const char *why;

	zstored(&s, text, sizeof(text), sizeof(text));
	assert_int_equal(decode_stored(&s, &raw, &why), 0);
	assert_int_equal(raw.len, sizeof(text));
	assert_memory_equal(raw.data, text, sizeof(text));

	/* raw lengths refused from the header of the payload */
	uint32_t bad_raw[] = { 0, PEER_MAX_PAYLOAD + 1, UINT32_MAX };
	for (size_t i = 0; i < N_ELEMS(bad_raw); i++) {
		zstored(&s, text, sizeof(text), bad_raw[i]);
		assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
		assert_string_equal(why, "bad raw payload length");
	}
	/* 10 stored bytes cannot inflate to a megabyte */
	buf_reset(&s);
	buf_put_u32(&s, 1000000);
	buf_append(&s, "\x78\x01\x01\x00\x00\xff\xff", 6);
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	assert_string_equal(why, "raw payload length impossible for its compressed size");
	/* the largest length the ratio allows passes the header check, then fails to inflate */
	put32(s.data, 6 * 1032 + 1032);
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	assert_string_equal(why, "payload");
	put32(s.data, 6 * 1032 + 1033);
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	assert_string_equal(why, "raw payload length impossible for its compressed size");
	/* nothing but a length */
	for (uint32_t n = 0; n <= 4; n++) {
		buf_reset(&s);
		buf_append(&s, "\0\0\0\x05", n);
		assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
		assert_string_equal(why, "compressed payload too short");
	}
	/* a plausible length over a stream that is wrong */
	zstored(&s, text, sizeof(text), sizeof(text) - 1);
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	assert_string_equal(why, "payload");
	zstored(&s, text, sizeof(text), sizeof(text) + 1);
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	zstored(&s, text, sizeof(text), sizeof(text));
	buf_append(&s, "junk", 4);
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	assert_string_equal(why, "payload");
	zstored(&s, text, sizeof(text), sizeof(text));
	s.len -= 3;
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	zstored(&s, text, sizeof(text), sizeof(text));
	s.data[s.len / 2] ^= 0x10;
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	buf_reset(&s);
	buf_put_u32(&s, 100);
	buf_append(&s, "\x78\x01not a zlib stream", 19);
	assert_int_equal(decode_stored(&s, &raw, &why), SL_EPROTO);
	assert_string_equal(why, "payload");
	buf_free(&s);
	buf_free(&raw);
}

static void test_type_names(void **state)
{
	(void)state;
	const char *names[] = { "HELLO", "CHALLENGE", "AUTH", "WELCOME", "ERROR", "FOLLOW", "SNAPSHOT_REQ",
				"SNAP_BEGIN", "SNAP_DATA", "SNAP_END", "STREAM_START", "RECORDS", "HEARTBEAT",
				"ACK", "REBOOTSTRAP", "VISIBLE", "TRUNCATE",
				"SWITCHOVER", "PROMOTE", "NOT_LEADER", "MEMBER_HELLO", "ELECTION" };
	for (uint8_t t = PEER_HELLO; t <= PEER_TYPE_LAST; t++)
		assert_string_equal(peer_type_name(t), names[t - 1]);
	assert_string_equal(peer_type_name(0), "unknown");
	assert_string_equal(peer_type_name(PEER_TYPE_LAST + 1), "unknown");
	assert_string_equal(peer_type_name(255), "unknown");
}

/* ---------------------------------------------------------------- messages */

static void make_str(char *out, size_t n, char c)
{
	memset(out, c, n);
	out[n] = '\0';
}

static void test_msg_hello(void **state)
{
	(void)state;
	struct peer_hello m, got;
	memset(&m, 0, sizeof(m));
	m.version = PEER_VERSION;
	snprintf(m.cluster_id, sizeof(m.cluster_id), "cluster-7");
	snprintf(m.node_name, sizeof(m.node_name), "node2");
	snprintf(m.client_addr, sizeof(m.client_addr), "127.0.0.1:5433");
	fill_random(m.nonce, sizeof(m.nonce), 3);
	struct buf b, raw;
	buf_init(&b);
	buf_init(&raw);
	for (int compress = 0; compress <= 1; compress++) {
		for (int longest = 0; longest <= 1; longest++) {
			if (longest) { /* the longest strings there are: compressible */
				make_str(m.cluster_id, PEER_STR_MAX - 1, 'c');
				make_str(m.node_name, PEER_STR_MAX - 1, 'n');
				make_str(m.client_addr, PEER_STR_MAX - 1, 'a');
				m.version = 0xFFFF;
			}
			buf_reset(&b);
			peer_hello_put(&b, &m);
			body_trip(PEER_HELLO, &b, compress, &raw);
			memset(&got, 0x5A, sizeof(got));
			assert_int_equal(peer_hello_get(raw.data, raw.len, &got), 0);
			assert_int_equal(got.version, m.version);
			assert_string_equal(got.cluster_id, m.cluster_id);
			assert_string_equal(got.node_name, m.node_name);
			assert_string_equal(got.client_addr, m.client_addr);
			assert_memory_equal(got.nonce, m.nonce, PEER_NONCE_SIZE);
			check_body_strict(get_hello, &b);
		}
	}
	/* empty strings */
	m.cluster_id[0] = m.node_name[0] = m.client_addr[0] = '\0';
	buf_reset(&b);
	peer_hello_put(&b, &m);
	assert_int_equal(b.len, 2 + 3 * 2 + PEER_NONCE_SIZE);
	assert_int_equal(peer_hello_get(b.data, b.len, &got), 0);
	assert_string_equal(got.node_name, "");
	buf_free(&b);
	buf_free(&raw);
}

static void test_msg_challenge_auth(void **state)
{
	(void)state;
	struct peer_challenge m, got;
	fill_random(m.nonce, sizeof(m.nonce), 4);
	fill_random(m.proof, sizeof(m.proof), 5);
	uint8_t proof[PEER_PROOF_SIZE];
	struct buf b, raw;
	buf_init(&b);
	buf_init(&raw);
	for (int compress = 0; compress <= 1; compress++) {
		buf_reset(&b);
		peer_challenge_put(&b, &m);
		assert_int_equal(b.len, PEER_NONCE_SIZE + PEER_PROOF_SIZE);
		body_trip(PEER_CHALLENGE, &b, compress, &raw);
		assert_int_equal(peer_challenge_get(raw.data, raw.len, &got), 0);
		assert_memory_equal(got.nonce, m.nonce, PEER_NONCE_SIZE);
		assert_memory_equal(got.proof, m.proof, PEER_PROOF_SIZE);
		check_body_strict(get_challenge, &b);

		buf_reset(&b);
		peer_auth_put(&b, m.proof);
		body_trip(PEER_AUTH, &b, compress, &raw);
		assert_int_equal(peer_auth_get(raw.data, raw.len, proof), 0);
		assert_memory_equal(proof, m.proof, PEER_PROOF_SIZE);
		check_body_strict(get_auth, &b);
	}
	buf_free(&b);
	buf_free(&raw);
}

static void test_msg_welcome(void **state)
{
	(void)state;
	struct peer_epoch *e = calloc(PEER_MAX_EPOCHS, sizeof(*e));
	assert_non_null(e);
	for (uint32_t i = 0; i < PEER_MAX_EPOCHS; i++) {
		e[i].epoch = i + 1;
		e[i].start_lsn = (uint64_t)i * 0x100000001ull;
		snprintf(e[i].leader, sizeof(e[i].leader), "node%u", i % 3);
	}
	make_str(e[5].leader, PEER_STR_MAX - 1, 'L');
	e[0].leader[0] = '\0';
	struct peer_welcome m = { .log_mode = 3, .epochs = e }, got;
	snprintf(m.node_name, sizeof(m.node_name), "node1");
	snprintf(m.client_addr, sizeof(m.client_addr), "[::1]:5432");
	struct buf b, raw;
	buf_init(&b);
	buf_init(&raw);
	uint32_t counts[] = { 0, 1, 7, PEER_MAX_EPOCHS };
	for (int compress = 0; compress <= 1; compress++) {
		for (size_t k = 0; k < N_ELEMS(counts); k++) {
			m.nepochs = counts[k];
			buf_reset(&b);
			peer_welcome_put(&b, &m);
			body_trip(PEER_WELCOME, &b, compress, &raw);
			assert_int_equal(peer_welcome_get(raw.data, raw.len, &got), 0);
			assert_string_equal(got.node_name, m.node_name);
			assert_string_equal(got.client_addr, m.client_addr);
			assert_int_equal(got.log_mode, 3);
			assert_int_equal(got.nepochs, m.nepochs);
			if (m.nepochs == 0)
				assert_null(got.epochs);
			for (uint32_t i = 0; i < got.nepochs; i++) {
				assert_int_equal(got.epochs[i].epoch, e[i].epoch);
				assert_int_equal(got.epochs[i].start_lsn, e[i].start_lsn);
				assert_string_equal(got.epochs[i].leader, e[i].leader);
			}
			peer_welcome_free(&got);
			assert_null(got.epochs);
			assert_int_equal(got.nepochs, 0);
			if (m.nepochs <= 7)
				check_body_strict(get_welcome, &b);
		}
	}

	/* one epoch more than the maximum, with every byte there: refused */
	m.nepochs = PEER_MAX_EPOCHS;
	buf_reset(&b);
	peer_welcome_put(&b, &m);
	buf_put_u64(&b, 9999);
	buf_put_u64(&b, 1);
	buf_put_u16(&b, 0);
	size_t count_at = 2 + strlen(m.node_name) + 2 + strlen(m.client_addr) + 1;
	put32(b.data + count_at, PEER_MAX_EPOCHS + 1);
	assert_int_equal(peer_welcome_get(b.data, b.len, &got), SL_EPROTO);
	assert_null(got.epochs);

	/* more epochs claimed than the bytes could hold (18 each at least) */
	m.nepochs = 2;
	buf_reset(&b);
	peer_welcome_put(&b, &m); /* entry 0: 18 bytes; entry 1: 18 + 5 */
	uint32_t lies[] = { 3, 4, 100, PEER_MAX_EPOCHS, UINT32_MAX };
	for (size_t i = 0; i < N_ELEMS(lies); i++) {
		put32(b.data + count_at, lies[i]);
		assert_int_equal(peer_welcome_get(b.data, b.len, &got), SL_EPROTO);
		assert_null(got.epochs);
		assert_int_equal(got.nepochs, 0);
	}
	/* fewer claimed than there are: trailing bytes */
	put32(b.data + count_at, 1);
	assert_int_equal(peer_welcome_get(b.data, b.len, &got), SL_EPROTO);
	/* a bad string in the last entry after the array was allocated: no leak */
	put32(b.data + count_at, 2);
	b.data[b.len - 2] = '\0';
	assert_int_equal(peer_welcome_get(b.data, b.len, &got), SL_EPROTO);
	assert_null(got.epochs);
	assert_int_equal(got.nepochs, 0);
	free(e);
	buf_free(&b);
	buf_free(&raw);
}

static void test_msg_text(void **state)
{
	(void)state;
	char text[PEER_STR_MAX * 2 + 100], got[PEER_STR_MAX * 2];
	struct buf b, raw;
	buf_init(&b);
	buf_init(&raw);
	size_t lens[] = { 0, 1, 40, PEER_STR_MAX * 2 - 1 };
	uint8_t types[] = { PEER_ERROR, PEER_REBOOTSTRAP };
	for (int compress = 0; compress <= 1; compress++) {
		for (size_t t = 0; t < N_ELEMS(types); t++) {
			for (size_t i = 0; i < N_ELEMS(lens); i++) {
				make_str(text, lens[i], 'e');
				buf_reset(&b);
				peer_text_put(&b, text);
				body_trip(types[t], &b, compress, &raw);
				assert_int_equal(peer_text_get(raw.data, raw.len, got), 0);
				assert_string_equal(got, text);
				check_body_strict(get_text, &b);
			}
		}
	}
	/* the encoder cuts what is too long */
	make_str(text, sizeof(text) - 1, 't');
	buf_reset(&b);
	peer_text_put(&b, text);
	assert_int_equal(b.len, 2 + PEER_STR_MAX * 2 - 1);
	assert_int_equal(peer_text_get(b.data, b.len, got), 0);
	assert_int_equal(strlen(got), PEER_STR_MAX * 2 - 1);
	/* the decoder refuses a string of the maximum length, and a NUL anywhere */
	buf_reset(&b);
	buf_put_u16(&b, PEER_STR_MAX * 2);
	buf_append(&b, text, PEER_STR_MAX * 2);
	assert_int_equal(peer_text_get(b.data, b.len, got), SL_EPROTO);
	buf_reset(&b);
	buf_put_u16(&b, UINT16_MAX);
	assert_int_equal(peer_text_get(b.data, b.len, got), SL_EPROTO);
	for (size_t at = 0; at < 5; at++) {
		buf_reset(&b);
		buf_put_u16(&b, 5);
		buf_append(&b, "abcde", 5);
		b.data[2 + at] = '\0';
		assert_int_equal(peer_text_get(b.data, b.len, got), SL_EPROTO);
	}
	buf_free(&b);
	buf_free(&raw);
}

/* HELLO with one string field set to a crafted length and bytes. */
static void hello_with(struct buf *b, int field, uint16_t len, const char *bytes, size_t n)
{
	static const char ok[] = "abc";
	buf_reset(b);
	buf_put_u16(b, PEER_VERSION);
	for (int i = 0; i < 3; i++) {
		if (i == field) {
			buf_put_u16(b, len);
			buf_append(b, bytes, n);
		} else {
			buf_put_u16(b, 3);
			buf_append(b, ok, 3);
		}
	}
	uint8_t nonce[PEER_NONCE_SIZE] = { 0 };
	buf_append(b, nonce, sizeof(nonce));
}

static void test_msg_strings(void **state)
{
	(void)state;
	char s[PEER_STR_MAX + 10];
	memset(s, 'x', sizeof(s));
	struct buf b;
	buf_init(&b);
	struct peer_hello got;
	for (int field = 0; field < 3; field++) {
		hello_with(&b, field, PEER_STR_MAX - 1, s, PEER_STR_MAX - 1);
		assert_int_equal(peer_hello_get(b.data, b.len, &got), 0);
		hello_with(&b, field, PEER_STR_MAX, s, PEER_STR_MAX);
		assert_int_equal(peer_hello_get(b.data, b.len, &got), SL_EPROTO);
		hello_with(&b, field, PEER_STR_MAX + 1, s, PEER_STR_MAX + 1);
		assert_int_equal(peer_hello_get(b.data, b.len, &got), SL_EPROTO);
		hello_with(&b, field, 3, "a\0c", 3);
		assert_int_equal(peer_hello_get(b.data, b.len, &got), SL_EPROTO);
		hello_with(&b, field, 1, "\0", 1);
		assert_int_equal(peer_hello_get(b.data, b.len, &got), SL_EPROTO);
		/* a length running past the end */
		hello_with(&b, field, 300, s, 3);
		assert_int_equal(peer_hello_get(b.data, b.len, &got), SL_EPROTO);
	}
	/* the encoder cuts a string to the longest allowed */
	struct peer_welcome w = { 0 };
	memset(w.node_name, 'n', sizeof(w.node_name)); /* not even terminated */
	buf_reset(&b);
	peer_welcome_put(&b, &w);
	assert_int_equal(get_u16(b.data), PEER_STR_MAX - 1);
	struct peer_welcome wg;
	assert_int_equal(peer_welcome_get(b.data, b.len, &wg), 0);
	assert_int_equal(strlen(wg.node_name), PEER_STR_MAX - 1);
	peer_welcome_free(&wg);
	buf_free(&b);
}

static void test_msg_fixed(void **state)
{
	(void)state;
	struct buf b, raw;
	buf_init(&b);
	buf_init(&raw);
	for (int compress = 0; compress <= 1; compress++) {
		struct peer_follow fw = { 3, 0x123456789ull, UINT64_MAX }, fg;
		buf_reset(&b);
		peer_follow_put(&b, &fw);
		assert_int_equal(b.len, 24);
		body_trip(PEER_FOLLOW, &b, compress, &raw);
		assert_int_equal(peer_follow_get(raw.data, raw.len, &fg), 0);
		assert_int_equal(fg.epoch, 3);
		assert_int_equal(fg.end_lsn, 0x123456789ull);
		assert_int_equal(fg.applied_lsn, UINT64_MAX);
		check_body_strict(get_follow, &b);

		struct peer_snap_begin sb = { 0xABCDEF0123ull, 4096ull * 1000, 4096 }, sg;
		buf_reset(&b);
		peer_snap_begin_put(&b, &sb);
		assert_int_equal(b.len, 20);
		body_trip(PEER_SNAP_BEGIN, &b, compress, &raw);
		assert_int_equal(peer_snap_begin_get(raw.data, raw.len, &sg), 0);
		assert_int_equal(sg.lsn, sb.lsn);
		assert_int_equal(sg.size, sb.size);
		assert_int_equal(sg.page_size, 4096);
		check_body_strict(get_snap_begin, &b);

		uint64_t vals[] = { 0, 0xDEADBEEF, UINT64_MAX };
		uint8_t types[] = { PEER_SNAP_END, PEER_STREAM_START };
		for (size_t t = 0; t < N_ELEMS(types); t++) {
			for (size_t i = 0; i < N_ELEMS(vals); i++) {
				uint64_t v = 1;
				buf_reset(&b);
				peer_u64_put(&b, vals[i]);
				body_trip(types[t], &b, compress, &raw);
				assert_int_equal(peer_u64_get(raw.data, raw.len, &v), 0);
				assert_int_equal(v, vals[i]);
				check_body_strict(get_u64, &b);
			}
		}

		struct peer_heartbeat hb = { 0x1000, 1700000000123456ull }, hg;
		buf_reset(&b);
		peer_heartbeat_put(&b, &hb);
		body_trip(PEER_HEARTBEAT, &b, compress, &raw);
		assert_int_equal(peer_heartbeat_get(raw.data, raw.len, &hg), 0);
		assert_int_equal(hg.end_lsn, 0x1000);
		assert_int_equal(hg.now_us, 1700000000123456ull);
		check_body_strict(get_heartbeat, &b);

		struct peer_ack a = { 30, 20, 10 }, ag;
		buf_reset(&b);
		peer_ack_put(&b, &a);
		body_trip(PEER_ACK, &b, compress, &raw);
		assert_int_equal(peer_ack_get(raw.data, raw.len, &ag), 0);
		assert_int_equal(ag.write_lsn, 30);
		assert_int_equal(ag.flush_lsn, 20);
		assert_int_equal(ag.apply_lsn, 10);
		check_body_strict(get_ack, &b);

		struct peer_election el = { 5, 1, 200, 7, 6, 0xABCDEF, 123456789 }, eg;
		buf_reset(&b);
		peer_election_put(&b, &el);
		assert_int_equal(b.len, 35);
		body_trip(PEER_ELECTION, &b, compress, &raw);
		assert_int_equal(peer_election_get(raw.data, raw.len, &eg), 0);
		assert_int_equal(eg.type, 5);
		assert_int_equal(eg.granted, 1);
		assert_int_equal(eg.priority, 200);
		assert_int_equal(eg.epoch, 7);
		assert_int_equal(eg.last_epoch, 6);
		assert_int_equal(eg.last_lsn, 0xABCDEF);
		assert_int_equal(eg.stamp, 123456789);
		check_body_strict(get_election, &b);
		b.data[1] = 2; /* granted is 0 or 1 */
		assert_int_equal(peer_election_get(b.data, b.len, &eg), SL_EPROTO);

		/* SNAPSHOT_REQ has no body */
		buf_reset(&b);
		frame_trip(PEER_SNAPSHOT_REQ, 1, NULL, 0, compress, &raw, true);
		assert_int_equal(raw.len, 0);
	}
	buf_free(&b);
	buf_free(&raw);
}

static void test_msg_snap_data(void **state)
{
	(void)state;
	uint8_t page[8192];
	struct buf b, raw;
	buf_init(&b);
	buf_init(&raw);
	size_t lens[] = { 0, 1, 4096, sizeof(page) };
	for (int compress = 0; compress <= 1; compress++) {
		for (int text = 0; text <= 1; text++) {
			if (text)
				fill_text(page, sizeof(page));
			else
				fill_random(page, sizeof(page), 11);
			for (size_t i = 0; i < N_ELEMS(lens); i++) {
				buf_reset(&b);
				peer_snap_data_put(&b, 4096ull * i, page, (uint32_t)lens[i]);
				assert_int_equal(b.len, 8 + lens[i]);
				body_trip(PEER_SNAP_DATA, &b, compress, &raw);
				struct peer_snap_data d;
				assert_int_equal(peer_snap_data_get(raw.data, raw.len, &d), 0);
				assert_int_equal(d.offset, 4096ull * i);
				assert_int_equal(d.len, lens[i]);
				assert_true(d.data == raw.data + 8);
				if (lens[i])
					assert_memory_equal(d.data, page, lens[i]);
			}
		}
	}
	/* anything shorter than the offset is refused */
	for (size_t n = 0; n < 8; n++) {
		uint8_t *c = exact_copy(b.data, n);
		struct peer_snap_data d;
		assert_int_equal(peer_snap_data_get(c, n, &d), SL_EPROTO);
		free(c);
	}
	buf_free(&b);
	buf_free(&raw);
}

static void test_msg_records(void **state)
{
	(void)state;
	/* RECORDS carries log records as they are in the log: whole, LSN after LSN */
	uint8_t text[3000];
	fill_text(text, sizeof(text));
	struct buf b, raw;
	buf_init(&b);
	buf_init(&raw);
	uint64_t lsn = 0x10000, lsns[3];
	for (int i = 0; i < 3; i++) {
		lsns[i] = lsn;
		size_t before = b.len;
		assert_int_equal(record_encode(&b, lsn, 2, 1700000000000000ull + (uint64_t)i, RECORD_TXN, text,
					       (size_t)1000 * (size_t)(i + 1), i == 1),
				 0);
		lsn += b.len - before;
	}
	for (int compress = 0; compress <= 1; compress++) {
		frame_trip(PEER_RECORDS, 2, b.data, b.len, compress, &raw, false);
		size_t off = 0;
		uint64_t expect = lsns[0];
		for (int i = 0; i < 3; i++) {
			struct record r;
			size_t used;
			assert_int_equal(record_decode(raw.data + off, raw.len - off, expect, &r, &used), 0);
			assert_int_equal(r.lsn, lsns[i]);
			off += used;
			expect += used;
		}
		assert_int_equal(off, raw.len);
		assert_int_equal(expect, lsn);
	}
	buf_free(&b);
	buf_free(&raw);
}

/* ---------------------------------------------------------------- peerauth */

static void test_auth_proofs(void **state)
{
	(void)state;
	uint8_t fn[PEER_NONCE_SIZE], ln[PEER_NONCE_SIZE], other[PEER_NONCE_SIZE];
	fill_random(fn, sizeof(fn), 21);
	fill_random(ln, sizeof(ln), 22);
	memcpy(other, fn, sizeof(other));
	other[PEER_NONCE_SIZE - 1] ^= 1;
	uint8_t a[PEER_PROOF_SIZE], b[PEER_PROOF_SIZE];

	/* the leader's proof, checked by the follower */
	peerauth_leader_proof("s3cret", "cluster-1", fn, ln, a);
	peerauth_leader_proof("s3cret", "cluster-1", fn, ln, b);
	assert_true(peerauth_equal(a, b));
	peerauth_leader_proof("s3creT", "cluster-1", fn, ln, b);
	assert_false(peerauth_equal(a, b));
	peerauth_leader_proof("", "cluster-1", fn, ln, b);
	assert_false(peerauth_equal(a, b));
	peerauth_leader_proof("s3cret", "cluster-2", fn, ln, b);
	assert_false(peerauth_equal(a, b));
	peerauth_leader_proof("s3cret", "cluster-1", other, ln, b);
	assert_false(peerauth_equal(a, b));
	peerauth_leader_proof("s3cret", "cluster-1", fn, other, b);
	assert_false(peerauth_equal(a, b));
	peerauth_leader_proof("s3cret", "cluster-1", ln, fn, b); /* nonces swapped */
	assert_false(peerauth_equal(a, b));

	/* the follower's proof, checked by the leader */
	peerauth_follower_proof("s3cret", "node2", ln, fn, a);
	peerauth_follower_proof("s3cret", "node2", ln, fn, b);
	assert_true(peerauth_equal(a, b));
	peerauth_follower_proof("wrong", "node2", ln, fn, b);
	assert_false(peerauth_equal(a, b));
	peerauth_follower_proof("s3cret", "node3", ln, fn, b);
	assert_false(peerauth_equal(a, b));
	peerauth_follower_proof("s3cret", "node2", other, fn, b);
	assert_false(peerauth_equal(a, b));
	peerauth_follower_proof("s3cret", "node2", ln, other, b);
	assert_false(peerauth_equal(a, b));

	/* one role's proof is never the other's, even over the same bytes */
	peerauth_leader_proof("s3cret", "x", fn, ln, a);
	peerauth_follower_proof("s3cret", "x", fn, ln, b);
	assert_false(peerauth_equal(a, b));

	/* it is HMAC-SHA-256 of role || nonce || nonce || name */
	uint8_t msg[6 + 2 * PEER_NONCE_SIZE + 9], want[PEER_PROOF_SIZE];
	memcpy(msg, "leader", 6);
	memcpy(msg + 6, fn, PEER_NONCE_SIZE);
	memcpy(msg + 6 + PEER_NONCE_SIZE, ln, PEER_NONCE_SIZE);
	memcpy(msg + 6 + 2 * PEER_NONCE_SIZE, "cluster-1", 9);
	unsigned int wl = sizeof(want);
	assert_non_null(HMAC(EVP_sha256(), "s3cret", 6, msg, sizeof(msg), want, &wl));
	peerauth_leader_proof("s3cret", "cluster-1", fn, ln, a);
	assert_memory_equal(a, want, PEER_PROOF_SIZE);
}

static void test_auth_equal_and_nonce(void **state)
{
	(void)state;
	uint8_t a[PEER_PROOF_SIZE], b[PEER_PROOF_SIZE];
	fill_random(a, sizeof(a), 31);
	memcpy(b, a, sizeof(b));
	assert_true(peerauth_equal(a, b));
	for (size_t i = 0; i < PEER_PROOF_SIZE; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			assert_false(peerauth_equal(a, b));
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_true(peerauth_equal(a, b));

	uint8_t n1[PEER_NONCE_SIZE], n2[PEER_NONCE_SIZE];
	assert_int_equal(peerauth_nonce(n1), 0);
	assert_int_equal(peerauth_nonce(n2), 0);
	assert_memory_not_equal(n1, n2, PEER_NONCE_SIZE);
}

/* ---------------------------------------------------------------- peerlink */

#define TMO 5000

static void link_pair(struct peerlink *a, struct peerlink *b)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	peerlink_init(a, sv[0], "a:1");
	peerlink_init(b, sv[1], "b:2");
}

static void write_raw(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void test_link_one_piece(void **state)
{
	(void)state;
	struct peerlink a, b;
	link_pair(&a, &b);
	uint8_t text[5000];
	fill_text(text, sizeof(text));
	uint8_t type;
	uint64_t epoch;
	for (int compress = 0; compress <= 1; compress++) {
		a.epoch = 40 + (uint64_t)compress;
		a.compress = compress;
		assert_int_equal(peerlink_send(&a, PEER_RECORDS, text, sizeof(text), TMO), 0);
		assert_int_equal(peerlink_send(&a, PEER_SNAPSHOT_REQ, NULL, 0, TMO), 0);
		assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), 0);
		assert_int_equal(type, PEER_RECORDS);
		assert_int_equal(epoch, a.epoch);
		assert_int_equal(b.payload.len, sizeof(text));
		assert_memory_equal(b.payload.data, text, sizeof(text));
		/* the second frame came with the first read and waits in the buffer */
		assert_int_equal(peerlink_recv(&b, &type, &epoch, 0), 0);
		assert_int_equal(type, PEER_SNAPSHOT_REQ);
		assert_int_equal(b.payload.len, 0);
		assert_int_equal(b.in.len, 0);
	}
	/* and back the other way */
	assert_int_equal(peerlink_send(&b, PEER_ACK, "012345678901234567890123", 24, TMO), 0);
	assert_int_equal(peerlink_recv(&a, &type, &epoch, TMO), 0);
	assert_int_equal(type, PEER_ACK);
	assert_int_equal(epoch, 0);
	peerlink_close(&a);
	peerlink_close(&b);
}

/* Sealed links: frames go both ways; a replayed frame, an unsealed one and
 * a frame under the wrong key are refused; an unsealed ERROR is taken. */
static void test_link_sealed(void **state)
{
	(void)state;
	uint8_t k1[PEER_KEY_SIZE], k2[PEER_KEY_SIZE];
	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	uint8_t type;
	uint64_t epoch;
	struct peerlink a, b;
	link_pair(&a, &b);
	peerlink_seal(&a, k1, k2);
	peerlink_seal(&b, k2, k1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(peerlink_send(&a, PEER_HEARTBEAT, "0123456789abcdef", 16, TMO), 0);
		assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), 0);
		assert_int_equal(type, PEER_HEARTBEAT);
		assert_int_equal(peerlink_send(&b, PEER_ACK, "012345678901234567890123", 24, TMO), 0);
		assert_int_equal(peerlink_recv(&a, &type, &epoch, TMO), 0);
		assert_int_equal(type, PEER_ACK);
	}
	/* the limit is on the payload: a sealed frame may carry exactly it */
	uint8_t at_limit[100];
	memset(at_limit, 'x', sizeof(at_limit));
	b.max_payload = sizeof(at_limit);
	assert_int_equal(peerlink_send(&a, PEER_RECORDS, at_limit, sizeof(at_limit), TMO), 0);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), 0);
	assert_int_equal(b.payload.len, sizeof(at_limit));
	b.max_payload = PEER_MAX_PAYLOAD;
	/* a's next frame, sent twice: the copy fails its seal */
	assert_int_equal(peerlink_send(&a, PEER_HEARTBEAT, "0123456789abcdef", 16, TMO), 0);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), 0);
	write_raw(a.fd, a.out.data, a.out.len);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), SL_EPROTO);
	assert_non_null(strstr(b.why, "failed its seal"));
	peerlink_close(&a);
	peerlink_close(&b);

	link_pair(&a, &b);
	peerlink_seal(&b, k2, k1);
	struct buf f;
	buf_init(&f);
	peer_text_put(&f, "refused");
	assert_int_equal(peerlink_send(&a, PEER_ERROR, f.data, f.len, TMO), 0); /* unsealed: taken */
	assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), 0);
	assert_int_equal(type, PEER_ERROR);
	assert_int_equal(peerlink_send(&a, PEER_HEARTBEAT, "0123456789abcdef", 16, TMO), 0);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), SL_EPROTO);
	assert_non_null(strstr(b.why, "unsealed frame"));
	peerlink_close(&a);
	peerlink_close(&b);

	link_pair(&a, &b);
	peerlink_seal(&a, k2, k1); /* the wrong key for what b expects */
	peerlink_seal(&b, k2, k1);
	assert_int_equal(peerlink_send(&a, PEER_HEARTBEAT, "0123456789abcdef", 16, TMO), 0);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), SL_EPROTO);
	/* and a sealed frame to a link that is not sealed yet */
	struct peerlink c, d;
	link_pair(&c, &d);
	peerlink_seal(&c, k1, k2);
	assert_int_equal(peerlink_send(&c, PEER_HEARTBEAT, "0123456789abcdef", 16, TMO), 0);
	assert_int_equal(peerlink_recv(&d, &type, &epoch, TMO), SL_EPROTO);
	assert_non_null(strstr(d.why, "before authentication"));
	buf_free(&f);
	peerlink_close(&a);
	peerlink_close(&b);
	peerlink_close(&c);
	peerlink_close(&d);
}

static void test_link_byte_by_byte(void **state)
{
	(void)state;
	struct peerlink a, b;
	link_pair(&a, &b);
	uint8_t text[700];
	fill_text(text, sizeof(text));
	struct buf f;
	buf_init(&f);
	assert_int_equal(peer_frame_encode(&f, PEER_RECORDS, 12, text, sizeof(text), false), 0);
	assert_int_equal(peer_frame_encode(&f, PEER_RECORDS, 13, text, sizeof(text), true), 0);
	size_t first = PEER_HEADER_SIZE + sizeof(text);
	uint8_t type;
	uint64_t epoch;
	int frames = 0;
	for (size_t i = 0; i < f.len; i++) {
		write_raw(a.fd, f.data + i, 1);
		int rc = peerlink_recv(&b, &type, &epoch, 0);
		if (i + 1 == first || i + 1 == f.len) {
			assert_int_equal(rc, 0);
			assert_int_equal(type, PEER_RECORDS);
			assert_int_equal(epoch, 12 + (uint64_t)frames);
			assert_int_equal(b.payload.len, sizeof(text));
			assert_memory_equal(b.payload.data, text, sizeof(text));
			frames++;
		} else {
			assert_int_equal(rc, SL_ETIMEDOUT);
		}
	}
	assert_int_equal(frames, 2);
	buf_free(&f);
	peerlink_close(&a);
	peerlink_close(&b);
}

struct sender {
	struct peerlink *l;
	const uint8_t *p;
	size_t n;
	int rc;
};

static void *send_main(void *arg)
{
	struct sender *s = arg;
	s->rc = peerlink_send(s->l, PEER_SNAP_DATA, s->p, s->n, TMO);
	return NULL;
}

static void test_link_big_frames(void **state)
{
	(void)state;
	struct peerlink a, b;
	link_pair(&a, &b);
	size_t n = (3u << 20) + 17; /* more than the socket holds, more than one read */
	uint8_t *p = malloc(n);
	assert_non_null(p);
	for (int compress = 0; compress <= 1; compress++) {
		if (compress)
			fill_text(p, n);
		else
			fill_random(p, n, 41);
		a.compress = compress;
		struct sender s = { &a, p, n, -100 };
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, send_main, &s), 0);
		uint8_t type;
		uint64_t epoch;
		int rc = peerlink_recv(&b, &type, &epoch, TMO);
		pthread_join(t, NULL);
		assert_int_equal(s.rc, 0);
		assert_int_equal(rc, 0);
		assert_int_equal(type, PEER_SNAP_DATA);
		assert_int_equal(b.payload.len, n);
		assert_memory_equal(b.payload.data, p, n);
	}
	free(p);
	peerlink_close(&a);
	peerlink_close(&b);
}

/* What b's receive says about bytes written raw to a. */
static int recv_after(const void *bytes, size_t n, const char **why, size_t *cap)
{
	struct peerlink a, b;
	link_pair(&a, &b);
	write_raw(a.fd, bytes, n);
	uint8_t type;
	uint64_t epoch;
	int rc = peerlink_recv(&b, &type, &epoch, 0);
	*why = b.why;
	*cap = b.in.cap;
	peerlink_close(&a);
	peerlink_close(&b);
	return rc;
}

static void test_link_malformed(void **state)
{
	(void)state;
	const char *why;
	size_t cap;
	char garbage[PEER_HEADER_SIZE + 8];
	memset(garbage, 'G', sizeof(garbage));
	assert_int_equal(recv_after(garbage, sizeof(garbage), &why, &cap), SL_EPROTO);
	assert_string_equal(why, "bad magic");
	/* a header alone is enough to refuse */
	assert_int_equal(recv_after(garbage, PEER_HEADER_SIZE, &why, &cap), SL_EPROTO);
	assert_string_equal(why, "bad magic");

	struct buf f, s;
	buf_init(&f);
	buf_init(&s);
	raw_frame(&f, 99, 0, 0, 1, "x", 1);
	assert_int_equal(recv_after(f.data, f.len, &why, &cap), SL_EPROTO);
	assert_string_equal(why, "unknown frame type");
	raw_frame(&f, PEER_ACK, 0, 1, 1, "x", 1);
	assert_int_equal(recv_after(f.data, f.len, &why, &cap), SL_EPROTO);
	assert_string_equal(why, "reserved bits set");

	/* a length beyond the maximum is refused before anything is allocated for it */
	raw_frame(&f, PEER_RECORDS, 0, 0, 1, NULL, 0);
	put32(f.data + 16, PEER_MAX_PAYLOAD + 1);
	fix_crc(f.data, 0);
	assert_int_equal(recv_after(f.data, f.len, &why, &cap), SL_EPROTO);
	assert_string_equal(why, "payload length beyond the maximum");
	assert_true(cap < (1u << 20));

	buf_reset(&f);
	assert_int_equal(peer_frame_encode(&f, PEER_HEARTBEAT, 1, "0123456789abcdef", 16, false), 0);
	f.data[f.len - 1] ^= 1;
	assert_int_equal(recv_after(f.data, f.len, &why, &cap), SL_EPROTO);
	assert_string_equal(why, "CRC mismatch");

	buf_put_u32(&s, 100);
	buf_append(&s, "\x78\x01not a zlib stream", 19);
	raw_frame(&f, PEER_RECORDS, PEER_F_COMPRESSED, 0, 1, s.data, (uint32_t)s.len);
	assert_int_equal(recv_after(f.data, f.len, &why, &cap), SL_EPROTO);
	assert_string_equal(why, "bad compressed payload");
	put32(s.data, 1u << 30);
	raw_frame(&f, PEER_RECORDS, PEER_F_COMPRESSED, 0, 1, s.data, (uint32_t)s.len);
	assert_int_equal(recv_after(f.data, f.len, &why, &cap), SL_EPROTO);
	assert_string_equal(why, "raw payload length impossible for its compressed size");
	buf_free(&f);
	buf_free(&s);
}

static void test_link_closed_and_timeout(void **state)
{
	(void)state;
	struct peerlink a, b;
	uint8_t type;
	uint64_t epoch;

	/* nothing there yet */
	link_pair(&a, &b);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, 0), SL_ETIMEDOUT);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, 20), SL_ETIMEDOUT);
	/* half a frame, then the rest: nothing is lost in between */
	struct buf f;
	buf_init(&f);
	assert_int_equal(peer_frame_encode(&f, PEER_HEARTBEAT, 8, "0123456789abcdef", 16, false), 0);
	write_raw(a.fd, f.data, 10);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, 0), SL_ETIMEDOUT);
	write_raw(a.fd, f.data + 10, 20);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, 0), SL_ETIMEDOUT);
	write_raw(a.fd, f.data + 30, f.len - 30);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, 0), 0);
	assert_int_equal(type, PEER_HEARTBEAT);
	assert_int_equal(epoch, 8);
	/* the peer goes away */
	peerlink_close(&a);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), SL_EIO);
	assert_int_equal(peerlink_send(&b, PEER_ACK, "x", 1, TMO), SL_EIO);
	peerlink_close(&b);

	/* closed in the middle of a frame */
	link_pair(&a, &b);
	write_raw(a.fd, f.data, f.len - 1);
	peerlink_close(&a);
	assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), SL_EIO);
	peerlink_close(&b);
	buf_free(&f);
}

static void test_link_split(void **state)
{
	(void)state;
	char host[64];
	int port = -1;
	assert_int_equal(peerlink_split("db1.example:5432", host, sizeof(host), &port), 0);
	assert_string_equal(host, "db1.example");
	assert_int_equal(port, 5432);
	assert_int_equal(peerlink_split("127.0.0.1:0", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 0);
	assert_int_equal(peerlink_split("[::1]:5", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 5);
	assert_int_equal(peerlink_split("[fe80::1%eth0]:65535", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fe80::1%eth0");
	assert_int_equal(port, 65535);
	assert_int_equal(peerlink_split("h:1", host, 2, &port), 0); /* just fits */
	assert_string_equal(host, "h");

	const char *bad[] = { "", ":", "host", "host:", ":5432", "host:port", "host:54x", "host:65536",
			      "host:-1", "host:99999999999999999999", "[::1]", "[::1]:", "host:5:" };
	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		port = -1;
		strcpy(host, "unchanged");
		assert_int_equal(peerlink_split(bad[i], host, sizeof(host), &port), SL_EINVAL);
		assert_int_equal(port, -1);
		assert_string_equal(host, "unchanged");
	}
	/* a host longer than the room for it */
	assert_int_equal(peerlink_split("hh:1", host, 2, &port), SL_EINVAL);
	assert_int_equal(peerlink_split("abcdefgh:1", host, 8, &port), SL_EINVAL);
}

/* ------------------------------------------------------------- handshake */

struct accepting {
	struct peerlink *pl;
	const char *secret;
	struct peer_hello h;
	bool member;
	int rc;
};

static void *accept_main(void *arg)
{
	struct accepting *a = arg;
	struct peeraccept pa = { "cluster-1", a->secret, TMO, NULL };
	a->rc = peeraccept_auth(a->pl, &pa, &a->h, &a->member);
	return NULL;
}

/* Both sides of the handshake on one link, the accepting one on a thread
 * of its own: rc of each side. */
static void handshake_pair(struct peerlink *dialer, struct peerlink *acceptor, const char *dial_secret,
			   const char *accept_secret, uint8_t hello_type, int *dial_rc, struct accepting *acc)
{
	link_pair(dialer, acceptor);
	*acc = (struct accepting){ .pl = acceptor, .secret = accept_secret };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, accept_main, acc), 0);
	struct peerdial d = { "b:2", hello_type, "cluster-1", dial_secret, "node2", "127.0.0.1:5433", TMO, TMO, NULL };
	char err[256];
	*dial_rc = peerdial_auth(dialer, &d, err, sizeof(err));
	if (*dial_rc != 0) /* the other side waits for AUTH: end the link */
		shutdown(dialer->fd, SHUT_RDWR);
	assert_int_equal(pthread_join(t, NULL), 0);
}

/* The two sides agree: the accepting side learns the dialer's HELLO, both
 * links are sealed, and sealed frames then go both ways; with another
 * secret, neither side gets through. */
static void test_handshake(void **state)
{
	(void)state;
	struct peerlink a, b;
	struct accepting acc;
	int rc;
	for (int member = 0; member <= 1; member++) {
		handshake_pair(&a, &b, "s3cret-s3cret", "s3cret-s3cret", member ? PEER_MEMBER_HELLO : PEER_HELLO, &rc,
			       &acc);
		assert_int_equal(rc, 0);
		assert_int_equal(acc.rc, 0);
		assert_int_equal(acc.member, member);
		assert_string_equal(acc.h.node_name, "node2");
		assert_string_equal(acc.h.client_addr, "127.0.0.1:5433");
		assert_true(a.sealed && b.sealed);
		assert_int_equal(a.max_payload, PEER_MAX_PAYLOAD); /* the dialer knows its peer now */
		uint8_t type;
		uint64_t epoch;
		assert_int_equal(peerlink_send(&b, PEER_WELCOME, "w", 1, TMO), 0);
		assert_int_equal(peerlink_recv(&a, &type, &epoch, TMO), 0);
		assert_int_equal(type, PEER_WELCOME);
		assert_int_equal(peerlink_send(&a, PEER_SNAPSHOT_REQ, NULL, 0, TMO), 0);
		assert_int_equal(peerlink_recv(&b, &type, &epoch, TMO), 0);
		assert_int_equal(type, PEER_SNAPSHOT_REQ);
		peerlink_close(&a);
		peerlink_close(&b);
	}
	handshake_pair(&a, &b, "s3cret-s3cret", "another-secret", PEER_HELLO, &rc, &acc);
	assert_int_equal(rc, -1); /* the acceptor's proof did not check: no AUTH sent */
	assert_int_equal(acc.rc, -1);
	assert_false(a.sealed || b.sealed);
	peerlink_close(&a);
	peerlink_close(&b);
}

/* A node dialled that has not proved the cluster secret cannot make the
 * dialer take a large frame: the header alone is refused, at once. */
static void test_handshake_dialer_bounded(void **state)
{
	(void)state;
	struct peerlink a, b;
	link_pair(&a, &b);
	struct buf f;
	buf_init(&f);
	uint8_t *big = calloc(1, PEER_HANDSHAKE_MAX + 1);
	assert_non_null(big);
	assert_int_equal(peer_frame_encode(&f, PEER_CHALLENGE, 0, big, PEER_HANDSHAKE_MAX + 1, false), 0);
	free(big);
	write_raw(b.fd, f.data, PEER_HEADER_SIZE); /* the header only: the payload never comes */
	struct peerdial d = { "b:2", PEER_HELLO, "cluster-1", "s3cret-s3cret", "node2", "", TMO, TMO, NULL };
	char err[256];
	assert_int_equal(peerdial_auth(&a, &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "frame larger than allowed at this point"));
	buf_free(&f);
	peerlink_close(&a);
	peerlink_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_frame_big),
		cmocka_unit_test(test_frames_back_to_back),
		cmocka_unit_test(test_encode_too_big),
		cmocka_unit_test(test_inflate_bound),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_link_sealed),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_compressed_errors),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_msg_hello),
		cmocka_unit_test(test_msg_challenge_auth),
		cmocka_unit_test(test_msg_welcome),
		cmocka_unit_test(test_msg_text),
		cmocka_unit_test(test_msg_strings),
		cmocka_unit_test(test_msg_fixed),
		cmocka_unit_test(test_msg_snap_data),
		cmocka_unit_test(test_msg_records),
		cmocka_unit_test(test_auth_proofs),
		cmocka_unit_test(test_auth_equal_and_nonce),
		cmocka_unit_test(test_link_one_piece),
		cmocka_unit_test(test_link_byte_by_byte),
		cmocka_unit_test(test_link_big_frames),
		cmocka_unit_test(test_link_malformed),
		cmocka_unit_test(test_link_closed_and_timeout),
		cmocka_unit_test(test_link_split),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_handshake_dialer_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
