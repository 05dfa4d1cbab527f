/*
 * scram.c — the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as
 * PostgreSQL speaks it, and the cleartext password checks (see scram.h).
 *
 * Pure message logic: bytes in, reply bytes out, no sockets. Called on the
 * connection's loop thread; a state belongs to one connection. The only
 * shared data is a process-wide random key made once (pthread_once) and
 * read-only after that.
 *
 * The exchange (all messages ASCII text, no NUL, at most SCRAM_MSG_MAX bytes):
 *
 *   client-first  gs2-header client-first-bare
 *     gs2-header  = ("n" / "y") "," ","     -- "p=<cb-name>" is refused,
 *                                             -- "a=<authzid>" is refused
 *     client-first-bare = "n=" saslname "," "r=" c-nonce ["," ext]...
 *                                             -- a leading "m=" is refused
 *     saslname: any bytes but NUL and ',', "=" only as "=2C" or "=3D";
 *               may be empty (libpq sends "n=") and is ignored, as in
 *               PostgreSQL: the user comes from the startup packet.
 *     c-nonce:  1 or more of 0x21..0x7E except ','.
 *     ext:      ALPHA "=" 1*(any byte but NUL and ','), ignored.
 *   server-first  "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations
 *     s-nonce:  base64 of 18 random bytes (24 characters).
 *   client-final  "c=" base64(gs2-header) "," "r=" c-nonce s-nonce
 *                 ["," ext]... "," "p=" base64(ClientProof)
 *   server-final  "v=" base64(ServerSignature)
 *
 *   SaltedPassword  = PBKDF2-HMAC-SHA-256(password, salt, iterations, 32)
 *   ClientKey       = HMAC(SaltedPassword, "Client Key")
 *   StoredKey       = SHA-256(ClientKey)
 *   ServerKey       = HMAC(SaltedPassword, "Server Key")
 *   AuthMessage     = client-first-bare "," server-first ","
 *                     client-final-without-proof
 *   ClientProof     = ClientKey XOR HMAC(StoredKey, AuthMessage)
 *   ServerSignature = HMAC(ServerKey, AuthMessage)
 *
 * The server holds StoredKey and ServerKey, from a PostgreSQL verifier
 * "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (all base64)
 * or derived at scram_new() from a plain password. Passwords are used as
 * bytes: SASLprep (RFC 4013) is not applied, which only matters for
 * non-ASCII passwords that SASLprep would change.
 *
 * Unknown users (secret NULL) and unusable verifiers run the exchange on a
 * made-up salt and fail at the end with SL_EAUTH. So that asking twice does
 * not tell them apart from real users, made-up and plain-password salts are
 * stable for the life of the process and differ from user to user:
 * HMAC(process key, label || user || password), as PostgreSQL's
 * scram_mock_salt mixes the user name into a server secret. The server
 * hands real users' verifiers in (users.c makes one for a plain password
 * at load), so no exchange derives keys and none answers sooner than
 * another.
 *
 * Base64 is RFC 4648 with padding, checked strictly: length a multiple of 4,
 * padding only at the end, unused bits zero.
 */
#include "scram.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "log.h"
#include "sl_error.h"

#define SCRAM_KEY_LEN 32      /* SHA-256 output */
#define SCRAM_SALT_LEN 16     /* salts we make, as PostgreSQL */
#define SCRAM_SALT_MAX 64     /* longest salt accepted in a verifier */
#define SCRAM_ITERATIONS 4096 /* for verifiers we make */
#define SCRAM_NONCE_RAW 18    /* random bytes in a server nonce */
#define SCRAM_NONCE_MAX 64    /* longest test nonce */
#define SCRAM_MSG_MAX 1024    /* longest client message accepted */

#define B64_LEN(n) ((((n) + 2) / 3) * 4)

enum scram_phase { SCRAM_WANT_FIRST, SCRAM_WANT_FINAL, SCRAM_DONE };

