/*
 * slotfuncs.h — CDC slots in SQL (server/leader/slots.h says what a slot
 * is), on the leader, for admin users only (42501 for others):
 *
 *   sluice_slot_create(name [, plugin]): a new slot at the end of the
 *   visible log; returns that LSN. plugin is the output it was made for:
 *   'sluice' (sluice cdc's, the default), 'test_decoding' or 'wal2json';
 *
 *   sluice_slot_drop(name): forgets the slot; returns true;
 *
 *   sluice_slot_confirm(name, lsn): the consumer has written out every
 *   transaction before lsn (a next_lsn sluice_changes gave); the slot
 *   moves there and returns where it stands. It never moves back, and
 *   not over quiet records only (slots.h): that would write a record
 *   each time;
 *
 *   the table sluice_slots: slot_name, plugin, confirmed_lsn (as stored,
 *   the same on every node), confirmed_at, lag_bytes (from the first
 *   record after it that is not quiet to the visible end), lag_seconds
 *   (since that record's commit), active (a consumer confirmed within
 *   SLOTFUNCS_ACTIVE_MS), lost, created_at. Followers show the slots they
 *   hold; lag, active and lost are NULL there (the leader measures).
 *
 * The three functions write the slot table, so a statement that calls one
 * runs on the writer (dbconn_prepared_writes); they refuse to run inside a
 * transaction block (25001), since a rolled-back slot change would leave
 * the log's retention wrong. The write is answered once it is durable and
 * confirmed like any commit.
 */
#ifndef SL_SLOTFUNCS_H
#define SL_SLOTFUNCS_H

#include <sqlite3.h>
#include <stdbool.h>

struct dbconn;

#define SLOTFUNCS_ACTIVE_MS 10000

/* Registers the functions and the table on a pooled connection. */
int slotfuncs_register(sqlite3 *db, struct dbconn *conn);

/* A consumer reads through the slot named now (it shows active). */
void slotfuncs_touch(const char *name);

/* Whether the SQL function named writes (a statement calling it goes to the writer). */
bool slotfuncs_writes(const char *function);

#endif
