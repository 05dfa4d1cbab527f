/*
 * test_txnrec.c — unit tests for wal/txnrec.c (the TXN record payload),
 * wal/epochrec.c (the EPOCH record payload) and wal/replay.c (applying a
 * record to a database): round trips, every truncation and every
 * malformed field refused, page images written into a file, and
 * changesets from a real sqlite3session applied with every conflict and
 * every missing table reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "epochrec.h"
#include "pagedelta.h"
#include "replay.h"
#include "sl_error.h"
#include "txnrec.h"

#define PS 512

static const struct txnrec_walpos WALPOS = { 0x11223344, 0x55667788, 0x99AABBCC, 0xDDEEFF00 };

/* Decodes p[0..len) from an exact-size copy, so ASan sees any overread. */
static int decode_copy(const uint8_t *p, size_t len, struct txnrec *t, uint8_t **copy)
{
	*copy = malloc(len ? len : 1);
	assert_non_null(*copy);
	if (len)
		memcpy(*copy, p, len);
	return txnrec_decode(*copy, len, t);
}

static int decode_status(const uint8_t *p, size_t len)
{
	struct txnrec t;
	uint8_t *copy;
	int rc = decode_copy(p, len, &t, &copy);
	free(copy);
	return rc;
}

/* A page whose bytes are a pattern of seed; page 1 gets a database header. */
static void page_fill(uint8_t *page, uint32_t page_size, uint32_t pgno, unsigned seed)
{
	for (uint32_t i = 0; i < page_size; i++)
		page[i] = (uint8_t)(i * 31 + pgno * 7 + seed);
	if (pgno == 1) {
		memcpy(page, "SQLite format 3", 16);
		page[16] = (uint8_t)(page_size >> 8);
		page[17] = (uint8_t)page_size;
		if (page_size == 65536)
			page[16] = 0, page[17] = 1;
	}
}

static const char *const COLS[] = { "k", "v", "w" };
static const bool PK[] = { true, false, false };

/* Both sections: pages 1, 2 and 5 of a 6-page database, and four items. */
static void build_full(struct buf *b)
{
	uint8_t page[PS];
	struct buf table;
	buf_init(&table);
	txnrec_put_table(&table, "kv", 3, COLS, PK);
	txnrec_put_header(b, TXNREC_PHYSICAL | TXNREC_LOGICAL, &WALPOS);
	txnrec_put_physical(b, PS, 6, 3);
	static const uint32_t pgnos[] = { 1, 2, 5 };
	for (int i = 0; i < 3; i++) {
		page_fill(page, PS, pgnos[i], 1);
		txnrec_put_page(b, pgnos[i], page, PS);
	}
	txnrec_put_logical(b, 4);
	txnrec_put_item(b, TXNREC_DDL, "CREATE TABLE kv(k INTEGER PRIMARY KEY, v, w)", 44);
	txnrec_put_item(b, TXNREC_TABLE, table.data, (uint32_t)table.len);
	txnrec_put_item(b, TXNREC_CHANGESET, "\x01\x02\x03", 3);
	txnrec_put_item(b, TXNREC_CHANGESET, NULL, 0);
	assert_false(b->oom);
	assert_false(table.oom);
	buf_free(&table);
}

/* ---------------------------------------------------------------- codec */

