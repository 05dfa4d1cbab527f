/*
 * pgtypes.c — value encodings between SQLite and the PostgreSQL wire
 * (see pgtypes.h). Binary formats are PostgreSQL's send/recv formats:
 * big-endian integers, IEEE 754 floats, one byte for bool, raw bytes for
 * text and bytea.
 */
#include "pgtypes.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sqlstate.h"

struct decltype_map {
	const char *prefix; /* matched case-insensitively against the declared type */
	uint32_t oid;
	int exact;          /* 1: the whole name must match, not just a prefix */
};

static const struct decltype_map decltypes[] = {
	{ "bigint", OID_INT8, 1 },   { "int8", OID_INT8, 1 },      { "integer", OID_INT8, 1 },
	{ "bigserial", OID_INT8, 1 }, { "serial8", OID_INT8, 1 },
	{ "int", OID_INT4, 1 },      { "int4", OID_INT4, 1 },      { "serial", OID_INT4, 1 },
	{ "smallint", OID_INT2, 1 }, { "int2", OID_INT2, 1 },
	{ "real", OID_FLOAT8, 1 },   { "double", OID_FLOAT8, 0 },  { "float8", OID_FLOAT8, 1 },
	{ "float", OID_FLOAT8, 1 },  { "float4", OID_FLOAT4, 1 },
	{ "numeric", OID_NUMERIC, 0 }, { "decimal", OID_NUMERIC, 0 },
	{ "bool", OID_BOOL, 1 },     { "boolean", OID_BOOL, 1 },
	{ "text", OID_TEXT, 1 },     { "varchar", OID_VARCHAR, 0 }, { "character varying", OID_VARCHAR, 0 },
	{ "char", OID_TEXT, 0 },     { "character", OID_TEXT, 0 }, { "clob", OID_TEXT, 1 },
	{ "bytea", OID_BYTEA, 1 },   { "blob", OID_BYTEA, 1 },
	{ "json", OID_JSON, 1 },     { "jsonb", OID_JSON, 1 },     { "uuid", OID_UUID, 1 },
	{ "date", OID_DATE, 1 },     { "timestamptz", OID_TIMESTAMPTZ, 1 },
	{ "timestamp with time zone", OID_TIMESTAMPTZ, 1 }, { "timestamp", OID_TIMESTAMP, 0 },
};

uint32_t pgtypes_from_decltype(const char *decltype)
{
	if (!decltype || !*decltype)
		return 0;
	for (size_t i = 0; i < sizeof(decltypes) / sizeof(decltypes[0]); i++) {
		size_t n = strlen(decltypes[i].prefix);
		if (strncasecmp(decltype, decltypes[i].prefix, n) != 0)
			continue;
		char next = decltype[n];
		if (next == '\0' || (!decltypes[i].exact && (next == '(' || next == ' ')) || next == '(')
			return decltypes[i].oid;
	}
	return 0;
}

uint32_t pgtypes_from_storage(int sqlite_type)
{
	switch (sqlite_type) {
	case SQLITE_INTEGER: return OID_INT8;
	case SQLITE_FLOAT: return OID_FLOAT8;
	case SQLITE_BLOB: return OID_BYTEA;
	default: return OID_TEXT;
	}
}

int16_t pgtypes_typlen(uint32_t oid)
{
	switch (oid) {
	case OID_BOOL: return 1;
	case OID_INT2: return 2;
	case OID_INT4: case OID_FLOAT4: case OID_DATE: case OID_OID: return 4;
	case OID_INT8: case OID_FLOAT8: case OID_TIMESTAMP: case OID_TIMESTAMPTZ: return 8;
	case OID_UUID: return 16;
	default: return -1;
	}
}

