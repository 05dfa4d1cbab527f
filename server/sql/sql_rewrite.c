/*
 * sql_rewrite.c — PostgreSQL-flavoured SQL to SQL that SQLite runs (see
 * sql_rewrite.h for what is rewritten).
 *
 * Pure text in, text out: no SQLite, no I/O, no global state; runs on any
 * thread. One pass over the input writes the output; the only allocation is
 * the output, a struct buf (common/buf.h). Text that cannot need a rewrite
 * — no '$', no "::", no comment, no "cast", and every quote opening a string
 * after one of ( , = < > | ' or at the start — is copied as is without
 * lexing (the fast path).
 *
 * The tokens are those of sql_lex.c (strings, E'…' strings, "identifiers",
 * $tag$…$tag$, nested comments, words, numbers), the lexer sql_split() and
 * sql_classify() use too; sql_lex_scan() also hands over the white space and
 * comments, which are copied.
 *
 * Casts. While copying, the rewriter remembers where the operand a following
 * "::" would apply to begins in the output: the last literal, parameter,
 * (dotted) name, function call, parenthesised group, CASE … END, subscript
 * or cast already rewritten. A stack of open groups gives the start of a
 * group when it closes; a word followed by '(' is a function call unless it
 * is a clause keyword (AND, IN, WHERE, …). On "::" the type name is read
 * (multi-word names, typmods and [] included) and "CAST(" is inserted at the
 * operand's start, " AS <sqlite type>)" appended. Groups nested deeper than
 * RW_DEPTH are not tracked, so a cast right after one is left unchanged;
 * so is the cast after RW_CHAIN casts in a row on one operand (each one
 * moves the operand's text, so both limits keep the pass linear).
 * CAST(x AS pgtype) gets its type name mapped too, since SQLite would give
 * e.g. CAST('2024-01-02' AS timestamp) NUMERIC affinity (2024).
 *
 * Literals. A standard string literal cast to bool/boolean becomes 1 or 0
 * when it is one of PostgreSQL's spellings (t, true, y, yes, on, 1 and the
 * false ones, any case, prefixes as boolin() takes them, blanks trimmed);
 * one cast to bytea that starts with \x becomes X'…' (blanks between digit
 * pairs allowed). Other literals keep CAST(). The type-literal form
 * (int8 '5') is taken for the known types except interval, only when the
 * type is followed by nothing but blanks and a string literal, and not after
 * a '.'.
 *
 * Strings. E'…' is decoded (\b \f \n \r \t, \ooo, \xh[h], \uXXXX,
 * \UXXXXXXXX with surrogate pairs, \c → c, '' → ') and written as a standard
 * literal with quotes doubled. When the result would contain a NUL byte, an
 * invalid code point or invalid UTF-8 — all errors in PostgreSQL — the
 * literal becomes the error marker RW_BAD_ESTRING, a call to a function that
 * cannot exist, so SQLite fails with "no such function: invalid E-string
 * literal: …". (Keeping E'…' as written is not enough: SQLite reads
 * SELECT E'\000' FROM t as column e with an alias and runs it. In DDL such as
 * CREATE VIEW the error comes when the view is used.) An unterminated E'…' is
 * kept as written. $tag$…$tag$ strings, which SQLite would read as parameters,
 * and N'…' are written as standard literals too. B'…', X'…' and U&'…' are
 * left alone.
 *
 * Comments are copied, except a block comment with a nested one, which
 * becomes one space (SQLite does not nest comments).
 *
 * Named notation. In a call of one of sluice's own functions (sluice_…),
 * "name => value" becomes "value": their parameters are few and each call
 * names them in order, as in sluice_promote(force => true).
 *
 * Known limits: SQLite's [bracketed identifiers] are read as subscripts;
 * SQLite's string-literal aliases after a type name (SELECT name 'x') would
 * be read as type literals.
 */
#include "sql_rewrite.h"

#include "buf.h"
#include "sql_lex.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------- helpers */

/* The output is a struct buf (common/buf.h): appends after an allocation
 * failure do nothing and leave `oom` set, checked once at the end. */

static void put_char(struct buf *o, char c) { buf_put_u8(o, (uint8_t)c); }

static void put_str(struct buf *o, const char *s) { buf_append(o, s, strlen(s)); }

/* The output's text from byte at. */
static char *out_text(struct buf *o, size_t at) { return (char *)o->data + at; }

/* Inserts s[0, n) at byte `at` of the output. */
static void out_insert(struct buf *o, size_t at, const char *s, size_t n)
{
	if (!buf_reserve(o, n))
		return;
	memmove(o->data + at + n, o->data + at, o->len - at);
	memcpy(o->data + at, s, n);
	o->len += n;
}

