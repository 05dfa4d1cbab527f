/*
 * test_pgwire.c — unit tests for server/pgwire.c, the PostgreSQL v3 codec.
 *
 * Decoders: every frontend message the codec reads, valid and malformed,
 * with each body placed in its own exact-size allocation so that ASan flags
 * any read past its end, and every valid body also cut at every byte
 * boundary (each cut must be SL_EPROTO) and given one trailing byte (also
 * SL_EPROTO). Counts are tested at 0, 1, max and max+1.
 *
 * Encoders: the exact bytes of every backend message (type, length word,
 * fields).
 *
 * Framing: every prefix of a stream of several messages gives exactly the
 * complete messages and then "need more" without consuming a partial one;
 * the same stream fed to a reassembly loop in pieces cut at every pair of
 * byte boundaries gives the same messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pgwire.h"
#include "sl_error.h"

/* ---------------------------------------------------------------- helpers */

/* A message whose body is a private, exact-size copy; free with msg_free. */
static struct pg_msg msg_copy(uint8_t type, const void *p, size_t n)
{
	uint8_t *mem = malloc(n ? n : 1);
	assert_non_null(mem);
	if (n)
		memcpy(mem, p, n);
	struct pg_msg m = { .type = type, .body = mem, .len = (uint32_t)n };
	return m;
}

static void msg_free(struct pg_msg *m)
{
	free((void *)m->body);
	m->body = NULL;
}

/* p[0..n) lies within the body of m. */
static void assert_in_body(const struct pg_msg *m, const void *p, size_t n)
{
	const uint8_t *q = p;
	assert_non_null(q);
	assert_true(q >= m->body);
	assert_true(n <= m->len && (size_t)(q - m->body) <= m->len - n);
}

static void assert_str_in_body(const struct pg_msg *m, const char *s, const char *want)
{
	assert_non_null(s);
	assert_string_equal(s, want);
	assert_in_body(m, s, strlen(s) + 1);
}

/* The message at b->data[off]: its type, length word and body. */
static void expect_msg(const struct buf *b, size_t off, char type, const void *body, size_t n)
{
	assert_false(b->oom);
	assert_true(b->len >= off + 5 + n);
	assert_int_equal(b->data[off], (uint8_t)type);
	assert_int_equal(get_u32(b->data + off + 1), n + 4);
	if (n)
		assert_memory_equal(b->data + off + 5, body, n);
}

static void expect_exact(const struct buf *b, const void *want, size_t n)
{
	assert_false(b->oom);
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

/* One wrapper per decoder, so that check_cuts can drive them all. */
typedef int (*decode_fn)(const struct pg_msg *m);

static int dec_startup(const struct pg_msg *m)
{
	struct pg_startup s;
	return pgwire_decode_startup(m, &s);
}

static int dec_query(const struct pg_msg *m)
{
	const char *sql;
	return pgwire_decode_query(m, &sql);
}

static int dec_parse(const struct pg_msg *m)
{
	struct pg_parse p;
	return pgwire_decode_parse(m, &p);
}

static int dec_bind(const struct pg_msg *m)
{
	struct pg_bind b;
	int rc = pgwire_decode_bind(m, &b);
	if (rc != 0)
		assert_null(b.params); /* freed on error */
	pgwire_bind_free(&b);
	return rc;
}

static int dec_describe(const struct pg_msg *m)
{
	struct pg_describe d;
	return pgwire_decode_describe(m, &d);
}

static int dec_execute(const struct pg_msg *m)
{
	struct pg_execute e;
	return pgwire_decode_execute(m, &e);
}

static int dec_password(const struct pg_msg *m)
{
	const char *pw;
	return pgwire_decode_password(m, &pw);
}

static int dec_sasl(const struct pg_msg *m)
{
	const char *mech;
	const uint8_t *data;
	uint32_t len;
	return pgwire_decode_sasl_initial(m, &mech, &data, &len);
}

static int decode_bytes(decode_fn fn, const void *p, size_t n)
{
	struct pg_msg m = msg_copy('?', p, n);
	int rc = fn(&m);
	msg_free(&m);
	return rc;
}

/* A valid body decodes; every strict prefix and the body plus one byte do not. */
static void check_cuts(decode_fn fn, const struct buf *body)
{
	assert_false(body->oom);
	assert_int_equal(decode_bytes(fn, body->data, body->len), 0);
	for (size_t k = 0; k < body->len; k++)
		if (decode_bytes(fn, body->data, k) != SL_EPROTO)
			fail_msg("cut at %zu of %zu decoded", k, body->len);
	static const uint8_t extra[] = { 0, 'x', 0xff };
	for (size_t i = 0; i < sizeof(extra); i++) {
		uint8_t *p = malloc(body->len + 1);
		assert_non_null(p);
		memcpy(p, body->data, body->len);
		p[body->len] = extra[i];
		assert_int_equal(decode_bytes(fn, p, body->len + 1), SL_EPROTO);
		free(p);
	}
}

/* ---------------------------------------------------------------- startup */

static void put_v3(struct buf *b, uint32_t code, int nparams)
{
	buf_put_u32(b, code);
	for (int i = 0; i < nparams; i++) {
		char k[16], v[16];
		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		buf_put_cstr(b, k);
		buf_put_cstr(b, v);
	}
	buf_put_u8(b, 0);
}

static void test_startup_v3(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_put_u32(&b, PG_PROTOCOL_V3);
	buf_put_cstr(&b, "user");
	buf_put_cstr(&b, "alice");
	buf_put_cstr(&b, "database");
	buf_put_cstr(&b, "db1");
	buf_put_cstr(&b, "application_name");
	buf_put_cstr(&b, "");
	buf_put_u8(&b, 0);

	struct pg_msg m = msg_copy(0, b.data, b.len);
	struct pg_startup s;
	assert_int_equal(pgwire_decode_startup(&m, &s), 0);
	assert_int_equal(s.code, PG_PROTOCOL_V3);
	assert_int_equal(s.nparams, 3);
	assert_str_in_body(&m, s.keys[0], "user");
	assert_str_in_body(&m, s.values[0], "alice");
	assert_str_in_body(&m, s.keys[1], "database");
	assert_str_in_body(&m, s.values[1], "db1");
	assert_str_in_body(&m, s.keys[2], "application_name");
	assert_str_in_body(&m, s.values[2], "");
	assert_string_equal(pgwire_startup_param(&s, "database"), "db1");
	assert_string_equal(pgwire_startup_param(&s, "application_name"), "");
	assert_null(pgwire_startup_param(&s, "options"));
	assert_null(pgwire_startup_param(&s, "User")); /* keys are case-sensitive */
	msg_free(&m);
	check_cuts(dec_startup, &b);
	buf_free(&b);
}

static void test_startup_requests(void **state)
{
	(void)state;
	static const uint32_t codes[] = { PG_SSL_REQUEST_CODE, PG_GSSENC_REQUEST_CODE };
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < 2; i++) {
		buf_reset(&b);
		buf_put_u32(&b, codes[i]);
		struct pg_msg m = msg_copy(0, b.data, b.len);
		struct pg_startup s;
		assert_int_equal(pgwire_decode_startup(&m, &s), 0);
		assert_int_equal(s.code, codes[i]);
		assert_int_equal(s.nparams, 0);
		msg_free(&m);
		check_cuts(dec_startup, &b);
	}

	buf_reset(&b);
	buf_put_u32(&b, PG_CANCEL_REQUEST_CODE);
	buf_put_u32(&b, 4242);
	buf_put_u32(&b, 0xdeadbeefu);
	struct pg_msg m = msg_copy(0, b.data, b.len);
	struct pg_startup s;
	assert_int_equal(pgwire_decode_startup(&m, &s), 0);
	assert_int_equal(s.code, PG_CANCEL_REQUEST_CODE);
	assert_int_equal(s.cancel_pid, 4242);
	assert_int_equal(s.cancel_key, 0xdeadbeefu);
	assert_int_equal(s.nparams, 0);
	msg_free(&m);
	check_cuts(dec_startup, &b);
	buf_free(&b);
}

