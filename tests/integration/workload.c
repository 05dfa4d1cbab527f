/*
 * workload.c — a seeded random SQL workload for sluiced, through libpq.
 *
 *   workload CONNINFO SEED NTXN [--prefix NAME] [--logical] [--no-vacuum]
 *                               [--no-ddl] [-v]
 *
 * Creates four tables (names NAME_t0..NAME_t3, NAME defaulting to "w" and
 * the seed), each with a PRIMARY KEY of a different shape: INTEGER PRIMARY
 * KEY, TEXT PRIMARY KEY, a composite key, and a WITHOUT ROWID table; then
 * runs NTXN random transactions on them:
 *   - single statements in autocommit, and explicit BEGIN ... COMMIT blocks;
 *     sometimes BEGIN ... ROLLBACK, and multi-statement query strings (one
 *     implicit block);
 *   - inserts (one row and multi-row), updates (by key, by range, and of the
 *     primary key itself), deletes, upserts (ON CONFLICT DO UPDATE and
 *     REPLACE), reads;
 *   - SAVEPOINT then RELEASE or ROLLBACK TO, with a deliberate unique
 *     violation inside a savepoint now and then (checked: it must fail with
 *     23505, and the block goes on after ROLLBACK TO);
 *   - large transactions: hundreds of rows with 2-8 KB blobs, so that SQLite
 *     spills its page cache into the WAL before the commit;
 *   - DDL now and then: CREATE TABLE, CREATE INDEX, DROP INDEX, ALTER TABLE
 *     ADD COLUMN, DROP TABLE (only of tables it created), in and out of
 *     blocks and savepoints;
 *   - VACUUM now and then (outside a block).
 * --logical says the server's log_mode is logical or both: there an ALTER
 * TABLE ADD COLUMN with a non-NULL DEFAULT is refused with 55000 (SQLite
 * 3.40's session extension records such a column's old values wrongly), so
 * the workload expects that error (in a savepoint inside a block) and adds
 * the column without its DEFAULT.
 *
 * Everything is decided by the seed (its own PRNG), before the statements
 * run: the generator keeps a model of the schema and of the keys in use, not
 * the data. So for a seed the statements are always the same; only their
 * interleaving with another client differs. Two clients with different
 * prefixes touch disjoint tables.
 *
 * Every row carries its key number in column i, and the row with i = 0 of
 * each table is never deleted nor re-keyed: inserting it again is the
 * deliberate unique violation. A block whose first write fails with 40001
 * (another client committed since its snapshot began) is rolled back and run
 * again, the same statements, a bounded number of times.
 *
 * Prints one summary line and exits 0; any unexpected error, a missing
 * expected error or a lost connection prints the statement and exits 1.
 * Exit status 2 is a wrong command line.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TABLES 24
#define MAX_INDEXES 32
#define MAX_EXTRA 3
#define MAX_SAVEPOINT_DEPTH 3
#define MAX_RETRIES 200
#define NBASE 4

#define OID_BYTEA 17

/* ------------------------------------------------------------ PRNG */

static uint64_t rng_state;

/* splitmix64: small, good enough, and the same everywhere. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t rnd_range(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static bool chance(int percent)
{
	return (int)(rnd() % 100) < percent;
}

/* ------------------------------------------------------------ strings */