static void test_round_trip(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	build_full(&b);
	struct txnrec t;
	uint8_t *copy;
	assert_int_equal(decode_copy(b.data, b.len, &t, &copy), 0);
	assert_int_equal(t.sections, TXNREC_PHYSICAL | TXNREC_LOGICAL);
	assert_memory_equal(&t.walpos, &WALPOS, sizeof(WALPOS));
	assert_int_equal(t.page_size, PS);
	assert_int_equal(t.db_pages, 6);
	assert_int_equal(t.npages, 3);
	static const uint32_t pgnos[] = { 1, 2, 5 };
	uint8_t want[PS];
	struct txnrec_page_iter pit;
	struct txnrec_page pg;
	txnrec_pages(&t, &pit);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(txnrec_next_page(&pit, &pg), 1);
		assert_int_equal(pg.pgno, pgnos[i]);
		assert_int_equal(pg.kind, TXNREC_IMAGE);
		page_fill(want, PS, pg.pgno, 1);
		assert_memory_equal(pg.image, want, PS);
	}
	assert_int_equal(txnrec_next_page(&pit, &pg), 0);
	assert_int_equal(t.nitems, 4);
	struct txnrec_iter it;
	uint8_t kind;
	const uint8_t *data;
	uint32_t len;
	txnrec_items(&t, &it);
	assert_int_equal(txnrec_next_item(&it, &kind, &data, &len), 1);
	assert_int_equal(kind, TXNREC_DDL);
	assert_int_equal(len, 44);
	assert_memory_equal(data, "CREATE TABLE kv", 15);
	assert_int_equal(txnrec_next_item(&it, &kind, &data, &len), 1);
	assert_int_equal(kind, TXNREC_TABLE);
	struct txnrec_table *tab = malloc(sizeof(*tab));
	assert_non_null(tab);
	assert_int_equal(txnrec_table_decode(data, len, tab), 0);
	assert_string_equal(tab->name, "kv");
	assert_int_equal(tab->ncols, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(tab->cols[i], COLS[i]);
		assert_int_equal(tab->pk[i], PK[i]);
	}
	free(tab);
	assert_int_equal(txnrec_next_item(&it, &kind, &data, &len), 1);
	assert_int_equal(kind, TXNREC_CHANGESET);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "\x01\x02\x03", 3);
	assert_int_equal(txnrec_next_item(&it, &kind, &data, &len), 1);
	assert_int_equal(kind, TXNREC_CHANGESET);
	assert_int_equal(len, 0);
	assert_int_equal(txnrec_next_item(&it, &kind, &data, &len), 0);
	assert_int_equal(txnrec_next_item(&it, &kind, &data, &len), 0);
	assert_string_equal(txnrec_kind_name(TXNREC_DDL), "ddl");
	assert_string_equal(txnrec_kind_name(9), "unknown");
	free(copy);
	buf_free(&b);
}

static void test_one_section(void **state)
{
	(void)state;
	struct buf b;
	struct txnrec t;
	buf_init(&b);
	/* Physical only, no pages (a commit that only shrinks the file), no walpos. */
	txnrec_put_header(&b, TXNREC_PHYSICAL, NULL);
	txnrec_put_physical(&b, 65536, 0, 0);
	assert_int_equal(txnrec_decode(b.data, b.len, &t), 0);
	assert_int_equal(t.sections, TXNREC_PHYSICAL);
	assert_int_equal(t.walpos.salt1, 0);
	assert_int_equal(t.page_size, 65536);
	assert_int_equal(t.nitems, 0);
	/* Logical only, no items. */
	buf_reset(&b);
	txnrec_put_header(&b, TXNREC_LOGICAL, &WALPOS);
	txnrec_put_logical(&b, 0);
	assert_int_equal(txnrec_decode(b.data, b.len, &t), 0);
	assert_int_equal(t.sections, TXNREC_LOGICAL);
	assert_int_equal(t.npages, 0);
	struct txnrec_iter it;
	uint8_t kind;
	const uint8_t *data;
	uint32_t len;
	txnrec_items(&t, &it);
	assert_int_equal(txnrec_next_item(&it, &kind, &data, &len), 0);
	buf_free(&b);
}

static void test_truncations(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	build_full(&b);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(decode_status(b.data, n), SL_ECORRUPT);
	assert_int_equal(decode_status(b.data, b.len), 0);
	buf_put_u8(&b, 0); /* trailing bytes */
	assert_int_equal(decode_status(b.data, b.len), SL_ECORRUPT);
	buf_free(&b);
}

static void test_bad_sections(void **state)
{
	(void)state;
	static const uint8_t bad[] = { 0, 4, 0x80, 0x83, 0xFF };
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(bad); i++) {
		buf_reset(&b);
		txnrec_put_header(&b, bad[i], &WALPOS);
		txnrec_put_logical(&b, 0);
		assert_int_equal(decode_status(b.data, b.len), SL_ECORRUPT);
	}
	buf_free(&b);
}

static int physical_status(uint32_t page_size, uint32_t db_pages, int n, const uint32_t *pgnos)
{
	struct buf b;
	buf_init(&b);
	txnrec_put_header(&b, TXNREC_PHYSICAL, &WALPOS);
	txnrec_put_physical(&b, page_size, db_pages, (uint32_t)n);
	uint8_t *page = calloc(1, page_size ? page_size : 1);
	assert_non_null(page);
	for (int i = 0; i < n; i++)
		txnrec_put_page(&b, pgnos[i], page, page_size);
	free(page);
	assert_false(b.oom);
	int rc = decode_status(b.data, b.len);
	buf_free(&b);
	return rc;
}

