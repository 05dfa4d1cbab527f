/*
 * txnrec.h — the payload of a TXN record: one committed SQLite transaction
 * as page images (physical), as changesets plus DDL (logical), or both.
 * Format: txnrec.c. The codec does no I/O.
 */
#ifndef SL_TXNREC_H
#define SL_TXNREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TXNREC_PHYSICAL 0x01
#define TXNREC_LOGICAL 0x02

enum txnrec_item_kind {
	TXNREC_CHANGESET = 1, /* sqlite3session changeset bytes */
	TXNREC_DDL = 2,       /* one SQL statement (CREATE/ALTER/DROP ...), UTF-8, no NUL */
	TXNREC_TABLE = 3,     /* a table's name and columns (struct txnrec_table) */
};

/* The leader's WAL commit frame for this transaction: salts and checksums.
 * Used only by the leader's own crash recovery; zero elsewhere. */
struct txnrec_walpos {
	uint32_t salt1, salt2, cksum1, cksum2;
};

/* ---- building (append to a buf; check b->oom once at the end) ---- */

/* pos may be NULL: a zero walpos. */
void txnrec_put_header(struct buf *b, unsigned sections, const struct txnrec_walpos *pos);
/* Physical section: then exactly npages pages, ascending pgno, each put
 * as a delta (if that is smaller) or as an image. */
void txnrec_put_physical(struct buf *b, uint32_t page_size, uint32_t db_pages, uint32_t npages);
void txnrec_put_page(struct buf *b, uint32_t pgno, const void *data, uint32_t page_size);
/* The page as the ranges that differ from base (whose CRC32 is base_crc;
 * crc is data's); false, and nothing put, if an image would be as small. */
bool txnrec_put_page_delta(struct buf *b, uint32_t pgno, const uint8_t *base, uint32_t base_crc, const uint8_t *data,
			   uint32_t crc, uint32_t page_size);
/* Logical section (after the physical one, if any): then exactly nitems items. */
void txnrec_put_logical(struct buf *b, uint32_t nitems);
void txnrec_put_item(struct buf *b, uint8_t kind, const void *data, uint32_t len);
/* The body of a TXNREC_TABLE item. */
void txnrec_put_table(struct buf *b, const char *name, int ncols, const char *const *cols, const bool *pk);

/* ---- reading ---- */

struct txnrec {
	unsigned sections;
	struct txnrec_walpos walpos;
	uint32_t page_size; /* physical: 512..65536, a power of two */
	uint32_t db_pages;  /* physical: database size in pages after the commit */
	uint32_t npages;
	const uint8_t *pages; /* npages entries (txnrec_pages) */
	size_t pages_len;
	uint32_t nitems;
	const uint8_t *items; /* nitems entries of (u8 kind, u32 len, bytes) */
	size_t items_len;
};

/* Checks every length and field; 0 or SL_ECORRUPT. The view points into p. */
int txnrec_decode(const uint8_t *p, size_t len, struct txnrec *t);
enum txnrec_page_kind {
	TXNREC_IMAGE = 0, /* the whole page */
	TXNREC_DELTA = 1, /* the bytes that differ from the page before */
};

struct txnrec_page {
	uint32_t pgno;
	uint8_t kind;
	const uint8_t *image;  /* IMAGE: page_size bytes */
	uint32_t base_crc, crc; /* DELTA: CRC32 of the page before and after */
	const uint8_t *ranges; /* DELTA: checked ranges (pagedelta.h) */
	size_t ranges_len;
};

struct txnrec_page_iter {
	struct cursor c;
	uint32_t left, page_size;
};
void txnrec_pages(const struct txnrec *t, struct txnrec_page_iter *it);
/* 1 and the next page, 0 at the end (decode already checked them). */
int txnrec_next_page(struct txnrec_page_iter *it, struct txnrec_page *pg);
/*
 * Makes page (page_size bytes, the page as it is) the record's page: an
 * image is copied; a delta is applied only to its base, and the result
 * must be the page it made. 0, or SL_ECORRUPT with page unchanged (wrong
 * base) or garbled (wrong result).
 */
int txnrec_page_apply(const struct txnrec_page *pg, uint8_t *page, uint32_t page_size);

struct txnrec_iter {
	struct cursor c;
	uint32_t left;
};
void txnrec_items(const struct txnrec *t, struct txnrec_iter *it);
/* 1 and the next item, 0 at the end (decode already checked the lengths). */
int txnrec_next_item(struct txnrec_iter *it, uint8_t *kind, const uint8_t **data, uint32_t *len);
/* "changeset", "ddl", "table" or "unknown". */
const char *txnrec_kind_name(uint8_t kind);

#define TXNREC_MAX_COLUMNS 2000
struct txnrec_table {
	const char *name;
	int ncols;
	const char *cols[TXNREC_MAX_COLUMNS]; /* point into the item */
	bool pk[TXNREC_MAX_COLUMNS];
};
/* Decodes a TXNREC_TABLE item body; 0 or SL_ECORRUPT. */
int txnrec_table_decode(const uint8_t *data, uint32_t len, struct txnrec_table *t);

#endif
