/*
 * runtime.c — the half of a node that depends on its role (see server.h).
 *
 * A leader runs its replication log (commitlog), synchronous standbys
 * (syncrep), its peer port (peers), a database pool with a writer and the
 * executor; a follower runs the replica (receiver and applier), a
 * read-only pool, a peer port that names the leader, and the executor.
 * The listening socket and the client connections belong to the node, not
 * to a role: they outlive a change of role (rolechange.c). This file also
 * answers sluice_status and the admin functions for the node.
 */
#include "server.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "log.h"
#include "lsn.h"
#include "nodestatus.h"
#include "pgconn.h"
#include "sl_error.h"
#include "sl_assert.h"
#include "sl_time.h"
#include "slots.h"
#include "sqlstate.h"
#include "syncrep.h"

enum node_role server_role(const struct server *srv) { return (enum node_role)atomic_load(&srv->role); }

/* -------------------------------------------------------------- status */

/* The name this node goes by in the cluster. */
static void node_name(const struct server *srv, char *out, size_t outlen)
{
	if (srv->cfg->node_name[0])
		snprintf(out, outlen, "%.255s", srv->cfg->node_name);
	else
		snprintf(out, outlen, "%.255s", srv->client_addr);
}

/* The election's part of sluice_status. */
static void election_info(struct server *srv, struct node_info *out)
{
	out->heartbeat_age_ms = -1;
	if (!srv->failover)
		return;
	struct failover_status fs;
	failover_status(srv->failover, &fs);
	snprintf(out->election, sizeof(out->election), "%s", fs.state);
	snprintf(out->lease, sizeof(out->lease), "%s", fs.lease);
	out->heartbeat_age_ms = fs.heartbeat_age_ms;
	snprintf(out->voted_for, sizeof(out->voted_for), "%s", fs.voted_for);
	out->vote_epoch = fs.vote_epoch;
	snprintf(out->last_election, sizeof(out->last_election), "%s", fs.last_election);
	out->last_election_ms = fs.last_election_ms;
	snprintf(out->failover_warning, sizeof(out->failover_warning), "%s", fs.warning);
}

/* sluice_members's rows (executor threads). */
static int members_info(void *arg, struct member_info *out, int max)
{
	struct server *srv = arg;
	struct failover_member m[MEMBERS_MAX];
	int n = failover_members(srv->failover, m, max < MEMBERS_MAX ? max : MEMBERS_MAX);
	for (int i = 0; i < n; i++) {
		snprintf(out[i].name, sizeof(out[i].name), "%.63s", m[i].name);
		snprintf(out[i].peer_address, sizeof(out[i].peer_address), "%.255s", m[i].peer_address);
		out[i].self = m[i].self;
		out[i].linked = m[i].linked;
		out[i].leading = m[i].leading;
		out[i].answered_age_ms = m[i].answered_age_ms;
		out[i].answering = m[i].answering;
	}
	return n;
}

