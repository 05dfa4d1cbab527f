/*
 * test_scram.c — unit tests for server/scram.c and server/users.c.
 *
 * The SCRAM tests play the client with their own computation straight from
 * RFC 5802 (OpenSSL PBKDF2/HMAC/SHA-256 and EVP base64), so the server code
 * is checked against an independent implementation and against the worked
 * example of RFC 7677. Malformed messages come from tables, from cutting a
 * valid message at every byte and from overwriting every byte; each must
 * give SL_EPROTO (or SL_EAUTH where the bytes still parse), never a crash,
 * which ASan/UBSan check.
 *
 * The users tests write temporary files under $TMPDIR (or /tmp).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "buf.h"
#include "scram.h"
#include "sl_error.h"
#include "users.h"

/* ---------------------------------------------------------------- client side */

#define RFC_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096"
#define RFC_FINAL "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void b64(const uint8_t *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static size_t unb64(const char *in, uint8_t *out)
{
	size_t n = strlen(in);
	int got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	assert_true(got >= 0);
	size_t pad = (n >= 1 && in[n - 1] == '=') + (n >= 2 && in[n - 2] == '=');
	return (size_t)got - pad;
}

static void hmac(const uint8_t *key, const void *msg, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	assert_non_null(HMAC(EVP_sha256(), key, 32, msg, len, out, &n));
	assert_int_equal(n, 32);
}

struct keys {
	uint8_t client[32], stored[32], server[32];
};

static void derive(const char *password, const uint8_t *salt, size_t salt_len, int iter, struct keys *k)
{
	uint8_t salted[32];
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iter,
					   EVP_sha256(), 32, salted),
			 1);
	hmac(salted, "Client Key", 10, k->client);
	SHA256(k->client, 32, k->stored);
	hmac(salted, "Server Key", 10, k->server);
}

/* A verifier as PostgreSQL stores it, built by the test itself. */
static void make_verifier(const char *password, const char *salt64, int iter, char *out, size_t outlen)
{
	uint8_t salt[128];
	struct keys k;
	char st[64], sv[64];
	size_t n = unb64(salt64, salt);
	derive(password, salt, n, iter, &k);
	b64(k.stored, 32, st);
	b64(k.server, 32, sv);
	snprintf(out, outlen, "SCRAM-SHA-256$%d:%s$%s:%s", iter, salt64, st, sv);
}

/*
 * The client-final-message for password, given the bare client-first and
 * the server-first; ext (or NULL) is put before the proof. Fills the
 * ServerSignature the client should then expect.
 */
static void client_final(const char *password, const char *bare, const char *server_first, const char *cbind,
			 const char *ext, char *out, size_t outlen, char *expect_v, size_t vlen)
{
	char nonce[256], salt64[256];
	int iter = 0;
	const char *s = strstr(server_first, ",s=");
	const char *i = strstr(server_first, ",i=");
	assert_true(strncmp(server_first, "r=", 2) == 0 && s && i && s < i);
	snprintf(nonce, sizeof(nonce), "%.*s", (int)(s - server_first - 2), server_first + 2);
	snprintf(salt64, sizeof(salt64), "%.*s", (int)(i - s - 3), s + 3);
	iter = atoi(i + 3);
	assert_true(iter > 0);

	uint8_t salt[256];
	struct keys k;
	derive(password, salt, unb64(salt64, salt), iter, &k);

	char without[512], auth[1024];
	snprintf(without, sizeof(without), "c=%s,r=%s%s%s", cbind, nonce, ext ? "," : "", ext ? ext : "");
	snprintf(auth, sizeof(auth), "%s,%s,%s", bare, server_first, without);
	uint8_t sig[32], proof[32], ssig[32];
	hmac(k.stored, auth, strlen(auth), sig);
	for (int j = 0; j < 32; j++)
		proof[j] = k.client[j] ^ sig[j];
	char proof64[64], ssig64[64];
	b64(proof, 32, proof64);
	snprintf(out, outlen, "%s,p=%s", without, proof64);
	hmac(k.server, auth, strlen(auth), ssig);
	b64(ssig, 32, ssig64);
	snprintf(expect_v, vlen, "v=%s", ssig64);
}

static char *reply_str(struct buf *b)
{
	buf_put_u8(b, 0);
	assert_false(b->oom);
	b->len--;
	return (char *)b->data;
}

