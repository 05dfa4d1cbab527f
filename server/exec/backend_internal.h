/*
 * backend_internal.h — what backend.c and backend_utility.c share: the
 * per-run context and the helpers for errors, connections and portals.
 */
#ifndef SL_BACKEND_INTERNAL_H
#define SL_BACKEND_INTERNAL_H

#include <stdbool.h>

#include "backend.h"
#include "session.h"

enum step {
	STEP_OK = 0,
	STEP_ERROR, /* an ErrorResponse was written */
	STEP_MOVE,  /* needs the writer; nothing was written for this step */
};

struct ctx {
	struct job *job;
	struct session *s;
	struct dbpool *pool;
	bool on_writer;
	bool extended; /* running an extended-protocol Execute (no RowDescription) */
	struct buf *out;
};

int backend_error(struct ctx *x, const char *sqlstate, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int backend_sqlite_error(struct ctx *x, struct dbconn *c);
void backend_notice(struct ctx *x, const char *severity, const char *sqlstate, const char *message);
/* The connection a statement runs on (write: the writer), or an error
 * step; sql is the statement's SQLite text when known (NULL for writes). */
int backend_conn_for(struct ctx *x, bool write, const char *sql, struct dbconn **out);
struct dbconn *backend_any_conn(struct ctx *x);
int backend_txn_finish(struct ctx *x, bool commit);
void backend_portal_close(struct ctx *x, struct portal *p);
int backend_portal_peek(struct ctx *x, struct portal *p);
void backend_row_description(struct ctx *x, struct portal *p);
int backend_portal_send(struct ctx *x, struct portal *p, uint64_t max_rows, bool discard, uint64_t *sent);
struct portal *backend_portal_new(struct ctx *x, const char *name, struct prepared *prep);
int backend_quote_ident(const char *name, char *out, size_t outlen);

/* backend_utility.c: commands sluice runs itself (sql_classify kinds). */
int utility_run(struct ctx *x, struct prepared *prep, const char *text);
/* Describe for a utility command: RowDescription or NoData. */
int utility_describe(struct ctx *x, struct prepared *prep);
/* Commands allowed in a failed block. */
bool utility_allowed_when_failed(const struct sql_command *cmd);

#endif
