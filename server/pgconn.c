/*
 * pgconn.c — a client connection on the loop thread (see pgconn.h).
 *
 * Life cycle: STARTUP (GSSENCRequest answered 'N'; SSLRequest 'S' with
 * ssl = on, else 'N'; CancelRequest handled and closed; the startup packet
 * is due within PGCONN_STARTUP_TIMEOUT_MS) → TLS_HANDSHAKE (after 'S', or
 * at once when the first byte is a TLS handshake record: PostgreSQL 17's
 * direct TLS, which must agree on ALPN "postgresql") → STARTUP inside TLS
 * → AUTH_* (trust, cleartext password or SCRAM-SHA-256, bounded by
 * authentication_timeout) → READY → CLOSING. Bytes sent after an
 * SSLRequest before the handshake are refused (they would be taken as
 * sent inside TLS). An executor thread may send a job's replies itself
 * (executor.c); with TLS every call on the session holds c->ssl_mu.
 * Until READY a connection counts in the server's pre-authentication
 * budget (server.c), not toward max_connections.
 * In READY, whole messages up to a Sync, Query or Flush become one job;
 * while it runs, further input waits in the buffer. Every close logs why.
 * After START_REPLICATION a session streams (walsender.h): the loop thread
 * reads the client's CopyData itself and submits the stream's steps, a
 * slot confirmation now and then, and the end.
 */
#include "pgconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "pgwire.h"
#include "server.h"
#include "sl_error.h"
#include "sqlstate.h"
#include "users.h"
#include "walsender.h"

#define READ_CHUNK 65536
#define INPUT_HIGH_WATER (1u << 20)
#define PGCONN_STARTUP_TIMEOUT_MS 5000 /* a silent connection goes after this long */

static void update_watch(struct pgconn *c);
static void process_input(struct pgconn *c);
static void read_input(struct pgconn *c);
static void dispatch(struct pgconn *c);
static void stream_pump(struct pgconn *c);

/* A TLS call's outcome as send()/recv() would say it: bytes, 0 when the
 * peer ended the session, -1 with errno (EAGAIN: call again when the
 * socket is ready; else c->io_error says why). */
static ssize_t tls_outcome(struct pgconn *c, enum tls_io r, size_t n)
{
	c->tls_wants_write = r == TLS_IO_WANT_WRITE;
	switch (r) {
	case TLS_IO_DONE:
		return (ssize_t)n;
	case TLS_IO_WANT_READ:
	case TLS_IO_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case TLS_IO_CLOSED:
		return 0;
	default: {
		char why[200];
		snprintf(c->io_error, sizeof(c->io_error), "TLS error: %s", tls_error(why, sizeof(why)));
		errno = EPROTO;
		return -1;
	}
	}
}

static ssize_t conn_send(struct pgconn *c)
{
	if (!c->ssl)
		return send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
	size_t n = 0;
	pthread_mutex_lock(&c->ssl_mu);
	enum tls_io r = tls_write(c->ssl, c->out.data, c->out.len, &n);
	pthread_mutex_unlock(&c->ssl_mu);
	return tls_outcome(c, r, n);
}

static ssize_t conn_recv(struct pgconn *c, void *buf, size_t len)
{
	if (!c->ssl)
		return recv(c->fd, buf, len, 0);
	size_t n = 0;
	pthread_mutex_lock(&c->ssl_mu);
	enum tls_io r = tls_read(c->ssl, buf, len, &n);
	pthread_mutex_unlock(&c->ssl_mu);
	return tls_outcome(c, r, n);
}

/* Whether TLS holds bytes it decrypted that were not read yet. */
static bool tls_pending(struct pgconn *c)
{
	pthread_mutex_lock(&c->ssl_mu);
	bool pending = SSL_pending(c->ssl) > 0;
	pthread_mutex_unlock(&c->ssl_mu);
	return pending;
}

static void fatal(struct pgconn *c, const char *sqlstate, const char *message)
{
	pgwire_put_error(&c->out, 'E', "FATAL", sqlstate, message, NULL, NULL);
	c->close_after_flush = true;
}

/* Writes what it can. Returns -1 when the connection was closed (and may
 * have been freed): the caller must not touch c then. */
