/*
 * sql_split.c — the lexical front of the SQL dialect (see sql_split.h):
 * splitting a simple-query string into statements and recognising the
 * commands that sluice runs itself.
 *
 * Pure functions over a byte range that need not be NUL-terminated; no
 * allocation, no I/O, no global state. Called on the loop thread for every
 * simple query, so each function is one pass over the text.
 *
 * The lexer follows PostgreSQL's scan.l (standard_conforming_strings on):
 *   - white space: space, \t, \n, \r, \f, \v;
 *   - comments: "--" to the end of the line (\n or \r); block comments nest:
 *     every "/" "*" inside one opens another level;
 *   - '…' strings where '' is a quote; the prefixes B, X, N and U& change the
 *     meaning, not the quoting; E'…' strings where a backslash also escapes
 *     the next byte (a prefix counts only when it is a whole word, so
 *     "somee'x'" is the word somee and the string 'x');
 *   - "…" identifiers where "" is a quote;
 *   - $tag$…$tag$ strings, tag = [A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]* or
 *     empty; a '$' followed by a digit is a parameter ($1), and a '$' inside
 *     a word is part of it (a$b);
 *   - words [A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*, numbers (digits,
 *     letters, '_', '.', and a signed exponent), and any other single byte.
 * An unterminated string, identifier or comment runs to the end of the text.
 * An unterminated block comment counts as a comment (blank); PostgreSQL would
 * report it, SQLite accepts it.
 *
 * Splitting: a ';' outside all of the above ends a statement, with one
 * exception borrowed from sqlite3_complete(): in CREATE [TEMP|TEMPORARY]
 * TRIGGER … BEGIN … END, the ';' inside the body do not split; only a ';'
 * right after an END that does not close a CASE ends the statement. This keeps
 * SQLite trigger definitions whole; PostgreSQL-style triggers (no BEGIN) are
 * split as usual.
 *
 * Classification (sql_classify) is a small recursive-descent parser over the
 * same tokens. Conventions beyond the header:
 *   - on -1, out->kind still says what the statement was recognised as;
 *   - BEGIN DEFERRED|IMMEDIATE|EXCLUSIVE (SQLite) puts that word in name;
 *   - SET TRANSACTION sets name "transaction", SET SESSION CHARACTERISTICS AS
 *     TRANSACTION sets "session_characteristics"; both only fill read_only.
 *     SET NAMES → "client_encoding", SET ROLE → "role", SET SCHEMA →
 *     "search_path", SET XML OPTION → "xmloption", SET CONSTRAINTS →
 *     "constraints" (value "all deferred", …); SET TIME ZONE LOCAL|DEFAULT and
 *     SET NAMES alone set is_default;
 *   - FETCH/MOVE: FIRST, LAST, ABSOLUTE n and RELATIVE n are flagged backward
 *     (a forward-only cursor cannot honour them in general); a negative count
 *     turns the direction around; FETCH 0 gives count 0;
 *   - DISCARD: name = all|plans|sequences|temp, all = true for ALL;
 *   - UNLISTEN *: name "*", all = true; NOTIFY c, 'payload': value = payload;
 *   - VACUUM/ANALYZE/TRUNCATE: tables holds each name ready to paste into SQL
 *     (unquoted parts lower-cased, quoted parts kept with their quotes),
 *     joined by ", "; value holds the options in lower case joined by ", "
 *     ("full, analyze", "restart identity, cascade"). VACUUM … INTO is
 *     SQLite's and is SQL_OTHER;
 *   - names longer than SQL_NAME_MAX-1 and values longer than
 *     SQL_VALUE_MAX-1 bytes are errors, never silently cut.
 */
#include "sql_split.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ lexer */

enum tok_type {
	TOK_END = 0, /* end of the text */
	TOK_WORD,    /* keyword or unquoted identifier */
	TOK_QIDENT,  /* "quoted identifier" */
	TOK_STRING,  /* '…', E'…', $tag$…$tag$ and the prefixed forms */
	TOK_NUMBER,
	TOK_PARAM, /* $1 */
	TOK_PUNCT, /* any other single byte */
};

enum str_form { STR_STD, STR_ESC, STR_DOLLAR };

struct tok {
	enum tok_type type;
	enum str_form form;
	size_t off, len;       /* the whole token */
	size_t body, body_len; /* strings and identifiers: between the quotes */
};

struct lexer {
	const char *s;
	size_t len;
	size_t pos;
};

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static bool is_ident_start(unsigned char c) { return is_alpha(c) || c == '_' || c >= 0x80; }

static bool is_ident_char(unsigned char c) { return is_ident_start(c) || is_digit(c) || c == '$'; }

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c; }

/* Index just past a run quoted by q that opens at s[i]: a doubled q is a q,
 * and with bs a backslash escapes the next byte. */
static size_t skip_quoted(const char *s, size_t len, size_t i, char q, bool bs, bool *closed)
{
	for (i++; i < len; i++) {
		if (bs && s[i] == '\\') {
			if (++i >= len)
				break;
			continue;
		}
		if (s[i] == q) {
			if (i + 1 < len && s[i + 1] == q) {
				i++;
				continue;
			}
			*closed = true;
			return i + 1;
		}
	}
	*closed = false;
	return len;
}