static void test_startup_bad_version(void **state)
{
	(void)state;
	static const uint32_t codes[] = { 0, 1, 0x00020000u, PG_PROTOCOL_V3 - 1, 0x00040000u, 80877101u,
					  80877105u, 0xffffffffu };
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		buf_reset(&b);
		put_v3(&b, codes[i], 1);
		assert_int_equal(decode_bytes(dec_startup, b.data, b.len), SL_EPROTO);
	}
	buf_free(&b);
}

static void test_startup_param_count(void **state)
{
	(void)state;
	static const int counts[] = { 0, 1, PG_MAX_STARTUP_PARAMS - 1, PG_MAX_STARTUP_PARAMS };
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		buf_reset(&b);
		put_v3(&b, PG_PROTOCOL_V3, counts[i]);
		struct pg_msg m = msg_copy(0, b.data, b.len);
		struct pg_startup s;
		assert_int_equal(pgwire_decode_startup(&m, &s), 0);
		assert_int_equal(s.nparams, counts[i]);
		if (counts[i] > 0) {
			char last[16];
			snprintf(last, sizeof(last), "v%d", counts[i] - 1);
			assert_str_in_body(&m, s.keys[0], "k0");
			assert_str_in_body(&m, s.values[counts[i] - 1], last);
		}
		msg_free(&m);
	}
	/* max + 1 */
	buf_reset(&b);
	put_v3(&b, PG_PROTOCOL_V3, PG_MAX_STARTUP_PARAMS + 1);
	assert_int_equal(decode_bytes(dec_startup, b.data, b.len), SL_EPROTO);
	buf_free(&b);
}

static void test_startup_layout(void **state)
{
	(void)state;
	static const struct {
		const char *pairs;
		size_t n;
		int rc;
	} cases[] = {
		{ "user\0alice\0", 11, SL_EPROTO },        /* missing final NUL */
		{ "user\0", 5, SL_EPROTO },                /* key without value */
		{ "user\0alice\0\0x", 13, SL_EPROTO },     /* trailing garbage */
		{ "user\0alice\0\0\0", 13, SL_EPROTO },    /* trailing NUL */
		{ "user\0alice", 10, SL_EPROTO },          /* unterminated value */
		{ "", 0, SL_EPROTO },                      /* code only */
		{ "\0", 1, 0 },                            /* no parameters */
		{ "user\0\0\0", 7, 0 },                    /* empty value */
	};
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		buf_put_u32(&b, PG_PROTOCOL_V3);
		buf_append(&b, cases[i].pairs, cases[i].n);
		if (decode_bytes(dec_startup, b.data, b.len) != cases[i].rc)
			fail_msg("case %zu", i);
	}
	assert_int_equal(decode_bytes(dec_startup, "", 0), SL_EPROTO);
	buf_free(&b);
}

static void test_frame_startup(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_put_u32(&b, 0); /* patched below */
	put_v3(&b, PG_PROTOCOL_V3, 2);
	buf_patch_u32(&b, 0, (uint32_t)b.len);
	buf_append(&b, "Q", 1); /* the next message must not be consumed */

	struct pg_msg m;
	size_t used;
	size_t plen = b.len - 1;
	for (size_t k = 0; k < plen; k++) {
		uint8_t *p = malloc(k ? k : 1);
		assert_non_null(p);
		memcpy(p, b.data, k);
		used = 777;
		assert_int_equal(pgwire_frame_startup(p, k, &m, &used), 0);
		assert_int_equal(used, 777);
		free(p);
	}
	for (size_t k = plen; k <= b.len; k++) {
		assert_int_equal(pgwire_frame_startup(b.data, k, &m, &used), 1);
		assert_int_equal(used, plen);
		assert_int_equal(m.type, 0);
		assert_ptr_equal(m.body, b.data + 4);
		assert_int_equal(m.len, plen - 4);
		struct pg_startup s;
		assert_int_equal(pgwire_decode_startup(&m, &s), 0);
		assert_int_equal(s.nparams, 2);
	}

	/* Length word: below 8 is an error, 8 (code only) is the least. */
	uint8_t small[8] = { 0, 0, 0, 0, 0x04, 0xd2, 0x16, 0x2f };
	for (uint8_t len = 0; len < 8; len++) {
		small[3] = len;
		assert_int_equal(pgwire_frame_startup(small, sizeof(small), &m, &used), SL_EPROTO);
	}
	small[3] = 8;
	assert_int_equal(pgwire_frame_startup(small, sizeof(small), &m, &used), 1);
	assert_int_equal(used, 8);
	assert_int_equal(m.len, 4);
	struct pg_startup s;
	assert_int_equal(pgwire_decode_startup(&m, &s), 0);
	assert_int_equal(s.code, PG_SSL_REQUEST_CODE);

	/* The maximum is accepted; one more is refused from the length word alone. */
	uint8_t *big = calloc(PG_MAX_STARTUP_LEN + 1, 1);
	assert_non_null(big);
	big[0] = (uint8_t)(PG_MAX_STARTUP_LEN >> 24);
	big[1] = (uint8_t)(PG_MAX_STARTUP_LEN >> 16);
	big[2] = (uint8_t)(PG_MAX_STARTUP_LEN >> 8);
	big[3] = (uint8_t)PG_MAX_STARTUP_LEN;
	assert_int_equal(pgwire_frame_startup(big, PG_MAX_STARTUP_LEN - 1, &m, &used), 0);
	assert_int_equal(pgwire_frame_startup(big, PG_MAX_STARTUP_LEN, &m, &used), 1);
	assert_int_equal(used, PG_MAX_STARTUP_LEN);
	big[3] = (uint8_t)(PG_MAX_STARTUP_LEN + 1);
	assert_int_equal(pgwire_frame_startup(big, 4, &m, &used), SL_ETOOBIG);
	memset(big, 0xff, 4);
	assert_int_equal(pgwire_frame_startup(big, 4, &m, &used), SL_ETOOBIG);
	free(big);
	buf_free(&b);
}

