/*
 * pgconn.h — one client connection on the loop thread: reading and
 * framing PostgreSQL messages, start-up and authentication, handing the
 * session's messages to the executor as jobs, and writing the replies.
 *
 * The watch mask follows the buffers: read while the input buffer has
 * room and no job is running, write while the output buffer has bytes.
 */
#ifndef SL_PGCONN_H
#define SL_PGCONN_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "executor.h"
#include "scram.h"
#include "session.h"
#include "tls.h"

struct server;

enum pgconn_state {
	PGCONN_STARTUP,       /* waiting for the startup packet */
	PGCONN_TLS_HANDSHAKE, /* after 'S' or a direct TLS hello; then STARTUP inside TLS */
	PGCONN_AUTH_PASSWORD, /* AuthenticationCleartextPassword sent */
	PGCONN_AUTH_SASL,     /* AuthenticationSASL sent */
	PGCONN_AUTH_SASL_FINAL,
	PGCONN_READY,         /* authenticated: queries flow */
	PGCONN_CLOSING,       /* socket closed; waiting for the session to end */
};

struct pgconn {
	struct server *srv;
	int fd;
	int deferred_fd; /* closed, but an executor may still send on it: close when its job is back */
	SSL *deferred_ssl; /* the same for its TLS session */
	char peer[64];
	ev_io io;
	ev_timer timer; /* authentication timeout, then idle-in-transaction timeout */
	enum pgconn_state state;
	struct buf in, out;
	struct buf startup; /* the startup packet, until authentication ends */
	bool close_after_flush;
	bool counted_session;
	bool spoke;           /* some bytes came (an SSL request, say) */
	SSL *ssl;             /* the TLS session, or NULL: in clear */
	pthread_mutex_t ssl_mu; /* held around every call on ssl: a job's executor may write too */
	bool tls_direct;      /* TLS began without SSLRequest: ALPN must say postgresql */
	bool tls_wants_write; /* the last TLS call waits for the socket to be writable */
	char io_error[240];   /* why the last TLS read or write failed */
	struct session *sess;
	struct job *job;     /* in flight, or NULL */
	bool stream_idle;    /* a replication stream caught up: its next step waits (walsender.h) */
	struct scram_state *scram;
	char user[64];
	uint32_t pid, secret;
	struct pgconn *next, *prev;
};

struct pgconn *pgconn_new(struct server *srv, int fd, const char *peer);
/* Closes the socket now (logging why) and frees the connection once its
 * session has ended on the executor. */
void pgconn_close(struct pgconn *c, const char *reason);
/* Before authentication: the client has sent nothing at all yet. */
bool pgconn_silent(const struct pgconn *c);
/* The executor finished a job of this connection. */
void pgconn_job_done(struct job *job);
/* Shutdown: tell the client and close. */
void pgconn_terminate(struct pgconn *c);
/*
 * While the node changes role (no executor runs): a session inside a
 * transaction block (or holding a portal) is rolled back and its
 * connection ends with FATAL 57P01 saying why; so does a replication
 * stream (its reader goes before the log it reads).
 */
void pgconn_end_block(struct pgconn *c, struct dbpool *pool, const char *why);
/* After the change: in_hot_standby and default_transaction_read_only
 * follow the new role (ParameterStatus), and input waiting is run. */
void pgconn_resume(struct pgconn *c, bool read_only_node);

#endif
