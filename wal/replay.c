/*
 * replay.c — applying TXN records to a database (see replay.h).
 *
 * Physical replay writes each record's page images at their place in the
 * database file and sets the file's size: after the records from the
 * database's own position on, the file equals the leader's database at the
 * last record's commit. It bypasses SQLite, so nothing else may have the
 * file open, and no -wal or rollback journal may hold pages newer than the
 * file (they would be applied over ours by the next SQLite that opens it).
 *
 * Logical replay applies DDL with sqlite3_exec and changesets with
 * sqlite3changeset_apply. SQLite's apply skips, without an error, the
 * changes of a table it cannot find or whose columns or primary key do not
 * match, and lets a conflict handler choose to omit a change. Here nothing
 * is skipped: the tables of each changeset are checked against the schema
 * first, and every conflict aborts the apply with an error naming the
 * table and the kind of conflict. A replica that silently differs from its
 * leader is worse than one that stops.
 *
 * replay_log reads the log through replog_open, like a server would: it
 * locks the log directory and repairs a torn tail in the last segment. So
 * it runs in a process of its own on a log no server has open (while one
 * has, the lock makes it fail): stop the server first, or replay a copy of
 * its log directory.
 *
 * Everything runs on the caller's thread.
 */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "lsn.h"
#include "pagedelta.h"
#include "record.h"
#include "replog.h"
#include "sl_error.h"

#define DB_HEADER_MAGIC "SQLite format 3"
#define DB_HEADER_PAGE_SIZE_OFFSET 16

/* ---------------------------------------------------------------- physical */

/* The page size of the database in fd: 0 for an empty file, SL_EINVAL for a
 * file that is not a SQLite database, SL_EIO. */
static int file_page_size(int fd, uint32_t *page_size)
{
	struct stat st;
	uint8_t h[DB_HEADER_PAGE_SIZE_OFFSET + 2];
	*page_size = 0;
	if (fstat(fd, &st) != 0)
		return SL_EIO;
	if (st.st_size == 0)
		return 0;
	ssize_t n;
	do
		n = pread(fd, h, sizeof(h), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return SL_EIO;
	if ((size_t)n < sizeof(h) || memcmp(h, DB_HEADER_MAGIC, sizeof(DB_HEADER_MAGIC)) != 0)
		return SL_EINVAL;
	uint32_t v = get_u16(h + DB_HEADER_PAGE_SIZE_OFFSET);
	*page_size = v == 1 ? 65536 : v;
	return 0;
}

static struct replay_ahead_page *ahead_slot(struct replay_ahead *a, uint32_t pgno)
{
	size_t i = (pgno * 2654435761u) & (a->cap - 1);
	while (a->v[i].pgno != 0 && a->v[i].pgno != pgno)
		i = (i + 1) & (a->cap - 1);
	return &a->v[i];
}

static struct replay_ahead_page *ahead_find(struct replay_ahead *a, uint32_t pgno)
{
	if (a->n == 0)
		return NULL;
	struct replay_ahead_page *e = ahead_slot(a, pgno);
	return e->pgno ? e : NULL;
}

static int ahead_set(struct replay_ahead *a, uint32_t pgno, uint32_t crc)
{
	if ((a->n + 1) * 2 > a->cap) {
		struct replay_ahead old = *a;
		a->cap = old.cap ? old.cap * 2 : 64;
		a->v = calloc(a->cap, sizeof(*a->v));
		if (!a->v) {
			*a = old;
			return SL_ENOMEM;
		}
		a->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.v[i].pgno)
				*ahead_slot(a, old.v[i].pgno) = old.v[i], a->n++;
		free(old.v);
	}
	struct replay_ahead_page *e = ahead_slot(a, pgno);
	if (!e->pgno)
		a->n++;
	e->pgno = pgno;
	e->crc = crc;
	return 0;
}