/* ---------------------------------------------------------------- query, parse */

static void test_query(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_put_cstr(&b, "SELECT 1");
	struct pg_msg m = msg_copy('Q', b.data, b.len);
	const char *sql;
	assert_int_equal(pgwire_decode_query(&m, &sql), 0);
	assert_str_in_body(&m, sql, "SELECT 1");
	msg_free(&m);
	check_cuts(dec_query, &b);

	/* The empty query string is valid (EmptyQueryResponse). */
	m = msg_copy('Q', "", 1);
	assert_int_equal(pgwire_decode_query(&m, &sql), 0);
	assert_str_in_body(&m, sql, "");
	msg_free(&m);
	assert_int_equal(decode_bytes(dec_query, "a\0b", 4), SL_EPROTO);
	buf_free(&b);
}

static void test_parse(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_put_cstr(&b, "s1");
	buf_put_cstr(&b, "SELECT $1::int4 + $2");
	buf_put_u16(&b, 2);
	buf_put_u32(&b, 23);
	buf_put_u32(&b, 0); /* unspecified */
	struct pg_msg m = msg_copy('P', b.data, b.len);
	struct pg_parse p;
	assert_int_equal(pgwire_decode_parse(&m, &p), 0);
	assert_str_in_body(&m, p.name, "s1");
	assert_str_in_body(&m, p.query, "SELECT $1::int4 + $2");
	assert_int_equal(p.nparams, 2);
	assert_in_body(&m, p.param_oids, 8);
	assert_int_equal(pgwire_oid_at(p.param_oids, p.nparams, 0), 23);
	assert_int_equal(pgwire_oid_at(p.param_oids, p.nparams, 1), 0);
	assert_int_equal(pgwire_oid_at(p.param_oids, p.nparams, 2), 0);
	assert_int_equal(pgwire_oid_at(p.param_oids, p.nparams, -1), 0);
	msg_free(&m);
	check_cuts(dec_parse, &b);

	/* No parameter types; unnamed statement. */
	buf_reset(&b);
	buf_put_cstr(&b, "");
	buf_put_cstr(&b, "SELECT 1");
	buf_put_u16(&b, 0);
	m = msg_copy('P', b.data, b.len);
	assert_int_equal(pgwire_decode_parse(&m, &p), 0);
	assert_str_in_body(&m, p.name, "");
	assert_int_equal(p.nparams, 0);
	assert_int_equal(pgwire_oid_at(p.param_oids, p.nparams, 0), 0);
	msg_free(&m);
	check_cuts(dec_parse, &b);

	/* The largest count a u16 can say, every OID present. */
	buf_reset(&b);
	buf_put_cstr(&b, "big");
	buf_put_cstr(&b, "SELECT");
	buf_put_u16(&b, UINT16_MAX);
	for (uint32_t i = 0; i < UINT16_MAX; i++)
		buf_put_u32(&b, i + 1000);
	m = msg_copy('P', b.data, b.len);
	assert_int_equal(pgwire_decode_parse(&m, &p), 0);
	assert_int_equal(p.nparams, UINT16_MAX);
	assert_int_equal(pgwire_oid_at(p.param_oids, p.nparams, UINT16_MAX - 1), UINT16_MAX - 1 + 1000);
	msg_free(&m);
	/* One OID short, one OID over. */
	assert_int_equal(decode_bytes(dec_parse, b.data, b.len - 4), SL_EPROTO);
	buf_put_u32(&b, 7);
	assert_int_equal(decode_bytes(dec_parse, b.data, b.len), SL_EPROTO);
	buf_free(&b);
}

/* ---------------------------------------------------------------- bind */

static void put_codes(struct buf *b, uint16_t n, const int16_t *codes)
{
	buf_put_u16(b, n);
	for (uint16_t i = 0; i < n; i++)
		buf_put_u16(b, (uint16_t)codes[i]);
}

static void test_bind_empty(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_put_cstr(&b, "");
	buf_put_cstr(&b, "");
	buf_put_u16(&b, 0); /* formats */
	buf_put_u16(&b, 0); /* params */
	buf_put_u16(&b, 0); /* result formats */
	struct pg_msg m = msg_copy('B', b.data, b.len);
	struct pg_bind bd;
	assert_int_equal(pgwire_decode_bind(&m, &bd), 0);
	assert_str_in_body(&m, bd.portal, "");
	assert_str_in_body(&m, bd.stmt, "");
	assert_int_equal(bd.nformats, 0);
	assert_int_equal(bd.nparams, 0);
	assert_null(bd.params);
	assert_int_equal(bd.nresult_formats, 0);
	assert_int_equal(pgwire_format_at(bd.result_formats, bd.nresult_formats, 0), 0);
	pgwire_bind_free(&bd);
	pgwire_bind_free(&bd); /* twice is harmless */
	msg_free(&m);
	check_cuts(dec_bind, &b);
	buf_free(&b);
}

static void test_bind_values(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_put_cstr(&b, "p1");
	buf_put_cstr(&b, "s1");
	buf_put_u16(&b, 0);
	buf_put_u16(&b, 4);
	buf_put_u32(&b, 2);
	buf_append(&b, "42", 2);
	buf_put_u32(&b, 0xffffffffu); /* NULL */
	buf_put_u32(&b, 0);           /* empty, not NULL */
	buf_put_u32(&b, 3);
	buf_append(&b, "a\0b", 3); /* bytes, NUL included */
	buf_put_u16(&b, 0);
	struct pg_msg m = msg_copy('B', b.data, b.len);
	struct pg_bind bd;
	assert_int_equal(pgwire_decode_bind(&m, &bd), 0);
	assert_str_in_body(&m, bd.portal, "p1");
	assert_str_in_body(&m, bd.stmt, "s1");
	assert_int_equal(bd.nparams, 4);
	assert_non_null(bd.params);
	assert_int_equal(bd.params[0].len, 2);
	assert_in_body(&m, bd.params[0].data, 2);
	assert_memory_equal(bd.params[0].data, "42", 2);
	assert_int_equal(bd.params[1].len, -1);
	assert_null(bd.params[1].data);
	assert_int_equal(bd.params[2].len, 0);
	assert_non_null(bd.params[2].data);
	assert_in_body(&m, bd.params[2].data, 0);
	assert_int_equal(bd.params[3].len, 3);
	assert_in_body(&m, bd.params[3].data, 3);
	assert_memory_equal(bd.params[3].data, "a\0b", 3);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pgwire_format_at(bd.formats, bd.nformats, i), 0);
	pgwire_bind_free(&bd);
	assert_null(bd.params);
	msg_free(&m);
	check_cuts(dec_bind, &b);
	buf_free(&b);
}

