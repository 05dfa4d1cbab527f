/*
 * backend_utility.c — the commands sluice runs itself instead of handing
 * them to SQLite: transaction control and savepoints, SET/SHOW/RESET,
 * cursors (DECLARE/FETCH/MOVE/CLOSE), DISCARD, DEALLOCATE, and the
 * PostgreSQL spellings of maintenance commands (VACUUM, ANALYZE,
 * TRUNCATE, CHECKPOINT). Runs on an executor thread inside backend_run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend_internal.h"
#include "pgtypes.h"
#include "pgwire.h"
#include "sql_rewrite.h"
#include "walsender.h"
#include "sqlstate.h"

bool utility_allowed_when_failed(const struct sql_command *cmd)
{
	return cmd->kind == SQL_ROLLBACK || cmd->kind == SQL_ROLLBACK_TO || cmd->kind == SQL_COMMIT;
}

static int complete(struct ctx *x, const char *tag)
{
	pgwire_put_command_complete(x->out, tag);
	return STEP_OK;
}

static bool is_on(const char *v)
{
	return strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
	       strcasecmp(v, "yes") == 0;
}

/* ------------------------------------------------------------ transactions */

static int run_begin(struct ctx *x, const struct sql_command *cmd)
{
	struct session *s = x->s;
	if (s->txn != TXN_IDLE && !s->implicit) {
		backend_notice(x, "WARNING", SQLSTATE_ACTIVE_SQL_TRANSACTION, "there is already a transaction in progress");
		return complete(x, "BEGIN");
	}
	if (s->txn == TXN_IDLE)
		s->txn = TXN_BLOCK;
	s->implicit = false;
	const char *deflt = session_get(s, "default_transaction_read_only");
	s->txn_read_only = cmd->read_only == 1 || (cmd->read_only == -1 && deflt && is_on(deflt));
	return complete(x, "BEGIN");
}

static int run_commit(struct ctx *x, bool commit)
{
	struct session *s = x->s;
	if (s->txn == TXN_IDLE || s->implicit) {
		if (!s->implicit)
			backend_notice(x, "WARNING", SQLSTATE_NO_ACTIVE_SQL_TRANSACTION, "there is no transaction in progress");
		else
			backend_txn_finish(x, commit && s->txn == TXN_BLOCK);
		return complete(x, commit ? "COMMIT" : "ROLLBACK");
	}
	bool failed = s->txn == TXN_FAILED;
	int rc = backend_txn_finish(x, commit && !failed);
	if (rc != STEP_OK)
		return rc;
	return complete(x, commit && !failed ? "COMMIT" : "ROLLBACK");
}

static int savepoint_index(struct session *s, const char *name)
{
	for (int i = s->nsavepoints - 1; i >= 0; i--)
		if (strcmp(s->savepoints[i], name) == 0)
			return i;
	return -1;
}

static int savepoint_sql(struct ctx *x, const char *verb, const char *name)
{
	if (!x->s->bound)
		return STEP_OK;
	char q[SQL_NAME_MAX * 2 + 4], sql[SQL_NAME_MAX * 2 + 32];
	if (backend_quote_ident(name, q, sizeof(q)) != 0)
		return backend_error(x, SQLSTATE_PROGRAM_LIMIT, "savepoint name too long");
	snprintf(sql, sizeof(sql), "%s %s", verb, q);
	if (dbconn_exec(x->s->bound, sql) != SQLITE_OK)
		return backend_sqlite_error(x, x->s->bound);
	return STEP_OK;
}

static int run_savepoint(struct ctx *x, const struct sql_command *cmd)
{
	struct session *s = x->s;
	if (s->txn == TXN_IDLE || s->implicit)
		return backend_error(x, SQLSTATE_NO_ACTIVE_SQL_TRANSACTION,
				     "%s can only be used in transaction blocks",
				     cmd->kind == SQL_SAVEPOINT ? "SAVEPOINT"
				     : cmd->kind == SQL_RELEASE ? "RELEASE SAVEPOINT" : "ROLLBACK TO SAVEPOINT");
	if (cmd->kind == SQL_SAVEPOINT) {
		char **grown = realloc(s->savepoints, (size_t)(s->nsavepoints + 1) * sizeof(char *));
		char *name = grown ? strdup(cmd->name) : NULL;
		if (grown)
			s->savepoints = grown;
		if (!name)
			return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		int rc = savepoint_sql(x, "SAVEPOINT", name);
		if (rc != STEP_OK) {
			free(name);
			return rc;
		}
		s->savepoints[s->nsavepoints++] = name;
		return complete(x, "SAVEPOINT");
	}
	int i = savepoint_index(s, cmd->name);
	if (i < 0)
		return backend_error(x, SQLSTATE_SAVEPOINT_EXCEPTION, "savepoint \"%s\" does not exist", cmd->name);
	bool release = cmd->kind == SQL_RELEASE;
	int rc = savepoint_sql(x, release ? "RELEASE" : "ROLLBACK TO", cmd->name);
	if (rc != STEP_OK)
		return rc;
	int keep = release ? i : i + 1;
	while (s->nsavepoints > keep)
		free(s->savepoints[--s->nsavepoints]);
	if (!release)
		s->txn = TXN_BLOCK;
	return complete(x, release ? "RELEASE" : "ROLLBACK");
}