static int first(struct scram_state *st, const char *msg, struct buf *reply, char *err)
{
	buf_reset(reply);
	err[0] = '\0';
	return scram_handle_client_first(st, (const uint8_t *)msg, strlen(msg), reply, err, 128);
}

static int final(struct scram_state *st, const char *msg, struct buf *reply, char *err)
{
	buf_reset(reply);
	err[0] = '\0';
	return scram_handle_client_final(st, (const uint8_t *)msg, strlen(msg), reply, err, 128);
}

/* A whole exchange as libpq does it; returns the result of the final step. */
static int exchange(const char *secret, const char *password, const char *gs2, const char *cbind)
{
	struct scram_state *st = scram_new("alice", secret);
	struct buf reply;
	char err[128], msg[512], fin[1024], v[128], sf[512];
	assert_non_null(st);
	buf_init(&reply);
	snprintf(msg, sizeof(msg), "%sn=,r=fyko+d2lbbFgONRv9qkxdawL", gs2);
	assert_int_equal(first(st, msg, &reply, err), 0);
	snprintf(sf, sizeof(sf), "%s", reply_str(&reply));
	client_final(password, msg + strlen(gs2), sf, cbind, NULL, fin, sizeof(fin), v, sizeof(v));
	int rc = final(st, fin, &reply, err);
	if (rc == 0)
		assert_string_equal(reply_str(&reply), v);
	else
		assert_true(err[0] != '\0' && reply.len == 0);
	buf_free(&reply);
	scram_free(st);
	return rc;
}

/* ---------------------------------------------------------------- exchanges */

static void test_rfc7677(void **state)
{
	(void)state;
	char secret[256], err[128];
	struct buf reply;
	make_verifier("pencil", RFC_SALT, 4096, secret, sizeof(secret));
	struct scram_state *st = scram_new("alice", secret);
	assert_non_null(st);
	buf_init(&reply);
	scram_set_server_nonce(st, RFC_SNONCE);
	assert_int_equal(first(st, RFC_FIRST, &reply, err), 0);
	assert_string_equal(reply_str(&reply), RFC_SERVER_FIRST);
	assert_int_equal(final(st, RFC_FINAL, &reply, err), 0);
	assert_string_equal(reply_str(&reply), RFC_SERVER_FINAL);
	/* The exchange is over. */
	assert_int_equal(final(st, RFC_FINAL, &reply, err), SL_EPROTO);
	buf_free(&reply);
	scram_free(st);

	/* Our own client computes the RFC's proof too. */
	char fin[512], v[128];
	client_final("pencil", &RFC_FIRST[3], RFC_SERVER_FIRST, "biws", NULL, fin, sizeof(fin), v, sizeof(v));
	assert_string_equal(fin, RFC_FINAL);
	assert_string_equal(v, RFC_SERVER_FINAL);

	assert_true(scram_check_password(secret, "pencil"));
	assert_false(scram_check_password(secret, "pencil "));
	assert_false(scram_check_password(secret, "Pencil"));
}

static void test_plain_secret(void **state)
{
	(void)state;
	assert_int_equal(exchange("s3cret", "s3cret", "n,,", "biws"), 0);
	assert_int_equal(exchange("s3cret", "s3cre", "n,,", "biws"), SL_EAUTH);
	assert_int_equal(exchange("s3cret", "s3crett", "n,,", "biws"), SL_EAUTH);
	assert_int_equal(exchange("pass:with:colons", "pass:with:colons", "n,,", "biws"), 0);
	assert_int_equal(exchange("x", "", "n,,", "biws"), SL_EAUTH);
}

static void test_verifier_secret(void **state)
{
	(void)state;
	char secret[256];
	assert_int_equal(scram_make_verifier("hunter2", secret, sizeof(secret)), 0);
	assert_int_equal(exchange(secret, "hunter2", "n,,", "biws"), 0);
	assert_int_equal(exchange(secret, "hunter3", "n,,", "biws"), SL_EAUTH);
	/* y,, (client could bind but thinks we cannot) echoes "y,,". */
	assert_int_equal(exchange(secret, "hunter2", "y,,", "eSws"), 0);
	assert_int_equal(exchange(secret, "hunter2", "y,,", "biws"), SL_EPROTO);
	assert_int_equal(exchange(secret, "hunter2", "n,,", "eSws"), SL_EPROTO);
	/* A verifier with a different salt length and iteration count. */
	make_verifier("hunter2", "c2FsdA==", 1000, secret, sizeof(secret));
	assert_int_equal(exchange(secret, "hunter2", "n,,", "biws"), 0);
	assert_int_equal(exchange(secret, "hunter", "n,,", "biws"), SL_EAUTH);
}