/* A bind of n int4 params (binary, value 7+i) with the given codes. */
static void put_bind(struct buf *b, uint16_t nformats, const int16_t *formats, uint16_t nparams,
		     uint16_t nresult, const int16_t *result)
{
	buf_put_cstr(b, "");
	buf_put_cstr(b, "st");
	put_codes(b, nformats, formats);
	buf_put_u16(b, nparams);
	for (uint16_t i = 0; i < nparams; i++) {
		buf_put_u32(b, 4);
		buf_put_u32(b, 7u + i);
	}
	put_codes(b, nresult, result);
}

static void test_bind_formats(void **state)
{
	(void)state;
	static const int16_t one[] = { 1 };
	static const int16_t three[] = { 1, 0, 1 };
	struct buf b;
	buf_init(&b);
	struct pg_bind bd;

	/* One code applies to every parameter and every column. */
	put_bind(&b, 1, one, 3, 1, one);
	struct pg_msg m = msg_copy('B', b.data, b.len);
	assert_int_equal(pgwire_decode_bind(&m, &bd), 0);
	assert_int_equal(bd.nformats, 1);
	assert_in_body(&m, bd.formats, 2);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pgwire_format_at(bd.formats, bd.nformats, i), 1);
		assert_int_equal(bd.params[i].len, 4);
		assert_int_equal(get_u32(bd.params[i].data), 7u + (uint32_t)i);
	}
	assert_int_equal(bd.nresult_formats, 1);
	assert_in_body(&m, bd.result_formats, 2);
	assert_int_equal(pgwire_format_at(bd.result_formats, bd.nresult_formats, 5), 1);
	pgwire_bind_free(&bd);
	msg_free(&m);
	check_cuts(dec_bind, &b);

	/* n codes for n parameters; n result codes. */
	buf_reset(&b);
	put_bind(&b, 3, three, 3, 3, three);
	m = msg_copy('B', b.data, b.len);
	assert_int_equal(pgwire_decode_bind(&m, &bd), 0);
	assert_int_equal(bd.nformats, 3);
	assert_in_body(&m, bd.formats, 6);
	assert_in_body(&m, bd.result_formats, 6);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pgwire_format_at(bd.formats, bd.nformats, i), three[i]);
		assert_int_equal(pgwire_format_at(bd.result_formats, bd.nresult_formats, i), three[i]);
	}
	assert_int_equal(pgwire_format_at(bd.formats, bd.nformats, 3), 0);
	assert_int_equal(pgwire_format_at(bd.formats, bd.nformats, -1), 0);
	pgwire_bind_free(&bd);
	msg_free(&m);
	check_cuts(dec_bind, &b);

	/* One code and no parameters is allowed, as in PostgreSQL. */
	buf_reset(&b);
	put_bind(&b, 1, one, 0, 0, NULL);
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), 0);

	/* n codes for a different number of parameters is an error. */
	static const struct {
		uint16_t nformats, nparams;
	} bad[] = { { 2, 3 }, { 3, 2 }, { 2, 0 }, { 3, 1 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		put_bind(&b, bad[i].nformats, three, bad[i].nparams, 0, NULL);
		assert_int_equal(decode_bytes(dec_bind, b.data, b.len), SL_EPROTO);
	}
	buf_free(&b);
}

static void put_bind_one(struct buf *b, int32_t len, const void *data, size_t n)
{
	buf_reset(b);
	buf_put_cstr(b, "");
	buf_put_cstr(b, "");
	buf_put_u16(b, 0);
	buf_put_u16(b, 1);
	buf_put_u32(b, (uint32_t)len);
	buf_append(b, data, n);
	buf_put_u16(b, 0);
}

static void test_bind_lengths(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);

	/* Negative lengths other than -1. */
	static const int32_t negative[] = { -2, -100, INT32_MIN };
	for (size_t i = 0; i < sizeof(negative) / sizeof(negative[0]); i++) {
		put_bind_one(&b, negative[i], NULL, 0);
		assert_int_equal(decode_bytes(dec_bind, b.data, b.len), SL_EPROTO);
	}

	/* Lengths running past the end: by one, by a lot, into the result codes. */
	put_bind_one(&b, 5, "abcd", 4);
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), SL_EPROTO);
	put_bind_one(&b, INT32_MAX, "abcd", 4);
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), SL_EPROTO);
	put_bind_one(&b, 3, "", 0); /* would swallow the result-format count */
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), SL_EPROTO);
	put_bind_one(&b, 2, "", 0); /* leaves no result-format count */
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), SL_EPROTO);

	/* Lengths 0, 1 and exactly what is there. */
	put_bind_one(&b, 0, "", 0);
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), 0);
	put_bind_one(&b, 1, "z", 1);
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), 0);
	put_bind_one(&b, -1, "", 0);
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), 0);

	/* A huge parameter count with only a few bytes behind it. */
	buf_reset(&b);
	buf_put_cstr(&b, "");
	buf_put_cstr(&b, "");
	buf_put_u16(&b, 0);
	buf_put_u16(&b, UINT16_MAX);
	buf_put_u32(&b, 0xffffffffu);
	buf_put_u16(&b, 0);
	assert_int_equal(decode_bytes(dec_bind, b.data, b.len), SL_EPROTO);

	/* The largest count, every value NULL; then every value one byte. */
	for (int withdata = 0; withdata < 2; withdata++) {
		buf_reset(&b);
		buf_put_cstr(&b, "");
		buf_put_cstr(&b, "");
		buf_put_u16(&b, 0);
		buf_put_u16(&b, UINT16_MAX);
		for (uint32_t i = 0; i < UINT16_MAX; i++) {
			buf_put_u32(&b, withdata ? 1 : 0xffffffffu);
			if (withdata)
				buf_put_u8(&b, (uint8_t)i);
		}
		buf_put_u16(&b, 0);
		struct pg_msg m = msg_copy('B', b.data, b.len);
		struct pg_bind bd;
		assert_int_equal(pgwire_decode_bind(&m, &bd), 0);
		assert_int_equal(bd.nparams, UINT16_MAX);
		struct pg_value last = bd.params[UINT16_MAX - 1];
		assert_int_equal(last.len, withdata ? 1 : -1);
		if (withdata) {
			assert_in_body(&m, last.data, 1);
			assert_int_equal(last.data[0], (uint8_t)(UINT16_MAX - 1));
		} else {
			assert_null(last.data);
		}
		pgwire_bind_free(&bd);
		msg_free(&m);
		/* the last value cut short */
		assert_int_equal(decode_bytes(dec_bind, b.data, b.len - 3), SL_EPROTO);
	}
	buf_free(&b);
}

