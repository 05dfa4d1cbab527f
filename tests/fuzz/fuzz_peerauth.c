/*
 * fuzz_peerauth.c — libFuzzer target for the peer handshake's logic: the
 * accepting side (common/peeraccept.c), the dialing side
 * (common/peerdial.c, peerdial_auth), and the sealed link that follows
 * (common/peerlink.c), driven through a real socket.
 *
 * The input: one byte choosing the side under test (bit 0 clear: the
 * accepting side; set: the dialing side, which says MEMBER_HELLO when bit
 * 1 is set too), then the bytes the other node sends. They are written to
 * one end of a socket pair whose sending side is then shut, and the side
 * under test runs on the other end. Both nonces are fixed and the secret
 * is known here, so that seeds written by
 * tests/fuzz/make_corpus_peerauth.py hold whole exchanges that succeed
 * and the fuzzer starts past the proofs. After a handshake that
 * succeeded, frames are received on the sealed link until one fails.
 *
 * Checked, with the proofs computed here and the frames decoded here (not
 * by the code under test):
 *   accepting: it answers nothing but CHALLENGE then ERROR, ERROR alone,
 *   or nothing; a CHALLENGE carries its nonce and its proof over the
 *   HELLO's nonce, and goes only to a HELLO of this cluster and protocol
 *   version with a node name; it succeeds only when the input's second
 *   frame is AUTH with the right proof, after sending CHALLENGE alone.
 *   dialing: it sends HELLO (its names, its nonce), then AUTH or ERROR or
 *   nothing; AUTH only when the input's first frame is a CHALLENGE with
 *   the right proof, and it then carries the right proof of its own; it
 *   succeeds exactly when it sent AUTH.
 *   both: after success the link is sealed with the keys peerauth.h
 *   derives from both nonces, and each frame received afterwards moved the
 *   receiving sequence number on by one, unless it was an unsealed ERROR.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz.h"
#include "log.h"
#include "peeraccept.h"
#include "peerauth.h"
#include "peerdial.h"
#include "peerlink.h"
#include "peermsg.h"
#include "sl_error.h"

#define FUZZ_CLUSTER "cluster-1"
#define FUZZ_SECRET "fuzz cluster secret, long enough"
#define FUZZ_NAME "node2"      /* the dialing side's name */
#define FUZZ_ADDR "127.0.0.1:5433" /* and where it serves clients */
#define FUZZ_MAX_INPUT (128u * 1024u) /* what the socket pair holds at once */
#define FUZZ_MAX_RAW (16u * 1024u * 1024u) /* inflated payloads after the handshake */
#define FUZZ_MAX_FRAMES 64                 /* received after the handshake */
#define FUZZ_TIMEOUT_MS 1000               /* never waited for: the input ends in EOF */

/* make_corpus_peerauth.py's nonces */
static const uint8_t DIAL_NONCE[PEER_NONCE_SIZE] = { 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
						     11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
						     22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };
static const uint8_t ACCEPT_NONCE[PEER_NONCE_SIZE] = { 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110,
						       111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121,
						       122, 123, 124, 125, 126, 127, 128, 129, 130, 131 };

/* Frames decoded here: their types and raw payloads. */
struct frames {
	int n;
	uint8_t type[8];
	bool sealed[8];
	struct buf payload[8];
	bool whole; /* the bytes were whole frames to the end (up to 8 of them) */
};

static void frames_free(struct frames *fs)
{
	for (int i = 0; i < fs->n; i++)
		buf_free(&fs->payload[i]);
}

/* Up to 8 frames from p[0..n): fs->whole when they are all there is. */
static void frames_decode(const uint8_t *p, size_t n, uint32_t max_raw, struct frames *fs)
{
	memset(fs, 0, sizeof(*fs));
	size_t at = 0;
	while (at < n && fs->n < 8) {
		struct peer_frame f;
		size_t used;
		if (peer_frame_decode(p + at, n - at, &f, &used) != 0)
			return;
		buf_init(&fs->payload[fs->n]);
		if (peer_frame_payload(&f, max_raw, &fs->payload[fs->n]) != 0) {
			buf_free(&fs->payload[fs->n]);
			return;
		}
		fs->type[fs->n] = f.type;
		fs->sealed[fs->n] = (f.flags & PEER_F_SEALED) != 0;
		fs->n++;
		at += used;
	}
	fs->whole = at == n;
}

