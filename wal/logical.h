/*
 * logical.h — logical change capture on the writer connection: row
 * changes from a sqlite3session, DDL as SQL text, and the tables' names
 * and columns, in the order they happened, as TXN record items (txnrec.h).
 *
 * The session extension records a row's original values when a
 * transaction first touches it and reads the current values when the
 * changeset is made, so changes undone by ROLLBACK TO leave no trace. It
 * does not see DDL; so before a DDL statement the changes so far become one
 * changeset item, the statement's text a DDL item, and a fresh session
 * records what follows. A savepoint also starts a fresh session when the
 * current one has changes, so ROLLBACK TO it drops exactly the items made
 * after it, DDL included.
 *
 * Logical replication needs a PRIMARY KEY on every table: an authorizer
 * (logical_authorize, which the connection's owner installs with
 * sqlite3_set_authorizer, alone or called from its own) refuses, at prepare
 * time, any INSERT, UPDATE or DELETE on a table of the main database
 * without one (logical_denied() says why). It also refuses ALTER TABLE …
 * ADD COLUMN with a non-NULL DEFAULT, whose old values SQLite 3.40's
 * session extension records wrongly. It also tells DDL apart.
 *
 * Used by the writer thread only.
 */
#ifndef SL_LOGICAL_H
#define SL_LOGICAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct logical;

/* Attaches capture to db (the writer connection). 0 or an SL_ code with err. */
int logical_open(struct logical **out, sqlite3 *db, char *err, size_t errlen);
void logical_close(struct logical *lg);

/* The authorizer (arg is the struct logical); see above. */
int logical_authorize(void *arg, int action, const char *a1, const char *a2, const char *db, const char *trigger);

/* Around sqlite3_prepare of sql: whether the statement just prepared does DDL. */
void logical_prepare_start(struct logical *lg, const char *sql);
bool logical_prepare_was_ddl(struct logical *lg);
/* Why the authorizer refused the last statement, or NULL. */
const char *logical_denied(struct logical *lg);

/* Around a DDL statement's sqlite3_step; after_ddl only when it succeeded. */
int logical_before_ddl(struct logical *lg);
int logical_after_ddl(struct logical *lg, const char *sql);

/* Mirror SQLite's savepoint stack (names compare case-insensitively). */
int logical_savepoint(struct logical *lg, const char *name);
void logical_release(struct logical *lg, const char *name);
int logical_rollback_to(struct logical *lg, const char *name);

/*
 * Before COMMIT: the transaction's items, encoded as txnrec items, are
 * appended to items and counted in *nitems. The capture state is then
 * clear for the next transaction. SL_EINVAL (logical_denied says why) when
 * a table's PRIMARY KEY holds NULL, which changesets cannot carry: the
 * caller must roll back.
 */
int logical_finish(struct logical *lg, struct buf *items, uint32_t *nitems);
/* The transaction was rolled back: forget what was captured. */
void logical_rollback(struct logical *lg);

#endif
