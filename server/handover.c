/*
 * handover.c — a planned switchover, from the leader's side: no commit
 * the leader acknowledged is lost, and for a moment nobody takes writes.
 *
 *   1. A follower asks for the leadership over its link (SWITCHOVER, with
 *      the peer address it will serve at; `sluice promote NODE` without
 *      --force makes it ask). The request reaches the loop thread.
 *   2. The leader fences: new writes fail with 25006, and a commit that
 *      has not reached the log yet fails (rolled back, never
 *      acknowledged), so the log's end stays where it is.
 *   3. A timer looks every HANDOVER_TICK_MS: once the follower has
 *      flushed the whole log, its sender sends PROMOTE(end) after the
 *      last record (peers_handover); the follower opens the next epoch
 *      right after that end.
 *   4. Once PROMOTE went, the leader steps down and follows the new
 *      leader at the address it gave: its log is a prefix of the new
 *      leader's, so it streams on without a snapshot.
 * If the follower has not flushed everything within switchover_timeout,
 * or its link goes before PROMOTE was due, the switchover is abandoned:
 * the fence is lifted and this node takes writes again. Once PROMOTE is
 * due it is never abandoned (it may reach the follower): the leader steps
 * down when it went or the link broke, so that two nodes never lead.
 */
#include "server.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "lsn.h"
#include "sl_time.h"

#define HANDOVER_TICK_MS 2

void handover_request(void *arg, const char *name, const char *peer_addr)
{
	struct server *srv = arg;
	pthread_mutex_lock(&srv->handover_mu);
	srv->handover_wanted = true;
	snprintf(srv->handover_name, sizeof(srv->handover_name), "%s", name);
	snprintf(srv->handover_addr, sizeof(srv->handover_addr), "%s", peer_addr);
	pthread_mutex_unlock(&srv->handover_mu);
	ev_async_send(srv->loop, &srv->admin_async);
}

static void finish(struct server *srv)
{
	ev_timer_stop(srv->loop, &srv->handover.timer);
	srv->handover.active = false;
}

static void abandon(struct server *srv, const char *why)
{
	if (srv->commitlog)
		commitlog_fence(srv->commitlog, false);
	finish(srv);
	log_warn("server", "switchover abandoned, taking writes again follower=%s reason=\"%s\"", srv->handover.name,
		 why);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;
	char addr[PEER_STR_MAX];
	if (server_role(srv) != NODE_LEADER || !srv->peers) {
		finish(srv);
		return;
	}
	uint64_t end = replog_durable_lsn(commitlog_replog(srv->commitlog)), flush = 0;
	bool linked = peers_follower_flushed(srv->peers, srv->handover.name, &flush);
	if (srv->handover.told) {
		/* PROMOTE may be on its way: never take writes again now. Once it
		 * went, or the link broke (it may have gone), follow the new
		 * leader; at worst nobody leads until a forced promotion, never
		 * two leaders */
		if (peers_handover_sent(srv->peers, srv->handover.name) || !linked) {
			char at[LSN_TEXT_MAX];
			log_info("server", "handed over follower=%s at=%s ms=%" PRId64, srv->handover.name,
				 lsn_format(end, at), sl_monotonic_ms() - srv->handover.started_ms);
			snprintf(addr, sizeof(addr), "%s", srv->handover.addr);
			finish(srv);
			if (srv->failover)
				failover_stepped_down(srv->failover);
			server_step_down(srv, addr);
		}
		return;
	}
	if (linked && flush >= end)
		srv->handover.told = peers_handover(srv->peers, srv->handover.name, end) == 0;
	else if (!linked)
		abandon(srv, "the follower's link is gone");
	else if (sl_monotonic_ms() > srv->handover.deadline_ms)
		abandon(srv, "the follower did not have the whole log within switchover_timeout");
}

void handover_init(struct server *srv)
{
	pthread_mutex_init(&srv->handover_mu, NULL);
	ev_init(&srv->handover.timer, on_tick);
	srv->handover.timer.data = srv;
}

void handover_close(struct server *srv)
{
	ev_timer_stop(srv->loop, &srv->handover.timer);
	pthread_mutex_destroy(&srv->handover_mu);
}

void handover_poll(struct server *srv)
{
	pthread_mutex_lock(&srv->handover_mu);
	bool wanted = srv->handover_wanted;
	srv->handover_wanted = false;
	char name[PEER_STR_MAX], addr[PEER_STR_MAX];
	snprintf(name, sizeof(name), "%s", srv->handover_name);
	snprintf(addr, sizeof(addr), "%s", srv->handover_addr);
	pthread_mutex_unlock(&srv->handover_mu);
	if (!wanted)
		return;
	if (server_role(srv) != NODE_LEADER || !srv->commitlog || !srv->peers || srv->handover.active || srv->stopping) {
		log_warn("server", "switchover refused follower=%s reason=\"%s\"", name,
			 srv->handover.active ? "a switchover is under way" : "this node cannot hand over now");
		return;
	}
	srv->handover.active = true;
	srv->handover.told = false;
	snprintf(srv->handover.name, sizeof(srv->handover.name), "%s", name);
	snprintf(srv->handover.addr, sizeof(srv->handover.addr), "%s", addr);
	srv->handover.started_ms = sl_monotonic_ms();
	srv->handover.deadline_ms = srv->handover.started_ms + srv->cfg->switchover_timeout_ms;
	commitlog_fence(srv->commitlog, true);
	log_info("server", "switchover begun, writes fenced follower=%s peer=%s", name, addr);
	ev_timer_set(&srv->handover.timer, 0.0, HANDOVER_TICK_MS / 1000.0);
	ev_timer_start(srv->loop, &srv->handover.timer);
}
