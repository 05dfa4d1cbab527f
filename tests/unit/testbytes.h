/*
 * testbytes.h — test data for the unit tests that build byte formats by
 * hand: reproducible noise, compressible text, and big-endian integers.
 */
#ifndef SL_TESTBYTES_H
#define SL_TESTBYTES_H

#include <stddef.h>
#include <stdint.h>

/* n bytes of noise (zlib cannot shrink it), the same for the same seed. */
static inline void fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* n bytes of repeated SQL text (zlib shrinks it well). */
static inline void fill_text(uint8_t *p, size_t n)
{
	static const char words[] = "INSERT INTO kv(k, v) VALUES (42, 'hello world'); ";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[i % (sizeof(words) - 1)];
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