struct sb {
	char *p;
	size_t len, cap;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("workload: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1); /* no leak report on top of the message: nothing is freed here */
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void sb_printf(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *s, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		size_t room = s->cap - s->len;
		va_start(ap, fmt);
		int n = vsnprintf(s->p ? s->p + s->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf failed");
		if ((size_t)n < room) {
			s->len += (size_t)n;
			return;
		}
		size_t cap = s->cap ? s->cap * 2 : 256;
		while (cap - s->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(s->p, cap);
		if (!p)
			die("out of memory");
		s->p = p;
		s->cap = cap;
	}
}

/* Takes the string out of s (s is empty again). */
static char *sb_take(struct sb *s)
{
	char *p = s->p;
	if (!p) {
		p = xmalloc(1);
		p[0] = 0;
	}
	memset(s, 0, sizeof(*s));
	return p;
}

/* ------------------------------------------------------------ model */

enum kind { K_INTPK, K_TEXTPK, K_COMPOSITE, K_NOROWID, K_NKINDS };

struct table {
	bool exists;
	enum kind kind;
	int id;                /* the name is PREFIX_tID */
	int nextra;            /* columns x0.. added by ALTER TABLE */
	char xtype[MAX_EXTRA]; /* 'i' integer, 't' text, 'r' real, 'b' blob */
	int64_t next_key;      /* keys 1..next_key-1 may exist; 0 always does */
};

struct index {
	bool exists;
	int table;
	int id;
};

struct model {
	struct table t[MAX_TABLES];
	struct index ix[MAX_INDEXES];
	int next_id;
	int next_savepoint;
};

static struct model m;
static const char *prefix;
static bool no_vacuum, no_ddl, logical, verbose;

static const char *tname(int ti)
{
	static char buf[4][64];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s_t%d", prefix, m.t[ti].id);
	return buf[k];
}

/* A random existing table. */
static int pick_table(void)
{
	int n = 0, cand[MAX_TABLES];
	for (int i = 0; i < MAX_TABLES; i++)
		if (m.t[i].exists)
			cand[n++] = i;
	if (n == 0)
		die("no table left (model bug)");
	return cand[rnd() % (uint64_t)n];
}

/* A key that may exist (never the sentinel 0). */
static int64_t pick_key(int ti)
{
	int64_t nk = m.t[ti].next_key;
	if (nk <= 1) {
		m.t[ti].next_key = 2; /* key 1 may exist from now on */
		return 1;
	}
	/* Mostly recent keys, which are more likely to still exist. */
	if (chance(60) && nk > 40)
		return rnd_range(nk - 40, nk - 1);
	return rnd_range(1, nk - 1);
}

static const char *pk_columns(enum kind k)
{
	switch (k) {
	case K_INTPK:
		return "id";
	case K_TEXTPK:
		return "k";
	case K_COMPOSITE:
		return "g, k";
	default:
		return "id, k";
	}
}

/* The key columns' values for key number i, as SQL literals. */
static void key_values(struct sb *s, enum kind k, int64_t i)
{
	switch (k) {
	case K_INTPK:
		sb_printf(s, "%" PRId64, i);
		break;
	case K_TEXTPK:
		sb_printf(s, "'k%010" PRId64 "'", i);
		break;
	case K_COMPOSITE:
		sb_printf(s, "%" PRId64 ", 'c%" PRId64 "'", i % 7, i);
		break;
	default:
		sb_printf(s, "%" PRId64 ", 'w%" PRId64 "'", i, i % 5);
		break;
	}
}

/* The same as SQL expressions of the integer expression e. */
static void key_exprs(struct sb *s, enum kind k, const char *e)
{
	switch (k) {
	case K_INTPK:
		sb_printf(s, "%s", e);
		break;
	case K_TEXTPK:
		sb_printf(s, "printf('k%%010d', %s)", e);
		break;
	case K_COMPOSITE:
		sb_printf(s, "(%s) %% 7, 'c' || (%s)", e, e);
		break;
	default:
		sb_printf(s, "%s, 'w' || ((%s) %% 5)", e, e);
		break;
	}
}

/* "col = value AND ..." selecting key number i, by the key or by i. */
static void key_where(struct sb *s, enum kind k, int64_t i)
{
	if (chance(30)) {
		sb_printf(s, "i = %" PRId64, i);
		return;
	}
	switch (k) {
	case K_INTPK:
		sb_printf(s, "id = %" PRId64, i);
		break;
	case K_TEXTPK:
		sb_printf(s, "k = 'k%010" PRId64 "'", i);
		break;
	case K_COMPOSITE:
		sb_printf(s, "g = %" PRId64 " AND k = 'c%" PRId64 "'", i % 7, i);
		break;
	default:
		sb_printf(s, "id = %" PRId64 " AND k = 'w%" PRId64 "'", i, i % 5);
		break;
	}
}

/* "col = value, ..." setting the key of a row to key number i. */
static void key_assign(struct sb *s, enum kind k, int64_t i)
{
	switch (k) {
	case K_INTPK:
		sb_printf(s, "id = %" PRId64, i);
		break;
	case K_TEXTPK:
		sb_printf(s, "k = 'k%010" PRId64 "'", i);
		break;
	case K_COMPOSITE:
		sb_printf(s, "g = %" PRId64 ", k = 'c%" PRId64 "'", i % 7, i);
		break;
	default:
		sb_printf(s, "id = %" PRId64 ", k = 'w%" PRId64 "'", i, i % 5);
		break;
	}
	sb_printf(s, ", i = %" PRId64, i);
}

static void create_table_sql(struct sb *s, int ti)
{
	const char *n = tname(ti);
	switch (m.t[ti].kind) {
	case K_INTPK:
		sb_printf(s, "CREATE TABLE %s (id INTEGER PRIMARY KEY, i INTEGER NOT NULL, n INTEGER, r REAL, s TEXT, b BLOB)",
			  n);
		break;
	case K_TEXTPK:
		sb_printf(s, "CREATE TABLE %s (k TEXT PRIMARY KEY, i INTEGER NOT NULL, n INTEGER, r REAL, s TEXT, b BLOB)",
			  n);
		break;
	case K_COMPOSITE:
		sb_printf(s,
			  "CREATE TABLE %s (g INTEGER NOT NULL, k TEXT NOT NULL, i INTEGER NOT NULL, n INTEGER, r REAL, "
			  "s TEXT, b BLOB, PRIMARY KEY (g, k))",
			  n);
		break;
	default:
		sb_printf(s,
			  "CREATE TABLE %s (id INTEGER NOT NULL, k TEXT NOT NULL, i INTEGER NOT NULL, n INTEGER, r REAL, "
			  "s TEXT, b BLOB, PRIMARY KEY (id, k)) WITHOUT ROWID",
			  n);
		break;
	}
}

/* ------------------------------------------------------------ values */

static void v_int(struct sb *s)
{
	if (chance(8)) {
		sb_printf(s, "NULL");
		return;
	}
	switch (rnd() % 6) {
	case 0:
		sb_printf(s, "%" PRId64, (int64_t)rnd()); /* any 64-bit value */
		break;
	case 1:
		sb_printf(s, "%" PRId64, -(int64_t)(rnd() % 1000));
		break;
	default:
		sb_printf(s, "%" PRId64, (int64_t)(rnd() % 100000));
		break;
	}
}

static void v_real(struct sb *s)
{
	if (chance(8)) {
		sb_printf(s, "NULL");
		return;
	}
	/* Exact binary fractions print and parse back to the same double. */
	sb_printf(s, "%.17g", (double)rnd_range(-1000000, 1000000) / 64.0);
}

static void v_text(struct sb *s)
{
	static const char *const pieces[] = { "a",  "b",   "zz",  " ",     "O''Brien", "é",    "日本", "\\",
					      "%",  "_",   "--",  "x;y",   "line",     "tab\t", "0",    "NULL",
					      "ü",  "\"q\"", "end", "-1.5e3" };
	if (chance(8)) {
		sb_printf(s, "NULL");
		return;
	}
	int n = (int)rnd_range(0, 12);
	sb_printf(s, "'");
	for (int i = 0; i < n; i++)
		sb_printf(s, "%s", pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))]);
	sb_printf(s, "'");
}

