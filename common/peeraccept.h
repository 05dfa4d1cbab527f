/*
 * peeraccept.h — the accepting side of a peer link's handshake
 * (peerauth.h): take HELLO (or MEMBER_HELLO), answer CHALLENGE with this
 * node's proof of the cluster secret, check the dialing node's AUTH, and
 * seal the link. What follows depends on the node: a leader sends WELCOME
 * to a follower, a node that is not the leader NOT_LEADER, and a member's
 * ELECTION messages are read (server/leader/peers.c).
 *
 * The dialing side is peerdial.h.
 */
#ifndef SL_PEERACCEPT_H
#define SL_PEERACCEPT_H

#include <stdbool.h>
#include <stdint.h>

#include "peerlink.h"
#include "peermsg.h"

struct peeraccept {
	const char *cluster_id, *secret;
	int timeout_ms; /* for HELLO, then for AUTH */
	const uint8_t *nonce; /* this side's nonce; NULL: a fresh random one (tests fix it) */
};

/*
 * The handshake on a link just accepted (after its TLS handshake, if any);
 * frames are held to PEER_HANDSHAKE_MAX until the caller knows the peer.
 * 0 with *h the dialing node's HELLO and *member whether it came as
 * MEMBER_HELLO; -1 when it failed (logged, and the peer told why when it
 * can be). *h is filled in as soon as a HELLO decodes.
 */
int peeraccept_auth(struct peerlink *pl, const struct peeraccept *a, struct peer_hello *h, bool *member);

/* Refuses a link: tells the peer why (reason), logs it (log_reason, or
 * reason when NULL). Returns -1. */
int peeraccept_refuse(struct peerlink *pl, int timeout_ms, const char *reason, const char *log_reason);

#endif
