/*
 * snapshot.h — a consistent copy of the leader's database for a new
 * follower: every page as one read transaction sees it, with the LSN at
 * which that transaction stands, streamed in pieces so that memory does
 * not grow with the database.
 */
#ifndef SL_SNAPSHOT_H
#define SL_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "commitlog.h"

/*
 * The read transaction a snapshot is taken in, on a connection of its own:
 * *db sees every TXN record before *lsn and none after. SQLite's result
 * code; *db is set (to close with snapshot_read_end) even on failure.
 */
int snapshot_read_begin(struct commitlog *cl, const char *db_path, sqlite3 **db, uint64_t *lsn);
void snapshot_read_end(sqlite3 *db);

struct snapshot {
	sqlite3 *db;        /* the read transaction */
	uint64_t lsn;       /* every TXN record before this LSN is in it, none after */
	uint32_t page_size;
	uint64_t size;      /* bytes: pages × page_size */
};

/*
 * A run of whole pages of the snapshot at their offset; 0 to go on,
 * nonzero (an SL_ code) to stop. Runs come in any order, at most once
 * each except that a page may come again (the last copy is right); the
 * pages together cover the whole size.
 */
typedef int (*snapshot_piece_fn)(void *arg, uint64_t offset, const uint8_t *data, size_t len);

/*
 * Opens a snapshot of the database at db_path: its LSN and size are known
 * from here on. Writers go on meanwhile (WAL mode: the read transaction
 * blocks no one; only checkpoints cannot pass it). 0 or an SL_ code with
 * err; s is to be ended with snapshot_end either way.
 */
int snapshot_begin(struct commitlog *cl, const char *db_path, struct snapshot *s, char *err, size_t errlen);

/*
 * Reads the whole snapshot and hands it to fn in pieces of at most
 * piece_max bytes, with memory bounded by a few page caches. Gives up when
 * *stop is set (SL_EIO). 0, fn's nonzero answer, or an SL_ code with err.
 */
int snapshot_stream(struct snapshot *s, size_t piece_max, snapshot_piece_fn fn, void *arg, const atomic_bool *stop,
		    char *err, size_t errlen);

void snapshot_end(struct snapshot *s);

#endif