static void v_blob(struct sb *s, int maxlen)
{
	if (chance(15)) {
		sb_printf(s, "NULL");
		return;
	}
	int n = (int)rnd_range(0, maxlen);
	sb_printf(s, "X'");
	for (int i = 0; i < n; i++)
		sb_printf(s, "%02x", (unsigned)(rnd() & 0xff));
	sb_printf(s, "'");
}

static void v_extra(struct sb *s, char type)
{
	switch (type) {
	case 'i':
		v_int(s);
		break;
	case 'r':
		v_real(s);
		break;
	case 'b':
		v_blob(s, 16);
		break;
	default:
		v_text(s);
		break;
	}
}

/* "(key..., i, n, r, s, b[, x0...])" */
static void insert_columns(struct sb *s, int ti)
{
	sb_printf(s, "(%s, i, n, r, s, b", pk_columns(m.t[ti].kind));
	for (int x = 0; x < m.t[ti].nextra; x++)
		sb_printf(s, ", x%d", x);
	sb_printf(s, ")");
}

static void row_values(struct sb *s, int ti, int64_t key)
{
	sb_printf(s, "(");
	key_values(s, m.t[ti].kind, key);
	sb_printf(s, ", %" PRId64 ", ", key);
	v_int(s);
	sb_printf(s, ", ");
	v_real(s);
	sb_printf(s, ", ");
	v_text(s);
	sb_printf(s, ", ");
	v_blob(s, 64);
	for (int x = 0; x < m.t[ti].nextra; x++) {
		sb_printf(s, ", ");
		v_extra(s, m.t[ti].xtype[x]);
	}
	sb_printf(s, ")");
}

/* ------------------------------------------------------------ steps */

struct step {
	char *sql;
	unsigned char *blob; /* one bytea parameter ($1), binary, when set */
	int bloblen;
	const char *expect_state; /* must fail with this SQLSTATE */
	const char *expect_tag;   /* must succeed with this command tag */
};

struct txn {
	struct step *steps;
	int n, cap;
	bool block; /* explicit block: may be retried after 40001 */
	const char *what;
};

