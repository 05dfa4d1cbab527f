/*
 * record.c — the replication log's record codec (see record.h).
 *
 * RECORD FORMAT
 *
 * A record is a 40-byte header followed by the stored payload. Every
 * integer is big-endian.
 *
 *   offset size  field
 *        0    4  magic: 0x534C5231, "SLR1" in ASCII
 *        4    4  CRC: zlib crc32() over header bytes 8..39, then over the
 *                stored payload (the magic and the CRC itself are not
 *                covered)
 *        8    8  LSN: the byte position of this header in the log
 *       16    8  epoch of the leader that wrote the record
 *       24    8  commit timestamp, microseconds since the Unix epoch
 *       32    1  type: 1 TXN (a committed transaction, txnrec.h),
 *                2 EPOCH (first record of a leader's term); any other
 *                value is corrupt
 *       33    1  flags: bit 0 = payload is zlib-compressed; every other
 *                bit must be 0
 *       34    2  reserved, must be 0
 *       36    4  stored payload length P, at most RECORD_MAX_PAYLOAD
 *       40    P  stored payload
 *
 * The record takes 40 + P bytes of the log; the next record's LSN is this
 * LSN + 40 + P. There is no padding.
 *
 * Uncompressed, the stored payload is the payload itself (raw length = P).
 * Compressed (flag bit 0), it is
 *
 *        0    4  raw length R: the payload's length before compression,
 *                1..RECORD_MAX_PAYLOAD
 *        4  P-4  a zlib stream (RFC 1950) that inflates to exactly R bytes,
 *                with no bytes after its end
 *
 * The encoder compresses (common/zpack.c: zlib level 1, fast) and keeps the
 * result only when 4 + the stream is shorter than the payload, so an empty
 * payload is never compressed. Deflate cannot expand more than 1032:1, so a
 * raw length above 1032 * (P - 4) + 1032 is corrupt; checking that before
 * allocating R bytes keeps a small bad record from asking for a gigabyte.
 *
 * DECODING
 *
 * The decoder trusts no field before checking it: with fewer than 40 bytes
 * it asks for more (SL_EAGAIN); then magic, type, flags, reserved bits and
 * the length are checked (SL_ECORRUPT), and only then is the length used to
 * ask for more (SL_EAGAIN) or to check the CRC (SL_ECORRUPT). A reader of a
 * log file knows where the file ends and turns a need-more past it into a
 * torn record (replog.c decides what that means).
 */
#include "record.h"

#include <string.h>
#include <zlib.h>

#include "sl_error.h"
#include "zpack.h"

#define RECORD_MAGIC 0x534C5231u

static void record_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void record_put64(uint8_t *p, uint64_t v)
{
	record_put32(p, (uint32_t)(v >> 32));
	record_put32(p + 4, (uint32_t)v);
}

static uint64_t record_get64(const uint8_t *p)
{
	return ((uint64_t)get_u32(p) << 32) | get_u32(p + 4);
}

static uint32_t record_crc(const uint8_t *header, const uint8_t *stored, uint32_t stored_len)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, header + 8, RECORD_HEADER_SIZE - 8);
	if (stored_len > 0)
		crc = crc32(crc, stored, stored_len);
	return (uint32_t)crc;
}

static void put_header(uint8_t *hdr, uint64_t lsn, uint64_t epoch, uint64_t commit_ts, uint8_t type, uint8_t flags,
		       const uint8_t *stored, uint32_t stored_len)
{
	record_put32(hdr, RECORD_MAGIC);
	record_put64(hdr + 8, lsn);
	record_put64(hdr + 16, epoch);
	record_put64(hdr + 24, commit_ts);
	hdr[32] = type;
	hdr[33] = flags;
	hdr[34] = hdr[35] = 0;
	record_put32(hdr + 36, stored_len);
	record_put32(hdr + 4, record_crc(hdr, stored, stored_len));
}

int record_encode(struct buf *out, uint64_t lsn, uint64_t epoch, uint64_t commit_ts, uint8_t type,
		  const void *payload, size_t len, bool compress)
{
	if (len > RECORD_MAX_PAYLOAD)
		return SL_ETOOBIG;
	if (type != RECORD_TXN && type != RECORD_EPOCH)
		return SL_EINVAL;
	bool was_oom = out->oom;
	size_t room = RECORD_HEADER_SIZE + len + (compress && len > 0 ? zpack_bound(len) : 0);
	if (!buf_reserve(out, room)) {
		out->oom = was_oom;
		return SL_ENOMEM;
	}
	uint8_t *hdr = out->data + out->len;
	uint8_t *stored = hdr + RECORD_HEADER_SIZE;
	uint32_t stored_len = 0;
	uint8_t flags = 0;
	if (compress && len > 0 && (stored_len = zpack_compress(stored, payload, len)) > 0)
		flags = RECORD_F_COMPRESSED;
	if (!flags) {
		stored_len = (uint32_t)len;
		if (len > 0)
			memcpy(stored, payload, len);
	}
	put_header(hdr, lsn, epoch, commit_ts, type, flags, stored, stored_len);
	out->len += RECORD_HEADER_SIZE + stored_len;
	return 0;
}

