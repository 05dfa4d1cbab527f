/*
 * zpack.c — the compressed payload form (see zpack.h).
 */
#include "zpack.h"

#include <stdbool.h>
#include <zlib.h>

#include "sl_error.h"

#define ZPACK_LEVEL 1
#define ZPACK_MAX_RATIO 1032u

size_t zpack_bound(size_t len) { return 4 + compressBound((uLong)len); }

uint32_t zpack_compress(uint8_t *out, const void *data, size_t len)
{
	uLongf zlen = compressBound((uLong)len);
	if (len == 0 || compress2(out + 4, &zlen, data, (uLong)len, ZPACK_LEVEL) != Z_OK)
		return 0;
	if (4 + (uint64_t)zlen >= len)
		return 0;
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	return (uint32_t)(4 + zlen);
}

const char *zpack_check(const uint8_t *stored, size_t stored_len, uint32_t max_raw, uint32_t *raw_len)
{
	if (stored_len <= 4)
		return "compressed payload too short";
	*raw_len = get_u32(stored);
	if (*raw_len == 0 || *raw_len > max_raw)
		return "bad raw payload length";
	if ((uint64_t)*raw_len > (uint64_t)(stored_len - 4) * ZPACK_MAX_RATIO + ZPACK_MAX_RATIO)
		return "raw payload length impossible for its compressed size";
	return NULL;
}

int zpack_inflate(const uint8_t *stored, size_t stored_len, uint32_t max_raw, struct buf *out)
{
	buf_reset(out);
	uint32_t raw_len;
	if (zpack_check(stored, stored_len, max_raw, &raw_len) != NULL)
		return SL_ECORRUPT;
	if (!buf_reserve(out, raw_len)) {
		buf_reset(out);
		return SL_ENOMEM;
	}
	uLongf dlen = raw_len;
	uLong slen = (uLong)(stored_len - 4);
	int zrc = uncompress2(out->data, &dlen, stored + 4, &slen);
	if (zrc == Z_MEM_ERROR)
		return SL_ENOMEM;
	if (zrc != Z_OK || dlen != raw_len || slen != stored_len - 4)
		return SL_ECORRUPT;
	out->len = raw_len;
	return 0;
}