/* PostgreSQL's names and OIDs for the types a column may be declared with. */
static const struct {
	const char *prefix; /* as in decltypes */
	const char *name;
	uint32_t oid;
	int exact;
} decl_names[] = {
	{ "bigint", "bigint", 20, 1 },
	{ "int8", "bigint", 20, 1 },
	{ "bigserial", "bigint", 20, 1 },
	{ "serial8", "bigint", 20, 1 },
	{ "integer", "integer", 23, 1 },
	{ "int", "integer", 23, 1 },
	{ "int4", "integer", 23, 1 },
	{ "serial", "integer", 23, 1 },
	{ "smallint", "smallint", 21, 1 },
	{ "int2", "smallint", 21, 1 },
	{ "real", "real", 700, 1 },
	{ "float4", "real", 700, 1 },
	{ "double", "double precision", 701, 0 },
	{ "float8", "double precision", 701, 1 },
	{ "float", "double precision", 701, 1 },
	{ "numeric", "numeric", 1700, 0 },
	{ "decimal", "numeric", 1700, 0 },
	{ "bool", "boolean", 16, 1 },
	{ "boolean", "boolean", 16, 1 },
	{ "text", "text", 25, 1 },
	{ "varchar", "character varying", 1043, 0 },
	{ "character varying", "character varying", 1043, 0 },
	{ "char", "character", 1042, 0 },
	{ "character", "character", 1042, 0 },
	{ "bytea", "bytea", 17, 1 },
	{ "json", "json", 114, 1 },
	{ "jsonb", "jsonb", 3802, 1 },
	{ "uuid", "uuid", 2950, 1 },
	{ "date", "date", 1082, 1 },
	{ "timestamptz", "timestamp with time zone", 1184, 1 },
	{ "timestamp with time zone", "timestamp with time zone", 1184, 1 },
	{ "timestamp", "timestamp without time zone", 1114, 0 },
};

const char *pgtypes_decltype_name(const char *decltype, uint32_t *pg_oid)
{
	for (size_t i = 0; decltype && i < sizeof(decl_names) / sizeof(decl_names[0]); i++) {
		size_t n = strlen(decl_names[i].prefix);
		if (strncasecmp(decltype, decl_names[i].prefix, n) != 0)
			continue;
		char next = decltype[n];
		if (next == '\0' || (!decl_names[i].exact && (next == '(' || next == ' ')) || next == '(') {
			*pg_oid = decl_names[i].oid;
			return decl_names[i].name;
		}
	}
	return NULL;
}

const char *pgtypes_name(uint32_t oid)
{
	switch (oid) {
	case OID_BOOL: return "boolean";
	case OID_BYTEA: return "bytea";
	case OID_INT8: return "bigint";
	case OID_INT2: return "smallint";
	case OID_INT4: return "integer";
	case OID_TEXT: return "text";
	case OID_FLOAT4: return "real";
	case OID_FLOAT8: return "double precision";
	case OID_NUMERIC: return "numeric";
	case OID_VARCHAR: return "character varying";
	default: return "unknown";
	}
}

void pgtypes_timestamptz_text(uint64_t us, char *out, size_t outlen)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
	unsigned frac = (unsigned)(us % 1000000);
	if (frac && n + 8 < outlen) {
		n += (size_t)snprintf(out + n, outlen - n, ".%06u", frac);
		while (out[n - 1] == '0')
			n--;
	}
	snprintf(out + n, outlen - n, "+00");
}

static void put_double_text(struct buf *out, double d)
{
	if (isnan(d)) {
		buf_printf(out, "NaN");
	} else if (isinf(d)) {
		buf_printf(out, d > 0 ? "Infinity" : "-Infinity");
	} else {
		buf_put_double(out, d);
	}
}

static bool is_false_text(const unsigned char *s)
{
	return s && (strcasecmp((const char *)s, "f") == 0 || strcasecmp((const char *)s, "false") == 0 ||
		     strcmp((const char *)s, "0") == 0 || strcasecmp((const char *)s, "no") == 0 ||
		     strcasecmp((const char *)s, "off") == 0 || *s == '\0');
}

