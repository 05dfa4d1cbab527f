/*
 * sql_split.h — the lexical front of the SQL dialect: splitting a query
 * string into statements, and recognising the commands that sluice handles
 * itself rather than SQLite (transaction control, SET/SHOW, cursors).
 *
 * Pure functions over text; no SQLite, no I/O. Runs on any thread.
 */
#ifndef SL_SQL_SPLIT_H
#define SL_SQL_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sql_span {
	size_t off; /* byte offset of the statement in the query string */
	size_t len; /* length, without the terminating ';' */
};

/*
 * Splits sql[0..len) at top-level semicolons, respecting '…' strings (with ''
 * escapes), E'…' strings (with backslash escapes), "…" identifiers,
 * $tag$…$tag$ dollar quotes, -- line comments and nested block comments.
 * Statements that are empty or only white space/comments are left out;
 * leading/trailing white space is trimmed from each span. An unterminated
 * quote or comment makes the rest one statement (SQLite then reports it).
 * Returns the number of spans written (at most max); *total gets the number
 * found, which may exceed max.
 */
size_t sql_split(const char *sql, size_t len, struct sql_span *spans, size_t max, size_t *total);

/* True when the text is empty or only white space and comments. */
bool sql_is_blank(const char *sql, size_t len);

enum sql_kind {
	SQL_OTHER = 0,   /* anything else: handed to SQLite */
	SQL_BEGIN,       /* BEGIN [WORK|TRANSACTION] [modes], START TRANSACTION [modes] */
	SQL_COMMIT,      /* COMMIT [WORK|TRANSACTION] [AND NO CHAIN], END [WORK|TRANSACTION] */
	SQL_ROLLBACK,    /* ROLLBACK [WORK|TRANSACTION], ABORT */
	SQL_SAVEPOINT,   /* SAVEPOINT name */
	SQL_RELEASE,     /* RELEASE [SAVEPOINT] name */
	SQL_ROLLBACK_TO, /* ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] name */
	SQL_SET,         /* SET [SESSION|LOCAL] name {=|TO} value[, value…] | SET name TO DEFAULT
	                    | SET TIME ZONE value | SET NAMES value
	                    | SET [SESSION CHARACTERISTICS AS] TRANSACTION modes
	                    | SET SESSION AUTHORIZATION … (name = "session_authorization") */
	SQL_RESET,       /* RESET name | RESET ALL (name = "all") */
	SQL_SHOW,        /* SHOW name | SHOW ALL (name = "all") | SHOW TIME ZONE ("timezone")
	                    | SHOW TRANSACTION ISOLATION LEVEL ("transaction_isolation") */
	SQL_DECLARE,     /* DECLARE name [BINARY] [ASENSITIVE|INSENSITIVE] [[NO] SCROLL]
	                    CURSOR [{WITH|WITHOUT} HOLD] FOR query */
	SQL_FETCH,       /* FETCH [direction] [FROM|IN] name */
	SQL_MOVE,        /* MOVE [direction] [FROM|IN] name */
	SQL_CLOSE,       /* CLOSE name | CLOSE ALL (name = "all", all = true) */
	SQL_DISCARD,     /* DISCARD ALL|PLANS|SEQUENCES|TEMP */
	SQL_DEALLOCATE,  /* DEALLOCATE [PREPARE] name | DEALLOCATE ALL */
	SQL_LISTEN,      /* LISTEN/UNLISTEN/NOTIFY: accepted, no effect (name kept) */
	SQL_CHECKPOINT,  /* CHECKPOINT */
	SQL_VACUUM,      /* VACUUM [FULL|ANALYZE|VERBOSE…] [table…] → SQLite VACUUM/ANALYZE */
	SQL_VACUUM_INTO, /* SQLite's VACUUM [schema] INTO 'file': refused (it writes a file) */
	SQL_ANALYZE,     /* ANALYZE [table] */
	SQL_TRUNCATE,    /* TRUNCATE [TABLE] t1[, t2…] [RESTART IDENTITY|CASCADE…] */
	/* PostgreSQL's replication commands (replication connections only) */
	SQL_REPL_IDENTIFY,    /* IDENTIFY_SYSTEM */
	SQL_REPL_CREATE_SLOT, /* CREATE_REPLICATION_SLOT name [TEMPORARY] {LOGICAL plugin | PHYSICAL} [options] */
	SQL_REPL_DROP_SLOT,   /* DROP_REPLICATION_SLOT name [WAIT] */
	SQL_REPL_START,       /* START_REPLICATION [SLOT name] {LOGICAL | [PHYSICAL]} X/Y [options] */
	SQL_REPL_OTHER,       /* TIMELINE_HISTORY, BASE_BACKUP, READ_REPLICATION_SLOT, UPLOAD_MANIFEST */
};

