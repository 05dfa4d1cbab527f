/*
 * fuzz_pgwire.c — libFuzzer target for server/pgwire.c.
 *
 * The input is read three ways: as a startup packet (pgwire_frame_startup,
 * then pgwire_decode_startup); as a stream of regular messages framed with a
 * small maximum, each body handed to the decoder its type byte names (after
 * a startup packet, the rest of the input is framed the same way); and as
 * one body given to every decoder. Every framed body is copied into its own
 * exact-size allocation, so ASan reports any read past it, and every
 * decoded field is checked to lie within the body; a broken invariant
 * aborts. Decoded values are also written back out through the encoders and
 * re-framed.
 *
 * Build with clang -fsanitize=fuzzer (configure --enable-fuzzing), or link
 * with tests/fuzz/replay_main.c to replay the corpus in tests/fuzz/corpus/pgwire.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "pgwire.h"
#include "sl_error.h"

/* Small, so that SL_ETOOBIG is reachable; larger than every seed message. */
#define FUZZ_MAX_MSG 512

/* p[0..n) lies within the body. */
static void in_body(const struct pg_msg *m, const void *p, size_t n)
{
	const uint8_t *q = p;
	CHECK(q != NULL);
	CHECK(q >= m->body && n <= m->len && (size_t)(q - m->body) <= m->len - n);
}

/* A NUL-terminated string within the body. */
static void str_in_body(const struct pg_msg *m, const char *s)
{
	CHECK(s != NULL);
	const uint8_t *q = (const uint8_t *)s;
	CHECK(q >= m->body && q < m->body + m->len);
	size_t room = m->len - (size_t)(q - m->body);
	const uint8_t *nul = memchr(q, 0, room);
	CHECK(nul != NULL);
}

/* An encoded message frames back as exactly one message of that type. */
static void reframe(struct buf *b, char type)
{
	CHECK(!b->oom);
	struct pg_msg m;
	size_t used = 0;
	CHECK(pgwire_frame(b->data, b->len, SIZE_MAX, &m, &used) == 1);
	CHECK(used == b->len && m.type == (uint8_t)type && m.len == b->len - 5);
}

static void check_startup(const struct pg_msg *m)
{
	struct pg_startup s;
	int rc = pgwire_decode_startup(m, &s);
	CHECK(rc == 0 || rc == SL_EPROTO);
	if (rc != 0)
		return;
	CHECK(m->len >= 4);
	CHECK(s.code == PG_PROTOCOL_V3 || s.code == PG_SSL_REQUEST_CODE || s.code == PG_GSSENC_REQUEST_CODE ||
	      s.code == PG_CANCEL_REQUEST_CODE);
	CHECK(s.nparams >= 0 && s.nparams <= PG_MAX_STARTUP_PARAMS);
	if (s.code == PG_CANCEL_REQUEST_CODE)
		CHECK(m->len == 12);
	if (s.code == PG_SSL_REQUEST_CODE || s.code == PG_GSSENC_REQUEST_CODE)
		CHECK(m->len == 4);
	if (s.code != PG_PROTOCOL_V3) {
		CHECK(s.nparams == 0);
		return;
	}
	CHECK(m->body[m->len - 1] == 0); /* the final NUL */
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < s.nparams; i++) {
		str_in_body(m, s.keys[i]);
		str_in_body(m, s.values[i]);
		CHECK(s.keys[i][0] != '\0');
		CHECK(pgwire_startup_param(&s, s.keys[i]) != NULL);
		buf_reset(&b);
		pgwire_put_param_status(&b, s.keys[i], s.values[i]);
		reframe(&b, 'S');
		CHECK(b.len == 5 + strlen(s.keys[i]) + 1 + strlen(s.values[i]) + 1);
	}
	buf_free(&b);
}

static void check_query(const struct pg_msg *m)
{
	const char *sql;
	int rc = pgwire_decode_query(m, &sql);
	CHECK(rc == 0 || rc == SL_EPROTO);
	if (rc != 0)
		return;
	str_in_body(m, sql);
	CHECK((const uint8_t *)sql == m->body && strlen(sql) + 1 == m->len);
	struct buf b;
	buf_init(&b);
	pgwire_put_error(&b, 'E', "ERROR", "42601", sql, sql, NULL);
	reframe(&b, 'E');
	CHECK(b.data[b.len - 1] == 0 && b.data[b.len - 2] == 0);
	buf_free(&b);
}