static void test_page_sizes(void **state)
{
	(void)state;
	static const uint32_t good[] = { 512, 1024, 4096, 32768, 65536 };
	static const uint32_t bad[] = { 0, 1, 256, 511, 513, 1000, 4097, 131072, 0x80000000u };
	const uint32_t one = 1;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(physical_status(good[i], 1, 1, &one), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(physical_status(bad[i], 1, bad[i] <= 131072 ? 1 : 0, &one), SL_ECORRUPT);
}

static void test_page_numbers(void **state)
{
	(void)state;
	static const uint32_t asc[] = { 1, 2, 9 };
	static const uint32_t desc[] = { 2, 1 };
	static const uint32_t same[] = { 3, 3 };
	static const uint32_t zero[] = { 0 };
	static const uint32_t past[] = { 1, 10 };
	assert_int_equal(physical_status(PS, 9, 3, asc), 0);
	assert_int_equal(physical_status(PS, 8, 3, asc), SL_ECORRUPT); /* page 9 of 8 */
	assert_int_equal(physical_status(PS, 9, 2, desc), SL_ECORRUPT);
	assert_int_equal(physical_status(PS, 9, 2, same), SL_ECORRUPT);
	assert_int_equal(physical_status(PS, 9, 1, zero), SL_ECORRUPT);
	assert_int_equal(physical_status(PS, 9, 2, past), SL_ECORRUPT);
}

/* Counts that would overflow a naive size computation. */
static void test_huge_counts(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	txnrec_put_header(&b, TXNREC_PHYSICAL, &WALPOS);
	txnrec_put_physical(&b, 65536, UINT32_MAX, UINT32_MAX);
	buf_put_u32(&b, 1);
	assert_int_equal(decode_status(b.data, b.len), SL_ECORRUPT);
	buf_reset(&b);
	txnrec_put_header(&b, TXNREC_LOGICAL, &WALPOS);
	txnrec_put_logical(&b, UINT32_MAX);
	txnrec_put_item(&b, TXNREC_DDL, "x", 1);
	assert_int_equal(decode_status(b.data, b.len), SL_ECORRUPT);
	buf_reset(&b);
	txnrec_put_header(&b, TXNREC_LOGICAL, &WALPOS);
	txnrec_put_logical(&b, 1);
	buf_put_u8(&b, TXNREC_CHANGESET);
	buf_put_u32(&b, UINT32_MAX);
	buf_append(&b, "abc", 3);
	assert_int_equal(decode_status(b.data, b.len), SL_ECORRUPT);
	buf_free(&b);
}

static int item_status(uint8_t kind, const void *data, uint32_t len)
{
	struct buf b;
	buf_init(&b);
	txnrec_put_header(&b, TXNREC_LOGICAL, &WALPOS);
	txnrec_put_logical(&b, 1);
	txnrec_put_item(&b, kind, data, len);
	int rc = decode_status(b.data, b.len);
	buf_free(&b);
	return rc;
}

static void test_items(void **state)
{
	(void)state;
	assert_int_equal(item_status(TXNREC_CHANGESET, "", 0), 0);
	assert_int_equal(item_status(TXNREC_DDL, "DROP TABLE x", 12), 0);
	assert_int_equal(item_status(0, "x", 1), SL_ECORRUPT);
	assert_int_equal(item_status(4, "x", 1), SL_ECORRUPT);
	assert_int_equal(item_status(255, "x", 1), SL_ECORRUPT);
	assert_int_equal(item_status(TXNREC_DDL, "", 0), SL_ECORRUPT);
	assert_int_equal(item_status(TXNREC_DDL, "DROP\0TABLE", 10), SL_ECORRUPT);
	assert_int_equal(item_status(TXNREC_TABLE, "", 0), SL_ECORRUPT);
}

static int table_status(const void *body, size_t len)
{
	struct txnrec_table *t = malloc(sizeof(*t));
	assert_non_null(t);
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, body, len);
	int rc = txnrec_table_decode(copy, (uint32_t)len, t);
	/* A record holding it agrees. */
	assert_int_equal(item_status(TXNREC_TABLE, copy, (uint32_t)len), rc);
	free(copy);
	free(t);
	return rc;
}