static void add_step(struct txn *t, char *sql, const char *expect_state)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->steps = realloc(t->steps, (size_t)t->cap * sizeof(*t->steps));
		if (!t->steps)
			die("out of memory");
	}
	t->steps[t->n++] = (struct step){ .sql = sql, .expect_state = expect_state };
}

static void add_sql(struct txn *t, const char *sql)
{
	add_step(t, strdup(sql), NULL);
}

static void txn_free(struct txn *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->steps[i].sql);
		free(t->steps[i].blob);
	}
	free(t->steps);
	memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------ generators */

static char *gen_insert(int ti, int nrows)
{
	struct sb s = { 0 };
	sb_printf(&s, "INSERT INTO %s ", tname(ti));
	insert_columns(&s, ti);
	sb_printf(&s, " VALUES ");
	for (int r = 0; r < nrows; r++) {
		if (r)
			sb_printf(&s, ", ");
		row_values(&s, ti, m.t[ti].next_key++);
	}
	return sb_take(&s);
}

static char *gen_update(int ti)
{
	struct sb s = { 0 };
	struct table *t = &m.t[ti];
	sb_printf(&s, "UPDATE %s SET ", tname(ti));
	switch (rnd() % 5) {
	case 0: { /* move a row to a new key (never the sentinel) */
		int64_t from = pick_key(ti);
		key_assign(&s, t->kind, t->next_key++);
		sb_printf(&s, " WHERE ");
		key_where(&s, t->kind, from);
		return sb_take(&s);
	}
	case 1:
		sb_printf(&s, "n = n + 1, s = ");
		v_text(&s);
		break;
	case 2:
		sb_printf(&s, "r = r * 2, b = ");
		v_blob(&s, 48);
		break;
	case 3:
		sb_printf(&s, "s = coalesce(s, '') || 'u', n = ");
		v_int(&s);
		break;
	default:
		if (t->nextra > 0) {
			int x = (int)(rnd() % (uint64_t)t->nextra);
			sb_printf(&s, "x%d = ", x);
			v_extra(&s, t->xtype[x]);
		} else {
			sb_printf(&s, "n = NULL");
		}
		break;
	}
	if (chance(35)) {
		int64_t a = pick_key(ti);
		sb_printf(&s, " WHERE i BETWEEN %" PRId64 " AND %" PRId64, a, a + rnd_range(0, 30));
	} else {
		sb_printf(&s, " WHERE ");
		key_where(&s, t->kind, pick_key(ti));
	}
	return sb_take(&s);
}

static char *gen_delete(int ti)
{
	struct sb s = { 0 };
	sb_printf(&s, "DELETE FROM %s WHERE ", tname(ti));
	if (chance(30)) {
		int64_t a = pick_key(ti);
		sb_printf(&s, "i BETWEEN %" PRId64 " AND %" PRId64 " AND i > 0", a, a + rnd_range(0, 20));
	} else if (chance(10)) {
		sb_printf(&s, "i > 0 AND n %% 3 = 0");
	} else {
		key_where(&s, m.t[ti].kind, pick_key(ti));
	}
	return sb_take(&s);
}

static char *gen_upsert(int ti)
{
	struct sb s = { 0 };
	int64_t key = chance(50) ? pick_key(ti) : m.t[ti].next_key++;
	if (chance(30)) {
		sb_printf(&s, "REPLACE INTO %s ", tname(ti));
		insert_columns(&s, ti);
		sb_printf(&s, " VALUES ");
		row_values(&s, ti, key);
		return sb_take(&s);
	}
	sb_printf(&s, "INSERT INTO %s ", tname(ti));
	insert_columns(&s, ti);
	sb_printf(&s, " VALUES ");
	row_values(&s, ti, key);
	sb_printf(&s, " ON CONFLICT (%s) DO ", pk_columns(m.t[ti].kind));
	if (chance(20))
		sb_printf(&s, "NOTHING");
	else
		sb_printf(&s, "UPDATE SET n = excluded.n, s = coalesce(%s.s, '') || coalesce(excluded.s, '')",
			  tname(ti));
	return sb_take(&s);
}

static char *gen_select(int ti)
{
	struct sb s = { 0 };
	if (chance(50))
		sb_printf(&s, "SELECT count(*), total(n), max(i) FROM %s", tname(ti));
	else
		sb_printf(&s, "SELECT * FROM %s WHERE i BETWEEN %" PRId64 " AND %" PRId64, tname(ti), pick_key(ti),
			  pick_key(ti) + 5);
	return sb_take(&s);
}

/* The sentinel again: a unique violation, on purpose. */
static char *gen_duplicate(int ti)
{
	struct sb s = { 0 };
	sb_printf(&s, "INSERT INTO %s ", tname(ti));
	insert_columns(&s, ti);
	sb_printf(&s, " VALUES ");
	row_values(&s, ti, 0);
	return sb_take(&s);
}

