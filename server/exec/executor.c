/*
 * executor.c — reader threads, the writer thread, and the hand-over of
 * jobs to and from the event loop (see executor.h).
 *
 * Queues are plain linked lists under one mutex. Finished jobs go onto a
 * done list and one ev_async wakes the loop, which drains it.
 *
 * The writer thread:
 *   1. picks the first queued job it may run: any job when no session
 *      holds a write transaction, else only the holder's jobs. A job that
 *      may not run yet but was cancelled, or waited past lock_timeout or
 *      its statement deadline, runs anyway with a forced error;
 *   2. runs it inside the open batch, one SQLite transaction that the
 *      jobs of many sessions share (dbpool.h), and keeps the job's replies
 *      back. A job that may leave a transaction block open gets a batch of
 *      its own, which stays open while its session holds the block;
 *      VACUUM and CHECKPOINT run outside any batch;
 *   3. when nothing more can join (or enough jobs wait), commits the
 *      batch, which makes it one durable record in the replication log,
 *      and only then hands the kept jobs back. A commit that fails, or a
 *      batch that SQLite rolled back under a job, fails the kept jobs with
 *      a FATAL error: a commit that might not be durable is never
 *      acknowledged.
 */
#include "executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "applywait.h"
#include "backend.h"
#include "commitreply.h"
#include "log.h"
#include "nodestatus.h"
#include "pgwire.h"
#include "sl_time.h"
#include "sqlstate.h"
#include "walsender.h"

#define WAIT_TICK_MS 20 /* how often waiting writer jobs are checked */
#define GATE_TICK_MS 1  /* how often reading jobs held at the gate look again */

struct executor {
	struct dbpool *pool;
	const struct config *cfg;
	struct ev_loop *loop;
	ev_async done_async;
	executor_done_fn done;

	pthread_mutex_t mu;
	pthread_cond_t readers_cond, writer_cond;
	struct job_queue readers, writer;
	struct session *owner; /* holds the write transaction; writer thread only */
	bool stopping;

	/* writer thread only: the batch's jobs kept until it commits, the job
	 * running, and the commits made since their replies were told */
	struct syncrep *sr;
	struct applywait *apply; /* remote_apply jobs (only with synchronous standbys) */
	struct job_queue kept;
	int nkept;
	struct job *running;
	uint64_t commit_lsn; /* end of the last commit's record; 0: none */
	enum syncrep_result commit_sync; /* the worst wait among those commits */

	pthread_mutex_t done_mu;
	struct job_queue finished;

	pthread_t writer_thread;
	bool have_writer;
	bool drained; /* executor_drain ran: the threads are gone */
	pthread_t *reader_threads; /* max_readers of them */
	int nreaders, max_readers;
	int idle_readers; /* (mu) waiting for a job: none, and another may start */
};

void job_queue_push(struct job_queue *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

struct job *job_queue_pop(struct job_queue *q)
{
	struct job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		j->next = NULL;
	}
	return j;
}

void job_queue_remove(struct job_queue *q, struct job *j, struct job *prev)
{
	if (prev)
		prev->next = j->next;
	else
		q->head = j->next;
	if (q->tail == j)
		q->tail = prev;
	j->next = NULL;
}

struct job *job_new(struct session *sess, void *owner)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->kind = JOB_MESSAGES;
	j->reply_fd = -1;
	j->sess = sess;
	j->owner = owner;
	buf_init(&j->in);
	buf_init(&j->out);
	return j;
}

void job_free(struct job *job)
{
	if (!job)
		return;
	buf_free(&job->in);
	buf_free(&job->out);
	free(job);
}

/* The replies go out on this thread as far as the socket takes them (the
 * loop sends the rest); through TLS under the connection's lock. */
