/*
 * json.h — the little JSON output sluice writes (the tools, change
 * events): strings escaped so that any bytes give valid JSON text.
 */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Appends s[0..n) as a JSON string, quotes included. ", \ and control
 * characters are escaped; bytes that are not valid UTF-8 become U+FFFD.
 */
void json_put_string(struct buf *b, const void *s, size_t n);
/* The same for a NUL-terminated string. */
void json_put_cstr(struct buf *b, const char *s);

/*
 * Length of the valid UTF-8 sequence at p[0..n) (n > 0), or 0 if none
 * starts there (RFC 3629: no overlong forms, surrogates or code points
 * above U+10FFFF).
 */
size_t json_utf8_len(const uint8_t *p, size_t n);

#endif