/* ------------------------------------------------------------ SET and SHOW */

static int run_set(struct ctx *x, const struct sql_command *cmd)
{
	struct session *s = x->s;
	char err[256];
	if (strcmp(cmd->name, "transaction") == 0 || strcmp(cmd->name, "session_characteristics") == 0) {
		if (cmd->read_only == 0 && s->read_only_node)
			return backend_error(x, SQLSTATE_READ_ONLY_TRANSACTION,
					     "cannot set transaction read-write mode on a read-only node");
		if (cmd->read_only != -1) {
			if (strcmp(cmd->name, "transaction") == 0)
				s->txn_read_only = cmd->read_only == 1;
			else if (session_set(s, "default_transaction_read_only", cmd->read_only ? "on" : "off", err,
					     sizeof(err)) != 0)
				return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED, "%s", err);
		}
		return complete(x, "SET");
	}
	if (strcmp(cmd->name, "transaction_read_only") == 0) {
		if (!is_on(cmd->value) && s->read_only_node)
			return backend_error(x, SQLSTATE_READ_ONLY_TRANSACTION,
					     "cannot set transaction read-write mode on a read-only node");
		s->txn_read_only = is_on(cmd->value);
		return complete(x, "SET");
	}
	if (cmd->is_default) {
		session_reset(s, cmd->name);
		return complete(x, "SET");
	}
	if (session_set(s, cmd->name, cmd->value, err, sizeof(err)) != 0)
		return backend_error(x, strncmp(err, "unrecognized", 12) == 0 ? SQLSTATE_UNDEFINED_OBJECT
									     : SQLSTATE_INVALID_TEXT,
				     "%s", err);
	return complete(x, "SET");
}

static void show_row(void *arg, const char *name, const char *value)
{
	struct ctx *x = arg;
	size_t m = pgwire_data_row_begin(x->out, 2);
	pgwire_data_row_value(x->out, name, strlen(name));
	pgwire_data_row_value(x->out, value ? value : "", value ? strlen(value) : 0);
	pgwire_end(x->out, m);
}

static void show_config_row(void *arg, const char *name, const char *value, const char *help)
{
	show_row(arg, name, value);
}

static void show_description(struct ctx *x, const struct sql_command *cmd)
{
	if (cmd->all) {
		size_t m = pgwire_row_description_begin(x->out, 2);
		pgwire_row_description_field(x->out, "name", OID_TEXT, -1, 0);
		pgwire_row_description_field(x->out, "setting", OID_TEXT, -1, 0);
		pgwire_end(x->out, m);
	} else {
		size_t m = pgwire_row_description_begin(x->out, 1);
		pgwire_row_description_field(x->out, cmd->name, OID_TEXT, -1, 0);
		pgwire_end(x->out, m);
	}
}

static int run_show(struct ctx *x, const struct sql_command *cmd)
{
	if (cmd->all) {
		if (!x->extended)
			show_description(x, cmd);
		session_foreach_setting(x->s, show_row, x);
		config_foreach(&x->s->cfg, show_config_row, x);
		return complete(x, "SHOW");
	}
	const char *value = session_get(x->s, cmd->name);
	if (!value)
		return backend_error(x, SQLSTATE_UNDEFINED_OBJECT, "unrecognized configuration parameter \"%s\"",
				     cmd->name);
	if (!x->extended)
		show_description(x, cmd);
	size_t m = pgwire_data_row_begin(x->out, 1);
	pgwire_data_row_value(x->out, value, strlen(value));
	pgwire_end(x->out, m);
	return complete(x, "SHOW");
}

/* ----------------------------------------------------------------- cursors */