#define SQL_NAME_MAX 128
#define SQL_VALUE_MAX 1024

struct sql_command {
	enum sql_kind kind;
	/* SAVEPOINT/RELEASE/ROLLBACK_TO/DECLARE/FETCH/MOVE/CLOSE/SET/RESET/SHOW/
	 * DEALLOCATE: the name, lower-cased unless it was double-quoted. */
	char name[SQL_NAME_MAX];
	/* SET: the value text with quotes removed; several values joined by ", ";
	 * "default" → is_default. SET TRANSACTION/BEGIN modes: not kept here. */
	char value[SQL_VALUE_MAX];
	bool is_default; /* SET x TO DEFAULT */
	bool is_local;   /* SET LOCAL */
	bool all;        /* CLOSE ALL, RESET ALL, SHOW ALL, DEALLOCATE ALL */
	/* BEGIN / SET TRANSACTION: READ ONLY (1), READ WRITE (0), unsaid (-1). */
	int read_only;
	/* DECLARE: query = the text after FOR (offset/len into the statement). */
	size_t query_off, query_len;
	bool binary; /* DECLARE … BINARY */
	bool hold;   /* DECLARE … WITH HOLD */
	/* FETCH/MOVE: how many rows: NEXT/FORWARD = 1, FORWARD n / n = n,
	 * ALL / FORWARD ALL = INT64_MAX. Backward directions set backward. */
	int64_t count;
	bool backward;
	/* VACUUM/ANALYZE/TRUNCATE: the table names, comma-separated. */
	char tables[SQL_VALUE_MAX];
	/* Replication commands: name is the slot (as given when quoted, else
	 * lower-cased), plugin the output plugin, lsn START's position; the
	 * options one per line, "name" or "name=value" (names lower-cased
	 * unless quoted, values unquoted); CREATE's words of old (NOEXPORT_SNAPSHOT,
	 * TWO_PHASE, …) become "snapshot=nothing", "two_phase", …. */
	char plugin[SQL_NAME_MAX];
	bool physical, temporary;
	uint64_t lsn;
	char options[SQL_VALUE_MAX];
};

/*
 * Recognises stmt[0..len) (one statement from sql_split). Keywords are
 * case-insensitive; comments and white space between tokens are allowed.
 * Returns 0, or -1 with a message in err when the statement is one of the
 * kinds above but malformed (e.g. "FETCH FORWARD x y z"); SQL_OTHER is
 * never an error.
 */
int sql_classify(const char *stmt, size_t len, struct sql_command *out, char *err, size_t errlen);

/*
 * The first keyword of a statement, lower-cased, into word (size >= 16):
 * "select", "insert", "with", …; "" when it does not begin with a word.
 */
void sql_first_word(const char *stmt, size_t len, char *word, size_t wordlen);

/* True when the statement may change the database by its first keyword
 * (INSERT, UPDATE, DELETE, REPLACE, CREATE, DROP, ALTER, UPSERT, VACUUM,
 * REINDEX, TRUNCATE, ANALYZE, PRAGMA, ATTACH, DETACH). WITH and SELECT are
 * reads by this guess; the executor checks with SQLite before running. */
bool sql_guess_write(const char *stmt, size_t len);

#endif