/* Everything the side under test sent, up to the end of the socket. */
static size_t drain(int fd, uint8_t *out, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t r = recv(fd, out + got, cap - got, MSG_DONTWAIT);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Frames on the sealed link until one fails: each moves the receiving
 * sequence on by one, but an unsealed ERROR. */
static void receive_sealed(struct peerlink *pl)
{
	pl->max_payload = FUZZ_MAX_RAW;
	for (int i = 0; i < FUZZ_MAX_FRAMES; i++) {
		uint8_t type;
		uint64_t epoch, seq = pl->recv_seq;
		int rc = peerlink_recv(pl, &type, &epoch, FUZZ_TIMEOUT_MS);
		if (rc != 0) {
			CHECK(rc == SL_EIO || rc == SL_EPROTO || rc == SL_ENOMEM);
			return;
		}
		CHECK(pl->payload.len <= pl->max_payload);
		CHECK(pl->recv_seq == seq + 1 || (type == PEER_ERROR && pl->recv_seq == seq));
	}
}

static void check_keys(const struct peerlink *pl, const uint8_t leader_nonce[PEER_NONCE_SIZE],
		       const uint8_t follower_nonce[PEER_NONCE_SIZE], bool accepting)
{
	uint8_t from_follower[PEER_KEY_SIZE], from_leader[PEER_KEY_SIZE];
	peerauth_frame_keys(FUZZ_SECRET, leader_nonce, follower_nonce, from_follower, from_leader);
	CHECK(pl->sealed && pl->send_seq == 0 && pl->recv_seq == 0);
	CHECK(memcmp(pl->send_key, accepting ? from_leader : from_follower, PEER_KEY_SIZE) == 0);
	CHECK(memcmp(pl->recv_key, accepting ? from_follower : from_leader, PEER_KEY_SIZE) == 0);
}

static void fuzz_accepting(struct peerlink *pl, int other, const uint8_t *in, size_t n)
{
	struct peeraccept a = { FUZZ_CLUSTER, FUZZ_SECRET, FUZZ_TIMEOUT_MS, ACCEPT_NONCE };
	struct peer_hello h;
	bool member;
	int rc = peeraccept_auth(pl, &a, &h, &member);
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		check_keys(pl, ACCEPT_NONCE, h.nonce, true);
		receive_sealed(pl);
	}
	static uint8_t sent[1 << 16];
	size_t got = drain(other, sent, sizeof(sent));
	struct frames out, input;
	frames_decode(sent, got, PEER_HANDSHAKE_MAX, &out);
	CHECK(out.whole && out.n <= 2);
	for (int i = 0; i < out.n; i++)
		CHECK(!out.sealed[i]);
	bool challenged = out.n >= 1 && out.type[0] == PEER_CHALLENGE;
	if (challenged) {
		CHECK(h.version == PEER_VERSION && strcmp(h.cluster_id, FUZZ_CLUSTER) == 0 && h.node_name[0]);
		struct peer_challenge ch;
		CHECK(peer_challenge_get(out.payload[0].data, out.payload[0].len, &ch) == 0);
		CHECK(memcmp(ch.nonce, ACCEPT_NONCE, PEER_NONCE_SIZE) == 0);
		uint8_t want[PEER_PROOF_SIZE];
		peerauth_leader_proof(FUZZ_SECRET, FUZZ_CLUSTER, h.nonce, ACCEPT_NONCE, want);
		CHECK(memcmp(ch.proof, want, PEER_PROOF_SIZE) == 0);
	}
	for (int i = challenged ? 1 : 0; i < out.n; i++)
		CHECK(out.type[i] == PEER_ERROR);
	CHECK(out.n <= (challenged ? 2 : 1));
	if (rc == 0) {
		CHECK(challenged && out.n == 1);
		frames_decode(in, n, PEER_HANDSHAKE_MAX, &input);
		CHECK(input.n >= 2 && input.type[1] == PEER_AUTH);
		uint8_t proof[PEER_PROOF_SIZE], want[PEER_PROOF_SIZE];
		CHECK(peer_auth_get(input.payload[1].data, input.payload[1].len, proof) == 0);
		peerauth_follower_proof(FUZZ_SECRET, h.node_name, ACCEPT_NONCE, h.nonce, want);
		CHECK(memcmp(proof, want, PEER_PROOF_SIZE) == 0);
		frames_free(&input);
	}
	frames_free(&out);
}

