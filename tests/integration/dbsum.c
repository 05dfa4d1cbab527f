/*
 * dbsum.c — a SHA-256 over the logical content of a SQLite database, to
 * tell whether two databases hold the same thing.
 *
 *   dbsum [-v] DB_FILE
 *
 * Opens DB_FILE read-only and hashes, in this order:
 *   - every table of sqlite_schema (type 'table', not sqlite_%), by name:
 *     its name, its CREATE statement with runs of white space made one
 *     space, its columns (PRAGMA table_xinfo: name, declared type, NOT
 *     NULL, default, position in the primary key), then its rows ordered
 *     by every column, each value with its storage class;
 *   - every index, view and trigger (not sqlite_%): type, name, table and
 *     normalised SQL (NULL for the automatic indexes of UNIQUE and PRIMARY
 *     KEY constraints, which are hashed by name).
 * Rowids of tables without an INTEGER PRIMARY KEY are not content (VACUUM
 * may renumber them, and a logical copy assigns its own), so they are left
 * out. Prints the hex digest and a newline. With -v, one line per table on
 * stderr (name, rows, the table's own digest) to find where two databases
 * differ. Exit status 0, or 1 on any error.
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sqlite3 *db;
static bool verbose;

static void die(const char *what)
{
	fprintf(stderr, "dbsum: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
	fflush(stdout);
	_exit(1); /* no leak report on top of the message */
}

/* Each field: a type byte, a 64-bit length, the bytes. */
static void put(EVP_MD_CTX *h, char type, const void *p, size_t n)
{
	uint8_t hdr[9];
	uint64_t len = n;
	hdr[0] = (uint8_t)type;
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (uint8_t)(len >> (56 - 8 * i));
	if (EVP_DigestUpdate(h, hdr, sizeof(hdr)) != 1 || (n && EVP_DigestUpdate(h, p, n) != 1)) {
		fprintf(stderr, "dbsum: EVP_DigestUpdate failed\n");
		exit(1);
	}
}

static void put_str(EVP_MD_CTX *h, const char *s)
{
	if (s)
		put(h, 'S', s, strlen(s));
	else
		put(h, 'N', NULL, 0);
}

/* s with runs of white space as one space and none at either end. */
static char *normalise(const char *s)
{
	if (!s)
		return NULL;
	char *out = malloc(strlen(s) + 1), *o = out;
	if (!out) {
		fprintf(stderr, "dbsum: out of memory\n");
		exit(1);
	}
	bool space = false;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			space = o != out;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = false;
		*o++ = *s;
	}
	*o = 0;
	return out;
}

static void put_value(EVP_MD_CTX *h, sqlite3_stmt *st, int col)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_NULL:
		put(h, 'N', NULL, 0);
		break;
	case SQLITE_INTEGER: {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)sqlite3_column_int64(st, col));
		put(h, 'I', buf, (size_t)n);
		break;
	}
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, col);
		uint8_t b[8];
		uint64_t u;
		memcpy(&u, &d, sizeof(u));
		for (int i = 0; i < 8; i++)
			b[i] = (uint8_t)(u >> (56 - 8 * i));
		put(h, 'F', b, sizeof(b));
		break;
	}
	case SQLITE_TEXT: {
		const unsigned char *t = sqlite3_column_text(st, col);
		put(h, 'T', t, (size_t)sqlite3_column_bytes(st, col));
		break;
	}
	default: {
		const void *b = sqlite3_column_blob(st, col);
		put(h, 'B', b, (size_t)sqlite3_column_bytes(st, col));
		break;
	}
	}
}

static char *quote_ident(const char *name)
{
	char *q = sqlite3_mprintf("\"%w\"", name);
	if (!q)
		die("sqlite3_mprintf");
	return q;
}

