/*
 * pgtypes.h — PostgreSQL type OIDs for SQLite values, and the text and
 * binary encodings of values in results and parameters.
 *
 * SQLite storage classes map INTEGER→int8, REAL→float8, TEXT→text,
 * BLOB→bytea; a column's declared type refines that where it names a
 * PostgreSQL type (smallint→int2, int→int4, boolean→bool, …).
 */
#ifndef SL_PGTYPES_H
#define SL_PGTYPES_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define OID_BOOL 16u
#define OID_BYTEA 17u
#define OID_INT8 20u
#define OID_INT2 21u
#define OID_INT4 23u
#define OID_TEXT 25u
#define OID_OID 26u
#define OID_JSON 114u
#define OID_FLOAT4 700u
#define OID_FLOAT8 701u
#define OID_UNKNOWN 705u
#define OID_VARCHAR 1043u
#define OID_DATE 1082u
#define OID_TIMESTAMP 1114u
#define OID_TIMESTAMPTZ 1184u
#define OID_NUMERIC 1700u
#define OID_UUID 2950u

/* The OID a declared column type stands for; 0 when it names none. */
uint32_t pgtypes_from_decltype(const char *decltype);
/* The OID for a value of an SQLite storage class (SQLITE_INTEGER, …). */
uint32_t pgtypes_from_storage(int sqlite_type);
/* The typlen field of RowDescription. */
int16_t pgtypes_typlen(uint32_t oid);
const char *pgtypes_name(uint32_t oid);
/* The name PostgreSQL gives a declared column type ("int4" → "integer",
 * "varchar(10)" → "character varying") and that type's OID in *pg_oid, or
 * NULL when it names none it knows. Unlike pgtypes_from_decltype (whose
 * OID says how sluice sends values), "integer" stays PostgreSQL's int4. */
const char *pgtypes_decltype_name(const char *decltype, uint32_t *pg_oid);

/*
 * Appends column col of the current row of st to a DataRow, encoded as
 * type oid in the given format (0 text, 1 binary). Returns 0, or -1 with a
 * message and SQLSTATE in err/sqlstate when the value cannot be encoded.
 */
int pgtypes_put_column(struct buf *row, sqlite3_stmt *st, int col, uint32_t oid, int format, char *err,
		       size_t errlen, const char **sqlstate);

/* A time (microseconds since the Unix epoch) as PostgreSQL writes a
 * timestamptz in UTC: "2026-12-06 03:25:15.68731+00", the fraction's
 * trailing zeros cut (none at all on a whole second). out: 40 bytes. */
#define PGTYPES_TIME_MAX 40
void pgtypes_timestamptz_text(uint64_t us, char *out, size_t outlen);

/* Text output of a value as PostgreSQL writes it. */
void pgtypes_put_text(struct buf *out, sqlite3_value *v, uint32_t oid);

/*
 * Binds parameter idx (1-based) from its wire form. A NULL data binds NULL.
 * Returns 0, or -1 with a message and SQLSTATE.
 */
int pgtypes_bind(sqlite3_stmt *st, int idx, uint32_t oid, int format, const uint8_t *data, int32_t len, char *err,
		 size_t errlen, const char **sqlstate);

#endif