/* The s= of a server-first-message for secret, decoded. */
static size_t salt_of_user(const char *user, const char *secret, uint8_t *salt, char *iter, size_t iterlen)
{
	struct scram_state *st = scram_new(user, secret);
	struct buf reply;
	char err[128];
	assert_non_null(st);
	buf_init(&reply);
	assert_int_equal(first(st, "n,,n=,r=abc", &reply, err), 0);
	const char *sf = reply_str(&reply);
	const char *s = strstr(sf, ",s="), *i = strstr(sf, ",i=");
	assert_true(s && i && s < i);
	char salt64[128];
	snprintf(salt64, sizeof(salt64), "%.*s", (int)(i - s - 3), s + 3);
	snprintf(iter, iterlen, "%s", i + 3);
	size_t n = unb64(salt64, salt);
	buf_free(&reply);
	scram_free(st);
	return n;
}

static size_t salt_of(const char *secret, uint8_t *salt, char *iter, size_t iterlen)
{
	return salt_of_user("alice", secret, salt, iter, iterlen);
}

static void test_unknown_user(void **state)
{
	(void)state;
	assert_int_equal(exchange(NULL, "", "n,,", "biws"), SL_EAUTH);
	assert_int_equal(exchange(NULL, "anything", "n,,", "biws"), SL_EAUTH);
	/* Unusable verifiers behave as unknown users. */
	assert_int_equal(exchange("SCRAM-SHA-256$", "", "n,,", "biws"), SL_EAUTH);
	assert_int_equal(exchange("SCRAM-SHA-256$0:c2FsdA==$x:y", "", "n,,", "biws"), SL_EAUTH);

	/* The made-up salt looks real and stays the same. */
	uint8_t a[128], b[128];
	char ia[16], ib[16];
	size_t na = salt_of(NULL, a, ia, sizeof(ia)), nb = salt_of(NULL, b, ib, sizeof(ib));
	assert_int_equal(na, 16);
	assert_int_equal(nb, 16);
	assert_memory_equal(a, b, 16);
	assert_string_equal(ia, "4096");
	assert_string_equal(ib, "4096");
}

static void test_plain_salt_stable(void **state)
{
	(void)state;
	uint8_t a[128], b[128], c[128];
	char it[16];
	assert_int_equal(salt_of("pw1", a, it, sizeof(it)), 16);
	assert_string_equal(it, "4096");
	assert_int_equal(salt_of("pw1", b, it, sizeof(it)), 16);
	assert_int_equal(salt_of("pw2", c, it, sizeof(it)), 16);
	assert_memory_equal(a, b, 16);
	assert_memory_not_equal(a, c, 16);
}

/* Salts are per user: two users with one password get two salts, and an
 * unknown user's made-up salt depends on the name too (so it cannot be
 * told from a real user's by comparing salts across names). */
static void test_salt_per_user(void **state)
{
	(void)state;
	uint8_t a[128], b[128], c[128], d[128];
	char it[16];
	assert_int_equal(salt_of_user("alice", "same", a, it, sizeof(it)), 16);
	assert_int_equal(salt_of_user("bob", "same", b, it, sizeof(it)), 16);
	assert_memory_not_equal(a, b, 16);
	assert_int_equal(salt_of_user("carol", NULL, c, it, sizeof(it)), 16);
	assert_int_equal(salt_of_user("dave", NULL, d, it, sizeof(it)), 16);
	assert_memory_not_equal(c, d, 16);
	assert_int_equal(salt_of_user("dave", NULL, c, it, sizeof(it)), 16);
	assert_memory_equal(c, d, 16);
}

static void test_random_nonce(void **state)
{
	(void)state;
	char n1[128], n2[128], err[128];
	struct buf reply;
	buf_init(&reply);
	for (int k = 0; k < 2; k++) {
		struct scram_state *st = scram_new("alice", NULL);
		assert_non_null(st);
		assert_int_equal(first(st, "n,,n=,r=abc", &reply, err), 0);
		const char *sf = reply_str(&reply);
		const char *s = strstr(sf, ",s=");
		assert_non_null(s);
		assert_int_equal(s - sf, 2 + 3 + 24);
		assert_memory_equal(sf, "r=abc", 5);
		snprintf(k ? n2 : n1, 128, "%.*s", (int)(s - sf), sf);
		scram_free(st);
	}
	assert_string_not_equal(n1, n2);
	buf_free(&reply);
}

