/*
 * record.h — the replication log's record codec (format: record.c).
 *
 * A record is a fixed header followed by its payload. The codec does no
 * I/O: bytes in, a parsed record or need-more or corrupt out.
 */
#ifndef SL_RECORD_H
#define SL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define RECORD_HEADER_SIZE 40
#define RECORD_MAX_PAYLOAD (1024u * 1024u * 1024u) /* 1 GiB, stored or raw */

enum record_type {
	RECORD_TXN = 1,   /* one committed SQLite transaction (txnrec.h) */
	RECORD_EPOCH = 2, /* first record of a leader's term (epochs.h) */
};

#define RECORD_F_COMPRESSED 0x01 /* payload is zlib-compressed */

struct record {
	uint64_t lsn;       /* byte position of the header */
	uint64_t epoch;
	uint64_t commit_ts; /* microseconds since the Unix epoch */
	uint8_t type;       /* enum record_type */
	uint8_t flags;      /* RECORD_F_* */
	uint32_t raw_len;   /* payload length before compression */
	/*
	 * The stored payload, exactly as on disk (not owned): the raw bytes,
	 * or, when RECORD_F_COMPRESSED, a big-endian u32 raw_len followed by
	 * the zlib stream. payload_len counts all of it, so record_size() is
	 * the record's size in the log. record_payload() gives the raw bytes.
	 */
	const uint8_t *payload;
	uint32_t payload_len;   /* stored length */
};

/* Size of the whole record (header + stored payload). */
static inline uint64_t record_size(const struct record *r)
{
	return RECORD_HEADER_SIZE + (uint64_t)r->payload_len;
}

/*
 * Appends one encoded record to out. With compress, the payload is
 * zlib-compressed when that makes it smaller. Returns 0, SL_ETOOBIG,
 * SL_EINVAL (type is not a record_type) or SL_ENOMEM (out unchanged on
 * error).
 */
int record_encode(struct buf *out, uint64_t lsn, uint64_t epoch, uint64_t commit_ts, uint8_t type,
		  const void *payload, size_t len, bool compress);

/* Appends a decoded record again, byte for byte as it was stored (its
 * payload stays compressed if it was). 0 or SL_ENOMEM. */
int record_encode_stored(struct buf *out, const struct record *rec);

/*
 * Decodes the record at the start of data[0..len). On success returns 0,
 * fills rec (payload points into data) and sets *consumed. Returns SL_EAGAIN
 * when len is shorter than the record claims (only the header's length
 * field is trusted for that, after the header is sane), SL_ECORRUPT when
 * the magic, a reserved field, a length, the type or the CRC is wrong.
 * expected_lsn, when not UINT64_MAX, must equal the record's LSN (else
 * SL_ECORRUPT).
 */
int record_decode(const uint8_t *data, size_t len, uint64_t expected_lsn, struct record *rec, size_t *consumed);

/*
 * Why record_decode() fails on the same arguments: a short static phrase
 * ("bad magic", "CRC mismatch", "truncated payload", ...) for error
 * messages, or NULL when the record decodes.
 */
const char *record_diagnose(const uint8_t *data, size_t len, uint64_t expected_lsn);

/* Puts the raw payload (decompressed if needed) into out (reset first).
 * Returns 0, SL_ECORRUPT (bad zlib data or wrong raw length) or SL_ENOMEM. */
int record_payload(const struct record *rec, struct buf *out);

const char *record_type_name(uint8_t type);

#endif
