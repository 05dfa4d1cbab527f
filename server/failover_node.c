/*
 * failover_node.c — automatic failover as this node lives it (see
 * failover.h for the election side): the hooks that tell the election
 * this node's log position and wake the loop, and the reconciling of
 * the node's role with the one the election wants (loop thread).
 */
#include "server.h"

#include <inttypes.h>
#include <stdio.h>

#include "log.h"

/* The failover thread, every tick: the node's log position. The runtime
 * may be changing (runtime_mu held): the last position stands. */
static void node_position(void *arg, uint64_t *last_epoch, uint64_t *last_lsn)
{
	struct server *srv = arg;
	*last_epoch = *last_lsn = 0;
	if (pthread_mutex_trylock(&srv->runtime_mu) != 0)
		return;
	if (srv->commitlog) {
		*last_epoch = commitlog_epoch(srv->commitlog);
		*last_lsn = replog_durable_lsn(commitlog_replog(srv->commitlog));
	} else if (srv->replica) {
		struct replica_status st;
		replica_status(srv->replica, &st);
		*last_epoch = st.last_epoch;
		*last_lsn = st.flushed_lsn;
	}
	pthread_mutex_unlock(&srv->runtime_mu);
}

/* Any thread: the election wants something else of this node. */
static void node_changed(void *arg)
{
	struct server *srv = arg;
	ev_async_send(srv->loop, &srv->admin_async);
}

int node_failover_start(struct server *srv, char *err, size_t errlen)
{
	struct failover_hooks hooks = { node_changed, node_position, srv };
	if (failover_start(&srv->failover, srv->cfg, &srv->lease_clock, &hooks, err, errlen) != 0) {
		failover_stop(srv->failover);
		srv->failover = NULL;
		return -1;
	}
	srv->lease = srv->failover ? &srv->lease_clock : NULL;
	return 0;
}

void node_failover_reconcile(struct server *srv)
{
	if (!srv->failover || srv->stopping || srv->change.active || srv->handover.active)
		return;
	uint64_t epoch;
	char leader[PEER_STR_MAX];
	bool lead = failover_wants(srv->failover, &epoch, leader, sizeof(leader));
	enum node_role role = server_role(srv);
	if (lead && role == NODE_FOLLOWER) {
		srv->lead_epoch = epoch;
		log_info("server", "promoting: elected epoch=%" PRIu64, epoch);
		server_promote(srv);
	} else if (!lead && role == NODE_LEADER) {
		log_info("server", "stepping down: the election says so leader=%s", leader[0] ? leader : "(unknown)");
		server_step_down(srv, leader);
	} else if (!lead && role == NODE_FOLLOWER && leader[0]) {
		replica_follow(srv->replica, leader, epoch);
	}
}