/* ---------------------------------------------------------------- describe .. sasl */

static void test_describe_close(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	static const char kinds[] = { 'S', 'P' };
	for (size_t i = 0; i < 2; i++) {
		buf_reset(&b);
		buf_put_u8(&b, (uint8_t)kinds[i]);
		buf_put_cstr(&b, i ? "" : "stmt1");
		struct pg_msg m = msg_copy(i ? 'C' : 'D', b.data, b.len);
		struct pg_describe d;
		assert_int_equal(pgwire_decode_describe(&m, &d), 0);
		assert_int_equal(d.kind, kinds[i]);
		assert_str_in_body(&m, d.name, i ? "" : "stmt1");
		msg_free(&m);
		check_cuts(dec_describe, &b);
	}
	static const char bad[] = { 'X', 's', 'p', 0, (char)0xff };
	for (size_t i = 0; i < sizeof(bad); i++) {
		buf_reset(&b);
		buf_put_u8(&b, (uint8_t)bad[i]);
		buf_put_cstr(&b, "x");
		assert_int_equal(decode_bytes(dec_describe, b.data, b.len), SL_EPROTO);
	}
	buf_free(&b);
}

static void test_execute(void **state)
{
	(void)state;
	static const struct {
		int32_t n;
		uint32_t want;
	} cases[] = { { 0, 0 }, { 1, 1 }, { 100, 100 }, { INT32_MAX, INT32_MAX }, { -1, 0 }, { INT32_MIN, 0 } };
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		buf_put_cstr(&b, i % 2 ? "portal" : "");
		buf_put_u32(&b, (uint32_t)cases[i].n);
		struct pg_msg m = msg_copy('E', b.data, b.len);
		struct pg_execute e;
		assert_int_equal(pgwire_decode_execute(&m, &e), 0);
		assert_str_in_body(&m, e.portal, i % 2 ? "portal" : "");
		assert_int_equal(e.max_rows, cases[i].want);
		msg_free(&m);
		check_cuts(dec_execute, &b);
	}
	buf_free(&b);
}

static void test_password(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_put_cstr(&b, "s3cret pass");
	struct pg_msg m = msg_copy('p', b.data, b.len);
	const char *pw;
	assert_int_equal(pgwire_decode_password(&m, &pw), 0);
	assert_str_in_body(&m, pw, "s3cret pass");
	msg_free(&m);
	check_cuts(dec_password, &b);
	assert_int_equal(decode_bytes(dec_password, "", 1), 0);
	buf_free(&b);
}