/* Length of the $tag$ that opens at s[i] (a '$'), or 0 when none does. */
static size_t dollar_tag_len(const char *s, size_t len, size_t i)
{
	size_t j = i + 1;
	if (j < len && s[j] != '$') {
		if (!is_ident_start((unsigned char)s[j]))
			return 0;
		while (j < len && (is_ident_start((unsigned char)s[j]) || is_digit((unsigned char)s[j])))
			j++;
	}
	if (j >= len || s[j] != '$')
		return 0;
	return j + 1 - i;
}

/* Index just past the dollar-quoted string opening at s[i] with its tag. */
static size_t skip_dollar(const char *s, size_t len, size_t i, size_t taglen, bool *closed)
{
	for (size_t j = i + taglen; j + taglen <= len; j++) {
		if (s[j] == '$' && memcmp(s + j, s + i, taglen) == 0) {
			*closed = true;
			return j + taglen;
		}
	}
	*closed = false;
	return len;
}

/* Index just past white space and comments starting at s[i]. */
static size_t skip_blank(const char *s, size_t len, size_t i)
{
	while (i < len) {
		if (is_space((unsigned char)s[i])) {
			i++;
		} else if (s[i] == '-' && i + 1 < len && s[i + 1] == '-') {
			while (i < len && s[i] != '\n' && s[i] != '\r')
				i++;
		} else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
			size_t depth = 1;
			i += 2;
			while (i < len && depth > 0) {
				if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
					depth++;
					i += 2;
				} else if (s[i] == '*' && i + 1 < len && s[i + 1] == '/') {
					depth--;
					i += 2;
				} else {
					i++;
				}
			}
		} else {
			break;
		}
	}
	return i;
}

/* A quoted string whose opening quote is at s[q]; the token began at off. */
static size_t lex_string(const char *s, size_t len, size_t q, bool esc, struct tok *t)
{
	bool closed;
	size_t e = skip_quoted(s, len, q, '\'', esc, &closed);
	t->type = TOK_STRING;
	t->form = esc ? STR_ESC : STR_STD;
	t->body = q + 1;
	t->body_len = e - (q + 1) - (closed ? 1 : 0);
	return e;
}

static void lex_next(struct lexer *lx, struct tok *t)
{
	const char *s = lx->s;
	size_t len = lx->len;
	size_t i = skip_blank(s, len, lx->pos), e, n;
	bool closed;

	t->off = i;
	t->form = STR_STD;
	t->body = i;
	t->body_len = 0;
	if (i >= len) {
		t->type = TOK_END;
		t->len = 0;
		lx->pos = len;
		return;
	}
	unsigned char c = (unsigned char)s[i];
	if (c == '\'') {
		e = lex_string(s, len, i, false, t);
	} else if (c == '"') {
		e = skip_quoted(s, len, i, '"', false, &closed);
		t->type = TOK_QIDENT;
		t->body = i + 1;
		t->body_len = e - (i + 1) - (closed ? 1 : 0);
	} else if (c == '$' && i + 1 < len && is_digit((unsigned char)s[i + 1])) {
		for (e = i + 1; e < len && is_digit((unsigned char)s[e]); e++)
			;
		t->type = TOK_PARAM;
	} else if (c == '$' && (n = dollar_tag_len(s, len, i)) > 0) {
		e = skip_dollar(s, len, i, n, &closed);
		t->type = TOK_STRING;
		t->form = STR_DOLLAR;
		t->body = i + n;
		t->body_len = (closed ? e - n : e) - t->body;
	} else if (is_ident_start(c)) {
		for (e = i + 1; e < len && is_ident_char((unsigned char)s[e]); e++)
			;
		char p = lower((char)c);
		if (e == i + 1 && e < len && s[e] == '\'' && (p == 'e' || p == 'b' || p == 'x' || p == 'n'))
			e = lex_string(s, len, e, p == 'e', t);
		else if (e == i + 1 && p == 'u' && e + 1 < len && s[e] == '&' && s[e + 1] == '\'')
			e = lex_string(s, len, e + 1, false, t);
		else
			t->type = TOK_WORD;
	} else if (is_digit(c) || (c == '.' && i + 1 < len && is_digit((unsigned char)s[i + 1]))) {
		for (e = i; e < len; e++) {
			unsigned char d = (unsigned char)s[e];
			if ((d == 'e' || d == 'E') && e + 2 < len && (s[e + 1] == '+' || s[e + 1] == '-') &&
			    is_digit((unsigned char)s[e + 2]))
				e += 2;
			else if (!is_digit(d) && !is_alpha(d) && d != '_' && d != '.')
				break;
		}
		t->type = TOK_NUMBER;
	} else {
		e = i + 1;
		t->type = TOK_PUNCT;
	}
	t->len = e - i;
	lx->pos = e;
}

static bool tok_is(const char *s, const struct tok *t, const char *kw)
{
	size_t n = strlen(kw);
	if (t->type != TOK_WORD || t->len != n)
		return false;
	for (size_t k = 0; k < n; k++)
		if (lower(s[t->off + k]) != kw[k])
			return false;
	return true;
}

static bool tok_punct(const char *s, const struct tok *t, char c)
{
	return t->type == TOK_PUNCT && s[t->off] == c;
}

/* ------------------------------------------------------------- splitting */