/* What the server keeps of a password. */
struct scram_verifier {
	uint32_t iterations;
	uint8_t salt[SCRAM_SALT_MAX];
	size_t salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};

struct scram_state {
	enum scram_phase phase;
	bool doomed; /* unknown user or unusable secret: fail at the end */
	struct scram_verifier v;
	char gs2[3];                            /* "n,," or "y,," as sent */
	char test_nonce[SCRAM_NONCE_MAX + 1];   /* empty: random */
	char *nonce;                            /* client + server nonce */
	size_t nonce_len;
	struct buf auth;                        /* AuthMessage so far */
};

/* ---------------------------------------------------------------- base64 */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* out must hold B64_LEN(n) + 1 bytes; it is NUL-terminated. */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64_chars[(v >> 18) & 63];
		out[o++] = b64_chars[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_chars[v & 63] : '=';
	}
	out[o] = '\0';
}

static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes n characters into at most outmax bytes; false when malformed. */
static bool b64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t outmax, size_t *outlen)
{
	if (n % 4 != 0)
		return false;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int pad = 0;
		if (last && in[i + 3] == '=')
			pad = in[i + 2] == '=' ? 2 : 1;
		uint32_t v = 0;
		for (int k = 0; k < 4; k++) {
			int d = k >= 4 - pad ? 0 : b64_value(in[i + (size_t)k]);
			if (d < 0)
				return false;
			v = (v << 6) | (uint32_t)d;
		}
		size_t take = 3 - (size_t)pad;
		if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
			return false; /* unused bits set: not canonical */
		if (take > outmax - o)
			return false;
		for (size_t k = 0; k < take; k++)
			out[o++] = (uint8_t)(v >> (16 - 8 * k));
	}
	*outlen = o;
	return true;
}

/* ---------------------------------------------------------------- keys */

static uint8_t process_key[SCRAM_KEY_LEN];
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;

static void scram_make_process_key(void)
{
	if (RAND_bytes(process_key, sizeof(process_key)) != 1)
		log_warn("scram", "could not generate random key; made-up salts are predictable");
}

static bool scram_hmac(const uint8_t *key, size_t keylen, const void *msg, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;
	return HMAC(EVP_sha256(), key, (int)keylen, msg, len, out, &outlen) != NULL && outlen == SCRAM_KEY_LEN;
}

/* A salt that stays the same for (label, user, password) during this process. */
static bool scram_stable_salt(const char *label, const char *user, const char *password,
			      uint8_t salt[SCRAM_SALT_LEN])
{
	uint8_t mac[SCRAM_KEY_LEN] = { 0 };
	struct buf m;
	buf_init(&m);
	buf_append(&m, label, strlen(label) + 1);
	buf_append(&m, user, strlen(user) + 1);
	buf_append(&m, password, strlen(password));
	bool ok = !m.oom && scram_hmac(process_key, sizeof(process_key), m.data, m.len, mac);
	if (m.data)
		OPENSSL_cleanse(m.data, m.len);
	buf_free(&m);
	memcpy(salt, mac, SCRAM_SALT_LEN);
	return ok;
}

/* StoredKey and ServerKey for password; false when OpenSSL fails. */
static bool scram_derive(const char *password, const uint8_t *salt, size_t salt_len, uint32_t iterations,
			 uint8_t stored[SCRAM_KEY_LEN], uint8_t server[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN], client[SCRAM_KEY_LEN];
	size_t pwlen = strlen(password);
	bool ok = pwlen <= INT_MAX && salt_len <= INT_MAX && iterations <= INT_MAX &&
		  PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)salt_len, (int)iterations, EVP_sha256(),
				    SCRAM_KEY_LEN, salted) == 1 &&
		  scram_hmac(salted, SCRAM_KEY_LEN, "Client Key", 10, client) &&
		  SHA256(client, SCRAM_KEY_LEN, stored) != NULL &&
		  scram_hmac(salted, SCRAM_KEY_LEN, "Server Key", 10, server);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client, sizeof(client));
	return ok;
}