static void test_sasl_initial(void **state)
{
	(void)state;
	static const char first[] = "n,,n=,r=rOprNGfwEbeRWgbNEkqO";
	struct buf b;
	buf_init(&b);
	buf_put_cstr(&b, "SCRAM-SHA-256");
	buf_put_u32(&b, sizeof(first) - 1);
	buf_append(&b, first, sizeof(first) - 1);
	struct pg_msg m = msg_copy('p', b.data, b.len);
	const char *mech;
	const uint8_t *data;
	uint32_t len;
	assert_int_equal(pgwire_decode_sasl_initial(&m, &mech, &data, &len), 0);
	assert_str_in_body(&m, mech, "SCRAM-SHA-256");
	assert_int_equal(len, sizeof(first) - 1);
	assert_in_body(&m, data, len);
	assert_memory_equal(data, first, len);
	msg_free(&m);
	check_cuts(dec_sasl, &b);

	/* -1: no initial response. */
	buf_reset(&b);
	buf_put_cstr(&b, "SCRAM-SHA-256");
	buf_put_u32(&b, 0xffffffffu);
	m = msg_copy('p', b.data, b.len);
	data = (const uint8_t *)"junk";
	len = 99;
	assert_int_equal(pgwire_decode_sasl_initial(&m, &mech, &data, &len), 0);
	assert_null(data);
	assert_int_equal(len, 0);
	msg_free(&m);
	check_cuts(dec_sasl, &b);

	/* 0: an empty response, present. */
	buf_reset(&b);
	buf_put_cstr(&b, "SCRAM-SHA-256");
	buf_put_u32(&b, 0);
	m = msg_copy('p', b.data, b.len);
	assert_int_equal(pgwire_decode_sasl_initial(&m, &mech, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_non_null(data);
	msg_free(&m);
	check_cuts(dec_sasl, &b);

	/* Longer than what follows. */
	buf_reset(&b);
	buf_put_cstr(&b, "SCRAM-SHA-256");
	buf_put_u32(&b, 5);
	buf_append(&b, "abcd", 4);
	assert_int_equal(decode_bytes(dec_sasl, b.data, b.len), SL_EPROTO);
	buf_reset(&b);
	buf_put_cstr(&b, "SCRAM-SHA-256");
	buf_put_u32(&b, INT32_MAX);
	assert_int_equal(decode_bytes(dec_sasl, b.data, b.len), SL_EPROTO);
	buf_free(&b);
}

/* ---------------------------------------------------------------- encoders */

#define LIT(s) s, sizeof(s) - 1

static void test_put_auth(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	pgwire_put_auth(&b, 0, NULL, 0);
	expect_exact(&b, LIT("R\0\0\0\x08\0\0\0\0"));

	buf_reset(&b);
	pgwire_put_auth(&b, 3, NULL, 0);
	expect_exact(&b, LIT("R\0\0\0\x08\0\0\0\x03"));

	buf_reset(&b);
	pgwire_put_auth(&b, 5, "\x01\x02\x03\x04", 4);
	expect_exact(&b, LIT("R\0\0\0\x0c\0\0\0\x05\x01\x02\x03\x04"));

	buf_reset(&b);
	pgwire_put_auth_sasl(&b);
	expect_exact(&b, LIT("R\0\0\0\x17\0\0\0\x0a"
			     "SCRAM-SHA-256\0\0"));

	buf_reset(&b);
	pgwire_put_auth(&b, 11, "r=abc,s=x,i=4096", 16);
	expect_exact(&b, LIT("R\0\0\0\x18\0\0\0\x0b"
			     "r=abc,s=x,i=4096"));

	buf_reset(&b);
	pgwire_put_auth(&b, 12, "v=sig", 5);
	expect_exact(&b, LIT("R\0\0\0\x0d\0\0\0\x0c"
			     "v=sig"));
	buf_free(&b);
}

static void test_put_session_messages(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	pgwire_put_param_status(&b, "client_encoding", "UTF8");
	expect_exact(&b, LIT("S\0\0\0\x19"
			     "client_encoding\0UTF8\0"));

	buf_reset(&b);
	pgwire_put_param_status(&b, "x", "");
	expect_exact(&b, LIT("S\0\0\0\x07x\0\0"));

	buf_reset(&b);
	pgwire_put_backend_key(&b, 0x01020304u, 0xfffffffeu);
	expect_exact(&b, LIT("K\0\0\0\x0c\x01\x02\x03\x04\xff\xff\xff\xfe"));

	static const char status[] = { 'I', 'T', 'E' };
	for (size_t i = 0; i < sizeof(status); i++) {
		buf_reset(&b);
		pgwire_put_ready(&b, status[i]);
		char want[6] = { 'Z', 0, 0, 0, 5, status[i] };
		expect_exact(&b, want, sizeof(want));
	}

	static const char simple[] = { '1', '2', '3', 'n', 's', 'I' };
	for (size_t i = 0; i < sizeof(simple); i++) {
		buf_reset(&b);
		pgwire_put_simple(&b, simple[i]);
		char want[5] = { simple[i], 0, 0, 0, 4 };
		expect_exact(&b, want, sizeof(want));
	}

	buf_reset(&b);
	pgwire_put_command_complete(&b, "INSERT 0 1");
	expect_exact(&b, LIT("C\0\0\0\x0fINSERT 0 1\0"));
	buf_free(&b);
}

static void test_put_error(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	pgwire_put_error(&b, 'E', "ERROR", "42P01", "relation \"t\" does not exist", "It was dropped.",
			 "Create it.");
	static const char full[] = "SERROR\0VERROR\0C42P01\0Mrelation \"t\" does not exist\0"
				   "DIt was dropped.\0HCreate it.\0";
	/* sizeof includes the literal's own NUL: the terminator field. */
	expect_msg(&b, 0, 'E', full, sizeof(full));
	assert_int_equal(b.len, 5 + sizeof(full));
	assert_int_equal(b.data[b.len - 1], 0);
	assert_int_equal(b.data[b.len - 2], 0);

	buf_reset(&b);
	pgwire_put_error(&b, 'E', "FATAL", "28P01", "password authentication failed for user \"bob\"", NULL,
			 NULL);
	static const char plain[] = "SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"bob\"\0";
	expect_msg(&b, 0, 'E', plain, sizeof(plain));
	assert_int_equal(b.len, 5 + sizeof(plain));

	buf_reset(&b);
	pgwire_put_error(&b, 'N', "WARNING", "01000", NULL, NULL, "Hint only.");
	static const char notice[] = "SWARNING\0VWARNING\0C01000\0Munknown error\0HHint only.\0";
	expect_msg(&b, 0, 'N', notice, sizeof(notice));
	assert_int_equal(b.len, 5 + sizeof(notice));

	buf_reset(&b);
	pgwire_put_error(&b, 'E', "ERROR", "XX000", "", "", NULL);
	expect_exact(&b, LIT("E\0\0\0\x1e"
			     "SERROR\0VERROR\0CXX000\0M\0D\0\0"));
	buf_free(&b);
}

static void test_put_row_description(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	size_t m = pgwire_row_description_begin(&b, 2);
	pgwire_row_description_field(&b, "id", 23, 4, 0);
	pgwire_row_description_field(&b, "name", 25, -1, 1);
	pgwire_end(&b, m);
	static const char body[] = "\0\x02"
				   "id\0"
				   "\0\0\0\0" /* table oid */
				   "\0\0"     /* column number */
				   "\0\0\0\x17" /* int4 */
				   "\0\x04"     /* typlen */
				   "\xff\xff\xff\xff" /* typmod */
				   "\0\0"             /* text */
				   "name\0"
				   "\0\0\0\0"
				   "\0\0"
				   "\0\0\0\x19" /* text */
				   "\xff\xff"   /* varlena */
				   "\xff\xff\xff\xff"
				   "\0\x01"; /* binary */
	expect_msg(&b, 0, 'T', body, sizeof(body) - 1);
	assert_int_equal(b.len, 5 + sizeof(body) - 1);
	assert_int_equal(sizeof(body) - 1, 2 + (3 + 18) + (5 + 18));

	buf_reset(&b);
	m = pgwire_row_description_begin(&b, 0);
	pgwire_end(&b, m);
	expect_exact(&b, LIT("T\0\0\0\x06\0\0"));
	buf_free(&b);
}

static void test_put_param_description(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	pgwire_put_param_description(&b, 0, NULL);
	expect_exact(&b, LIT("t\0\0\0\x06\0\0"));

	buf_reset(&b);
	static const uint32_t one[] = { 25 };
	pgwire_put_param_description(&b, 1, one);
	expect_exact(&b, LIT("t\0\0\0\x0a\0\x01\0\0\0\x19"));

	buf_reset(&b);
	static const uint32_t two[] = { 23, 0xfedcba98u };
	pgwire_put_param_description(&b, 2, two);
	expect_exact(&b, LIT("t\0\0\0\x0e\0\x02\0\0\0\x17\xfe\xdc\xba\x98"));
	buf_free(&b);
}

static void test_put_data_row(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	size_t m = pgwire_data_row_begin(&b, 4);
	pgwire_data_row_value(&b, "42", 2);
	pgwire_data_row_null(&b);
	pgwire_data_row_value(&b, "", 0);
	pgwire_data_row_value(&b, "\0\x01", 2);
	pgwire_end(&b, m);
	expect_exact(&b, LIT("D\0\0\0\x1a\0\x04"
			     "\0\0\0\x02"
			     "42"
			     "\xff\xff\xff\xff"
			     "\0\0\0\0"
			     "\0\0\0\x02\0\x01"));

	buf_reset(&b);
	m = pgwire_data_row_begin(&b, 0);
	pgwire_end(&b, m);
	expect_exact(&b, LIT("D\0\0\0\x06\0\0"));
	buf_free(&b);
}

/* Several messages in one buffer each get their own length; they frame back. */
static void test_put_sequence(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	pgwire_put_auth(&b, 0, NULL, 0);
	pgwire_put_param_status(&b, "server_version", "16.0");
	pgwire_put_backend_key(&b, 1, 2);
	pgwire_put_ready(&b, 'I');
	size_t m = pgwire_row_description_begin(&b, 1);
	pgwire_row_description_field(&b, "?column?", 23, 4, 0);
	pgwire_end(&b, m);
	m = pgwire_data_row_begin(&b, 1);
	pgwire_data_row_value(&b, "1", 1);
	pgwire_end(&b, m);
	pgwire_put_command_complete(&b, "SELECT 1");
	pgwire_put_error(&b, 'E', "ERROR", "42601", "syntax error", NULL, NULL);
	pgwire_put_ready(&b, 'I');
	assert_false(b.oom);

	static const char types[] = "RSKZTDCEZ";
	size_t off = 0;
	for (size_t i = 0; i < sizeof(types) - 1; i++) {
		struct pg_msg msg;
		size_t used = 0;
		assert_int_equal(pgwire_frame(b.data + off, b.len - off, 1 << 20, &msg, &used), 1);
		assert_int_equal(msg.type, (uint8_t)types[i]);
		off += used;
	}
	assert_int_equal(off, b.len);

	/* A buffer that ran out of memory stays as it was. */
	size_t len = b.len;
	b.oom = true;
	pgwire_put_ready(&b, 'I');
	m = pgwire_data_row_begin(&b, 1);
	pgwire_data_row_null(&b);
	pgwire_end(&b, m);
	pgwire_put_error(&b, 'E', "ERROR", "53200", "out of memory", NULL, NULL);
	assert_int_equal(b.len, len);
	assert_true(b.oom);
	buf_free(&b);
}

/* ---------------------------------------------------------------- framing */

static void test_frame_lengths(void **state)
{
	(void)state;
	struct pg_msg m;
	size_t used;
	uint8_t h[5] = { 'Q', 0, 0, 0, 0 };

	/* Fewer than 5 bytes: always need more, whatever they say. */
	for (size_t k = 0; k < 5; k++) {
		used = 777;
		assert_int_equal(pgwire_frame(h, k, 100, &m, &used), 0);
		assert_int_equal(used, 777);
	}
	for (uint8_t len = 0; len < 4; len++) {
		h[4] = len;
		assert_int_equal(pgwire_frame(h, 5, 100, &m, &used), SL_EPROTO);
	}
	h[4] = 4; /* body 0 */
	assert_int_equal(pgwire_frame(h, 5, 100, &m, &used), 1);
	assert_int_equal(used, 5);
	assert_int_equal(m.type, 'Q');
	assert_int_equal(m.len, 0);
	assert_ptr_equal(m.body, h + 5);

	/* Body 1, max, max + 1 — for max 4 (empty bodies only) and 100. */
	static const size_t maxes[] = { 4, 5, 100 };
	uint8_t *p = calloc(1 + 101, 1);
	assert_non_null(p);
	p[0] = 'd';
	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		size_t max = maxes[i];
		for (uint32_t len = 4; len <= max + 1; len++) {
			p[1] = 0;
			p[2] = 0;
			p[3] = (uint8_t)(len >> 8);
			p[4] = (uint8_t)len;
			int want = len <= max ? 1 : SL_ETOOBIG;
			/* too big is known from the header alone */
			assert_int_equal(pgwire_frame(p, 5, max, &m, &used), len == 4 ? 1 : (want == 1 ? 0 : want));
			/* one byte short of the whole message */
			assert_int_equal(pgwire_frame(p, len, max, &m, &used), want == 1 ? 0 : want);
			assert_int_equal(pgwire_frame(p, 1 + len, max, &m, &used), want);
			if (want == 1) {
				assert_int_equal(used, 1 + len);
				assert_int_equal(m.len, len - 4);
			}
		}
	}
	free(p);

	/* The largest length words. */
	uint8_t huge[5] = { 'Q', 0xff, 0xff, 0xff, 0xff };
	assert_int_equal(pgwire_frame(huge, 5, 1 << 20, &m, &used), SL_ETOOBIG);
	assert_int_equal(pgwire_frame(huge, 5, UINT32_MAX, &m, &used), 0);
	assert_int_equal(pgwire_frame(huge, 5, SIZE_MAX, &m, &used), 0);
	huge[1] = 0x80;
	huge[2] = huge[3] = huge[4] = 0;
	assert_int_equal(pgwire_frame(huge, 5, 0x7fffffff, &m, &used), SL_ETOOBIG);
}

struct expected {
	uint8_t type;
	size_t off, len; /* whole message within the stream */
};

#define STREAM_MAX 16

struct stream {
	struct buf b;
	struct expected msgs[STREAM_MAX];
	int n;
	size_t maxlen; /* largest length word */
};

static void stream_end(struct stream *s, size_t start)
{
	pgwire_end(&s->b, start);
	struct expected *e = &s->msgs[s->n++];
	e->type = s->b.data[start - 1];
	e->off = start - 1;
	e->len = s->b.len - e->off;
	if (e->len - 1 > s->maxlen)
		s->maxlen = e->len - 1;
}

/* Q, P, B (binary params and a NULL), D, E, S, an empty-bodied H, C, X. */
static void stream_build(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->b);
	size_t m = pgwire_begin(&s->b, 'Q');
	buf_put_cstr(&s->b, "SELECT 1; SELECT 2");
	stream_end(s, m);
	m = pgwire_begin(&s->b, 'P');
	buf_put_cstr(&s->b, "s1");
	buf_put_cstr(&s->b, "SELECT $1, $2");
	buf_put_u16(&s->b, 2);
	buf_put_u32(&s->b, 23);
	buf_put_u32(&s->b, 25);
	stream_end(s, m);
	static const int16_t fmts[] = { 1, 0 };
	m = pgwire_begin(&s->b, 'B');
	put_bind(&s->b, 2, fmts, 2, 1, fmts);
	stream_end(s, m);
	m = pgwire_begin(&s->b, 'D');
	buf_put_u8(&s->b, 'P');
	buf_put_cstr(&s->b, "");
	stream_end(s, m);
	m = pgwire_begin(&s->b, 'E');
	buf_put_cstr(&s->b, "");
	buf_put_u32(&s->b, 0);
	stream_end(s, m);
	m = pgwire_begin(&s->b, 'S');
	stream_end(s, m);
	m = pgwire_begin(&s->b, 'H');
	stream_end(s, m);
	m = pgwire_begin(&s->b, 'C');
	buf_put_u8(&s->b, 'S');
	buf_put_cstr(&s->b, "s1");
	stream_end(s, m);
	m = pgwire_begin(&s->b, 'X');
	stream_end(s, m);
	assert_false(s->b.oom);
}

