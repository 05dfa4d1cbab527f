/*
 * peerauth.c — HMAC-SHA-256 proofs of the cluster secret (see peerauth.h).
 */
#include "peerauth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "sl_error.h"

int peerauth_nonce(uint8_t nonce[PEER_NONCE_SIZE])
{
	return RAND_bytes(nonce, PEER_NONCE_SIZE) == 1 ? 0 : SL_EIO;
}

/* HMAC(secret, role || a || b || name) */
static void proof(const char *secret, const char *role, const uint8_t *a, const uint8_t *b, const char *name,
		  uint8_t out[PEER_PROOF_SIZE])
{
	uint8_t msg[16 + 2 * PEER_NONCE_SIZE + PEER_STR_MAX];
	size_t n = 0;
	size_t rl = strlen(role);
	memcpy(msg, role, rl);
	n += rl;
	memcpy(msg + n, a, PEER_NONCE_SIZE);
	n += PEER_NONCE_SIZE;
	memcpy(msg + n, b, PEER_NONCE_SIZE);
	n += PEER_NONCE_SIZE;
	size_t nl = strnlen(name, PEER_STR_MAX - 1);
	memcpy(msg + n, name, nl);
	n += nl;
	unsigned int len = PEER_PROOF_SIZE;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, out, &len))
		memset(out, 0, PEER_PROOF_SIZE); /* out of memory: a proof that will not match */
}

void peerauth_leader_proof(const char *secret, const char *cluster_id, const uint8_t follower_nonce[PEER_NONCE_SIZE],
			   const uint8_t leader_nonce[PEER_NONCE_SIZE], uint8_t out[PEER_PROOF_SIZE])
{
	proof(secret, "leader", follower_nonce, leader_nonce, cluster_id, out);
}

void peerauth_follower_proof(const char *secret, const char *node_name, const uint8_t leader_nonce[PEER_NONCE_SIZE],
			     const uint8_t follower_nonce[PEER_NONCE_SIZE], uint8_t out[PEER_PROOF_SIZE])
{
	proof(secret, "follower", leader_nonce, follower_nonce, node_name, out);
}

void peerauth_frame_keys(const char *secret, const uint8_t leader_nonce[PEER_NONCE_SIZE],
			 const uint8_t follower_nonce[PEER_NONCE_SIZE], uint8_t from_follower[PEER_KEY_SIZE],
			 uint8_t from_leader[PEER_KEY_SIZE])
{
	proof(secret, "frames from follower", leader_nonce, follower_nonce, "", from_follower);
	proof(secret, "frames from leader", leader_nonce, follower_nonce, "", from_leader);
}

bool peerauth_equal(const uint8_t a[PEER_PROOF_SIZE], const uint8_t b[PEER_PROOF_SIZE])
{
	return CRYPTO_memcmp(a, b, PEER_PROOF_SIZE) == 0;
}
