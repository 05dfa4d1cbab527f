/*
 * snapshot.c — copying the database inside one read transaction (see
 * snapshot.h).
 *
 * The pages are read with sqlite3_serialize(), which reads them through
 * SQLite's pager inside the connection's open read transaction, so the
 * copy is exactly that transaction's view, page 1 included. (A streaming
 * page reader would need SQLite's sqlite_dbpage table, which Debian's
 * build does not enable; the price is memory for one database copy while
 * a snapshot is sent.) commitlog_snapshot() opens the transaction while no
 * commit is between its log record and its publication, which gives the
 * snapshot's LSN exactly.
 */
#include "snapshot.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "sl_error.h"

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

int snapshot_take(struct commitlog *cl, const char *db_path, struct snapshot *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *db;
	int rc = snapshot_read_begin(cl, db_path, &db, &out->lsn);
	sqlite3_stmt *st = NULL;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		out->page_size = (uint32_t)sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_OK) {
		sqlite3_int64 size = 0;
		out->data = sqlite3_serialize(db, "main", &size, 0);
		out->size = size;
		if (!out->data)
			rc = SQLITE_NOMEM;
	}
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "could not take a snapshot: %s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	snapshot_read_end(db);
	if (rc != SQLITE_OK) {
		snapshot_free(out);
		return rc == SQLITE_NOMEM ? SL_ENOMEM : SL_EIO;
	}
	return 0;
}

void snapshot_free(struct snapshot *s)
{
	sqlite3_free(s->data);
	s->data = NULL;
	s->size = 0;
}