static void expect_framed(const struct stream *s, int i, const struct pg_msg *m, size_t used)
{
	assert_true(i < s->n);
	const struct expected *e = &s->msgs[i];
	assert_int_equal(m->type, e->type);
	assert_int_equal(used, e->len);
	assert_int_equal(m->len, e->len - 5);
	if (m->len)
		assert_memory_equal(m->body, s->b.data + e->off + 5, m->len);
}

static void test_frame_every_prefix(void **state)
{
	(void)state;
	struct stream s;
	stream_build(&s);
	for (size_t k = 0; k <= s.b.len; k++) {
		uint8_t *p = malloc(k ? k : 1);
		assert_non_null(p);
		memcpy(p, s.b.data, k);
		int complete = 0;
		while (complete < s.n && s.msgs[complete].off + s.msgs[complete].len <= k)
			complete++;
		size_t off = 0;
		int got = 0;
		for (;;) {
			struct pg_msg m;
			size_t used = 777;
			int rc = pgwire_frame(p + off, k - off, s.maxlen, &m, &used);
			if (rc == 0) {
				assert_int_equal(used, 777); /* nothing consumed */
				break;
			}
			assert_int_equal(rc, 1);
			expect_framed(&s, got, &m, used);
			/* the body lies within the prefix */
			assert_true(m.body >= p + off && m.body + m.len <= p + k);
			off += used;
			got++;
		}
		assert_int_equal(got, complete);
		assert_int_equal(off, complete ? s.msgs[complete - 1].off + s.msgs[complete - 1].len : 0);
		free(p);
	}

	/* With max one below the largest message, framing stops there. */
	int big = 0;
	while (s.msgs[big].len - 1 != s.maxlen)
		big++;
	size_t off = 0;
	for (int i = 0; i < big; i++) {
		struct pg_msg m;
		size_t used;
		assert_int_equal(pgwire_frame(s.b.data + off, s.b.len - off, s.maxlen - 1, &m, &used), 1);
		off += used;
	}
	struct pg_msg m;
	size_t used;
	assert_int_equal(pgwire_frame(s.b.data + off, s.b.len - off, s.maxlen - 1, &m, &used), SL_ETOOBIG);
	buf_free(&s.b);
}

