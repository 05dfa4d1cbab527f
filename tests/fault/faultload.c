/*
 * faultload.c — the fault suite's workload: writers and readers through
 * libpq that record every operation, with its outcome, in a history file
 * for tests/fault/check.py.
 *
 *   faultload --rw CONNINFO [--read NAME=CONNINFO ...] --out FILE
 *             [--writers N] [--seconds S] [--seed N] [--keys K]
 *             [--accounts A] [--op-timeout S]
 *
 * The tables exist already (tests/fault/faultlib.sh creates them):
 *   fset(id INTEGER PRIMARY KEY, epoch INTEGER, node TEXT)  -- the set
 *   reg(k INTEGER PRIMARY KEY, v INTEGER)   -- K registers, v = 0 at first
 *   bank(id INTEGER PRIMARY KEY, bal INTEGER)  -- A accounts
 *
 * Writers (N threads, default 4) connect with CONNINFO (a multi-host string
 * with target_session_attrs=read-write finds the leader) and loop until S
 * seconds passed or SIGTERM/SIGINT arrived, each step one of:
 *   set   INSERT of a new unique id (writer * 10^9 + its counter), which
 *         also stores the epoch and node_name of sluice_status;
 *   reg   UPDATE reg SET v = a new unique value WHERE k = random key;
 *   bank  BEGIN; two UPDATEs moving a random amount between two random
 *         accounts; COMMIT (the total never changes).
 * Every write answers the leader's (epoch, node_name) through RETURNING,
 * so the history says who acknowledged it.
 * Readers (one thread per --read) stay on their node and read, every 20 ms,
 * the set's size and the bank's total in one statement (one snapshot).
 *
 * Outcome of an operation:
 *   ok       the server answered success (for bank: COMMIT succeeded);
 *   failed   it certainly did not take effect: an error before COMMIT, or
 *            an ERROR whose SQLSTATE says the statement was refused;
 *   unknown  the COMMIT (or the autocommit statement) may or may not have
 *            taken effect: the connection broke, the answer did not come
 *            within --op-timeout seconds (default 10), or the SQLSTATE is
 *            40003 (completion unknown), 08xxx or 57Pxx.
 * After an unknown or a broken connection the writer reconnects.
 *
 * History: one line per operation, tab-separated:
 *   KIND WORKER KEY VALUE START_US END_US OUTCOME EPOCH NODE SQLSTATE
 * KIND is set, reg, bank or read; times are CLOCK_REALTIME microseconds
 * (comparable with the nemesis's log); EPOCH and NODE are those RETURNING
 * gave (0 and - when not ok). set: KEY = the id; reg: KEY = k, VALUE = v;
 * bank: KEY = from account, VALUE = amount; read: KEY = set size, VALUE =
 * bank total, NODE = the reader's name.
 * Exit status 0, or 1 for a wrong command line or an unwritable FILE.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum outcome { OUTCOME_OK, OUTCOME_FAILED, OUTCOME_UNKNOWN };
static const char *const outcome_names[] = { "ok", "failed", "unknown" };

#define MAX_READERS 8

struct options {
	const char *rw_conninfo;
	const char *reader_names[MAX_READERS];
	const char *reader_conninfo[MAX_READERS];
	int readers;
	const char *out_path;
	int writers;
	int seconds;
	uint64_t seed;
	int keys;
	int accounts;
	int op_timeout_s;
};

static struct options opt = { .writers = 4, .seconds = 30, .seed = 1, .keys = 8, .accounts = 5, .op_timeout_s = 10 };
static volatile sig_atomic_t stop_requested;
static int64_t deadline_us;
static FILE *history;
static pthread_mutex_t history_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool running(void) { return !stop_requested && now_us() < deadline_us; }

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* xorshift64*: each thread has its own, seeded from --seed and its number */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static int rng_below(uint64_t *s, int n) { return (int)(rng_next(s) % (uint64_t)n); }

/* What one statement answered. */
struct answer {
	bool success;    /* every result was COMMAND_OK or TUPLES_OK */
	bool conn_lost;  /* the connection broke or timed out */
	char sqlstate[6];
	int64_t epoch;   /* RETURNING's first column, if any */
	char node[64];   /* RETURNING's second column, if any */
	char col0[32];   /* first column of a plain SELECT */
	char col1[32];
};

static void answer_take(struct answer *a, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK) {
		if (PQntuples(res) > 0 && PQnfields(res) >= 2) {
			snprintf(a->col0, sizeof(a->col0), "%s", PQgetvalue(res, 0, 0));
			snprintf(a->col1, sizeof(a->col1), "%s", PQgetvalue(res, 0, 1));
			a->epoch = strtoll(a->col0, NULL, 10);
			snprintf(a->node, sizeof(a->node), "%s", a->col1);
		}
		return;
	}
	if (st == PGRES_COMMAND_OK)
		return;
	a->success = false;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state && !a->sqlstate[0])
		snprintf(a->sqlstate, sizeof(a->sqlstate), "%s", state);
}

