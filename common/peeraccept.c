/*
 * peeraccept.c — the accepting side of a peer link's handshake (see
 * peeraccept.h; the exchange: peerauth.h).
 */
#include "peeraccept.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "log.h"
#include "peerauth.h"
#include "sl_error.h"

int peeraccept_refuse(struct peerlink *pl, int timeout_ms, const char *reason, const char *log_reason)
{
	log_warn("peers", "refused a peer peer=%s reason=\"%s\"", pl->peer, log_reason ? log_reason : reason);
	peerlink_send_text(pl, PEER_ERROR, reason, timeout_ms);
	return -1;
}

/* The HELLO's version, cluster and name are acceptable: 0, or -1 (refused). */
static int check_hello(struct peerlink *pl, const struct peeraccept *a, const struct peer_hello *h)
{
	int tmo = a->timeout_ms;
	if (h->version != PEER_VERSION) {
		char why[128];
		snprintf(why, sizeof(why), "peer protocol version %u is not supported (this node speaks %u)",
			 h->version, PEER_VERSION);
		return peeraccept_refuse(pl, tmo, why, NULL);
	}
	if (strcmp(h->cluster_id, a->cluster_id) != 0) {
		char why[PEER_STR_MAX + 64];
		snprintf(why, sizeof(why), "foreign cluster id \"%s\"", h->cluster_id);
		return peeraccept_refuse(pl, tmo, "cluster_id does not match", why);
	}
	if (!h->node_name[0])
		return peeraccept_refuse(pl, tmo, "a follower needs a node_name", NULL);
	return 0;
}

int peeraccept_auth(struct peerlink *pl, const struct peeraccept *a, struct peer_hello *h, bool *member)
{
	int tmo = a->timeout_ms;
	memset(h, 0, sizeof(*h));
	*member = false;
	pl->max_payload = PEER_HANDSHAKE_MAX;
	uint8_t type;
	uint64_t epoch;
	int rc = peerlink_recv(pl, &type, &epoch, tmo);
	if (rc != 0) {
		log_warn("peers", "peer link closed before HELLO peer=%s reason=\"%s\"", pl->peer,
			 peerlink_problem(pl, rc));
		return -1;
	}
	*member = type == PEER_MEMBER_HELLO;
	if ((type != PEER_HELLO && !*member) || peer_hello_get(pl->payload.data, pl->payload.len, h) != 0)
		return peeraccept_refuse(pl, tmo, "expected a HELLO message", NULL);
	if (check_hello(pl, a, h) != 0)
		return -1;

	struct peer_challenge ch;
	if (a->nonce)
		memcpy(ch.nonce, a->nonce, PEER_NONCE_SIZE);
	else if (peerauth_nonce(ch.nonce) != 0)
		return peeraccept_refuse(pl, tmo, "no random numbers", NULL);
	peerauth_leader_proof(a->secret, a->cluster_id, h->nonce, ch.nonce, ch.proof);
	struct buf b;
	buf_init(&b);
	peer_challenge_put(&b, &ch);
	rc = b.oom ? SL_ENOMEM : peerlink_send(pl, PEER_CHALLENGE, b.data, b.len, tmo);
	buf_free(&b);
	if (rc == 0)
		rc = peerlink_recv(pl, &type, &epoch, tmo);
	if (rc != 0) {
		log_warn("peers", "peer link closed during authentication peer=%s name=%s reason=\"%s\"", pl->peer,
			 h->node_name, peerlink_problem(pl, rc));
		return -1;
	}
	char text[PEER_STR_MAX * 2];
	if (type == PEER_ERROR && peer_text_get(pl->payload.data, pl->payload.len, text) == 0) {
		log_warn("peers", "refused a peer peer=%s name=%s reason=\"wrong cluster secret: the follower says %s\"",
			 pl->peer, h->node_name, text);
		return -1;
	}
	uint8_t proof[PEER_PROOF_SIZE], want[PEER_PROOF_SIZE];
	peerauth_follower_proof(a->secret, h->node_name, ch.nonce, h->nonce, want);
	if (type != PEER_AUTH || peer_auth_get(pl->payload.data, pl->payload.len, proof) != 0 ||
	    !peerauth_equal(proof, want))
		return peeraccept_refuse(pl, tmo, "authentication failed", "wrong cluster secret");

	uint8_t from_follower[PEER_KEY_SIZE], from_leader[PEER_KEY_SIZE];
	peerauth_frame_keys(a->secret, ch.nonce, h->nonce, from_follower, from_leader);
	peerlink_seal(pl, from_leader, from_follower); /* every frame from here on */
	OPENSSL_cleanse(from_follower, sizeof(from_follower));
	OPENSSL_cleanse(from_leader, sizeof(from_leader));
	return 0;
}
