/*
 * rolechange.c — a node changes role while it runs: promotion (follower →
 * leader) and step-down (leader → follower). Roles move by one table
 * (node_role.c): follower → promoting → leader, leader → demoting →
 * follower.
 *
 * The slow parts run on a thread of their own, so that the loop thread
 * goes on serving while the role changes: it accepts connections,
 * authenticates them, answers cancel requests and signals, and takes back
 * the replies of jobs that finish. Connections submit no job meanwhile
 * (srv->switching); their input waits. The steps:
 *
 *   loop    the role moves to promoting (or demoting); on a step-down,
 *           commits still waiting for synchronous standbys fail with 40003
 *           (syncrep_depose: their outcome is unknown to their clients);
 *   thread  the executor finishes the jobs in hand (executor_drain);
 *   loop    the executor is freed; sessions inside a transaction block
 *           are rolled back and end with FATAL 57P01 (what they read
 *           belongs to the role that goes);
 *   thread  on a promotion the follower applies all it received and
 *           empties its WAL (replica_finish); the old runtime stops and
 *           the new one starts on the same data directory — a leader's
 *           log opens at the next epoch (an EPOCH record, durable, before
 *           the first write), a follower follows srv->leader_peer;
 *   loop    the executor starts, the role moves on, and every session is
 *           sent in_hot_standby and default_transaction_read_only.
 *
 * A change that fails half-way stops the node (fail-stop): it exits with
 * status 1 and the log says why; a restart takes up the role configured.
 */
#include "server.h"

#include <inttypes.h>
#include <stdio.h>

#include "log.h"
#include "pgconn.h"
#include "sl_assert.h"
#include "sl_time.h"
#include "syncrep.h"

/* How long a promoted follower may take to apply what it received. */
#define PROMOTE_APPLY_TIMEOUT_MS 60000

enum change_phase {
	CHANGE_DRAIN, /* the thread drains the executor */
	CHANGE_SWAP,  /* the thread swaps the runtimes */
};

static void set_role(struct server *srv, enum node_role to)
{
	enum node_role from = server_role(srv);
	SL_ASSERT(node_role_can_move(from, to));
	atomic_store(&srv->role, to);
	log_info("server", "role changed from=%s to=%s", node_role_name(from), node_role_name(to));
}

static void sessions_end_blocks(struct server *srv, const char *why)
{
	for (struct pgconn *c = srv->conns; c;) {
		struct pgconn *next = c->next; /* c may be freed */
		pgconn_end_block(c, srv->pool, why);
		c = next;
	}
}

static void sessions_resume(struct server *srv)
{
	bool read_only = server_role(srv) != NODE_LEADER;
	for (struct pgconn *c = srv->conns; c;) {
		struct pgconn *next = c->next;
		pgconn_resume(c, read_only);
		c = next;
	}
}

/* Fail-stop: the node is half-way between roles. */
static void change_failed(struct server *srv, const char *err)
{
	log_fatal("server", "change of role failed, stopping: %s", err);
	srv->failed = true;
	srv->switching = false;
	srv->change.active = false;
	ev_break(srv->loop, EVBREAK_ALL);
}

static void *drain_main(void *arg)
{
	struct server *srv = arg;
	executor_drain(srv->ex);
	ev_async_send(srv->loop, &srv->change.done);
	return NULL;
}

static void *swap_main(void *arg)
{
	struct server *srv = arg;
	char *err = srv->change.err;
	size_t errlen = sizeof(srv->change.err);
	if (srv->change.to == NODE_LEADER && replica_finish(srv->replica, PROMOTE_APPLY_TIMEOUT_MS, err, errlen) != 0)
		goto out;
	runtime_stop(srv); /* the executor is gone already */
	if (runtime_start_role(srv, srv->change.to, err, errlen) != 0 && !err[0])
		snprintf(err, errlen, "could not start the %s", node_role_name(srv->change.to));
out:
	ev_async_send(srv->loop, &srv->change.done);
	return NULL;
}

static void start_thread(struct server *srv, void *(*fn)(void *))
{
	if (pthread_create(&srv->change.thread, NULL, fn, srv) != 0) {
		change_failed(srv, "could not start a thread");
		return;
	}
	srv->change.thread_running = true;
}

static void join_thread(struct server *srv)
{
	if (srv->change.thread_running)
		pthread_join(srv->change.thread, NULL);
	srv->change.thread_running = false;
}

/* Loop thread: the thread finished a phase. */
static void on_phase_done(struct ev_loop *loop, ev_async *w, int revents)
{
	struct server *srv = w->data;
	if (!srv->change.active)
		return;
	join_thread(srv);
	if (srv->change.phase == CHANGE_DRAIN) {
		executor_stop(srv->ex); /* drained: frees it */
		srv->ex = NULL;
		sessions_end_blocks(srv, srv->change.why);
		srv->change.phase = CHANGE_SWAP;
		start_thread(srv, swap_main);
		return;
	}
	if (srv->change.err[0]) {
		change_failed(srv, srv->change.err);
		return;
	}
	if (runtime_start_executor(srv) != 0) {
		change_failed(srv, "could not start the executor");
		return;
	}
	set_role(srv, srv->change.to);
	srv->switching = false;
	srv->change.active = false;
	sessions_resume(srv);
	int64_t ms = sl_monotonic_ms() - srv->change.started_ms;
	if (srv->change.to == NODE_LEADER)
		log_info("server", "promoted to leader epoch=%" PRIu64 " ms=%" PRId64,
			 srv->commitlog ? commitlog_epoch(srv->commitlog) : 0, ms);
	else
		log_info("server", "stepped down, following leader=%s ms=%" PRId64, srv->leader_peer, ms);
	if (srv->failover && srv->commitlog)
		failover_led(srv->failover, commitlog_epoch(srv->commitlog));
	node_failover_reconcile(srv); /* the election may have moved on meanwhile */
}

static void change_begin(struct server *srv, enum node_role via, enum node_role to, const char *why)
{
	set_role(srv, via);
	srv->switching = true;
	srv->change.active = true;
	srv->change.to = to;
	srv->change.why = why;
	srv->change.phase = CHANGE_DRAIN;
	srv->change.err[0] = '\0';
	srv->change.started_ms = sl_monotonic_ms();
	start_thread(srv, drain_main);
}

void server_promote(struct server *srv)
{
	if (server_role(srv) != NODE_FOLLOWER || srv->change.active)
		return;
	change_begin(srv, NODE_PROMOTING, NODE_LEADER,
		     "terminating connection because this node was promoted to leader");
}

void server_step_down(struct server *srv, const char *leader_peer)
{
	if (server_role(srv) != NODE_LEADER || srv->change.active)
		return;
	syncrep_depose(srv->syncrep); /* waiting commits: 40003, never success */
	snprintf(srv->leader_peer, sizeof(srv->leader_peer), "%s", leader_peer);
	change_begin(srv, NODE_DEMOTING, NODE_FOLLOWER,
		     "terminating connection because this node stepped down as leader");
}

void rolechange_init(struct server *srv)
{
	ev_async_init(&srv->change.done, on_phase_done);
	srv->change.done.data = srv;
	ev_async_start(srv->loop, &srv->change.done);
}

void rolechange_close(struct server *srv)
{
	join_thread(srv); /* then runtime_stop cleans up whatever it left */
	ev_async_stop(srv->loop, &srv->change.done);
}