/*
 * Sends SQL and collects its results, waiting at most --op-timeout seconds
 * in all. On a timeout or a broken connection, conn_lost is set and the
 * caller must drop the connection.
 */
static struct answer run_sql(PGconn *c, const char *sql)
{
	struct answer a = { .success = true };
	int64_t limit = now_us() + (int64_t)opt.op_timeout_s * 1000000;
	if (!PQsendQuery(c, sql)) {
		a.success = false;
		a.conn_lost = true;
		return a;
	}
	for (;;) {
		while (!PQisBusy(c)) {
			PGresult *res = PQgetResult(c);
			if (!res)
				goto done;
			answer_take(&a, res);
			PQclear(res);
		}
		int64_t left_ms = (limit - now_us()) / 1000;
		if (left_ms <= 0) {
			a.success = false;
			a.conn_lost = true;
			return a;
		}
		struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
		int n = poll(&p, 1, left_ms > 200 ? 200 : (int)left_ms);
		if (n < 0 && errno != EINTR) {
			a.success = false;
			a.conn_lost = true;
			return a;
		}
		if (n > 0 && !PQconsumeInput(c)) {
			a.success = false;
			a.conn_lost = true;
			return a;
		}
	}
done:
	if (PQstatus(c) != CONNECTION_OK) {
		a.success = false;
		a.conn_lost = true;
	}
	return a;
}

/* An error that leaves the statement's effect unknown. */
static bool sqlstate_unknown(const char *s)
{
	return !s[0] || strcmp(s, "40003") == 0 || strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0;
}

/* The outcome of the statement that commits (COMMIT or an autocommit one). */
static enum outcome commit_outcome(const struct answer *a)
{
	if (a->success)
		return OUTCOME_OK;
	/* a refusal the server named stays a refusal, also when a FATAL closed the connection */
	if (sqlstate_unknown(a->sqlstate))
		return OUTCOME_UNKNOWN;
	return OUTCOME_FAILED;
}

static void history_write(const char *kind, int worker, int64_t key, int64_t value, int64_t t0, int64_t t1,
			  enum outcome o, int64_t epoch, const char *node, const char *sqlstate)
{
	pthread_mutex_lock(&history_mu);
	fprintf(history, "%s\t%d\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%" PRId64 "\t%s\t%s\n", kind,
		worker, key, value, t0, t1, outcome_names[o], o == OUTCOME_OK ? epoch : 0, node[0] ? node : "-",
		sqlstate[0] ? sqlstate : "-");
	pthread_mutex_unlock(&history_mu);
}

static PGconn *connect_to(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	if (c && PQstatus(c) == CONNECTION_OK) {
		PQsetNoticeProcessor(c, quiet_notice, NULL);
		return c;
	}
	PQfinish(c);
	return NULL;
}

static void pause_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

#define RETURNING_WHO " RETURNING (SELECT epoch FROM sluice_status), (SELECT node_name FROM sluice_status)"

/* One bank transfer; returns the outcome and fills *a with the COMMIT's answer. */
static enum outcome bank_transfer(PGconn *c, int from, int to, int amount, struct answer *a)
{
	char sql[256];
	*a = run_sql(c, "BEGIN");
	if (a->success) {
		snprintf(sql, sizeof(sql), "UPDATE bank SET bal = bal - %d WHERE id = %d", amount, from);
		*a = run_sql(c, sql);
	}
	if (a->success) {
		snprintf(sql, sizeof(sql), "UPDATE bank SET bal = bal + %d WHERE id = %d" RETURNING_WHO, amount, to);
		*a = run_sql(c, sql);
	}
	if (!a->success) {
		/* nothing was committed; end the block if the connection lives */
		if (!a->conn_lost)
			run_sql(c, "ROLLBACK");
		return OUTCOME_FAILED;
	}
	int64_t epoch = a->epoch;
	char node[64];
	snprintf(node, sizeof(node), "%s", a->node);
	*a = run_sql(c, "COMMIT");
	a->epoch = epoch;
	snprintf(a->node, sizeof(a->node), "%s", node);
	return commit_outcome(a);
}