static void test_extensions(void **state)
{
	(void)state;
	char secret[256], err[128], fin[512], v[128], sf[256];
	struct buf reply;
	make_verifier("pencil", RFC_SALT, 4096, secret, sizeof(secret));
	buf_init(&reply);

	/* Unknown extensions are ignored in both messages but signed over. */
	struct scram_state *st = scram_new("alice", secret);
	assert_int_equal(first(st, "n,,n=a=2Cb=3D,r=xyz,x=1,Q=a=b", &reply, err), 0);
	snprintf(sf, sizeof(sf), "%s", reply_str(&reply));
	client_final("pencil", "n=a=2Cb=3D,r=xyz,x=1,Q=a=b", sf, "biws", "e=ext,f==", fin, sizeof(fin), v,
		     sizeof(v));
	assert_int_equal(final(st, fin, &reply, err), 0);
	assert_string_equal(reply_str(&reply), v);
	scram_free(st);

	/* Dropping the extension from the signed part breaks the proof. */
	st = scram_new("alice", secret);
	assert_int_equal(first(st, "n,,n=,r=xyz", &reply, err), 0);
	snprintf(sf, sizeof(sf), "%s", reply_str(&reply));
	client_final("pencil", "n=,r=xyz", sf, "biws", NULL, fin, sizeof(fin), v, sizeof(v));
	char with_ext[600];
	const char *p = strstr(fin, ",p=");
	snprintf(with_ext, sizeof(with_ext), "%.*s,e=1%s", (int)(p - fin), fin, p);
	assert_int_equal(final(st, with_ext, &reply, err), SL_EAUTH);
	assert_string_equal(err, "password authentication failed");
	scram_free(st);
	buf_free(&reply);
}

static void test_phase_order(void **state)
{
	(void)state;
	char err[128];
	struct buf reply;
	buf_init(&reply);
	struct scram_state *st = scram_new("alice", "pw");
	assert_int_equal(final(st, RFC_FINAL, &reply, err), SL_EPROTO);
	assert_string_equal(err, "unexpected SCRAM client-final-message");
	assert_int_equal(first(st, RFC_FIRST, &reply, err), SL_EPROTO);
	scram_free(st);

	st = scram_new("alice", "pw");
	assert_int_equal(first(st, RFC_FIRST, &reply, err), 0);
	assert_int_equal(first(st, RFC_FIRST, &reply, err), SL_EPROTO);
	assert_string_equal(err, "unexpected SCRAM client-first-message");
	assert_int_equal(reply.len, 0);
	/* Any error ends the exchange. */
	assert_int_equal(final(st, RFC_FINAL, &reply, err), SL_EPROTO);
	scram_free(st);

	/* A NULL or empty err buffer is allowed. */
	st = scram_new("alice", "pw");
	assert_int_equal(scram_handle_client_first(st, (const uint8_t *)"x", 1, &reply, NULL, 0), SL_EPROTO);
	scram_free(st);
	scram_free(NULL);
	buf_free(&reply);
}

/* ---------------------------------------------------------------- malformed */

