/*
 * peerlink.h — one peer connection on a non-blocking socket: framed sends
 * and receives with deadlines (frames: peerframe.h).
 *
 * A link belongs to one thread at a time, but for one sender and one
 * receiver at once (a leader's stream and its acknowledgements). Receives
 * check each frame's header before reading its payload and keep what they
 * read past a frame for the next call, so a frame may arrive in any
 * pieces.
 *
 * With peer_ssl (peerlink_tls_setup, once at start-up) every link runs
 * TLS: the accepting side's handshake comes before HELLO, and both sides
 * verify the other's certificate against ssl_ca_file (the dialing side
 * also that it names the address dialled). The TLS session's calls are
 * serialized by the link's lock, so the sender and the receiver may share
 * it.
 */
#ifndef SL_PEERLINK_H
#define SL_PEERLINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "config.h"
#include "peerframe.h"

struct peerlink {
	int fd;
	uint64_t epoch; /* put in every frame sent */
	bool compress;  /* compress payloads sent */
	char peer[80];  /* host:port, for log lines */
	struct buf in;  /* received, not yet returned */
	struct buf out; /* a frame being built */
	struct buf payload; /* the last frame's raw payload */
	const char *why;    /* after SL_EPROTO: what was wrong */
	uint32_t max_payload; /* larger frames are refused (small until a peer authenticates) */
	/* after AUTH: frames sent are sealed and frames received must be
	 * (peerframe.h), each direction with its key and sequence numbers */
	bool sealed;
	uint8_t send_key[PEER_KEY_SIZE], recv_key[PEER_KEY_SIZE];
	uint64_t send_seq, recv_seq;
	SSL *ssl;             /* peer_ssl: the TLS session, once its handshake began */
	pthread_mutex_t ssl_mu; /* serializes the TLS session's calls */
	bool open;            /* between init and close */
};

/* peer_ssl = on: makes the contexts every link then uses (0, or -1 with
 * err); before any link, once. peerlink_tls_teardown frees them at exit. */
int peerlink_tls_setup(const struct config *cfg, char *err, size_t errlen);
void peerlink_tls_teardown(void);
/* With peer_ssl, the TLS handshake of a new link within timeout_ms, as the
 * side that accepted it or the one that dialled host; without, 0 at once.
 * 0, or -1 with err (the caller closes the link). */
int peerlink_tls_accept(struct peerlink *l, int timeout_ms, char *err, size_t errlen);
int peerlink_tls_connect(struct peerlink *l, const char *host, int timeout_ms, char *err, size_t errlen);

void peerlink_init(struct peerlink *l, int fd, const char *peer);
void peerlink_close(struct peerlink *l);

/* Connects to "host:port" within timeout_ms. Returns a socket or -1 with err. */
int peerlink_dial(const char *hostport, int timeout_ms, char *err, size_t errlen);

/* Splits "host:port"; 0 or SL_EINVAL. */
int peerlink_split(const char *hostport, char *host, size_t hostlen, int *port);

/* From now on frames are sealed: those sent with send_key, those received
 * checked with recv_key (an unsealed ERROR is still taken: it only closes
 * the link). Both sides call it right after AUTH. */
void peerlink_seal(struct peerlink *l, const uint8_t send_key[PEER_KEY_SIZE], const uint8_t recv_key[PEER_KEY_SIZE]);

/* Sends one frame, waiting at most timeout_ms for the socket. 0, SL_ETIMEDOUT, SL_EIO, SL_ENOMEM. */
int peerlink_send(struct peerlink *l, uint8_t type, const void *payload, size_t len, int timeout_ms);
/* Sends a frame whose payload is one text (ERROR, REBOOTSTRAP, ...). */
int peerlink_send_text(struct peerlink *l, uint8_t type, const char *text, int timeout_ms);
/*
 * Receives one frame within timeout_ms (0: only what is already there;
 * -1: forever). On 0, *type and *epoch are set and l->payload holds the raw
 * payload (inflated). SL_ETIMEDOUT, SL_EIO (closed or failed) or SL_EPROTO
 * (malformed: l->why says how).
 */
int peerlink_recv(struct peerlink *l, uint8_t *type, uint64_t *epoch, int timeout_ms);

/* What a failed peerlink_send or peerlink_recv's rc means, for log lines
 * and errors. */
const char *peerlink_problem(const struct peerlink *l, int rc);

#endif