/* Reads a base64 field of s ending at stop (or the end); advances *s. */
static bool scram_field(const char **s, char stop, uint8_t *out, size_t outmax, size_t *outlen)
{
	const char *end = stop ? strchr(*s, stop) : *s + strlen(*s);
	if (!end || end == *s || !b64_decode((const uint8_t *)*s, (size_t)(end - *s), out, outmax, outlen))
		return false;
	*s = stop ? end + 1 : end;
	return true;
}

/* Parses "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>". */
static bool scram_parse_verifier(const char *s, struct scram_verifier *v)
{
	size_t n;
	if (strncmp(s, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) != 0)
		return false;
	s += strlen(SCRAM_PREFIX);
	uint64_t iter = 0;
	const char *digits = s;
	while (*s >= '0' && *s <= '9' && iter <= INT_MAX)
		iter = iter * 10 + (uint64_t)(*s++ - '0');
	if (s == digits || *s++ != ':' || iter == 0 || iter > INT_MAX)
		return false;
	v->iterations = (uint32_t)iter;
	if (!scram_field(&s, '$', v->salt, sizeof(v->salt), &v->salt_len) ||
	    !scram_field(&s, ':', v->stored_key, SCRAM_KEY_LEN, &n) || n != SCRAM_KEY_LEN ||
	    !scram_field(&s, '\0', v->server_key, SCRAM_KEY_LEN, &n) || n != SCRAM_KEY_LEN)
		return false;
	return true;
}

/* ---------------------------------------------------------------- state */

static void scram_mock(struct scram_state *st, const char *user)
{
	st->doomed = true;
	st->v.iterations = SCRAM_ITERATIONS;
	st->v.salt_len = SCRAM_SALT_LEN;
	scram_stable_salt("mock salt", user, "", st->v.salt);
	memset(st->v.stored_key, 0, SCRAM_KEY_LEN);
	memset(st->v.server_key, 0, SCRAM_KEY_LEN);
}

struct scram_state *scram_new(const char *user, const char *secret)
{
	struct scram_state *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	buf_init(&st->auth);
	st->phase = SCRAM_WANT_FIRST;
	pthread_once(&process_key_once, scram_make_process_key);
	if (!user)
		user = "";
	if (!secret) {
		scram_mock(st, user);
	} else if (strncmp(secret, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) == 0) {
		if (!scram_parse_verifier(secret, &st->v)) {
			log_warn("scram", "invalid SCRAM verifier; authentication will fail");
			scram_mock(st, user);
		}
	} else {
		struct scram_verifier *v = &st->v;
		v->iterations = SCRAM_ITERATIONS;
		v->salt_len = SCRAM_SALT_LEN;
		if (!scram_stable_salt("plain salt", user, secret, v->salt) ||
		    !scram_derive(secret, v->salt, v->salt_len, v->iterations, v->stored_key, v->server_key)) {
			scram_free(st);
			return NULL;
		}
	}
	return st;
}

void scram_free(struct scram_state *st)
{
	if (!st)
		return;
	free(st->nonce);
	if (st->auth.data)
		OPENSSL_cleanse(st->auth.data, st->auth.cap);
	buf_free(&st->auth);
	OPENSSL_cleanse(st, sizeof(*st));
	free(st);
}

static bool scram_nonce_char(uint8_t c) { return c >= 0x21 && c <= 0x7e && c != ','; }

void scram_set_server_nonce(struct scram_state *st, const char *nonce)
{
	size_t n = strlen(nonce);
	if (n == 0 || n > SCRAM_NONCE_MAX)
		return;
	for (size_t i = 0; i < n; i++)
		if (!scram_nonce_char((uint8_t)nonce[i]))
			return;
	memcpy(st->test_nonce, nonce, n + 1);
}