/* sluice_status's row for this node (executor threads). */
static void node_info(void *arg, struct node_info *out)
{
	struct server *srv = arg;
	election_info(srv, out);
	node_name(srv, out->node_name, sizeof(out->node_name));
	snprintf(out->client_address, sizeof(out->client_address), "%s", srv->client_addr);
	if (srv->replica) {
		struct replica_status st;
		replica_status(srv->replica, &st);
		out->role = "follower";
		out->epoch = st.epoch;
		out->log_mode = st.log_mode == LOG_MODE_BOTH	   ? "both"
				: st.log_mode == LOG_MODE_LOGICAL ? "logical"
				: st.log_mode == LOG_MODE_PHYSICAL ? "physical"
								   : "unknown";
		out->current_lsn = st.flushed_lsn;
		out->applied_lsn = st.applied_lsn;
		uint64_t end = st.leader_end > st.flushed_lsn ? st.leader_end : st.flushed_lsn;
		out->lag_bytes = end > st.applied_lsn ? (int64_t)(end - st.applied_lsn) : 0;
		out->lag_ms = st.lag_ms;
		out->staleness_ms = st.staleness_ms;
		snprintf(out->state, sizeof(out->state), "%s", replica_state_name(st.state));
		snprintf(out->leader, sizeof(out->leader), "%s", st.leader_peer);
		snprintf(out->leader_client, sizeof(out->leader_client), "%s", st.leader_client);
		snprintf(out->last_error, sizeof(out->last_error), "%s", st.last_error);
		return;
	}
	out->role = "leader";
	/* fenced: a planned switchover waits for the new leader (handover.c) */
	const char *fenced = srv->commitlog ? commitlog_fence_reason(srv->commitlog) : NULL;
	snprintf(out->state, sizeof(out->state), "%s",
		 !fenced ? "leading" : srv->lease && !lease_holds(srv->lease) ? "lease lost" : "handing over");
	snprintf(out->leader_client, sizeof(out->leader_client), "%s", srv->client_addr);
	out->synchronous = !syncrep_enabled(srv->syncrep) ? "off" : syncrep_degraded(srv->syncrep) ? "degraded" : "on";
	if (srv->commitlog) {
		out->epoch = commitlog_epoch(srv->commitlog);
		out->log_mode = log_mode_name(commitlog_mode(srv->commitlog));
		out->current_lsn = replog_durable_lsn(commitlog_replog(srv->commitlog));
		/* readers see the published commits: the others wait for standbys */
		out->applied_lsn = commitlog_published_end(srv->commitlog);
	} else {
		out->log_mode = "off";
	}
}

/* --------------------------------------------------------------- admin */

static bool is_admin(void *arg, const char *user) { return server_is_admin(arg, user); }