/* strcmp() for the short names here, inlined: lookups run once per word. */
static int name_cmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static bool word_is(const char *s, size_t b, size_t e, const char *kw)
{
	if (e == b || sql_lex_lower(s[b]) != kw[0])
		return false;
	size_t n = strlen(kw);
	if (e - b != n)
		return false;
	for (size_t k = 0; k < n; k++)
		if (sql_lex_lower(s[b + k]) != kw[k])
			return false;
	return true;
}

/* ------------------------------------------------------------------ types */

/* Sorted by name (binary search). */
static const struct type_map {
	const char *pg, *sqlite;
} types[] = {
	{ "bigint", "INTEGER" },
	{ "bigserial", "INTEGER" },
	{ "bool", "INTEGER" },
	{ "boolean", "INTEGER" },
	{ "bpchar", "TEXT" },
	{ "bytea", "BLOB" },
	{ "char", "TEXT" },
	{ "character", "TEXT" },
	{ "character varying", "TEXT" },
	{ "cidr", "TEXT" },
	{ "citext", "TEXT" },
	{ "date", "TEXT" },
	{ "decimal", "NUMERIC" },
	{ "double precision", "REAL" },
	{ "float", "REAL" },
	{ "float4", "REAL" },
	{ "float8", "REAL" },
	{ "inet", "TEXT" },
	{ "int", "INTEGER" },
	{ "int2", "INTEGER" },
	{ "int4", "INTEGER" },
	{ "int8", "INTEGER" },
	{ "integer", "INTEGER" },
	{ "interval", "TEXT" },
	{ "json", "TEXT" },
	{ "jsonb", "TEXT" },
	{ "macaddr", "TEXT" },
	{ "name", "TEXT" },
	{ "numeric", "NUMERIC" },
	{ "oid", "INTEGER" },
	{ "real", "REAL" },
	{ "regclass", "INTEGER" },
	{ "serial", "INTEGER" },
	{ "serial2", "INTEGER" },
	{ "serial4", "INTEGER" },
	{ "serial8", "INTEGER" },
	{ "smallint", "INTEGER" },
	{ "smallserial", "INTEGER" },
	{ "text", "TEXT" },
	{ "time", "TEXT" },
	{ "time with time zone", "TEXT" },
	{ "time without time zone", "TEXT" },
	{ "timestamp", "TEXT" },
	{ "timestamp with time zone", "TEXT" },
	{ "timestamp without time zone", "TEXT" },
	{ "timestamptz", "TEXT" },
	{ "timetz", "TEXT" },
	{ "uuid", "TEXT" },
	{ "varchar", "TEXT" },
	{ "xml", "TEXT" },
};

