/*
 * sandbox.h — what client SQL may ask of SQLite: nothing that reaches the
 * server's file system or changes how the database is stored.
 *
 * An authorizer (sqlite3_set_authorizer) on every connection of the pool
 * refuses, when a client's statement is prepared: ATTACH and DETACH (a file
 * of the client's choosing would be created or opened on the server, and
 * the attachment would outlive the session on a pooled connection);
 * functions that load code or touch files (load_extension, readfile,
 * writefile, edit, lsdir, fts3_tokenizer); and every PRAGMA but read-only
 * introspection (sandbox.c has the list) — PRAGMAs that set durability,
 * the journal, the page format or a connection's behaviour would change
 * them for every session sharing the connection, and for replication.
 * VACUUM … INTO has no authorizer action: the SQL classifier sees it and
 * the backend refuses it (backend_utility.c). A refusal is SQLSTATE 42501
 * with a message that names what was refused.
 */
#ifndef SL_SANDBOX_H
#define SL_SANDBOX_H

#include <stddef.h>

/*
 * Whether a client statement may do action (SQLITE_ATTACH, SQLITE_PRAGMA,
 * SQLITE_FUNCTION, … with SQLite's two arguments): SQLITE_OK, or
 * SQLITE_DENY with the reason in why.
 */
int sandbox_check(int action, const char *arg1, const char *arg2, char *why, size_t whylen);

#endif