/* Ends the exchange with an error. */
static int scram_fail(struct scram_state *st, int code, char *err, size_t errlen, const char *msg)
{
	st->phase = SCRAM_DONE;
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return code;
}

/* ---------------------------------------------------------------- parsing */

struct scram_reader {
	const uint8_t *p;
	const uint8_t *end;
};

static bool scram_at(const struct scram_reader *r, char c) { return r->p < r->end && *r->p == (uint8_t)c; }

static bool scram_comma(struct scram_reader *r)
{
	if (!scram_at(r, ','))
		return false;
	r->p++;
	return true;
}

/* Reads `name=value`, the value running to the next ',' or the end. */
static bool scram_attr(struct scram_reader *r, char name, const uint8_t **val, size_t *len)
{
	if (r->end - r->p < 2 || r->p[0] != (uint8_t)name || r->p[1] != '=')
		return false;
	r->p += 2;
	*val = r->p;
	while (r->p < r->end && *r->p != ',')
		r->p++;
	*len = (size_t)(r->p - *val);
	return true;
}

/* Skips an extension `ALPHA=value` with a non-empty value. */
static bool scram_skip_ext(struct scram_reader *r)
{
	const uint8_t *val;
	size_t len;
	if (r->p >= r->end)
		return false;
	uint8_t c = *r->p;
	if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
		return false;
	return scram_attr(r, (char)c, &val, &len) && len > 0;
}

static bool scram_saslname_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '=')
			continue;
		if (n - i < 3 || !((s[i + 1] == '2' && s[i + 2] == 'C') || (s[i + 1] == '3' && s[i + 2] == 'D')))
			return false;
		i += 2;
	}
	return true;
}

static bool scram_msg_ok(const uint8_t *msg, size_t len)
{
	return msg && len > 0 && len <= SCRAM_MSG_MAX && !memchr(msg, '\0', len);
}

/* ---------------------------------------------------------------- exchange */

int scram_handle_client_first(struct scram_state *st, const uint8_t *msg, size_t len, struct buf *reply,
			      char *err, size_t errlen)
{
	struct scram_reader r = { msg, msg + len };
	const uint8_t *user, *cnonce;
	size_t user_len, cnonce_len;

	if (st->phase != SCRAM_WANT_FIRST)
		return scram_fail(st, SL_EPROTO, err, errlen, "unexpected SCRAM client-first-message");
	if (!scram_msg_ok(msg, len))
		return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM client-first-message");
	if (len >= 2 && msg[0] == 'p' && msg[1] == '=')
		return scram_fail(st, SL_EPROTO, err, errlen, "SCRAM channel binding is not supported");
	if (!scram_at(&r, 'n') && !scram_at(&r, 'y'))
		return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM gs2 header");
	r.p++;
	if (!scram_comma(&r))
		return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM gs2 header");
	if (scram_at(&r, 'a'))
		return scram_fail(st, SL_EPROTO, err, errlen, "SCRAM authorization identity is not supported");
	if (!scram_comma(&r))
		return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM gs2 header");
	memcpy(st->gs2, msg, 3);

	const uint8_t *bare = r.p;
	if (scram_at(&r, 'm'))
		return scram_fail(st, SL_EPROTO, err, errlen, "unsupported SCRAM extension");
	if (!scram_attr(&r, 'n', &user, &user_len) || !scram_saslname_ok(user, user_len) || !scram_comma(&r))
		return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM user name");
	if (!scram_attr(&r, 'r', &cnonce, &cnonce_len) || cnonce_len == 0)
		return scram_fail(st, SL_EPROTO, err, errlen, "missing SCRAM client nonce");
	for (size_t i = 0; i < cnonce_len; i++)
		if (!scram_nonce_char(cnonce[i]))
			return scram_fail(st, SL_EPROTO, err, errlen, "invalid character in SCRAM nonce");
	while (r.p < r.end)
		if (!scram_comma(&r) || !scram_skip_ext(&r))
			return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM extension");

	char snonce[B64_LEN(SCRAM_NONCE_MAX) + 1];
	if (st->test_nonce[0]) {
		memcpy(snonce, st->test_nonce, sizeof(st->test_nonce));
	} else {
		uint8_t raw[SCRAM_NONCE_RAW];
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return scram_fail(st, SL_EIO, err, errlen, "could not generate SCRAM nonce");
		b64_encode(raw, sizeof(raw), snonce);
	}
	size_t snonce_len = strlen(snonce);
	st->nonce_len = cnonce_len + snonce_len;
	st->nonce = malloc(st->nonce_len + 1);
	if (!st->nonce)
		return scram_fail(st, SL_ENOMEM, err, errlen, "out of memory");
	memcpy(st->nonce, cnonce, cnonce_len);
	memcpy(st->nonce + cnonce_len, snonce, snonce_len + 1);

	char salt[B64_LEN(SCRAM_SALT_MAX) + 1];
	b64_encode(st->v.salt, st->v.salt_len, salt);
	buf_append(&st->auth, bare, (size_t)(r.end - bare));
	buf_append(&st->auth, ",", 1);
	size_t first_at = st->auth.len;
	buf_printf(&st->auth, "r=%s,s=%s,i=%u", st->nonce, salt, (unsigned)st->v.iterations);
	if (st->auth.oom)
		return scram_fail(st, SL_ENOMEM, err, errlen, "out of memory");
	buf_append(reply, st->auth.data + first_at, st->auth.len - first_at);
	buf_append(&st->auth, ",", 1);
	st->phase = SCRAM_WANT_FINAL;
	return 0;
}

