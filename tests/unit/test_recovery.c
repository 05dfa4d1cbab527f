/*
 * test_recovery.c — unit tests for wal/recovery.c, driven in-process
 * through the real commit path: commitlog_open (recovery, a new epoch,
 * the capture VFS), SQLite connections on the "sluice" VFS with
 * synchronous=FULL, and logical capture (logical.c) on the writer.
 *
 * Covered: every physical commit (inserts, updates, deletes, a 2 MB
 * transaction that spills the page cache, also one that changes a spilled
 * page again, one page rewritten 200 times, VACUUM) is one decodable TXN
 * record; the database is rebuilt from the log alone, physically and
 * logically (DDL, savepoints, ALTER TABLE ADD COLUMN with and without a
 * DEFAULT); a WAL that lost its last commits is completed from the log; a
 * WAL commit the log lacks is refused, except the replay transaction of an
 * interrupted logical recovery named by the db-position.redo marker; the
 * WAL scan of recovery_wal_last_commit; writes to a table without a
 * PRIMARY KEY or with generated columns are refused in logical mode, and a
 * transaction the session could not record is refused at commit. Each test has its own temporary
 * directory, removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "capture.h"
#include "commitlog.h"
#include "log.h"
#include "logical.h"
#include "record.h"
#include "recovery.h"
#include "replog.h"
#include "sl_error.h"
#include "txnrec.h"

#define MAX_TXNS 64
#define MAX_DDL 16 /* DDL items kept by read_log */

struct fixture {
	char root[PATH_MAX];
	char path[PATH_MAX + 16], wal[PATH_MAX + 32], shm[PATH_MAX + 32];
	char logdir[PATH_MAX + 16], base[PATH_MAX + 32], marker[PATH_MAX + 40];
	char err[512];
	struct replog_options opt;
	/* what a test has open; teardown closes what a failed test left */
	struct commitlog *cl;
	sqlite3 *db;
	struct logical *lg;
};

/* What the log holds, read back after the commit log is closed. */
struct log_summary {
	unsigned ntxn;
	unsigned sections[MAX_TXNS];
	struct txnrec_walpos walpos[MAX_TXNS];
	uint32_t db_pages[MAX_TXNS];
	char kinds[MAX_TXNS][32]; /* item kinds in order: D(DL), T(able), C(hangeset) */
	char ddl[MAX_DDL][200];
	unsigned nddl;
	bool gone_seen; /* a TABLE item for table "gone" */
	uint64_t end;
};

/* ---------------------------------------------------------------- helpers */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->root, sizeof(f->root), "%s/sluice-recovery-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->path, sizeof(f->path), "%s/sluice.db", f->root);
	snprintf(f->wal, sizeof(f->wal), "%s-wal", f->path);
	snprintf(f->shm, sizeof(f->shm), "%s-shm", f->path);
	snprintf(f->logdir, sizeof(f->logdir), "%s/log", f->root);
	snprintf(f->base, sizeof(f->base), "%s/db-position", f->logdir);
	snprintf(f->marker, sizeof(f->marker), "%s.redo", f->base);
	f->opt.segment_size = 4u << 20;
	f->opt.keep_size = 1u << 30; /* keep the whole log: tests replay it from 0/0 */
	*state = f;
	return 0;
}

static void close_all(struct fixture *f)
{
	logical_close(f->lg);
	f->lg = NULL;
	if (f->db)
		assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
	f->db = NULL;
	commitlog_close(f->cl);
	f->cl = NULL;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	logical_close(f->lg);
	sqlite3_close_v2(f->db); /* a failed test may have left statements */
	commitlog_close(f->cl);
	nftw(f->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL, text[256];
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(text, sizeof(text), "%s", msg ? msg : "?");
		sqlite3_free(msg);
		fail_msg("%s: %s", sql, text);
	}
}

/* vfs "sluice" for the capture VFS, NULL for SQLite's default. */
static sqlite3 *db_open(struct fixture *f, const char *vfs)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK)
		fail_msg("open %s: %s", f->path, db ? sqlite3_errmsg(db) : "?");
	exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0");
	return db;
}