static int flush(struct pgconn *c)
{
	while (c->out.len > 0 && c->fd >= 0) {
		ssize_t n = conn_send(c);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		pgconn_close(c, c->io_error[0] ? c->io_error : n < 0 ? strerror(errno) : "peer closed");
		return -1;
	}
	if (c->out.len == 0 && c->close_after_flush && c->fd >= 0) {
		pgconn_close(c, "closed by server after error");
		return -1;
	}
	return c->fd >= 0 ? 0 : -1;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pgconn *c = w->data;
	if (c->state == PGCONN_READY && c->sess && c->sess->wal) { /* a stream looks again */
		c->stream_idle = false;
		stream_pump(c);
		if (c->fd >= 0 && flush(c) == 0)
			update_watch(c);
		return;
	}
	if (c->state == PGCONN_READY) {
		pgwire_put_error(&c->out, 'E', "FATAL", SQLSTATE_IDLE_IN_TRANSACTION_TIMEOUT,
				 "terminating connection due to idle-in-transaction timeout", NULL, NULL);
		c->close_after_flush = true;
		flush(c);
	} else {
		pgconn_close(c, c->state == PGCONN_STARTUP	     ? "no startup packet in time"
				: c->state == PGCONN_TLS_HANDSHAKE ? "no TLS handshake in time"
								   : "authentication timeout");
	}
}

static void start_timer(struct pgconn *c, int64_t ms)
{
	ev_timer_stop(c->srv->loop, &c->timer);
	if (ms <= 0)
		return;
	ev_timer_set(&c->timer, (double)ms / 1000.0, 0.0);
	ev_timer_start(c->srv->loop, &c->timer);
}

/* Starts the TLS handshake on the connection; false when it cannot (the
 * connection then closes at the next flush). */
static bool start_tls(struct pgconn *c, bool direct)
{
	c->ssl = tls_accept_new(c->srv->tls, c->fd);
	if (!c->ssl) {
		log_error("pgconn", "could not start a TLS session peer=%s", c->peer);
		c->close_after_flush = true;
		return false;
	}
	c->tls_direct = direct;
	c->state = PGCONN_TLS_HANDSHAKE;
	return true;
}

/* The handshake goes on as far as the socket lets it. */
static void tls_step(struct pgconn *c)
{
	enum tls_io r = tls_handshake(c->ssl);
	c->tls_wants_write = r == TLS_IO_WANT_WRITE;
	if (r == TLS_IO_WANT_READ || r == TLS_IO_WANT_WRITE) {
		update_watch(c);
		return;
	}
	if (r != TLS_IO_DONE) {
		char why[200], reason[240];
		snprintf(reason, sizeof(reason), "TLS handshake failed: %s",
			 r == TLS_IO_CLOSED ? "the client closed the connection" : tls_error(why, sizeof(why)));
		pgconn_close(c, reason);
		return;
	}
	c->state = PGCONN_STARTUP;
	if (c->tls_direct && !tls_alpn_postgresql(c->ssl)) {
		fatal(c, SQLSTATE_PROTOCOL_VIOLATION,
		      "received direct SSL connection request without ALPN protocol negotiation extension");
		if (flush(c) == 0)
			update_watch(c);
		return;
	}
	log_debug("pgconn", "TLS session started peer=%s version=%s cipher=%s", c->peer, SSL_get_version(c->ssl),
		  SSL_get_cipher_name(c->ssl));
	read_input(c); /* the startup packet may have come with the handshake's end */
}

/* A new connection whose first byte opens a TLS handshake record (0x16):
 * PostgreSQL 17's direct TLS. Looks without taking the byte. */
static bool direct_tls_hello(struct pgconn *c)
{
	unsigned char b;
	return c->srv->tls && recv(c->fd, &b, 1, MSG_PEEK) == 1 && b == 0x16;
}