int scram_handle_client_final(struct scram_state *st, const uint8_t *msg, size_t len, struct buf *reply,
			      char *err, size_t errlen)
{
	struct scram_reader r = { msg, msg + len };
	const uint8_t *cb, *nonce, *proof_b64;
	size_t cb_len, nonce_len, proof_b64_len, n;
	uint8_t cbind[16], proof[SCRAM_KEY_LEN];

	if (st->phase != SCRAM_WANT_FINAL)
		return scram_fail(st, SL_EPROTO, err, errlen, "unexpected SCRAM client-final-message");
	if (!scram_msg_ok(msg, len))
		return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM client-final-message");
	if (!scram_attr(&r, 'c', &cb, &cb_len) || !b64_decode(cb, cb_len, cbind, sizeof(cbind), &n))
		return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM channel-binding attribute");
	if (n != sizeof(st->gs2) || memcmp(cbind, st->gs2, n) != 0)
		return scram_fail(st, SL_EPROTO, err, errlen, "unexpected SCRAM channel-binding attribute");
	if (!scram_comma(&r) || !scram_attr(&r, 'r', &nonce, &nonce_len))
		return scram_fail(st, SL_EPROTO, err, errlen, "missing SCRAM nonce");
	if (nonce_len != st->nonce_len || memcmp(nonce, st->nonce, nonce_len) != 0)
		return scram_fail(st, SL_EPROTO, err, errlen, "SCRAM nonce mismatch");
	for (;;) {
		const uint8_t *comma = r.p;
		if (!scram_comma(&r))
			return scram_fail(st, SL_EPROTO, err, errlen, "missing SCRAM proof");
		if (scram_attr(&r, 'p', &proof_b64, &proof_b64_len)) {
			buf_append(&st->auth, msg, (size_t)(comma - msg));
			break;
		}
		if (!scram_skip_ext(&r))
			return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM extension");
	}
	if (r.p != r.end)
		return scram_fail(st, SL_EPROTO, err, errlen, "garbage at the end of SCRAM client-final-message");
	if (!b64_decode(proof_b64, proof_b64_len, proof, sizeof(proof), &n) || n != SCRAM_KEY_LEN)
		return scram_fail(st, SL_EPROTO, err, errlen, "malformed SCRAM proof");
	if (st->auth.oom)
		return scram_fail(st, SL_ENOMEM, err, errlen, "out of memory");

	uint8_t sig[SCRAM_KEY_LEN], key[SCRAM_KEY_LEN], check[SCRAM_KEY_LEN];
	if (!scram_hmac(st->v.stored_key, SCRAM_KEY_LEN, st->auth.data, st->auth.len, sig))
		return scram_fail(st, SL_ENOMEM, err, errlen, "out of memory");
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		key[i] = proof[i] ^ sig[i];
	bool ok = SHA256(key, SCRAM_KEY_LEN, check) != NULL &&
		  CRYPTO_memcmp(check, st->v.stored_key, SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok || st->doomed)
		return scram_fail(st, SL_EAUTH, err, errlen, "password authentication failed");

	char v[B64_LEN(SCRAM_KEY_LEN) + 1];
	if (!scram_hmac(st->v.server_key, SCRAM_KEY_LEN, st->auth.data, st->auth.len, sig))
		return scram_fail(st, SL_ENOMEM, err, errlen, "out of memory");
	b64_encode(sig, SCRAM_KEY_LEN, v);
	buf_printf(reply, "v=%s", v);
	st->phase = SCRAM_DONE;
	return 0;
}

