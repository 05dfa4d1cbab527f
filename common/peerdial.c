/*
 * peerdial.c — the dialing side of a peer link's handshake (see
 * peerdial.h; the exchange: peerauth.h).
 */
#include "peerdial.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "peerauth.h"
#include "sl_error.h"

int peerdial_expect(struct peerlink *pl, uint8_t want, uint8_t *got, int timeout_ms, char *err, size_t errlen)
{
	uint8_t type = 0;
	uint64_t epoch;
	int rc = peerlink_recv(pl, &type, &epoch, timeout_ms);
	*got = rc == 0 ? type : 0;
	if (rc != 0) {
		snprintf(err, errlen, "link to %s failed: %s", pl->peer, peerlink_problem(pl, rc));
		return -1;
	}
	if (type == PEER_ERROR) {
		char text[PEER_STR_MAX * 2];
		if (peer_text_get(pl->payload.data, pl->payload.len, text) != 0)
			snprintf(text, sizeof(text), "(unreadable reason)");
		snprintf(err, errlen, "%s refused: %s", pl->peer, text);
		return -1;
	}
	if (type != want) {
		snprintf(err, errlen, "%s sent %s where %s was due", pl->peer, peer_type_name(type),
			 peer_type_name(want));
		return -1;
	}
	return 0;
}

int peerdial_auth(struct peerlink *pl, const struct peerdial *d, char *err, size_t errlen)
{
	err[0] = '\0';
	pl->max_payload = PEER_HANDSHAKE_MAX; /* until the other node proved the secret */
	struct peer_hello h = { .version = PEER_VERSION };
	snprintf(h.cluster_id, sizeof(h.cluster_id), "%.255s", d->cluster_id);
	snprintf(h.node_name, sizeof(h.node_name), "%.255s", d->node_name);
	snprintf(h.client_addr, sizeof(h.client_addr), "%.255s", d->client_addr ? d->client_addr : "");
	struct buf b;
	buf_init(&b);
	int rc = 0;
	if (d->nonce)
		memcpy(h.nonce, d->nonce, PEER_NONCE_SIZE);
	else
		rc = peerauth_nonce(h.nonce);
	if (rc == 0) {
		peer_hello_put(&b, &h);
		rc = b.oom ? SL_ENOMEM : peerlink_send(pl, d->hello_type, b.data, b.len, d->timeout_ms);
	}
	buf_reset(&b);
	struct peer_challenge ch;
	uint8_t want[PEER_PROOF_SIZE], proof[PEER_PROOF_SIZE];
	uint8_t got;
	if (rc != 0 || peerdial_expect(pl, PEER_CHALLENGE, &got, d->timeout_ms, err, errlen) != 0)
		goto fail;
	if (peer_challenge_get(pl->payload.data, pl->payload.len, &ch) != 0) {
		snprintf(err, errlen, "malformed CHALLENGE from %s", d->addr);
		goto fail;
	}
	peerauth_leader_proof(d->secret, d->cluster_id, h.nonce, ch.nonce, want);
	if (!peerauth_equal(want, ch.proof)) {
		snprintf(err, errlen, "%s did not prove the cluster secret (wrong cluster_secret?)", d->addr);
		peerlink_send_text(pl, PEER_ERROR, "the leader's proof of the cluster secret does not match",
				   d->timeout_ms);
		goto fail;
	}
	peerauth_follower_proof(d->secret, h.node_name, ch.nonce, h.nonce, proof);
	peer_auth_put(&b, proof);
	if (b.oom || peerlink_send(pl, PEER_AUTH, b.data, b.len, d->timeout_ms) != 0)
		goto fail;
	uint8_t from_follower[PEER_KEY_SIZE], from_leader[PEER_KEY_SIZE];
	peerauth_frame_keys(d->secret, ch.nonce, h.nonce, from_follower, from_leader);
	peerlink_seal(pl, from_follower, from_leader); /* every frame from here on */
	OPENSSL_cleanse(from_follower, sizeof(from_follower));
	OPENSSL_cleanse(from_leader, sizeof(from_leader));
	pl->max_payload = PEER_MAX_PAYLOAD;
	buf_free(&b);
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "could not send to %s", d->addr);
	buf_free(&b);
	return -1;
}

int peerdial_open(struct peerlink *pl, const struct peerdial *d, char *err, size_t errlen)
{
	err[0] = '\0';
	int fd = peerlink_dial(d->addr, d->dial_timeout_ms, err, errlen);
	if (fd < 0)
		return -1;
	peerlink_init(pl, fd, d->addr);
	char host[256];
	int port;
	if (peerlink_split(d->addr, host, sizeof(host), &port) != 0 ||
	    peerlink_tls_connect(pl, host, d->timeout_ms, err, errlen) != 0) {
		if (!err[0])
			snprintf(err, errlen, "bad address \"%s\"", d->addr);
		peerlink_close(pl);
		return -1;
	}
	if (peerdial_auth(pl, d, err, errlen) != 0) {
		peerlink_close(pl);
		return -1;
	}
	return 0;
}
