/*
 * server.h — one sluiced node: the listening socket, the client
 * connections, cancel keys, and orderly shutdown. Loop thread only.
 */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dbpool.h"
#include "executor.h"
#include "peers.h"
#include "replica.h"
#include "users.h"

struct pgconn;

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
	int listen_fd;
	int port;
	ev_io accept_io;
	ev_signal sigterm, sigint, sighup;
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

/* Connections call these. */
void server_conn_closed(struct server *srv, struct pgconn *c);
void server_cancel(struct server *srv, uint32_t pid, uint32_t secret);

#endif