static void test_first_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *msg;
		const char *err; /* substring, or NULL */
	} bad[] = {
		{ "", NULL },
		{ "n", NULL },
		{ "n,", NULL },
		{ "n,,", NULL },
		{ "n,,n", NULL },
		{ "n,,n=", NULL },
		{ "n,,n=u", NULL },
		{ "n,,n=u,", NULL },
		{ "n,,n=u,r", NULL },
		{ "n,,n=u,r=", "nonce" },
		{ "n,,r=abc", NULL },
		{ "n,,n=u,x=1,r=abc", NULL },
		{ "x,,n=u,r=abc", NULL },
		{ "nn,,n=u,r=abc", NULL },
		{ "n,x,n=u,r=abc", NULL },
		{ ",,n=u,r=abc", NULL },
		{ "p=tls-server-end-point,,n=u,r=abc", "channel binding" },
		{ "p=tls-unique,,n=,r=abc", "channel binding" },
		{ "p,,n=u,r=abc", NULL },
		{ "n,a=bob,n=u,r=abc", "authorization identity" },
		{ "y,a=,n=u,r=abc", "authorization identity" },
		{ "n,,m=ext,n=u,r=abc", "extension" },
		{ "n,,n=u=,r=abc", NULL },
		{ "n,,n=u=2,r=abc", NULL },
		{ "n,,n=u=2X,r=abc", NULL },
		{ "n,,n=u=3C,r=abc", NULL },
		{ "n,,n=u,r=a b", NULL },
		{ "n,,n=u,r=ab\x7f", NULL },
		{ "n,,n=u,r=ab\x80", NULL },
		{ "n,,n=u,r=abc,", NULL },
		{ "n,,n=u,r=abc,x", NULL },
		{ "n,,n=u,r=abc,x=", NULL },
		{ "n,,n=u,r=abc,1=x", NULL },
		{ "n,,n=u,r=abc,,x=y", NULL },
		{ "N,,n=u,r=abc", NULL },
		{ "n,,N=u,r=abc", NULL },
		{ "n,,n=u,R=abc", NULL },
	};
	char err[128];
	struct buf reply;
	buf_init(&reply);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_state *st = scram_new("alice", "pw");
		int rc = first(st, bad[i].msg, &reply, err);
		if (rc != SL_EPROTO)
			fail_msg("accepted \"%s\"", bad[i].msg);
		assert_true(err[0] != '\0');
		assert_int_equal(reply.len, 0);
		if (bad[i].err && !strstr(err, bad[i].err))
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", bad[i].msg, err, bad[i].err);
		scram_free(st);
	}

	/* A NUL byte inside the length, and an oversized message. */
	struct scram_state *st = scram_new("alice", "pw");
	assert_int_equal(scram_handle_client_first(st, (const uint8_t *)"n,,n=u\0,r=abc", 13, &reply, err, 128),
			 SL_EPROTO);
	scram_free(st);
	char big[2100];
	memcpy(big, "n,,n=,r=", 8);
	memset(big + 8, 'a', sizeof(big) - 9);
	big[sizeof(big) - 1] = '\0';
	st = scram_new("alice", "pw");
	assert_int_equal(first(st, big, &reply, err), SL_EPROTO);
	scram_free(st);
	st = scram_new("alice", "pw");
	assert_int_equal(scram_handle_client_first(st, NULL, 0, &reply, err, 128), SL_EPROTO);
	scram_free(st);

	/* And some that are fine. */
	static const char *const good[] = { "n,,n=,r=a", "y,,n=u,r=abc", "n,,n=a=2Cb=3Dc,r=!~", "n,,n=u,r=abc,x=1",
					    "n,,n=\xc3\xa9,r=abc" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		st = scram_new("alice", "pw");
		if (first(st, good[i], &reply, err) != 0)
			fail_msg("refused \"%s\": %s", good[i], err);
		scram_free(st);
	}
	buf_free(&reply);
}

/* A state at the client-final step of the RFC 7677 exchange. */
static struct scram_state *rfc_state(void)
{
	static char secret[256];
	char err[128];
	struct buf reply;
	if (!secret[0])
		make_verifier("pencil", RFC_SALT, 4096, secret, sizeof(secret));
	struct scram_state *st = scram_new("alice", secret);
	assert_non_null(st);
	scram_set_server_nonce(st, RFC_SNONCE);
	buf_init(&reply);
	assert_int_equal(first(st, RFC_FIRST, &reply, err), 0);
	buf_free(&reply);
	return st;
}

