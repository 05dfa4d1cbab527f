/*
 * pgfuncs.h — PostgreSQL functions that clients and drivers call and SQLite
 * lacks: repeat, version, pg_sleep, now, current_setting, pg_backend_pid,
 * current_database, current_schema.
 */
#ifndef SL_PGFUNCS_H
#define SL_PGFUNCS_H

#include <sqlite3.h>

struct dbconn;

/* Registers the functions on db; conn gives them the running job. */
int pgfuncs_register(sqlite3 *db, struct dbconn *conn);

#endif
