/*
 * txnrec.c — the payload of a TXN record (see txnrec.h): one committed
 * SQLite transaction as page images, as changesets and DDL, or both.
 *
 * FORMAT
 *
 * Every integer is big-endian. The payload is, in this order:
 *
 *   u8   sections      bit 0 (0x01): physical section present
 *                      bit 1 (0x02): logical section present
 *                      at least one of them set; every other bit zero
 *   u32  salt1         walpos: the leader's WAL commit frame (its salts
 *   u32  salt2           and running checksums), used only by the leader's
 *   u32  cksum1          own crash recovery; zero when unknown
 *   u32  cksum2
 *
 * The physical section, if bit 0 is set:
 *
 *   u32  page_size     a power of two, 512..65536
 *   u32  db_pages      the database size in pages after the commit
 *   u32  npages        how many pages follow (may be 0)
 *   npages times:
 *     u32  pgno        1 <= pgno <= db_pages, strictly ascending
 *     u8   kind        0 IMAGE, 1 DELTA (enum txnrec_page_kind)
 *     IMAGE: page_size bytes, the page's content after the commit
 *     DELTA: u32 base_crc  CRC32 of the page before (the delta's base)
 *            u32 crc       CRC32 of the page after
 *            the ranges that differ (pagedelta.c), consumed exactly
 *
 * The logical section, if bit 1 is set (after the physical one):
 *
 *   u32  nitems
 *   nitems times:
 *     u8   kind        1 CHANGESET, 2 DDL, 3 TABLE (enum txnrec_item_kind)
 *     u32  len
 *     len bytes        the item body:
 *                      CHANGESET: a sqlite3session changeset, as it is
 *                        (its inside is checked by SQLite when applied);
 *                      DDL: one SQL statement, UTF-8, 1 or more bytes,
 *                        no NUL byte;
 *                      TABLE: the body below, consumed exactly.
 *
 * Nothing may follow the last section.
 *
 * A TABLE item body describes one table a changeset of the record touches,
 * for decoders that have no copy of the schema (CDC):
 *
 *   u16  ncols         1..TXNREC_MAX_COLUMNS
 *   cstr name          the table's name, non-empty, NUL-terminated
 *   ncols times:
 *     u8   pk          1 if the column is part of the primary key, else 0
 *     cstr column      the column's name, NUL-terminated
 *
 * The format is canonical: decoding then encoding again gives the same
 * bytes. txnrec_decode checks every length through a cursor before it is
 * used (no arithmetic on untrusted lengths can overflow), so a view it
 * returns can be walked without further checks.
 */
#include "txnrec.h"

#include <string.h>

#include "pagedelta.h"
#include "sl_error.h"

#define WALPOS_SIZE 16
#define PAGE_SIZE_MIN 512u
#define PAGE_SIZE_MAX 65536u
#define MIN_PAGE_ENTRY 15 /* pgno, kind, two CRCs, no range */

/* ---------------------------------------------------------------- building */

void txnrec_put_header(struct buf *b, unsigned sections, const struct txnrec_walpos *pos)
{
	static const struct txnrec_walpos zero;
	if (!pos)
		pos = &zero;
	buf_put_u8(b, (uint8_t)sections);
	buf_put_u32(b, pos->salt1);
	buf_put_u32(b, pos->salt2);
	buf_put_u32(b, pos->cksum1);
	buf_put_u32(b, pos->cksum2);
}

void txnrec_put_physical(struct buf *b, uint32_t page_size, uint32_t db_pages, uint32_t npages)
{
	buf_put_u32(b, page_size);
	buf_put_u32(b, db_pages);
	buf_put_u32(b, npages);
}

void txnrec_put_page(struct buf *b, uint32_t pgno, const void *data, uint32_t page_size)
{
	buf_put_u32(b, pgno);
	buf_put_u8(b, TXNREC_IMAGE);
	buf_append(b, data, page_size);
}

bool txnrec_put_page_delta(struct buf *b, uint32_t pgno, const uint8_t *base, uint32_t base_crc, const uint8_t *data,
			   uint32_t crc, uint32_t page_size)
{
	size_t at = b->len;
	buf_put_u32(b, pgno);
	buf_put_u8(b, TXNREC_DELTA);
	buf_put_u32(b, base_crc);
	buf_put_u32(b, crc);
	if (pagedelta_put(b, pgno, base, data, page_size))
		return true;
	b->len = at < b->len ? at : b->len; /* not worth it: nothing written */
	return false;
}

