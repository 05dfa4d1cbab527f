/*
 * pgwire.c — PostgreSQL v3 message codec (see pgwire.h).
 *
 * Wire format, as the PostgreSQL documentation ("Message Formats") gives it:
 *
 *   startup packet   int32 length (itself included) | int32 code | body
 *                    code 196608 (3.0): pairs of NUL-terminated key, value,
 *                    then a final NUL; 80877102 CancelRequest: int32 pid,
 *                    int32 key; 80877103 SSLRequest; 80877104 GSSENCRequest.
 *   other messages   byte type | int32 length (itself included) | body
 *
 * Integers are big-endian. The decoders below read every field through a
 * checked cursor and require the body to be consumed exactly, so a message
 * with trailing garbage or a field running past its end is a protocol error.
 */
#include "pgwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"

int pgwire_frame(const uint8_t *data, size_t avail, size_t max, struct pg_msg *msg, size_t *consumed)
{
	if (avail < 5)
		return 0;
	uint32_t len = get_u32(data + 1);
	if (len < 4)
		return SL_EPROTO;
	if (len > max)
		return SL_ETOOBIG;
	if (avail < (size_t)len + 1)
		return 0;
	msg->type = data[0];
	msg->body = data + 5;
	msg->len = len - 4;
	*consumed = (size_t)len + 1;
	return 1;
}

int pgwire_frame_startup(const uint8_t *data, size_t avail, struct pg_msg *msg, size_t *consumed)
{
	if (avail < 4)
		return 0;
	uint32_t len = get_u32(data);
	if (len < 8)
		return SL_EPROTO;
	if (len > PG_MAX_STARTUP_LEN)
		return SL_ETOOBIG;
	if (avail < len)
		return 0;
	msg->type = 0;
	msg->body = data + 4;
	msg->len = len - 4;
	*consumed = len;
	return 1;
}

int pgwire_decode_startup(const struct pg_msg *msg, struct pg_startup *out)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	memset(out, 0, sizeof(*out));
	out->code = cursor_u32(&c);
	if (c.bad)
		return SL_EPROTO;
	switch (out->code) {
	case PG_CANCEL_REQUEST_CODE:
		out->cancel_pid = cursor_u32(&c);
		out->cancel_key = cursor_u32(&c);
		return (c.bad || c.len != 0) ? SL_EPROTO : 0;
	case PG_SSL_REQUEST_CODE:
	case PG_GSSENC_REQUEST_CODE:
		return c.len == 0 ? 0 : SL_EPROTO;
	case PG_PROTOCOL_V3:
		break;
	default:
		return SL_EPROTO;
	}
	for (;;) {
		const char *key = cursor_cstr(&c);
		if (!key)
			return SL_EPROTO;
		if (key[0] == '\0')
			break;
		const char *value = cursor_cstr(&c);
		if (!value || out->nparams == PG_MAX_STARTUP_PARAMS)
			return SL_EPROTO;
		out->keys[out->nparams] = key;
		out->values[out->nparams] = value;
		out->nparams++;
	}
	return c.len == 0 ? 0 : SL_EPROTO;
}

const char *pgwire_startup_param(const struct pg_startup *s, const char *key)
{
	for (int i = 0; i < s->nparams; i++)
		if (strcmp(s->keys[i], key) == 0)
			return s->values[i];
	return NULL;
}

static int finish(const struct cursor *c) { return (c->bad || c->len != 0) ? SL_EPROTO : 0; }

int pgwire_decode_query(const struct pg_msg *msg, const char **sql)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	*sql = cursor_cstr(&c);
	return finish(&c);
}

void pgwire_error_fields(const struct pg_msg *msg, char *sqlstate, size_t statelen, char *message, size_t msglen)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	sqlstate[0] = message[0] = '\0';
	for (;;) {
		uint8_t field = cursor_u8(&c);
		const char *value = field ? cursor_cstr(&c) : NULL;
		if (!field || !value)
			return;
		if (field == 'C')
			snprintf(sqlstate, statelen, "%s", value);
		else if (field == 'M')
			snprintf(message, msglen, "%s", value);
	}
}