/* Reads what the socket (or the TLS session) has and acts on it. */
static void read_input(struct pgconn *c)
{
	if (!buf_reserve(&c->in, READ_CHUNK)) {
		pgconn_close(c, "out of memory");
		return;
	}
	ssize_t n = conn_recv(c, c->in.data + c->in.len, READ_CHUNK);
	if (n == 0) {
		pgconn_close(c, "client closed the connection");
		return;
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		pgconn_close(c, c->io_error[0] ? c->io_error : strerror(errno));
		return;
	}
	if (n > 0) {
		c->in.len += (size_t)n;
		c->spoke = true;
		process_input(c);
	}
	if (c->fd >= 0 && flush(c) == 0)
		update_watch(c);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pgconn *c = w->data;
	if (c->state == PGCONN_TLS_HANDSHAKE) {
		tls_step(c);
		return;
	}
	if ((revents & EV_WRITE) && flush(c) < 0)
		return;
	if ((revents & EV_WRITE) && c->state == PGCONN_READY && c->sess && c->sess->wal && !c->job)
		stream_pump(c); /* the socket took what waited */
	if (c->state == PGCONN_STARTUP && !c->spoke && !c->ssl && (revents & EV_READ) && direct_tls_hello(c)) {
		c->spoke = true;
		if (start_tls(c, true))
			tls_step(c);
		else if (flush(c) == 0)
			update_watch(c);
		return;
	}
	/* a TLS read that waited for the socket to take a write goes on too */
	if ((revents & EV_READ) || (c->ssl && (revents & EV_WRITE) && (c->io.events & EV_READ)))
		read_input(c);
	else if (c->fd >= 0 && flush(c) == 0)
		update_watch(c);
}

static void update_watch(struct pgconn *c)
{
	int events = 0;
	/* With no job out, read on: a message up to max_message_size must be
	 * able to arrive whole (framing refuses longer ones). While a job is
	 * out, pipelined input is buffered up to a bound. A TLS call waits for
	 * what it said it waits for. */
	if (c->state == PGCONN_TLS_HANDSHAKE)
		events = c->tls_wants_write ? EV_WRITE : EV_READ;
	else if (!c->close_after_flush && (!c->job || c->in.len < INPUT_HIGH_WATER))
		events |= EV_READ;
	if (c->out.len > 0 || c->tls_wants_write)
		events |= EV_WRITE;
	if (events != c->io.events || !ev_is_active(&c->io)) {
		ev_io_stop(c->srv->loop, &c->io);
		if (events) {
			ev_io_set(&c->io, c->fd, events);
			ev_io_start(c->srv->loop, &c->io);
		}
	}
	/* bytes TLS decrypted already: the socket will not say they are there */
	if ((events & EV_READ) && c->ssl && c->state != PGCONN_TLS_HANDSHAKE && tls_pending(c))
		ev_feed_event(c->srv->loop, &c->io, EV_READ);
}

struct pgconn *pgconn_new(struct server *srv, int fd, const char *peer)
{
	struct pgconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = srv;
	c->fd = fd;
	c->deferred_fd = -1;
	pthread_mutex_init(&c->ssl_mu, NULL);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	buf_init(&c->in);
	buf_init(&c->out);
	buf_init(&c->startup);
	ev_io_init(&c->io, on_io, fd, EV_READ);
	c->io.data = c;
	ev_init(&c->timer, on_timer);
	c->timer.data = c;
	ev_io_start(srv->loop, &c->io);
	/* the startup packet is due within a few seconds; authentication then
	 * has authentication_timeout */
	int64_t t = srv->cfg->authentication_timeout_ms;
	start_timer(c, t > 0 && t < PGCONN_STARTUP_TIMEOUT_MS ? t : PGCONN_STARTUP_TIMEOUT_MS);
	return c;
}

bool pgconn_silent(const struct pgconn *c)
{
	return c->state == PGCONN_STARTUP && !c->spoke;
}

static void free_conn(struct pgconn *c)
{
	session_free(c->sess);
	scram_free(c->scram);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->startup);
	pthread_mutex_destroy(&c->ssl_mu);
	server_conn_closed(c->srv, c);
	free(c);
}

static void submit_close_job(struct pgconn *c)
{
	if (c->srv->switching)
		return; /* pgconn_resume submits it once the node has a runtime again */
	struct job *j = job_new(c->sess, c);
	if (!j) {
		/* cannot end the session on the executor: leak it rather than race */
		log_error("pgconn", "out of memory ending session pid=%u", c->pid);
		return;
	}
	j->kind = JOB_CLOSE;
	c->job = j;
	executor_submit(c->srv->ex, j);
}