/* Tracks CREATE [TEMP] TRIGGER … BEGIN … END so the body stays whole. */
struct trigger_watch {
	int stage; /* 0 start, 1 CREATE, 2 TEMP, 3 not a trigger, 4 header, 5 body */
	size_t case_depth;
	bool prev_end; /* the last token was an END closing the body */
};

static void trigger_note(struct trigger_watch *tw, const char *s, const struct tok *t)
{
	bool end = false;
	switch (tw->stage) {
	case 0:
		tw->stage = tok_is(s, t, "create") ? 1 : 3;
		break;
	case 1:
		if (tok_is(s, t, "temp") || tok_is(s, t, "temporary"))
			tw->stage = 2;
		else
			tw->stage = tok_is(s, t, "trigger") ? 4 : 3;
		break;
	case 2:
		tw->stage = tok_is(s, t, "trigger") ? 4 : 3;
		break;
	case 4:
		if (tok_is(s, t, "begin"))
			tw->stage = 5;
		break;
	case 5:
		if (tok_is(s, t, "case")) {
			tw->case_depth++;
		} else if (tok_is(s, t, "end")) {
			if (tw->case_depth > 0)
				tw->case_depth--;
			else
				end = true;
		}
		break;
	default:
		break;
	}
	tw->prev_end = end;
}

size_t sql_split(const char *sql, size_t len, struct sql_span *spans, size_t max, size_t *total)
{
	struct lexer lx = { sql, len, 0 };
	struct trigger_watch tw = { 0, 0, false };
	struct tok t;
	size_t n = 0, found = 0, start = 0;
	bool content = false;

	for (;;) {
		lex_next(&lx, &t);
		bool end = t.type == TOK_END;
		if (!end && !(tok_punct(sql, &t, ';') && (tw.stage != 5 || tw.prev_end))) {
			content = true;
			trigger_note(&tw, sql, &t);
			continue;
		}
		if (content) {
			size_t a = start, b = t.off;
			while (a < b && is_space((unsigned char)sql[a]))
				a++;
			while (b > a && is_space((unsigned char)sql[b - 1]))
				b--;
			if (n < max) {
				spans[n].off = a;
				spans[n].len = b - a;
				n++;
			}
			found++;
		}
		if (end)
			break;
		start = lx.pos;
		content = false;
		memset(&tw, 0, sizeof(tw));
	}
	if (total)
		*total = found;
	return n;
}

bool sql_is_blank(const char *sql, size_t len) { return skip_blank(sql, len, 0) >= len; }

void sql_first_word(const char *stmt, size_t len, char *word, size_t wordlen)
{
	struct lexer lx = { stmt, len, 0 };
	struct tok t;
	if (wordlen == 0)
		return;
	word[0] = '\0';
	lex_next(&lx, &t);
	if (t.type != TOK_WORD || t.len >= wordlen)
		return;
	for (size_t k = 0; k < t.len; k++)
		word[k] = lower(stmt[t.off + k]);
	word[t.len] = '\0';
}

