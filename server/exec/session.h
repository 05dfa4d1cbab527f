/*
 * session.h — the SQL-level state of one client session: transaction
 * state, prepared statements, portals and cursors, session settings.
 *
 * Ownership moves with the session's job: while a job is queued or
 * running, only the executor thread running it touches the session; at
 * other times only the loop thread does. A session has at most one job.
 */
#ifndef SL_SESSION_H
#define SL_SESSION_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "dbpool.h"
#include "sql_split.h"

enum txn_state {
	TXN_IDLE = 0, /* no transaction block */
	TXN_BLOCK,    /* in a block (explicit, or implicit until Sync / end of query) */
	TXN_FAILED,   /* an error happened in the block: only ROLLBACK helps */
};

struct prepared {
	char *name;
	char *text;  /* the statement as the client wrote it */
	char *sql;   /* rewritten for SQLite; NULL for a command sluice runs itself */
	struct sql_command cmd;
	int nparams;
	uint32_t *param_oids;
	bool readonly; /* SQLite says the statement does not write */
	int refs;      /* the session's list and each portal */
	struct prepared *next;
};

struct portal {
	char *name;
	struct prepared *prep; /* counted reference */
	struct dbconn *conn;   /* the connection st belongs to */
	sqlite3_stmt *st;      /* NULL for a command sluice runs itself */
	int ncols;
	uint32_t *oids;        /* decided once, on first describe or execute */
	int16_t *formats;      /* per column: 0 text, 1 binary */
	bool row_ready;        /* a stepped row waits to be sent */
	bool done;
	uint64_t rows;
	bool is_cursor;
	struct portal *next;
};

struct setting {
	char *name;  /* lower case */
	char *value;
	struct setting *next;
};

struct session {
	uint32_t pid, secret;
	char user[64];
	char database[64];
	enum txn_state txn;
	bool implicit;          /* the block ends at Sync / end of the query string */
	bool txn_read_only;     /* BEGIN READ ONLY / SET TRANSACTION READ ONLY */
	bool skip_till_sync;    /* extended protocol: discard messages after an error */
	struct dbconn *bound;   /* connection holding this session's transaction */
	uint64_t snapshot_commits; /* commit count when a read snapshot began */
	char **savepoints;
	int nsavepoints;
	struct prepared *prepared;
	struct portal *portals;
	struct setting *settings;
	struct config cfg;      /* the server's settings, with this session's SETs */
	struct buf reports;     /* ParameterStatus messages owed after SET */
	bool read_only_node;
	char scratch[64];       /* for values formatted on demand */
	bool replication;       /* replication=database: PostgreSQL's replication commands too */
	struct walsender *wal;  /* streaming after START_REPLICATION (walsender.h), or NULL */
};

struct session *session_new(const struct config *cfg, uint32_t pid, uint32_t secret, bool read_only_node);
/*
 * The node became a leader (false) or a follower (true): in_hot_standby
 * and default_transaction_read_only follow, and ParameterStatus for both
 * is queued in reports. 0 or SL_ENOMEM.
 */
int session_set_read_only_node(struct session *s, bool read_only_node);
/* is_superuser: on for an admin user (admin_users), off otherwise; set
 * once at start-up, before the parameters are reported. 0 or SL_ENOMEM. */
int session_set_superuser(struct session *s, bool admin);
/* Frees what the session owns; its portals' statements must be closed first. */
void session_free(struct session *s);

/* Settings: SET/SHOW/RESET, and the ones reported to the client. */
const char *session_get(struct session *s, const char *name);
/* Returns 0, or -1 with a message in err. */
int session_set(struct session *s, const char *name, const char *value, char *err, size_t errlen);
void session_reset(struct session *s, const char *name);
/*
 * The start-up packet's "options" (libpq's options= and PGOPTIONS), as
 * PostgreSQL reads them: arguments split at unescaped white space, a
 * backslash escaping the next character, each `-c name=value`,
 * `-cname=value` or `--name=value`, set as by SET. 0, or -1 with err.
 */
int session_set_options(struct session *s, const char *options, char *err, size_t errlen);
/* Appends ParameterStatus for every reported setting (at start-up). */
void session_report_all(struct session *s, struct buf *out);
void session_foreach_setting(struct session *s, void (*fn)(void *, const char *, const char *), void *arg);

struct prepared *session_find_prepared(struct session *s, const char *name);
void session_add_prepared(struct session *s, struct prepared *p);
void session_drop_prepared(struct session *s, const char *name);
void prepared_unref(struct prepared *p);

struct portal *session_find_portal(struct session *s, const char *name);

#endif