/* The log, then the database on the capture VFS (and logical capture). */
static void open_all(struct fixture *f, enum log_mode mode, bool logical)
{
	struct commitlog_options o = { .data_dir = f->root, .db_path = f->path, .node_name = "n1", .mode = mode, .log = f->opt };
	f->err[0] = '\0';
	int rc = commitlog_open(&f->cl, &o, f->err, sizeof(f->err));
	if (rc != 0)
		fail_msg("commitlog_open: %s (%s)", f->err, sl_strerror(rc));
	f->db = db_open(f, CAPTURE_VFS_NAME);
	if (logical && logical_open(&f->lg, f->db, f->err, sizeof(f->err)) != 0)
		fail_msg("logical_open: %s", f->err);
	if (logical)
		sqlite3_set_authorizer(f->db, logical_authorize, f->lg);
}

static void query_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static long long query_int(sqlite3 *db, const char *sql)
{
	char text[64];
	query_text(db, sql, text, sizeof(text));
	return atoll(text);
}

static void assert_integrity(sqlite3 *db)
{
	char text[256];
	query_text(db, "PRAGMA integrity_check", text, sizeof(text));
	assert_string_equal(text, "ok");
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
	return h;
}

/* A hash of the schema and of every row of every table, in rowid order. */
static uint64_t digest(sqlite3 *db)
{
	uint64_t h = 1469598103934665603ull;
	sqlite3_stmt *tabs, *rows;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE "
					    "'sqlite\\_%' ESCAPE '\\' ORDER BY name",
					    -1, &tabs, NULL),
			 SQLITE_OK);
	while (sqlite3_step(tabs) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(tabs, 0);
		const char *name = (const char *)sqlite3_column_text(tabs, 1);
		const char *sql = (const char *)sqlite3_column_text(tabs, 2);
		h = fnv(h, name, strlen(name) + 1);
		h = fnv(h, sql ? sql : "", sql ? strlen(sql) + 1 : 1);
		if (strcmp(type, "table") != 0)
			continue;
		char *q = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY rowid", name);
		assert_int_equal(sqlite3_prepare_v2(db, q, -1, &rows, NULL), SQLITE_OK);
		sqlite3_free(q);
		while (sqlite3_step(rows) == SQLITE_ROW) {
			for (int i = 0; i < sqlite3_column_count(rows); i++) {
				uint8_t type_byte = (uint8_t)sqlite3_column_type(rows, i);
				h = fnv(h, &type_byte, 1);
				const void *p = sqlite3_column_blob(rows, i);
				h = fnv(h, p, (size_t)sqlite3_column_bytes(rows, i));
			}
		}
		sqlite3_finalize(rows);
	}
	sqlite3_finalize(tabs);
	return h;
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("open %s", path);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return p;
}