void txnrec_put_logical(struct buf *b, uint32_t nitems) { buf_put_u32(b, nitems); }

void txnrec_put_item(struct buf *b, uint8_t kind, const void *data, uint32_t len)
{
	buf_put_u8(b, kind);
	buf_put_u32(b, len);
	buf_append(b, data, len);
}

void txnrec_put_table(struct buf *b, const char *name, int ncols, const char *const *cols, const bool *pk)
{
	buf_put_u16(b, (uint16_t)ncols);
	buf_put_cstr(b, name);
	for (int i = 0; i < ncols; i++) {
		buf_put_u8(b, pk && pk[i] ? 1 : 0);
		buf_put_cstr(b, cols[i]);
	}
}

const char *txnrec_kind_name(uint8_t kind)
{
	switch (kind) {
	case TXNREC_CHANGESET: return "changeset";
	case TXNREC_DDL: return "ddl";
	case TXNREC_TABLE: return "table";
	}
	return "unknown";
}

/* ----------------------------------------------------------------- reading */

static bool page_size_valid(uint32_t n)
{
	return n >= PAGE_SIZE_MIN && n <= PAGE_SIZE_MAX && (n & (n - 1)) == 0;
}

/*
 * Walks a TABLE body; fills t when it is not NULL. The body must be
 * consumed exactly.
 */
static int table_walk(const uint8_t *data, uint32_t len, struct txnrec_table *t)
{
	struct cursor c;
	cursor_init(&c, data, len);
	uint16_t ncols = cursor_u16(&c);
	const char *name = cursor_cstr(&c);
	if (c.bad || ncols == 0 || ncols > TXNREC_MAX_COLUMNS || name[0] == '\0')
		return SL_ECORRUPT;
	for (uint16_t i = 0; i < ncols; i++) {
		uint8_t pk = cursor_u8(&c);
		const char *col = cursor_cstr(&c);
		if (c.bad || pk > 1)
			return SL_ECORRUPT;
		if (t) {
			t->cols[i] = col;
			t->pk[i] = pk == 1;
		}
	}
	if (c.len != 0)
		return SL_ECORRUPT;
	if (t) {
		t->name = name;
		t->ncols = ncols;
	}
	return 0;
}

int txnrec_table_decode(const uint8_t *data, uint32_t len, struct txnrec_table *t)
{
	int rc = table_walk(data, len, t);
	if (rc != 0) {
		t->name = NULL;
		t->ncols = 0;
	}
	return rc;
}

static int item_check(uint8_t kind, const uint8_t *body, uint32_t len)
{
	switch (kind) {
	case TXNREC_CHANGESET:
		return 0;
	case TXNREC_DDL:
		return len > 0 && memchr(body, 0, len) == NULL ? 0 : SL_ECORRUPT;
	case TXNREC_TABLE:
		return table_walk(body, len, NULL);
	}
	return SL_ECORRUPT;
}

static int physical_decode(struct cursor *c, struct txnrec *t)
{
	t->page_size = cursor_u32(c);
	t->db_pages = cursor_u32(c);
	t->npages = cursor_u32(c);
	if (c->bad || !page_size_valid(t->page_size))
		return SL_ECORRUPT;
	if (t->npages > c->len / MIN_PAGE_ENTRY)
		return SL_ECORRUPT;
	t->pages = c->p;
	size_t start = c->len;
	uint32_t prev = 0;
	for (uint32_t i = 0; i < t->npages; i++) {
		uint32_t pgno = cursor_u32(c);
		uint8_t kind = cursor_u8(c);
		if (c->bad || pgno <= prev || pgno > t->db_pages)
			return SL_ECORRUPT;
		if (kind == TXNREC_IMAGE) {
			cursor_bytes(c, t->page_size);
		} else if (kind == TXNREC_DELTA) {
			size_t len;
			cursor_bytes(c, 8);
			if (c->bad || pagedelta_check(c->p, c->len, t->page_size, &len) != 0)
				return SL_ECORRUPT;
			cursor_bytes(c, len);
		} else {
			return SL_ECORRUPT;
		}
		if (c->bad)
			return SL_ECORRUPT;
		prev = pgno;
	}
	t->pages_len = start - c->len;
	return 0;
}