/*
 * A reassembly loop as a connection would run it: append what arrived, frame
 * and drop whole messages, keep the rest. The stream arrives in three pieces
 * cut at offsets i <= j; with plen > 0, a startup packet of plen bytes
 * comes first.
 */
static void reassemble(const struct stream *s, const uint8_t *wire, size_t wlen, size_t plen, size_t i,
		       size_t j)
{
	struct buf in;
	buf_init(&in);
	const size_t cuts[4] = { 0, i, j, wlen };
	bool started = plen == 0;
	int got = 0;
	for (int piece = 0; piece < 3; piece++) {
		buf_append(&in, wire + cuts[piece], cuts[piece + 1] - cuts[piece]);
		for (;;) {
			struct pg_msg m;
			size_t used = 777;
			int rc = started ? pgwire_frame(in.data, in.len, s->maxlen, &m, &used)
					 : pgwire_frame_startup(in.data, in.len, &m, &used);
			if (rc == 0) {
				assert_int_equal(used, 777);
				break;
			}
			assert_int_equal(rc, 1);
			if (!started) {
				assert_int_equal(used, plen);
				struct pg_startup st;
				assert_int_equal(pgwire_decode_startup(&m, &st), 0);
				assert_string_equal(pgwire_startup_param(&st, "user"), "alice");
				started = true;
			} else {
				expect_framed(s, got++, &m, used);
			}
			buf_consume(&in, used);
		}
	}
	assert_true(started);
	assert_int_equal(got, s->n);
	assert_int_equal(in.len, 0);
	buf_free(&in);
}

static void test_frame_reassembly(void **state)
{
	(void)state;
	struct stream s;
	stream_build(&s);

	/* Regular messages only. */
	for (size_t i = 0; i <= s.b.len; i++)
		for (size_t j = i; j <= s.b.len; j++)
			reassemble(&s, s.b.data, s.b.len, 0, i, j);

	/* A startup packet, then the same messages. */
	struct buf w;
	buf_init(&w);
	buf_put_u32(&w, 0);
	buf_put_u32(&w, PG_PROTOCOL_V3);
	buf_put_cstr(&w, "user");
	buf_put_cstr(&w, "alice");
	buf_put_u8(&w, 0);
	size_t plen = w.len;
	buf_patch_u32(&w, 0, (uint32_t)plen);
	buf_append(&w, s.b.data, s.b.len);
	assert_false(w.oom);
	for (size_t i = 0; i <= w.len; i++)
		for (size_t j = i; j <= w.len; j++)
			reassemble(&s, w.data, w.len, plen, i, j);

	/* One byte at a time. */
	struct buf in;
	buf_init(&in);
	int got = 0;
	for (size_t k = 0; k < s.b.len; k++) {
		buf_append(&in, s.b.data + k, 1);
		struct pg_msg m;
		size_t used;
		int rc;
		while ((rc = pgwire_frame(in.data, in.len, s.maxlen, &m, &used)) == 1) {
			expect_framed(&s, got++, &m, used);
			buf_consume(&in, used);
		}
		assert_int_equal(rc, 0);
	}
	assert_int_equal(got, s.n);
	buf_free(&in);
	buf_free(&w);
	buf_free(&s.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_startup_v3),
		cmocka_unit_test(test_startup_requests),
		cmocka_unit_test(test_startup_bad_version),
		cmocka_unit_test(test_startup_param_count),
		cmocka_unit_test(test_startup_layout),
		cmocka_unit_test(test_frame_startup),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_bind_empty),
		cmocka_unit_test(test_bind_values),
		cmocka_unit_test(test_bind_formats),
		cmocka_unit_test(test_bind_lengths),
		cmocka_unit_test(test_describe_close),
		cmocka_unit_test(test_execute),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_sasl_initial),
		cmocka_unit_test(test_put_auth),
		cmocka_unit_test(test_put_session_messages),
		cmocka_unit_test(test_put_error),
		cmocka_unit_test(test_put_row_description),
		cmocka_unit_test(test_put_param_description),
		cmocka_unit_test(test_put_data_row),
		cmocka_unit_test(test_put_sequence),
		cmocka_unit_test(test_frame_lengths),
		cmocka_unit_test(test_frame_every_prefix),
		cmocka_unit_test(test_frame_reassembly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