static void write_all(const char *path, const uint8_t *p, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *p = read_all(from, &len);
	write_all(to, p, len);
	free(p);
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Offsets of the commit frames in the WAL at path (a WAL never restarted). */
static unsigned wal_commits(const char *path, size_t *offs, unsigned max, size_t *frame_size)
{
	size_t len;
	uint8_t *w = read_all(path, &len);
	assert_true(len >= 32);
	*frame_size = 24 + (size_t)be32(w + 8);
	unsigned n = 0;
	for (size_t off = 32; off + *frame_size <= len; off += *frame_size)
		if (be32(w + off + 4) != 0) {
			assert_true(n < max);
			offs[n++] = off;
		}
	free(w);
	return n;
}

static uint64_t base_read(const char *path)
{
	uint64_t lsn = UINT64_MAX;
	assert_int_equal(recovery_base_read(path, &lsn), 0);
	return lsn;
}

/* Deletes the database and says it holds nothing of the log. */
static void lose_database(struct fixture *f)
{
	assert_int_equal(unlink(f->path), 0);
	unlink(f->wal);
	unlink(f->shm);
	assert_int_equal(recovery_base_write(f->base, 0), 0);
}

static void summarize_items(struct log_summary *s, const struct txnrec *t)
{
	struct txnrec_iter it;
	uint8_t kind;
	const uint8_t *data;
	uint32_t len;
	size_t k = 0;
	txnrec_items(t, &it);
	while (txnrec_next_item(&it, &kind, &data, &len) == 1) {
		assert_true(k + 1 < sizeof(s->kinds[0]));
		s->kinds[s->ntxn][k++] = kind == TXNREC_DDL ? 'D' : kind == TXNREC_TABLE ? 'T' : 'C';
		if (kind == TXNREC_DDL) {
			assert_true(s->nddl < MAX_DDL);
			snprintf(s->ddl[s->nddl++], sizeof(s->ddl[0]), "%.*s", (int)len, (const char *)data);
		} else if (kind == TXNREC_TABLE) {
			static struct txnrec_table tab;
			assert_int_equal(txnrec_table_decode(data, len, &tab), 0);
			if (strcmp(tab.name, "gone") == 0)
				s->gone_seen = true;
		}
	}
}

/* Reads every TXN record of the (closed) log and checks each decodes. */
static void read_log(struct fixture *f, struct log_summary *s)
{
	memset(s, 0, sizeof(*s));
	struct replog *l = NULL;
	struct replog_reader *r = NULL;
	struct buf payload = { 0 };
	if (replog_open(&l, f->logdir, 0, &f->opt, f->err, sizeof(f->err)) != 0)
		fail_msg("replog_open: %s", f->err);
	assert_int_equal(replog_reader_open(l, replog_start_lsn(l), &r), 0);
	struct record rec;
	int rc;
	while ((rc = replog_reader_next(r, &rec, 0)) == 0) {
		if (rec.type != RECORD_TXN)
			continue;
		struct txnrec t;
		assert_true(s->ntxn < MAX_TXNS);
		assert_int_equal(record_payload(&rec, &payload), 0);
		assert_int_equal(txnrec_decode(payload.data, payload.len, &t), 0);
		s->sections[s->ntxn] = t.sections;
		s->walpos[s->ntxn] = t.walpos;
		s->db_pages[s->ntxn] = t.db_pages;
		if (t.sections & TXNREC_PHYSICAL) {
			assert_true(t.db_pages > 0 && t.npages > 0);
			uint32_t prev = 0;
			struct txnrec_page_iter it;
			struct txnrec_page pg;
			txnrec_pages(&t, &it);
			for (uint32_t i = 0; i < t.npages; i++) {
				assert_int_equal(txnrec_next_page(&it, &pg), 1);
				assert_true(pg.pgno > prev); /* ascending, each page once */
				assert_true(pg.pgno <= t.db_pages);
				prev = pg.pgno;
			}
		}
		if (t.sections & TXNREC_LOGICAL)
			summarize_items(s, &t);
		s->ntxn++;
	}
	assert_int_equal(rc, SL_ETIMEDOUT);
	s->end = replog_end_lsn(l);
	buf_free(&payload);
	replog_reader_close(r);
	replog_close(l);
}

static bool walpos_equal(const struct txnrec_walpos *a, const struct txnrec_walpos *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* One commit through the default VFS, behind the log's back; the WAL stays. */
static void foreign_commit(struct fixture *f, const char *sql)
{
	sqlite3 *db = db_open(f, NULL);
	int one = 1;
	assert_int_equal(sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one), SQLITE_OK);
	exec_ok(db, sql);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	struct txnrec_walpos pos;
	assert_int_equal(recovery_wal_last_commit(f->wal, &pos), 1);
}

static void expect_open_fails(struct fixture *f, enum log_mode mode)
{
	struct commitlog_options o = { .data_dir = f->root, .db_path = f->path, .node_name = "n1", .mode = mode, .log = f->opt };
	struct commitlog *cl = NULL;
	f->err[0] = '\0';
	assert_int_not_equal(commitlog_open(&cl, &o, f->err, sizeof(f->err)), 0);
	if (!strstr(f->err, "the database WAL holds a transaction that is not in the replication log"))
		fail_msg("unexpected error: %s", f->err);
}

/* ------------------------------------------------------- physical workload */

#define SERIES(n) "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < " #n ") "

/* Inserts, updates, deletes, a 2 MB transaction that spills the page
 * cache, one page written 200 times, VACUUM. Returns the commits made. */
static unsigned write_physical(sqlite3 *db)
{
	unsigned n = 0;
	char sql[128];
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB)"), n++;
	exec_ok(db, "CREATE INDEX t_v ON t(v)"), n++;
	exec_ok(db, "BEGIN IMMEDIATE; " SERIES(300) "INSERT INTO t(v, b) SELECT 'row' || i, zeroblob(i % 50) FROM c; "
		    "COMMIT"),
		n++;
	exec_ok(db, "UPDATE t SET v = v || '-u' WHERE id % 3 = 0"), n++;
	exec_ok(db, "DELETE FROM t WHERE id % 7 = 0"), n++;
	/* a page cache of 20 pages: SQLite writes frames before the commit */
	exec_ok(db, "PRAGMA cache_size=20; BEGIN IMMEDIATE; " SERIES(64)
		    "INSERT INTO t(v, b) SELECT 'big' || i, randomblob(32768) FROM c; COMMIT; PRAGMA cache_size=-2000"),
		n++;
	exec_ok(db, "BEGIN IMMEDIATE");
	for (int i = 0; i < 200; i++) {
		snprintf(sql, sizeof(sql), "UPDATE t SET v = 'again%d' WHERE id = 2", i);
		exec_ok(db, sql);
	}
	exec_ok(db, "COMMIT"), n++;
	exec_ok(db, "DELETE FROM t WHERE v LIKE 'big%' AND id % 2 = 0"), n++;
	for (int i = 0; i < 4; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t(v, b) VALUES ('tail%d', randomblob(100))", i);
		exec_ok(db, sql), n++;
	}
	exec_ok(db, "VACUUM"), n++; /* the database shrinks */
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof(sql), "UPDATE t SET v = 'last%d' WHERE id = 3", i);
		exec_ok(db, sql), n++;
	}
	return n;
}

