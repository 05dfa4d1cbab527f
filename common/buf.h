/*
 * buf.h — a growable byte buffer for building messages, and a cursor for
 * reading them with every length checked.
 *
 * A buffer owns its memory: buf_init() it, buf_free() it. Appends never fail
 * silently: on allocation failure the buffer remembers it in `oom` and later
 * appends do nothing, so a builder checks once at the end.
 *
 * A cursor reads a byte range it does not own. Any read past the end sets
 * `bad` and returns zeroes/NULL, so a decoder reads every field and checks
 * `bad` once.
 */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool oom;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Makes room for n more bytes; returns false (and sets oom) on failure. */
bool buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v); /* big-endian */
void buf_put_u32(struct buf *b, uint32_t v); /* big-endian */
void buf_put_u64(struct buf *b, uint64_t v); /* big-endian */
void buf_put_cstr(struct buf *b, const char *s); /* with its NUL */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A finite double in the fewest digits that read back as the same value
 * (0.1, not 0.10000000000000001), as PostgreSQL 12+ prints float8. */
void buf_put_double(struct buf *b, double d);
/* Writes a big-endian u32 at an earlier position. */
void buf_patch_u32(struct buf *b, size_t at, uint32_t v);
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Moves the contents of src to the end of dst and empties src. */
void buf_move(struct buf *dst, struct buf *src);

struct cursor {
	const uint8_t *p;
	size_t len;
	bool bad;
};

void cursor_init(struct cursor *c, const void *p, size_t len);
uint8_t cursor_u8(struct cursor *c);
uint16_t cursor_u16(struct cursor *c);
uint32_t cursor_u32(struct cursor *c);
int32_t cursor_i32(struct cursor *c);
uint64_t cursor_u64(struct cursor *c);
/* A NUL-terminated string inside the range; NULL (and bad) if none. */
const char *cursor_cstr(struct cursor *c);
/* n bytes; NULL (and bad) if fewer remain. */
const uint8_t *cursor_bytes(struct cursor *c, size_t n);

uint32_t get_u32(const uint8_t *p);
uint16_t get_u16(const uint8_t *p);

#endif