static int free_table_slot(void)
{
	for (int i = NBASE; i < MAX_TABLES; i++)
		if (!m.t[i].exists)
			return i;
	return -1;
}

static int free_index_slot(void)
{
	for (int i = 0; i < MAX_INDEXES; i++)
		if (!m.ix[i].exists)
			return i;
	return -1;
}

static void gen_create_table(struct txn *t, int slot, enum kind kind)
{
	struct sb s = { 0 };
	m.t[slot] = (struct table){ .exists = true, .kind = kind, .id = m.next_id++, .next_key = 1 };
	create_table_sql(&s, slot);
	add_step(t, sb_take(&s), NULL);
	sb_printf(&s, "INSERT INTO %s ", tname(slot));
	insert_columns(&s, slot);
	sb_printf(&s, " VALUES ");
	row_values(&s, slot, 0);
	add_step(t, sb_take(&s), NULL);
}

/* One DDL statement (and the sentinel row of a new table). */
static void gen_ddl(struct txn *t, bool in_block)
{
	struct sb s = { 0 };
	int choice = (int)(rnd() % 6);
	int slot;
	if (choice == 0 && (slot = free_table_slot()) >= 0) {
		gen_create_table(t, slot, (enum kind)(rnd() % K_NKINDS));
		return;
	}
	if (choice == 1) { /* DROP TABLE of one it created (not a base table) */
		for (int i = NBASE; i < MAX_TABLES; i++) {
			if (!m.t[i].exists)
				continue;
			sb_printf(&s, "DROP TABLE %s", tname(i));
			add_step(t, sb_take(&s), NULL);
			m.t[i].exists = false;
			for (int x = 0; x < MAX_INDEXES; x++)
				if (m.ix[x].exists && m.ix[x].table == i)
					m.ix[x].exists = false;
			return;
		}
	}
	if (choice == 2) {
		int ti = pick_table();
		if (m.t[ti].nextra < MAX_EXTRA) {
			static const char types[] = "itrb";
			char type = types[rnd() % 4];
			int x = m.t[ti].nextra;
			const char *decl, *dflt = "";
			switch (type) {
			case 'i':
				decl = "INTEGER";
				dflt = chance(50) ? " DEFAULT 7" : "";
				break;
			case 'r':
				decl = "REAL";
				dflt = chance(70) ? " DEFAULT 1.5" : " DEFAULT NULL";
				break;
			case 'b':
				decl = "BLOB";
				dflt = chance(30) ? " DEFAULT NULL" : "";
				break;
			default:
				decl = "TEXT";
				dflt = chance(50) ? " DEFAULT 'dflt'" : "";
				break;
			}
			if (logical && *dflt && strcmp(dflt, " DEFAULT NULL") != 0) {
				/*
				 * Refused in logical mode (55000); in a block, inside a
				 * savepoint so that the block goes on. Then the column
				 * is added without its DEFAULT.
				 */
				char sp[64];
				int n = m.next_savepoint++;
				if (in_block) {
					snprintf(sp, sizeof(sp), "SAVEPOINT sp%d", n);
					add_sql(t, sp);
				}
				sb_printf(&s, "ALTER TABLE %s ADD COLUMN x%d %s%s", tname(ti), x, decl, dflt);
				add_step(t, sb_take(&s), "55000");
				if (in_block) {
					snprintf(sp, sizeof(sp), "ROLLBACK TO SAVEPOINT sp%d", n);
					add_sql(t, sp);
					snprintf(sp, sizeof(sp), "RELEASE SAVEPOINT sp%d", n);
					add_sql(t, sp);
				}
				dflt = "";
			}
			sb_printf(&s, "ALTER TABLE %s ADD COLUMN x%d %s%s", tname(ti), x, decl, dflt);
			add_step(t, sb_take(&s), NULL);
			m.t[ti].xtype[x] = type;
			m.t[ti].nextra++;
			return;
		}
	}
	if (choice == 3) { /* DROP INDEX */
		for (int x = 0; x < MAX_INDEXES; x++) {
			if (!m.ix[x].exists)
				continue;
			sb_printf(&s, "DROP INDEX %s_ix%d", prefix, m.ix[x].id);
			add_step(t, sb_take(&s), NULL);
			m.ix[x].exists = false;
			return;
		}
	}
	/* CREATE INDEX */
	int x = free_index_slot();
	if (x < 0) {
		add_sql(t, "SELECT 1");
		return;
	}
	int ti = pick_table();
	m.ix[x] = (struct index){ .exists = true, .table = ti, .id = m.next_id++ };
	sb_printf(&s, "CREATE INDEX %s_ix%d ON %s ", prefix, m.ix[x].id, tname(ti));
	switch (rnd() % 4) {
	case 0:
		sb_printf(&s, "(n)");
		break;
	case 1:
		sb_printf(&s, "(s, n)");
		break;
	case 2:
		sb_printf(&s, "(lower(s))");
		break;
	default:
		sb_printf(&s, "(r) WHERE n > 0");
		break;
	}
	add_step(t, sb_take(&s), NULL);
}

