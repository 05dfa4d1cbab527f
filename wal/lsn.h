/*
 * lsn.h — log sequence numbers.
 *
 * An LSN is a 64-bit byte position in the cluster's replication log. It
 * grows across epochs and never goes back. It is printed the PostgreSQL
 * way: the high and low 32 bits in upper-case hex, "X/Y" (e.g. "0/16B3F0").
 */
#ifndef SL_LSN_H
#define SL_LSN_H

#include <stddef.h>
#include <stdint.h>

#define LSN_TEXT_MAX 18 /* "FFFFFFFF/FFFFFFFF" and its NUL */

/* Writes "X/Y" into out (at least LSN_TEXT_MAX bytes); returns out. */
char *lsn_format(uint64_t lsn, char *out);
/* Parses "X/Y" (hex, either case, 1-8 digits each side); 0 or SL_EINVAL. */
int lsn_parse(const char *text, uint64_t *lsn);

#endif