int pgwire_decode_parse(const struct pg_msg *msg, struct pg_parse *out)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	out->name = cursor_cstr(&c);
	out->query = cursor_cstr(&c);
	out->nparams = cursor_u16(&c);
	out->param_oids = cursor_bytes(&c, (size_t)out->nparams * 4);
	return finish(&c);
}

static const uint8_t *read_codes(struct cursor *c, uint16_t *n)
{
	*n = cursor_u16(c);
	return cursor_bytes(c, (size_t)*n * 2);
}

int pgwire_decode_bind(const struct pg_msg *msg, struct pg_bind *out)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	memset(out, 0, sizeof(*out));
	out->portal = cursor_cstr(&c);
	out->stmt = cursor_cstr(&c);
	out->formats = read_codes(&c, &out->nformats);
	out->nparams = cursor_u16(&c);
	if (c.bad)
		return SL_EPROTO;
	if (out->nformats > 1 && out->nformats != out->nparams)
		return SL_EPROTO;
	if (out->nparams > 0) {
		/* each parameter needs at least its length word */
		if ((size_t)out->nparams * 4 > c.len)
			return SL_EPROTO;
		out->params = calloc(out->nparams, sizeof(*out->params));
		if (!out->params)
			return SL_ENOMEM;
	}
	for (int i = 0; i < out->nparams; i++) {
		int32_t len = cursor_i32(&c);
		if (len < -1)
			c.bad = true;
		if (len >= 0)
			out->params[i].data = cursor_bytes(&c, (size_t)len);
		out->params[i].len = len;
		if (c.bad)
			break;
	}
	out->result_formats = read_codes(&c, &out->nresult_formats);
	int rc = finish(&c);
	if (rc)
		pgwire_bind_free(out);
	return rc;
}

void pgwire_bind_free(struct pg_bind *b)
{
	free(b->params);
	b->params = NULL;
}

int pgwire_decode_describe(const struct pg_msg *msg, struct pg_describe *out)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	out->kind = (char)cursor_u8(&c);
	out->name = cursor_cstr(&c);
	if (out->kind != 'S' && out->kind != 'P')
		return SL_EPROTO;
	return finish(&c);
}

int pgwire_decode_execute(const struct pg_msg *msg, struct pg_execute *out)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	out->portal = cursor_cstr(&c);
	int32_t n = cursor_i32(&c);
	out->max_rows = n <= 0 ? 0 : (uint32_t)n;
	return finish(&c);
}

int pgwire_decode_password(const struct pg_msg *msg, const char **password)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	*password = cursor_cstr(&c);
	return finish(&c);
}

int pgwire_decode_sasl_initial(const struct pg_msg *msg, const char **mechanism, const uint8_t **data,
			       uint32_t *len)
{
	struct cursor c;
	cursor_init(&c, msg->body, msg->len);
	*mechanism = cursor_cstr(&c);
	int32_t n = cursor_i32(&c);
	if (n < -1)
		return SL_EPROTO;
	if (n < 0) {
		*data = NULL;
		*len = 0;
	} else {
		*data = cursor_bytes(&c, (size_t)n);
		*len = (uint32_t)n;
	}
	return finish(&c);
}

int pgwire_format_at(const uint8_t *codes, uint16_t n, int i)
{
	if (n == 0)
		return 0;
	if (n == 1)
		return (int16_t)get_u16(codes);
	if (i < 0 || i >= n)
		return 0;
	return (int16_t)get_u16(codes + 2 * i);
}

uint32_t pgwire_oid_at(const uint8_t *oids, uint16_t n, int i)
{
	if (i < 0 || i >= n)
		return 0;
	return get_u32(oids + 4 * i);
}

/* ---- backend messages ---- */

size_t pgwire_begin(struct buf *b, char type)
{
	buf_put_u8(b, (uint8_t)type);
	size_t start = b->len;
	buf_put_u32(b, 0);
	return start;
}