static const char *type_lookup(const char *name)
{
	size_t lo = 0, hi = sizeof(types) / sizeof(types[0]);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = name_cmp(name, types[mid].pg);
		if (c == 0)
			return types[mid].sqlite;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

#define TYPE_NAME_MAX 40

/* A type name as written after "::", AS or before a type literal. */
struct type_ref {
	size_t end;  /* just past the type text (the start when there is none) */
	bool array;  /* [] or [n] suffix */
	bool ok;     /* a name was read and fits in name */
	char name[TYPE_NAME_MAX]; /* lower case, single spaces, no typmod */
	size_t nlen;
};

static void type_add(struct type_ref *ty, const char *s, size_t b, size_t e, bool fold)
{
	size_t need = (ty->nlen > 0 ? 1 : 0) + (e - b);
	if (ty->nlen + need >= TYPE_NAME_MAX) {
		ty->ok = false;
		return;
	}
	if (ty->nlen > 0)
		ty->name[ty->nlen++] = ' ';
	for (size_t k = b; k < e; k++)
		ty->name[ty->nlen++] = fold ? sql_lex_lower(s[k]) : s[k];
	ty->name[ty->nlen] = '\0';
}

/* Takes the word kw when it comes next. */
static bool type_take(struct type_ref *ty, const char *s, size_t len, const char *kw)
{
	size_t b = sql_lex_skip_blank(s, len, ty->end);
	if (b >= len || !sql_lex_is_ident_start((unsigned char)s[b]))
		return false;
	size_t e = sql_lex_word_end(s, len, b);
	if (!word_is(s, b, e, kw))
		return false;
	type_add(ty, s, b, e, true);
	ty->end = e;
	return true;
}

/* (n[, m]) after a type name. */
static void type_mod(struct type_ref *ty, const char *s, size_t len)
{
	size_t i = sql_lex_skip_blank(s, len, ty->end);
	if (i >= len || s[i] != '(')
		return;
	for (i++; i < len && (sql_lex_is_digit((unsigned char)s[i]) || sql_lex_is_space((unsigned char)s[i]) || s[i] == ','); i++)
		;
	if (i < len && s[i] == ')')
		ty->end = i + 1;
}

static void type_parse(const char *s, size_t len, size_t i, struct type_ref *ty)
{
	bool closed;
	ty->end = i;
	ty->array = false;
	ty->ok = false;
	ty->nlen = 0;
	ty->name[0] = '\0';

	size_t b = sql_lex_skip_blank(s, len, i), e;
	if (b < len && s[b] == '"') {
		e = sql_lex_skip_quoted(s, len, b, '"', false, &closed);
		if (!closed)
			return;
		ty->ok = true;
		type_add(ty, s, b + 1, e - 1, false);
		ty->end = e;
	} else if (b < len && sql_lex_is_ident_start((unsigned char)s[b])) {
		e = sql_lex_word_end(s, len, b);
		size_t d = sql_lex_skip_blank(s, len, e);
		if (word_is(s, b, e, "pg_catalog") && d < len && s[d] == '.') {
			b = sql_lex_skip_blank(s, len, d + 1);
			if (b >= len || !sql_lex_is_ident_start((unsigned char)s[b]))
				return;
			e = sql_lex_word_end(s, len, b);
		}
		ty->ok = true;
		type_add(ty, s, b, e, true);
		ty->end = e;
	} else {
		return;
	}

	if (name_cmp(ty->name, "double") == 0) {
		type_take(ty, s, len, "precision");
	} else if (name_cmp(ty->name, "character") == 0 || name_cmp(ty->name, "char") == 0) {
		type_take(ty, s, len, "varying");
	} else if (name_cmp(ty->name, "time") == 0 || name_cmp(ty->name, "timestamp") == 0) {
		type_mod(ty, s, len);
		struct type_ref save = *ty;
		if ((type_take(ty, s, len, "with") || type_take(ty, s, len, "without")) &&
		    !(type_take(ty, s, len, "time") && type_take(ty, s, len, "zone")))
			*ty = save;
	}
	type_mod(ty, s, len);
	for (;;) {
		size_t k = sql_lex_skip_blank(s, len, ty->end);
		if (k >= len || s[k] != '[')
			break;
		for (k++; k < len && (sql_lex_is_digit((unsigned char)s[k]) || sql_lex_is_space((unsigned char)s[k])); k++)
			;
		if (k >= len || s[k] != ']')
			break;
		ty->array = true;
		ty->end = k + 1;
	}
}

/* The SQLite type for a parsed type, or NULL to leave it alone. */
static const char *type_target(const struct type_ref *ty)
{
	return (ty->ok && !ty->array) ? type_lookup(ty->name) : NULL;
}

const char *sql_rewrite_type(const char *pgtype, size_t len)
{
	struct type_ref ty;
	type_parse(pgtype, len, 0, &ty);
	if (sql_lex_skip_blank(pgtype, len, ty.end) != len)
		return NULL;
	return type_target(&ty);
}

/* ------------------------------------------------------------- literals */

/* PostgreSQL's boolin(): 1, 0, or -1 when not a boolean spelling. */
static int bool_value(const char *v, size_t n)
{
	static const struct {
		const char *word;
		size_t min;
		int value;
	} spellings[] = { { "true", 1, 1 }, { "false", 1, 0 }, { "yes", 1, 1 }, { "no", 1, 0 },
		          { "on", 2, 1 },   { "off", 2, 0 },   { "1", 1, 1 },   { "0", 1, 0 } };
	while (n > 0 && sql_lex_is_space((unsigned char)v[0])) {
		v++;
		n--;
	}
	while (n > 0 && sql_lex_is_space((unsigned char)v[n - 1]))
		n--;
	for (size_t k = 0; k < sizeof(spellings) / sizeof(spellings[0]); k++) {
		size_t wl = strlen(spellings[k].word);
		if (n < spellings[k].min || n > wl)
			continue;
		size_t j = 0;
		while (j < n && sql_lex_lower(v[j]) == spellings[k].word[j])
			j++;
		if (j == n)
			return spellings[k].value;
	}
	return -1;
}

/*
 * The standard literal at output bytes [a, b) ('…') cast to the type `name`: a bool
 * spelling becomes 1/0 and a '\x…' bytea literal X'…', written at `at`
 * (at <= a; the output is cut there first). Returns false when neither
 * applies, leaving the output as it was.
 */
static bool literal_special(struct buf *o, size_t at, size_t a, size_t b, const char *name)
{
	if (o->oom || b < a + 2 || b > o->len)
		return false;
	const char *v = out_text(o, a + 1);
	size_t n = b - a - 2;
	if (name_cmp(name, "bool") == 0 || name_cmp(name, "boolean") == 0) {
		int t = bool_value(v, n);
		if (t < 0)
			return false;
		o->len = at;
		put_char(o, t ? '1' : '0');
		return true;
	}
	if (name_cmp(name, "bytea") != 0 || n < 2 || v[0] != '\\' || v[1] != 'x')
		return false;
	size_t digits = 0;
	for (size_t k = 2; k < n; k++) {
		if (sql_lex_is_space((unsigned char)v[k]) && digits % 2 == 0)
			continue;
		if (sql_lex_hex_value(v[k]) < 0)
			return false;
		digits++;
	}
	if (digits % 2 != 0)
		return false;
	/* Written in place: the writer (at + 2 + j) never passes the reader. */
	char *w = out_text(o, at);
	*w++ = 'X';
	*w++ = '\'';
	for (size_t k = 2; k < n; k++)
		if (!sql_lex_is_space((unsigned char)v[k]))
			*w++ = v[k];
	*w++ = '\'';
	o->len = (size_t)(w - out_text(o, 0));
	return true;
}

static void put_utf8(struct buf *o, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_append(o, u, n);
}

static bool utf8_valid(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t k;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			k = 1, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			k = 2, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += k + 1;
	}
	return true;
}