/* Removes a page (open addressing: the entries after it move up). */
static void ahead_drop(struct replay_ahead *a, uint32_t pgno)
{
	struct replay_ahead_page *e = ahead_find(a, pgno);
	if (!e)
		return;
	size_t i = (size_t)(e - a->v);
	a->v[i].pgno = 0;
	a->n--;
	for (size_t j = (i + 1) & (a->cap - 1); a->v[j].pgno; j = (j + 1) & (a->cap - 1)) {
		struct replay_ahead_page moved = a->v[j];
		a->v[j].pgno = 0;
		*ahead_slot(a, moved.pgno) = moved;
	}
}

void replay_ahead_free(struct replay_ahead *a)
{
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static int read_page(int fd, uint8_t *page, uint32_t page_size, uint32_t pgno)
{
	size_t got;
	if (fileio_pread_all(fd, page, page_size, (uint64_t)(pgno - 1) * page_size, &got) != 0)
		return SL_EIO;
	memset(page + got, 0, page_size - got); /* past the end: no base */
	return 0;
}

int replay_ahead_check(int db_fd, uint32_t page_size, struct replay_ahead *a, char *err, size_t errlen)
{
	uint8_t *page = malloc(page_size ? page_size : 1);
	int rc = page ? 0 : SL_ENOMEM;
	for (size_t i = 0; rc == 0 && i < a->cap; i++) {
		if (!a->v[i].pgno)
			continue;
		if ((rc = read_page(db_fd, page, page_size, a->v[i].pgno)) == 0 &&
		    pagedelta_crc(a->v[i].pgno, page, page_size) != a->v[i].crc) {
			snprintf(err, errlen, "page %u of the database is not what the log made it", a->v[i].pgno);
			rc = SL_ECORRUPT;
		}
	}
	free(page);
	replay_ahead_free(a);
	return rc;
}

/* One delta onto the file's page (read into buf). */
static int replay_delta(int db_fd, const struct txnrec_page *pg, uint32_t page_size, uint8_t *buf,
			struct replay_ahead *ahead)
{
	int rc = read_page(db_fd, buf, page_size, pg->pgno);
	if (rc != 0)
		return rc;
	uint32_t crc = pagedelta_crc(pg->pgno, buf, page_size);
	if (crc != pg->base_crc) {
		if (crc != pg->crc) /* not its base, nor what it makes */
			return ahead ? ahead_set(ahead, pg->pgno, pg->crc) : SL_ECORRUPT;
		if (ahead) /* already what the record makes it */
			ahead_drop(ahead, pg->pgno);
		return 0;
	}
	/* (checked first: page 1's CRC leaves out its change counter, which
	 * a delta may change alone) */
	if (txnrec_page_apply(pg, buf, page_size) != 0)
		return SL_ECORRUPT;
	if (ahead)
		ahead_drop(ahead, pg->pgno);
	return fileio_pwrite_all(db_fd, buf, page_size, (uint64_t)(pg->pgno - 1) * page_size);
}

int replay_physical(int db_fd, const struct txnrec *t, struct replay_ahead *ahead)
{
	if (!(t->sections & TXNREC_PHYSICAL))
		return SL_EINVAL;
	uint32_t have;
	int rc = file_page_size(db_fd, &have);
	if (rc != 0)
		return rc;
	if (have != 0 && have != t->page_size)
		return SL_EINVAL;
	uint8_t *buf = NULL;
	struct txnrec_page_iter it;
	struct txnrec_page pg;
	txnrec_pages(t, &it);
	while (rc == 0 && txnrec_next_page(&it, &pg)) {
		uint64_t at = (uint64_t)(pg.pgno - 1) * t->page_size;
		if (pg.kind == TXNREC_IMAGE) {
			rc = fileio_pwrite_all(db_fd, pg.image, t->page_size, at);
			if (ahead)
				ahead_drop(ahead, pg.pgno);
			continue;
		}
		if (!buf && !(buf = malloc(t->page_size)))
			rc = SL_ENOMEM;
		else
			rc = replay_delta(db_fd, &pg, t->page_size, buf, ahead);
	}
	free(buf);
	if (rc != 0)
		return rc;
	if (ahead) /* pages past the new end are gone */
		for (size_t i = 0; i < ahead->cap; i++)
			if (ahead->v[i].pgno > t->db_pages)
				ahead_drop(ahead, ahead->v[i].pgno), i = (size_t)-1;
	if (ftruncate(db_fd, (off_t)t->db_pages * t->page_size) != 0)
		return SL_EIO;
	return 0;
}

/* ----------------------------------------------------------------- logical */

struct apply_ctx {
	char *err;
	size_t errlen;
};

static int sl_from_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM: return SL_ENOMEM;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN: return SL_EIO;
	}
	return SL_ECORRUPT;
}