void pgwire_end(struct buf *b, size_t start)
{
	if (!b->oom)
		buf_patch_u32(b, start, (uint32_t)(b->len - start));
}

void pgwire_put_auth(struct buf *b, uint32_t code, const void *data, size_t len)
{
	size_t m = pgwire_begin(b, 'R');
	buf_put_u32(b, code);
	buf_append(b, data, len);
	pgwire_end(b, m);
}

void pgwire_put_auth_sasl(struct buf *b)
{
	static const char mechanisms[] = "SCRAM-SHA-256\0";
	pgwire_put_auth(b, 10, mechanisms, sizeof(mechanisms));
}

void pgwire_put_param_status(struct buf *b, const char *name, const char *value)
{
	size_t m = pgwire_begin(b, 'S');
	buf_put_cstr(b, name);
	buf_put_cstr(b, value);
	pgwire_end(b, m);
}

void pgwire_put_backend_key(struct buf *b, uint32_t pid, uint32_t key)
{
	size_t m = pgwire_begin(b, 'K');
	buf_put_u32(b, pid);
	buf_put_u32(b, key);
	pgwire_end(b, m);
}

void pgwire_put_ready(struct buf *b, char status)
{
	size_t m = pgwire_begin(b, 'Z');
	buf_put_u8(b, (uint8_t)status);
	pgwire_end(b, m);
}

void pgwire_put_simple(struct buf *b, char type)
{
	size_t m = pgwire_begin(b, type);
	pgwire_end(b, m);
}

void pgwire_put_command_complete(struct buf *b, const char *tag)
{
	size_t m = pgwire_begin(b, 'C');
	buf_put_cstr(b, tag);
	pgwire_end(b, m);
}

static void put_field(struct buf *b, char code, const char *value)
{
	if (!value)
		return;
	buf_put_u8(b, (uint8_t)code);
	buf_put_cstr(b, value);
}

void pgwire_put_error(struct buf *b, char type, const char *severity, const char *sqlstate, const char *message,
		      const char *detail, const char *hint)
{
	size_t m = pgwire_begin(b, type);
	put_field(b, 'S', severity);
	put_field(b, 'V', severity);
	put_field(b, 'C', sqlstate);
	put_field(b, 'M', message ? message : "unknown error");
	put_field(b, 'D', detail);
	put_field(b, 'H', hint);
	buf_put_u8(b, 0);
	pgwire_end(b, m);
}

size_t pgwire_row_description_begin(struct buf *b, uint16_t nfields)
{
	size_t m = pgwire_begin(b, 'T');
	buf_put_u16(b, nfields);
	return m;
}

void pgwire_row_description_field(struct buf *b, const char *name, uint32_t type_oid, int16_t typlen, int16_t format)
{
	buf_put_cstr(b, name);
	buf_put_u32(b, 0);  /* table oid */
	buf_put_u16(b, 0);  /* column number */
	buf_put_u32(b, type_oid);
	buf_put_u16(b, (uint16_t)typlen);
	buf_put_u32(b, 0xffffffffu); /* type modifier -1 */
	buf_put_u16(b, (uint16_t)format);
}

void pgwire_put_param_description(struct buf *b, uint16_t n, const uint32_t *oids)
{
	size_t m = pgwire_begin(b, 't');
	buf_put_u16(b, n);
	for (int i = 0; i < n; i++)
		buf_put_u32(b, oids[i]);
	pgwire_end(b, m);
}

size_t pgwire_data_row_begin(struct buf *b, uint16_t ncols)
{
	size_t m = pgwire_begin(b, 'D');
	buf_put_u16(b, ncols);
	return m;
}

void pgwire_data_row_null(struct buf *b) { buf_put_u32(b, 0xffffffffu); }

void pgwire_data_row_value(struct buf *b, const void *data, size_t len)
{
	buf_put_u32(b, (uint32_t)len);
	buf_append(b, data, len);
}
