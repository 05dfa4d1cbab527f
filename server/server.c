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
#include "pgconn.h"
#include "pgwire.h"
#include "sqlstate.h"

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

static void evict_pending(struct server *srv);

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
		/* sessions are bounded by max_connections when they start
		 * (pgconn.c); connections before that have a budget of their own,
		 * where the oldest silent one makes room for a new one */
		if (srv->nconns - srv->nsessions >= SERVER_PENDING_MAX)
			evict_pending(srv);
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

/*
 * The pre-authentication budget is full: the oldest connection that has
 * sent nothing goes (or, if every one has, the oldest one), so that idle
 * strangers never keep a client that authenticates out.
 */
static void evict_pending(struct server *srv)
{
	struct pgconn *oldest = NULL, *oldest_silent = NULL;
	for (struct pgconn *c = srv->conns; c; c = c->next) { /* newest first */
		if (c->counted_session || c->state == PGCONN_CLOSING)
			continue;
		oldest = c;
		if (pgconn_silent(c))
			oldest_silent = c;
	}
	struct pgconn *victim = oldest_silent ? oldest_silent : oldest;
	if (victim)
		pgconn_close(victim, "too many connections waiting to authenticate");
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

/* An admin function asked for a change of role. */
static void on_admin_async(struct ev_loop *loop, ev_async *w, int revents)
{
	struct server *srv = w->data;
	if (atomic_exchange(&srv->promote_wanted, false) && !srv->stopping) {
		if (srv->failover)
			failover_admin_lead(srv->failover); /* the election leads; reconciling promotes */
		else
			server_promote(srv);
	}
	handover_poll(srv);
	node_failover_reconcile(srv);
}

int server_init(struct server *srv, const struct config *cfg, struct ev_loop *loop)
{
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->loop = loop;
	srv->listen_fd = -1;
	pthread_mutex_init(&srv->runtime_mu, NULL);
	snprintf(srv->leader_peer, sizeof(srv->leader_peer), "%.255s", cfg->leader_peer);
	handover_init(srv);
	rolechange_init(srv);
	atomic_store(&srv->role, cfg->role == ROLE_FOLLOWER ? NODE_FOLLOWER : NODE_LEADER);
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
	if (cfg->ssl && !(srv->tls = tls_server_ctx(cfg, err, sizeof(err)))) {
		log_fatal("server", "%s", err);
		return -1;
	}
	if (cfg->ssl_required && !cfg->ssl) {
		log_fatal("server", "ssl_required = on needs ssl = on");
		return -1;
	}
	/* bound first, so that peers learn the client address; listening only
	 * once the database is ready (a follower may bootstrap first) */
	if (bind_client_port(srv) != 0)
		return -1;
	snprintf(srv->client_addr, sizeof(srv->client_addr), "%.200s:%d", cfg->listen_address, srv->port);
	ev_async_init(&srv->admin_async, on_admin_async);
	srv->admin_async.data = srv;
	ev_async_start(loop, &srv->admin_async);
	if (node_failover_start(srv, err, sizeof(err)) != 0) {
		log_fatal("server", "%s", err);
		return -1;
	}
	if (srv->failover) {
		/* the configured role counts only at a cluster's first start;
		 * after that the election decides who leads */
		if (cfg->role == ROLE_LEADER && failover_first_start(srv->failover))
			failover_admin_lead(srv->failover);
		uint64_t epoch;
		char leader[PEER_STR_MAX];
		bool lead = failover_wants(srv->failover, &epoch, leader, sizeof(leader));
		atomic_store(&srv->role, lead ? NODE_LEADER : NODE_FOLLOWER);
		srv->lead_epoch = lead ? epoch : 0;
		if (!lead && cfg->role == ROLE_LEADER)
			log_info("server", "starting as a follower: the cluster elects its leader");
	}
	if (runtime_start(srv, server_role(srv), err, sizeof(err)) != 0) {
		log_fatal("server", "%s", err);
		return -1;
	}
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
		 node_role_name(server_role(srv)), cfg->data_dir);
	return 0;
}

void server_run(struct server *srv) { ev_run(srv->loop, 0); }

void server_free(struct server *srv)
{
	rolechange_close(srv);
	runtime_stop(srv); /* first: the peer port hands members' messages to failover */
	failover_stop(srv->failover);
	srv->failover = NULL;
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	ev_async_stop(srv->loop, &srv->admin_async);
	handover_close(srv);
	ev_signal_stop(srv->loop, &srv->sigterm);
	ev_signal_stop(srv->loop, &srv->sigint);
	ev_signal_stop(srv->loop, &srv->sighup);
	users_free(srv->users);
	SSL_CTX_free(srv->tls);
	pthread_mutex_destroy(&srv->runtime_mu);
}