bool sql_guess_write(const char *stmt, size_t len)
{
	static const char *const writes[] = { "insert", "update", "delete", "replace", "create",
		                              "drop",   "alter",  "upsert", "vacuum",  "reindex",
		                              "truncate", "analyze", "pragma", "attach", "detach" };
	char w[16];
	sql_first_word(stmt, len, w, sizeof(w));
	for (size_t k = 0; k < sizeof(writes) / sizeof(writes[0]); k++)
		if (strcmp(w, writes[k]) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------- classifying */

struct parser {
	const char *s;
	size_t len;
	struct lexer lx;
	struct tok t; /* the current token */
	char *err;
	size_t errlen;
};

/* A bounded string builder over a fixed array; `over` when it ran out. */
struct sbuf {
	char *p;
	size_t cap, len;
	bool over;
};

static void sb_init(struct sbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	b->over = false;
	p[0] = '\0';
}

static void sb_putc(struct sbuf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		b->over = true;
		return;
	}
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s, size_t n, bool fold)
{
	for (size_t k = 0; k < n; k++)
		sb_putc(b, fold ? lower(s[k]) : s[k]);
}

/* Advances; a ';' followed only by ';' and blanks counts as the end, so a
 * statement from the extended protocol may keep its trailing semicolon. */
static void p_next(struct parser *p)
{
	lex_next(&p->lx, &p->t);
	if (p->t.type != TOK_PUNCT || p->s[p->t.off] != ';')
		return;
	size_t i = p->lx.pos;
	while ((i = skip_blank(p->s, p->len, i)) < p->len && p->s[i] == ';')
		i++;
	if (i >= p->len) {
		p->t.type = TOK_END;
		p->t.len = 0;
		p->lx.pos = p->len;
	}
}

static bool p_is(const struct parser *p, const char *kw) { return tok_is(p->s, &p->t, kw); }

static bool p_accept(struct parser *p, const char *kw)
{
	if (!p_is(p, kw))
		return false;
	p_next(p);
	return true;
}

static bool p_punct(const struct parser *p, char c) { return tok_punct(p->s, &p->t, c); }

static bool p_end(const struct parser *p) { return p->t.type == TOK_END; }

/* The token after the current one. */
static struct tok p_peek(const struct parser *p)
{
	struct parser q = *p;
	p_next(&q);
	return q.t;
}

static bool p_peek_is(const struct parser *p, const char *kw)
{
	struct tok t = p_peek(p);
	return tok_is(p->s, &t, kw);
}

static int p_error(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int p_error(struct parser *p, const char *fmt, ...)
{
	if (p->err && p->errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A syntax error at the current token, worded as PostgreSQL does. */
static int p_fail(struct parser *p)
{
	if (p_end(p))
		return p_error(p, "syntax error at end of input");
	int n = p->t.len > 40 ? 40 : (int)p->t.len;
	return p_error(p, "syntax error at or near \"%.*s\"", n, p->s + p->t.off);
}

static int p_expect_end(struct parser *p) { return p_end(p) ? 0 : p_fail(p); }

static int p_expect(struct parser *p, const char *kw) { return p_accept(p, kw) ? 0 : p_fail(p); }

static int hex_value(char c)
{
	if (is_digit((unsigned char)c))
		return c - '0';
	c = lower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Appends the text of a string token, quotes removed and escapes decoded. */
static void sb_string(struct sbuf *b, const char *s, const struct tok *t)
{
	const char *q = s + t->body;
	size_t n = t->body_len;
	for (size_t k = 0; k < n; k++) {
		char c = q[k];
		if (t->form != STR_DOLLAR && c == '\'' && k + 1 < n && q[k + 1] == '\'') {
			k++;
		} else if (t->form == STR_ESC && c == '\\' && k + 1 < n) {
			c = q[++k];
			switch (c) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'x':
				if (k + 1 < n && hex_value(q[k + 1]) >= 0) {
					int v = hex_value(q[++k]);
					if (k + 1 < n && hex_value(q[k + 1]) >= 0)
						v = v * 16 + hex_value(q[++k]);
					c = (char)v;
				}
				break;
			default:
				if (c >= '0' && c <= '7') {
					unsigned v = (unsigned)(c - '0');
					for (int d = 0; d < 2 && k + 1 < n && q[k + 1] >= '0' && q[k + 1] <= '7'; d++)
						v = v * 8 + (unsigned)(q[++k] - '0');
					c = (char)(v & 0xff);
				}
				break;
			}
		}
		sb_putc(b, c);
	}
}

/* Appends a quoted identifier's text with "" undoubled. */
static void sb_qident(struct sbuf *b, const char *s, const struct tok *t)
{
	const char *q = s + t->body;
	for (size_t k = 0; k < t->body_len; k++) {
		if (q[k] == '"' && k + 1 < t->body_len && q[k + 1] == '"')
			k++;
		sb_putc(b, q[k]);
	}
}

/* One name part (word or "identifier") appended to b; advances. */
static int p_name_part(struct parser *p, struct sbuf *b)
{
	if (p->t.type == TOK_WORD) {
		sb_puts(b, p->s + p->t.off, p->t.len, true);
	} else if (p->t.type == TOK_QIDENT) {
		if (p->t.body_len == 0)
			return p_error(p, "zero-length delimited identifier");
		sb_qident(b, p->s, &p->t);
	} else {
		return p_fail(p);
	}
	p_next(p);
	return 0;
}

static int p_check(struct parser *p, const struct sbuf *b, const char *what)
{
	return b->over ? p_error(p, "%s is too long", what) : 0;
}

/* name, or name.name… when dotted; into out->name. */
static int p_name(struct parser *p, struct sql_command *out, bool dotted)
{
	struct sbuf b;
	sb_init(&b, out->name, sizeof(out->name));
	if (p_name_part(p, &b) < 0)
		return -1;
	while (dotted && p_punct(p, '.')) {
		sb_putc(&b, '.');
		p_next(p);
		if (p_name_part(p, &b) < 0)
			return -1;
	}
	return p_check(p, &b, "name");
}

static void set_name(struct sql_command *out, const char *name) { snprintf(out->name, sizeof(out->name), "%s", name); }

/* An optional sign and an integer; *mag gets the magnitude. */
static int p_count(struct parser *p, uint64_t *mag, bool *neg)
{
	*neg = false;
	if (p_punct(p, '-') || p_punct(p, '+')) {
		*neg = p_punct(p, '-');
		p_next(p);
	}
	if (p->t.type != TOK_NUMBER)
		return p_fail(p);
	uint64_t v = 0;
	for (size_t k = 0; k < p->t.len; k++) {
		char c = p->s[p->t.off + k];
		if (!is_digit((unsigned char)c))
			return p_fail(p);
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(c - '0')) / 10)
			return p_error(p, "count is out of range");
		v = v * 10 + (uint64_t)(c - '0');
	}
	p_next(p);
	*mag = v;
	return 0;
}

/* ------------------------------------------------ transaction statements */

/* Transaction modes, separated by commas or white space. */
static int p_modes(struct parser *p, struct sql_command *out)
{
	bool first = true;
	while (!p_end(p)) {
		if (!first && p_punct(p, ','))
			p_next(p);
		first = false;
		if (p_accept(p, "isolation")) {
			if (p_expect(p, "level") < 0)
				return -1;
			if (p_accept(p, "serializable"))
				continue;
			if (p_accept(p, "repeatable")) {
				if (p_expect(p, "read") < 0)
					return -1;
			} else if (!p_accept(p, "read") || (!p_accept(p, "committed") && !p_accept(p, "uncommitted"))) {
				return p_fail(p);
			}
		} else if (p_accept(p, "read")) {
			if (p_accept(p, "only"))
				out->read_only = 1;
			else if (p_accept(p, "write"))
				out->read_only = 0;
			else
				return p_fail(p);
		} else if (p_accept(p, "not")) {
			if (p_expect(p, "deferrable") < 0)
				return -1;
		} else if (!p_accept(p, "deferrable")) {
			return p_fail(p);
		}
	}
	return 0;
}

static int parse_begin(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_BEGIN;
	static const char *const sqlite_modes[] = { "deferred", "immediate", "exclusive" };
	for (size_t k = 0; k < 3; k++)
		if (p_accept(p, sqlite_modes[k])) {
			set_name(out, sqlite_modes[k]);
			break;
		}
	if (!p_accept(p, "work"))
		p_accept(p, "transaction");
	return p_modes(p, out);
}

static int parse_start(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_BEGIN;
	p_next(p); /* TRANSACTION, checked by the caller */
	return p_modes(p, out);
}

/* [WORK|TRANSACTION] [AND [NO] CHAIN] for COMMIT, END, ROLLBACK and ABORT. */
static int p_finish(struct parser *p, const char *what)
{
	if (p_accept(p, "and")) {
		bool no = p_accept(p, "no");
		if (p_expect(p, "chain") < 0)
			return -1;
		if (!no)
			return p_error(p, "%s AND CHAIN is not supported", what);
	}
	return p_expect_end(p);
}

static int parse_commit(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_COMMIT;
	if (p_is(p, "prepared"))
		return p_error(p, "prepared transactions are not supported");
	if (!p_accept(p, "work"))
		p_accept(p, "transaction");
	return p_finish(p, "COMMIT");
}

/* [SAVEPOINT] name: "savepoint" alone is a name. */
static int p_savepoint_name(struct parser *p, struct sql_command *out)
{
	if (p_is(p, "savepoint") && p_peek(p).type != TOK_END)
		p_next(p);
	if (p_name(p, out, false) < 0)
		return -1;
	return p_expect_end(p);
}

static int parse_rollback(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_ROLLBACK;
	if (p_is(p, "prepared"))
		return p_error(p, "prepared transactions are not supported");
	if (!p_accept(p, "work"))
		p_accept(p, "transaction");
	if (p_accept(p, "to")) {
		out->kind = SQL_ROLLBACK_TO;
		return p_savepoint_name(p, out);
	}
	return p_finish(p, "ROLLBACK");
}

static int parse_abort(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_ROLLBACK;
	if (!p_accept(p, "work"))
		p_accept(p, "transaction");
	return p_finish(p, "ROLLBACK");
}

static int parse_savepoint(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_SAVEPOINT;
	if (p_name(p, out, false) < 0)
		return -1;
	return p_expect_end(p);
}

static int parse_release(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_RELEASE;
	return p_savepoint_name(p, out);
}

/* ------------------------------------------------------- SET, SHOW, RESET */

/* One value: [+|-]number, 'string', word (lower-cased) or "identifier". */
static int p_value(struct parser *p, struct sbuf *b)
{
	if (p_punct(p, '-') || p_punct(p, '+')) {
		if (p_punct(p, '-'))
			sb_putc(b, '-');
		p_next(p);
		if (p->t.type != TOK_NUMBER)
			return p_fail(p);
	}
	switch (p->t.type) {
	case TOK_WORD:
	case TOK_NUMBER:
		sb_puts(b, p->s + p->t.off, p->t.len, p->t.type == TOK_WORD);
		break;
	case TOK_QIDENT:
		sb_qident(b, p->s, &p->t);
		break;
	case TOK_STRING:
		sb_string(b, p->s, &p->t);
		break;
	default:
		return p_fail(p);
	}
	p_next(p);
	return 0;
}

/* DEFAULT | value[, value…] up to the end of the statement. */
static int p_values(struct parser *p, struct sql_command *out, bool list)
{
	struct sbuf b;
	sb_init(&b, out->value, sizeof(out->value));
	if (p_is(p, "default") && p_peek(p).type == TOK_END) {
		out->is_default = true;
		p_next(p);
		return 0;
	}
	for (;;) {
		if (p_value(p, &b) < 0)
			return -1;
		if (!list || !p_punct(p, ','))
			break;
		p_next(p);
		sb_puts(&b, ", ", 2, false);
	}
	if (p_check(p, &b, "value") < 0)
		return -1;
	return p_expect_end(p);
}

/* The rest of the statement as lower-case words joined by spaces. */
static int p_words(struct parser *p, char *dst, size_t cap)
{
	struct sbuf b;
	sb_init(&b, dst, cap);
	while (!p_end(p)) {
		if (b.len > 0 && !p_punct(p, ','))
			sb_putc(&b, ' ');
		sb_puts(&b, p->s + p->t.off, p->t.len, p->t.type == TOK_WORD);
		p_next(p);
	}
	return p_check(p, &b, "value");
}

static int parse_set(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_SET;
	if (p_accept(p, "local"))
		out->is_local = true;
	else if (p_is(p, "session") && !p_peek_is(p, "characteristics") && !p_peek_is(p, "authorization"))
		p_next(p);

	if (p_accept(p, "transaction")) {
		set_name(out, "transaction");
		if (p_is(p, "snapshot"))
			return p_error(p, "SET TRANSACTION SNAPSHOT is not supported");
		return p_modes(p, out);
	}
	if (p_is(p, "session") && p_peek_is(p, "characteristics")) {
		p_next(p);
		p_next(p);
		if (p_expect(p, "as") < 0 || p_expect(p, "transaction") < 0)
			return -1;
		set_name(out, "session_characteristics");
		return p_modes(p, out);
	}
	if (p_is(p, "session") && p_peek_is(p, "authorization")) {
		p_next(p);
		p_next(p);
		set_name(out, "session_authorization");
		return p_values(p, out, false);
	}
	if (p_is(p, "time") && p_peek_is(p, "zone")) {
		p_next(p);
		p_next(p);
		set_name(out, "timezone");
		if (p_is(p, "interval"))
			return p_error(p, "SET TIME ZONE INTERVAL is not supported");
		if ((p_is(p, "local") || p_is(p, "default")) && p_peek(p).type == TOK_END) {
			p_next(p);
			out->is_default = true;
			return 0;
		}
		return p_values(p, out, false);
	}
	if (p_accept(p, "names")) {
		set_name(out, "client_encoding");
		if (p_end(p)) {
			out->is_default = true;
			return 0;
		}
		return p_values(p, out, false);
	}
	struct tok after = p_peek(p);
	bool generic = tok_punct(p->s, &after, '=') || tok_is(p->s, &after, "to");
	if ((p_is(p, "role") || p_is(p, "schema")) && !generic) {
		set_name(out, p_is(p, "role") ? "role" : "search_path");
		p_next(p);
		return p_values(p, out, false);
	}
	if (p_is(p, "xml") && p_peek_is(p, "option")) {
		p_next(p);
		p_next(p);
		set_name(out, "xmloption");
		return p_values(p, out, false);
	}
	if (p_is(p, "constraints") && after.type != TOK_END && !generic) {
		p_next(p);
		set_name(out, "constraints");
		return p_words(p, out->value, sizeof(out->value));
	}
	if (p_name(p, out, true) < 0)
		return -1;
	if (!p_accept(p, "to") && !p_punct(p, '='))
		return p_fail(p);
	if (p_punct(p, '='))
		p_next(p);
	return p_values(p, out, true);
}

/* SHOW and RESET share their special names. */
static int p_setting_name(struct parser *p, struct sql_command *out)
{
	if (p_is(p, "all") && p_peek(p).type == TOK_END) {
		p_next(p);
		out->all = true;
		set_name(out, "all");
	} else if (p_is(p, "time") && p_peek_is(p, "zone")) {
		p_next(p);
		p_next(p);
		set_name(out, "timezone");
	} else if (p_is(p, "transaction") && p_peek_is(p, "isolation")) {
		p_next(p);
		p_next(p);
		if (p_expect(p, "level") < 0)
			return -1;
		set_name(out, "transaction_isolation");
	} else if (p_is(p, "session") && p_peek_is(p, "authorization")) {
		p_next(p);
		p_next(p);
		set_name(out, "session_authorization");
	} else if (p_name(p, out, true) < 0) {
		return -1;
	}
	return p_expect_end(p);
}

static int parse_show(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_SHOW;
	return p_setting_name(p, out);
}

static int parse_reset(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_RESET;
	return p_setting_name(p, out);
}

/* ---------------------------------------------------------------- cursors */

static int parse_declare(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_DECLARE;
	if (p_name(p, out, false) < 0)
		return -1;
	while (!p_accept(p, "cursor")) {
		if (p_accept(p, "binary"))
			out->binary = true;
		else if (p_accept(p, "no")) {
			if (p_expect(p, "scroll") < 0)
				return -1;
		} else if (!p_accept(p, "asensitive") && !p_accept(p, "insensitive") && !p_accept(p, "scroll"))
			return p_fail(p);
	}
	if (p_accept(p, "with")) {
		if (p_expect(p, "hold") < 0)
			return -1;
		out->hold = true;
	} else if (p_accept(p, "without")) {
		if (p_expect(p, "hold") < 0)
			return -1;
	}
	if (p_expect(p, "for") < 0)
		return -1;
	if (p_end(p))
		return p_fail(p);
	out->query_off = p->t.off;
	size_t end = p->t.off;
	for (; !p_end(p); p_next(p))
		end = p->t.off + p->t.len;
	out->query_len = end - out->query_off;
	return 0;
}

static void set_count(struct sql_command *out, uint64_t mag, bool backward)
{
	out->count = (int64_t)mag;
	out->backward = backward;
}

/* The direction of FETCH/MOVE; returns how many tokens it took, or -1. */
static int p_direction(struct parser *p, struct sql_command *out)
{
	uint64_t n;
	bool neg;
	if (p_accept(p, "next"))
		return 1;
	if (p_accept(p, "prior") || p_accept(p, "first") || p_accept(p, "last")) {
		out->backward = true;
		return 1;
	}
	if (p_accept(p, "absolute") || p_accept(p, "relative")) {
		if (p_count(p, &n, &neg) < 0)
			return -1;
		set_count(out, n, true);
		return 2;
	}
	if (p_accept(p, "all")) {
		out->count = INT64_MAX;
		return 1;
	}
	bool fwd = p_is(p, "forward");
	if (fwd || p_is(p, "backward")) {
		p_next(p);
		out->backward = !fwd;
		if (p_accept(p, "all")) {
			out->count = INT64_MAX;
			return 2;
		}
		if (p->t.type != TOK_NUMBER && !p_punct(p, '-') && !p_punct(p, '+'))
			return 1;
		if (p_count(p, &n, &neg) < 0)
			return -1;
		set_count(out, n, fwd == neg);
		return 2;
	}
	if (p->t.type == TOK_NUMBER || p_punct(p, '-') || p_punct(p, '+')) {
		if (p_count(p, &n, &neg) < 0)
			return -1;
		set_count(out, n, neg);
		return 1;
	}
	return 0;
}

static int parse_fetch_move(struct parser *p, struct sql_command *out, enum sql_kind kind)
{
	out->kind = kind;
	out->count = 1;
	struct lexer lx = p->lx;
	struct tok first = p->t;
	int took = p_direction(p, out);
	if (took < 0)
		return -1;
	if (took == 1 && p_end(p) && first.type == TOK_WORD) {
		/* FETCH next: a lone word is the cursor's name. */
		p->lx = lx;
		p->t = first;
		out->count = 1;
		out->backward = false;
	} else if (!p_accept(p, "from")) {
		p_accept(p, "in");
	}
	if (p_name(p, out, false) < 0)
		return -1;
	return p_expect_end(p);
}

static int parse_fetch(struct parser *p, struct sql_command *out) { return parse_fetch_move(p, out, SQL_FETCH); }

static int parse_move(struct parser *p, struct sql_command *out) { return parse_fetch_move(p, out, SQL_MOVE); }

/* CLOSE, DEALLOCATE: name | ALL */
static int p_name_or_all(struct parser *p, struct sql_command *out)
{
	if (p_is(p, "all")) {
		p_next(p);
		out->all = true;
		set_name(out, "all");
	} else if (p_name(p, out, false) < 0) {
		return -1;
	}
	return p_expect_end(p);
}

static int parse_close(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_CLOSE;
	return p_name_or_all(p, out);
}

static int parse_deallocate(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_DEALLOCATE;
	if (p_is(p, "prepare") && p_peek(p).type != TOK_END)
		p_next(p);
	return p_name_or_all(p, out);
}

static int parse_discard(struct parser *p, struct sql_command *out)
{
	static const char *const what[] = { "all", "plans", "sequences", "temp", "temporary" };
	out->kind = SQL_DISCARD;
	for (size_t k = 0; k < 5; k++) {
		if (p_accept(p, what[k])) {
			set_name(out, k == 4 ? "temp" : what[k]);
			out->all = k == 0;
			return p_expect_end(p);
		}
	}
	return p_fail(p);
}

/* ------------------------------------------------------------ the others */

static int parse_listen(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_LISTEN;
	if (p_name(p, out, false) < 0)
		return -1;
	return p_expect_end(p);
}

static int parse_unlisten(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_LISTEN;
	if (p_punct(p, '*')) {
		p_next(p);
		out->all = true;
		set_name(out, "*");
		return p_expect_end(p);
	}
	return parse_listen(p, out);
}

static int parse_notify(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_LISTEN;
	if (p_name(p, out, false) < 0)
		return -1;
	if (!p_punct(p, ','))
		return p_expect_end(p);
	p_next(p);
	if (p->t.type != TOK_STRING)
		return p_fail(p);
	struct sbuf b;
	sb_init(&b, out->value, sizeof(out->value));
	sb_string(&b, p->s, &p->t);
	p_next(p);
	if (p_check(p, &b, "payload") < 0)
		return -1;
	return p_expect_end(p);
}

static int parse_checkpoint(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_CHECKPOINT;
	return p_expect_end(p);
}

/* Skips a parenthesised group (the current token is its '('). */
static int p_skip_group(struct parser *p)
{
	size_t depth = 0;
	do {
		if (p_end(p))
			return p_fail(p);
		if (p_punct(p, '('))
			depth++;
		else if (p_punct(p, ')'))
			depth--;
		p_next(p);
	} while (depth > 0);
	return 0;
}

/* One table name, ready to paste into SQL, appended to b. */
static int p_table(struct parser *p, struct sbuf *b)
{
	for (;;) {
		if (p->t.type == TOK_WORD)
			sb_puts(b, p->s + p->t.off, p->t.len, true);
		else if (p->t.type == TOK_QIDENT)
			sb_puts(b, p->s + p->t.off, p->t.len, false);
		else
			return p_fail(p);
		p_next(p);
		if (!p_punct(p, '.'))
			return 0;
		sb_putc(b, '.');
		p_next(p);
	}
}

/* table [(columns)] [, …] up to the end (VACUUM and ANALYZE). */
static int p_tables(struct parser *p, struct sql_command *out)
{
	struct sbuf b;
	sb_init(&b, out->tables, sizeof(out->tables));
	while (!p_end(p)) {
		if (b.len > 0) {
			if (!p_punct(p, ','))
				return p_fail(p);
			p_next(p);
			sb_puts(&b, ", ", 2, false);
		}
		if (p_table(p, &b) < 0)
			return -1;
		if (p_punct(p, '(') && p_skip_group(p) < 0)
			return -1;
	}
	return p_check(p, &b, "table list");
}

/* Leading option words and an optional (option [value], …) list. */
static int p_maintenance_options(struct parser *p, struct sql_command *out, const char *const *words, size_t n)
{
	struct sbuf b;
	sb_init(&b, out->value, sizeof(out->value));
	for (bool again = true; again;) {
		again = false;
		for (size_t k = 0; k < n; k++) {
			if (p_is(p, words[k])) {
				if (b.len > 0)
					sb_puts(&b, ", ", 2, false);
				sb_puts(&b, words[k], strlen(words[k]), false);
				p_next(p);
				again = true;
			}
		}
	}
	if (p_punct(p, '(')) {
		p_next(p);
		while (!p_punct(p, ')')) {
			if (p->t.type != TOK_WORD)
				return p_fail(p);
			if (b.len > 0)
				sb_puts(&b, ", ", 2, false);
			sb_puts(&b, p->s + p->t.off, p->t.len, true);
			p_next(p);
			while (!p_end(p) && !p_punct(p, ',') && !p_punct(p, ')'))
				p_next(p); /* the option's value */
			if (p_punct(p, ','))
				p_next(p);
			else if (p_end(p))
				return p_fail(p);
		}
		p_next(p);
	}
	return p_check(p, &b, "option list");
}

static int parse_vacuum(struct parser *p, struct sql_command *out)
{
	static const char *const words[] = { "full", "freeze", "verbose", "analyze", "analyse" };
	struct lexer lx = p->lx;
	struct tok t = p->t;
	for (; t.type != TOK_END; lex_next(&lx, &t))
		if (tok_is(p->s, &t, "into"))
			return 0; /* SQLite's VACUUM [schema] INTO 'file' */
	out->kind = SQL_VACUUM;
	if (p_maintenance_options(p, out, words, 5) < 0)
		return -1;
	return p_tables(p, out);
}

static int parse_analyze(struct parser *p, struct sql_command *out)
{
	static const char *const words[] = { "verbose" };
	out->kind = SQL_ANALYZE;
	if (p_maintenance_options(p, out, words, 1) < 0)
		return -1;
	return p_tables(p, out);
}

static int parse_truncate(struct parser *p, struct sql_command *out)
{
	struct sbuf t, v;
	out->kind = SQL_TRUNCATE;
	p_accept(p, "table");
	sb_init(&t, out->tables, sizeof(out->tables));
	do {
		if (t.len > 0) {
			p_next(p); /* the ',' */
			sb_puts(&t, ", ", 2, false);
		}
		p_accept(p, "only");
		if (p_table(p, &t) < 0)
			return -1;
		if (p_punct(p, '*'))
			p_next(p);
	} while (p_punct(p, ','));
	static const char *const opts[][2] = { { "restart", "restart identity" },
		                                { "continue", "continue identity" },
		                                { "cascade", "cascade" },
		                                { "restrict", "restrict" } };
	sb_init(&v, out->value, sizeof(out->value));
	while (!p_end(p)) {
		size_t k = 0;
		while (k < 4 && !p_is(p, opts[k][0]))
			k++;
		if (k == 4)
			return p_fail(p);
		p_next(p);
		if (k < 2 && p_expect(p, "identity") < 0)
			return -1;
		if (v.len > 0)
			sb_puts(&v, ", ", 2, false);
		sb_puts(&v, opts[k][1], strlen(opts[k][1]), false);
	}
	if (p_check(p, &t, "table list") < 0)
		return -1;
	return p_check(p, &v, "option list");
}

/* ----------------------------------------------------------- dispatching */

static const struct {
	const char *word;
	int (*parse)(struct parser *p, struct sql_command *out);
} commands[] = {
	{ "abort", parse_abort },
	{ "analyse", parse_analyze },
	{ "analyze", parse_analyze },
	{ "begin", parse_begin },
	{ "checkpoint", parse_checkpoint },
	{ "close", parse_close },
	{ "commit", parse_commit },
	{ "deallocate", parse_deallocate },
	{ "declare", parse_declare },
	{ "discard", parse_discard },
	{ "end", parse_commit },
	{ "fetch", parse_fetch },
	{ "listen", parse_listen },
	{ "move", parse_move },
	{ "notify", parse_notify },
	{ "release", parse_release },
	{ "reset", parse_reset },
	{ "rollback", parse_rollback },
	{ "savepoint", parse_savepoint },
	{ "set", parse_set },
	{ "show", parse_show },
	{ "start", parse_start },
	{ "truncate", parse_truncate },
	{ "unlisten", parse_unlisten },
	{ "vacuum", parse_vacuum },
};

int sql_classify(const char *stmt, size_t len, struct sql_command *out, char *err, size_t errlen)
{
	struct parser p = { stmt, len, { stmt, len, 0 }, { 0 }, err, errlen };
	memset(out, 0, sizeof(*out));
	out->kind = SQL_OTHER;
	out->read_only = -1;
	if (err && errlen > 0)
		err[0] = '\0';

	p_next(&p);
	if (p.t.type != TOK_WORD || p.t.len > 10)
		return 0;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (!tok_is(stmt, &p.t, commands[k].word))
			continue;
		p_next(&p);
		if (commands[k].parse == parse_start && !p_is(&p, "transaction"))
			return 0; /* not ours; SQLite reports it */
		return commands[k].parse(&p, out);
	}
	return 0;
}
