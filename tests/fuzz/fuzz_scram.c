/*
 * fuzz_scram.c — libFuzzer target for the server side of SCRAM-SHA-256
 * (server/pg/scram.c), the exchange a client runs before it is anyone.
 *
 * The input: one byte choosing the user (even: "alice", whose verifier is
 * FUZZ_VERIFIER, for the password "pencil"; odd: a user with no secret),
 * then the client-first-message, a NUL, and the client-final-message. The
 * server nonce is fixed (scram_set_server_nonce), so that seeds written by
 * tests/fuzz/make_corpus_scram.py hold whole exchanges that succeed, and
 * the fuzzer starts from a proof that checks.
 *
 * Checked: each step returns only what scram.h names; a server-first
 * message carries the client's nonce followed by the server's, the salt
 * and the iteration count; an exchange for a user with no secret never
 * succeeds; a success answers "v=" with the server signature; and a
 * second client-final after the end is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "scram.h"
#include "sl_error.h"

#define FUZZ_SERVER_NONCE "fuzzServerNonce0123456789abcdef"
/* "pencil", salt "fuzz salt 16 byt", 4096 iterations (make_corpus_scram.py) */
#define FUZZ_VERIFIER                                                                                             \
	"SCRAM-SHA-256$4096:ZnV6eiBzYWx0IDE2IGJ5dA==$pu1SGaexDd8qT9+k7lo1SauJoRVvWxNa73SRVEHp8Oo=:"                \
	"AxjSSa3zNXLw45vhYtuJrnc0XzAjNyLBKqwDtfDXiyk="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool known = (data[0] & 1) == 0;
	const uint8_t *first = data + 1;
	size_t rest = size - 1;
	const uint8_t *nul = memchr(first, 0, rest);
	size_t first_len = nul ? (size_t)(nul - first) : rest;
	const uint8_t *final = nul ? nul + 1 : NULL;
	size_t final_len = nul ? rest - first_len - 1 : 0;

	struct scram_state *st = scram_new("alice", known ? FUZZ_VERIFIER : NULL);
	if (!st)
		return 0;
	scram_set_server_nonce(st, FUZZ_SERVER_NONCE);
	struct buf reply;
	buf_init(&reply);
	char err[256];
	/* exact-size copies: ASan sees any read past a message */
	uint8_t *msg = malloc(first_len ? first_len : 1);
	CHECK(msg != NULL);
	memcpy(msg, first, first_len);
	int rc = scram_handle_client_first(st, msg, first_len, &reply, err, sizeof(err));
	free(msg);
	CHECK(rc == 0 || rc == SL_EPROTO);
	if (rc != 0 || !final) {
		CHECK(rc == 0 || err[0]);
		goto out;
	}
	buf_append(&reply, "", 1);
	const char *sf = (const char *)reply.data;
	CHECK(strncmp(sf, "r=", 2) == 0 && strstr(sf, FUZZ_SERVER_NONCE ",s=") && strstr(sf, ",i="));
	buf_reset(&reply);
	msg = malloc(final_len ? final_len : 1);
	CHECK(msg != NULL);
	memcpy(msg, final, final_len);
	rc = scram_handle_client_final(st, msg, final_len, &reply, err, sizeof(err));
	CHECK(rc == 0 || rc == SL_EAUTH || rc == SL_EPROTO);
	if (!known)
		CHECK(rc != 0); /* no secret: never a success */
	if (rc == 0) {
		CHECK(reply.len > 2 && memcmp(reply.data, "v=", 2) == 0);
		buf_reset(&reply);
		/* the exchange is over: nothing more is taken */
		CHECK(scram_handle_client_final(st, msg, final_len, &reply, err, sizeof(err)) != 0);
	}
	free(msg);
out:
	buf_free(&reply);
	scram_free(st);
	return 0;
}