static const char *conflict_text(int kind)
{
	switch (kind) {
	case SQLITE_CHANGESET_DATA: return "the row's current values differ from the change's old values";
	case SQLITE_CHANGESET_NOTFOUND: return "the row to change does not exist";
	case SQLITE_CHANGESET_CONFLICT: return "a row with the same primary key already exists";
	case SQLITE_CHANGESET_CONSTRAINT: return "the change violates a constraint";
	}
	return "unknown conflict";
}

const char *replay_op_name(int op)
{
	switch (op) {
	case SQLITE_INSERT: return "insert";
	case SQLITE_UPDATE: return "update";
	case SQLITE_DELETE: return "delete";
	}
	return "unknown";
}

/* Every conflict aborts: a replay must give the leader's rows or fail. */
static int on_conflict(void *arg, int kind, sqlite3_changeset_iter *it)
{
	struct apply_ctx *x = arg;
	if (kind == SQLITE_CHANGESET_FOREIGN_KEY) {
		int n = 0;
		sqlite3changeset_fk_conflicts(it, &n);
		snprintf(x->err, x->errlen, "changeset conflict: %d foreign key violation(s) remain after applying it", n);
		return SQLITE_CHANGESET_ABORT;
	}
	const char *table = "?";
	int ncol = 0, op = 0, indirect = 0;
	sqlite3changeset_op(it, &table, &ncol, &op, &indirect);
	snprintf(x->err, x->errlen, "changeset conflict on table \"%s\" (%s): %s", table, replay_op_name(op),
		 conflict_text(kind));
	return SQLITE_CHANGESET_ABORT;
}

static int on_filter(void *arg, const char *table) { return 1; }

/*
 * Checks that the main database has a table the changeset's changes to
 * table can be applied to, by SQLite's own rule: at least ncol columns,
 * and the same primary key columns among the first ncol.
 */
static int table_check(sqlite3 *db, const char *table, int ncol, const unsigned char *pk, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT pk FROM pragma_table_info(?1, 'main') ORDER BY cid", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "could not read the columns of table \"%s\": %s", table, sqlite3_errmsg(db));
		rc = sl_from_sqlite(rc);
		goto fail;
	}
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	int n = 0;
	bool pk_differs = false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n < ncol && (sqlite3_column_int(st, 0) > 0) != (pk[n] != 0))
			pk_differs = true;
		n++;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "could not read the columns of table \"%s\": %s", table, sqlite3_errmsg(db));
		rc = sl_from_sqlite(rc);
		goto fail;
	}
	rc = SL_ECORRUPT;
	if (n == 0)
		snprintf(err, errlen, "changeset for table \"%s\", which does not exist", table);
	else if (n < ncol)
		snprintf(err, errlen, "changeset for table \"%s\" has %d columns, the table %d", table, ncol, n);
	else if (pk_differs)
		snprintf(err, errlen, "changeset for table \"%s\" has another primary key than the table", table);
	else
		rc = 0;
fail:
	sqlite3_finalize(st);
	return rc;
}

/* Runs table_check once for each run of changes to the same table. */
static int changeset_check_tables(sqlite3 *db, const uint8_t *data, uint32_t len, char *err, size_t errlen)
{
	sqlite3_changeset_iter *it = NULL;
	char *last = NULL;
	int rc = sqlite3changeset_start(&it, (int)len, (void *)data);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "could not read a changeset: %s", sqlite3_errstr(rc));
		rc = sl_from_sqlite(rc);
		goto fail;
	}
	while ((rc = sqlite3changeset_next(it)) == SQLITE_ROW) {
		const char *table;
		int ncol, op, indirect;
		unsigned char *pk;
		sqlite3changeset_op(it, &table, &ncol, &op, &indirect);
		if (last && strcmp(last, table) == 0)
			continue;
		sqlite3changeset_pk(it, &pk, NULL);
		free(last);
		last = strdup(table);
		if (!last) {
			rc = SL_ENOMEM;
			goto fail;
		}
		if ((rc = table_check(db, table, ncol, pk, err, errlen)) != 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "could not read a changeset: %s", sqlite3_errstr(rc));
		rc = sl_from_sqlite(rc);
		goto fail;
	}
	rc = 0;