static void test_tables(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	txnrec_put_table(&b, "t", 1, COLS, NULL);
	assert_int_equal(table_status(b.data, b.len), 0);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(table_status(b.data, n), SL_ECORRUPT);
	buf_put_u8(&b, 0);
	assert_int_equal(table_status(b.data, b.len), SL_ECORRUPT);

	static const uint8_t zero_cols[] = { 0, 0, 't', 0 };
	static const uint8_t empty_name[] = { 0, 1, 0, 1, 'k', 0 };
	static const uint8_t bad_pk[] = { 0, 1, 't', 0, 2, 'k', 0 };
	static const uint8_t empty_col[] = { 0, 1, 't', 0, 1, 0 };
	assert_int_equal(table_status(zero_cols, sizeof(zero_cols)), SL_ECORRUPT);
	assert_int_equal(table_status(empty_name, sizeof(empty_name)), SL_ECORRUPT);
	assert_int_equal(table_status(bad_pk, sizeof(bad_pk)), SL_ECORRUPT);
	assert_int_equal(table_status(empty_col, sizeof(empty_col)), 0);

	/* TXNREC_MAX_COLUMNS columns, then one more. */
	const char **cols = malloc((TXNREC_MAX_COLUMNS + 1) * sizeof(*cols));
	assert_non_null(cols);
	for (int i = 0; i <= TXNREC_MAX_COLUMNS; i++)
		cols[i] = "c";
	buf_reset(&b);
	txnrec_put_table(&b, "wide", TXNREC_MAX_COLUMNS, cols, NULL);
	assert_int_equal(table_status(b.data, b.len), 0);
	buf_reset(&b);
	txnrec_put_table(&b, "wide", TXNREC_MAX_COLUMNS + 1, cols, NULL);
	assert_int_equal(table_status(b.data, b.len), SL_ECORRUPT);
	free(cols);
	buf_free(&b);
}

static void test_epochrec(void **state)
{
	(void)state;
	struct buf b;
	struct epochrec e;
	buf_init(&b);
	assert_int_equal(epochrec_encode(&b, 7, "node1"), 0);
	assert_int_equal(b.len, 8 + 2 + 5);
	assert_int_equal(epochrec_decode(b.data, b.len, &e), 0);
	assert_int_equal(e.epoch, 7);
	assert_string_equal(e.leader, "node1");
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(epochrec_decode(b.data, n, &e), SL_ECORRUPT);
	buf_put_u8(&b, 'x');
	assert_int_equal(epochrec_decode(b.data, b.len, &e), SL_ECORRUPT);

	char name[EPOCHREC_LEADER_MAX + 2];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	buf_reset(&b);
	assert_int_equal(epochrec_encode(&b, 1, name), SL_EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(epochrec_encode(&b, 1, ""), SL_EINVAL);
	assert_int_equal(epochrec_encode(&b, 0, "a"), SL_EINVAL);
	name[EPOCHREC_LEADER_MAX] = '\0';
	assert_int_equal(epochrec_encode(&b, UINT64_MAX, name), 0);
	assert_int_equal(epochrec_decode(b.data, b.len, &e), 0);
	assert_string_equal(e.leader, name);
	assert_int_equal(e.epoch, UINT64_MAX);
	static const uint8_t nul_in_name[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 'a', 0 };
	assert_int_equal(epochrec_decode(nul_in_name, sizeof(nul_in_name), &e), SL_ECORRUPT);
	buf_free(&b);
}

/* ---------------------------------------------------------------- physical */

static char tmpdir[256];

static int setup_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_txnrec.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmpdir(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmpdir, name); }

static void decode_buf(const struct buf *b, struct txnrec *t)
{
	assert_false(b->oom);
	assert_int_equal(txnrec_decode(b->data, b->len, t), 0);
}

/* A physical record of pages pgnos[0..n) (seeded) in a db_pages database. */
static void build_pages(struct buf *b, uint32_t page_size, uint32_t db_pages, int n, const uint32_t *pgnos,
			unsigned seed)
{
	uint8_t *page = malloc(page_size);
	assert_non_null(page);
	buf_reset(b);
	txnrec_put_header(b, TXNREC_PHYSICAL, NULL);
	txnrec_put_physical(b, page_size, db_pages, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		page_fill(page, page_size, pgnos[i], seed);
		txnrec_put_page(b, pgnos[i], page, page_size);
	}
	free(page);
}

static void expect_page(int fd, uint32_t page_size, uint32_t pgno, unsigned seed)
{
	uint8_t *want = malloc(page_size), *got = malloc(page_size);
	assert_non_null(want);
	assert_non_null(got);
	page_fill(want, page_size, pgno, seed);
	assert_int_equal(pread(fd, got, page_size, (off_t)(pgno - 1) * page_size), (ssize_t)page_size);
	assert_memory_equal(got, want, page_size);
	free(want);
	free(got);
}

