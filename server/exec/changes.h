/*
 * changes.h — the eponymous virtual table
 * sluice_changes(from_lsn [, max_events [, format [, tables]]]): the
 * leader's change events (server/leader/cdc.h, docs/CDC.md) as rows
 * (lsn, xid, data, next_lsn), one per event, what `sluice cdc` polls;
 * next_lsn, on the last event of a transaction, is where to go on from.
 */
#ifndef SL_CHANGES_H
#define SL_CHANGES_H

#include <sqlite3.h>

struct dbconn;

/* On every pooled connection; conn names the pool and carries errors. */
int changes_register(sqlite3 *db, struct dbconn *conn);

#endif