void pgconn_close(struct pgconn *c, const char *reason)
{
	if (c->fd >= 0) {
		log_info("pgconn", "connection closed reason=\"%s\" peer=%s user=%s pid=%u", reason, c->peer,
			 c->user[0] ? c->user : "-", c->pid);
		ev_io_stop(c->srv->loop, &c->io);
		ev_timer_stop(c->srv->loop, &c->timer);
		if (c->job) { /* the executor may still send on them */
			c->deferred_fd = c->fd;
			c->deferred_ssl = c->ssl;
		} else {
			tls_free(c->ssl, !c->io_error[0]);
			close(c->fd);
		}
		c->ssl = NULL;
		c->fd = -1;
	}
	c->state = PGCONN_CLOSING;
	if (c->job) {
		executor_cancel(c->srv->ex, c->job); /* freed when the job comes back */
		return;
	}
	if (c->sess)
		submit_close_job(c);
	else
		free_conn(c);
}

void pgconn_terminate(struct pgconn *c)
{
	if (c->fd < 0)
		return;
	if (c->state == PGCONN_TLS_HANDSHAKE) {
		pgconn_close(c, "the server is shutting down");
		return;
	}
	pgwire_put_error(&c->out, 'E', "FATAL", SQLSTATE_ADMIN_SHUTDOWN,
			 "terminating connection due to administrator command", NULL, NULL);
	c->close_after_flush = true;
	if (c->job) {
		executor_cancel(c->srv->ex, c->job);
		return; /* flushed and closed when the job comes back */
	}
	if (flush(c) == 0)
		update_watch(c); /* the rest goes out when the socket takes it */
}

/* ------------------------------------------------------- change of role */

/* A replication stream reads the log this change closes: it ends now
 * (FATAL 57P01; the client reconnects to whichever node leads). */
static void end_stream(struct pgconn *c, const char *why)
{
	walsender_free(c->sess->wal);
	c->sess->wal = NULL;
	if (c->state != PGCONN_READY)
		return;
	log_info("pgconn", "ending a replication stream reason=\"%s\" pid=%u", why, c->pid);
	buf_reset(&c->in);
	fatal(c, SQLSTATE_ADMIN_SHUTDOWN, why);
	if (flush(c) == 0)
		update_watch(c);
}

void pgconn_end_block(struct pgconn *c, struct dbpool *pool, const char *why)
{
	struct session *s = c->sess;
	if (s && s->wal && !c->job) {
		end_stream(c, why);
		return;
	}
	if (c->state != PGCONN_READY || !s || c->job || (s->txn == TXN_IDLE && !s->bound && !s->portals))
		return;
	struct job *j = job_new(s, c);
	if (j) {
		j->kind = JOB_CLOSE;
		backend_close_session(j, pool); /* no executor runs: this thread may */
		job_free(j);
	}
	session_free(s);
	c->sess = NULL;
	log_info("pgconn", "ending a session inside a transaction block reason=\"%s\" pid=%u", why, c->pid);
	buf_reset(&c->in);
	fatal(c, SQLSTATE_ADMIN_SHUTDOWN, why);
	if (flush(c) == 0)
		update_watch(c);
}

