/*
 * zpack.h — the compressed form shared by log records and peer frames:
 * a big-endian u32 raw length followed by a zlib stream (RFC 1950) that
 * inflates to exactly that many bytes, with nothing after its end.
 *
 * Deflate cannot expand more than 1032:1, so a raw length above
 * 1032 * (stream length) + 1032 is refused before anything is allocated:
 * a small bad input never asks for a gigabyte.
 */
#ifndef SL_ZPACK_H
#define SL_ZPACK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Room the compressed form of len bytes may need. */
size_t zpack_bound(size_t len);

/*
 * Compresses len bytes (zlib level 1) into out, which has zpack_bound(len)
 * bytes of room. Returns the compressed form's length, or 0 when it would
 * not be smaller than len (then nothing useful is in out).
 */
uint32_t zpack_compress(uint8_t *out, const void *data, size_t len);

/* Why stored cannot be a compressed form of at most max_raw bytes, or
 * NULL (then *raw_len is the raw length it claims). */
const char *zpack_check(const uint8_t *stored, size_t stored_len, uint32_t max_raw, uint32_t *raw_len);

/* Inflates stored into out (reset first). 0, SL_ECORRUPT (bad form or
 * stream, or a raw length above max_raw) or SL_ENOMEM. */
int zpack_inflate(const uint8_t *stored, size_t stored_len, uint32_t max_raw, struct buf *out);

#endif