static void test_replay_physical(void **state)
{
	(void)state;
	char path[300];
	tmp_path(path, sizeof(path), "phys.db");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	struct buf b;
	struct txnrec t;
	struct stat st;
	buf_init(&b);

	static const uint32_t first[] = { 1, 2, 3, 4 };
	build_pages(&b, PS, 4, 4, first, 1);
	decode_buf(&b, &t);
	assert_int_equal(replay_physical(fd, &t, NULL), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 4 * PS);
	for (uint32_t p = 1; p <= 4; p++)
		expect_page(fd, PS, p, 1);

	/* Page 2 changes and the database shrinks to 3 pages. */
	static const uint32_t second[] = { 2 };
	build_pages(&b, PS, 3, 1, second, 2);
	decode_buf(&b, &t);
	assert_int_equal(replay_physical(fd, &t, NULL), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 3 * PS);
	expect_page(fd, PS, 1, 1);
	expect_page(fd, PS, 2, 2);
	expect_page(fd, PS, 3, 1);

	/* Growth past the end with a hole-free write of page 5. */
	static const uint32_t third[] = { 4, 5 };
	build_pages(&b, PS, 5, 2, third, 3);
	decode_buf(&b, &t);
	assert_int_equal(replay_physical(fd, &t, NULL), 0);
	expect_page(fd, PS, 5, 3);

	/* Another page size than the file's. */
	build_pages(&b, 1024, 1, 1, first, 1);
	decode_buf(&b, &t);
	assert_int_equal(replay_physical(fd, &t, NULL), SL_EINVAL);
	expect_page(fd, PS, 1, 1); /* untouched */

	/* No physical section. */
	buf_reset(&b);
	txnrec_put_header(&b, TXNREC_LOGICAL, NULL);
	txnrec_put_logical(&b, 0);
	decode_buf(&b, &t);
	assert_int_equal(replay_physical(fd, &t, NULL), SL_EINVAL);
	close(fd);

	/* A non-empty file that is not a database. */
	tmp_path(path, sizeof(path), "junk");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello, world, not a db", 22), 22);
	build_pages(&b, PS, 1, 1, first, 1);
	decode_buf(&b, &t);
	assert_int_equal(replay_physical(fd, &t, NULL), SL_EINVAL);
	close(fd);

	/* Page size 65536 is stored as 1 in the header. */
	tmp_path(path, sizeof(path), "big.db");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	build_pages(&b, 65536, 1, 1, first, 4);
	decode_buf(&b, &t);
	assert_int_equal(replay_physical(fd, &t, NULL), 0);
	assert_int_equal(replay_physical(fd, &t, NULL), 0);
	expect_page(fd, 65536, 1, 4);
	close(fd);
	buf_free(&b);
}

/* A real database written by SQLite, copied page by page into one record. */
static void test_replay_physical_sqlite(void **state)
{
	(void)state;
	char src[300], dst[300];
	tmp_path(src, sizeof(src), "src.db");
	tmp_path(dst, sizeof(dst), "dst.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(src, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "PRAGMA page_size=1024; CREATE TABLE t(a INTEGER PRIMARY KEY, b);"
				      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<500)"
				      " INSERT INTO t SELECT i, printf('row %d', i) FROM n;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	int sfd = open(src, O_RDONLY);
	assert_true(sfd >= 0);
	struct stat st;
	assert_int_equal(fstat(sfd, &st), 0);
	uint32_t npages = (uint32_t)(st.st_size / 1024);
	assert_true(npages > 3);
	struct buf b;
	buf_init(&b);
	txnrec_put_header(&b, TXNREC_PHYSICAL, NULL);
	txnrec_put_physical(&b, 1024, npages, npages);
	uint8_t page[1024];
	for (uint32_t p = 1; p <= npages; p++) {
		assert_int_equal(pread(sfd, page, 1024, (off_t)(p - 1) * 1024), 1024);
		txnrec_put_page(&b, p, page, 1024);
	}
	close(sfd);
	struct txnrec t;
	decode_buf(&b, &t);
	int fd = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(replay_physical(fd, &t, NULL), 0);
	close(fd);
	buf_free(&b);

	assert_int_equal(sqlite3_open(dst, &db), SQLITE_OK);
	sqlite3_stmt *st2;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(a), max(b) FROM t", -1, &st2, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st2), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st2, 0), 500);
	assert_int_equal(sqlite3_column_int(st2, 1), 500 * 501 / 2);
	assert_string_equal((const char *)sqlite3_column_text(st2, 2), "row 99");
	sqlite3_finalize(st2);
	sqlite3_close(db);
}

/* ----------------------------------------------------------------- logical */

static sqlite3 *mem_db(void)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	return db;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* Runs sql on db under a session and returns its changeset (sqlite3_free it). */
static void *changeset_of(sqlite3 *db, const char *sql, int *len)
{
	sqlite3_session *s;
	void *cs = NULL;
	assert_int_equal(sqlite3session_create(db, "main", &s), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(s, NULL), SQLITE_OK);
	exec_ok(db, sql);
	assert_int_equal(sqlite3session_changeset(s, len, &cs), SQLITE_OK);
	sqlite3session_delete(s);
	assert_true(*len > 0);
	return cs;
}

static const char DDL[] = "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT)";

