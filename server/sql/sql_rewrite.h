/*
 * sql_rewrite.h — turns PostgreSQL-flavoured SQL into SQL that SQLite runs,
 * for the statements drivers and people write every day.
 *
 * Pure text in, text out; no SQLite. What it rewrites, outside string
 * literals, quoted identifiers and comments:
 *   - parameters  $1, $2 …         → ?1, ?2 …
 *   - casts       expr::type       → CAST(expr AS sqlite_type), where expr is
 *                                    the operand just before :: (a literal,
 *                                    a parameter, a (possibly qualified)
 *                                    name, a function call or a parenthesised
 *                                    group); chains like x::text::int nest.
 *                 'hex'::bytea with a '\x…' literal → X'…' blob literal
 *                 type 'literal' (e.g. int8 '5', text 'a', bytea '\x01')
 *                                  → CAST('literal' AS …)
 *   - E'…' strings with backslash escapes → standard '…' strings (\n, \t,
 *                                    \\, \', \xHH, octal, \uXXXX as UTF-8)
 *   - pg_catalog.f(…) → f(…): SQLite has no schema-qualified functions
 *     (pg_catalog.table stays: it names the attached catalog)
 *   - TRUE/FALSE are kept (SQLite knows them).
 * Type names map to SQLite affinities: int, int2, int4, int8, integer,
 * smallint, bigint, serial… → INTEGER; real, float4, float8, double
 * precision, numeric(p,s), decimal → REAL (numeric/decimal → NUMERIC);
 * text, varchar(n), char(n), character varying, name, uuid, json, jsonb,
 * date, timestamp[tz], time, interval → TEXT; bytea → BLOB; bool/boolean →
 * INTEGER (and 't'/'true'/'yes'/'on'/'1' literals cast to bool become 1,
 * the false spellings 0); regclass, oid → INTEGER.
 * An array suffix ([]) or an unknown type keeps the text unchanged after
 * the ::, so SQLite reports the error.
 */
#ifndef SL_SQL_REWRITE_H
#define SL_SQL_REWRITE_H

#include <stddef.h>

/*
 * Returns a malloc'd NUL-terminated rewrite of sql[0..len), or NULL when out
 * of memory. *max_param (if not NULL) gets the highest $n seen (0 if none).
 */
char *sql_rewrite(const char *sql, size_t len, int *max_param);

/* Maps a PostgreSQL type name (as written in a cast) to the SQLite type
 * name used in CAST; NULL when unknown. */
const char *sql_rewrite_type(const char *pgtype, size_t len);

#endif