void pgtypes_put_text(struct buf *out, sqlite3_value *v, uint32_t oid)
{
	int t = sqlite3_value_type(v);
	if (oid == OID_BOOL) {
		bool truth = t == SQLITE_TEXT ? !is_false_text(sqlite3_value_text(v)) : sqlite3_value_double(v) != 0;
		buf_put_u8(out, truth ? 't' : 'f');
		return;
	}
	switch (t) {
	case SQLITE_INTEGER:
		buf_printf(out, "%lld", (long long)sqlite3_value_int64(v));
		break;
	case SQLITE_FLOAT:
		put_double_text(out, sqlite3_value_double(v));
		break;
	case SQLITE_BLOB: {
		static const char hex[] = "0123456789abcdef";
		const uint8_t *p = sqlite3_value_blob(v);
		int n = sqlite3_value_bytes(v);
		if (oid == OID_TEXT || oid == OID_VARCHAR) {
			buf_append(out, p, (size_t)n);
			break;
		}
		if (!buf_reserve(out, 2 + 2 * (size_t)n))
			break;
		buf_append(out, "\\x", 2);
		for (int i = 0; i < n; i++) {
			out->data[out->len++] = (uint8_t)hex[p[i] >> 4];
			out->data[out->len++] = (uint8_t)hex[p[i] & 15];
		}
		break;
	}
	default: {
		const unsigned char *s = sqlite3_value_text(v);
		buf_append(out, s, (size_t)sqlite3_value_bytes(v));
		break;
	}
	}
}

static int fail(char *err, size_t errlen, const char **sqlstate, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, const char **sqlstate, const char *state, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	*sqlstate = state;
	return -1;
}

/* An integer from a value of any storage class, checked for range. */
static int value_to_int(sqlite3_value *v, int64_t lo, int64_t hi, int64_t *out)
{
	int t = sqlite3_value_type(v);
	if (t == SQLITE_INTEGER) {
		*out = sqlite3_value_int64(v);
	} else if (t == SQLITE_FLOAT) {
		double d = sqlite3_value_double(v);
		if (!(d >= -9.2e18 && d <= 9.2e18))
			return -1;
		*out = (int64_t)llround(d);
	} else {
		const char *s = (const char *)sqlite3_value_text(v);
		char *end;
		errno = 0;
		long long x = strtoll(s ? s : "", &end, 10);
		if (!s || end == s || *end || errno)
			return -1;
		*out = x;
	}
	return (*out < lo || *out > hi) ? -1 : 0;
}