/* One random DML statement (or a read). */
static void gen_dml(struct txn *t)
{
	int ti = pick_table();
	int r = (int)(rnd() % 100);
	if (r < 25)
		add_step(t, gen_insert(ti, 1), NULL);
	else if (r < 35)
		add_step(t, gen_insert(ti, (int)rnd_range(2, 25)), NULL);
	else if (r < 55)
		add_step(t, gen_update(ti), NULL);
	else if (r < 68)
		add_step(t, gen_delete(ti), NULL);
	else if (r < 85)
		add_step(t, gen_upsert(ti), NULL);
	else
		add_step(t, gen_select(ti), NULL);
}

/* Statements of a block body, savepoints included. */
static void gen_body(struct txn *t, int nops, int depth, bool allow_ddl)
{
	for (int k = 0; k < nops; k++) {
		if (depth < MAX_SAVEPOINT_DEPTH && chance(12)) {
			/* SAVEPOINT; some work; RELEASE or ROLLBACK TO */
			struct model saved = m;
			int sp = m.next_savepoint++;
			char buf[64];
			snprintf(buf, sizeof(buf), "SAVEPOINT sp%d", sp);
			add_sql(t, buf);
			gen_body(t, (int)rnd_range(1, 4), depth + 1, allow_ddl);
			if (chance(30)) {
				add_step(t, gen_duplicate(pick_table()), "23505");
				snprintf(buf, sizeof(buf), "ROLLBACK TO SAVEPOINT sp%d", sp);
				add_sql(t, buf);
				m = saved;
				m.next_savepoint = sp + 1;
				if (chance(50))
					gen_body(t, 1, depth + 1, allow_ddl);
			} else if (chance(40)) {
				snprintf(buf, sizeof(buf), "ROLLBACK TO sp%d", sp);
				add_sql(t, buf);
				m = saved;
				m.next_savepoint = sp + 1;
			}
			if (chance(60)) {
				snprintf(buf, sizeof(buf), "RELEASE SAVEPOINT sp%d", sp);
				add_sql(t, buf);
			}
			continue;
		}
		if (allow_ddl && !no_ddl && chance(4))
			gen_ddl(t, true);
		else
			gen_dml(t);
	}
}

/* Hundreds of rows with 2-8 KB blobs in one block. */
static void gen_big(struct txn *t)
{
	int ti = pick_table();
	int nrows = (int)rnd_range(200, 600);
	struct sb s = { 0 };
	t->block = true;
	t->what = "big";
	add_sql(t, "BEGIN");
	if (chance(50)) {
		sb_printf(&s, "DELETE FROM %s WHERE i > 0 AND length(b) > 1024", tname(ti));
		add_step(t, sb_take(&s), NULL);
	}
	if (chance(25)) {
		/* One statement making all the rows. */
		char e[64];
		int64_t base = m.t[ti].next_key;
		m.t[ti].next_key += nrows;
		snprintf(e, sizeof(e), "%" PRId64 " + x", base);
		sb_printf(&s, "WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < %d) "
			      "INSERT INTO %s (%s, i, n, s, b) SELECT ",
			  nrows - 1, tname(ti), pk_columns(m.t[ti].kind));
		key_exprs(&s, m.t[ti].kind, e);
		sb_printf(&s,
			  ", %s, x * 3, 'big' || x, CAST(substr(replace(hex(zeroblob(2048 + (x * 7919) %% 6144)), "
			  "'00', char(65 + x %% 26) || 'z'), 1, 2048 + (x * 7919) %% 6144) AS BLOB) FROM c",
			  e);
		add_step(t, sb_take(&s), NULL);
	} else {
		for (int r = 0; r < nrows; r++) {
			int64_t key = m.t[ti].next_key++;
			sb_printf(&s, "INSERT INTO %s (%s, i, n, s, b) VALUES (", tname(ti), pk_columns(m.t[ti].kind));
			key_values(&s, m.t[ti].kind, key);
			sb_printf(&s, ", %" PRId64 ", %d, 'big', $1)", key, r);
			add_step(t, sb_take(&s), NULL);
			struct step *st = &t->steps[t->n - 1];
			st->bloblen = (int)rnd_range(2048, 8192);
			st->blob = xmalloc((size_t)st->bloblen);
			for (int i = 0; i < st->bloblen; i++)
				st->blob[i] = (unsigned char)rnd();
		}
	}
	if (chance(40)) {
		sb_printf(&s, "UPDATE %s SET b = substr(b, 1, 100) WHERE i > 0 AND i %% 10 = 3 AND length(b) > 1024",
			  tname(ti));
		add_step(t, sb_take(&s), NULL);
	}
	add_sql(t, "COMMIT");
}