static void test_final_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *msg;
		const char *err;
	} bad[] = {
		{ "", NULL },
		{ "r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL },
		{ "c=biw,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL },
		{ "c=bi*s,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL },
		{ "c=,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "channel-binding" },
		{ "c=eSws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "channel-binding" },
		{ "c=cD10bHMtdW5pcXVlLCw=,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		  "channel-binding" },
		{ "c=biws,r=" RFC_CNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "nonce" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE "x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "nonce" },
		{ "c=biws,r=X" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "nonce" },
		{ "c=biws,r=,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "nonce" },
		{ "c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE, "proof" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",", NULL },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=", "proof" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ", "proof" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVR=", "proof" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndQ==", "proof" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQA", "proof" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=AAAA", "proof" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7A=dVQ=", "proof" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1", "garbage" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,", "garbage" },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",x=,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL },
		{ "c=biws,r=" RFC_CNONCE RFC_SNONCE ",,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL },
		{ "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,c=biws,r=" RFC_CNONCE RFC_SNONCE, NULL },
		{ "r=" RFC_CNONCE RFC_SNONCE ",c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL },
	};
	char err[128];
	struct buf reply;
	buf_init(&reply);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_state *st = rfc_state();
		int rc = final(st, bad[i].msg, &reply, err);
		if (rc != SL_EPROTO)
			fail_msg("\"%s\": got %d (%s)", bad[i].msg, rc, err);
		assert_int_equal(reply.len, 0);
		if (bad[i].err && !strstr(err, bad[i].err))
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", bad[i].msg, err, bad[i].err);
		scram_free(st);
	}
	/* A NUL byte inside the length. */
	struct scram_state *st = rfc_state();
	char withnul[sizeof(RFC_FINAL)];
	memcpy(withnul, RFC_FINAL, sizeof(withnul));
	withnul[3] = '\0';
	assert_int_equal(scram_handle_client_final(st, (const uint8_t *)withnul, sizeof(withnul) - 1, &reply, err, 128),
			 SL_EPROTO);
	scram_free(st);
	buf_free(&reply);
}

static void test_truncated(void **state)
{
	(void)state;
	char err[128];
	struct buf reply;
	buf_init(&reply);
	const char *first_msg = RFC_FIRST;
	size_t nonce_at = (size_t)(strstr(first_msg, ",r=") - first_msg) + 3;
	for (size_t n = 0; n < strlen(first_msg); n++) {
		struct scram_state *st = scram_new("alice", NULL);
		int rc = scram_handle_client_first(st, (const uint8_t *)first_msg, n, &reply, err, sizeof(err));
		/* Cut inside the nonce, it is a valid message with a shorter nonce. */
		if (rc != (n > nonce_at ? 0 : SL_EPROTO))
			fail_msg("client-first cut at %zu: %d", n, rc);
		scram_free(st);
		buf_reset(&reply);
	}
	const char *final_msg = RFC_FINAL;
	for (size_t n = 0; n < strlen(final_msg); n++) {
		struct scram_state *st = rfc_state();
		int rc = scram_handle_client_final(st, (const uint8_t *)final_msg, n, &reply, err, sizeof(err));
		if (rc != SL_EPROTO)
			fail_msg("client-final cut at %zu: %d", n, rc);
		assert_int_equal(reply.len, 0);
		scram_free(st);
	}
	buf_free(&reply);
}

static void test_overwritten(void **state)
{
	(void)state;
	static const uint8_t with[] = { ',', '=', '\0', 0xff, 'A', 'p', 'c', 'r', 'n', 'y', '/' };
	uint8_t msg[256];
	char err[128];
	struct buf reply;
	buf_init(&reply);
	size_t len = strlen(RFC_FINAL);
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(with); k++) {
			memcpy(msg, RFC_FINAL, len);
			if (msg[i] == with[k])
				continue;
			msg[i] = with[k];
			struct scram_state *st = rfc_state();
			int rc = scram_handle_client_final(st, msg, len, &reply, err, sizeof(err));
			if (rc != SL_EPROTO && rc != SL_EAUTH)
				fail_msg("client-final byte %zu = 0x%02x: %d", i, with[k], rc);
			assert_int_equal(reply.len, 0);
			scram_free(st);
		}
	}
	len = strlen(RFC_FIRST);
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(with); k++) {
			memcpy(msg, RFC_FIRST, len);
			msg[i] = with[k];
			struct scram_state *st = scram_new("alice", NULL);
			int rc = scram_handle_client_first(st, msg, len, &reply, err, sizeof(err));
			if (rc != SL_EPROTO && rc != 0)
				fail_msg("client-first byte %zu = 0x%02x: %d", i, with[k], rc);
			buf_reset(&reply);
			scram_free(st);
		}
	}
	buf_free(&reply);
}

/* ---------------------------------------------------------------- cleartext */

static void test_check_password(void **state)
{
	(void)state;
	assert_true(scram_check_password("s3cret", "s3cret"));
	assert_false(scram_check_password("s3cret", "s3cre"));
	assert_false(scram_check_password("s3cret", "s3crett"));
	assert_false(scram_check_password("s3cret", ""));
	assert_false(scram_check_password("s3cret", NULL));
	assert_false(scram_check_password(NULL, "s3cret"));
	assert_true(scram_check_password("a:b", "a:b"));

	char v[256];
	assert_int_equal(scram_make_verifier("hunter2", v, sizeof(v)), 0);
	assert_true(scram_check_password(v, "hunter2"));
	assert_false(scram_check_password(v, "hunter"));
	assert_false(scram_check_password(v, v));
	/* Both keys must fit: a wrong ServerKey alone fails. */
	char *server_key = strrchr(v, ':') + 1;
	server_key[0] = server_key[0] == 'A' ? 'B' : 'A';
	assert_false(scram_check_password(v, "hunter2"));
	make_verifier("", "c2FsdA==", 2, v, sizeof(v));
	assert_true(scram_check_password(v, ""));
	assert_false(scram_check_password(v, " "));

	/* Malformed verifiers never match. */
	static const char *const bad[] = {
		"SCRAM-SHA-256$",
		"SCRAM-SHA-256$4096",
		"SCRAM-SHA-256$4096:",
		"SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
		"SCRAM-SHA-256$-1:c2FsdA==$AAAA:AAAA",
		"SCRAM-SHA-256$99999999999:c2FsdA==$AAAA:AAAA",
		"SCRAM-SHA-256$4096:$AAAA:AAAA",
		"SCRAM-SHA-256$4096:c2FsdA=$AAAA:AAAA",
		"SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(scram_check_password(bad[i], ""));
}

static void test_make_verifier(void **state)
{
	(void)state;
	char v1[256], v2[256];
	assert_int_equal(scram_make_verifier("pw", v1, sizeof(v1)), 0);
	assert_int_equal(scram_make_verifier("pw", v2, sizeof(v2)), 0);
	assert_string_not_equal(v1, v2); /* random salts */
	assert_memory_equal(v1, "SCRAM-SHA-256$4096:", 19);

	/* Shape: 16-byte salt, 32-byte keys, and the keys fit the password. */
	char salt64[64], st64[64], sv64[64];
	assert_int_equal(sscanf(v1 + 19, "%63[^$]$%63[^:]:%63s", salt64, st64, sv64), 3);
	uint8_t salt[64], stored[64], server[64];
	assert_int_equal(unb64(salt64, salt), 16);
	assert_int_equal(unb64(st64, stored), 32);
	assert_int_equal(unb64(sv64, server), 32);
	struct keys k;
	derive("pw", salt, 16, 4096, &k);
	assert_memory_equal(k.stored, stored, 32);
	assert_memory_equal(k.server, server, 32);

	/* Exactly enough room, one byte less, none. */
	size_t need = strlen(v1) + 1;
	char small[256];
	assert_int_equal(scram_make_verifier("pw", small, need), 0);
	assert_int_equal(strlen(small), need - 1);
	assert_int_equal(scram_make_verifier("pw", small, need - 1), SL_EINVAL);
	assert_string_equal(small, "");
	assert_int_equal(scram_make_verifier("pw", small, 0), SL_EINVAL);
	assert_int_equal(scram_make_verifier(NULL, small, sizeof(small)), SL_EINVAL);
}

/* ---------------------------------------------------------------- users */

static char tmp_path[256];

static const char *write_tmp(const char *text, size_t len)
{
	const char *dir = getenv("TMPDIR");
	snprintf(tmp_path, sizeof(tmp_path), "%s/test_scram_users.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return tmp_path;
}

static int load_text(const char *text, struct users **u, char *err, size_t errlen)
{
	const char *path = write_tmp(text, strlen(text));
	int rc = users_load(path, u, err, errlen);
	unlink(path);
	return rc;
}

static void test_users_load(void **state)
{
	(void)state;
	char verifier[256], text[1024], err[256];
	struct users *u = NULL;
	assert_int_equal(scram_make_verifier("pencil", verifier, sizeof(verifier)), 0);
	snprintf(text, sizeof(text),
		 "# sluice users\n"
		 "\n"
		 "alice:s3cret\n"
		 "   \t\n"
		 "  # indented comment\n"
		 "bob:%s\n"
		 "carol:pass:with:colons\r\n"
		 "dave: spaces kept \n"
		 "#erin:nope\n"
		 "zed:last line without newline",
		 verifier);
	assert_int_equal(load_text(text, &u, err, sizeof(err)), 0);
	assert_string_equal(users_secret(u, "alice"), "s3cret");
	assert_string_equal(users_secret(u, "bob"), verifier);
	assert_string_equal(users_secret(u, "carol"), "pass:with:colons");
	assert_string_equal(users_secret(u, "dave"), " spaces kept ");
	assert_string_equal(users_secret(u, "zed"), "last line without newline");
	assert_null(users_secret(u, "erin"));
	assert_null(users_secret(u, "#erin"));
	assert_null(users_secret(u, "Alice"));
	assert_null(users_secret(u, ""));
	assert_null(users_secret(u, NULL));
	assert_true(scram_check_password(users_secret(u, "bob"), "pencil"));
	assert_int_equal(exchange(users_secret(u, "alice"), "s3cret", "n,,", "biws"), 0);
	assert_int_equal(exchange(users_secret(u, "bob"), "pencil", "n,,", "biws"), 0);
	users_free(u);

	/* Empty file, comments only. */
	assert_int_equal(load_text("", &u, err, sizeof(err)), 0);
	assert_null(users_secret(u, "alice"));
	users_free(u);
	assert_int_equal(load_text("# nobody\n\n", &u, err, sizeof(err)), 0);
	assert_null(users_secret(u, "alice"));
	users_free(u);

	/* Many users: all found. */
	struct buf b;
	buf_init(&b);
	for (int i = 999; i >= 0; i--)
		buf_printf(&b, "user%d:pw%d\n", i, i);
	buf_put_u8(&b, 0);
	assert_int_equal(load_text((const char *)b.data, &u, err, sizeof(err)), 0);
	for (int i = 0; i < 1000; i++) {
		char name[32], pw[32];
		snprintf(name, sizeof(name), "user%d", i);
		snprintf(pw, sizeof(pw), "pw%d", i);
		assert_string_equal(users_secret(u, name), pw);
	}
	assert_null(users_secret(u, "user1000"));
	users_free(u);
	buf_free(&b);

	users_free(NULL);
	assert_null(users_secret(NULL, "alice"));
}

static void test_users_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int line;
		const char *msg;
	} bad[] = {
		{ "alice:x\n# c\nbob\n", 3, "missing ':'" },
		{ "nocolon", 1, "missing ':'" },
		{ ":secret\n", 1, "empty user name" },
		{ "\n\nalice:\n", 3, "empty secret" },
		{ "alice:x\nbob:y\nalice:z\n", 3, "already defined on line 1" },
	};
	char err[256], want[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct users *u = (struct users *)&want; /* must be reset to NULL */
		const char *path = write_tmp(bad[i].text, strlen(bad[i].text));
		err[0] = '\0';
		assert_int_equal(users_load(path, &u, err, sizeof(err)), SL_EINVAL);
		assert_null(u);
		snprintf(want, sizeof(want), "%s:%d: ", path, bad[i].line);
		if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, bad[i].msg))
			fail_msg("\"%s\": got \"%s\", want \"%s...%s\"", bad[i].text, err, want, bad[i].msg);
		unlink(path);
	}

	/* A NUL byte in a line. */
	struct users *u = NULL;
	const char *path = write_tmp("alice:x\nb\0b:y\n", 14);
	assert_int_equal(users_load(path, &u, err, sizeof(err)), SL_EINVAL);
	snprintf(want, sizeof(want), "%s:2: ", path);
	assert_memory_equal(err, want, strlen(want));
	unlink(path);

	/* Missing file. */
	assert_int_equal(users_load("/nonexistent/sluice-users", &u, err, sizeof(err)), SL_EIO);
	assert_null(u);
	assert_non_null(strstr(err, "/nonexistent/sluice-users"));
	assert_non_null(strstr(err, strerror(ENOENT)));

	/* A directory opens but cannot be read. */
	assert_int_equal(users_load("/", &u, err, sizeof(err)), SL_EIO);
	assert_null(u);

	/* Tiny or absent error buffer. */
	char tiny[4];
	assert_int_equal(users_load("/nonexistent/sluice-users", &u, tiny, sizeof(tiny)), SL_EIO);
	assert_int_equal(strlen(tiny), 3);
	assert_int_equal(users_load("/nonexistent/sluice-users", &u, NULL, 0), SL_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677),
		cmocka_unit_test(test_plain_secret),
		cmocka_unit_test(test_verifier_secret),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_plain_salt_stable),
		cmocka_unit_test(test_salt_per_user),
		cmocka_unit_test(test_random_nonce),
		cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_phase_order),
		cmocka_unit_test(test_first_malformed),
		cmocka_unit_test(test_final_malformed),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_overwritten),
		cmocka_unit_test(test_check_password),
		cmocka_unit_test(test_make_verifier),
		cmocka_unit_test(test_users_load),
		cmocka_unit_test(test_users_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
