/*
 * server.c — the node's listener, connection registry and shutdown (see
 * server.h). Loop thread only.
 *
 * SIGTERM/SIGINT: stop accepting, tell every client, roll back open
 * sessions on the executor, then leave the loop once all are gone.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "nodestatus.h"
#include "pgconn.h"
#include "pgwire.h"
#include "sqlstate.h"
#include "syncrep.h"

static const char *session_setting(void *session, const char *name)
{
	return session_get(session, name);
}

static int bind_client_port(struct server *srv)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", srv->cfg->port);
	int rc = getaddrinfo(srv->cfg->listen_address, port, &hints, &res);
	if (rc != 0) {
		log_fatal("server", "could not resolve listen_address \"%s\": %s", srv->cfg->listen_address,
			  gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
		log_fatal("server", "could not listen on %s:%s: %s", srv->cfg->listen_address, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	srv->port = netaddr_port(&ss);
	srv->listen_fd = fd;
	return 0;
}

static int write_port_file(struct server *srv)
{
	const char *path = srv->cfg->port_file;
	if (!path[0])
		return 0;
	char tmp[CONFIG_STR_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", srv->port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		log_fatal("server", "could not write port_file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = w->data;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				log_error("server", "accept failed: %s", strerror(errno));
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		char peer[64];
		netaddr_format(&ss, peer, sizeof(peer));
		/* past max_connections plus a margin for cancel requests, refuse at once */
		if (srv->nconns >= srv->cfg->max_connections + 16) {
			struct buf b;
			buf_init(&b);
			pgwire_put_error(&b, 'E', "FATAL", SQLSTATE_TOO_MANY_CONNECTIONS, "sorry, too many clients already",
					 NULL, NULL);
			ssize_t n = send(fd, b.data, b.len, MSG_NOSIGNAL);
			(void)n;
			buf_free(&b);
			close(fd);
			log_warn("server", "connection refused reason=\"too many connections\" peer=%s", peer);
			continue;
		}
		struct pgconn *c = pgconn_new(srv, fd, peer);
		if (!c) {
			close(fd);
			continue;
		}
		c->pid = srv->next_pid++;
		if (RAND_bytes((unsigned char *)&c->secret, sizeof(c->secret)) != 1)
			c->secret = (uint32_t)random();
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->nconns++;
	}
}

void server_conn_closed(struct server *srv, struct pgconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	if (c->counted_session)
		srv->nsessions--;
	if (srv->stopping && srv->nconns == 0)
		ev_break(srv->loop, EVBREAK_ALL);
}

void server_cancel(struct server *srv, uint32_t pid, uint32_t secret)
{
	for (struct pgconn *c = srv->conns; c; c = c->next) {
		if (c->pid == pid && c->secret == secret && c->state == PGCONN_READY) {
			if (c->job) {
				log_info("server", "cancel request pid=%u", pid);
				executor_cancel(srv->ex, c->job);
			}
			return;
		}
	}
	log_warn("server", "cancel request for an unknown session pid=%u", pid);
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *srv = w->data;
	if (srv->stopping)
		return;
	log_info("server", "shutting down signal=%d connections=%d", w->signum, srv->nconns);
	srv->stopping = true;
	ev_io_stop(loop, &srv->accept_io);
	close(srv->listen_fd);
	srv->listen_fd = -1;
	if (srv->nconns == 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	struct pgconn *c = srv->conns;
	while (c) {
		struct pgconn *next = c->next; /* c may be freed below */
		if (c->state != PGCONN_CLOSING)
			pgconn_terminate(c);
		c = next;
	}
}

static void on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("server", "SIGHUP received: settings are read at start-up; restart to change them");
}

/* The leader's replication log; reconciles the database with it first. */
static int open_commitlog(struct server *srv, const char *db_path, char *err, size_t errlen)
{
	const struct config *cfg = srv->cfg;
	char name[CONFIG_STR_MAX + 32];
	if (cfg->node_name[0])
		snprintf(name, sizeof(name), "%s", cfg->node_name);
	else
		snprintf(name, sizeof(name), "%s:%d", cfg->listen_address, cfg->port);
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
	};
	return commitlog_open(&srv->commitlog, &opt, err, errlen);
}

/* sluice_status's row for this node. */
static void node_info(void *arg, struct node_info *out)
{
	struct server *srv = arg;
	const struct config *cfg = srv->cfg;
	snprintf(out->node_name, sizeof(out->node_name), "%.255s", cfg->node_name[0] ? cfg->node_name : srv->client_addr);
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
		snprintf(out->state, sizeof(out->state), "%s", st.state);
		snprintf(out->leader, sizeof(out->leader), "%.255s", cfg->leader_peer);
		snprintf(out->leader_client, sizeof(out->leader_client), "%s", st.leader_client);
		snprintf(out->last_error, sizeof(out->last_error), "%s", st.last_error);
		return;
	}
	out->role = "leader";
	snprintf(out->state, sizeof(out->state), "leading");
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
	srv->syncrep = syncrep_new(&rule, cfg->synchronous_timeout_ms, cfg->synchronous_fallback);
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

