/*
 * slots.h — CDC slots: a consumer's confirmed position in the log, kept
 * as a row of the table sluice_slot_state in the database itself. A slot's
 * row is written like any other (durable in the log, confirmed by the
 * synchronous standbys before the consumer hears back), reaches every
 * follower with the stream or a snapshot, and is there on whichever node
 * leads next.
 *
 * The table is sluice's own: change events never show its rows or its
 * CREATE statement, and clients cannot write it (the slot functions do:
 * slotfuncs.h). A record that holds no change for any consumer (an EPOCH
 * record, a transaction that touched only that table) is quiet: a slot
 * standing before quiet records stands, in effect, after them
 * (slots_skip_quiet), so a confirmation does not leave its own record as
 * lag.
 *
 * Each slot holds back the log's retention from its confirmed position
 * ("slot:NAME", replog.h) until it falls more than max_slot_lag behind the
 * end; then it is lost (slots_lost), for good: nothing confirms it again.
 */
#ifndef SL_SLOTS_H
#define SL_SLOTS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "replog.h"

#define SLOTS_TABLE "sluice_slot_state"
#define SLOTS_CREATE_SQL                                                                                       \
	"CREATE TABLE sluice_slot_state (name TEXT PRIMARY KEY, plugin TEXT NOT NULL, "                        \
	"confirmed_lsn INTEGER NOT NULL, confirmed_at INTEGER NOT NULL, created_at INTEGER NOT NULL)"
#define SLOTS_NAME_MAX 63

/* Lower-case letters, digits and underscores, 1 to SLOTS_NAME_MAX of them
 * (PostgreSQL's rule for slot names). */
bool slots_name_valid(const char *name);

/* Whether table is the slot table (compared as SQLite compares names). */
bool slots_is_table(const char *table);
/* Whether a DDL item is the slot table's own CREATE statement. */
bool slots_is_own_ddl(const void *sql, size_t len);

/*
 * Whether an authorizer action changes the slot table or its schema
 * (insert, update, delete, create, drop, alter, an index or trigger on
 * it): only the slot functions may.
 */
bool slots_guarded(int action, const char *a1, const char *a2);

/* Whether a record holds no change for any consumer (see above). */
bool slots_record_quiet(const struct record *rec);

/*
 * The first record at or after from (a record boundary) that is not quiet,
 * ending at or before limit: its LSN, and its commit time in *commit_ts;
 * limit and 0 when there is none. from itself on any error reading.
 */
uint64_t slots_skip_quiet(struct replog *log, uint64_t from, uint64_t limit, uint64_t *commit_ts);

/* A slot confirmed up to confirmed is lost: the log here no longer holds
 * that position, or the end is more than max_lag (0: no bound) beyond it. */
bool slots_lost(struct replog *log, uint64_t confirmed, uint64_t end, uint64_t max_lag);

/*
 * Reads the slot table on db and makes the log's retention hold what each
 * slot needs (forgetting slots retained before and gone now). 0, or an
 * SQLite error code (a missing table is no slot at all).
 */
int slots_retain_all(sqlite3 *db, struct replog *log, uint64_t max_lag);

#endif
