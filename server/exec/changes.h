/*
 * changes.h — change events in SQL, on the leader (server/leader/cdc.h,
 * docs/CDC.md), what `sluice cdc` reads:
 *
 *   sluice_changes(from_lsn [, max_events [, format [, tables]]]): the
 *   events of the log from from_lsn, as rows (lsn, xid, data, next_lsn),
 *   one per event; next_lsn, on the last event of a transaction, is where
 *   to go on from (changes.c);
 *
 *   sluice_changes_snapshot([format [, tables]]): every row of the
 *   database as a read event, from one read transaction, as rows (lsn,
 *   data, next_lsn); the last row's next_lsn is where sluice_changes goes
 *   on with no gap and no duplicate (changes_snapshot.c).
 */
#ifndef SL_CHANGES_H
#define SL_CHANGES_H

#include <sqlite3.h>

#include "cdc.h"

struct dbconn;

/* Both virtual tables, on every pooled connection; conn names the pool
 * and carries errors. */
int changes_register(sqlite3 *db, struct dbconn *conn);
int changes_snapshot_register(sqlite3 *db, struct dbconn *conn);

/* What both share. A table of either: the connection it raises errors on. */
struct changes_vtab {
	sqlite3_vtab base;
	struct dbconn *conn;
};
/* xConnect and xDisconnect, the table's columns declared by schema. */
int changes_vtab_connect(sqlite3 *db, struct dbconn *conn, const char *schema, sqlite3_vtab **out);
int changes_vtab_disconnect(sqlite3_vtab *vt);
/* The arguments are equality constraints on the hidden
 * columns first_hidden..ncols-1 (at most 16 columns): each one given is
 * passed to xFilter in column order, idxNum a bit per column. */
int changes_best_index(sqlite3_index_info *info, int first_hidden, int ncols);
/* The format and table list given (NULL: the default) into o; else an
 * error raised for vt (22023). */
int changes_options(struct dbconn *conn, sqlite3_vtab *vt, const char *format, const char *tables,
		    struct cdc_options *o);
/* SQLITE_OK when this node leads with a log that holds row changes; else
 * an error raised for vt (55000, 0A000). */
int changes_source_check(struct dbconn *conn, sqlite3_vtab *vt);

#endif
