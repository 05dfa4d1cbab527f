/*
 * peerdial.h — the dialing side of a peer link's handshake (peerauth.h):
 * connect, HELLO (or MEMBER_HELLO), check the answering node's proof of
 * the cluster secret, send AUTH. What follows depends on the link: a
 * follower expects WELCOME (or NOT_LEADER), a member sends ELECTION
 * messages. The accepting side is peeraccept.h.
 */
#ifndef SL_PEERDIAL_H
#define SL_PEERDIAL_H

#include <stddef.h>
#include <stdint.h>

#include "peerlink.h"
#include "peermsg.h"

struct peerdial {
	const char *addr;        /* host:port */
	uint8_t hello_type;      /* PEER_HELLO or PEER_MEMBER_HELLO */
	const char *cluster_id, *secret, *node_name, *client_addr;
	int dial_timeout_ms, timeout_ms;
	const uint8_t *nonce; /* this side's nonce; NULL: a fresh random one (tests fix it) */
};

/*
 * Connects and authenticates; pl is initialised on success (the caller
 * closes it). 0, or -1 with err saying why (the link closed).
 */
int peerdial_open(struct peerlink *pl, const struct peerdial *d, char *err, size_t errlen);

/*
 * The handshake on a link already connected (peerdial_open's second
 * half): 0, or -1 with err saying why (the caller closes the link). AUTH
 * is sent only once the other node proved the cluster secret, and until
 * then frames are held to PEER_HANDSHAKE_MAX.
 */
int peerdial_auth(struct peerlink *pl, const struct peerdial *d, char *err, size_t errlen);

/*
 * Receives the frame due (want) within timeout_ms; -1 with err otherwise
 * (an ERROR frame's reason is quoted), and the type that came in *got
 * (0 when none did).
 */
int peerdial_expect(struct peerlink *pl, uint8_t want, uint8_t *got, int timeout_ms, char *err, size_t errlen);

#endif