static void check_parse(const struct pg_msg *m)
{
	struct pg_parse p;
	int rc = pgwire_decode_parse(m, &p);
	CHECK(rc == 0 || rc == SL_EPROTO);
	if (rc != 0)
		return;
	str_in_body(m, p.name);
	str_in_body(m, p.query);
	CHECK(p.param_oids != NULL);
	in_body(m, p.param_oids, (size_t)p.nparams * 4);
	CHECK(p.param_oids + (size_t)p.nparams * 4 == m->body + m->len); /* consumed exactly */
	uint32_t *oids = malloc(((size_t)p.nparams + 1) * sizeof(*oids));
	CHECK(oids != NULL);
	for (int i = 0; i < p.nparams; i++)
		oids[i] = pgwire_oid_at(p.param_oids, p.nparams, i);
	CHECK(pgwire_oid_at(p.param_oids, p.nparams, p.nparams) == 0);
	CHECK(pgwire_oid_at(p.param_oids, p.nparams, -1) == 0);
	struct buf b;
	buf_init(&b);
	pgwire_put_param_description(&b, p.nparams, oids);
	reframe(&b, 't');
	CHECK(b.len == 7 + (size_t)p.nparams * 4);
	if (p.nparams > 0)
		CHECK(memcmp(b.data + 7, p.param_oids, (size_t)p.nparams * 4) == 0);
	buf_free(&b);
	free(oids);
}

static void check_bind(const struct pg_msg *m)
{
	struct pg_bind bd;
	int rc = pgwire_decode_bind(m, &bd);
	CHECK(rc == 0 || rc == SL_EPROTO || rc == SL_ENOMEM);
	if (rc != 0) {
		CHECK(bd.params == NULL);
		return;
	}
	str_in_body(m, bd.portal);
	str_in_body(m, bd.stmt);
	CHECK(bd.nformats <= 1 || bd.nformats == bd.nparams);
	in_body(m, bd.formats, (size_t)bd.nformats * 2);
	in_body(m, bd.result_formats, (size_t)bd.nresult_formats * 2);
	CHECK(bd.result_formats + (size_t)bd.nresult_formats * 2 == m->body + m->len);
	CHECK((bd.nparams == 0) == (bd.params == NULL));
	struct buf b;
	buf_init(&b);
	size_t row = pgwire_data_row_begin(&b, bd.nparams);
	size_t total = 0;
	for (int i = 0; i < bd.nparams; i++) {
		const struct pg_value *v = &bd.params[i];
		CHECK(v->len >= -1);
		CHECK((v->len == -1) == (v->data == NULL));
		int f = pgwire_format_at(bd.formats, bd.nformats, i);
		CHECK(bd.nformats != 0 || f == 0);
		if (v->len >= 0) {
			in_body(m, v->data, (size_t)v->len);
			pgwire_data_row_value(&b, v->data, (size_t)v->len);
			total += 4 + (size_t)v->len;
		} else {
			pgwire_data_row_null(&b);
			total += 4;
		}
	}
	pgwire_end(&b, row);
	reframe(&b, 'D');
	CHECK(b.len == 7 + total);
	/* Walk the row back: each column's length word and bytes. */
	struct cursor c;
	cursor_init(&c, b.data + 5, b.len - 5);
	CHECK(cursor_u16(&c) == bd.nparams);
	for (int i = 0; i < bd.nparams; i++) {
		int32_t len = cursor_i32(&c);
		CHECK(len == bd.params[i].len);
		if (len > 0)
			CHECK(memcmp(cursor_bytes(&c, (size_t)len), bd.params[i].data, (size_t)len) == 0);
	}
	CHECK(!c.bad && c.len == 0);
	for (int i = 0; i <= bd.nresult_formats; i++)
		(void)pgwire_format_at(bd.result_formats, bd.nresult_formats, i);
	buf_free(&b);
	pgwire_bind_free(&bd);
	CHECK(bd.params == NULL);
}

static void check_describe(const struct pg_msg *m)
{
	struct pg_describe d;
	int rc = pgwire_decode_describe(m, &d);
	CHECK(rc == 0 || rc == SL_EPROTO);
	if (rc != 0)
		return;
	CHECK(d.kind == 'S' || d.kind == 'P');
	str_in_body(m, d.name);
	CHECK((const uint8_t *)d.name == m->body + 1 && strlen(d.name) + 2 == m->len);
}

