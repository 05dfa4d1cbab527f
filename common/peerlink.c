/*
 * peerlink.c — framed, deadline-bounded I/O on a peer socket, in clear or
 * through TLS (see peerlink.h).
 */
#include "peerlink.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "peermsg.h"
#include "sl_error.h"
#include "sl_time.h"
#include "tls.h"

#define READ_CHUNK (256 * 1024)

/* peer_ssl: set once before any link exists, read-only afterwards */
static SSL_CTX *accept_ctx, *dial_ctx;

/* Waits for events until the deadline (-1: none). 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int timeout = -1;
		if (deadline >= 0) {
			int64_t left = deadline - sl_monotonic_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, timeout);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

int peerlink_tls_setup(const struct config *cfg, char *err, size_t errlen)
{
	if (!(accept_ctx = tls_peer_ctx(cfg, true, err, errlen)))
		return -1;
	if (!(dial_ctx = tls_peer_ctx(cfg, false, err, errlen))) {
		peerlink_tls_teardown();
		return -1;
	}
	return 0;
}

void peerlink_tls_teardown(void)
{
	SSL_CTX_free(accept_ctx);
	SSL_CTX_free(dial_ctx);
	accept_ctx = dial_ctx = NULL;
}

static int tls_start(struct peerlink *l, SSL *ssl, int timeout_ms, char *err, size_t errlen)
{
	if (!ssl) {
		snprintf(err, errlen, "could not start a TLS session with %s", l->peer);
		return -1;
	}
	l->ssl = ssl;
	int64_t deadline = sl_monotonic_ms() + timeout_ms;
	for (;;) {
		enum tls_io r = tls_handshake(ssl);
		if (r == TLS_IO_DONE)
			return 0;
		if (r == TLS_IO_WANT_READ || r == TLS_IO_WANT_WRITE) {
			int w = wait_fd(l->fd, r == TLS_IO_WANT_READ ? POLLIN : POLLOUT, deadline);
			if (w > 0)
				continue;
			snprintf(err, errlen, "TLS handshake with %s: %s", l->peer, w == 0 ? "timed out" : strerror(errno));
			return -1;
		}
		char why[256];
		long v = SSL_get_verify_result(ssl);
		snprintf(err, errlen, "TLS handshake with %s failed: %s%s%s", l->peer,
			 r == TLS_IO_CLOSED ? "the other side closed the connection" : tls_error(why, sizeof(why)),
			 v != X509_V_OK ? ": " : "", v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
		return -1;
	}
}

int peerlink_tls_accept(struct peerlink *l, int timeout_ms, char *err, size_t errlen)
{
	return accept_ctx ? tls_start(l, tls_accept_new(accept_ctx, l->fd), timeout_ms, err, errlen) : 0;
}

int peerlink_tls_connect(struct peerlink *l, const char *host, int timeout_ms, char *err, size_t errlen)
{
	return dial_ctx ? tls_start(l, tls_connect_new(dial_ctx, l->fd, host), timeout_ms, err, errlen) : 0;
}

void peerlink_init(struct peerlink *l, int fd, const char *peer)
{
	memset(l, 0, sizeof(*l));
	l->open = true;
	pthread_mutex_init(&l->ssl_mu, NULL);
	l->fd = fd;
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	buf_init(&l->in);
	buf_init(&l->out);
	buf_init(&l->payload);
	l->max_payload = PEER_MAX_PAYLOAD;
}

void peerlink_close(struct peerlink *l)
{
	if (!l->open)
		return;
	l->open = false;
	tls_free(l->ssl, false); /* the other side reads the end of the socket */
	l->ssl = NULL;
	pthread_mutex_destroy(&l->ssl_mu);
	OPENSSL_cleanse(l->send_key, sizeof(l->send_key));
	OPENSSL_cleanse(l->recv_key, sizeof(l->recv_key));
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	buf_free(&l->in);
	buf_free(&l->out);
	buf_free(&l->payload);
}

