/*
 * snapshot.h — a consistent copy of the leader's database for a new
 * follower: every page as one read transaction sees it, with the LSN at
 * which that transaction stands.
 */
#ifndef SL_SNAPSHOT_H
#define SL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "commitlog.h"

struct snapshot {
	unsigned char *data; /* the database file's bytes (sqlite3_free) */
	int64_t size;
	uint32_t page_size;
	uint64_t lsn; /* every TXN record before this LSN is in it, none after */
};

/*
 * Takes a snapshot of the database at db_path. Writers go on meanwhile
 * (WAL mode: the read transaction blocks no one; only checkpoints cannot
 * pass it). Needs memory for the whole database. 0 or an SL_ code with err.
 */
/*
 * The read transaction a snapshot is taken in, on a connection of its own:
 * *db sees every TXN record before *lsn and none after. SQLite's result
 * code; *db is set (to close with snapshot_read_end) even on failure.
 */
int snapshot_read_begin(struct commitlog *cl, const char *db_path, sqlite3 **db, uint64_t *lsn);
void snapshot_read_end(sqlite3 *db);

int snapshot_take(struct commitlog *cl, const char *db_path, struct snapshot *out, char *err, size_t errlen);
void snapshot_free(struct snapshot *s);

#endif