void pgconn_resume(struct pgconn *c, bool read_only_node)
{
	if (c->state == PGCONN_CLOSING) {
		if (!c->job && c->sess)
			submit_close_job(c);
		return;
	}
	if (c->state == PGCONN_READY && c->sess) {
		if (session_set_read_only_node(c->sess, read_only_node) != 0) {
			fatal(c, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		} else if (!c->job) {
			buf_move(&c->out, &c->sess->reports); /* ParameterStatus may come at any time */
			process_input(c);
		}
	}
	if (c->fd >= 0 && flush(c) == 0)
		update_watch(c);
}

/* ------------------------------------------------------------ start-up */

/* The startup parameter replication: "database" opens PostgreSQL's
 * logical replication protocol (walsender.h); off is an ordinary session;
 * physical replication is refused. 0, or -1 after a FATAL. */
static int replication_mode(struct pgconn *c, const char *value)
{
	static const char *const off[] = { "false", "off", "no", "0", "f", "n" };
	static const char *const on[] = { "true", "on", "yes", "1", "t", "y" };
	if (strcmp(value, "database") == 0) {
		c->sess->replication = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		if (strcasecmp(value, off[i]) == 0)
			return 0;
		if (strcasecmp(value, on[i]) == 0) {
			fatal(c, SQLSTATE_FEATURE_NOT_SUPPORTED,
			      "physical replication connections are not served: followers stream on the peer port; "
			      "use replication=database for logical decoding");
			return -1;
		}
	}
	char msg[200];
	snprintf(msg, sizeof(msg), "invalid value for parameter \"replication\": \"%.100s\"", value);
	fatal(c, SQLSTATE_INVALID_PARAMETER_VALUE, msg);
	return -1;
}

static void finish_auth(struct pgconn *c, const struct pg_startup *st)
{
	struct server *srv = c->srv;
	if (srv->nsessions >= srv->cfg->max_connections) {
		fatal(c, SQLSTATE_TOO_MANY_CONNECTIONS, "sorry, too many clients already");
		return;
	}
	c->sess = session_new(srv->cfg, c->pid, c->secret, server_role(srv) != NODE_LEADER);
	if (!c->sess) {
		fatal(c, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		return;
	}
	srv->nsessions++;
	c->counted_session = true;
	snprintf(c->sess->user, sizeof(c->sess->user), "%s", c->user);
	if (session_set_superuser(c->sess, server_is_admin(srv, c->user)) != 0) {
		fatal(c, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		return;
	}
	const char *repl = pgwire_startup_param(st, "replication");
	if (repl && replication_mode(c, repl) != 0)
		return;
	const char *db = pgwire_startup_param(st, "database");
	snprintf(c->sess->database, sizeof(c->sess->database), "%s", db && *db ? db : c->user);
	char err[256];
	for (int i = 0; i < st->nparams; i++) {
		const char *k = st->keys[i];
		if (strcmp(k, "user") == 0 || strcmp(k, "database") == 0 || strcmp(k, "replication") == 0)
			continue;
		int rc = strcmp(k, "options") == 0 ? session_set_options(c->sess, st->values[i], err, sizeof(err))
						   : session_set(c->sess, k, st->values[i], err, sizeof(err));
		if (rc != 0) {
			fatal(c, SQLSTATE_FEATURE_NOT_SUPPORTED, err);
			return;
		}
	}
	buf_reset(&c->sess->reports); /* everything is reported below */
	pgwire_put_auth(&c->out, 0, NULL, 0);
	session_report_all(c->sess, &c->out);
	pgwire_put_backend_key(&c->out, c->pid, c->secret);
	pgwire_put_ready(&c->out, 'I');
	c->state = PGCONN_READY;
	ev_timer_stop(srv->loop, &c->timer);
	scram_free(c->scram);
	c->scram = NULL;
	log_info("pgconn", "session started peer=%s user=%s database=%s pid=%u", c->peer, c->user,
		 c->sess->database, c->pid);
}

/* An SSLRequest: 'N' without ssl = on; else 'S', sent before anything
 * else, and the handshake follows. */
static int ssl_request(struct pgconn *c)
{
	if (c->ssl) {
		fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "SSLRequest inside a TLS session");
		return -1;
	}
	if (!c->srv->tls) {
		buf_put_u8(&c->out, 'N');
		return 0;
	}
	if (c->in.len > 0) {
		fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "received unencrypted data after SSL request");
		return -1;
	}
	/* nothing else is queued yet: one byte on a fresh socket goes at once */
	if (c->out.len != 0 || send(c->fd, "S", 1, MSG_NOSIGNAL) != 1) {
		c->close_after_flush = true;
		return -1;
	}
	return start_tls(c, false) ? 0 : -1;
}

static int handle_startup(struct pgconn *c, const struct pg_msg *m)
{
	struct pg_startup st;
	if (pgwire_decode_startup(m, &st) != 0) {
		fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid startup packet");
		return -1;
	}
	switch (st.code) {
	case PG_SSL_REQUEST_CODE:
		return ssl_request(c);
	case PG_GSSENC_REQUEST_CODE:
		buf_put_u8(&c->out, 'N');
		return 0;
	case PG_CANCEL_REQUEST_CODE:
		server_cancel(c->srv, st.cancel_pid, st.cancel_key);
		c->close_after_flush = true; /* closed by the next flush */
		return 0;
	}
	if (c->srv->cfg->ssl_required && !c->ssl) {
		fatal(c, SQLSTATE_INVALID_AUTHORIZATION,
		      "this server accepts only TLS connections (ssl_required = on): connect with sslmode=require or "
		      "stronger");
		return -1;
	}
	const char *user = pgwire_startup_param(&st, "user");
	if (!user || !*user) {
		fatal(c, SQLSTATE_INVALID_AUTHORIZATION, "no PostgreSQL user name specified in startup packet");
		return -1;
	}
	if (strlen(user) >= sizeof(c->user)) {
		fatal(c, SQLSTATE_INVALID_AUTHORIZATION, "user name too long");
		return -1;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	start_timer(c, c->srv->cfg->authentication_timeout_ms); /* the startup packet came */
	switch (c->srv->cfg->auth_method) {
	case AUTH_TRUST:
		finish_auth(c, &st);
		break;
	case AUTH_PASSWORD:
		pgwire_put_auth(&c->out, 3, NULL, 0);
		c->state = PGCONN_AUTH_PASSWORD;
		break;
	default:
		pgwire_put_auth_sasl(&c->out);
		c->state = PGCONN_AUTH_SASL;
		break;
	}
	return 0;
}

static void auth_failed(struct pgconn *c)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", c->user);
	log_warn("pgconn", "authentication failed peer=%s user=%s", c->peer, c->user);
	fatal(c, SQLSTATE_INVALID_PASSWORD, msg);
}

static const char *user_secret(struct pgconn *c)
{
	return c->srv->users ? users_secret(c->srv->users, c->user) : NULL;
}

static const char *user_verifier(struct pgconn *c)
{
	return c->srv->users ? users_verifier(c->srv->users, c->user) : NULL;
}

/* An authentication message; startup is the saved startup packet. */
static void handle_auth(struct pgconn *c, const struct pg_msg *m, const struct pg_msg *startup)
{
	if (m->type != 'p') {
		fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "expected password response");
		return;
	}
	char err[256];
	struct buf reply;
	buf_init(&reply);
	if (c->state == PGCONN_AUTH_PASSWORD) {
		const char *password;
		const char *secret = user_secret(c);
		if (pgwire_decode_password(m, &password) != 0)
			fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid password packet");
		else if (!secret || !scram_check_password(secret, password))
			auth_failed(c);
		else
			goto ok;
		return;
	}
	if (c->state == PGCONN_AUTH_SASL) {
		const char *mech;
		const uint8_t *data;
		uint32_t len;
		if (pgwire_decode_sasl_initial(m, &mech, &data, &len) != 0 || !data) {
			fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid SASL initial response");
			return;
		}
		if (strcmp(mech, "SCRAM-SHA-256") != 0) {
			fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "client selected an invalid SASL authentication mechanism");
			return;
		}
		c->scram = scram_new(c->user, user_verifier(c));
		if (!c->scram || scram_handle_client_first(c->scram, data, len, &reply, err, sizeof(err)) != 0) {
			fatal(c, SQLSTATE_PROTOCOL_VIOLATION, c->scram ? err : "out of memory");
			buf_free(&reply);
			return;
		}
		pgwire_put_auth(&c->out, 11, reply.data, reply.len);
		buf_free(&reply);
		c->state = PGCONN_AUTH_SASL_FINAL;
		return;
	}
	int rc = scram_handle_client_final(c->scram, m->body, m->len, &reply, err, sizeof(err));
	if (rc == SL_EAUTH) {
		auth_failed(c);
		buf_free(&reply);
		return;
	}
	if (rc != 0) {
		fatal(c, SQLSTATE_PROTOCOL_VIOLATION, err);
		buf_free(&reply);
		return;
	}
	pgwire_put_auth(&c->out, 12, reply.data, reply.len);
	buf_free(&reply);
