/*
 * secret.h — the cluster secret: whether one is strong enough, and a new
 * random one.
 *
 * Members prove the secret to each other by answering a challenge with an
 * HMAC of it (peerauth.h). Whoever records one exchange, or just sends
 * HELLO to a member, can then try guesses offline at the speed of SHA-256:
 * a short or patterned secret falls at once. So a secret must be at least
 * SECRET_MIN_LEN characters and look random enough: its characters'
 * empirical entropy times its length at least SECRET_MIN_BITS, and half
 * of its pairs of neighbouring characters distinct at least. That is a
 * floor against mistakes ("secret", "aaaa…", a word), not a proof of
 * randomness; `sluice secret` prints one that is (32 random bytes, hex).
 */
#ifndef SL_SECRET_H
#define SL_SECRET_H

#include <stddef.h>

#define SECRET_MIN_LEN 32
#define SECRET_MIN_BITS 80
#define SECRET_HEX_LEN 64 /* what secret_generate writes, without the NUL */

/* Why secret is too weak to use, or NULL when it will do. */
const char *secret_weakness(const char *secret);

/* A new secret from the kernel's random source into out (at least
 * SECRET_HEX_LEN + 1 bytes): 0, or -1 with errno set. */
int secret_generate(char *out, size_t outlen);

#endif
