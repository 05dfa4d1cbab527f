/*
 * cdc.c — `sluice cdc --host H:P [--host H:P...] [--slot NAME | --from LSN]
 * [--snapshot] [--format json|debezium] [--tables t1,t2] [--endpos LSN]`: prints the
 * leader's change events, one JSON object per line (docs/CDC.md), and
 * follows new ones as they commit.
 *
 * It finds the leader from the hosts given (each as `sluice status` does,
 * so a follower's address leads to its leader) and polls
 * sluice_changes(from, CDC_BATCH_EVENTS, format, tables) there. Each
 * answer holds whole transactions; they are written and flushed before
 * the position moves to the last row's next_lsn, so the output never
 * holds half a transaction, and after a lost connection, a promotion or a
 * failover it goes on from the new leader exactly after the last
 * transaction printed. When an answer is empty (the leader's visible log
 * is all printed), it waits CDC_IDLE_MS before asking again.
 *
 * Without --from it starts at the leader's end of log: changes committed
 * from then on. --from 0/0 starts at the oldest record the leader keeps.
 * --snapshot first prints every row as a read event from one read
 * transaction on the leader (sluice_changes_snapshot), then the stream
 * from the LSN that transaction stands at.
 * --endpos prints the transactions that start before that LSN and stops.
 * --slot NAME starts where the slot stands (sluice_slots) and, after each
 * answer is written and flushed, confirms its next_lsn
 * (sluice_slot_confirm); when idle, at least every CDC_CONFIRM_MS, so
 * the slot shows active. Killed between writing and confirming, a restart
 * writes that answer again: it resumes after the last confirmed commit.
 * SIGINT and SIGTERM stop it between two answers (exit status 0).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "lsn.h"
#include "sl_time.h"
#include "sluice.h"

#define CDC_BATCH_EVENTS "5000"
#define CDC_IDLE_MS 100          /* between polls once caught up */
#define CDC_CONFIRM_MS 1000      /* --slot: confirm at least this often */
#define CDC_QUERY_TIMEOUT_MS 30000
#define CDC_RETRY_MS 200         /* between attempts to find a leader */
#define CDC_LEADERLESS_MS 120000 /* with no leader that long, give up */
#define CDC_ERROR_MAX 1024

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL); /* a signal ends it early, as it should */
}

/* True for an error that a later attempt, perhaps at another leader, may
 * not meet: this node no longer leads, or holds reads for a moment. */
static bool transient(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return !state || strcmp(state, "55000") == 0 || strncmp(state, "08", 2) == 0 ||
	       strncmp(state, "57", 2) == 0 || strcmp(state, "40001") == 0;
}

/* The leader's end of log, where a stream with no --from begins. */
static int start_position(PGconn *conn, char *lsn, size_t lsnlen, char *err, size_t errlen)
{
	PGresult *res = tool_query(conn, "SELECT sluice_current_lsn()", 0, NULL, CDC_QUERY_TIMEOUT_MS, err, errlen);
	if (!res)
		return -1;
	int rc = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		snprintf(lsn, lsnlen, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	} else {
		tool_result_error(res, err, errlen);
	}
	PQclear(res);
	return rc;
}

/* Writes an answer's events (columns data, next_lsn, lsn; those of
 * transactions before endpos, when given) and flushes them; moves from to
 * the last next_lsn written; *done once endpos is reached, *lines counts
 * what was written. */
static int print_events(const PGresult *res, char *from, size_t fromlen, const uint64_t *endpos, bool *done,
			int *lines)
{
	for (int i = 0; i < PQntuples(res); i++) {
		uint64_t lsn;
		if (endpos && lsn_parse(PQgetvalue(res, i, 2), &lsn) == 0 && lsn >= *endpos) {
			*done = true;
			break;
		}
		if (!PQgetisnull(res, i, 0)) {
			fwrite(PQgetvalue(res, i, 0), 1, (size_t)PQgetlength(res, i, 0), stdout);
			fputc('\n', stdout);
			++*lines;
		}
		if (!PQgetisnull(res, i, 1))
			snprintf(from, fromlen, "%s", PQgetvalue(res, i, 1));
	}
	uint64_t at;
	if (endpos && lsn_parse(from, &at) == 0 && at >= *endpos)
		*done = true;
	if (fflush(stdout) != 0 || ferror(stdout))
		return tool_error("could not write the output: %s", strerror(errno));
	return TOOL_EXIT_OK;
}