/* A logical record: optionally the DDL and a TABLE item, then the changeset. */
static void build_logical(struct buf *b, bool with_ddl, const void *cs, int len)
{
	buf_reset(b);
	txnrec_put_header(b, TXNREC_LOGICAL, NULL);
	txnrec_put_logical(b, with_ddl ? 3 : 1);
	if (with_ddl) {
		struct buf tb;
		buf_init(&tb);
		txnrec_put_table(&tb, "kv", 2, (const char *const[]){ "k", "v" }, (const bool[]){ true, false });
		txnrec_put_item(b, TXNREC_DDL, DDL, (uint32_t)strlen(DDL));
		txnrec_put_item(b, TXNREC_TABLE, tb.data, (uint32_t)tb.len);
		buf_free(&tb);
	}
	txnrec_put_item(b, TXNREC_CHANGESET, cs, (uint32_t)len);
}

static int apply(sqlite3 *db, const struct buf *b, char *err, size_t errlen)
{
	struct txnrec t;
	decode_buf(b, &t);
	exec_ok(db, "BEGIN");
	err[0] = '\0';
	int rc = replay_logical(db, &t, err, errlen);
	exec_ok(db, rc == 0 ? "COMMIT" : "ROLLBACK");
	return rc;
}

static int count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_replay_logical(void **state)
{
	(void)state;
	sqlite3 *src = mem_db(), *dst = mem_db();
	char err[512];
	struct buf b;
	buf_init(&b);
	exec_ok(src, DDL);
	int len;
	void *cs = changeset_of(src, "INSERT INTO kv VALUES (1, 'one'), (2, 'two'), (3, 'three')", &len);

	build_logical(&b, true, cs, len);
	assert_int_equal(apply(dst, &b, err, sizeof(err)), 0);
	assert_int_equal(count_rows(dst, "SELECT count(*) FROM kv WHERE v IN ('one','two','three')"), 3);

	/* The same inserts again: the rows are there already. */
	build_logical(&b, false, cs, len);
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "\"kv\""));
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(count_rows(dst, "SELECT count(*) FROM kv"), 3);
	sqlite3_free(cs);

	/* An update of a row the target lacks. */
	exec_ok(dst, "DELETE FROM kv WHERE k = 2");
	cs = changeset_of(src, "UPDATE kv SET v = 'TWO' WHERE k = 2", &len);
	build_logical(&b, false, cs, len);
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "\"kv\""));
	assert_non_null(strstr(err, "does not exist"));
	sqlite3_free(cs);

	/* A delete whose old values differ from the row's. */
	exec_ok(dst, "UPDATE kv SET v = 'changed' WHERE k = 3");
	cs = changeset_of(src, "DELETE FROM kv WHERE k = 3", &len);
	build_logical(&b, false, cs, len);
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "current values differ"));
	assert_int_equal(count_rows(dst, "SELECT count(*) FROM kv WHERE k = 3"), 1);
	sqlite3_free(cs);

	/* A constraint the target has and the source had not. */
	exec_ok(dst, "CREATE UNIQUE INDEX kv_v ON kv(v)");
	exec_ok(dst, "INSERT INTO kv VALUES (50, 'dup')");
	cs = changeset_of(src, "INSERT INTO kv VALUES (51, 'dup')", &len);
	build_logical(&b, false, cs, len);
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "constraint"));
	sqlite3_free(cs);

	buf_free(&b);
	sqlite3_close(src);
	sqlite3_close(dst);
}

static void test_replay_logical_schema(void **state)
{
	(void)state;
	sqlite3 *src = mem_db(), *dst = mem_db();
	char err[512];
	struct buf b;
	buf_init(&b);
	exec_ok(src, DDL);
	int len;
	void *cs = changeset_of(src, "INSERT INTO kv VALUES (1, 'one')", &len);

	/* No such table: SQLite would skip it without a word. */
	build_logical(&b, false, cs, len);
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "\"kv\""));
	assert_non_null(strstr(err, "does not exist"));

	/* Fewer columns than the changeset. */
	exec_ok(dst, "CREATE TABLE kv(k INTEGER PRIMARY KEY)");
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "columns"));

	/* Another primary key. */
	exec_ok(dst, "DROP TABLE kv; CREATE TABLE kv(k INTEGER, v TEXT PRIMARY KEY)");
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "primary key"));

	/* A DDL statement that fails. */
	build_logical(&b, true, cs, len);
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "already exists"));

	/* No logical section. */
	buf_reset(&b);
	txnrec_put_header(&b, TXNREC_PHYSICAL, NULL);
	txnrec_put_physical(&b, PS, 1, 0);
	assert_int_equal(apply(dst, &b, err, sizeof(err)), SL_EINVAL);

	sqlite3_free(cs);
	buf_free(&b);
	sqlite3_close(src);
	sqlite3_close(dst);
}