int record_encode_stored(struct buf *out, const struct record *rec)
{
	bool was_oom = out->oom;
	if (!buf_reserve(out, record_size(rec))) {
		out->oom = was_oom;
		return SL_ENOMEM;
	}
	uint8_t *hdr = out->data + out->len;
	memcpy(hdr + RECORD_HEADER_SIZE, rec->payload, rec->payload_len);
	put_header(hdr, rec->lsn, rec->epoch, rec->commit_ts, rec->type, rec->flags, hdr + RECORD_HEADER_SIZE,
		   rec->payload_len);
	out->len += record_size(rec);
	return 0;
}

/* Checks the header fields that must be sane before the length is used. */
static const char *record_check_header(const uint8_t *h)
{
	if (get_u32(h) != RECORD_MAGIC)
		return "bad magic";
	if (h[32] != RECORD_TXN && h[32] != RECORD_EPOCH)
		return "unknown record type";
	if (h[33] & ~RECORD_F_COMPRESSED)
		return "unknown flag bits";
	if (get_u16(h + 34) != 0)
		return "reserved field is not zero";
	if (get_u32(h + 36) > RECORD_MAX_PAYLOAD)
		return "payload length beyond the maximum";
	return NULL;
}

static int record_check(const uint8_t *data, size_t len, uint64_t expected_lsn, struct record *rec,
			size_t *consumed, const char **why)
{
	if (len < RECORD_HEADER_SIZE) {
		*why = "truncated header";
		return SL_EAGAIN;
	}
	if ((*why = record_check_header(data)) != NULL)
		return SL_ECORRUPT;
	uint32_t stored_len = get_u32(data + 36);
	if (len - RECORD_HEADER_SIZE < stored_len) {
		*why = "truncated payload";
		return SL_EAGAIN;
	}
	const uint8_t *stored = data + RECORD_HEADER_SIZE;
	if (record_crc(data, stored, stored_len) != get_u32(data + 4)) {
		*why = "CRC mismatch";
		return SL_ECORRUPT;
	}
	uint64_t lsn = record_get64(data + 8);
	if (expected_lsn != UINT64_MAX && lsn != expected_lsn) {
		*why = "record has an unexpected LSN";
		return SL_ECORRUPT;
	}
	uint32_t raw_len = stored_len;
	if ((data[33] & RECORD_F_COMPRESSED) && (*why = zpack_check(stored, stored_len, RECORD_MAX_PAYLOAD, &raw_len)))
		return SL_ECORRUPT;
	rec->lsn = lsn;
	rec->epoch = record_get64(data + 16);
	rec->commit_ts = record_get64(data + 24);
	rec->type = data[32];
	rec->flags = data[33];
	rec->raw_len = raw_len;
	rec->payload = stored;
	rec->payload_len = stored_len;
	*consumed = RECORD_HEADER_SIZE + (size_t)stored_len;
	return 0;
}

int record_decode(const uint8_t *data, size_t len, uint64_t expected_lsn, struct record *rec, size_t *consumed)
{
	const char *why;
	return record_check(data, len, expected_lsn, rec, consumed, &why);
}

const char *record_diagnose(const uint8_t *data, size_t len, uint64_t expected_lsn)
{
	const char *why = NULL;
	struct record rec;
	size_t consumed;
	if (record_check(data, len, expected_lsn, &rec, &consumed, &why) == 0)
		return NULL;
	return why;
}

static int record_inflate(const struct record *rec, struct buf *out)
{
	uint32_t raw_len;
	if (zpack_check(rec->payload, rec->payload_len, RECORD_MAX_PAYLOAD, &raw_len) != NULL || raw_len != rec->raw_len)
		return SL_ECORRUPT;
	return zpack_inflate(rec->payload, rec->payload_len, RECORD_MAX_PAYLOAD, out);
}

int record_payload(const struct record *rec, struct buf *out)
{
	buf_reset(out);
	if (rec->flags & ~RECORD_F_COMPRESSED)
		return SL_ECORRUPT;
	if (rec->flags & RECORD_F_COMPRESSED)
		return record_inflate(rec, out);
	if (rec->raw_len != rec->payload_len)
		return SL_ECORRUPT;
	buf_append(out, rec->payload, rec->payload_len);
	if (out->oom) {
		buf_reset(out);
		return SL_ENOMEM;
	}
	return 0;
}

const char *record_type_name(uint8_t type)
{
	switch (type) {
	case RECORD_TXN:
		return "TXN";
	case RECORD_EPOCH:
		return "EPOCH";
	}
	return "unknown";
}
