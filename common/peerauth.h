/*
 * peerauth.h — how two nodes prove to each other that they hold the
 * cluster secret, without sending it: an HMAC-SHA-256 challenge-response
 * in both directions over fresh random nonces.
 *
 *   follower → HELLO (cluster id, name, nonce F)
 *   leader   → CHALLENGE (nonce L, HMAC(secret, "leader" F L cluster_id))
 *   follower checks the leader's proof, then
 *            → AUTH (HMAC(secret, "follower" L F node_name))
 *   leader checks it → WELCOME, or ERROR and close.
 *
 * Each side's proof covers the other's nonce, so a recorded exchange
 * cannot be replayed; proofs are compared in constant time.
 *
 * Every frame after AUTH is sealed (peerframe.h): each direction has a
 * key of its own, HMAC(secret, "frames from follower" / "frames from
 * leader" L F), fresh for every link since both nonces are.
 */
#ifndef SL_PEERAUTH_H
#define SL_PEERAUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "peerframe.h"
#include "peermsg.h"

/* Fresh random bytes; 0 or SL_EIO when the random source fails. */
int peerauth_nonce(uint8_t nonce[PEER_NONCE_SIZE]);

void peerauth_leader_proof(const char *secret, const char *cluster_id, const uint8_t follower_nonce[PEER_NONCE_SIZE],
			   const uint8_t leader_nonce[PEER_NONCE_SIZE], uint8_t out[PEER_PROOF_SIZE]);
void peerauth_follower_proof(const char *secret, const char *node_name, const uint8_t leader_nonce[PEER_NONCE_SIZE],
			     const uint8_t follower_nonce[PEER_NONCE_SIZE], uint8_t out[PEER_PROOF_SIZE]);

/* The two keys that seal a link's frames after AUTH: those the dialing
 * side (follower or member) sends, and those the accepting side sends. */
void peerauth_frame_keys(const char *secret, const uint8_t leader_nonce[PEER_NONCE_SIZE],
			 const uint8_t follower_nonce[PEER_NONCE_SIZE], uint8_t from_follower[PEER_KEY_SIZE],
			 uint8_t from_leader[PEER_KEY_SIZE]);

/* Constant-time comparison of two proofs. */
bool peerauth_equal(const uint8_t a[PEER_PROOF_SIZE], const uint8_t b[PEER_PROOF_SIZE]);

#endif
