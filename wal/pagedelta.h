/*
 * pagedelta.h — a page as the bytes that differ from its previous image.
 *
 * A delta is a list of ranges (u16 offset, u16 length, the new bytes),
 * ascending and apart, with the CRC32 of the base it applies to and of the
 * page it makes: applied to anything but its base it is refused, never
 * applied silently. The codec does no I/O.
 */
#ifndef SL_PAGEDELTA_H
#define SL_PAGEDELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * CRC32 of page pgno. Page 1's file change counter and its copy (header
 * bytes 24-27 and 92-95) count as zero: a follower's copy of page 1 holds
 * its own after a bootstrap (snapshot.c), so a delta of page 1 fits it
 * all the same, and always carries the leader's (pagedelta_put).
 */
uint32_t pagedelta_crc(uint32_t pgno, const uint8_t *page, uint32_t page_size);

/*
 * Appends the ranges of page pgno that differ from base (u16 count, then
 * the ranges; page 1's change counter fields always) if they take less
 * than the page itself; else appends nothing and returns false.
 */
bool pagedelta_put(struct buf *b, uint32_t pgno, const uint8_t *base, const uint8_t *page, uint32_t page_size);

/*
 * Checks n bytes of ranges as pagedelta_put wrote them, for a page of
 * page_size: *len gets how many bytes they take. 0 or SL_ECORRUPT.
 */
int pagedelta_check(const uint8_t *p, size_t n, uint32_t page_size, size_t *len);

/* Writes checked ranges into page (the base, made the new image). */
void pagedelta_apply(const uint8_t *ranges, uint8_t *page);

#endif
