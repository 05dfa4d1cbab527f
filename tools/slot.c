/*
 * slot.c — `sluice slot create|drop NAME --host H:P[,H:P...]` and
 * `sluice slot list [NAME] --host H:P[,H:P...]`: CDC slots on the leader
 * found from the hosts given, through the slot functions
 * (server/exec/slotfuncs.h), which need an admin user.
 *
 *   create  makes the slot at the end of the leader's visible log and
 *           prints "slot NAME created at LSN";
 *   drop    forgets it and prints "slot NAME dropped";
 *   list    prints one line per slot (or only NAME's): name, plugin,
 *           confirmed LSN, lag in bytes and seconds, active, lost; with
 *           --json one JSON object per line with the same fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "json.h"
#include "sluice.h"
#include "table.h"

#define SLOT_QUERY_TIMEOUT_MS 30000
#define SLOT_ERROR_MAX 1024

/* Runs sql with its parameters on the leader; the result, or NULL after
 * the error was printed. */
static PGresult *leader_query(const char *hosts, const char *sql, int nparams, const char *const *values)
{
	char err[SLOT_ERROR_MAX];
	PGconn *conn = status_leader_connect(hosts, "sluice slot", err, sizeof(err));
	if (!conn) {
		tool_error("%s", err);
		return NULL;
	}
	PGresult *res = tool_query(conn, sql, nparams, values, SLOT_QUERY_TIMEOUT_MS, err, sizeof(err));
	PQfinish(conn);
	if (!res) {
		tool_error("%s", err);
		return NULL;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		tool_result_error(res, err, sizeof(err));
		PQclear(res);
		tool_error("%s", err);
		return NULL;
	}
	return res;
}

static const char *const list_columns[] = { "slot_name", "plugin",	"confirmed_lsn", "lag_bytes",
					    "lag_seconds", "active", "lost" };
#define LIST_NCOLS (int)(sizeof(list_columns) / sizeof(list_columns[0]))

static void print_json(const PGresult *res, int row)
{
	struct buf b;
	buf_init(&b);
	buf_put_u8(&b, '{');
	for (int c = 0; c < LIST_NCOLS; c++) {
		json_put_cstr(&b, list_columns[c]);
		buf_put_u8(&b, ':');
		const char *v = PQgetvalue(res, row, c);
		if (PQgetisnull(res, row, c))
			buf_append(&b, "null", 4);
		else if (c >= 3 && c <= 4) /* numbers */
			buf_append(&b, v, strlen(v));
		else if (c >= 5) /* booleans */
			buf_printf(&b, "%s", strcmp(v, "t") == 0 ? "true" : "false");
		else
			json_put_cstr(&b, v);
		buf_put_u8(&b, c + 1 < LIST_NCOLS ? ',' : '}');
	}
	buf_put_u8(&b, '\n');
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

static int list(const char *hosts, const char *name, bool json)
{
	const char *values[] = { name };
	PGresult *res = leader_query(hosts,
				     "SELECT slot_name, plugin, confirmed_lsn, lag_bytes, round(lag_seconds, 3), "
				     "CASE WHEN active THEN 't' ELSE 'f' END, CASE WHEN lost THEN 't' ELSE 'f' END "
				     "FROM sluice_slots WHERE $1::text IS NULL OR slot_name = $1 ORDER BY slot_name",
				     1, values);
	if (!res)
		return TOOL_EXIT_FAIL;
	if (name && PQntuples(res) == 0) {
		PQclear(res);
		return tool_error("replication slot \"%s\" does not exist", name);
	}
	static const struct table_column cols[] = {
		{ "NAME", TABLE_LEFT, false },	      { "PLUGIN", TABLE_LEFT, false }, { "CONFIRMED", TABLE_LEFT, false },
		{ "LAG_BYTES", TABLE_RIGHT, false }, { "LAG_SECONDS", TABLE_RIGHT, false },
		{ "ACTIVE", TABLE_LEFT, false },     { "LOST", TABLE_LEFT, false },
	};
	struct table t;
	table_init(&t, cols, LIST_NCOLS);
	int rc = 0;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		if (json) {
			print_json(res, i);
			continue;
		}
		const char *cells[LIST_NCOLS];
		for (int c = 0; c < LIST_NCOLS; c++)
			cells[c] = PQgetvalue(res, i, c);
		cells[5] = strcmp(cells[5], "t") == 0 ? "yes" : "no";
		cells[6] = strcmp(cells[6], "t") == 0 ? "yes" : "no";
		rc = table_add_row(&t, cells);
	}
	struct buf out;
	buf_init(&out);
	if (!json)
		table_format(&t, &out);
	table_free(&t);
	if (rc != 0 || out.oom) {
		buf_free(&out);
		PQclear(res);
		return tool_error("out of memory");
	}
	if (out.len > 0) /* --json wrote its lines already */
		fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	PQclear(res);
	return fflush(stdout) == 0 ? TOOL_EXIT_OK : tool_error("could not write the output");
}

int slot_run(const char *action, const char *name, const char *hosts, bool json)
{
	if (strcmp(action, "list") == 0)
		return list(hosts, name, json);
	bool create = strcmp(action, "create") == 0;
	const char *values[] = { name };
	PGresult *res = leader_query(hosts, create ? "SELECT sluice_slot_create($1)" : "SELECT sluice_slot_drop($1)", 1,
				     values);
	if (!res)
		return TOOL_EXIT_FAIL;
	if (create)
		printf("slot %s created at %s\n", name, PQgetvalue(res, 0, 0));
	else
		printf("slot %s dropped\n", name);
	PQclear(res);
	return fflush(stdout) == 0 ? TOOL_EXIT_OK : tool_error("could not write the output");
}
