/*
 * sqlstate.c — SQLite error → SQLSTATE (see sqlstate.h).
 *
 * First the extended result code is looked up; SQLITE_ERROR, which SQLite
 * uses for every compile-time error, is refined by the message text.
 */
#include "sqlstate.h"

#include <sqlite3.h>
#include <string.h>

struct code_map {
	int rc;
	const char *sqlstate;
};

static const struct code_map by_extended_code[] = {
	{ SQLITE_CONSTRAINT_UNIQUE, SQLSTATE_UNIQUE },
	{ SQLITE_CONSTRAINT_PRIMARYKEY, SQLSTATE_UNIQUE },
	{ SQLITE_CONSTRAINT_ROWID, SQLSTATE_UNIQUE },
	{ SQLITE_CONSTRAINT_NOTNULL, SQLSTATE_NOT_NULL },
	{ SQLITE_CONSTRAINT_FOREIGNKEY, SQLSTATE_FOREIGN_KEY },
	{ SQLITE_CONSTRAINT_CHECK, SQLSTATE_CHECK },
	{ SQLITE_CONSTRAINT_DATATYPE, SQLSTATE_DATATYPE_MISMATCH },
	{ SQLITE_BUSY_SNAPSHOT, SQLSTATE_SERIALIZATION_FAILURE },
	{ SQLITE_IOERR_NOMEM, SQLSTATE_OUT_OF_MEMORY },
};

static const struct code_map by_primary_code[] = {
	{ SQLITE_CONSTRAINT, SQLSTATE_INTEGRITY },
	{ SQLITE_READONLY, SQLSTATE_READ_ONLY_TRANSACTION },
	{ SQLITE_BUSY, SQLSTATE_SERIALIZATION_FAILURE },
	{ SQLITE_LOCKED, SQLSTATE_SERIALIZATION_FAILURE },
	{ SQLITE_INTERRUPT, SQLSTATE_QUERY_CANCELED },
	{ SQLITE_FULL, SQLSTATE_DISK_FULL },
	{ SQLITE_IOERR, SQLSTATE_IO_ERROR },
	{ SQLITE_CANTOPEN, SQLSTATE_IO_ERROR },
	{ SQLITE_NOMEM, SQLSTATE_OUT_OF_MEMORY },
	{ SQLITE_CORRUPT, SQLSTATE_DATA_CORRUPTED },
	{ SQLITE_NOTADB, SQLSTATE_DATA_CORRUPTED },
	{ SQLITE_TOOBIG, SQLSTATE_PROGRAM_LIMIT },
	{ SQLITE_MISMATCH, SQLSTATE_DATATYPE_MISMATCH },
	{ SQLITE_RANGE, SQLSTATE_UNDEFINED_PARAMETER },
	{ SQLITE_AUTH, SQLSTATE_INSUFFICIENT_PRIVILEGE },
	{ SQLITE_PERM, SQLSTATE_INSUFFICIENT_PRIVILEGE },
	{ SQLITE_SCHEMA, SQLSTATE_SERIALIZATION_FAILURE },
};

struct text_map {
	const char *fragment;
	const char *sqlstate;
};

/* For SQLITE_ERROR: the first fragment found in the message decides. */
static const struct text_map by_message[] = {
	{ "no such table", SQLSTATE_UNDEFINED_TABLE },
	{ "no such view", SQLSTATE_UNDEFINED_TABLE },
	{ "no such column", SQLSTATE_UNDEFINED_COLUMN },
	{ "has no column named", SQLSTATE_UNDEFINED_COLUMN },
	{ "no such function", SQLSTATE_UNDEFINED_FUNCTION },
	{ "wrong number of arguments to function", SQLSTATE_UNDEFINED_FUNCTION },
	{ "no such index", SQLSTATE_UNDEFINED_OBJECT },
	{ "no such savepoint", SQLSTATE_SAVEPOINT_EXCEPTION },
	{ "already exists", SQLSTATE_DUPLICATE_TABLE },
	{ "syntax error", SQLSTATE_SYNTAX_ERROR },
	{ "incomplete input", SQLSTATE_SYNTAX_ERROR },
	{ "unrecognized token", SQLSTATE_SYNTAX_ERROR },
	{ "near \"", SQLSTATE_SYNTAX_ERROR },
	{ "datatype mismatch", SQLSTATE_DATATYPE_MISMATCH },
	{ "too many", SQLSTATE_PROGRAM_LIMIT },
	{ "cannot start a transaction within a transaction", SQLSTATE_ACTIVE_SQL_TRANSACTION },
	{ "cannot commit - no transaction is active", SQLSTATE_NO_ACTIVE_SQL_TRANSACTION },
	{ "cannot rollback - no transaction is active", SQLSTATE_NO_ACTIVE_SQL_TRANSACTION },
	{ "integer overflow", SQLSTATE_NUMERIC_OUT_OF_RANGE },
	{ "interrupted", SQLSTATE_QUERY_CANCELED },
	{ "timed out waiting for LSN", SQLSTATE_QUERY_CANCELED }, /* sluice_wait_lsn */
	{ "invalid input syntax for type pg_lsn", SQLSTATE_INVALID_TEXT },
};

const char *sqlstate_from_sqlite(int extended_rc, const char *message)
{
	for (size_t i = 0; i < sizeof(by_extended_code) / sizeof(by_extended_code[0]); i++)
		if (by_extended_code[i].rc == extended_rc)
			return by_extended_code[i].sqlstate;
	int primary = extended_rc & 0xff;
	for (size_t i = 0; i < sizeof(by_primary_code) / sizeof(by_primary_code[0]); i++)
		if (by_primary_code[i].rc == primary)
			return by_primary_code[i].sqlstate;
	if (primary == SQLITE_ERROR && message) {
		for (size_t i = 0; i < sizeof(by_message) / sizeof(by_message[0]); i++)
			if (strstr(message, by_message[i].fragment))
				return by_message[i].sqlstate;
	}
	return SQLSTATE_INTERNAL;
}