static void hex(const unsigned char *md, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void hash_table(EVP_MD_CTX *all, const char *name, const char *sql)
{
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	if (!h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "dbsum: EVP_DigestInit_ex failed\n");
		exit(1);
	}
	char *norm = normalise(sql);
	put_str(h, "table");
	put_str(h, name);
	put_str(h, norm);
	free(norm);

	/* Columns, in order. */
	sqlite3_stmt *st;
	char *q = quote_ident(name);
	char *info = sqlite3_mprintf("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo(%Q) "
				     "ORDER BY cid",
				     name);
	if (sqlite3_prepare_v2(db, info, -1, &st, NULL) != SQLITE_OK)
		die(info);
	int ncols = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < 5; c++)
			put_value(h, st, c);
		ncols++;
	}
	if (rc != SQLITE_DONE)
		die(info);
	sqlite3_finalize(st);
	sqlite3_free(info);

	/* Rows, ordered by every column. */
	char *sel = sqlite3_mprintf("SELECT * FROM %s", q);
	for (int c = 1; c <= ncols; c++) {
		char *more = sqlite3_mprintf("%s%s%d", sel, c == 1 ? " ORDER BY " : ", ", c);
		sqlite3_free(sel);
		sel = more;
	}
	if (sqlite3_prepare_v2(db, sel, -1, &st, NULL) != SQLITE_OK)
		die(sel);
	int n = sqlite3_column_count(st);
	int64_t rows = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		put(h, 'R', NULL, 0);
		for (int c = 0; c < n; c++)
			put_value(h, st, c);
		rows++;
	}
	if (rc != SQLITE_DONE)
		die(sel);
	sqlite3_finalize(st);
	sqlite3_free(sel);
	sqlite3_free(q);

	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (EVP_DigestFinal_ex(h, md, &mdlen) != 1) {
		fprintf(stderr, "dbsum: EVP_DigestFinal_ex failed\n");
		exit(1);
	}
	EVP_MD_CTX_free(h);
	put(all, 'H', md, mdlen);
	if (verbose) {
		char x[2 * EVP_MAX_MD_SIZE + 1];
		hex(md, mdlen, x);
		fprintf(stderr, "table %s rows=%" PRId64 " columns=%d sha256=%s\n", name, rows, ncols, x);
	}
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			fprintf(stderr, "usage: dbsum [-v] DB_FILE\n");
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "usage: dbsum [-v] DB_FILE\n");
		return 2;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die(path);
	sqlite3_busy_timeout(db, 10000);

	EVP_MD_CTX *all = EVP_MD_CTX_new();
	if (!all || EVP_DigestInit_ex(all, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "dbsum: EVP_DigestInit_ex failed\n");
		return 1;
	}
	/* One read transaction for a consistent view. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		die("BEGIN");

	sqlite3_stmt *st;
	const char *tables = "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' "
			     "ESCAPE '!' ORDER BY name";
	if (sqlite3_prepare_v2(db, tables, -1, &st, NULL) != SQLITE_OK)
		die(tables);
	int rc;
	int ntables = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *name = strdup((const char *)sqlite3_column_text(st, 0));
		const unsigned char *sql = sqlite3_column_text(st, 1);
		char *sqlcopy = sql ? strdup((const char *)sql) : NULL;
		hash_table(all, name, sqlcopy);
		free(name);
		free(sqlcopy);
		ntables++;
	}
	if (rc != SQLITE_DONE)
		die(tables);
	sqlite3_finalize(st);

	const char *others = "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type <> 'table' "
			     "AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY type, name";
	if (sqlite3_prepare_v2(db, others, -1, &st, NULL) != SQLITE_OK)
		die(others);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		put(all, 'O', NULL, 0);
		for (int c = 0; c < 3; c++)
			put_str(all, (const char *)sqlite3_column_text(st, c));
		char *norm = normalise((const char *)sqlite3_column_text(st, 3));
		put_str(all, norm);
		if (verbose)
			fprintf(stderr, "%s %s on %s\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
				sqlite3_column_text(st, 2));
		free(norm);
	}
	if (rc != SQLITE_DONE)
		die(others);
	sqlite3_finalize(st);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (EVP_DigestFinal_ex(all, md, &mdlen) != 1) {
		fprintf(stderr, "dbsum: EVP_DigestFinal_ex failed\n");
		return 1;
	}
	EVP_MD_CTX_free(all);
	char x[2 * EVP_MAX_MD_SIZE + 1];
	hex(md, mdlen, x);
	printf("%s\n", x);
	if (verbose)
		fprintf(stderr, "%d tables\n", ntables);
	if (sqlite3_close(db) != SQLITE_OK)
		die("close");
	return 0;
}