int peerlink_split(const char *hostport, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(hostport, ':');
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= hostlen)
		return SL_EINVAL;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 0 || p > 65535)
		return SL_EINVAL;
	size_t n = (size_t)(colon - hostport);
	if (hostport[0] == '[' && colon[-1] == ']') { /* [v6]:port */
		hostport++;
		n -= 2;
	}
	memcpy(host, hostport, n);
	host[n] = '\0';
	*port = (int)p;
	return 0;
}

int peerlink_dial(const char *hostport, int timeout_ms, char *err, size_t errlen)
{
	char host[256], port[16];
	int p;
	if (peerlink_split(hostport, host, sizeof(host), &p) != 0) {
		snprintf(err, errlen, "bad address \"%s\" (want host:port)", hostport);
		return -1;
	}
	snprintf(port, sizeof(port), "%d", p);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int grc = getaddrinfo(host, port, &hints, &res);
	if (grc != 0) {
		snprintf(err, errlen, "could not resolve \"%s\": %s", host, gai_strerror(grc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0 && errno == EINPROGRESS) {
		int w = wait_fd(fd, POLLOUT, sl_monotonic_ms() + timeout_ms);
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (w <= 0) {
			errno = w == 0 ? ETIMEDOUT : errno;
			rc = -1;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			errno = soerr ? soerr : errno;
			rc = -1;
		} else {
			rc = 0;
		}
	}
	if (rc != 0) {
		snprintf(err, errlen, "could not connect to %s: %s", hostport, strerror(errno));
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* A TLS call's outcome: bytes moved, 0 when the link failed, -1 when the
 * socket must first be ready for *ev. */
static ssize_t tls_moved(enum tls_io r, size_t n, short *ev)
{
	switch (r) {
	case TLS_IO_DONE:
		return (ssize_t)n;
	case TLS_IO_WANT_READ:
		*ev = POLLIN;
		return -1;
	case TLS_IO_WANT_WRITE:
		*ev = POLLOUT;
		return -1;
	default:
		return 0;
	}
}

/* One send or receive, in clear or through TLS: as tls_moved says. */
static ssize_t io_once(struct peerlink *l, bool out, void *p, size_t n, short *ev)
{
	if (!l->ssl) {
		ssize_t m = out ? send(l->fd, p, n, MSG_NOSIGNAL) : recv(l->fd, p, n, 0);
		if (m > 0)
			return m;
		if (m < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			*ev = out ? POLLOUT : POLLIN;
			return -1;
		}
		return 0;
	}
	size_t moved = 0;
	pthread_mutex_lock(&l->ssl_mu);
	enum tls_io r = out ? tls_write(l->ssl, p, n, &moved) : tls_read(l->ssl, p, n, &moved);
	pthread_mutex_unlock(&l->ssl_mu);
	return tls_moved(r, moved, ev);
}

static int send_all(struct peerlink *l, const uint8_t *p, size_t n, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : sl_monotonic_ms() + timeout_ms;
	while (n > 0) {
		short ev = POLLOUT;
		ssize_t w = io_once(l, true, (void *)p, n, &ev);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == 0)
			return SL_EIO;
		int r = wait_fd(l->fd, ev, deadline);
		if (r == 0)
			return SL_ETIMEDOUT;
		if (r < 0)
			return SL_EIO;
	}
	return 0;
}

int peerlink_send(struct peerlink *l, uint8_t type, const void *payload, size_t len, int timeout_ms)
{
	buf_reset(&l->out);
	l->out.oom = false;
	int rc = peer_frame_encode(&l->out, type, l->epoch, payload, len, l->compress);
	if (rc == 0 && l->sealed)
		rc = peer_frame_seal(&l->out, 0, l->send_key, l->send_seq++);
	if (rc != 0)
		return rc;
	rc = send_all(l, l->out.data, l->out.len, timeout_ms);
	if (l->out.cap > (16u << 20)) { /* keep room for a full batch of records */
		buf_free(&l->out);
		buf_init(&l->out);
	}
	return rc;
}

int peerlink_send_text(struct peerlink *l, uint8_t type, const char *text, int timeout_ms)
{
	struct buf b;
	buf_init(&b);
	peer_text_put(&b, text);
	int rc = b.oom ? SL_ENOMEM : peerlink_send(l, type, b.data, b.len, timeout_ms);
	buf_free(&b);
	return rc;
}

const char *peerlink_problem(const struct peerlink *l, int rc)
{
	if (rc == SL_ETIMEDOUT)
		return "timed out";
	if (rc == SL_EPROTO)
		return l->why ? l->why : "malformed frame";
	if (rc == SL_ENOMEM)
		return "out of memory";
	return "connection closed";
}

void peerlink_seal(struct peerlink *l, const uint8_t send_key[PEER_KEY_SIZE], const uint8_t recv_key[PEER_KEY_SIZE])
{
	memcpy(l->send_key, send_key, PEER_KEY_SIZE);
	memcpy(l->recv_key, recv_key, PEER_KEY_SIZE);
	l->send_seq = l->recv_seq = 0;
	l->sealed = true;
}

/* A received frame against the link's sealing: 0, or SL_EPROTO with why. */
static int check_seal(struct peerlink *l, const struct peer_frame *f)
{
	if (!l->sealed) {
		if (!(f->flags & PEER_F_SEALED))
			return 0;
		l->why = "a sealed frame before authentication";
		return SL_EPROTO;
	}
	if (!(f->flags & PEER_F_SEALED)) {
		if (f->type == PEER_ERROR)
			return 0; /* the other side could not seal it (it refused our proof) */
		l->why = "an unsealed frame after authentication";
		return SL_EPROTO;
	}
	if (!peer_frame_seal_ok(f, l->recv_key, l->recv_seq)) {
		l->why = "a frame failed its seal (altered, replayed, dropped or out of order on the way)";
		return SL_EPROTO;
	}
	l->recv_seq++;
	return 0;
}

int peerlink_recv(struct peerlink *l, uint8_t *type, uint64_t *epoch, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : sl_monotonic_ms() + timeout_ms;
	l->why = NULL;
	for (;;) {
		size_t total = 0;
		int rc = peer_frame_size(l->in.data, l->in.len, &total);
		if (rc == SL_EPROTO) {
			l->why = peer_frame_diagnose(l->in.data, l->in.len);
			return SL_EPROTO;
		}
		if (rc == 0 && get_u32(l->in.data + 16) > l->max_payload) { /* the payload, tag aside */
			l->why = "frame larger than allowed at this point";
			return SL_EPROTO;
		}
		if (rc == 0 && l->in.len >= total) {
			struct peer_frame f;
			size_t used;
			if (peer_frame_decode(l->in.data, l->in.len, &f, &used) != 0) {
				l->why = peer_frame_diagnose(l->in.data, l->in.len);
				return SL_EPROTO;
			}
			if ((rc = check_seal(l, &f)) != 0)
				return rc;
			rc = peer_frame_payload(&f, (uint32_t)l->max_payload, &l->payload);
			if (rc != 0) {
				l->why = rc == SL_ENOMEM ? "out of memory" : "bad compressed payload";
				return rc;
			}
			*type = f.type;
			*epoch = f.epoch;
			buf_consume(&l->in, used);
			return 0;
		}
		/* room for one more chunk: the buffer grows as bytes arrive, never
		 * ahead of them to what a header claims */
		size_t want = READ_CHUNK;
		if (!buf_reserve(&l->in, want)) {
			l->in.oom = false;
			l->why = "out of memory";
			return SL_ENOMEM;
		}
		short ev = POLLIN;
		ssize_t n = io_once(l, false, l->in.data + l->in.len, want, &ev);
		if (n > 0) {
			l->in.len += (size_t)n;
			continue;
		}
		if (n == 0)
			return SL_EIO;
		int r = wait_fd(l->fd, ev, deadline);
		if (r == 0)
			return SL_ETIMEDOUT;
		if (r < 0)
			return SL_EIO;
	}
}