/* n hex digits at q[*k + 1 …] into *cp; advances *k. */
static bool read_hex(const char *q, size_t len, size_t *k, int n, uint32_t *cp)
{
	uint32_t v = 0;
	for (int d = 0; d < n; d++) {
		if (*k + 1 >= len || sql_lex_hex_value(q[*k + 1]) < 0)
			return false;
		v = v * 16 + (uint32_t)sql_lex_hex_value(q[++*k]);
	}
	*cp = v;
	return true;
}

/* \u or \U at q[*k] (the letter): a code point, surrogate pairs joined. */
static bool read_unicode(const char *q, size_t n, size_t *k, uint32_t *cp)
{
	if (!read_hex(q, n, k, q[*k] == 'u' ? 4 : 8, cp))
		return false;
	if (*cp >= 0xD800 && *cp < 0xDC00) {
		uint32_t lo;
		if (*k + 2 >= n || q[*k + 1] != '\\' || (q[*k + 2] != 'u' && q[*k + 2] != 'U'))
			return false;
		*k += 2;
		if (!read_hex(q, n, k, q[*k] == 'u' ? 4 : 8, &lo) || lo < 0xDC00 || lo > 0xDFFF)
			return false;
		*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	return *cp != 0 && *cp <= 0x10FFFF && !(*cp >= 0xD800 && *cp <= 0xDFFF);
}

/* Decodes the body q[0, n) of a closed E'…' string into a standard literal.
 * Returns false (output partly written; the caller cuts it) when invalid. */
static bool decode_e(struct buf *o, const char *q, size_t n)
{
	size_t start = o->len;
	put_char(o, '\'');
	for (size_t k = 0; k < n; k++) {
		size_t run = k;
		while (run < n && q[run] != '\\' && q[run] != '\'' && q[run] != '\0')
			run++;
		buf_append(o, q + k, run - k);
		if ((k = run) >= n)
			break;
		char c = q[k];
		if (c == '\0')
			return false;
		if (c == '\'') {
			k++; /* the body holds it doubled */
			buf_append(o, "''", 2);
			continue;
		}
		if (++k >= n)
			return false;
		if (q[k] == 'u' || q[k] == 'U') {
			uint32_t cp;
			if (!read_unicode(q, n, &k, &cp))
				return false;
			put_utf8(o, cp);
			continue;
		}
		c = sql_lex_unescape(q, n, &k);
		if (c == '\0')
			return false;
		if (c == '\'')
			put_char(o, '\'');
		put_char(o, c);
	}
	put_char(o, '\'');
	return !o->oom && utf8_valid(o->data + start + 1, o->len - start - 2);
}

/* ---------------------------------------------------------- the rewriter */

#define RW_DEPTH 64
#define RW_BAD_ESTRING "\"invalid E-string literal: NUL byte, bad Unicode escape or invalid UTF-8\"()"
#define RW_CHAIN 16 /* x::a::b…: longer chains stay as written */
#define NONE ((size_t)-1)

enum { LV_PAREN, LV_BRACKET, LV_CASE };

struct level {
	size_t start; /* where the group (or the call owning it) begins in the output */
	size_t first; /* where its first token begins, NONE until there is one */
	int kind;
	bool cast; /* the group of CAST( … AS type ) */
};

struct rw {
	const char *s;
	size_t len;
	struct buf o;
	int max_param;
	/* The operand a following "::" applies to starts at op_start. */
	bool op;
	size_t op_start;
	int casts; /* casts already wrapped around this operand */
	/* The operand is exactly one standard literal at [lit_start, lit_end). */
	bool lit;
	size_t lit_start, lit_end;
	bool after_name;      /* the last token was a word or "identifier" */
	bool after_dot;       /* the last token was a '.' after an operand */
	int word_class;       /* the last word's keyword_class() */
	bool word_cast;       /* the last word was CAST */
	size_t depth, untracked;
	struct level lv[RW_DEPTH]; /* last: not cleared, only [0, depth) is used */
};

static void op_set(struct rw *w, size_t start)
{
	w->op = true;
	w->op_start = start;
	w->lit = false;
	w->casts = 0;
}

static void op_clear(struct rw *w)
{
	w->op = false;
	w->lit = false;
}

static struct level *top(struct rw *w) { return (w->depth > 0 && w->untracked == 0) ? &w->lv[w->depth - 1] : NULL; }

static void push(struct rw *w, int kind, size_t start, bool cast)
{
	if (w->depth == RW_DEPTH) {
		if (kind != LV_CASE)
			w->untracked++;
		return;
	}
	struct level *l = &w->lv[w->depth++];
	l->kind = kind;
	l->start = start;
	l->first = NONE;
	l->cast = cast;
}

/* Closes the innermost group of this kind; the group becomes the operand. */
static void pop(struct rw *w, int kind)
{
	if (w->untracked > 0) {
		w->untracked--;
		op_clear(w);
		return;
	}
	while (w->depth > 0) {
		struct level *l = &w->lv[--w->depth];
		if (l->kind == kind) {
			op_set(w, l->start);
			return;
		}
	}
	op_clear(w);
}

/* Keywords, sorted for a binary search. Class 2: no operand for "::" and '(' after
 * it opens a group (PostgreSQL's reserved words, and a few more no one names
 * a column); class 1: may be a name, but '(' after it still opens a group. */
static const struct keyword {
	const char *word;
	int class;
} keywords[] = {
	{ "all", 2 }, { "and", 2 }, { "any", 2 }, { "as", 2 }, { "asc", 2 }, { "between", 2 }, { "by", 2 },
	{ "case", 2 }, { "check", 2 }, { "collate", 2 }, { "constraint", 2 }, { "create", 2 }, { "default", 2 },
	{ "desc", 2 }, { "distinct", 2 }, { "do", 1 }, { "else", 2 }, { "end", 2 }, { "escape", 1 },
	{ "except", 2 }, { "filter", 1 }, { "for", 2 }, { "from", 2 }, { "glob", 1 }, { "group", 2 },
	{ "having", 2 }, { "if", 1 }, { "ilike", 2 }, { "in", 2 }, { "inner", 2 }, { "intersect", 2 },
	{ "into", 2 }, { "is", 2 }, { "isnull", 2 }, { "join", 2 }, { "key", 1 }, { "lateral", 2 }, { "like", 2 },
	{ "limit", 2 }, { "match", 1 }, { "natural", 2 }, { "not", 2 }, { "notnull", 2 }, { "offset", 2 },
	{ "on", 2 }, { "only", 2 }, { "or", 2 }, { "order", 2 }, { "outer", 2 }, { "over", 1 }, { "overlaps", 2 },
	{ "partition", 1 }, { "primary", 2 }, { "recursive", 1 }, { "references", 2 }, { "regexp", 1 },
	{ "returning", 2 }, { "select", 2 }, { "set", 1 }, { "similar", 2 }, { "some", 2 }, { "table", 2 },
	{ "then", 2 }, { "to", 2 }, { "union", 2 }, { "unique", 2 }, { "using", 2 }, { "values", 1 }, { "when", 2 },
	{ "where", 2 }, { "window", 1 }, { "with", 2 }, { "within", 1 },
};

/* The class of a lower-cased word (0 for an ordinary word). */
static int keyword_class(const char *lw)
{
	size_t lo = 0, hi = sizeof(keywords) / sizeof(keywords[0]);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = name_cmp(lw, keywords[mid].word);
		if (c == 0)
			return keywords[mid].class;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* True when t is a string literal that rw_string() converts ('…', E'…',
 * N'…' or $tag$…$tag$); B'…', X'…' and U&'…' are copied as they are. */
static bool string_plain(const struct sql_token *t)
{
	return t->type == SQL_TOK_STRING && (t->prefix == 0 || t->prefix == 'e' || t->prefix == 'n' || t->prefix == '$');
}

/* The string literal t (string_plain()): copied or converted to a standard
 * literal; it becomes the operand. Returns the index after it. */
static size_t rw_string(struct rw *w, const struct sql_token *t)
{
	const char *s = w->s;
	size_t i = t->off, start = w->o.len, e = t->off + t->len;
	bool closed = t->closed;

	w->lit = false;
	if (t->form == SQL_STR_DOLLAR) {
		if (closed) {
			const char *q = s + t->body, *end = q + t->body_len;
			put_char(&w->o, '\'');
			while (q < end) {
				const char *quote = memchr(q, '\'', (size_t)(end - q));
				size_t n = quote ? (size_t)(quote - q) + 1 : (size_t)(end - q);
				buf_append(&w->o, q, n);
				if (quote)
					put_char(&w->o, '\'');
				q += n;
			}
			put_char(&w->o, '\'');
		} else {
			buf_append(&w->o, s + i, e - i);
		}
	} else if (t->form == SQL_STR_ESC) {
		if (!closed) {
			buf_append(&w->o, s + i, e - i);
		} else if (!decode_e(&w->o, s + t->body, t->body_len)) {
			w->o.len = start;
			put_str(&w->o, RW_BAD_ESTRING);
			closed = false;
		}
	} else {
		size_t q = t->prefix == 'n' ? i + 1 : i;
		buf_append(&w->o, s + q, e - q);
	}
	op_set(w, start);
	if (closed && !w->o.oom) {
		w->lit = true;
		w->lit_start = start;
		w->lit_end = w->o.len;
	}
	return e;
}

/* "::" at s[i]. */
static size_t rw_cast(struct rw *w, size_t i)
{
	struct type_ref ty;
	type_parse(w->s, w->len, i + 2, &ty);
	const char *target = type_target(&ty);
	if (!w->op || !target || w->casts >= RW_CHAIN) {
		buf_append(&w->o, w->s + i, ty.end - i);
		op_clear(w);
		return ty.end;
	}
	if (!(w->lit && w->lit_start == w->op_start &&
	      literal_special(&w->o, w->op_start, w->lit_start, w->lit_end, ty.name))) {
		out_insert(&w->o, w->op_start, "CAST(", 5);
		put_str(&w->o, " AS ");
		put_str(&w->o, target);
		put_char(&w->o, ')');
	}
	int casts = w->casts + 1;
	op_set(w, w->op_start);
	w->casts = casts;
	return ty.end;
}

/* AS at s[b, e) directly inside CAST( … ). */
static size_t rw_cast_as(struct rw *w, struct level *l, size_t b, size_t e)
{
	struct type_ref ty;
	type_parse(w->s, w->len, e, &ty);
	const char *target = type_target(&ty);
	l->cast = false;
	if (target && w->lit && w->op_start == w->lit_start && l->first == w->lit_start) {
		size_t close = sql_lex_skip_blank(w->s, w->len, ty.end);
		size_t start = l->start;
		if (close < w->len && w->s[close] == ')' &&
		    literal_special(&w->o, start, w->lit_start, w->lit_end, ty.name)) {
			w->depth--;
			op_set(w, start);
			return close + 1;
		}
	}
	buf_append(&w->o, w->s + b, e - b);
	if (target) {
		put_char(&w->o, ' ');
		put_str(&w->o, target);
	} else {
		buf_append(&w->o, w->s + e, ty.end - e);
	}
	op_clear(w);
	return ty.end;
}

/* A type literal (int8 '5') starting with the word at s[b], `first` in
 * lower case; returns the index after it, or 0 when there is none. */
static size_t rw_type_literal(struct rw *w, size_t b, const char *first)
{
	struct type_ref ty;
	if (!type_lookup(first) && name_cmp(first, "double") != 0)
		return 0; /* most words: no type starts with them */
	type_parse(w->s, w->len, b, &ty);
	const char *target = type_target(&ty);
	if (!target || name_cmp(ty.name, "interval") == 0)
		return 0;
	struct sql_token lit;
	sql_lex_scan(w->s, w->len, sql_lex_skip_blank(w->s, w->len, ty.end), &lit);
	if (!string_plain(&lit))
		return 0;
	size_t s0 = w->o.len;
	put_str(&w->o, "CAST(");
	size_t end = rw_string(w, &lit);
	if (!(w->lit && literal_special(&w->o, s0, w->lit_start, w->lit_end, ty.name))) {
		put_str(&w->o, " AS ");
		put_str(&w->o, target);
		put_char(&w->o, ')');
	}
	op_set(w, s0);
	return end;
}

/* The word token t; sets *name when it is an ordinary word. */
/* The group l is the argument list of a call of a sluice_ function. */
static bool sluice_call(struct rw *w, const struct level *l)
{
	static const char prefix[] = "sluice_";
	size_t n = sizeof(prefix) - 1;
	if (w->o.len < l->start + n)
		return false;
	const char *p = out_text(&w->o, l->start);
	for (size_t k = 0; k < n; k++)
		if (sql_lex_lower(p[k]) != prefix[k])
			return false;
	return true;
}

/* After "pg_catalog" ending at e: where the function name begins when a
 * '.', a word and '(' follow (blanks allowed), else 0. */
static size_t pg_catalog_call(const char *s, size_t len, size_t e)
{
	size_t d = sql_lex_skip_blank(s, len, e);
	if (d >= len || s[d] != '.')
		return 0;
	size_t b = sql_lex_skip_blank(s, len, d + 1);
	if (b >= len || !sql_lex_is_ident_start((unsigned char)s[b]))
		return 0;
	size_t f = sql_lex_skip_blank(s, len, sql_lex_word_end(s, len, b));
	return f < len && s[f] == '(' ? b : 0;
}

static size_t rw_word(struct rw *w, const struct sql_token *t, bool *name)
{
	const char *s = w->s;
	size_t i = t->off, e = t->off + t->len;
	char lw[16] = "";
	struct level *l = top(w);

	if (e - i < sizeof(lw)) { /* longer words are no keyword or type */
		for (size_t k = i; k < e; k++)
			lw[k - i] = sql_lex_lower(s[k]);
		lw[e - i] = '\0';
	}

	if (name_cmp(lw, "case") == 0) {
		push(w, LV_CASE, w->o.len, false);
		buf_append(&w->o, s + i, e - i);
		op_clear(w);
		return e;
	}
	if (l && l->kind == LV_CASE && name_cmp(lw, "end") == 0) {
		buf_append(&w->o, s + i, e - i);
		pop(w, LV_CASE);
		return e;
	}
	if (l && l->kind == LV_PAREN && l->cast && name_cmp(lw, "as") == 0)
		return rw_cast_as(w, l, i, e);
	if (l && l->kind == LV_PAREN && sluice_call(w, l)) {
		size_t k = e;
		while (k < w->len && sql_lex_is_space((unsigned char)s[k]))
			k++;
		if (k + 1 < w->len && s[k] == '=' && s[k + 1] == '>')
			return k + 2; /* named notation: the value alone */
	}
	if (!w->after_dot) {
		size_t end = rw_type_literal(w, i, lw);
		if (end > 0)
			return end;
	}
	if (!w->after_dot && name_cmp(lw, "pg_catalog") == 0) {
		size_t call = pg_catalog_call(s, w->len, e);
		if (call > 0)
			return call; /* pg_catalog.f( → f( : SQLite has no schema-qualified functions */
	}
	size_t start = w->o.len;
	int class = keyword_class(lw);
	buf_append(&w->o, s + i, e - i);
	if (w->after_dot && w->op)
		w->lit = false;
	else if (class == 2)
		op_clear(w);
	else
		op_set(w, start);
	w->word_class = w->after_dot ? 0 : class;
	w->word_cast = name_cmp(lw, "cast") == 0;
	*name = true;
	return e;
}

static void note_token(struct rw *w)
{
	struct level *l = top(w);
	if (l && l->first == NONE)
		l->first = w->o.len;
}

/* A punctuation byte at s[i]; returns the index after it. */
static size_t rw_punct(struct rw *w, size_t i, size_t start, bool *dot)
{
	char c = w->s[i];
	if (c == ':' && i + 1 < w->len && w->s[i + 1] == ':')
		return rw_cast(w, i);
	if (c == '(') {
		bool call = w->after_name && w->op && w->word_class == 0;
		bool cast = call && w->word_cast;
		push(w, LV_PAREN, call ? w->op_start : start, cast);
		put_char(&w->o, '(');
		op_clear(w);
	} else if (c == '[') {
		push(w, LV_BRACKET, w->op ? w->op_start : start, false);
		put_char(&w->o, '[');
		op_clear(w);
	} else if (c == ')' || c == ']') {
		put_char(&w->o, c);
		pop(w, c == ')' ? LV_PAREN : LV_BRACKET);
	} else if (c == '.' && w->op) {
		put_char(&w->o, '.');
		w->lit = false;
		*dot = true;
	} else {
		put_char(&w->o, c);
		op_clear(w);
	}
	return i + 1;
}

/* $n: written as ?n; the highest n is kept. */
static void rw_param(struct rw *w, const struct sql_token *t)
{
	long long n = 0;
	for (size_t k = t->off + 1; k < t->off + t->len; k++)
		if (n <= INT_MAX)
			n = n * 10 + (w->s[k] - '0');
	if (n > INT_MAX)
		n = INT_MAX;
	if (n > w->max_param)
		w->max_param = (int)n;
	put_char(&w->o, '?');
	buf_append(&w->o, w->s + t->off + 1, t->len - 1);
}

static void rw_run(struct rw *w)
{
	const char *s = w->s;
	size_t len = w->len, i = 0;
	struct sql_token t;

	while (i < len && !w->o.oom) {
		sql_lex_scan(s, len, i, &t);
		if (t.type == SQL_TOK_SPACE || t.type == SQL_TOK_COMMENT) {
			if (t.nested && t.closed)
				put_char(&w->o, ' '); /* SQLite does not nest comments */
			else
				buf_append(&w->o, s + i, t.len);
			i += t.len;
			continue;
		}

		note_token(w);
		bool name = false, dot = false;
		size_t start = w->o.len;
		switch (t.type) {
		case SQL_TOK_STRING:
			if (string_plain(&t)) {
				i = rw_string(w, &t);
				break;
			}
			buf_append(&w->o, s + i, t.len); /* B'…', X'…', U&'…' */
			op_set(w, start);
			i += t.len;
			break;
		case SQL_TOK_QIDENT:
			buf_append(&w->o, s + i, t.len);
			if (!(w->after_dot && w->op))
				op_set(w, start);
			name = true;
			w->word_class = 0; /* never a keyword */
			w->word_cast = false;
			i += t.len;
			break;
		case SQL_TOK_PARAM:
			rw_param(w, &t);
			op_set(w, start);
			i += t.len;
			break;
		case SQL_TOK_WORD:
			i = rw_word(w, &t, &name);
			break;
		case SQL_TOK_NUMBER:
			buf_append(&w->o, s + i, t.len);
			op_set(w, start);
			i += t.len;
			break;
		default:
			i = rw_punct(w, i, start, &dot);
			break;
		}
		w->after_name = name;
		w->after_dot = dot;
	}
}

/* False when the text certainly needs no rewrite (see the file comment). */
static bool rw_needed(const char *s, size_t len)
{
	bool closed;
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '$':
			return true;
		case '=':
			if (i + 1 < len && s[i + 1] == '>')
				return true;
			break;
		case ':':
			if (i + 1 < len && s[i + 1] == ':')
				return true;
			break;
		case '-':
		case '/':
			if (i + 1 < len && s[i + 1] == (s[i] == '-' ? '-' : '*'))
				return true;
			break;
		case 'c':
		case 'C':
			if (i + 3 < len && sql_lex_lower(s[i + 1]) == 'a' && sql_lex_lower(s[i + 2]) == 's' && sql_lex_lower(s[i + 3]) == 't')
				return true;
			break;
		case 'p':
		case 'P':
			if (i + 10 < len && strncasecmp(s + i, "pg_catalog", 10) == 0)
				return true;
			break;
		case '"':
			i = sql_lex_skip_quoted(s, len, i, '"', false, &closed) - 1;
			break;
		case '\'': {
			size_t j = i;
			while (j > 0 && sql_lex_is_space((unsigned char)s[j - 1]))
				j--;
			if (j > 0 && !memchr("(,=<>|'", s[j - 1], 7))
				return true;
			i = sql_lex_skip_quoted(s, len, i, '\'', false, &closed) - 1;
			break;
		}
		default:
			break;
		}
	}
	return false;
}

char *sql_rewrite(const char *sql, size_t len, int *max_param)
{
	if (max_param)
		*max_param = 0;
	if (!rw_needed(sql, len)) {
		char *copy = malloc(len + 1);
		if (copy) {
			if (len > 0)
				memcpy(copy, sql, len);
			copy[len] = '\0';
		}
		return copy;
	}

	struct rw w;
	memset(&w, 0, offsetof(struct rw, lv));
	w.s = sql;
	w.len = len;
	buf_init(&w.o);
	buf_reserve(&w.o, len + len / 8 + 32);
	rw_run(&w);
	put_char(&w.o, '\0');
	if (w.o.oom) {
		buf_free(&w.o);
		return NULL;
	}
	if (max_param)
		*max_param = w.max_param;
	return (char *)w.o.data; /* the caller owns it now */
}