static int run_declare(struct ctx *x, struct prepared *prep)
{
	struct session *s = x->s;
	const struct sql_command *cmd = &prep->cmd;
	if (s->txn == TXN_IDLE || s->implicit)
		return backend_error(x, SQLSTATE_NO_ACTIVE_SQL_TRANSACTION,
				     "DECLARE CURSOR can only be used in transaction blocks");
	if (cmd->hold)
		return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED, "WITH HOLD cursors are not supported");
	if (session_find_portal(s, cmd->name))
		return backend_error(x, SQLSTATE_DUPLICATE_CURSOR, "cursor \"%s\" already exists", cmd->name);
	if (prep->nparams > 0)
		return backend_error(x, SQLSTATE_UNDEFINED_PARAMETER, "there is no parameter $1");
	struct dbconn *c;
	int rc = backend_conn_for(x, !prep->readonly, prep->sql, &c);
	if (rc != STEP_OK)
		return rc;
	struct portal *p = backend_portal_new(x, cmd->name, prep);
	if (!p)
		return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
	p->is_cursor = true;
	p->conn = c;
	if (dbconn_prepare(c, prep->sql, &p->st, NULL) != SQLITE_OK || !p->st) {
		s->portals = p->next;
		p->st = NULL;
		backend_portal_close(x, p);
		return backend_sqlite_error(x, c);
	}
	p->ncols = sqlite3_column_count(p->st);
	if (cmd->binary && p->ncols > 0) {
		p->formats = calloc((size_t)p->ncols, sizeof(int16_t));
		if (p->formats)
			for (int i = 0; i < p->ncols; i++)
				p->formats[i] = 1;
	}
	return complete(x, "DECLARE CURSOR");
}

static struct portal *find_cursor(struct ctx *x, const char *name)
{
	struct portal *p = session_find_portal(x->s, name);
	return p && p->is_cursor ? p : NULL;
}

static int run_fetch(struct ctx *x, const struct sql_command *cmd)
{
	struct portal *p = find_cursor(x, cmd->name);
	if (!p)
		return backend_error(x, SQLSTATE_INVALID_CURSOR_NAME, "cursor \"%s\" does not exist", cmd->name);
	if (cmd->backward)
		return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED, "cursor can only scan forward");
	bool move = cmd->kind == SQL_MOVE;
	int rc = backend_portal_peek(x, p);
	if (rc != STEP_OK)
		return rc;
	if (!move && !x->extended && p->ncols > 0)
		backend_row_description(x, p);
	uint64_t sent = 0;
	uint64_t count = cmd->count <= 0 ? 0 : (uint64_t)cmd->count;
	if (count > 0 && !p->done) {
		rc = backend_portal_send(x, p, count == UINT64_MAX ? 0 : count, move, &sent);
		if (rc != STEP_OK)
			return rc;
	}
	char tag[48];
	snprintf(tag, sizeof(tag), "%s %llu", move ? "MOVE" : "FETCH", (unsigned long long)sent);
	return complete(x, tag);
}

static int run_close(struct ctx *x, const struct sql_command *cmd)
{
	struct session *s = x->s;
	bool found = false;
	for (struct portal **pp = &s->portals; *pp;) {
		struct portal *p = *pp;
		if (p->is_cursor && (cmd->all || strcmp(p->name, cmd->name) == 0)) {
			*pp = p->next;
			backend_portal_close(x, p);
			found = true;
		} else {
			pp = &p->next;
		}
	}
	if (!found && !cmd->all)
		return backend_error(x, SQLSTATE_INVALID_CURSOR_NAME, "cursor \"%s\" does not exist", cmd->name);
	return complete(x, "CLOSE CURSOR");
}

/* ------------------------------------------------------------- maintenance */

static int run_on_writer(struct ctx *x, const char *sql)
{
	struct dbconn *c;
	int rc = backend_conn_for(x, true, NULL, &c);
	if (rc != STEP_OK)
		return rc;
	if (dbconn_exec(c, sql) != SQLITE_OK)
		return backend_sqlite_error(x, c);
	return STEP_OK;
}

/* VACUUM or CHECKPOINT on the writer (dbconn_vacuum, dbconn_checkpoint). */
static int on_writer(struct ctx *x, int (*fn)(struct dbconn *))
{
	struct dbconn *c;
	int rc = backend_conn_for(x, true, NULL, &c);
	if (rc != STEP_OK)
		return rc;
	if (fn(c) != SQLITE_OK)
		return backend_sqlite_error(x, c);
	return STEP_OK;
}

static int outside_block(struct ctx *x, const char *what)
{
	if (x->s->txn != TXN_IDLE && !x->s->implicit)
		return backend_error(x, SQLSTATE_ACTIVE_SQL_TRANSACTION, "%s cannot run inside a transaction block", what);
	return STEP_OK;
}

/* Runs fmt once per table of a "a, b" list; the classifier gives the names
 * ready to paste into SQL (identifiers, quoted ones with their quotes). */
static int for_each_table(struct ctx *x, const char *tables, const char *fmt)
{
	const char *p = tables;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == 0)
			break;
		char name[SQL_VALUE_MAX], sql[SQL_VALUE_MAX + 64];
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		snprintf(sql, sizeof(sql), fmt, name);
		int rc = run_on_writer(x, sql);
		if (rc != STEP_OK)
			return rc;
		p += n;
	}
	return STEP_OK;
}

