/*
 * fuzz_record.c — libFuzzer target for wal/record.c, the log record codec.
 *
 * The input is read like a log being scanned: decode the record at the
 * current offset, check everything about it, and go on after it with the
 * next LSN expected; where nothing decodes, step one byte and try again
 * with no LSN expected, so that records found anywhere in the input are
 * exercised. Each decoded record's payload is extracted (decompressed) and
 * the record re-encoded, plain and compressed, and decoded back; every
 * field must survive. A broken invariant aborts.
 *
 * Build with clang -fsanitize=fuzzer (configure --enable-fuzzing), or link
 * with tests/fuzz/replay_main.c to replay the corpus in tests/fuzz/corpus/record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "record.h"
#include "sl_error.h"

/* Payloads above this are not extracted: the decoder's ratio check allows
 * 1032 bytes per stored byte, which could be a lot for a big input. */
#define FUZZ_MAX_RAW (16u * 1024 * 1024)

/* Encodes raw again with rec's fields and checks it decodes the same. */
static void reencode(const struct record *rec, const struct buf *raw, bool compress)
{
	struct buf b, out;
	struct record again;
	size_t used = 0;
	buf_init(&b);
	buf_init(&out);
	int rc = record_encode(&b, rec->lsn, rec->epoch, rec->commit_ts, rec->type, raw->data, raw->len, compress);
	CHECK(rc == 0 || rc == SL_ENOMEM);
	if (rc == 0) {
		CHECK(record_decode(b.data, b.len, rec->lsn, &again, &used) == 0);
		CHECK(used == b.len && record_size(&again) == b.len);
		CHECK(again.lsn == rec->lsn && again.epoch == rec->epoch && again.commit_ts == rec->commit_ts);
		CHECK(again.type == rec->type && again.raw_len == raw->len);
		if (!compress)
			CHECK(again.flags == 0 && again.payload_len == raw->len);
		rc = record_payload(&again, &out);
		CHECK(rc == 0 || rc == SL_ENOMEM);
		if (rc == 0)
			CHECK(out.len == raw->len && (raw->len == 0 || memcmp(out.data, raw->data, raw->len) == 0));
	}
	buf_free(&b);
	buf_free(&out);
}

static void check_record(const uint8_t *at, size_t left, uint64_t expected, const struct record *rec,
			 size_t used)
{
	CHECK(used >= RECORD_HEADER_SIZE && used <= left);
	CHECK(used == record_size(rec));
	CHECK(rec->payload == at + RECORD_HEADER_SIZE);
	CHECK(rec->type == RECORD_TXN || rec->type == RECORD_EPOCH);
	CHECK((rec->flags & ~RECORD_F_COMPRESSED) == 0);
	CHECK(rec->payload_len <= RECORD_MAX_PAYLOAD && rec->raw_len <= RECORD_MAX_PAYLOAD);
	CHECK(expected == UINT64_MAX || rec->lsn == expected);
	CHECK(record_diagnose(at, left, expected) == NULL);
	if (!(rec->flags & RECORD_F_COMPRESSED))
		CHECK(rec->raw_len == rec->payload_len);
	else
		CHECK(rec->payload_len > 4 && rec->raw_len > 0);
	if (rec->raw_len > FUZZ_MAX_RAW)
		return;

	struct buf raw;
	buf_init(&raw);
	int rc = record_payload(rec, &raw);
	CHECK(rc == 0 || rc == SL_ECORRUPT || rc == SL_ENOMEM);
	if (!(rec->flags & RECORD_F_COMPRESSED))
		CHECK(rc != SL_ECORRUPT);
	if (rc == 0) {
		CHECK(raw.len == rec->raw_len);
		if (!(rec->flags & RECORD_F_COMPRESSED) && raw.len > 0)
			CHECK(memcmp(raw.data, rec->payload, raw.len) == 0);
		reencode(rec, &raw, false);
		reencode(rec, &raw, true);
	} else {
		CHECK(raw.len == 0);
	}
	buf_free(&raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	uint64_t expected = UINT64_MAX;
	while (off < size) {
		struct record rec;
		size_t used = SIZE_MAX;
		int rc = record_decode(data + off, size - off, expected, &rec, &used);
		if (rc == 0) {
			check_record(data + off, size - off, expected, &rec, used);
			off += used;
			expected = rec.lsn + used;
			continue;
		}
		CHECK(rc == SL_EAGAIN || rc == SL_ECORRUPT);
		CHECK(used == SIZE_MAX);
		CHECK(record_diagnose(data + off, size - off, expected) != NULL);
		if (rc == SL_EAGAIN && size - off >= RECORD_HEADER_SIZE)
			CHECK(get_u32(data + off + 36) + (uint64_t)RECORD_HEADER_SIZE > size - off);
		off++;
		expected = UINT64_MAX;
	}
	return 0;
}
