/*
 * peerlink.h — one peer connection on a non-blocking socket: framed sends
 * and receives with deadlines (frames: peerframe.h).
 *
 * A link belongs to one thread at a time. Receives check each frame's
 * header before reading its payload and keep what they read past a frame
 * for the next call, so a frame may arrive in any pieces.
 */
#ifndef SL_PEERLINK_H
#define SL_PEERLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
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
};

void peerlink_init(struct peerlink *l, int fd, const char *peer);
void peerlink_close(struct peerlink *l);

/* Connects to "host:port" within timeout_ms. Returns a socket or -1 with err. */
int peerlink_dial(const char *hostport, int timeout_ms, char *err, size_t errlen);

/* Splits "host:port"; 0 or SL_EINVAL. */
int peerlink_split(const char *hostport, char *host, size_t hostlen, int *port);

/* Sends one frame, waiting at most timeout_ms for the socket. 0, SL_ETIMEDOUT, SL_EIO, SL_ENOMEM. */
int peerlink_send(struct peerlink *l, uint8_t type, const void *payload, size_t len, int timeout_ms);
/*
 * Receives one frame within timeout_ms (0: only what is already there;
 * -1: forever). On 0, *type and *epoch are set and l->payload holds the raw
 * payload (inflated). SL_ETIMEDOUT, SL_EIO (closed or failed) or SL_EPROTO
 * (malformed: l->why says how).
 */
int peerlink_recv(struct peerlink *l, uint8_t *type, uint64_t *epoch, int timeout_ms);

#endif
