/*
 * pagedelta.c — a page as the bytes that differ from its previous image
 * (see pagedelta.h).
 *
 * FORMAT (big-endian)
 *
 *   u16  nranges
 *   nranges times:
 *     u16  offset      ascending; each range starts after the last ends
 *     u16  len         1 or more; offset + len <= the page size
 *     len bytes        the page's new bytes there
 *
 * Ranges closer than GAP bytes are joined: a range header costs 4 bytes.
 */
#include "pagedelta.h"

#include <string.h>
#include <zlib.h>

#include "sl_error.h"

#define GAP 8
#define RANGES_MAX 1024 /* more than this many and the delta is not worth it */
#define DELTA_HEADER 8  /* the two CRCs a delta entry has and an image has not */

/* Page 1's header fields a follower's copy may hold its own values in. */
#define COUNTER_AT 24
#define COUNTER_COPY_AT 92
#define COUNTER_LEN 4

uint32_t pagedelta_crc(uint32_t pgno, const uint8_t *page, uint32_t page_size)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	if (pgno != 1 || page_size < COUNTER_COPY_AT + COUNTER_LEN)
		return (uint32_t)crc32(crc, page, page_size);
	static const uint8_t zero[COUNTER_LEN];
	crc = crc32(crc, page, COUNTER_AT);
	crc = crc32(crc, zero, COUNTER_LEN);
	crc = crc32(crc, page + COUNTER_AT + COUNTER_LEN, COUNTER_COPY_AT - COUNTER_AT - COUNTER_LEN);
	crc = crc32(crc, zero, COUNTER_LEN);
	return (uint32_t)crc32(crc, page + COUNTER_COPY_AT + COUNTER_LEN,
			       page_size - COUNTER_COPY_AT - COUNTER_LEN);
}

/* Whether byte i goes into the delta (page 1's counters always do). */
static bool differs(uint32_t pgno, const uint8_t *base, const uint8_t *page, size_t i)
{
	if (pgno == 1 && ((i >= COUNTER_AT && i < COUNTER_AT + COUNTER_LEN) ||
			  (i >= COUNTER_COPY_AT && i < COUNTER_COPY_AT + COUNTER_LEN)))
		return true;
	return base[i] != page[i];
}

bool pagedelta_put(struct buf *b, uint32_t pgno, const uint8_t *base, const uint8_t *page, uint32_t page_size)
{
	uint16_t off[RANGES_MAX], len[RANGES_MAX];
	size_t n = 0, bytes = 2, i = 0;
	size_t word_end = pgno == 1 ? COUNTER_COPY_AT + COUNTER_LEN : 0; /* compare bytewise before it */
	while (i < page_size) {
		while (i >= word_end && i + 8 <= page_size && memcmp(base + i, page + i, 8) == 0)
			i += 8;
		while (i < page_size && !differs(pgno, base, page, i))
			i++;
		if (i >= page_size)
			break;
		size_t start = i, end = i + 1, same = 0;
		for (size_t j = i + 1; j < page_size && same < GAP; j++) {
			if (!differs(pgno, base, page, j)) {
				same++;
			} else {
				same = 0;
				end = j + 1;
			}
		}
		bytes += 4 + (end - start);
		if (n == RANGES_MAX || bytes + DELTA_HEADER >= page_size)
			return false;
		off[n] = (uint16_t)start;
		len[n] = (uint16_t)(end - start);
		n++;
		i = end;
	}
	buf_put_u16(b, (uint16_t)n);
	for (size_t k = 0; k < n; k++) {
		buf_put_u16(b, off[k]);
		buf_put_u16(b, len[k]);
		buf_append(b, page + off[k], len[k]);
	}
	return true;
}

int pagedelta_check(const uint8_t *p, size_t n, uint32_t page_size, size_t *len)
{
	struct cursor c;
	cursor_init(&c, p, n);
	uint16_t nranges = cursor_u16(&c);
	uint32_t next = 0; /* the first offset the next range may start at */
	for (uint16_t k = 0; k < nranges && !c.bad; k++) {
		uint32_t o = cursor_u16(&c), l = cursor_u16(&c);
		cursor_bytes(&c, l);
		if (c.bad || l == 0 || o < next || o + l > page_size)
			return SL_ECORRUPT;
		next = o + l + 1;
	}
	if (c.bad)
		return SL_ECORRUPT;
	*len = n - c.len;
	return 0;
}

void pagedelta_apply(const uint8_t *ranges, uint8_t *page)
{
	uint16_t n = get_u16(ranges);
	const uint8_t *p = ranges + 2;
	for (uint16_t k = 0; k < n; k++) {
		uint16_t o = get_u16(p), l = get_u16(p + 2);
		memcpy(page + o, p + 4, l);
		p += 4 + l;
	}
}