static void gen_txn(struct txn *t)
{
	int r = (int)(rnd() % 100);
	memset(t, 0, sizeof(*t));
	if (r < 30) { /* autocommit statements */
		t->what = "autocommit";
		int n = (int)rnd_range(1, 4);
		for (int k = 0; k < n; k++) {
			if (chance(5))
				add_step(t, gen_duplicate(pick_table()), "23505");
			else
				gen_dml(t);
		}
	} else if (r < 70) { /* BEGIN ... COMMIT */
		t->what = "block";
		t->block = true;
		add_sql(t, chance(20) ? "START TRANSACTION" : "BEGIN");
		gen_body(t, (int)rnd_range(1, 10), 0, true);
		add_sql(t, chance(10) ? "END" : "COMMIT");
	} else if (r < 76) { /* BEGIN ... ROLLBACK, or a failed block */
		struct model saved = m;
		t->what = "rollback";
		t->block = true;
		add_sql(t, "BEGIN");
		gen_body(t, (int)rnd_range(1, 6), 0, true);
		if (chance(40)) {
			add_step(t, gen_duplicate(pick_table()), "23505");
			add_step(t, gen_insert(pick_table(), 1), "25P02");
			add_sql(t, "COMMIT");
			t->steps[t->n - 1].expect_tag = "ROLLBACK";
		} else {
			add_sql(t, "ROLLBACK");
		}
		m = saved;
	} else if (r < 86) { /* several statements in one query string */
		struct sb s = { 0 };
		t->what = "multi";
		int n = (int)rnd_range(2, 5);
		for (int k = 0; k < n; k++) {
			char *one;
			int ti = pick_table();
			switch (rnd() % 4) {
			case 0:
				one = gen_insert(ti, (int)rnd_range(1, 5));
				break;
			case 1:
				one = gen_update(ti);
				break;
			case 2:
				one = gen_delete(ti);
				break;
			default:
				one = gen_upsert(ti);
				break;
			}
			sb_printf(&s, "%s%s", k ? "; " : "", one);
			free(one);
		}
		add_step(t, sb_take(&s), NULL);
	} else if (r < 91) {
		gen_big(t);
	} else if (r < 96 && !no_ddl) { /* DDL in autocommit */
		t->what = "ddl";
		gen_ddl(t, false);
	} else if (r < 98 && !no_vacuum) {
		t->what = "vacuum";
		add_sql(t, "VACUUM");
	} else {
		t->what = "read";
		add_step(t, gen_select(pick_table()), NULL);
	}
}

/* ------------------------------------------------------------ running */

enum outcome { RUN_OK, RUN_RETRY };

static long n_statements, n_expected_errors, n_retries, n_rows_written;

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static const char *short_sql(const char *sql)
{
	static char buf[300];
	size_t n = strlen(sql);
	if (n < sizeof(buf))
		return sql;
	snprintf(buf, sizeof(buf), "%.200s ... (%zu bytes)", sql, n);
	return buf;
}