static int run_maintenance(struct ctx *x, const struct sql_command *cmd)
{
	int rc;
	switch (cmd->kind) {
	case SQL_VACUUM:
		if ((rc = outside_block(x, "VACUUM")) != STEP_OK || (rc = on_writer(x, dbconn_vacuum)) != STEP_OK)
			return rc;
		return complete(x, "VACUUM");
	case SQL_ANALYZE:
		rc = cmd->tables[0] ? for_each_table(x, cmd->tables, "ANALYZE %s") : run_on_writer(x, "ANALYZE");
		return rc != STEP_OK ? rc : complete(x, "ANALYZE");
	case SQL_TRUNCATE:
		rc = for_each_table(x, cmd->tables, "DELETE FROM %s");
		return rc != STEP_OK ? rc : complete(x, "TRUNCATE TABLE");
	case SQL_CHECKPOINT:
		if ((rc = outside_block(x, "CHECKPOINT")) != STEP_OK || (rc = on_writer(x, dbconn_checkpoint)) != STEP_OK)
			return rc;
		return complete(x, "CHECKPOINT");
	default:
		return backend_error(x, SQLSTATE_INTERNAL, "unexpected command");
	}
}

/* ---------------------------------------------------------------- dispatch */

int utility_run(struct ctx *x, struct prepared *prep, const char *text)
{
	struct session *s = x->s;
	const struct sql_command *cmd = &prep->cmd;
	switch (cmd->kind) {
	case SQL_BEGIN: return run_begin(x, cmd);
	case SQL_COMMIT: return run_commit(x, true);
	case SQL_ROLLBACK: return run_commit(x, false);
	case SQL_SAVEPOINT:
	case SQL_RELEASE:
	case SQL_ROLLBACK_TO: return run_savepoint(x, cmd);
	case SQL_SET: return run_set(x, cmd);
	case SQL_RESET:
		session_reset(s, cmd->all ? "all" : cmd->name);
		return complete(x, "RESET");
	case SQL_SHOW: return run_show(x, cmd);
	case SQL_DECLARE: return run_declare(x, prep);
	case SQL_FETCH:
	case SQL_MOVE: return run_fetch(x, cmd);
	case SQL_CLOSE: return run_close(x, cmd);
	case SQL_DISCARD: {
		int rc = outside_block(x, "DISCARD ALL");
		if (rc != STEP_OK)
			return rc;
		while (s->portals) {
			struct portal *p = s->portals;
			s->portals = p->next;
			backend_portal_close(x, p);
		}
		while (s->prepared) {
			struct prepared *p = s->prepared;
			s->prepared = p->next;
			prepared_unref(p);
		}
		session_reset(s, "all");
		return complete(x, "DISCARD ALL");
	}
	case SQL_DEALLOCATE:
		if (cmd->all) {
			while (s->prepared) {
				struct prepared *p = s->prepared;
				s->prepared = p->next;
				prepared_unref(p);
			}
			return complete(x, "DEALLOCATE ALL");
		}
		if (!session_find_prepared(s, cmd->name))
			return backend_error(x, SQLSTATE_INVALID_SQL_STATEMENT_NAME,
					     "prepared statement \"%s\" does not exist", cmd->name);
		session_drop_prepared(s, cmd->name);
		return complete(x, "DEALLOCATE");
	case SQL_LISTEN: {
		char word[16];
		sql_first_word(text, strlen(text), word, sizeof(word));
		for (char *c = word; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		return complete(x, word);
	}
	case SQL_CHECKPOINT:
	case SQL_VACUUM:
	case SQL_ANALYZE:
	case SQL_TRUNCATE: return run_maintenance(x, cmd);
	case SQL_VACUUM_INTO:
		return backend_error(x, SQLSTATE_INSUFFICIENT_PRIVILEGE,
				     "permission denied for VACUUM INTO: clients may not write files on the server");
	case SQL_REPL_IDENTIFY:
	case SQL_REPL_CREATE_SLOT:
	case SQL_REPL_DROP_SLOT:
	case SQL_REPL_START:
	case SQL_REPL_OTHER: return walsender_command(x, cmd);
	case SQL_OTHER: break;
	}
	return backend_error(x, SQLSTATE_INTERNAL, "unexpected command");
}

int utility_describe(struct ctx *x, struct prepared *prep)
{
	const struct sql_command *cmd = &prep->cmd;
	if (cmd->kind == SQL_SHOW) {
		show_description(x, cmd);
		return STEP_OK;
	}
	if (cmd->kind == SQL_FETCH) {
		struct portal *p = find_cursor(x, cmd->name);
		if (p && p->ncols > 0) {
			int rc = backend_portal_peek(x, p);
			if (rc != STEP_OK)
				return rc;
			backend_row_description(x, p);
			return STEP_OK;
		}
	}
	pgwire_put_simple(x->out, 'n');
	return STEP_OK;
}
