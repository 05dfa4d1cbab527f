/*
 * snapshot.c — copying the database inside one read transaction, as a
 * stream of pages (see snapshot.h).
 *
 * SQLite's online backup reads the pages through the pager inside the
 * source connection's open read transaction (it opens none of its own when
 * one is open), so the copy is exactly that transaction's view, page 1
 * included. Its destination is a page sink (pagesink.h): a database file
 * that keeps nothing and hands each page on as the destination's small
 * cache spills it. (SQLite's sqlite_dbpage table would read pages more
 * directly, but Debian's build does not enable it.) The pages are the
 * source's bytes but for page 1's schema cookie, which a backup always
 * bumps in the destination and which is put back to the source's here,
 * and page 1's file change counter (see pagesink.h), which a follower's
 * next page 1 from the log replaces. commitlog_snapshot() opens the
 * transaction
 * while no commit is between its log record and its publication, which
 * gives the snapshot's LSN exactly.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "pagesink.h"
#include "sl_error.h"

#define STEP_PAGES 256         /* pages per backup step, between stop checks */
#define SINK_CACHE_KIB 1024    /* the destination's page cache */
#define PENDING_BYTE 0x40000000u /* SQLite's lock byte: its page is never written */
#define SCHEMA_COOKIE_AT 40

static int begin_read(void *arg)
{
	sqlite3 *db = arg;
	/* BEGIN is deferred: the read transaction starts at the first read */
	return sqlite3_exec(db, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL);
}

int snapshot_read_begin(struct commitlog *cl, const char *db_path, sqlite3 **db, uint64_t *lsn)
{
	*db = NULL;
	int rc = sqlite3_open_v2(db_path, db, SQLITE_OPEN_READWRITE, CAPTURE_VFS_NAME);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(*db, "PRAGMA query_only=ON", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = commitlog_snapshot(cl, begin_read, *db, lsn);
	return rc;
}

void snapshot_read_end(sqlite3 *db)
{
	if (!db)
		return;
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close_v2(db);
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_ERROR;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int snapshot_begin(struct commitlog *cl, const char *db_path, struct snapshot *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	int64_t page_size = 0, pages = 0;
	int rc = snapshot_read_begin(cl, db_path, &s->db, &s->lsn);
	if (rc == SQLITE_OK)
		rc = pragma_int(s->db, "PRAGMA page_size", &page_size);
	if (rc == SQLITE_OK)
		rc = pragma_int(s->db, "PRAGMA page_count", &pages);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "could not take a snapshot: %s",
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		return rc == SQLITE_NOMEM ? SL_ENOMEM : SL_EIO;
	}
	s->page_size = (uint32_t)page_size;
	s->size = (uint64_t)pages * (uint64_t)page_size;
	return 0;
}

void snapshot_end(struct snapshot *s)
{
	snapshot_read_end(s->db);
	s->db = NULL;
}

/* Whole pages gathered into runs of consecutive ones before they go out. */
struct run {
	snapshot_piece_fn fn;
	void *arg;
	uint8_t *buf;
	size_t cap, len;
	uint64_t offset;        /* of buf[0] */
	uint32_t schema_cookie; /* the source's, for page 1 */
};

static int run_flush(struct run *r)
{
	int rc = r->len ? r->fn(r->arg, r->offset, r->buf, r->len) : 0;
	r->len = 0;
	return rc;
}

static int run_page(void *arg, uint64_t offset, const uint8_t *page, size_t len)
{
	struct run *r = arg;
	if (r->len && (offset != r->offset + r->len || r->len + len > r->cap)) {
		int rc = run_flush(r);
		if (rc)
			return rc;
	}
	if (!r->len)
		r->offset = offset;
	uint8_t *at = r->buf + r->len;
	memcpy(at, page, len);
	if (offset == 0) {
		at[SCHEMA_COOKIE_AT] = (uint8_t)(r->schema_cookie >> 24);
		at[SCHEMA_COOKIE_AT + 1] = (uint8_t)(r->schema_cookie >> 16);
		at[SCHEMA_COOKIE_AT + 2] = (uint8_t)(r->schema_cookie >> 8);
		at[SCHEMA_COOKIE_AT + 3] = (uint8_t)r->schema_cookie;
	}
	r->len += len;
	return 0;
}

int snapshot_stream(struct snapshot *s, size_t piece_max, snapshot_piece_fn fn, void *arg, const atomic_bool *stop,
		    char *err, size_t errlen)
{
	int64_t cookie = 0;
	if (pragma_int(s->db, "PRAGMA schema_version", &cookie) != SQLITE_OK) {
		snprintf(err, errlen, "could not read the snapshot: %s", sqlite3_errmsg(s->db));
		return SL_EIO;
	}
	if (piece_max < s->page_size)
		piece_max = s->page_size;
	struct run run = { fn, arg, malloc(piece_max), piece_max - piece_max % s->page_size, 0, 0, (uint32_t)cookie };
	struct pagesink sink = { run_page, &run, s->page_size, 0, 0 };
	sqlite3 *dst = NULL;
	int rc = run.buf ? pagesink_open(&sink, s->page_size, SINK_CACHE_KIB, &dst) : SL_ENOMEM;
	sqlite3_backup *b = rc == 0 ? sqlite3_backup_init(dst, "main", s->db, "main") : NULL;
	if (rc == 0 && !b)
		rc = SL_EIO;
	int step = SQLITE_OK;
	while (rc == 0 && step == SQLITE_OK) {
		if (stop && atomic_load(stop))
			rc = SL_EIO;
		else
			step = sqlite3_backup_step(b, STEP_PAGES);
	}
	if (b && sqlite3_backup_finish(b) != SQLITE_OK && rc == 0 && step == SQLITE_DONE)
		step = sqlite3_errcode(dst);
	if (rc == 0 && step != SQLITE_DONE)
		rc = sink.failed ? sink.failed : SL_EIO;
	if (rc == 0)
		rc = run_flush(&run);
	/* the lock byte's page is skipped by the backup; it holds zeros */
	uint64_t lock_at = PENDING_BYTE - PENDING_BYTE % s->page_size, end = sink.high;
	if (rc == 0 && lock_at < s->size) {
		memset(run.buf, 0, s->page_size);
		rc = fn(arg, lock_at, run.buf, s->page_size);
		if (lock_at + s->page_size > end)
			end = lock_at + s->page_size;
	}
	if (rc == 0 && end != s->size)
		rc = SL_EIO; /* the backup wrote another size than the source's */
	if (rc != 0)
		snprintf(err, errlen, "could not stream the snapshot: %s",
			 sink.failed ? sl_strerror(sink.failed) : dst ? sqlite3_errmsg(dst) : sl_strerror(rc));
	pagesink_close(dst);
	free(run.buf);
	return rc;
}