static void check_execute(const struct pg_msg *m)
{
	struct pg_execute e;
	int rc = pgwire_decode_execute(m, &e);
	CHECK(rc == 0 || rc == SL_EPROTO);
	if (rc != 0)
		return;
	str_in_body(m, e.portal);
	CHECK(strlen(e.portal) + 5 == m->len);
	CHECK(e.max_rows <= INT32_MAX);
}

static void check_password(const struct pg_msg *m)
{
	const char *pw;
	int rc = pgwire_decode_password(m, &pw);
	CHECK(rc == 0 || rc == SL_EPROTO);
	if (rc == 0) {
		str_in_body(m, pw);
		CHECK(strlen(pw) + 1 == m->len);
	}

	const char *mech;
	const uint8_t *data;
	uint32_t len;
	rc = pgwire_decode_sasl_initial(m, &mech, &data, &len);
	CHECK(rc == 0 || rc == SL_EPROTO);
	if (rc != 0)
		return;
	str_in_body(m, mech);
	if (data == NULL) {
		CHECK(len == 0);
		CHECK(strlen(mech) + 5 == m->len);
	} else {
		in_body(m, data, len);
		CHECK(data + len == m->body + m->len);
		struct buf b;
		buf_init(&b);
		pgwire_put_auth(&b, 11, data, len); /* echo as SASLContinue */
		reframe(&b, 'R');
		CHECK(b.len == 9 + (size_t)len);
		buf_free(&b);
	}
}

/* Runs the decoder for type on a private copy of body[0..len). */
static void decode_one(uint8_t type, const uint8_t *body, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	CHECK(copy != NULL);
	if (len)
		memcpy(copy, body, len);
	struct pg_msg m = { .type = type, .body = copy, .len = (uint32_t)len };
	switch (type) {
	case 0:
		check_startup(&m);
		break;
	case 'Q':
		check_query(&m);
		break;
	case 'P':
		check_parse(&m);
		break;
	case 'B':
		check_bind(&m);
		break;
	case 'D':
	case 'C':
		check_describe(&m);
		break;
	case 'E':
		check_execute(&m);
		break;
	case 'p':
		check_password(&m);
		break;
	default:
		break;
	}
	free(copy);
}

/* Frames data[0..size) as regular messages until need-more or an error. */
static void frame_stream(const uint8_t *data, size_t size)
{
	size_t off = 0;
	for (;;) {
		struct pg_msg m;
		size_t used = SIZE_MAX;
		int rc = pgwire_frame(data + off, size - off, FUZZ_MAX_MSG, &m, &used);
		CHECK(rc == 1 || rc == 0 || rc == SL_EPROTO || rc == SL_ETOOBIG);
		if (rc != 1) {
			CHECK(used == SIZE_MAX); /* nothing consumed */
			if (rc == 0 && size - off >= 5)
				CHECK(get_u32(data + off + 1) + (size_t)1 > size - off);
			return;
		}
		CHECK(used >= 5 && used <= size - off && used <= FUZZ_MAX_MSG + 1);
		CHECK(m.type == data[off] && m.body == data + off + 5 && m.len == used - 5);
		decode_one(m.type, m.body, m.len);
		off += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* As a startup packet, then the rest as the messages that follow it. */
	struct pg_msg m;
	size_t used = SIZE_MAX;
	int rc = pgwire_frame_startup(data, size, &m, &used);
	CHECK(rc == 1 || rc == 0 || rc == SL_EPROTO || rc == SL_ETOOBIG);
	if (rc == 1) {
		CHECK(used >= 8 && used <= size && used <= PG_MAX_STARTUP_LEN);
		CHECK(m.type == 0 && m.body == data + 4 && m.len == used - 4);
		decode_one(0, m.body, m.len);
		frame_stream(data + used, size - used);
	} else {
		CHECK(used == SIZE_MAX);
	}

	/* As a stream of regular messages from the start. */
	frame_stream(data, size);

	/* As one body, to every decoder. */
	static const uint8_t types[] = { 0, 'Q', 'P', 'B', 'D', 'E', 'p' };
	for (size_t i = 0; i < sizeof(types); i++)
		decode_one(types[i], data, size);
	return 0;
}