fail:
	sqlite3changeset_finalize(it);
	free(last);
	return rc;
}

static int changeset_apply(sqlite3 *db, const uint8_t *data, uint32_t len, char *err, size_t errlen)
{
	int rc = changeset_check_tables(db, data, len, err, errlen);
	if (rc != 0)
		return rc;
	struct apply_ctx x = { err, errlen };
	err[0] = '\0';
	rc = sqlite3changeset_apply(db, (int)len, (void *)data, on_filter, on_conflict, &x);
	if (rc == SQLITE_OK)
		return 0;
	if (err[0] == '\0')
		snprintf(err, errlen, "could not apply a changeset: %s", sqlite3_errmsg(db));
	return rc == SQLITE_ABORT ? SL_ECORRUPT : sl_from_sqlite(rc);
}

static int ddl_apply(sqlite3 *db, const uint8_t *data, uint32_t len, char *err, size_t errlen)
{
	char *sql = malloc((size_t)len + 1);
	if (!sql) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	if (len)
		memcpy(sql, data, len);
	sql[len] = '\0';
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "DDL failed: %s (statement: %.200s)", sqlite3_errmsg(db), sql);
		rc = sl_from_sqlite(rc);
	}
	free(sql);
	return rc;
}

int replay_logical(sqlite3 *db, const struct txnrec *t, char *err, size_t errlen)
{
	if (!(t->sections & TXNREC_LOGICAL)) {
		snprintf(err, errlen, "the record has no logical section");
		return SL_EINVAL;
	}
	struct txnrec_iter it;
	uint8_t kind;
	const uint8_t *data;
	uint32_t len;
	txnrec_items(t, &it);
	while (txnrec_next_item(&it, &kind, &data, &len)) {
		int rc = 0;
		if (kind == TXNREC_DDL)
			rc = ddl_apply(db, data, len, err, errlen);
		else if (kind == TXNREC_CHANGESET && len > 0)
			rc = changeset_apply(db, data, len, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* --------------------------------------------------------------- whole log */

struct target {
	enum replay_mode mode;
	const char *path;
	int fd;
	sqlite3 *db;
};

static int sqlite_fail(struct target *g, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s %s: %s", what, g->path, g->db ? sqlite3_errmsg(g->db) : "out of memory");
	return SL_EIO;
}

/*
 * A -wal or rollback journal beside a database we write around SQLite
 * would be applied over our pages by the next SQLite that opens it: a
 * non-empty one is refused, an empty one and the -shm index are removed.
 */
static int stale_files_clear(const char *db_path, char *err, size_t errlen)
{
	static const char *const suffix[] = { "-wal", "-journal", "-shm" };
	char path[4096];
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		struct stat st;
		if ((size_t)snprintf(path, sizeof(path), "%s%s", db_path, suffix[i]) >= sizeof(path)) {
			snprintf(err, errlen, "database path too long: %s", db_path);
			return SL_EINVAL;
		}
		if (stat(path, &st) != 0)
			continue;
		if (i < 2 && st.st_size > 0) {
			snprintf(err, errlen,
				 "%s is not empty. It may hold changes newer than the database file: open the "
				 "database with sqlite3 once to checkpoint it, or remove it",
				 path);
			return SL_EINVAL;
		}
		if (unlink(path) != 0) {
			snprintf(err, errlen, "could not remove %s: %s", path, strerror(errno));
			return SL_EIO;
		}
	}
	return 0;
}

static int target_open(struct target *g, char *err, size_t errlen)
{
	if (g->mode == REPLAY_PHYSICAL) {
		int rc = stale_files_clear(g->path, err, errlen);
		if (rc != 0)
			return rc;
		g->fd = open(g->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (g->fd < 0) {
			snprintf(err, errlen, "could not open %s: %s", g->path, strerror(errno));
			return SL_EIO;
		}
		return 0;
	}
	if (sqlite3_open_v2(g->path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		return sqlite_fail(g, "could not open", err, errlen);
	if (sqlite3_exec(g->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
		return sqlite_fail(g, "could not set WAL mode on", err, errlen);
	return 0;
}

/* Closes; with sync (after success), makes the result durable first. */
static int target_close(struct target *g, bool sync, char *err, size_t errlen)
{
	int rc = 0;
	if (g->fd >= 0) {
		if (sync && fsync(g->fd) != 0) {
			snprintf(err, errlen, "could not fsync %s: %s", g->path, strerror(errno));
			rc = SL_EIO;
		}
		close(g->fd);
		g->fd = -1;
	}
	if (g->db) {
		/* The last connection's close checkpoints the WAL into the file and syncs it. */
		if (sqlite3_close(g->db) != SQLITE_OK && sync && rc == 0) {
			snprintf(err, errlen, "could not close %s", g->path);
			rc = SL_EIO;
		}
		g->db = NULL;
	}
	return rc;
}

static int target_apply_logical(struct target *g, const struct txnrec *t, char *err, size_t errlen)
{
	if (sqlite3_exec(g->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return sqlite_fail(g, "could not begin a transaction on", err, errlen);
	int rc = replay_logical(g->db, t, err, errlen);
	if (rc == 0 && sqlite3_exec(g->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = sqlite_fail(g, "could not commit on", err, errlen);
	if (rc != 0)
		sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* An empty file can only take a record that writes page 1 (the header). */
static bool physical_fits_empty(int fd, const struct txnrec *t)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size > 0)
		return true; /* a failing fstat is reported by replay_physical */
	if (t->npages == 0)
		return t->db_pages == 0;
	struct txnrec_page_iter it;
	struct txnrec_page pg;
	txnrec_pages(t, &it);
	return txnrec_next_page(&it, &pg) && pg.pgno == 1;
}

static int target_apply(struct target *g, uint64_t lsn, const struct txnrec *t, char *err, size_t errlen)
{
	char at[LSN_TEXT_MAX];
	lsn_format(lsn, at);
	unsigned need = g->mode == REPLAY_PHYSICAL ? TXNREC_PHYSICAL : TXNREC_LOGICAL;
	if (!(t->sections & need)) {
		snprintf(err, errlen, "record at LSN %s has no %s section: the log was written with log_mode=%s", at,
			 g->mode == REPLAY_PHYSICAL ? "physical" : "logical",
			 g->mode == REPLAY_PHYSICAL ? "logical" : "physical");
		return SL_EINVAL;
	}
	if (g->mode == REPLAY_LOGICAL) {
		char why[512];
		int rc = target_apply_logical(g, t, why, sizeof(why));
		if (rc != 0)
			snprintf(err, errlen, "record at LSN %s: %s", at, why);
		return rc;
	}
	if (!physical_fits_empty(g->fd, t)) {
		snprintf(err, errlen,
			 "record at LSN %s does not write page 1, but %s is empty. Replay from the start of the "
			 "log, or into a copy of the database as of that LSN",
			 at, g->path);
		return SL_EINVAL;
	}
	int rc = replay_physical(g->fd, t, NULL);
	if (rc == SL_EINVAL)
		snprintf(err, errlen,
			 "record at LSN %s: %s is not a SQLite database with the record's page size (%u bytes)", at,
			 g->path, t->page_size);
	else if (rc == SL_ECORRUPT)
		snprintf(err, errlen,
			 "record at LSN %s: a page delta does not fit %s's page (its base is another): replay "
			 "from the start of the log, or into a copy of the database as of that LSN",
			 at, g->path);
	else if (rc != 0)
		snprintf(err, errlen, "record at LSN %s: could not write %s: %s", at, g->path, strerror(errno));
	return rc;
}

/* Decodes one TXN record's payload into t (pointing into payload). */
static int record_txn(const struct record *rec, struct buf *payload, struct txnrec *t, char *err, size_t errlen)
{
	char at[LSN_TEXT_MAX];
	int rc = record_payload(rec, payload);
	if (rc == 0 && payload->oom)
		rc = SL_ENOMEM;
	if (rc == 0)
		rc = txnrec_decode(payload->data, payload->len, t);
	if (rc != 0)
		snprintf(err, errlen, "record at LSN %s: %s payload", lsn_format(rec->lsn, at),
			 rc == SL_ENOMEM ? "out of memory for the" : "corrupt");
	return rc;
}

static int log_open(const char *log_dir, struct replog **log, char *err, size_t errlen)
{
	struct stat st;
	const char *why_not = NULL;
	if (stat(log_dir, &st) != 0)
		why_not = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why_not = "not a directory";
	if (why_not) {
		/* Not created here: replaying an empty log is a mistake in the path. */
		snprintf(err, errlen, "could not open log directory %s: %s", log_dir, why_not);
		return SL_ENOTFOUND;
	}
	struct replog_options opt = { 0 };
	char why[512] = "";
	int rc = replog_open(log, log_dir, 0, &opt, why, sizeof(why));
	if (rc != 0)
		snprintf(err, errlen, "could not open the log in %s: %s", log_dir, why[0] ? why : sl_strerror(rc));
	return rc;
}

static int reader_open(struct replog *log, uint64_t from_lsn, struct replog_reader **r, char *err, size_t errlen)
{
	if (from_lsn == 0)
		from_lsn = replog_start_lsn(log);
	int rc = replog_reader_open(log, from_lsn, r);
	if (rc != 0) {
		char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX], c[LSN_TEXT_MAX];
		snprintf(err, errlen, "LSN %s is not the start of a record in the log, which holds %s to %s",
			 lsn_format(from_lsn, a), lsn_format(replog_start_lsn(log), b),
			 lsn_format(replog_end_lsn(log), c));
	}
	return rc;
}

/* Reads records until the end of the log, applying each TXN record. */
static int log_apply(struct replog_reader *r, struct target *g, uint64_t *applied, char *err, size_t errlen)
{
	struct buf payload;
	struct record rec;
	struct txnrec t;
	int rc;
	buf_init(&payload);
	while ((rc = replog_reader_next(r, &rec, 0)) == 0) {
		if (rec.type == RECORD_EPOCH)
			continue;
		if (rec.type != RECORD_TXN) {
			char at[LSN_TEXT_MAX];
			snprintf(err, errlen, "record at LSN %s has unknown type %u", lsn_format(rec.lsn, at),
				 rec.type);
			rc = SL_ECORRUPT;
			goto fail;
		}
		if ((rc = record_txn(&rec, &payload, &t, err, errlen)) != 0)
			goto fail;
		if ((rc = target_apply(g, rec.lsn, &t, err, errlen)) != 0)
			goto fail;
		(*applied)++;
	}
	if (rc != SL_ETIMEDOUT) {
		char at[LSN_TEXT_MAX];
		snprintf(err, errlen, "could not read the log at LSN %s: %s",
			 lsn_format(replog_reader_position(r), at), sl_strerror(rc));
		goto fail;
	}
	rc = 0;
fail:
	buf_free(&payload);
	return rc;
}

int replay_log(const char *log_dir, const char *db_path, enum replay_mode mode, uint64_t from_lsn,
	       uint64_t *applied, char *err, size_t errlen)
{
	struct replog *log = NULL;
	struct replog_reader *r = NULL;
	struct target g = { .mode = mode, .path = db_path, .fd = -1, .db = NULL };
	*applied = 0;
	err[0] = '\0';
	int rc = log_open(log_dir, &log, err, errlen);
	if (rc != 0)
		goto fail;
	if ((rc = reader_open(log, from_lsn, &r, err, errlen)) != 0)
		goto fail;
	if ((rc = target_open(&g, err, errlen)) != 0)
		goto fail;
	if ((rc = log_apply(r, &g, applied, err, errlen)) != 0)
		goto fail;
	rc = target_close(&g, true, err, errlen);
fail:
	target_close(&g, false, err, 0);
	if (r)
		replog_reader_close(r);
	if (log)
		replog_close(log);
	return rc;
}
