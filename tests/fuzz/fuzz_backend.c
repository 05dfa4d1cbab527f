/*
 * fuzz_backend.c — libFuzzer target for a session's messages once it is
 * in: simple and extended query, transaction control, SET/SHOW, cursors,
 * COPY, run by the real executor (server/exec/) on a real SQLite database
 * under the SQL sandbox.
 *
 * The input is what an authenticated client sends. It is cut into jobs as
 * the connection does (server/pgconn.c dispatch: messages up to a Sync,
 * Query or Flush, framed with a small maximum), each job is handed to the
 * executor, and the fuzzer waits for it on the event loop. At the end the
 * session is closed on the executor (rolled back, portals closed) and
 * freed. The executor, its threads and the database are made once for
 * the whole run; statement_timeout (1 s) bounds a statement that would run
 * for ever; at exit the executor stops and the database is removed.
 *
 * Checked: a job's replies are whole messages; a job that ends with a Sync
 * ends with ReadyForQuery; the session always ends.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "dbpool.h"
#include "executor.h"
#include "fuzz.h"
#include "log.h"
#include "pgwire.h"
#include "session.h"

#define FUZZ_MAX_MSG 4096

static struct config cfg;
static struct ev_loop *loop;
static struct dbpool *pool;
static struct executor *ex;
static struct job *finished;

static char dir[] = "/tmp/fuzz_backend_XXXXXX";

static const char *setting(void *session, const char *name) { return session_get(session, name); }

/* At exit: the executor's threads end, and the database goes. */
static void cleanup(void)
{
	executor_stop(ex);
	dbpool_close(pool);
	ev_loop_destroy(loop);
	static const char *const names[] = { "fuzz.db", "fuzz.db-wal", "fuzz.db-shm" };
	char path[64];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void on_done(struct job *job) { finished = job; }

static void init_once(void)
{
	if (ex)
		return;
	log_set_level(LOG_FATAL);
	config_defaults(&cfg);
	cfg.log_mode = 0;
	cfg.statement_timeout_ms = 1000;
	cfg.lock_timeout_ms = 1000;
	CHECK(mkdtemp(dir) != NULL);
	char path[64], err[256];
	snprintf(path, sizeof(path), "%s/fuzz.db", dir);
	CHECK(dbpool_open(path, false, cfg.checkpoint_wal_size, NULL, setting, &pool, err, sizeof(err)) == 0);
	loop = ev_loop_new(EVFLAG_AUTO);
	CHECK(loop != NULL);
	CHECK(executor_start(&ex, pool, &cfg, NULL, loop, on_done) == 0);
	atexit(cleanup);
}

/* Hands the job to the executor and waits until it is back. */
static void run(struct job *j)
{
	finished = NULL;
	executor_submit(ex, j);
	while (!finished)
		ev_run(loop, EVRUN_ONCE);
	CHECK(finished == j);
}

/* The replies: whole messages, and ReadyForQuery last when one is due. */
static void check_replies(const struct buf *out, bool ready_due)
{
	size_t i = 0;
	uint8_t last = 0;
	while (i < out->len) {
		CHECK(out->len - i >= 5);
		uint32_t len = get_u32(out->data + i + 1);
		CHECK(len >= 4 && len <= out->len - i - 1);
		last = out->data[i];
		i += 1 + len;
	}
	if (ready_due)
		CHECK(last == 'Z');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	struct session *s = session_new(&cfg, 4242, 1, false);
	if (!s)
		return 0;
	snprintf(s->user, sizeof(s->user), "fuzz");
	snprintf(s->database, sizeof(s->database), "fuzz");
	size_t pos = 0;
	while (pos < size) {
		struct job *j = job_new(s, NULL);
		CHECK(j != NULL);
		bool ready_due = false, bad = false;
		while (pos < size) {
			struct pg_msg m;
			size_t used;
			int rc = pgwire_frame(data + pos, size - pos, FUZZ_MAX_MSG, &m, &used);
			if (rc <= 0) {
				bad = true; /* the connection would end here */
				break;
			}
			buf_append(&j->in, data + pos, used);
			pos += used;
			if (m.type == 'X') {
				bad = true;
				break;
			}
			if (m.type == 'S' || m.type == 'Q' || m.type == 'H') {
				/* after an error in the extended protocol a Query is
				 * skipped like the rest until Sync, as PostgreSQL does */
				ready_due = m.type == 'S';
				break;
			}
		}
		if (j->in.len == 0) {
			job_free(j);
			break;
		}
		run(j);
		check_replies(&j->out, ready_due && !j->fatal);
		bool fatal = j->fatal;
		job_free(j);
		if (bad || fatal)
			break;
	}
	struct job *close = job_new(s, NULL);
	CHECK(close != NULL);
	close->kind = JOB_CLOSE;
	run(close);
	job_free(close);
	session_free(s);
	return 0;
}