static int logical_decode(struct cursor *c, struct txnrec *t)
{
	t->nitems = cursor_u32(c);
	if (c->bad || t->nitems > c->len / 5) /* every item takes 5 bytes at least */
		return SL_ECORRUPT;
	t->items = c->p;
	size_t start = c->len;
	for (uint32_t i = 0; i < t->nitems; i++) {
		uint8_t kind = cursor_u8(c);
		uint32_t len = cursor_u32(c);
		const uint8_t *body = cursor_bytes(c, len);
		if (c->bad || item_check(kind, body, len) != 0)
			return SL_ECORRUPT;
	}
	t->items_len = start - c->len;
	return 0;
}

int txnrec_decode(const uint8_t *p, size_t len, struct txnrec *t)
{
	memset(t, 0, sizeof(*t));
	struct cursor c;
	cursor_init(&c, p, len);
	unsigned sections = cursor_u8(&c);
	t->walpos.salt1 = cursor_u32(&c);
	t->walpos.salt2 = cursor_u32(&c);
	t->walpos.cksum1 = cursor_u32(&c);
	t->walpos.cksum2 = cursor_u32(&c);
	if (c.bad || sections == 0 || (sections & ~(unsigned)(TXNREC_PHYSICAL | TXNREC_LOGICAL)) != 0)
		goto fail;
	if ((sections & TXNREC_PHYSICAL) && physical_decode(&c, t) != 0)
		goto fail;
	if ((sections & TXNREC_LOGICAL) && logical_decode(&c, t) != 0)
		goto fail;
	if (c.len != 0)
		goto fail;
	t->sections = sections;
	return 0;
fail:
	memset(t, 0, sizeof(*t));
	return SL_ECORRUPT;
}

void txnrec_pages(const struct txnrec *t, struct txnrec_page_iter *it)
{
	cursor_init(&it->c, t->pages, t->pages_len);
	it->left = t->npages;
	it->page_size = t->page_size;
}

int txnrec_next_page(struct txnrec_page_iter *it, struct txnrec_page *pg)
{
	if (it->left == 0)
		return 0;
	memset(pg, 0, sizeof(*pg));
	pg->pgno = cursor_u32(&it->c);
	pg->kind = cursor_u8(&it->c);
	if (pg->kind == TXNREC_IMAGE) {
		pg->image = cursor_bytes(&it->c, it->page_size);
	} else {
		pg->base_crc = cursor_u32(&it->c);
		pg->crc = cursor_u32(&it->c);
		size_t len = 0;
		if (!it->c.bad && pagedelta_check(it->c.p, it->c.len, it->page_size, &len) == 0) {
			pg->ranges = cursor_bytes(&it->c, len);
			pg->ranges_len = len;
		}
		else
			it->c.bad = true;
	}
	if (it->c.bad) { /* decode checked it all: cannot happen */
		it->left = 0;
		return 0;
	}
	it->left--;
	return 1;
}

int txnrec_page_apply(const struct txnrec_page *pg, uint8_t *page, uint32_t page_size)
{
	if (pg->kind == TXNREC_IMAGE) {
		memcpy(page, pg->image, page_size);
		return 0;
	}
	if (pagedelta_crc(pg->pgno, page, page_size) != pg->base_crc)
		return SL_ECORRUPT;
	pagedelta_apply(pg->ranges, page);
	return pagedelta_crc(pg->pgno, page, page_size) == pg->crc ? 0 : SL_ECORRUPT;
}

void txnrec_items(const struct txnrec *t, struct txnrec_iter *it)
{
	cursor_init(&it->c, t->items, t->items_len);
	it->left = t->nitems;
}

int txnrec_next_item(struct txnrec_iter *it, uint8_t *kind, const uint8_t **data, uint32_t *len)
{
	if (it->left == 0)
		return 0;
	uint8_t k = cursor_u8(&it->c);
	uint32_t n = cursor_u32(&it->c);
	const uint8_t *body = cursor_bytes(&it->c, n);
	if (it->c.bad) {
		it->left = 0;
		return 0;
	}
	it->left--;
	*kind = k;
	*data = body;
	*len = n;
	return 1;
}