int pgtypes_put_column(struct buf *row, sqlite3_stmt *st, int col, uint32_t oid, int format, char *err,
		       size_t errlen, const char **sqlstate)
{
	sqlite3_value *v = sqlite3_column_value(st, col);
	if (sqlite3_value_type(v) == SQLITE_NULL) {
		buf_put_u32(row, 0xffffffffu);
		return 0;
	}
	size_t lenpos = row->len;
	buf_put_u32(row, 0);
	if (format == 0) {
		pgtypes_put_text(row, v, oid);
	} else {
		int64_t i;
		switch (oid) {
		case OID_INT8:
		case OID_INT4:
		case OID_INT2: {
			int64_t lo = oid == OID_INT8 ? INT64_MIN : oid == OID_INT4 ? INT32_MIN : INT16_MIN;
			int64_t hi = oid == OID_INT8 ? INT64_MAX : oid == OID_INT4 ? INT32_MAX : INT16_MAX;
			if (value_to_int(v, lo, hi, &i) != 0)
				return fail(err, errlen, sqlstate, SQLSTATE_INVALID_TEXT,
					    "value cannot be sent as %s", pgtypes_name(oid));
			if (oid == OID_INT8)
				buf_put_u64(row, (uint64_t)i);
			else if (oid == OID_INT4)
				buf_put_u32(row, (uint32_t)(int32_t)i);
			else
				buf_put_u16(row, (uint16_t)(int16_t)i);
			break;
		}
		case OID_FLOAT8: {
			double d = sqlite3_value_double(v);
			uint64_t bits;
			memcpy(&bits, &d, 8);
			buf_put_u64(row, bits);
			break;
		}
		case OID_FLOAT4: {
			float f = (float)sqlite3_value_double(v);
			uint32_t bits;
			memcpy(&bits, &f, 4);
			buf_put_u32(row, bits);
			break;
		}
		case OID_BOOL: {
			int t = sqlite3_value_type(v);
			bool truth = t == SQLITE_TEXT ? !is_false_text(sqlite3_value_text(v))
						      : sqlite3_value_double(v) != 0;
			buf_put_u8(row, truth ? 1 : 0);
			break;
		}
		case OID_BYTEA:
		case OID_TEXT:
		case OID_VARCHAR:
		case OID_JSON: {
			const void *p = sqlite3_value_type(v) == SQLITE_BLOB ? sqlite3_value_blob(v)
									     : (const void *)sqlite3_value_text(v);
			buf_append(row, p, (size_t)sqlite3_value_bytes(v));
			break;
		}
		default:
			return fail(err, errlen, sqlstate, SQLSTATE_FEATURE_NOT_SUPPORTED,
				    "binary output of type %s is not supported", pgtypes_name(oid));
		}
	}
	buf_patch_u32(row, lenpos, (uint32_t)(row->len - lenpos - 4));
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* bytea text input: "\x0a0b" hex form, or the escape form with \\ and \ooo. */
static int bind_bytea_text(sqlite3_stmt *st, int idx, const uint8_t *s, int32_t len)
{
	uint8_t *out = malloc(len > 0 ? (size_t)len : 1);
	if (!out)
		return -2;
	size_t n = 0;
	if (len >= 2 && s[0] == '\\' && s[1] == 'x') {
		for (int32_t i = 2; i < len;) {
			if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t') {
				i++;
				continue;
			}
			int hi = i + 1 < len ? hexval(s[i]) : -1, lo = i + 1 < len ? hexval(s[i + 1]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return -1;
			}
			out[n++] = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
	} else {
		for (int32_t i = 0; i < len;) {
			if (s[i] != '\\') {
				out[n++] = s[i++];
			} else if (i + 1 < len && s[i + 1] == '\\') {
				out[n++] = '\\';
				i += 2;
			} else if (i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
				   s[i + 3] >= '0' && s[i + 3] <= '7') {
				out[n++] = (uint8_t)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
				i += 4;
			} else {
				free(out);
				return -1;
			}
		}
	}
	return sqlite3_bind_blob64(st, idx, out, n, free) == SQLITE_OK ? 0 : -2;
}

static int parse_text_int(const uint8_t *data, int32_t len, int64_t *out)
{
	char tmp[32];
	if (len <= 0 || len >= (int32_t)sizeof(tmp))
		return -1;
	memcpy(tmp, data, (size_t)len);
	tmp[len] = '\0';
	char *p = tmp, *end;
	while (*p == ' ')
		p++;
	errno = 0;
	long long x = strtoll(p, &end, 10);
	while (*end == ' ')
		end++;
	if (end == p || *end || errno)
		return -1;
	*out = x;
	return 0;
}

static int parse_text_bool(const uint8_t *data, int32_t len, int *out)
{
	static const char *const truths[] = { "t", "true", "y", "yes", "on", "1" };
	static const char *const falses[] = { "f", "false", "n", "no", "off", "0" };
	for (size_t i = 0; i < 6; i++) {
		if ((size_t)len == strlen(truths[i]) && strncasecmp((const char *)data, truths[i], (size_t)len) == 0) {
			*out = 1;
			return 0;
		}
		if ((size_t)len == strlen(falses[i]) && strncasecmp((const char *)data, falses[i], (size_t)len) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int pgtypes_bind(sqlite3_stmt *st, int idx, uint32_t oid, int format, const uint8_t *data, int32_t len, char *err,
		 size_t errlen, const char **sqlstate)
{
	int rc = SQLITE_OK;
	if (!data)
		return sqlite3_bind_null(st, idx) == SQLITE_OK ? 0 : -1;
	if (format == 0) {
		int64_t i;
		int b;
		switch (oid) {
		case OID_INT8:
		case OID_INT4:
		case OID_INT2:
		case OID_OID:
			if (parse_text_int(data, len, &i) != 0)
				return fail(err, errlen, sqlstate, SQLSTATE_INVALID_TEXT,
					    "invalid input syntax for type %s", pgtypes_name(oid));
			rc = sqlite3_bind_int64(st, idx, i);
			break;
		case OID_FLOAT8:
		case OID_FLOAT4: {
			char tmp[64];
			char *end;
			if (len <= 0 || len >= (int32_t)sizeof(tmp))
				return fail(err, errlen, sqlstate, SQLSTATE_INVALID_TEXT,
					    "invalid input syntax for type %s", pgtypes_name(oid));
			memcpy(tmp, data, (size_t)len);
			tmp[len] = '\0';
			double d = strtod(tmp, &end);
			if (*end)
				return fail(err, errlen, sqlstate, SQLSTATE_INVALID_TEXT,
					    "invalid input syntax for type %s", pgtypes_name(oid));
			rc = sqlite3_bind_double(st, idx, d);
			break;
		}
		case OID_BOOL:
			if (parse_text_bool(data, len, &b) != 0)
				return fail(err, errlen, sqlstate, SQLSTATE_INVALID_TEXT,
					    "invalid input syntax for type %s", "boolean");
			rc = sqlite3_bind_int(st, idx, b);
			break;
		case OID_BYTEA: {
			int r = bind_bytea_text(st, idx, data, len);
			if (r == -1)
				return fail(err, errlen, sqlstate, SQLSTATE_INVALID_TEXT,
					    "invalid input syntax for type %s", "bytea");
			rc = r == 0 ? SQLITE_OK : SQLITE_NOMEM;
			break;
		}
		default:
			rc = sqlite3_bind_text64(st, idx, (const char *)data, (sqlite3_uint64)len, SQLITE_TRANSIENT,
						 SQLITE_UTF8);
		}
	} else if (format == 1) {
		switch (oid) {
		case OID_INT8:
			if (len != 8)
				goto badlen;
			rc = sqlite3_bind_int64(st, idx, (int64_t)((uint64_t)get_u32(data) << 32 | get_u32(data + 4)));
			break;
		case OID_INT4:
		case OID_OID:
			if (len != 4)
				goto badlen;
			rc = sqlite3_bind_int64(st, idx, oid == OID_OID ? (int64_t)get_u32(data) : (int32_t)get_u32(data));
			break;
		case OID_INT2:
			if (len != 2)
				goto badlen;
			rc = sqlite3_bind_int(st, idx, (int16_t)get_u16(data));
			break;
		case OID_FLOAT8: {
			if (len != 8)
				goto badlen;
			uint64_t bits = (uint64_t)get_u32(data) << 32 | get_u32(data + 4);
			double d;
			memcpy(&d, &bits, 8);
			rc = sqlite3_bind_double(st, idx, d);
			break;
		}
		case OID_FLOAT4: {
			if (len != 4)
				goto badlen;
			uint32_t bits = get_u32(data);
			float f;
			memcpy(&f, &bits, 4);
			rc = sqlite3_bind_double(st, idx, f);
			break;
		}
		case OID_BOOL:
			if (len != 1)
				goto badlen;
			rc = sqlite3_bind_int(st, idx, data[0] != 0);
			break;
		case OID_BYTEA:
			rc = sqlite3_bind_blob64(st, idx, data, (sqlite3_uint64)len, SQLITE_TRANSIENT);
			break;
		case OID_TEXT:
		case OID_VARCHAR:
		case OID_UNKNOWN:
		case OID_JSON:
		case 0:
			rc = sqlite3_bind_text64(st, idx, (const char *)data, (sqlite3_uint64)len, SQLITE_TRANSIENT,
						 SQLITE_UTF8);
			break;
		default:
			return fail(err, errlen, sqlstate, SQLSTATE_FEATURE_NOT_SUPPORTED,
				    "binary input of type %s is not supported", pgtypes_name(oid));
		}
	} else {
		return fail(err, errlen, sqlstate, SQLSTATE_PROTOCOL_VIOLATION, "unsupported format code %d", format);
	}
	if (rc != SQLITE_OK)
		return fail(err, errlen, sqlstate, rc == SQLITE_RANGE ? SQLSTATE_UNDEFINED_PARAMETER : SQLSTATE_INTERNAL,
			    "could not bind parameter: %s", sqlite3_errstr(rc));
	return 0;
badlen:
	return fail(err, errlen, sqlstate, SQLSTATE_PROTOCOL_VIOLATION, "incorrect binary data format in parameter");
}
