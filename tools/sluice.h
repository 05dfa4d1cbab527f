/*
 * sluice.h — what the files of the `sluice` command-line tool share:
 * error output, exit statuses, opening a data directory's log, and the
 * subcommands the command line dispatches to.
 */
#ifndef SL_TOOLS_SLUICE_H
#define SL_TOOLS_SLUICE_H

#include <stdbool.h>
#include <stdint.h>

#include "replog.h"

enum tool_exit {
	TOOL_EXIT_OK = 0,
	TOOL_EXIT_FAIL = 1,  /* the command failed */
	TOOL_EXIT_USAGE = 2, /* the command line is wrong */
};

/* Prints "sluice: " and the message on stderr; returns TOOL_EXIT_FAIL. */
int tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Opens DATA_DIR/log (which must exist: it is never created here). On
 * failure prints why and returns TOOL_EXIT_FAIL. Opening repairs a torn
 * tail, so no server may have the log open.
 */
int tool_log_open(const char *data_dir, struct replog **log);

/* `sluice log dump`: prints every record from from_lsn (0: the start).
 * Returns a tool_exit status. */
int log_dump(const char *data_dir, uint64_t from_lsn, bool json);

/* True if text is an address `sluice status --host` takes: host:port or
 * [IPv6]:port, port 1 to 65535. */
bool status_address_valid(const char *text);

/* `sluice status`: finds the cluster from the node whose PostgreSQL client
 * port is at address (host:port) and prints every node. Returns
 * TOOL_EXIT_OK when every node answered, else TOOL_EXIT_FAIL. */
int status_show(const char *address, bool json);

/* One node as `sluice status` finds it (text as the node reports it). */
struct status_node {
	char name[256];
	char address[280]; /* its client address, host:port */
	char role[32];
	char current_lsn[32];
	char epoch[32];
	char error[512]; /* why it did not answer; "" if it did */
	bool ok;
};

/* The cluster as found from address: *out (free() it) holds *n nodes, the
 * leader first. 0, or SL_ENOMEM. */
int status_find(const char *address, struct status_node **out, size_t *n);

/* A libpq connection to the node at address, as `sluice status` makes
 * them (PGUSER, default sluice; dbname sluice; 5 s to connect), under the
 * application_name given; NULL with err. */
struct pg_conn;
struct pg_result;
struct pg_conn *status_connect(const char *address, const char *application, char *err, size_t errlen);
/* A connection to the leader, found from the first of the comma-separated
 * hosts that knows one (as `sluice status` finds it); NULL with err. */
struct pg_conn *status_leader_connect(const char *hosts, const char *application, char *err, size_t errlen);

/*
 * Sends sql with its text parameters and waits up to timeout_ms for its
 * last result, which it returns whatever its status (the caller
 * PQclear()s it); NULL with err when the connection failed or no answer
 * came in time.
 */
struct pg_result *tool_query(struct pg_conn *conn, const char *sql, int nparams, const char *const *values,
			     int timeout_ms, char *err, size_t errlen);
/* A failed result's error on one line: "ERROR SQLSTATE: message". */
void tool_result_error(const struct pg_result *res, char *out, size_t outlen);

/* `sluice promote NODE --host H:P[,H:P...] [--force] [--yes]`. Returns a
 * tool_exit status. */
int promote_run(const char *node, const char *addresses, bool force, bool yes);

/* `sluice cdc`: prints the change events of the cluster at the
 * comma-separated hosts from *from_lsn (NULL: the leader's end of log, or
 * with slot, where the slot stands; the slot is confirmed after each
 * answer is written out) in
 * format ("json" or "debezium"), of tables (comma-separated, NULL for
 * all), until endpos (NULL: until stopped); with snapshot, every row as a
 * read event first, then the stream from there. Returns a tool_exit status. */
int cdc_run(const char *hosts, const uint64_t *from_lsn, const char *format, const char *tables,
	    const uint64_t *endpos, bool snapshot, const char *slot);

/* `sluice slot create|drop NAME` and `sluice slot list [NAME] [--json]` on
 * the leader found from the comma-separated hosts. Returns a tool_exit
 * status. */
int slot_run(const char *action, const char *name, const char *hosts, bool json);

#endif