/* ------------------------------------------------------------- deltas */

/* A record of one page as a delta of after against before. */
static bool build_delta(struct buf *b, uint32_t pgno, const uint8_t *before, const uint8_t *after)
{
	buf_reset(b);
	txnrec_put_header(b, TXNREC_PHYSICAL, NULL);
	txnrec_put_physical(b, PS, 4, 1);
	return txnrec_put_page_delta(b, pgno, before, pagedelta_crc(pgno, before, PS), after, pagedelta_crc(pgno, after, PS), PS);
}

static void test_delta(void **state)
{
	(void)state;
	uint8_t before[PS], after[PS], page[PS];
	page_fill(before, PS, 2, 1);
	memcpy(after, before, PS);
	after[10] ^= 0xFF; /* two ranges: 10..13 and 300 */
	after[13] ^= 0x01;
	after[300] = 0;
	struct buf b;
	buf_init(&b);
	assert_true(build_delta(&b, 2, before, after));
	assert_true(b.len < 64);
	struct txnrec t;
	uint8_t *copy;
	assert_int_equal(decode_copy(b.data, b.len, &t, &copy), 0);
	struct txnrec_page_iter it;
	struct txnrec_page pg;
	txnrec_pages(&t, &it);
	assert_int_equal(txnrec_next_page(&it, &pg), 1);
	assert_int_equal(pg.pgno, 2);
	assert_int_equal(pg.kind, TXNREC_DELTA);
	memcpy(page, before, PS);
	assert_int_equal(txnrec_page_apply(&pg, page, PS), 0);
	assert_memory_equal(page, after, PS);
	/* on anything but its base it is refused, the page left as it was */
	page_fill(page, PS, 2, 9);
	uint8_t other[PS];
	memcpy(other, page, PS);
	assert_int_equal(txnrec_page_apply(&pg, page, PS), SL_ECORRUPT);
	assert_memory_equal(page, other, PS);
	/* a byte of the delta changed in the log: the result does not check out */
	copy[b.len - 1] ^= 0x55;
	assert_int_equal(txnrec_decode(copy, b.len, &t), 0);
	txnrec_pages(&t, &it);
	assert_int_equal(txnrec_next_page(&it, &pg), 1);
	memcpy(page, before, PS);
	assert_int_equal(txnrec_page_apply(&pg, page, PS), SL_ECORRUPT);
	free(copy);
	/* every truncation is refused */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(decode_status(b.data, n), SL_ECORRUPT);
	/* page 1 whose only change is its file change counter: the delta
	 * carries it, and fits a copy whose counter is another */
	page_fill(before, PS, 1, 1);
	memcpy(after, before, PS);
	after[27] = 0x42;
	after[95] = 0x42;
	assert_true(build_delta(&b, 1, before, after));
	assert_int_equal(decode_copy(b.data, b.len, &t, &copy), 0);
	txnrec_pages(&t, &it);
	assert_int_equal(txnrec_next_page(&it, &pg), 1);
	memcpy(page, before, PS);
	page[27] = 0x07; /* the follower's own counter */
	assert_int_equal(txnrec_page_apply(&pg, page, PS), 0);
	assert_memory_equal(page, after, PS);
	free(copy);
	/* a page that changed all over is put whole: nothing written */
	page_fill(after, PS, 2, 7);
	buf_reset(&b);
	assert_false(txnrec_put_page_delta(&b, 2, before, 0, after, 0, PS));
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* Ranges that overlap, touch, are empty or leave the page are refused. */
static void test_delta_ranges(void **state)
{
	(void)state;
	static const uint16_t bad[][4] = {
		{ 10, 4, 12, 1 },   /* overlap */
		{ 10, 4, 14, 1 },   /* touching: one range */
		{ 10, 0, 20, 1 },   /* empty */
		{ 500, 13, 0, 0 },  /* past the end of a 512-byte page */
		{ 20, 1, 10, 1 },   /* descending */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b;
		buf_init(&b);
		txnrec_put_header(&b, TXNREC_PHYSICAL, NULL);
		txnrec_put_physical(&b, PS, 4, 1);
		buf_put_u32(&b, 2);
		buf_put_u8(&b, TXNREC_DELTA);
		buf_put_u32(&b, 0);
		buf_put_u32(&b, 0);
		int n = bad[i][3] ? 2 : 1;
		buf_put_u16(&b, (uint16_t)n);
		for (int k = 0; k < n; k++) {
			buf_put_u16(&b, bad[i][2 * k]);
			buf_put_u16(&b, bad[i][2 * k + 1]);
			for (int j = 0; j < bad[i][2 * k + 1]; j++)
				buf_put_u8(&b, 0xAB);
		}
		assert_int_equal(decode_status(b.data, b.len), SL_ECORRUPT);
		buf_free(&b);
	}
}

/* Applying deltas to a file: strictly, and again after a crash (ahead). */
static void test_replay_deltas(void **state)
{
	(void)state;
	char path[300];
	tmp_path(path, sizeof(path), "delta.db");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	struct buf b1, b2, b3;
	buf_init(&b1);
	buf_init(&b2);
	buf_init(&b3);
	struct txnrec t1, t2, t3;
	static const uint32_t all[] = { 1, 2, 3, 4 };
	build_pages(&b3, PS, 4, 4, all, 1);
	decode_buf(&b3, &t3);
	assert_int_equal(replay_physical(fd, &t3, NULL), 0);
	/* page 2: v1 (as written) → v2 → v3, each a delta of the one before */
	uint8_t v1[PS], v2[PS], v3[PS], got[PS];
	page_fill(v1, PS, 2, 1);
	memcpy(v2, v1, PS);
	v2[100] = 1;
	memcpy(v3, v2, PS);
	v3[200] = 2;
	assert_true(build_delta(&b1, 2, v1, v2));
	assert_true(build_delta(&b2, 2, v2, v3));
	decode_buf(&b1, &t1);
	decode_buf(&b2, &t2);
	assert_int_equal(replay_physical(fd, &t1, NULL), 0);
	assert_int_equal(replay_physical(fd, &t2, NULL), 0);
	assert_int_equal(pread(fd, got, PS, PS), PS);
	assert_memory_equal(got, v3, PS);
	/* the last one again: already there, nothing to do */
	assert_int_equal(replay_physical(fd, &t2, NULL), 0);
	/* the first again, strictly: the page is not its base */
	assert_int_equal(replay_physical(fd, &t1, NULL), SL_ECORRUPT);
	/* after a crash both are applied again: the first is set aside, the
	 * second finds its result there, and the check agrees */
	struct replay_ahead ahead = { 0 };
	char err[200] = "";
	assert_int_equal(replay_physical(fd, &t1, &ahead), 0);
	assert_int_equal(ahead.n, 1);
	assert_int_equal(replay_physical(fd, &t2, &ahead), 0);
	assert_int_equal(replay_ahead_check(fd, PS, &ahead, err, sizeof(err)), 0);
	/* the page was lost meanwhile (another image): set aside, never
	 * caught up, and the check says which page */
	page_fill(got, PS, 2, 5);
	assert_int_equal(pwrite(fd, got, PS, PS), PS);
	assert_int_equal(replay_physical(fd, &t1, &ahead), 0);
	assert_int_equal(replay_physical(fd, &t2, &ahead), 0);
	assert_int_equal(replay_ahead_check(fd, PS, &ahead, err, sizeof(err)), SL_ECORRUPT);
	assert_non_null(strstr(err, "page 2"));
	assert_int_equal(ahead.n, 0);
	/* page 1 with a new change counter only: the file gets it (its CRC
	 * leaves the counter out, so base and result CRCs are the same) */
	uint8_t p1[PS], p1new[PS];
	page_fill(p1, PS, 1, 1);
	memcpy(p1new, p1, PS);
	p1new[27] = 0x99;
	p1new[95] = 0x99;
	assert_true(build_delta(&b1, 1, p1, p1new));
	decode_buf(&b1, &t1);
	assert_int_equal(replay_physical(fd, &t1, NULL), 0);
	assert_int_equal(pread(fd, got, PS, 0), PS);
	assert_memory_equal(got, p1new, PS);
	assert_true(build_delta(&b1, 2, v1, v2)); /* t1 as it was */
	decode_buf(&b1, &t1);
	/* a whole image clears a page set aside */
	assert_int_equal(replay_physical(fd, &t1, &ahead), 0);
	assert_int_equal(replay_physical(fd, &t3, &ahead), 0);
	assert_int_equal(ahead.n, 0);
	replay_ahead_free(&ahead);
	close(fd);
	buf_free(&b1);
	buf_free(&b2);
	buf_free(&b3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_one_section),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_bad_sections),
		cmocka_unit_test(test_page_sizes),
		cmocka_unit_test(test_page_numbers),
		cmocka_unit_test(test_huge_counts),
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_epochrec),
		cmocka_unit_test(test_replay_physical),
		cmocka_unit_test(test_replay_physical_sqlite),
		cmocka_unit_test(test_replay_logical),
		cmocka_unit_test(test_replay_logical_schema),
		cmocka_unit_test(test_delta),
		cmocka_unit_test(test_delta_ranges),
		cmocka_unit_test(test_replay_deltas),
	};
	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
