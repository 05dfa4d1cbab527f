/*
 * recovery.h — bringing the database and the replication log into
 * agreement at start-up, before anyone is served.
 *
 * The capture shim (capture.h) writes a commit into SQLite's WAL only after
 * its record is durable in the log, so after any crash the database holds a
 * prefix of the log's transactions. Which prefix: the base file says up to
 * which LSN the database file itself is complete (written whenever the WAL
 * starts over, is truncated or removed), and the last valid commit frame in
 * the WAL names the record it came from by its salts and checksums. The
 * records after that are replayed: page images written into the database
 * file (after a checkpoint has emptied the WAL), or, for a log without
 * pages, changesets and DDL through SQLite (all in one transaction, with
 * a marker file `db-position.redo` naming where it ends written first,
 * because changesets cannot be applied twice). A WAL commit the log does
 * not have, other than that transaction, means the two do not belong
 * together: that is an error, never guessed around.
 */
#ifndef SL_RECOVERY_H
#define SL_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "replog.h"
#include "txnrec.h"

/* The base file: "X/Y\n", rewritten atomically and durably. */
int recovery_base_read(const char *path, uint64_t *lsn);
int recovery_base_write(const char *path, uint64_t lsn);
/* Replaces the file at path with text, atomically and durably. 0 or SL_EIO. */
int recovery_file_write(const char *path, const char *text);

/*
 * The last valid commit frame of the WAL at wal_path, checked the way
 * SQLite checks it (salts and running checksums). Returns 1 and fills pos,
 * 0 when there is no WAL or no valid commit in it, or SL_EIO.
 */
int recovery_wal_last_commit(const char *wal_path, struct txnrec_walpos *pos);

/*
 * Makes the database at db_path hold every TXN record of log. On success
 * the WAL is empty, the base file says the log's end, and *redone counts
 * the records replayed. Errors fill err.
 */
int recovery_run(struct replog *log, const char *db_path, const char *base_path, uint64_t *redone, char *err,
		 size_t errlen);

#endif
