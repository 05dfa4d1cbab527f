/*
 * scram.h — the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as
 * PostgreSQL speaks it, and the password checks for cleartext auth.
 *
 * Pure message logic over byte strings (OpenSSL for HMAC, SHA-256, PBKDF2,
 * random nonces); no sockets. Channel binding is not offered: the client
 * GS2 header must be "n,," or "y,,"; "p=…" is refused.
 *
 * A user's secret is either a plain password or a PostgreSQL SCRAM verifier
 * "SCRAM-SHA-256$<iterations>:<salt base64>$<StoredKey base64>:<ServerKey base64>".
 */
#ifndef SL_SCRAM_H
#define SL_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* How a PostgreSQL SCRAM-SHA-256 verifier begins. */
#define SCRAM_PREFIX "SCRAM-SHA-256$"

struct scram_state;

/*
 * Starts an exchange for user, whose secret is `secret`. With secret NULL
 * (no such user) the exchange runs on a made-up verifier and fails at the
 * end, so the client cannot tell unknown users from wrong passwords. A
 * plain password as secret is derived here (PBKDF2); the server passes
 * verifiers (users_verifier), so that no exchange costs more than another.
 * Returns NULL when out of memory.
 */
struct scram_state *scram_new(const char *user, const char *secret);
void scram_free(struct scram_state *st);

/* For tests: use this server nonce instead of a random one. */
void scram_set_server_nonce(struct scram_state *st, const char *nonce);

/*
 * client-first-message → server-first-message appended to reply.
 * Returns 0, or SL_EPROTO (malformed or unsupported) with err filled.
 */
int scram_handle_client_first(struct scram_state *st, const uint8_t *msg, size_t len, struct buf *reply,
			      char *err, size_t errlen);

/*
 * client-final-message → server-final-message appended to reply when the
 * proof is right (returns 0). Returns SL_EAUTH for a wrong proof or unknown
 * user, SL_EPROTO for a malformed message, with err filled.
 */
int scram_handle_client_final(struct scram_state *st, const uint8_t *msg, size_t len, struct buf *reply,
			      char *err, size_t errlen);

/* Cleartext check against either kind of secret, in constant time where
 * the secret is a plain password. */
bool scram_check_password(const char *secret, const char *password);

/* Builds a verifier for password with a random salt and 4096 iterations.
 * Returns 0 or SL_ENOMEM/SL_EINVAL. */
int scram_make_verifier(const char *password, char *out, size_t outlen);

#endif