/* ---------------------------------------------------------------- cleartext */

bool scram_check_password(const char *secret, const char *password)
{
	if (!secret || !password)
		return false;
	if (strncmp(secret, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) == 0) {
		struct scram_verifier v;
		uint8_t stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
		memset(&v, 0, sizeof(v));
		bool ok = scram_parse_verifier(secret, &v) &&
			  scram_derive(password, v.salt, v.salt_len, v.iterations, stored, server) &&
			  (CRYPTO_memcmp(stored, v.stored_key, SCRAM_KEY_LEN) |
			   CRYPTO_memcmp(server, v.server_key, SCRAM_KEY_LEN)) == 0;
		OPENSSL_cleanse(&v, sizeof(v));
		OPENSSL_cleanse(stored, sizeof(stored));
		OPENSSL_cleanse(server, sizeof(server));
		return ok;
	}
	/* Comparing digests takes the same time whatever the lengths. */
	uint8_t a[SCRAM_KEY_LEN], b[SCRAM_KEY_LEN];
	bool ok = SHA256((const uint8_t *)secret, strlen(secret), a) != NULL &&
		  SHA256((const uint8_t *)password, strlen(password), b) != NULL &&
		  CRYPTO_memcmp(a, b, SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return ok;
}

int scram_make_verifier(const char *password, char *out, size_t outlen)
{
	uint8_t salt[SCRAM_SALT_LEN], stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	char salt64[B64_LEN(SCRAM_SALT_LEN) + 1], stored64[B64_LEN(SCRAM_KEY_LEN) + 1],
		server64[B64_LEN(SCRAM_KEY_LEN) + 1];
	int rc = 0;

	if (!password || !out)
		return SL_EINVAL;
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		rc = SL_EIO; /* no entropy source */
		goto fail;
	}
	if (!scram_derive(password, salt, sizeof(salt), SCRAM_ITERATIONS, stored, server)) {
		rc = SL_ENOMEM;
		goto fail;
	}
	b64_encode(salt, sizeof(salt), salt64);
	b64_encode(stored, sizeof(stored), stored64);
	b64_encode(server, sizeof(server), server64);
	int n = snprintf(out, outlen, SCRAM_PREFIX "%d:%s$%s:%s", SCRAM_ITERATIONS, salt64, stored64, server64);
	if (n < 0 || (size_t)n >= outlen)
		rc = SL_EINVAL;
fail:
	if (rc && outlen)
		out[0] = '\0';
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	OPENSSL_cleanse(stored64, sizeof(stored64));
	OPENSSL_cleanse(server64, sizeof(server64));
	return rc;
}