ok: {
	struct pg_startup st;
	if (pgwire_decode_startup(startup, &st) != 0) {
		fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid startup packet");
		return;
	}
	finish_auth(c, &st);
}
}

#define MAX_AUTH_MESSAGE 65536

/* Before READY: the startup packet, then authentication messages. The
 * startup packet is kept in c->startup until authentication ends, because
 * finish_auth reads its parameters. */
static void process_startup(struct pgconn *c)
{
	while (c->fd >= 0 && !c->close_after_flush && c->state != PGCONN_READY && c->state != PGCONN_TLS_HANDSHAKE) {
		struct pg_msg m;
		size_t used;
		if (c->state == PGCONN_STARTUP) {
			int rc = pgwire_frame_startup(c->in.data, c->in.len, &m, &used);
			if (rc == 0)
				return;
			if (rc < 0) {
				fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid length of startup packet");
				return;
			}
			buf_append(&c->startup, c->in.data, used);
			buf_consume(&c->in, used);
			struct pg_msg sm = { 0, c->startup.data + 4, (uint32_t)(c->startup.len - 4) };
			if (c->startup.oom) {
				fatal(c, SQLSTATE_OUT_OF_MEMORY, "out of memory");
				return;
			}
			handle_startup(c, &sm);
			if (c->state == PGCONN_STARTUP || c->state == PGCONN_TLS_HANDSHAKE)
				buf_reset(&c->startup); /* SSL/GSS request answered: a real one follows */
			continue;
		}
		int rc = pgwire_frame(c->in.data, c->in.len, MAX_AUTH_MESSAGE, &m, &used);
		if (rc == 0)
			return;
		if (rc < 0) {
			fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid length of authentication message");
			return;
		}
		struct pg_msg sm = { 0, c->startup.data + 4, (uint32_t)(c->startup.len - 4) };
		handle_auth(c, &m, &sm);
		buf_consume(&c->in, used);
	}
}