static void *writer_main(void *arg)
{
	int worker = (int)(intptr_t)arg;
	uint64_t rng = opt.seed * 0x9E3779B97F4A7C15ULL + (uint64_t)worker + 1;
	int64_t counter = 0;
	PGconn *c = NULL;
	while (running()) {
		if (!c && !(c = connect_to(opt.rw_conninfo))) {
			pause_ms(50);
			continue;
		}
		char sql[256];
		struct answer a;
		enum outcome o;
		int64_t t0 = now_us(), key, value;
		const char *kind;
		int pick = rng_below(&rng, 100);
		if (pick < 45) {
			kind = "set";
			key = (int64_t)worker * 1000000000 + ++counter;
			value = 0;
			snprintf(sql, sizeof(sql),
				 "INSERT INTO fset (id, epoch, node) SELECT %" PRId64
				 ", epoch, node_name FROM sluice_status RETURNING epoch, node",
				 key);
			a = run_sql(c, sql);
			o = commit_outcome(&a);
		} else if (pick < 75) {
			kind = "reg";
			key = rng_below(&rng, opt.keys);
			value = (int64_t)worker * 1000000000 + ++counter;
			snprintf(sql, sizeof(sql), "UPDATE reg SET v = %" PRId64 " WHERE k = %" PRId64 RETURNING_WHO, value,
				 key);
			a = run_sql(c, sql);
			o = commit_outcome(&a);
		} else {
			kind = "bank";
			int from = rng_below(&rng, opt.accounts);
			int to = (from + 1 + rng_below(&rng, opt.accounts - 1)) % opt.accounts;
			key = from;
			value = 1 + rng_below(&rng, 20);
			o = bank_transfer(c, from, to, (int)value, &a);
		}
		history_write(kind, worker, key, value, t0, now_us(), o, a.epoch, o == OUTCOME_OK ? a.node : "",
			      a.sqlstate);
		if (a.conn_lost || o == OUTCOME_UNKNOWN) {
			PQfinish(c);
			c = NULL;
		} else if (o == OUTCOME_FAILED) {
			/* refused (a follower now, or fenced): find the leader again */
			PQfinish(c);
			c = NULL;
			pause_ms(20);
		}
	}
	PQfinish(c);
	return NULL;
}

static void *reader_main(void *arg)
{
	int r = (int)(intptr_t)arg;
	PGconn *c = NULL;
	while (running()) {
		if (!c && !(c = connect_to(opt.reader_conninfo[r]))) {
			pause_ms(100);
			continue;
		}
		int64_t t0 = now_us();
		struct answer a =
			run_sql(c, "SELECT (SELECT count(*) FROM fset), (SELECT coalesce(sum(bal), 0) FROM bank)");
		enum outcome o = a.success && a.col0[0] ? OUTCOME_OK : OUTCOME_FAILED;
		int64_t count = o == OUTCOME_OK ? strtoll(a.col0, NULL, 10) : 0;
		int64_t total = o == OUTCOME_OK ? strtoll(a.col1, NULL, 10) : 0;
		history_write("read", 100 + r, count, total, t0, now_us(), o, 0, opt.reader_names[r], a.sqlstate);
		if (a.conn_lost) {
			PQfinish(c);
			c = NULL;
		}
		pause_ms(20);
	}
	PQfinish(c);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: faultload --rw CONNINFO [--read NAME=CONNINFO ...] --out FILE [--writers N]\n"
			"                 [--seconds S] [--seed N] [--keys K] [--accounts A] [--op-timeout S]\n");
	exit(1);
}

static int number(const char *s, int min)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < min || v > 1000000000)
		usage();
	return (int)v;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (strcmp(a, "--rw") == 0)
			opt.rw_conninfo = v;
		else if (strcmp(a, "--read") == 0) {
			const char *eq = strchr(v, '=');
			if (!eq || eq == v || opt.readers == MAX_READERS)
				usage();
			opt.reader_names[opt.readers] = strndup(v, (size_t)(eq - v));
			opt.reader_conninfo[opt.readers++] = eq + 1;
		} else if (strcmp(a, "--out") == 0)
			opt.out_path = v;
		else if (strcmp(a, "--writers") == 0)
			opt.writers = number(v, 1);
		else if (strcmp(a, "--seconds") == 0)
			opt.seconds = number(v, 1);
		else if (strcmp(a, "--seed") == 0)
			opt.seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--keys") == 0)
			opt.keys = number(v, 1);
		else if (strcmp(a, "--accounts") == 0)
			opt.accounts = number(v, 2);
		else if (strcmp(a, "--op-timeout") == 0)
			opt.op_timeout_s = number(v, 1);
		else
			usage();
	}
	if (!opt.rw_conninfo || !opt.out_path || opt.writers > 64)
		usage();
	history = fopen(opt.out_path, "w");
	if (!history) {
		fprintf(stderr, "faultload: %s: %s\n", opt.out_path, strerror(errno));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	deadline_us = now_us() + (int64_t)opt.seconds * 1000000;

	pthread_t threads[64 + MAX_READERS];
	int n = 0;
	for (int w = 0; w < opt.writers; w++)
		pthread_create(&threads[n++], NULL, writer_main, (void *)(intptr_t)w);
	for (int r = 0; r < opt.readers; r++)
		pthread_create(&threads[n++], NULL, reader_main, (void *)(intptr_t)r);
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	for (int r = 0; r < opt.readers; r++)
		free((void *)opt.reader_names[r]);
	if (fclose(history) != 0) {
		fprintf(stderr, "faultload: %s: %s\n", opt.out_path, strerror(errno));
		return 1;
	}
	return 0;
}