static void fuzz_dialing(struct peerlink *pl, int other, uint8_t hello_type, const uint8_t *in, size_t n)
{
	struct peerdial d = { "fuzz", hello_type, FUZZ_CLUSTER, FUZZ_SECRET, FUZZ_NAME, FUZZ_ADDR,
			      FUZZ_TIMEOUT_MS, FUZZ_TIMEOUT_MS, DIAL_NONCE };
	char err[256];
	int rc = peerdial_auth(pl, &d, err, sizeof(err));
	CHECK(rc == 0 || (rc == -1 && err[0]));
	struct frames input;
	frames_decode(in, n, PEER_HANDSHAKE_MAX, &input);
	struct peer_challenge ch;
	bool proved = false;
	if (input.n >= 1 && input.type[0] == PEER_CHALLENGE && !input.sealed[0] &&
	    peer_challenge_get(input.payload[0].data, input.payload[0].len, &ch) == 0) {
		uint8_t want[PEER_PROOF_SIZE];
		peerauth_leader_proof(FUZZ_SECRET, FUZZ_CLUSTER, DIAL_NONCE, ch.nonce, want);
		proved = memcmp(ch.proof, want, PEER_PROOF_SIZE) == 0;
	}
	frames_free(&input);
	if (rc == 0) {
		CHECK(proved);
		check_keys(pl, ch.nonce, DIAL_NONCE, false);
		receive_sealed(pl);
	}
	static uint8_t sent[1 << 16];
	size_t got = drain(other, sent, sizeof(sent));
	struct frames out;
	frames_decode(sent, got, PEER_HANDSHAKE_MAX, &out);
	CHECK(out.whole && out.n >= 1 && out.n <= 2 && out.type[0] == hello_type);
	struct peer_hello h;
	CHECK(peer_hello_get(out.payload[0].data, out.payload[0].len, &h) == 0);
	CHECK(h.version == PEER_VERSION && strcmp(h.cluster_id, FUZZ_CLUSTER) == 0 &&
	      strcmp(h.node_name, FUZZ_NAME) == 0 && strcmp(h.client_addr, FUZZ_ADDR) == 0 &&
	      memcmp(h.nonce, DIAL_NONCE, PEER_NONCE_SIZE) == 0);
	bool authed = out.n == 2 && out.type[1] == PEER_AUTH;
	CHECK(out.n == 1 || authed || out.type[1] == PEER_ERROR);
	CHECK(authed == (rc == 0));
	if (authed) {
		CHECK(proved);
		uint8_t proof[PEER_PROOF_SIZE], want[PEER_PROOF_SIZE];
		CHECK(peer_auth_get(out.payload[1].data, out.payload[1].len, proof) == 0);
		peerauth_follower_proof(FUZZ_SECRET, FUZZ_NAME, ch.nonce, DIAL_NONCE, want);
		CHECK(memcmp(proof, want, PEER_PROOF_SIZE) == 0);
	}
	frames_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size - 1 > FUZZ_MAX_INPUT)
		return 0;
	log_set_level(LOG_FATAL);
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	int big = (int)(2 * FUZZ_MAX_INPUT);
	CHECK(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)) == 0);
	const uint8_t *in = data + 1;
	size_t n = size - 1;
	size_t put = 0;
	while (put < n) {
		ssize_t w = send(sv[1], in + put, n - put, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		put += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);
	struct peerlink pl;
	peerlink_init(&pl, sv[0], "fuzz");
	if (data[0] & 1)
		fuzz_dialing(&pl, sv[1], (data[0] & 2) ? PEER_MEMBER_HELLO : PEER_HELLO, in, put);
	else
		fuzz_accepting(&pl, sv[1], in, put);
	peerlink_close(&pl); /* closes sv[0] */
	close(sv[1]);
	return 0;
}
