/*
 * json.c — JSON string output (see json.h).
 *
 * UTF-8 is checked by RFC 3629's table: no overlong forms, no surrogates,
 * nothing above U+10FFFF. Each invalid byte is replaced on its own, so the
 * output always advances.
 */
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t json_utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

static void put_escape(struct buf *b, uint8_t c)
{
	switch (c) {
	case '"': buf_append(b, "\\\"", 2); return;
	case '\\': buf_append(b, "\\\\", 2); return;
	case '\n': buf_append(b, "\\n", 2); return;
	case '\r': buf_append(b, "\\r", 2); return;
	case '\t': buf_append(b, "\\t", 2); return;
	}
	buf_printf(b, "\\u%04x", c);
}

void json_put_string(struct buf *b, const void *s, size_t n)
{
	const uint8_t *p = s;
	buf_put_u8(b, '"');
	while (n > 0) {
		uint8_t c = p[0];
		size_t len = json_utf8_len(p, n);
		if (len == 0) {
			buf_append(b, "\\ufffd", 6);
			len = 1;
		} else if (c < 0x20 || c == '"' || c == '\\' || c == 0x7F)
			put_escape(b, c);
		else
			buf_append(b, p, len);
		p += len;
		n -= len;
	}
	buf_put_u8(b, '"');
}

void json_put_cstr(struct buf *b, const char *s) { json_put_string(b, s, strlen(s)); }