/* The peer port of a leader, the threads of a follower. */
static int start_replication(struct server *srv, const char *db_path, char *err, size_t errlen)
{
	const struct config *cfg = srv->cfg;
	struct replica_readers readers = { dbpool_cancel_snapshots, dbpool_gate, srv->pool };
	if (srv->replica && replica_start(srv->replica, &readers, err, errlen) != 0)
		return -1;
	if (!srv->replica && cfg->peer_listen[0]) {
		if (!srv->commitlog) {
			snprintf(err, errlen, "peer_listen needs a replication log (log_mode is off)");
			return -1;
		}
		if (peers_start(&srv->peers, cfg, srv->commitlog, srv->syncrep, db_path, srv->client_addr, err,
				errlen) != 0)
			return -1;
	}
	nodestatus_set(node_info, srv->peers, srv);
	return 0;
}

int server_init(struct server *srv, const struct config *cfg, struct ev_loop *loop)
{
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->loop = loop;
	srv->listen_fd = -1;
	uint32_t r = 0;
	RAND_bytes((unsigned char *)&r, sizeof(r));
	srv->next_pid = 1000 + (r % 100000);
	char err[512];
	if (cfg->password_file[0]) {
		if (users_load(cfg->password_file, &srv->users, err, sizeof(err)) != 0) {
			log_fatal("server", "%s", err);
			return -1;
		}
	} else if (cfg->auth_method != AUTH_TRUST) {
		log_fatal("server", "auth_method \"%s\" needs a password_file",
			  cfg->auth_method == AUTH_PASSWORD ? "password" : "scram-sha-256");
		return -1;
	}
	char path[CONFIG_STR_MAX + 32];
	snprintf(path, sizeof(path), "%s/sluice.db", cfg->data_dir);
	/* bound first, so that peers learn the client address; listening only
	 * once the database is ready (a follower may bootstrap first) */
	if (bind_client_port(srv) != 0)
		return -1;
	snprintf(srv->client_addr, sizeof(srv->client_addr), "%.200s:%d", cfg->listen_address, srv->port);
	bool follower = cfg->role == ROLE_FOLLOWER;
	if (!follower && cfg->log_mode != 0 && open_commitlog(srv, path, err, sizeof(err)) != 0) {
		log_fatal("server", "%s", err);
		return -1;
	}
	if (!follower && start_syncrep(srv, err, sizeof(err)) != 0) {
		log_fatal("server", "%s", err);
		return -1;
	}
	if (follower && replica_open(&srv->replica, cfg, path, srv->client_addr, err, sizeof(err)) != 0) {
		log_fatal("server", "%s", err);
		return -1;
	}
	if (dbpool_open(path, follower, cfg->checkpoint_wal_size, srv->commitlog, session_setting, &srv->pool, err,
			sizeof(err)) != 0) {
		log_fatal("server", "%s", err);
		return -1;
	}
	if (start_replication(srv, path, err, sizeof(err)) != 0) {
		log_fatal("server", "%s", err);
		return -1;
	}
	if (executor_start(&srv->ex, srv->pool, cfg, srv->syncrep, loop, pgconn_job_done) != 0)
		return -1;
	/* only now: a follower's clients must not even wait on a half copy */
	if (listen(srv->listen_fd, 128) != 0) {
		log_fatal("server", "could not listen on %s:%d: %s", cfg->listen_address, srv->port, strerror(errno));
		return -1;
	}
	ev_io_init(&srv->accept_io, on_accept, srv->listen_fd, EV_READ);
	srv->accept_io.data = srv;
	ev_io_start(loop, &srv->accept_io);
	ev_signal_init(&srv->sigterm, on_stop_signal, SIGTERM);
	ev_signal_init(&srv->sigint, on_stop_signal, SIGINT);
	ev_signal_init(&srv->sighup, on_sighup, SIGHUP);
	srv->sigterm.data = srv->sigint.data = srv->sighup.data = srv;
	ev_signal_start(loop, &srv->sigterm);
	ev_signal_start(loop, &srv->sigint);
	ev_signal_start(loop, &srv->sighup);
	if (write_port_file(srv) != 0)
		return -1;
	log_info("server", "listening address=%s port=%d role=%s data_dir=%s", cfg->listen_address, srv->port,
		 cfg->role == ROLE_FOLLOWER ? "follower" : "leader", cfg->data_dir);
	return 0;
}

void server_run(struct server *srv) { ev_run(srv->loop, 0); }

void server_free(struct server *srv)
{
	if (srv->ex)
		executor_stop(srv->ex);
	srv->ex = NULL;
	replica_stop(srv->replica);
	peers_stop(srv->peers);
	srv->peers = NULL;
	nodestatus_set(NULL, NULL, NULL);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	ev_signal_stop(srv->loop, &srv->sigterm);
	ev_signal_stop(srv->loop, &srv->sigint);
	ev_signal_stop(srv->loop, &srv->sighup);
	dbpool_close(srv->pool);
	replica_close(srv->replica);
	commitlog_close(srv->commitlog);
	syncrep_free(srv->syncrep);
	users_free(srv->users);
}