/* ------------------------------------------------------------- queries */

/* ------------------------------------------------ replication streams */

#define STREAM_POLL_MS 50             /* a stream that caught up looks again after this */
#define STREAM_OUT_HIGH (4u << 20)    /* a stream waits while this much is unsent */
#define STREAM_CONFIRM_MAX 160

/* The client's messages during a stream: status updates, CopyDone,
 * Terminate. Read even while a step is out (they touch only what the
 * loop thread owns). */
static void stream_input(struct pgconn *c)
{
	struct walsender *ws = c->sess->wal;
	while (c->in.len > 0 && !c->close_after_flush && !walsender_ending(ws)) {
		struct pg_msg m;
		size_t used;
		int rc = pgwire_frame(c->in.data, c->in.len, (size_t)c->srv->cfg->max_message_size, &m, &used);
		if (rc == 0)
			return;
		char err[160];
		if (rc < 0) {
			fatal(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid message length");
			return;
		}
		if (m.type == 'X') {
			pgconn_close(c, "client sent Terminate");
			return;
		}
		if (walsender_client_message(ws, &m, err, sizeof(err)) != 0) {
			fatal(c, SQLSTATE_PROTOCOL_VIOLATION, err);
			return;
		}
		buf_consume(&c->in, used);
	}
}

static void submit(struct pgconn *c, struct job *j)
{
	if (c->out.len == 0 && !j->internal) { /* nothing queued before it: the executor may answer directly */
		j->reply_fd = c->fd;
		j->reply_ssl = c->ssl;
		j->reply_mu = &c->ssl_mu;
	}
	c->job = j;
	executor_submit(c->srv->ex, j);
}

/* What a stream does next, when nothing is out: end (the client sent
 * CopyDone), confirm the slot, or take another step (at once, or after
 * STREAM_POLL_MS when the last one found nothing). */
static void stream_pump(struct pgconn *c)
{
	struct walsender *ws = c->sess->wal;
	if (c->job || c->state != PGCONN_READY || c->close_after_flush || c->srv->switching || c->fd < 0)
		return;
	char sql[STREAM_CONFIRM_MAX];
	struct job *j = NULL;
	bool confirm = walsender_confirm_query(ws, sql, sizeof(sql)); /* before an end, too */
	if (!confirm && walsender_ending(ws)) {
		walsender_put_end(&c->out);
		walsender_free(ws);
		c->sess->wal = NULL;
		c->stream_idle = false;
		ev_timer_stop(c->srv->loop, &c->timer);
		dispatch(c); /* what the client sent after CopyDone */
		return;
	}
	if (confirm) {
		if ((j = job_new(c->sess, c))) {
			j->internal = true;
			size_t m = pgwire_begin(&j->in, 'Q');
			buf_put_cstr(&j->in, sql);
			pgwire_end(&j->in, m);
		}
	} else if (c->out.len >= STREAM_OUT_HIGH) {
		return; /* on_io pumps again once the socket took it */
	} else if (c->stream_idle) {
		if (!ev_is_active(&c->timer))
			start_timer(c, STREAM_POLL_MS);
		return;
	} else if ((j = job_new(c->sess, c))) {
		j->kind = JOB_STREAM;
	}
	if (!j || j->in.oom) {
		job_free(j);
		fatal(c, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		return;
	}
	submit(c, j);
}

/* A confirmation came back: a slot that is gone or lost ends the stream
 * with that error; another failure (a position that is not a record,
 * say) is logged and the stream goes on. */
static void stream_confirmed(struct pgconn *c, struct job *job)
{
	walsender_confirm_done(c->sess->wal);
	struct pg_msg m;
	size_t used;
	for (size_t pos = 0; pgwire_frame(job->out.data + pos, job->out.len - pos, SIZE_MAX, &m, &used) == 1; pos += used) {
		if (m.type != 'E')
			continue;
		char state[6] = "", text[200] = "";
		pgwire_error_fields(&m, state, sizeof(state), text, sizeof(text));
		if (strcmp(state, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE) == 0 ||
		    strcmp(state, SQLSTATE_UNDEFINED_OBJECT) == 0) {
			pgwire_put_error(&c->out, 'E', "ERROR", state, text, NULL, NULL);
			c->close_after_flush = true;
		} else {
			log_warn("pgconn", "a replication slot confirmation failed sqlstate=%s error=\"%s\" pid=%u", state,
				 text, c->pid);
		}
	}
}

static void dispatch(struct pgconn *c)
{
	if (c->state == PGCONN_READY && c->sess && c->sess->wal) {
		stream_input(c);
		if (c->fd >= 0 && c->sess && c->sess->wal)
			stream_pump(c);
		return;
	}
	if (c->job || c->state != PGCONN_READY || c->close_after_flush || c->srv->switching)
		return;
	struct job *j = NULL;
	size_t pos = 0;
	while (pos < c->in.len) {
		struct pg_msg m;
		size_t used;
		int rc = pgwire_frame(c->in.data + pos, c->in.len - pos, (size_t)c->srv->cfg->max_message_size, &m,
				      &used);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (j)
				break; /* run what came before; the bad bytes are seen next time */
			fatal(c, SQLSTATE_PROTOCOL_VIOLATION,
			      rc == SL_ETOOBIG ? "invalid message length: message too large" : "invalid message length");
			buf_reset(&c->in);
			return;
		}
		if (m.type == 'X') {
			if (j)
				break;
			pgconn_close(c, "client sent Terminate");
			return;
		}
		if (!j && !(j = job_new(c->sess, c))) {
			fatal(c, SQLSTATE_OUT_OF_MEMORY, "out of memory");
			return;
		}
		buf_append(&j->in, c->in.data + pos, used);
		pos += used;
		if (m.type == 'S' || m.type == 'Q' || m.type == 'H')
			break;
	}
	if (!j)
		return;
	if (j->in.oom) {
		job_free(j);
		fatal(c, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		return;
	}
	buf_consume(&c->in, pos);
	ev_timer_stop(c->srv->loop, &c->timer);
	submit(c, j);
}

void pgconn_job_done(struct job *job)
{
	struct pgconn *c = job->owner;
	c->job = NULL;
	if (c->deferred_fd >= 0) {
		tls_free(c->deferred_ssl, false);
		c->deferred_ssl = NULL;
		close(c->deferred_fd);
		c->deferred_fd = -1;
	}
	if (job->kind == JOB_CLOSE || c->state == PGCONN_CLOSING) {
		bool was_close = job->kind == JOB_CLOSE;
		job_free(job);
		if (was_close)
			free_conn(c);
		else
			pgconn_close(c, "closed while a statement ran");
		return;
	}
	if (job->internal) {
		stream_confirmed(c, job);
		buf_reset(&job->out); /* the connection's own query: not the client's to see */
	}
	if (job->kind == JOB_STREAM)
		c->stream_idle = job->stream_idle;
	buf_move(&c->out, &job->out);
	if (job->fatal)
		c->close_after_flush = true;
	job_free(job);
	struct session *s = c->sess;
	if (!c->close_after_flush && s->txn != TXN_IDLE && !s->implicit)
		start_timer(c, s->cfg.idle_in_transaction_session_timeout_ms);
	process_input(c);
	if (c->fd >= 0 && flush(c) == 0)
		update_watch(c);
}

static void process_input(struct pgconn *c)
{
	if (c->state != PGCONN_READY) {
		process_startup(c);
		if (c->state == PGCONN_READY)
			buf_free(&c->startup);
	}
	if (c->state == PGCONN_READY)
		dispatch(c);
}