/* Runs sql; on failure says why in err and whether it may pass later. */
static bool run(PGconn *conn, const char *sql, PGresult **out, bool *retry, char *err, size_t errlen)
{
	PGresult *res = tool_query(conn, sql, 0, NULL, CDC_QUERY_TIMEOUT_MS, err, errlen);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (res && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		tool_result_error(res, err, errlen);
	*retry = !res || transient(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return true;
	}
	PQclear(res);
	return false;
}

/*
 * --snapshot: prints sluice_changes_snapshot's events, read through a
 * cursor in a read-only transaction (so that neither side holds the whole
 * database at once), and sets from to where the stream goes on. On
 * failure err says why, *printed whether some of it was already written
 * (then it cannot be taken again without duplicates), *retry whether a
 * later attempt may succeed.
 */
static bool snapshot(PGconn *conn, const char *format, const char *tables, char *from, size_t fromlen,
		     bool *printed, bool *retry, char *err, size_t errlen)
{
	static const char declare_fmt[] = "DECLARE sluice_cdc_snapshot NO SCROLL CURSOR FOR "
					   "SELECT data, next_lsn, lsn FROM sluice_changes_snapshot(%s, %s)";
	char *f = PQescapeLiteral(conn, format, strlen(format));
	char *t = tables ? PQescapeLiteral(conn, tables, strlen(tables)) : NULL;
	char *declare = NULL;
	if (f && (!tables || t)) {
		size_t len = sizeof(declare_fmt) + strlen(f) + (t ? strlen(t) : 4);
		if ((declare = malloc(len)))
			snprintf(declare, len, declare_fmt, f, t ? t : "NULL");
	}
	PQfreemem(f);
	PQfreemem(t);
	*printed = false;
	*retry = true;
	if (!declare) {
		snprintf(err, errlen, "%s", PQerrorMessage(conn)[0] ? PQerrorMessage(conn) : "out of memory");
		return false;
	}
	bool opened = run(conn, "BEGIN READ ONLY", NULL, retry, err, errlen) && run(conn, declare, NULL, retry, err, errlen);
	free(declare);
	if (!opened)
		return false;
	for (;;) {
		PGresult *res;
		if (!run(conn, "FETCH " CDC_BATCH_EVENTS " FROM sluice_cdc_snapshot", &res, retry, err, errlen))
			return false;
		int rows = PQntuples(res), lines = 0;
		bool done = false;
		int wrote = print_events(res, from, fromlen, NULL, &done, &lines);
		PQclear(res);
		*printed = *printed || lines > 0;
		if (wrote != TOOL_EXIT_OK) {
			snprintf(err, errlen, "could not write the output");
			*retry = false;
			return false;
		}
		if (rows == 0)
			break;
	}
	if (!from[0]) {
		snprintf(err, errlen, "the snapshot ended without its position");
		*retry = false;
		return false;
	}
	return run(conn, "COMMIT", NULL, retry, err, errlen);
}

/* Where the slot stands on the leader, into lsn; on failure err says why
 * and *retry whether a later attempt may succeed. */
static bool slot_position(PGconn *conn, const char *slot, char *lsn, size_t lsnlen, bool *retry, char *err,
			  size_t errlen)
{
	const char *values[] = { slot };
	PGresult *res = tool_query(conn, "SELECT confirmed_lsn, lost FROM sluice_slots WHERE slot_name = $1", 1, values,
				   CDC_QUERY_TIMEOUT_MS, err, errlen);
	*retry = !res || transient(res);
	bool ok = false;
	if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
		tool_result_error(res, err, errlen);
	else if (res && PQntuples(res) == 0)
		snprintf(err, errlen, "replication slot \"%s\" does not exist (sluice slot create %s)", slot, slot);
	else if (res && strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		snprintf(err, errlen, "replication slot \"%s\" is lost: its changes are no longer kept", slot);
	else if (res) {
		snprintf(lsn, lsnlen, "%s", PQgetvalue(res, 0, 0));
		ok = true;
	}
	if (res && !ok && PQresultStatus(res) == PGRES_TUPLES_OK)
		*retry = false;
	PQclear(res);
	return ok;
}

/* Confirms the slot up to from (everything before it is written out). */
static bool slot_confirm(PGconn *conn, const char *slot, const char *from, bool *retry, char *err, size_t errlen)
{
	const char *values[] = { slot, from };
	PGresult *res = tool_query(conn, "SELECT sluice_slot_confirm($1, $2)", 2, values, CDC_QUERY_TIMEOUT_MS, err,
				   errlen);
	bool ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
	if (res && !ok)
		tool_result_error(res, err, errlen);
	*retry = !res || transient(res);
	PQclear(res);
	return ok;
}

int cdc_run(const char *hosts, const uint64_t *from_lsn, const char *format, const char *tables,
	    const uint64_t *endpos, bool want_snapshot, const char *slot)
{
	char confirmed[LSN_TEXT_MAX] = ""; /* what the slot was last told */
	int64_t confirmed_ms = 0;
	char from[LSN_TEXT_MAX] = "", err[CDC_ERROR_MAX] = "";
	if (from_lsn)
		lsn_format(*from_lsn, from);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	PGconn *conn = NULL;
	int64_t leaderless_since = sl_monotonic_ms();
	int rc = TOOL_EXIT_OK;
	while (!stopping) {
		uint64_t at;
		if (endpos && lsn_parse(from, &at) == 0 && at >= *endpos)
			break; /* nothing before endpos left to print */
		if (!conn) {
			conn = status_leader_connect(hosts, "sluice cdc", err, sizeof(err));
			bool retry = true;
			if (conn && slot && !from[0] && !want_snapshot &&
			    !slot_position(conn, slot, from, sizeof(from), &retry, err, sizeof(err))) {
				PQfinish(conn);
				conn = NULL;
				if (!retry) {
					rc = tool_error("%s", err);
					break;
				}
			}
			if (conn && !from[0] && !want_snapshot &&
			    start_position(conn, from, sizeof(from), err, sizeof(err)) != 0) {
				PQfinish(conn);
				conn = NULL;
			}
			if (!conn) {
				if (sl_monotonic_ms() - leaderless_since > CDC_LEADERLESS_MS) {
					rc = tool_error("no leader for %d s: %s", CDC_LEADERLESS_MS / 1000, err);
					break;
				}
				sleep_ms(CDC_RETRY_MS);
				continue;
			}
		}
		if (want_snapshot) {
			bool printed, retry;
			if (!snapshot(conn, format, tables, from, sizeof(from), &printed, &retry, err, sizeof(err))) {
				if (printed || !retry) {
					rc = tool_error("the snapshot %s: %s", printed ? "was cut short" : "failed", err);
					break;
				}
				PQfinish(conn);
				conn = NULL;
				continue;
			}
			want_snapshot = false;
			leaderless_since = sl_monotonic_ms();
		}
		const char *values[] = { from, CDC_BATCH_EVENTS, format, tables };
		PGresult *res = tool_query(conn,
					   "SELECT data, next_lsn, lsn FROM sluice_changes($1, $2::integer, $3, $4)", 4,
					   values, CDC_QUERY_TIMEOUT_MS, err, sizeof(err));
		if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
			if (res && !transient(res)) {
				tool_result_error(res, err, sizeof(err));
				PQclear(res);
				rc = tool_error("%s", err);
				break;
			}
			PQclear(res);
			PQfinish(conn);
			conn = NULL;
			continue;
		}
		leaderless_since = sl_monotonic_ms();
		bool done = false;
		int lines = 0;
		rc = print_events(res, from, sizeof(from), endpos, &done, &lines);
		int rows = PQntuples(res);
		PQclear(res);
		if (rc != TOOL_EXIT_OK)
			break;
		/* the slot learns each new position once written out, and at
		 * least every CDC_CONFIRM_MS, which shows it active */
		if (slot && (strcmp(from, confirmed) != 0 || sl_monotonic_ms() - confirmed_ms >= CDC_CONFIRM_MS)) {
			bool retry;
			if (!slot_confirm(conn, slot, from, &retry, err, sizeof(err))) {
				if (!retry) {
					rc = tool_error("%s", err);
					break;
				}
				PQfinish(conn);
				conn = NULL;
				continue;
			}
			snprintf(confirmed, sizeof(confirmed), "%s", from);
			confirmed_ms = sl_monotonic_ms();
		}
		if (done)
			break;
		if (rows == 0)
			sleep_ms(CDC_IDLE_MS);
	}
	PQfinish(conn);
	return rc;
}