bool server_is_admin(struct server *srv, const char *user)
{
	if (srv->cfg->auth_method == AUTH_TRUST)
		return true;
	const char *p = srv->cfg->admin_users;
	size_t n = strlen(user);
	while (*p) {
		p += strspn(p, ", \t");
		size_t len = strcspn(p, ", \t");
		if (len > 0 && len == n && strncmp(p, user, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* Whether a follower hears from its leader. */
static bool leader_reachable(struct server *srv)
{
	struct replica_status st;
	replica_status(srv->replica, &st);
	return (st.state == REPLICA_STREAMING || st.state == REPLICA_CATCHUP) &&
	       st.staleness_ms < (double)srv->cfg->replication_timeout_ms;
}

/* Executor thread: sluice_promote(). The loop thread does the work. */
static int request_promote(void *arg, bool force, struct admin_refusal *why)
{
	struct server *srv = arg;
	why->sqlstate = SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE;
	enum node_role role = server_role(srv);
	if (role != NODE_FOLLOWER) {
		snprintf(why->message, sizeof(why->message), "%s",
			 role == NODE_PROMOTING ? "a promotion of this node is already under way"
						: "this node is the leader already");
		return -1;
	}
	if (!force && !leader_reachable(srv)) {
		snprintf(why->message, sizeof(why->message), "the leader cannot be reached");
		snprintf(why->hint, sizeof(why->hint),
			 "To promote this node anyway, run SELECT sluice_promote(force => true); commits of the "
			 "leader that this node has not received are lost.");
		return -1;
	}
	if (!force) {
		/* planned: the leader hands over once this node has its whole log */
		const char *colon = strrchr(srv->cfg->peer_listen, ':');
		if (!colon || atoi(colon + 1) <= 0) {
			snprintf(why->message, sizeof(why->message),
				 "a planned switchover needs peer_listen with a fixed port on this node");
			snprintf(why->hint, sizeof(why->hint),
				 "The old leader follows this node at that address once it has handed over.");
			return -1;
		}
		if (replica_request_switchover(srv->replica, srv->cfg->peer_listen) != 0) {
			snprintf(why->message, sizeof(why->message), "could not ask the leader to hand over");
			return -1;
		}
		return 0;
	}
	atomic_store(&srv->promote_wanted, true);
	ev_async_send(srv->loop, &srv->admin_async);
	return 0;
}

/* Executor thread: sluice_drop_follower(name). */
static int drop_follower(void *arg, const char *name, struct admin_refusal *why)
{
	struct server *srv = arg;
	why->sqlstate = SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE;
	if (server_role(srv) != NODE_LEADER || !srv->peers) {
		snprintf(why->message, sizeof(why->message), "this node is not a leader with a peer port");
		return -1;
	}
	int rc = peers_drop_follower(srv->peers, name);
	if (rc == SL_ENOTFOUND) {
		why->sqlstate = SQLSTATE_UNDEFINED_OBJECT;
		snprintf(why->message, sizeof(why->message), "follower \"%.200s\" does not exist", name);
	} else if (rc == SL_EAGAIN) {
		why->sqlstate = SQLSTATE_OBJECT_IN_USE;
		snprintf(why->message, sizeof(why->message), "follower \"%.200s\" is connected", name);
		snprintf(why->hint, sizeof(why->hint), "Stop it first: a connected follower needs the log it holds.");
	}
	return rc == 0 ? 0 : -1;
}

/* ----------------------------------------------------------- runtimes */

/* A session's setting, for SQL functions such as current_setting. */
static const char *session_setting(void *session, const char *name) { return session_get(session, name); }

/* The leader's replication log; reconciles the database with it first. */
static int open_commitlog(struct server *srv, const char *db_path, char *err, size_t errlen)
{
	const struct config *cfg = srv->cfg;
	char name[PEER_STR_MAX];
	node_name(srv, name, sizeof(name));
	struct commitlog_options opt = {
		.data_dir = cfg->data_dir,
		.db_path = db_path,
		.node_name = name,
		.mode = (enum log_mode)cfg->log_mode,
		.log = {
			.segment_size = (uint64_t)cfg->log_segment_size,
			.keep_size = (uint64_t)cfg->log_keep_size,
			.max_size = (uint64_t)cfg->max_log_size,
			.compress = cfg->log_compression != 0,
		},
		.epoch = srv->lead_epoch,
		.lease = srv->lease,
	};
	return commitlog_open(&srv->commitlog, &opt, err, errlen);
}

/* A leader's synchronous_standbys. */
static int start_syncrep(struct server *srv, char *err, size_t errlen)
{
	const struct config *cfg = srv->cfg;
	struct syncrep_rule rule;
	char why[256];
	if (syncrep_rule_parse(cfg->synchronous_standbys, &rule, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid synchronous_standbys \"%.200s\": %s", cfg->synchronous_standbys, why);
		return -1;
	}
	if (rule.k > 0 && !cfg->peer_listen[0]) {
		snprintf(err, errlen, "synchronous_standbys needs peer_listen (followers to acknowledge commits)");
		return -1;
	}
	srv->syncrep = syncrep_new(&rule, cfg->synchronous_timeout_ms, cfg->synchronous_fallback, srv->lease);
	if (!srv->syncrep) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char level[32] = "", fallback[32] = "";
	config_show(cfg, "synchronous_commit", level, sizeof(level));
	config_show(cfg, "synchronous_fallback", fallback, sizeof(fallback));
	if (rule.k > 0)
		log_info("server", "synchronous standbys \"%s\" synchronous_commit=%s synchronous_fallback=%s",
			 cfg->synchronous_standbys, level, fallback);
	return 0;
}

static int start_leader(struct server *srv, const char *db_path, char *err, size_t errlen)
{
	const struct config *cfg = srv->cfg;
	if (cfg->log_mode != 0 && open_commitlog(srv, db_path, err, errlen) != 0)
		return -1;
	if (start_syncrep(srv, err, errlen) != 0)
		return -1;
	if (dbpool_open(db_path, false, cfg->checkpoint_wal_size, srv->commitlog, session_setting, &srv->pool,
			err, errlen) != 0)
		return -1;
	/* the slots this database holds keep the log they still need */
	if (srv->commitlog &&
	    slots_retain_all(srv->pool->writer->db, commitlog_replog(srv->commitlog), (uint64_t)cfg->max_slot_lag) != 0)
		log_warn("server", "could not read the CDC slots: the log keeps no more than log_keep_size for them");
	if (cfg->peer_listen[0]) {
		if (!srv->commitlog) {
			snprintf(err, errlen, "peer_listen needs a replication log (log_mode is off)");
			return -1;
		}
		if (peers_start(&srv->peers, cfg, srv->commitlog, srv->syncrep, db_path, srv->client_addr, err,
				errlen) != 0)
			return -1;
		peers_on_switchover(srv->peers, handover_request, srv);
		if (srv->failover)
			peers_on_member(srv->peers, failover_on_member, srv->failover);
	}
	return 0;
}

/* Receiver thread: the leader handed over to this node. */
static void on_handed_over(void *arg)
{
	struct server *srv = arg;
	atomic_store(&srv->promote_wanted, true);
	ev_async_send(srv->loop, &srv->admin_async);
}

/* A follower's peer port: the leader it hears from (peers.h); nothing
 * while the runtime starts (the replica may be bootstrapping). */
static void leader_of(void *arg, char *out, size_t outlen)
{
	struct server *srv = arg;
	out[0] = '\0';
	if (pthread_mutex_trylock(&srv->runtime_mu) != 0)
		return;
	if (srv->replica) {
		struct replica_status st;
		replica_status(srv->replica, &st);
		snprintf(out, outlen, "%s", leader_reachable(srv) ? st.leader_peer : "");
	}
	pthread_mutex_unlock(&srv->runtime_mu);
}

static int start_follower(struct server *srv, const char *db_path, char *err, size_t errlen)
{
	const struct config *cfg = srv->cfg;
	/* every node listens: a peer that dials this one learns the leader,
	 * and members reach it (votes, heartbeats) even while it bootstraps */
	if (cfg->peer_listen[0]) {
		if (peers_start(&srv->peers, cfg, NULL, NULL, db_path, srv->client_addr, err, errlen) != 0)
			return -1;
		peers_on_redirect(srv->peers, leader_of, srv);
		if (srv->failover)
			peers_on_member(srv->peers, failover_on_member, srv->failover);
	}
	if (replica_open(&srv->replica, cfg, srv->leader_peer, db_path, srv->client_addr, err, errlen) != 0)
		return -1;
	replica_on_promote(srv->replica, on_handed_over, srv);
	if (dbpool_open(db_path, true, cfg->checkpoint_wal_size, NULL, session_setting, &srv->pool, err,
			errlen) != 0)
		return -1;
	struct replica_readers readers = { dbpool_cancel_snapshots, dbpool_gate, dbpool_hold_reads, srv->pool };
	return replica_start(srv->replica, &readers, err, errlen);
}

int runtime_start_role(struct server *srv, enum node_role role, char *err, size_t errlen)
{
	char path[CONFIG_STR_MAX + 32];
	snprintf(path, sizeof(path), "%s/sluice.db", srv->cfg->data_dir);
	pthread_mutex_lock(&srv->runtime_mu);
	int rc = role == NODE_LEADER ? start_leader(srv, path, err, errlen) : start_follower(srv, path, err, errlen);
	pthread_mutex_unlock(&srv->runtime_mu);
	if (rc != 0)
		return -1;
	struct nodestatus_source src = { node_info, srv->failover ? members_info : NULL,
					 srv->commitlog ? srv->peers : NULL /* a leader's followers */, srv };
	nodestatus_set(&src);
	struct admin_ops ops = { is_admin, request_promote, drop_follower, srv };
	admin_set(&ops);
	return 0;
}

int runtime_start_executor(struct server *srv)
{
	return executor_start(&srv->ex, srv->pool, srv->cfg, srv->syncrep, srv->loop, pgconn_job_done);
}

int runtime_start(struct server *srv, enum node_role role, char *err, size_t errlen)
{
	if (runtime_start_role(srv, role, err, errlen) != 0)
		return -1;
	if (runtime_start_executor(srv) != 0) {
		snprintf(err, errlen, "could not start the executor");
		return -1;
	}
	return 0;
}

void runtime_stop(struct server *srv)
{
	if (srv->ex)
		executor_stop(srv->ex);
	srv->ex = NULL;
	pthread_mutex_lock(&srv->runtime_mu);
	replica_stop(srv->replica);
	peers_stop(srv->peers);
	srv->peers = NULL;
	nodestatus_set(NULL);
	admin_set(NULL);
	dbpool_close(srv->pool);
	srv->pool = NULL;
	replica_close(srv->replica);
	srv->replica = NULL;
	commitlog_close(srv->commitlog);
	srv->commitlog = NULL;
	syncrep_free(srv->syncrep);
	srv->syncrep = NULL;
	pthread_mutex_unlock(&srv->runtime_mu);
}
