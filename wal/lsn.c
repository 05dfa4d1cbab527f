/*
 * lsn.c — printing and parsing LSNs the PostgreSQL way (see lsn.h).
 *
 * "X/Y" is the high and the low 32 bits of the LSN in hex. We print upper
 * case without leading zeros; we parse either case, 1 to 8 digits on each
 * side, and nothing else (no sign, no spaces, no "0x").
 */
#include "lsn.h"

#include <stdio.h>

#include "sl_error.h"

char *lsn_format(uint64_t lsn, char *out)
{
	snprintf(out, LSN_TEXT_MAX, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xFFFFFFFFu));
	return out;
}

static int lsn_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses 1..8 hex digits at *p, stopping at the first non-digit. */
static int lsn_parse_half(const char **p, uint32_t *out)
{
	uint32_t v = 0;
	int n = 0;
	int d;
	while ((d = lsn_hex_digit(**p)) >= 0) {
		if (++n > 8)
			return SL_EINVAL;
		v = (v << 4) | (uint32_t)d;
		(*p)++;
	}
	if (n == 0)
		return SL_EINVAL;
	*out = v;
	return 0;
}

int lsn_parse(const char *text, uint64_t *lsn)
{
	const char *p = text;
	uint32_t hi, lo;
	if (!p || lsn_parse_half(&p, &hi) != 0 || *p++ != '/')
		return SL_EINVAL;
	if (lsn_parse_half(&p, &lo) != 0 || *p != '\0')
		return SL_EINVAL;
	*lsn = ((uint64_t)hi << 32) | lo;
	return 0;
}