/* -------------------------------------------------------- logical workload */

/* Runs the statements of sql the way the server's writer does. */
static int lrun(struct fixture *f, const char *sql)
{
	const char *tail = sql;
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		logical_prepare_start(f->lg, tail);
		int rc = sqlite3_prepare_v2(f->db, tail, -1, &st, &tail);
		if (rc != SQLITE_OK)
			return rc;
		if (!st)
			continue;
		bool ddl = logical_prepare_was_ddl(f->lg);
		if (ddl)
			assert_int_equal(logical_before_ddl(f->lg), 0);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (ddl && rc == SQLITE_DONE)
			assert_int_equal(logical_after_ddl(f->lg, sqlite3_sql(st)), 0);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_OK;
}

static void lexec(struct fixture *f, const char *sql)
{
	if (lrun(f, sql) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(f->db));
}

static void lcommit(struct fixture *f)
{
	assert_int_equal(commitlog_stage_logical(f->cl, f->lg), 0);
	exec_ok(f->db, "COMMIT");
}

/* DDL inside transactions, a savepoint rolled back over a CREATE TABLE,
 * ALTER TABLE. Returns the number of commits made. */
static unsigned write_logical(struct fixture *f)
{
	lexec(f, "BEGIN IMMEDIATE");
	lexec(f, "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
	lexec(f, "INSERT INTO a VALUES (1, 'one'), (2, 'two'), (3, 'three')");
	lcommit(f);
	lexec(f, "BEGIN IMMEDIATE");
	lexec(f, "INSERT INTO a VALUES (4, 'four')");
	lexec(f, "SAVEPOINT x");
	assert_int_equal(logical_savepoint(f->lg, "x"), 0);
	lexec(f, "CREATE TABLE gone(id INTEGER PRIMARY KEY)");
	lexec(f, "INSERT INTO gone VALUES (1)");
	lexec(f, "UPDATE a SET v = 'changed' WHERE id = 1");
	lexec(f, "ROLLBACK TO x");
	assert_int_equal(logical_rollback_to(f->lg, "x"), 0);
	lexec(f, "RELEASE x");
	logical_release(f->lg, "x");
	lexec(f, "INSERT INTO a VALUES (5, 'five')");
	lcommit(f);
	lexec(f, "BEGIN IMMEDIATE");
	lexec(f, "ALTER TABLE a ADD COLUMN w INTEGER");
	lexec(f, "UPDATE a SET w = id * 10 WHERE id <= 2");
	lcommit(f);
	lexec(f, "BEGIN IMMEDIATE");
	lexec(f, "UPDATE a SET v = 'uno' WHERE id = 1");
	lexec(f, "DELETE FROM a WHERE id = 3");
	lexec(f, "CREATE TABLE b(k TEXT PRIMARY KEY, n INTEGER)");
	lexec(f, "INSERT INTO b VALUES ('k1', 1), ('k2', 2)");
	lcommit(f);
	lexec(f, "BEGIN IMMEDIATE");
	lexec(f, "CREATE TABLE nopk(x)");
	lcommit(f);
	return 5;
}

/* ------------------------------------------------------------------ tests */

/* Every commit is one TXN record with sane, ascending pages. */
static void test_physical_records(void **state)
{
	struct fixture *f = *state;
	open_all(f, LOG_MODE_PHYSICAL, false);
	unsigned n = write_physical(f->db);
	long long pages = query_int(f->db, "PRAGMA page_count");
	assert_false(commitlog_failed(f->cl));
	close_all(f);

	struct log_summary s;
	read_log(f, &s);
	assert_int_equal(s.ntxn, n);
	struct txnrec_walpos zero = { 0 };
	for (unsigned i = 0; i < s.ntxn; i++) {
		assert_int_equal(s.sections[i], TXNREC_PHYSICAL);
		assert_false(walpos_equal(&s.walpos[i], &zero));
	}
	assert_int_equal(s.db_pages[s.ntxn - 1], pages);
	/* the last connection's close emptied the WAL: the file holds everything */
	assert_int_equal(base_read(f->base), s.end);
	assert_false(exists(f->wal));
}

/* Rebuilds the database from the log alone; checks content and integrity. */
static void redo_and_compare(struct fixture *f, enum log_mode mode, uint64_t want)
{
	lose_database(f);
	open_all(f, mode, false);
	assert_false(exists(f->marker));
	/* the database holds every record before the EPOCH record with which
	 * this start, like every leadership start, opened a new epoch */
	const struct epochs *h = commitlog_history(f->cl);
	assert_true(h->n >= 2);
	assert_int_equal(commitlog_epoch(f->cl), h->v[h->n - 1].epoch);
	assert_int_equal(base_read(f->base), h->v[h->n - 1].start_lsn);
	assert_integrity(f->db);
	assert_true(digest(f->db) == want);
}

/* The database is rebuilt from page images alone. */
static void test_physical_redo(void **state)
{
	struct fixture *f = *state;
	open_all(f, LOG_MODE_PHYSICAL, false);
	unsigned n = write_physical(f->db);
	uint64_t want = digest(f->db);
	close_all(f);

	redo_and_compare(f, LOG_MODE_PHYSICAL, want);
	exec_ok(f->db, "INSERT INTO t(v) VALUES ('after recovery')"); /* and it goes on */
	close_all(f);
	struct log_summary s;
	read_log(f, &s);
	assert_int_equal(s.ntxn, n + 1);
}

/*
 * A page written to the WAL before the commit (the page cache spilled) and
 * changed again in the same transaction: SQLite then writes the page again
 * in place and, at the commit, re-reads the transaction's frames, the
 * commit frame included, to recompute their checksums.
 */
static void test_physical_spill_rewrite(void **state)
{
	struct fixture *f = *state;
	open_all(f, LOG_MODE_PHYSICAL, false);
	exec_ok(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB); INSERT INTO t(v) VALUES ('first')");
	int rc = sqlite3_exec(f->db,
			      "PRAGMA cache_size=20; BEGIN IMMEDIATE; UPDATE t SET v = 'before' WHERE id = 1; " SERIES(64)
			      "INSERT INTO t(v, b) SELECT 'big' || i, randomblob(32768) FROM c; "
			      "UPDATE t SET v = 'after' WHERE id = 1; COMMIT",
			      NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fail_msg("a transaction that rewrote a spilled page could not commit: %s (extended code %d)",
			 sqlite3_errmsg(f->db), sqlite3_extended_errcode(f->db));
	uint64_t want = digest(f->db);
	struct txnrec_walpos pos;
	assert_int_equal(recovery_wal_last_commit(f->wal, &pos), 1);
	close_all(f);
	struct log_summary s;
	read_log(f, &s);
	assert_int_equal(s.ntxn, 3);
	assert_true(walpos_equal(&pos, &s.walpos[2])); /* the WAL's commit frame is the one logged */
	redo_and_compare(f, LOG_MODE_PHYSICAL, want);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM t WHERE v = 'after'"), 1);
}

/* A WAL cut inside the frames of its last commits: the log has the rest. */
static void test_physical_wal_tail_lost(void **state)
{
	struct fixture *f = *state;
	char saved_db[PATH_MAX + 32], saved_wal[PATH_MAX + 32], saved_base[PATH_MAX + 32];
	snprintf(saved_db, sizeof(saved_db), "%s/saved.db", f->root);
	snprintf(saved_wal, sizeof(saved_wal), "%s/saved.db-wal", f->root);
	snprintf(saved_base, sizeof(saved_base), "%s/saved.pos", f->root);

	open_all(f, LOG_MODE_PHYSICAL, false);
	unsigned n = write_physical(f->db);
	uint64_t want = digest(f->db);
	/* the files as a crash would leave them: no checkpoint yet */
	copy_file(f->path, saved_db);
	copy_file(f->wal, saved_wal);
	copy_file(f->base, saved_base);
	close_all(f);

	size_t offs[MAX_TXNS], frame_size;
	unsigned ncommit = wal_commits(saved_wal, offs, MAX_TXNS, &frame_size);
	assert_int_equal(ncommit, n);
	/* keep 4 commits fewer, cut midway into the frames of the next */
	unsigned keep = n - 4;
	size_t len;
	uint8_t *w = read_all(saved_wal, &len);
	size_t cut = (offs[keep - 1] + frame_size + offs[keep]) / 2 + 10;
	assert_true(cut < len);
	write_all(f->wal, w, cut);
	free(w);
	copy_file(saved_db, f->path);
	copy_file(saved_base, f->base);
	unlink(f->shm);

	struct log_summary s;
	read_log(f, &s);
	struct txnrec_walpos pos;
	assert_int_equal(recovery_wal_last_commit(f->wal, &pos), 1);
	assert_true(walpos_equal(&pos, &s.walpos[keep - 1]));

	open_all(f, LOG_MODE_PHYSICAL, false);
	assert_int_equal(base_read(f->base), s.end);
	assert_integrity(f->db);
	assert_true(digest(f->db) == want);
}

/* A commit made behind the log's back is refused, not guessed around. */
static void test_foreign_wal_commit(void **state)
{
	struct fixture *f = *state;
	open_all(f, LOG_MODE_PHYSICAL, false);
	exec_ok(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x')");
	close_all(f);

	foreign_commit(f, "INSERT INTO t VALUES (2, 'not logged')");
	expect_open_fails(f, LOG_MODE_PHYSICAL);
	expect_open_fails(f, LOG_MODE_PHYSICAL); /* and trying changed nothing */
}

/* recovery_wal_last_commit finds the last commit frame SQLite would trust. */
static void test_wal_last_commit(void **state)
{
	struct fixture *f = *state;
	char copy[PATH_MAX + 32];
	snprintf(copy, sizeof(copy), "%s/copy-wal", f->root);
	struct txnrec_walpos pos;
	assert_int_equal(recovery_wal_last_commit(copy, &pos), 0); /* no file */
	write_all(copy, (const uint8_t *)"", 0);
	assert_int_equal(recovery_wal_last_commit(copy, &pos), 0); /* empty */

	open_all(f, LOG_MODE_PHYSICAL, false);
	exec_ok(f->db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
	for (int i = 0; i < 5; i++)
		exec_ok(f->db, "INSERT INTO t(v) VALUES (hex(randomblob(500)))");
	copy_file(f->wal, copy);
	close_all(f);

	struct log_summary s;
	read_log(f, &s);
	assert_int_equal(s.ntxn, 6);
	for (unsigned i = 1; i < s.ntxn; i++)
		assert_false(walpos_equal(&s.walpos[i], &s.walpos[i - 1]));
	memset(&pos, 0, sizeof(pos));
	assert_int_equal(recovery_wal_last_commit(copy, &pos), 1);
	assert_true(walpos_equal(&pos, &s.walpos[5]));

	size_t offs[MAX_TXNS], frame_size, len;
	assert_int_equal(wal_commits(copy, offs, MAX_TXNS, &frame_size), 6);
	uint8_t *w = read_all(copy, &len);
	w[offs[5] + 24 + 100] ^= 0x01; /* a byte of the last commit frame's page */
	write_all(copy, w, len);
	assert_int_equal(recovery_wal_last_commit(copy, &pos), 1);
	assert_true(walpos_equal(&pos, &s.walpos[4]));
	w[offs[5] + 24 + 100] ^= 0x01;
	write_all(copy, w, offs[5] + frame_size - 1); /* the last frame torn */
	assert_int_equal(recovery_wal_last_commit(copy, &pos), 1);
	assert_true(walpos_equal(&pos, &s.walpos[4]));
	w[offs[0] + 24 + 4] ^= 0x80; /* a byte of the first commit frame's page */
	write_all(copy, w, len);
	assert_int_equal(recovery_wal_last_commit(copy, &pos), 0);
	write_all(copy, w, 32); /* a header only */
	assert_int_equal(recovery_wal_last_commit(copy, &pos), 0);
	free(w);
}

/* Logical records: DDL in order, savepoints honoured; redo rebuilds all. */
static void test_logical_redo(void **state)
{
	struct fixture *f = *state;
	open_all(f, LOG_MODE_LOGICAL, true);
	unsigned n = write_logical(f);

	/* no PRIMARY KEY: refused at prepare, and logical_denied says why */
	sqlite3_stmt *st = NULL;
	logical_prepare_start(f->lg, "INSERT INTO nopk VALUES (1)");
	assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO nopk VALUES (1)", -1, &st, NULL), SQLITE_AUTH);
	assert_null(st);
	const char *why = logical_denied(f->lg);
	assert_non_null(why);
	assert_non_null(strstr(why, "nopk"));
	assert_non_null(strstr(why, "PRIMARY KEY"));
	assert_int_equal(lrun(f, "DELETE FROM nopk"), SQLITE_AUTH);
	logical_prepare_start(f->lg, "SELECT 1");
	assert_null(logical_denied(f->lg));
	uint64_t want = digest(f->db);
	close_all(f);

	struct log_summary s;
	read_log(f, &s);
	assert_int_equal(s.ntxn, n);
	for (unsigned i = 0; i < s.ntxn; i++)
		assert_int_equal(s.sections[i], TXNREC_LOGICAL);
	assert_string_equal(s.kinds[0], "DTC");
	assert_string_equal(s.kinds[1], "TCTC"); /* the rolled-back part left nothing */
	assert_string_equal(s.kinds[2], "DTC");
	assert_string_equal(s.kinds[3], "TCDTC");
	assert_string_equal(s.kinds[4], "D");
	assert_false(s.gone_seen);
	static const char *const ddl[] = { "CREATE TABLE a(", "ALTER TABLE a ADD COLUMN w", "CREATE TABLE b(",
					   "CREATE TABLE nopk(" };
	assert_int_equal(s.nddl, 4);
	for (unsigned i = 0; i < 4; i++)
		if (strncmp(s.ddl[i], ddl[i], strlen(ddl[i])) != 0)
			fail_msg("DDL item %u is \"%s\", want \"%s...\"", i, s.ddl[i], ddl[i]);

	redo_and_compare(f, LOG_MODE_LOGICAL, want);
	assert_int_equal(query_int(f->db, "SELECT w FROM a WHERE id = 2"), 20);
}

/* An UPDATE of a row older than ALTER TABLE ADD COLUMN ... DEFAULT. */
static void test_logical_add_column_default(void **state)
{
	struct fixture *f = *state;
	open_all(f, LOG_MODE_LOGICAL, true);
	lexec(f, "BEGIN IMMEDIATE");
	lexec(f, "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT)");
	lexec(f, "INSERT INTO a VALUES (1, 'one'), (2, 'two')");
	lcommit(f);
	/* SQLite 3.40's sessions record the old value of a column added with a
	 * DEFAULT as NULL in older rows: logical mode refuses such an ALTER */
	lexec(f, "BEGIN IMMEDIATE");
	assert_int_equal(lrun(f, "ALTER TABLE a ADD COLUMN w INTEGER DEFAULT 7"), SQLITE_AUTH);
	assert_non_null(strstr(logical_denied(f->lg), "DEFAULT"));
	assert_int_equal(lrun(f, "ALTER TABLE a ADD COLUMN 'default' INTEGER DEFAULT NULL"), SQLITE_OK);
	lexec(f, "ALTER TABLE a ADD COLUMN w INTEGER");
	lexec(f, "UPDATE a SET w = 7");
	lexec(f, "UPDATE a SET w = 10 WHERE id = 1");
	lcommit(f);
	lexec(f, "BEGIN IMMEDIATE");
	lexec(f, "DELETE FROM a WHERE id = 2");
	lcommit(f);
	uint64_t want = digest(f->db);
	close_all(f);
	redo_and_compare(f, LOG_MODE_LOGICAL, want);
	assert_int_equal(query_int(f->db, "SELECT sum(w) FROM a"), 10);
}

/* SQLite's sessions record nothing of a table with generated columns (the
 * changeset fails with SQLITE_SCHEMA): logical mode refuses writes to it,
 * and a transaction whose changes the session could not record anyway is
 * refused at commit, never logged without its rows. */
static void test_logical_generated_columns(void **state)
{
	struct fixture *f = *state;
	open_all(f, LOG_MODE_LOGICAL, true);
	lexec(f, "BEGIN IMMEDIATE");
	lexec(f, "CREATE TABLE g(id INTEGER PRIMARY KEY, twice AS (id * 2), thrice AS (id * 3) STORED)");
	lcommit(f);
	lexec(f, "BEGIN IMMEDIATE");
	assert_int_equal(lrun(f, "INSERT INTO g(id) VALUES (1)"), SQLITE_AUTH);
	assert_non_null(strstr(logical_denied(f->lg), "generated columns"));
	exec_ok(f->db, "ROLLBACK");
	logical_rollback(f->lg);

	/* past the authorizer: the commit is refused, not logged empty */
	sqlite3_set_authorizer(f->db, NULL, NULL);
	exec_ok(f->db, "BEGIN IMMEDIATE");
	exec_ok(f->db, "INSERT INTO g(id) VALUES (2)");
	assert_int_equal(commitlog_stage_logical(f->cl, f->lg), SL_EINVAL);
	assert_non_null(strstr(logical_denied(f->lg), "could not record"));
	exec_ok(f->db, "ROLLBACK");
	logical_rollback(f->lg);
	commitlog_unstage(f->cl);
	close_all(f);
}

/* The replay transaction of an interrupted logical recovery is recognised
 * by the marker, and nothing is replayed twice. */
static void test_logical_redo_interrupted(void **state)
{
	struct fixture *f = *state;
	open_all(f, LOG_MODE_LOGICAL, true);
	write_logical(f);
	uint64_t want = digest(f->db);
	close_all(f);
	redo_and_compare(f, LOG_MODE_LOGICAL, want);
	uint64_t end = replog_end_lsn(commitlog_replog(f->cl));
	close_all(f);

	/* as if the replay had committed into the WAL, then the process died */
	assert_int_equal(recovery_base_write(f->base, 0), 0);
	foreign_commit(f, "PRAGMA user_version=7");
	expect_open_fails(f, LOG_MODE_LOGICAL); /* no marker: a stranger's commit */
	assert_int_equal(recovery_base_write(f->marker, end), 0);

	open_all(f, LOG_MODE_LOGICAL, false);
	assert_false(exists(f->marker));
	assert_int_equal(base_read(f->base), end);
	/* nothing but the new epoch's EPOCH record after it */
	const struct epochs *h = commitlog_history(f->cl);
	assert_int_equal(h->v[h->n - 1].start_lsn, end);
	assert_int_equal(replog_last_epoch(commitlog_replog(f->cl)), commitlog_epoch(f->cl));
	assert_true(replog_end_lsn(commitlog_replog(f->cl)) > end);
	assert_integrity(f->db);
	assert_true(digest(f->db) == want);
	assert_int_equal(query_int(f->db, "PRAGMA user_version"), 7);
}

int main(void)
{
	log_set_level(LOG_WARNING);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_physical_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_physical_redo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_physical_spill_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_physical_wal_tail_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_wal_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_last_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_redo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_add_column_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_generated_columns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_redo_interrupted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
