/*
 * fuzz_pgconn.c — libFuzzer target for the client connection before it is
 * anyone (server/pgconn.c): start-up packet, SSLRequest and GSSENCRequest,
 * CancelRequest, and authentication (trust, cleartext password, SCRAM),
 * driven through a real socket and the real event loop.
 *
 * The input: one byte choosing auth_method (0 trust, 1 password, 2
 * scram-sha-256; the password file holds alice:pencil), one byte saying
 * where to cut the rest in two, then the bytes a client sends. A
 * connection is made on one end of a socket pair; the first part is
 * written, the loop runs, the second part is written, the loop runs
 * again, and everything the server answered is read. The node is
 * "changing role" (srv->switching), so a session that authenticates runs
 * no query: what is fuzzed is the state machine up to READY.
 *
 * Checked: every answer is a sequence of whole messages (after one 'N' for
 * each SSLRequest or GSSENCRequest the input starts with); SCRAM never
 * lets anyone in here, since the
 * server's nonce is random; a password login is only ever alice's with
 * "pencil"; and the connection ends freed, with no leak.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "pgconn.h"
#include "server.h"
#include "users.h"

static struct config cfg;
static struct users *users;
static struct ev_loop *loop;

static void init_once(void)
{
	if (loop)
		return;
	log_set_level(LOG_FATAL);
	config_defaults(&cfg);
	char path[] = "/tmp/fuzz_pgconn_pw_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	static const char pw[] = "alice:pencil\n";
	CHECK(write(fd, pw, sizeof(pw) - 1) == (ssize_t)(sizeof(pw) - 1));
	close(fd);
	char err[256];
	CHECK(users_load(path, &users, err, sizeof(err)) == 0);
	unlink(path);
	loop = ev_loop_new(EVFLAG_AUTO);
	CHECK(loop != NULL);
}

static void pump(void)
{
	for (int i = 0; i < 16; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

/* How many SSLRequest or GSSENCRequest packets the input starts with:
 * each is answered with the single byte 'N' (no TLS configured here). */
static size_t leading_requests(const uint8_t *in, size_t n)
{
	static const uint8_t ssl[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	static const uint8_t gss[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };
	size_t k = 0;
	while (n >= 8 * (k + 1) && (memcmp(in + 8 * k, ssl, 8) == 0 || memcmp(in + 8 * k, gss, 8) == 0))
		k++;
	return k;
}

/* The answers to the leading requests, then whole messages (type byte,
 * int32 length); under SCRAM never an AuthenticationOk. */
static void check_answer(const uint8_t *p, size_t n, size_t requests, bool scram)
{
	size_t i = 0;
	for (; i < requests && i < n; i++)
		CHECK(p[i] == 'N');
	while (i < n) {
		CHECK(n - i >= 5);
		uint32_t len = (uint32_t)p[i + 1] << 24 | (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 8 | p[i + 4];
		CHECK(len >= 4 && len <= n - i - 1);
		/* AuthenticationOk (R, 8, 0) under SCRAM: never */
		if (scram && p[i] == 'R' && len == 8)
			CHECK(!(p[i + 5] == 0 && p[i + 6] == 0 && p[i + 7] == 0 && p[i + 8] == 0));
		i += 1 + len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	init_once();
	cfg.auth_method = data[0] % 3;
	static struct server srv;
	memset(&srv, 0, sizeof(srv));
	srv.cfg = &cfg;
	srv.loop = loop;
	srv.users = users;
	srv.listen_fd = -1;
	srv.switching = true; /* no executor: a session runs nothing */
	atomic_store(&srv.role, NODE_LEADER);
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	struct pgconn *c = pgconn_new(&srv, sv[0], "fuzz");
	CHECK(c != NULL);
	srv.conns = c;
	srv.nconns = 1;
	const uint8_t *in = data + 2;
	size_t n = size - 2, cut = n ? data[1] % (n + 1) : 0;
	send(sv[1], in, cut, MSG_NOSIGNAL);
	pump();
	send(sv[1], in + cut, n - cut, MSG_NOSIGNAL);
	pump();
	static uint8_t out[1 << 16];
	size_t got = 0;
	for (;;) {
		ssize_t r = recv(sv[1], out + got, sizeof(out) - got, 0);
		if (r <= 0 || (got += (size_t)r) == sizeof(out))
			break;
	}
	if (got < sizeof(out))
		check_answer(out, got, leading_requests(in, n), cfg.auth_method == AUTH_SCRAM);
	if (srv.nconns == 1) { /* still open: close it as a client would */
		if (c->state == PGCONN_READY) {
			CHECK(cfg.auth_method != AUTH_SCRAM);
			if (cfg.auth_method == AUTH_PASSWORD)
				CHECK(strcmp(c->user, "alice") == 0);
		}
		session_free(c->sess); /* no executor to end it on */
		c->sess = NULL;
		pgconn_close(c, "fuzz input done");
	}
	CHECK(srv.nconns == 0);
	close(sv[1]);
	pump();
	return 0;
}