static void send_replies(struct job *j)
{
	if (j->reply_ssl) {
		pthread_mutex_lock(j->reply_mu);
		size_t n = 0;
		while (j->out.len > 0 && tls_write(j->reply_ssl, j->out.data, j->out.len, &n) == TLS_IO_DONE)
			buf_consume(&j->out, n);
		pthread_mutex_unlock(j->reply_mu);
		return;
	}
	ssize_t n = send(j->reply_fd, j->out.data, j->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		buf_consume(&j->out, (size_t)n);
}

static void finish(struct executor *ex, struct job *j)
{
	if (j->reply_fd >= 0 && j->out.len > 0 && !atomic_load(&j->intr.cancel))
		send_replies(j);
	pthread_mutex_lock(&ex->done_mu);
	job_queue_push(&ex->finished, j);
	pthread_mutex_unlock(&ex->done_mu);
	ev_async_send(ex->loop, &ex->done_async);
}

static void hand_back(void *arg, struct job *j) { finish(arg, j); }

static void on_done_async(struct ev_loop *loop, ev_async *w, int revents)
{
	struct executor *ex = w->data;
	pthread_mutex_lock(&ex->done_mu);
	struct job_queue q = ex->finished;
	ex->finished.head = ex->finished.tail = NULL;
	pthread_mutex_unlock(&ex->done_mu);
	struct job *j;
	while ((j = job_queue_pop(&q)))
		ex->done(j);
}

/* Runs a job on this thread; returns true when it must go to the writer. */
static bool run_job(struct executor *ex, struct job *j, bool on_writer)
{
	bool to_writer = false;
	if (on_writer)
		ex->running = j;
	if (j->kind == JOB_CLOSE)
		backend_close_session(j, ex->pool);
	else if (j->kind == JOB_STREAM)
		walsender_step(j, ex->pool);
	else
		to_writer = backend_run(j, ex->pool, on_writer) == BACKEND_TO_WRITER;
	if (on_writer)
		ex->running = NULL;
	if (j->temp) {
		dbpool_release(ex->pool, j->temp);
		j->temp = NULL;
	}
	struct dbconn *bound = j->sess->bound;
	if (bound && !bound->writer) {
		bound->intr = NULL; /* points into this job, which is about to go */
		bound->session = NULL;
	}
	j->writer_forbidden = false;
	return to_writer;
}

/* Why a reading job held at the gate should stop waiting; NULL to keep waiting. */
static const char *gate_wait_expired(const struct job *j, int64_t now, const char **sqlstate)
{
	*sqlstate = SQLSTATE_QUERY_CANCELED;
	if (atomic_load(&j->intr.cancel))
		return "canceling statement due to user request";
	if (j->intr.deadline_ns && now > j->intr.deadline_ns)
		return "canceling statement due to statement timeout";
	return NULL;
}

/*
 * The first reading job that may start. While a follower applies pages
 * (REPLICA_GATE_APPLYING), only jobs of sessions that already hold a
 * snapshot, which the applier is waiting for, of sessions whose
 * max_replica_lag the follower is now further behind than (they are
 * refused at once rather than kept waiting), and jobs cancelled or past
 * their statement_timeout while they waited (they fail). While it
 * re-fetches a snapshot (REPLICA_GATE_REFETCHING), every job, to be
 * refused. Called with mu held.
 */
static struct job *next_reader_job(struct executor *ex)
{
	enum replica_gate gate = dbpool_gate_state(ex->pool);
	if (gate == REPLICA_GATE_OPEN)
		return job_queue_pop(&ex->readers);
	struct job *j = NULL, *prev = NULL;
	if (gate == REPLICA_GATE_REFETCHING) {
		if ((j = job_queue_pop(&ex->readers)))
			backend_set_forced_error(j, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						 "this follower is fetching a new snapshot from the leader (its copy "
						 "held transactions the leader does not have); it serves reads again "
						 "once the snapshot is installed");
		return j;
	}
	double staleness_ms = -1;
	int64_t now = monotonic_ns();
	for (j = ex->readers.head; j; prev = j, j = j->next) {
		int64_t max_lag = j->sess->cfg.max_replica_lag_ms;
		if (!j->sess->bound && max_lag > 0 && staleness_ms < 0) {
			struct node_info n;
			nodestatus_node(&n);
			staleness_ms = n.staleness_ms;
		}
		const char *sqlstate, *why = j->sess->bound ? NULL : gate_wait_expired(j, now, &sqlstate);
		if (why)
			backend_set_forced_error(j, sqlstate, why);
		if (j->sess->bound || why || (max_lag > 0 && staleness_ms > (double)max_lag)) {
			job_queue_remove(&ex->readers, j, prev);
			return j;
		}
	}
	return NULL;
}

static void *reader_main(void *arg)
{
	struct executor *ex = arg;
	for (;;) {
		pthread_mutex_lock(&ex->mu);
		struct job *j;
		ex->idle_readers++;
		while (!(j = next_reader_job(ex)) && !ex->stopping) {
			if (!ex->readers.head) {
				pthread_cond_wait(&ex->readers_cond, &ex->mu);
			} else { /* held at the gate: look again shortly */
				struct timespec ts = sl_deadline(CLOCK_REALTIME, GATE_TICK_MS);
				pthread_cond_timedwait(&ex->readers_cond, &ex->mu, &ts);
			}
		}
		ex->idle_readers--;
		if (!j)
			j = job_queue_pop(&ex->readers); /* stopping: finish what is queued */
		pthread_mutex_unlock(&ex->mu);
		if (!j)
			return NULL;
		if (run_job(ex, j, false)) {
			j->enqueued_ns = monotonic_ns();
			pthread_mutex_lock(&ex->mu);
			job_queue_push(&ex->writer, j);
			pthread_cond_signal(&ex->writer_cond);
			pthread_mutex_unlock(&ex->mu);
		} else {
			finish(ex, j);
		}
	}
}

/* Why a job that may not run yet should stop waiting; NULL to keep waiting. */
static const char *wait_expired(struct executor *ex, struct job *j, int64_t now, const char **sqlstate)
{
	if (ex->stopping) {
		/* the writer ends with the role: behind another session's open
		 * block the job would wait for a statement that the change of
		 * role holds back */
		*sqlstate = SQLSTATE_SERIALIZATION_FAILURE;
		return "canceling statement because this node is changing role";
	}
	if (atomic_load(&j->intr.cancel)) {
		*sqlstate = SQLSTATE_QUERY_CANCELED;
		return "canceling statement due to user request";
	}
	if (j->intr.deadline_ns && now > j->intr.deadline_ns) {
		*sqlstate = SQLSTATE_QUERY_CANCELED;
		return "canceling statement due to statement timeout";
	}
	int64_t lock_timeout = j->sess->cfg.lock_timeout_ms;
	if (lock_timeout > 0 && now - j->enqueued_ns > lock_timeout * 1000000) {
		*sqlstate = SQLSTATE_LOCK_NOT_AVAILABLE;
		return "canceling statement due to lock timeout";
	}
	return NULL;
}

/* With ex->mu held: the next job the writer may run, or NULL. */
static struct job *writer_pick(struct executor *ex, bool *waiting)
{
	int64_t now = monotonic_ns();
	struct job *prev = NULL;
	*waiting = false;
	for (struct job *j = ex->writer.head; j; prev = j, j = j->next) {
		if (!ex->owner || j->sess == ex->owner) {
			job_queue_remove(&ex->writer, j, prev);
			return j;
		}
		const char *sqlstate, *why = wait_expired(ex, j, now, &sqlstate);
		if (why) {
			backend_set_forced_error(j, sqlstate, why);
			j->writer_forbidden = true;
			job_queue_remove(&ex->writer, j, prev);
			return j;
		}
		*waiting = true;
	}
	return NULL;
}

/*
 * A job whose commit could not be confirmed: never told it succeeded. rc is
 * why the batch failed (an SQLite code), 0 when SQLite rolled the batch
 * back under another job.
 */
static void fail_unconfirmed(struct executor *ex, struct job *j, int rc)
{
	struct dbconn *w = ex->pool->writer;
	buf_reset(&j->out);
	const char *fenced = ex->pool->cl ? commitlog_fence_reason(ex->pool->cl) : NULL;
	char fenced_message[128];
	snprintf(fenced_message, sizeof(fenced_message), "could not commit: %s", fenced ? fenced : "");
	if (ex->pool->cl && commitlog_failed(ex->pool->cl))
		atomic_store(&ex->pool->failed, true);
	if (atomic_load(&ex->pool->failed))
		pgwire_put_error(&j->out, 'E', "FATAL", SQLSTATE_IO_ERROR,
				 "could not make the commit durable: writes are stopped",
				 "The replication log could not be written or synced; the outcome of this "
				 "transaction is unknown.",
				 "See the server log.");
	else if ((rc & 0xff) == SQLITE_FULL)
		pgwire_put_error(&j->out, 'E', "FATAL", SQLSTATE_DISK_FULL,
				 "could not commit: no space left on device",
				 "The transaction was rolled back with its commit group.", NULL);
	else if (fenced)
		pgwire_put_error(&j->out, 'E', "FATAL", SQLSTATE_READ_ONLY_TRANSACTION, fenced_message,
				 "The transaction was rolled back before it reached the log.",
				 "Retry it on the new leader.");
	else if (w->commit_error[0])
		pgwire_put_error(&j->out, 'E', "FATAL", SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE, w->commit_error,
				 "The transaction was rolled back with its commit group.", NULL);
	else
		pgwire_put_error(&j->out, 'E', "FATAL", SQLSTATE_SERIALIZATION_FAILURE,
				 "could not commit: the transaction was rolled back with its commit group",
				 "A transaction committed together with this one failed in a way that "
				 "rolled back the whole group.",
				 "Retry the transaction.");
	j->fatal = true;
}

/* ------------------------------------------------- synchronous standbys */

/*
 * While a commit waits for standbys: kept jobs whose client cancelled (or
 * whose statement_timeout passed) get their error now (the commit goes on
 * without them).
 */
static void answer_cancelled(struct executor *ex)
{
	struct job *prev = NULL, *next;
	int64_t now = monotonic_ns();
	for (struct job *k = ex->kept.head; k; k = next) {
		next = k->next;
		bool gave_up = atomic_load(&k->intr.cancel) || (k->intr.deadline_ns && now > k->intr.deadline_ns);
		if (gave_up && commitreply_level(k) >= SYNC_REMOTE_WRITE) {
			job_queue_remove(&ex->kept, k, prev);
			ex->nkept--;
			commitreply_cancelled(k);
			finish(ex, k);
			continue;
		}
		prev = k;
	}
}

/*
 * While the writer waits for standbys, queued writer jobs that were
 * cancelled or ran out of time go to the readers with their error (the
 * forced error stops them at their first write), instead of waiting.
 */
static void release_expired(struct executor *ex)
{
	int64_t now = monotonic_ns();
	pthread_mutex_lock(&ex->mu);
	struct job *prev = NULL, *next;
	for (struct job *j = ex->writer.head; j; j = next) {
		next = j->next;
		const char *sqlstate, *why = wait_expired(ex, j, now, &sqlstate);
		if (!why || (ex->owner && j->sess == ex->owner)) {
			prev = j;
			continue;
		}
		job_queue_remove(&ex->writer, j, prev);
		backend_set_forced_error(j, sqlstate, why);
		j->writer_forbidden = true;
		job_queue_push(&ex->readers, j);
		pthread_cond_signal(&ex->readers_cond);
	}
	pthread_mutex_unlock(&ex->mu);
}

static bool probe_commit(void *arg)
{
	release_expired(arg);
	answer_cancelled(arg);
	return false; /* the commit is in the log: it is published whatever comes */
}

/* The level the commit under way waits for: the highest its jobs ask. */
static int commit_level(struct executor *ex)
{
	int level = ex->running ? commitreply_level(ex->running) : SYNC_LOCAL;
	for (struct job *k = ex->kept.head; k; k = k->next)
		level = commitreply_level(k) > level ? commitreply_level(k) : level;
	return level;
}

/*
 * The log's waiter (commitlog_set_waiter): inside SQLite's COMMIT, so no
 * reader sees the commit before the standbys have it. remote_apply waits
 * for flushed here and for applied after the commit (applywait.h): a
 * follower applies only what the leader has made visible.
 */
static void wait_for_standbys(void *arg, uint64_t end_lsn)
{
	struct executor *ex = arg;
	int level = commit_level(ex);
	enum syncrep_result res = SYNCREP_CONFIRMED;
	if (level >= SYNC_REMOTE_WRITE)
		res = syncrep_wait(ex->sr, end_lsn, level > SYNC_ON ? SYNC_ON : level, probe_commit, ex);
	ex->commit_lsn = end_lsn;
	if (res > ex->commit_sync)
		ex->commit_sync = res;
	/* before SQLite publishes the commit: no reader may see it unconfirmed */
	if (res == SYNCREP_DEPOSED && !atomic_exchange(&ex->pool->unconfirmed, true))
		log_warn("executor", "commits that no standby confirmed are published as the lease ran out: reads "
				     "are refused on this node until it has rejoined a leader");
	else if (res == SYNCREP_CONFIRMED && level >= SYNC_REMOTE_WRITE && atomic_load(&ex->pool->unconfirmed) &&
		 atomic_exchange(&ex->pool->unconfirmed, false))
		log_info("executor", "standbys confirmed a later commit: reads resume");
}

/* Tells the job about the commits made since the last one was told (a
 * remote_apply job once the standbys have applied them), and hands it back. */
static void report_commit(struct executor *ex, struct job *j)
{
	if (ex->commit_lsn && ex->commit_sync == SYNCREP_CONFIRMED && ex->apply &&
	    commitreply_level(j) >= SYNC_REMOTE_APPLY) {
		applywait_park(ex->apply, j, ex->commit_lsn);
		return;
	}
	if (ex->commit_lsn)
		commitreply_done(j, ex->commit_lsn, ex->commit_sync);
	finish(ex, j);
}

static void commit_reported(struct executor *ex)
{
	ex->commit_lsn = 0;
	ex->commit_sync = SYNCREP_CONFIRMED;
}

/* ------------------------------------------------------------- batches */

/* Commits the open batch and hands its jobs back. */
static void batch_commit(struct executor *ex)
{
	int rc = dbpool_batch_commit(ex->pool);
	struct job *k;
	while ((k = job_queue_pop(&ex->kept))) {
		if (rc != SQLITE_OK) {
			fail_unconfirmed(ex, k, rc);
			finish(ex, k);
		} else {
			report_commit(ex, k);
		}
	}
	commit_reported(ex);
	ex->pool->writer->commit_error[0] = '\0';
	ex->nkept = 0;
}

/* The batch's transaction vanished under a job: its other jobs lose their work. */
static void batch_lost(struct executor *ex)
{
	struct job *k;
	while ((k = job_queue_pop(&ex->kept))) {
		fail_unconfirmed(ex, k, 0);
		finish(ex, k);
	}
	commit_reported(ex);
	ex->nkept = 0;
}

/* With ex->mu held: waits until there is a job to run or a batch to end. */
static struct job *writer_wait(struct executor *ex, bool batch_open, bool *stop)
{
	bool waiting;
	struct job *j = writer_pick(ex, &waiting);
	while (!j && !(batch_open && !ex->owner) && !(ex->stopping && !waiting)) {
		if (waiting) {
			struct timespec ts = sl_deadline(CLOCK_REALTIME, WAIT_TICK_MS);
			pthread_cond_timedwait(&ex->writer_cond, &ex->mu, &ts);
		} else {
			pthread_cond_wait(&ex->writer_cond, &ex->mu);
		}
		j = writer_pick(ex, &waiting);
	}
	*stop = !j && !batch_open && ex->stopping && !waiting;
	return j;
}

static void *writer_main(void *arg)
{
	struct executor *ex = arg;
	struct dbpool *pool = ex->pool;
	struct dbconn *w = pool->writer;
	bool open = false;
	for (;;) {
		bool stop;
		pthread_mutex_lock(&ex->mu);
		struct job *j = writer_wait(ex, open, &stop);
		pthread_mutex_unlock(&ex->mu);
		if (stop)
			return NULL;
		if (!j) { /* nothing more is ready: end the batch */
			batch_commit(ex);
			open = false;
			continue;
		}
		if (j->writer_forbidden) { /* runs only to fail: never joins the batch */
			if (run_job(ex, j, true)) {
				pthread_mutex_lock(&ex->mu);
				job_queue_push(&ex->writer, j);
				pthread_mutex_unlock(&ex->mu);
			} else {
				finish(ex, j);
			}
			continue;
		}
		bool holder = ex->owner && j->sess == ex->owner;
		enum backend_batch kind = holder ? BATCH_JOIN : backend_batch_kind(j);
		if (open && !holder && (kind != BATCH_JOIN || ex->nkept >= ex->cfg->commit_batch_size)) {
			batch_commit(ex);
			open = false;
		}
		if (kind == BATCH_NONE) {
			run_job(ex, j, true);
			w->intr = NULL;
			w->session = NULL;
			report_commit(ex, j);
			commit_reported(ex);
			continue;
		}
		if (!open) {
			int rc = dbpool_batch_begin(pool, kind == BATCH_ALONE);
			if (rc != SQLITE_OK) {
				log_error("executor", "could not begin a batch: %s", sqlite3_errmsg(w->db));
				fail_unconfirmed(ex, j, rc);
				finish(ex, j);
				continue;
			}
			open = true;
		}
		run_job(ex, j, true);
		w->intr = NULL;
		w->session = NULL;
		if (dbpool_batch_lost(pool)) {
			/* j got its own error; the others lost their work with it */
			batch_lost(ex);
			open = false;
			ex->owner = NULL;
			j->sess->bound = j->sess->bound == w ? NULL : j->sess->bound;
			finish(ex, j);
			continue;
		}
		ex->owner = j->sess->bound == w ? j->sess : NULL;
		if (w->solo && ex->owner) {
			/* inside the block: what it committed already is durable */
			report_commit(ex, j);
			commit_reported(ex);
			continue;
		}
		job_queue_push(&ex->kept, j);
		ex->nkept++;
		if (w->solo) {
			batch_commit(ex);
			open = false;
		}
	}
}

int executor_start(struct executor **out, struct dbpool *pool, const struct config *cfg, struct syncrep *sr,
		   struct ev_loop *loop, executor_done_fn done)
{
	struct executor *ex = calloc(1, sizeof(*ex));
	if (!ex)
		return -1;
	ex->pool = pool;
	ex->cfg = cfg;
	ex->loop = loop;
	ex->done = done;
	ex->sr = sr;
	if (pool->cl)
		commitlog_set_waiter(pool->cl, wait_for_standbys, ex);
	if (syncrep_enabled(sr) && !(ex->apply = applywait_start(sr, hand_back, ex)))
		goto fail;
	pthread_mutex_init(&ex->mu, NULL);
	pthread_mutex_init(&ex->done_mu, NULL);
	pthread_cond_init(&ex->readers_cond, NULL);
	pthread_cond_init(&ex->writer_cond, NULL);
	ev_async_init(&ex->done_async, on_done_async);
	ex->done_async.data = ex;
	ev_async_start(loop, &ex->done_async);
	ex->max_readers = cfg->max_reader_threads > cfg->reader_threads ? cfg->max_reader_threads : cfg->reader_threads;
	ex->reader_threads = calloc((size_t)ex->max_readers, sizeof(pthread_t));
	if (!ex->reader_threads)
		goto fail;
	for (int i = 0; i < cfg->reader_threads; i++) {
		if (pthread_create(&ex->reader_threads[i], NULL, reader_main, ex) != 0)
			goto fail;
		ex->nreaders++;
	}
	if (pool->writer) {
		if (pthread_create(&ex->writer_thread, NULL, writer_main, ex) != 0)
			goto fail;
		ex->have_writer = true;
	}
	*out = ex;
	return 0;
fail:
	log_error("executor", "could not start threads: %s", strerror(errno));
	executor_stop(ex);
	return -1;
}

void executor_drain(struct executor *ex)
{
	if (ex->drained)
		return;
	ex->drained = true;
	pthread_mutex_lock(&ex->mu);
	ex->stopping = true;
	pthread_cond_broadcast(&ex->readers_cond);
	pthread_cond_broadcast(&ex->writer_cond);
	pthread_mutex_unlock(&ex->mu);
	syncrep_shutdown(ex->sr); /* a commit waiting for standbys gives up */
	for (int i = 0; i < ex->nreaders; i++)
		pthread_join(ex->reader_threads[i], NULL);
	if (ex->have_writer)
		pthread_join(ex->writer_thread, NULL);
	applywait_stop(ex->apply);
	if (ex->pool->cl)
		commitlog_set_waiter(ex->pool->cl, NULL, NULL);
}

void executor_stop(struct executor *ex)
{
	executor_drain(ex);
	ev_async_stop(ex->loop, &ex->done_async);
	on_done_async(ex->loop, &ex->done_async, 0); /* hand back what finished last */
	free(ex->reader_threads);
	pthread_mutex_destroy(&ex->mu);
	pthread_mutex_destroy(&ex->done_mu);
	pthread_cond_destroy(&ex->readers_cond);
	pthread_cond_destroy(&ex->writer_cond);
	free(ex);
}

void executor_submit(struct executor *ex, struct job *job)
{
	int64_t t = job->sess->cfg.statement_timeout_ms;
	job->intr.deadline_ns = t > 0 ? monotonic_ns() + t * 1000000 : 0;
	job->enqueued_ns = monotonic_ns();
	bool writer = backend_wants_writer(job, ex->pool);
	pthread_mutex_lock(&ex->mu);
	if (writer) {
		job_queue_push(&ex->writer, job);
		pthread_cond_signal(&ex->writer_cond);
	} else {
		job_queue_push(&ex->readers, job);
		pthread_cond_signal(&ex->readers_cond);
		/* every reader busy (with long reads, say): one more, so this job
		 * does not wait behind them */
		if (ex->idle_readers == 0 && ex->nreaders < ex->max_readers && !ex->stopping) {
			if (pthread_create(&ex->reader_threads[ex->nreaders], NULL, reader_main, ex) == 0)
				ex->nreaders++;
			else
				log_warn("executor", "could not start another reader thread: %s readers=%d", strerror(errno),
					 ex->nreaders);
		}
	}
	pthread_mutex_unlock(&ex->mu);
}

void executor_cancel(struct executor *ex, struct job *job)
{
	atomic_store(&job->intr.cancel, 1);
	pthread_mutex_lock(&ex->mu);
	pthread_cond_broadcast(&ex->writer_cond);
	pthread_mutex_unlock(&ex->mu);
}