static enum outcome run_step(PGconn *c, const struct step *st, bool block, long txn_no)
{
	PGresult *res;
	if (st->blob) {
		const Oid types[1] = { OID_BYTEA };
		const char *vals[1] = { (const char *)st->blob };
		const int lens[1] = { st->bloblen };
		const int fmts[1] = { 1 };
		res = PQexecParams(c, st->sql, 1, types, vals, lens, fmts, 0);
	} else {
		res = PQexec(c, st->sql);
	}
	n_statements++;
	ExecStatusType es = PQresultStatus(res);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQstatus(c) != CONNECTION_OK)
		die("transaction %ld: connection lost at '%s': %s", txn_no, short_sql(st->sql), PQerrorMessage(c));
	if (es == PGRES_FATAL_ERROR) {
		if (st->expect_state && state && strcmp(state, st->expect_state) == 0) {
			n_expected_errors++;
			PQclear(res);
			return RUN_OK;
		}
		if (block && state && strcmp(state, "40001") == 0) {
			PQclear(res);
			return RUN_RETRY;
		}
		die("transaction %ld: '%s' failed: %s %s", txn_no, short_sql(st->sql), state ? state : "?",
		    PQresultErrorMessage(res));
	}
	if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK)
		die("transaction %ld: '%s': unexpected result %s %s", txn_no, short_sql(st->sql), PQresStatus(es),
		    PQresultErrorMessage(res));
	if (st->expect_state)
		die("transaction %ld: '%s' succeeded, want SQLSTATE %s", txn_no, short_sql(st->sql), st->expect_state);
	if (st->expect_tag && strcmp(PQcmdStatus(res), st->expect_tag) != 0)
		die("transaction %ld: '%s': command tag '%s', want '%s'", txn_no, short_sql(st->sql), PQcmdStatus(res),
		    st->expect_tag);
	const char *tuples = PQcmdTuples(res);
	if (tuples && *tuples && strncmp(PQcmdStatus(res), "SELECT", 6) != 0)
		n_rows_written += atol(tuples);
	PQclear(res);
	return RUN_OK;
}

static void run_txn(PGconn *c, const struct txn *t, long txn_no)
{
	for (int attempt = 0;; attempt++) {
		int k;
		for (k = 0; k < t->n; k++)
			if (run_step(c, &t->steps[k], t->block, txn_no) == RUN_RETRY)
				break;
		if (k == t->n)
			return;
		if (attempt >= MAX_RETRIES)
			die("transaction %ld: still 40001 after %d attempts", txn_no, attempt + 1);
		n_retries++;
		PGresult *res = PQexec(c, "ROLLBACK");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			die("transaction %ld: ROLLBACK after 40001 failed: %s", txn_no, PQresultErrorMessage(res));
		PQclear(res);
		sleep_ms(1 + (attempt % 20));
	}
}

static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void usage(void)
{
	fprintf(stderr, "usage: workload CONNINFO SEED NTXN [--prefix NAME] [--logical] [--no-vacuum] [--no-ddl] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *pos[3];
	int npos = 0;
	char defprefix[32];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
			prefix = argv[++i];
		else if (strcmp(argv[i], "--no-vacuum") == 0)
			no_vacuum = true;
		else if (strcmp(argv[i], "--no-ddl") == 0)
			no_ddl = true;
		else if (strcmp(argv[i], "--logical") == 0)
			logical = true;
		else if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			usage();
		else if (npos < 3)
			pos[npos++] = argv[i];
		else
			usage();
	}
	if (npos != 3)
		usage();
	char *end;
	uint64_t seed = strtoull(pos[1], &end, 10);
	long ntxn = strtol(pos[2], NULL, 10);
	if (*end || ntxn < 0)
		usage();
	if (!prefix) {
		snprintf(defprefix, sizeof(defprefix), "w%" PRIu64, seed);
		prefix = defprefix;
	}
	rng_state = seed * UINT64_C(0x2545F4914F6CDD1D) + 1;

	PGconn *c = PQconnectdb(pos[0]);
	if (!c || PQstatus(c) != CONNECTION_OK)
		die("cannot connect with '%s': %s", pos[0], c ? PQerrorMessage(c) : "out of memory");
	PQsetNoticeProcessor(c, quiet_notice, NULL);

	/* The base tables and their sentinel rows, in one block. */
	struct txn t = { .block = true, .what = "setup" };
	add_sql(&t, "BEGIN");
	for (int k = 0; k < NBASE; k++)
		gen_create_table(&t, k, (enum kind)k);
	add_sql(&t, "COMMIT");
	run_txn(c, &t, 0);
	txn_free(&t);

	for (long n = 1; n <= ntxn; n++) {
		gen_txn(&t);
		if (verbose) {
			fprintf(stderr, "txn %ld: %s, %d statements\n", n, t.what, t.n);
			for (int k = 0; k < t.n; k++)
				fprintf(stderr, "  %s%s%s\n", short_sql(t.steps[k].sql),
					t.steps[k].expect_state ? " -- expect " : "",
					t.steps[k].expect_state ? t.steps[k].expect_state : "");
		}
		run_txn(c, &t, n);
		txn_free(&t);
	}
	PQfinish(c);
	printf("workload seed=%" PRIu64 " prefix=%s txns=%ld statements=%ld rows=%ld expected_errors=%ld "
	       "retries=%ld\n",
	       seed, prefix, ntxn, n_statements, n_rows_written, n_expected_errors, n_retries);
	return 0;
}
