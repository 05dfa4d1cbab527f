/*
 * fuzz_txnrec.c — libFuzzer target for wal/txnrec.c, the TXN record
 * payload codec.
 *
 * The input is one payload, in an exact-size allocation so that ASan
 * reports any read past it. When txnrec_decode accepts it, every page,
 * delta and item of the view must lie inside the input (a delta's ranges
 * applied to a page must stay inside it), the items must walk to the
 * end of the logical section, each TABLE item must decode, and encoding
 * the view again with the txnrec_put_* builders must give back the input
 * byte for byte (the format is canonical). When it refuses, the result
 * must be SL_ECORRUPT and the view zeroed. A broken invariant aborts.
 *
 * Build with clang -fsanitize=fuzzer (configure --enable-fuzzing), or link
 * with tests/fuzz/replay_main.c to replay the corpus in tests/fuzz/corpus/txnrec.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "pagedelta.h"
#include "sl_error.h"
#include "txnrec.h"

static const uint8_t *in_start;
static size_t in_size;

/* p[0..n) lies within the input. */
static void in_input(const void *p, size_t n)
{
	const uint8_t *q = p;
	if (n == 0)
		return;
	CHECK(q != NULL && q >= in_start && n <= in_size && (size_t)(q - in_start) <= in_size - n);
}

/* A TABLE body decodes, and encodes back to the same bytes. */
static void check_table(const uint8_t *body, uint32_t len, struct buf *out)
{
	static struct txnrec_table t;
	CHECK(txnrec_table_decode(body, len, &t) == 0);
	CHECK(t.ncols >= 1 && t.ncols <= TXNREC_MAX_COLUMNS && t.name[0] != '\0');
	struct buf b;
	buf_init(&b);
	txnrec_put_table(&b, t.name, t.ncols, t.cols, t.pk);
	CHECK(!b.oom && b.len == len && memcmp(b.data, body, len) == 0);
	buf_free(&b);
	txnrec_put_item(out, TXNREC_TABLE, body, len);
}

static void reencode_pages(const struct txnrec *t, struct buf *out)
{
	txnrec_put_physical(out, t->page_size, t->db_pages, t->npages);
	uint32_t prev = 0;
	struct txnrec_page_iter it;
	struct txnrec_page pg;
	txnrec_pages(t, &it);
	for (uint32_t i = 0; i < t->npages; i++) {
		CHECK(txnrec_next_page(&it, &pg) == 1);
		CHECK(pg.pgno > prev && pg.pgno <= t->db_pages);
		prev = pg.pgno;
		buf_put_u32(out, pg.pgno);
		buf_put_u8(out, pg.kind);
		if (pg.kind == TXNREC_IMAGE) {
			in_input(pg.image, t->page_size);
			buf_append(out, pg.image, t->page_size);
		} else {
			/* the ranges lie in the input and, applied, within the
			 * page (ASan: an exact-size page) */
			in_input(pg.ranges, pg.ranges_len);
			buf_put_u32(out, pg.base_crc);
			buf_put_u32(out, pg.crc);
			buf_append(out, pg.ranges, pg.ranges_len);
			uint8_t *page = calloc(1, t->page_size);
			CHECK(page != NULL);
			pagedelta_apply(pg.ranges, page);
			free(page);
		}
	}
	CHECK(txnrec_next_page(&it, &pg) == 0);
}

static void reencode_items(const struct txnrec *t, struct buf *out)
{
	struct txnrec_iter it;
	uint8_t kind;
	const uint8_t *body;
	uint32_t len, n = 0;
	in_input(t->items, t->items_len);
	txnrec_put_logical(out, t->nitems);
	txnrec_items(t, &it);
	while (txnrec_next_item(&it, &kind, &body, &len)) {
		in_input(body, len);
		CHECK(kind >= TXNREC_CHANGESET && kind <= TXNREC_TABLE);
		if (kind == TXNREC_DDL)
			CHECK(len > 0 && memchr(body, 0, len) == NULL);
		if (kind == TXNREC_TABLE)
			check_table(body, len, out);
		else
			txnrec_put_item(out, kind, body, len);
		n++;
	}
	CHECK(n == t->nitems);
	CHECK(it.c.len == 0 && !it.c.bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	CHECK(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	in_start = copy;
	in_size = size;

	struct txnrec t;
	int rc = txnrec_decode(copy, size, &t);
	CHECK(rc == 0 || rc == SL_ECORRUPT);
	if (rc != 0) {
		CHECK(t.sections == 0 && t.npages == 0 && t.nitems == 0);
		free(copy);
		return 0;
	}
	CHECK(t.sections != 0 && (t.sections & ~(unsigned)(TXNREC_PHYSICAL | TXNREC_LOGICAL)) == 0);
	struct buf out;
	buf_init(&out);
	txnrec_put_header(&out, t.sections, &t.walpos);
	if (t.sections & TXNREC_PHYSICAL) {
		CHECK(t.page_size >= 512 && t.page_size <= 65536 && (t.page_size & (t.page_size - 1)) == 0);
		reencode_pages(&t, &out);
	}
	if (t.sections & TXNREC_LOGICAL)
		reencode_items(&t, &out);
	CHECK(!out.oom && out.len == size && memcmp(out.data, copy, size) == 0);
	buf_free(&out);
	free(copy);
	return 0;
}
