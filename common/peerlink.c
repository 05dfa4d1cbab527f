/*
 * peerlink.c — framed, deadline-bounded I/O on a peer socket (see
 * peerlink.h).
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

#include "sl_error.h"
#include "sl_time.h"

#define READ_CHUNK (256 * 1024)

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

void peerlink_init(struct peerlink *l, int fd, const char *peer)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	buf_init(&l->in);
	buf_init(&l->out);
	buf_init(&l->payload);
	l->max_payload = PEER_MAX_PAYLOAD;
}

void peerlink_close(struct peerlink *l)
{
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

static int send_all(struct peerlink *l, const uint8_t *p, size_t n, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : sl_monotonic_ms() + timeout_ms;
	while (n > 0) {
		ssize_t w = send(l->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(l->fd, POLLOUT, deadline);
			if (r == 0)
				return SL_ETIMEDOUT;
			if (r < 0)
				return SL_EIO;
			continue;
		}
		return SL_EIO;
	}
	return 0;
}

int peerlink_send(struct peerlink *l, uint8_t type, const void *payload, size_t len, int timeout_ms)
{
	buf_reset(&l->out);
	l->out.oom = false;
	int rc = peer_frame_encode(&l->out, type, l->epoch, payload, len, l->compress);
	if (rc != 0)
		return rc;
	rc = send_all(l, l->out.data, l->out.len, timeout_ms);
	if (l->out.cap > (16u << 20)) { /* keep room for a full batch of records */
		buf_free(&l->out);
		buf_init(&l->out);
	}
	return rc;
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
		if (rc == 0 && total - PEER_HEADER_SIZE > l->max_payload) {
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
		ssize_t n = recv(l->fd, l->in.data + l->in.len, want, 0);
		if (n > 0) {
			l->in.len += (size_t)n;
			continue;
		}
		if (n == 0)
			return SL_EIO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return SL_EIO;
		int r = wait_fd(l->fd, POLLIN, deadline);
		if (r == 0)
			return SL_ETIMEDOUT;
		if (r < 0)
			return SL_EIO;
	}
}
