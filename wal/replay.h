/*
 * replay.h — applying TXN records to a database: page images written into
 * the database file (physical), or changesets and DDL through SQLite
 * (logical). Used by crash recovery, by `sluice log replay`, and by the
 * tests that check a replayed log equals the database it came from.
 */
#ifndef SL_REPLAY_H
#define SL_REPLAY_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "txnrec.h"

/*
 * Pages met ahead of a delta's base while records that may have been
 * applied before are applied again (after a crash): each such delta is
 * skipped, and the page must stand at the CRC of the last record that
 * touched it once all those records are applied again (replay_ahead_check).
 */
struct replay_ahead_page {
	uint32_t pgno; /* 0: a free slot */
	uint32_t crc;
};
struct replay_ahead {
	struct replay_ahead_page *v; /* open addressing, a power of two */
	size_t n, cap;
};
/* Checks the pages left ahead against the file; 0, or SL_ECORRUPT with
 * err naming a page that is not what the log made it. Empties a. */
int replay_ahead_check(int db_fd, uint32_t page_size, struct replay_ahead *a, char *err, size_t errlen);
void replay_ahead_free(struct replay_ahead *a);

/*
 * Writes the record's pages into an open database file (no WAL may hold
 * newer pages, and no connection may be open on it) and sets the file size
 * to db_pages pages. A delta is applied to its base only (a page already
 * at its result is left as it is); with ahead NULL any other page is
 * SL_ECORRUPT, else it is noted in ahead and skipped. Does not fsync. 0,
 * SL_EINVAL (no physical section, or a page size that differs from the
 * file's), SL_ECORRUPT, SL_ENOMEM or SL_EIO.
 */
int replay_physical(int db_fd, const struct txnrec *t, struct replay_ahead *ahead);

/*
 * Applies the record's logical items in order (DDL with sqlite3_exec,
 * changesets with sqlite3changeset_apply) inside the caller's transaction.
 * Any conflict stops the apply: SL_ECORRUPT with err saying which table and
 * what kind of conflict. Nothing is skipped silently.
 */
int replay_logical(sqlite3 *db, const struct txnrec *t, char *err, size_t errlen);

/* "insert", "update" or "delete" for a changeset operation code. */
const char *replay_op_name(int op);

enum replay_mode { REPLAY_PHYSICAL, REPLAY_LOGICAL };

/*
 * Replays every TXN record of the log in log_dir from from_lsn (0: the
 * start) onto the database at db_path (created if missing). Physical mode
 * needs the database to be at from_lsn already (or empty at the log's
 * start); logical mode applies each record in its own transaction.
 * *applied gets the number of records applied. 0 or an SL_ code with err.
 */
int replay_log(const char *log_dir, const char *db_path, enum replay_mode mode, uint64_t from_lsn,
	       uint64_t *applied, char *err, size_t errlen);

#endif
