/*
 * server.h — one sluiced node: the listening socket, the client
 * connections, cancel keys, and orderly shutdown (server.c); the runtime
 * of its role, leader or follower, and the moves between roles
 * (runtime.c, by node_role.c's table). Loop thread only, but for
 * server_role() and the node_role_ functions.
 */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dbpool.h"
#include "executor.h"
#include "failover.h"
#include "lease.h"
#include "peers.h"
#include "replica.h"
#include "tls.h"
#include "users.h"

struct pgconn;

/* The node's role now: a value of the running process (config's role is
 * only the one it starts in). Moves: node_role.c's table, made by
 * runtime.c. */
enum node_role {
	NODE_FOLLOWER,
	NODE_PROMOTING, /* between follower and leader: connections wait */
	NODE_LEADER,
	NODE_DEMOTING, /* between leader and follower: connections wait */
	NODE_ROLE_COUNT,
};

struct server {
	const struct config *cfg;
	struct ev_loop *loop;
	struct dbpool *pool;
	struct commitlog *commitlog; /* the leader's replication log; NULL on a follower */
	struct peers *peers;         /* the leader's peer port, when peer_listen is set */
	struct syncrep *syncrep;     /* the leader's synchronous standbys (none: k = 0) */
	struct replica *replica;     /* a follower's link and apply; NULL on a leader */
	char client_addr[PEER_STR_MAX]; /* host:port clients connect to */
	struct executor *ex;
	struct users *users;
	SSL_CTX *tls;                /* ssl = on: the client port's TLS context */
	struct failover *failover;   /* automatic failover; NULL when off */
	struct lease lease_clock;    /* the leader's lease, moved by failover */
	struct lease *lease;         /* &lease_clock under automatic failover, else NULL */
	uint64_t lead_epoch;         /* the next promotion opens this epoch at least */
	/* held while the runtime starts or stops; others only try it */
	pthread_mutex_t runtime_mu;
	int listen_fd;
	int port;
	ev_io accept_io;
	ev_signal sigterm, sigint, sighup;
	atomic_int role;      /* enum node_role: server_role() */
	bool switching;       /* the role is changing: connections submit no job */
	struct {              /* the change of role under way (rolechange.c) */
		bool active;
		enum node_role to;
		const char *why;  /* said to sessions that lose their block */
		int phase;        /* enum change_phase */
		char err[512];    /* why the thread's phase failed */
		int64_t started_ms;
		pthread_t thread;
		bool thread_running;
		ev_async done;    /* the thread finished a phase */
	} change;
	bool failed;          /* stopped because a change of role failed */
	ev_async admin_async; /* an admin function asked for a change of role */
	atomic_bool promote_wanted;
	char leader_peer[PEER_STR_MAX]; /* a follower's leader (first cfg->leader_peer) */
	/* a planned switchover (handover.c): asked for on a link's thread ... */
	pthread_mutex_t handover_mu;
	bool handover_wanted;
	char handover_name[PEER_STR_MAX], handover_addr[PEER_STR_MAX];
	/* ... and carried out on the loop thread */
	struct {
		bool active, told;
		char name[PEER_STR_MAX], addr[PEER_STR_MAX];
		int64_t started_ms, deadline_ms;
		ev_timer timer;
	} handover;
	struct pgconn *conns; /* every open client connection */
	int nconns;           /* all connections, authenticated or not */
	int nsessions;        /* connections past authentication */
	uint32_t next_pid;
	bool stopping;
};

/* Binds, opens the database and starts the threads. Returns 0 or -1 (logged). */
int server_init(struct server *srv, const struct config *cfg, struct ev_loop *loop);
/* Runs the loop until SIGTERM/SIGINT and every connection is closed. */
void server_run(struct server *srv);
void server_free(struct server *srv);

/* The role now; any thread. */
enum node_role server_role(const struct server *srv);
/* node_role.c: the role's name ("follower", "promoting", "leader",
 * "demoting"), and whether the table allows a move (pure). */
const char *node_role_name(enum node_role role);
bool node_role_can_move(enum node_role from, enum node_role to);

/* runtime.c: starts (after the client port is bound) or stops what the
 * role runs; 0, or -1 with err. runtime_start is runtime_start_role (any
 * thread while no executor runs) and then runtime_start_executor (loop
 * thread). runtime_stop stops it all. */
int runtime_start(struct server *srv, enum node_role role, char *err, size_t errlen);
int runtime_start_role(struct server *srv, enum node_role role, char *err, size_t errlen);
int runtime_start_executor(struct server *srv);
void runtime_stop(struct server *srv);

/* runtime.c: whether user may run the admin functions (admin_users; every
 * user with auth_method = trust). Any thread. */
bool server_is_admin(struct server *srv, const char *user);

/* rolechange.c, loop thread. server_promote: a follower becomes the
 * leader, at the next epoch. server_step_down: a leader becomes a
 * follower of the node at leader_peer (a peer address); commits waiting
 * for standbys fail with 40003. Both return at once: the change goes on
 * beside the loop. rolechange_close waits for a change under way. */
void server_promote(struct server *srv);
void server_step_down(struct server *srv, const char *leader_peer);
void rolechange_init(struct server *srv);
void rolechange_close(struct server *srv);

/* failover_node.c: automatic failover for this node. node_failover_start
 * sets srv->failover (NULL when off); 0, or -1 with err.
 * node_failover_reconcile (loop thread) promotes or steps down as the
 * election wants, or points the replica at the elected leader. */
int node_failover_start(struct server *srv, char *err, size_t errlen);
void node_failover_reconcile(struct server *srv);

/* handover.c: a planned switchover, from the leader's side. */
void handover_init(struct server *srv);
/* Link thread: the follower `name` asks for the leadership. */
void handover_request(void *srv, const char *name, const char *peer_addr);
/* Loop thread: starts what was asked for, if anything. */
void handover_poll(struct server *srv);
void handover_close(struct server *srv);

/* Connections call these. */
void server_conn_closed(struct server *srv, struct pgconn *c);
/* Connections not yet past authentication (nconns - nsessions) at most:
 * the oldest silent one makes room for a new one (server.c). */
#define SERVER_PENDING_MAX 64
void server_cancel(struct server *srv, uint32_t pid, uint32_t secret);

#endif
