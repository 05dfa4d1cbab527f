/*
 * sql_classify.c — recognising the commands that sluice runs itself rather
 * than SQLite (transaction control, SET/SHOW/RESET, cursors, LISTEN, the
 * maintenance commands): sql_classify(), declared in sql_split.h.
 *
 * Pure functions over a byte range that need not be NUL-terminated; no
 * allocation, no I/O, no global state. Runs on any thread.
 *
 * Classification is a small recursive-descent parser over the tokens of
 * sql_lex.c (the same ones sql_split() splits by). Conventions beyond the
 * header:
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
 *     ("full, analyze", "restart identity, cascade"). SQLite's VACUUM …
 *     INTO is SQL_VACUUM_INTO;
 *   - names longer than SQL_NAME_MAX-1 and values longer than
 *     SQL_VALUE_MAX-1 bytes are errors, never silently cut.
 */
#include "sql_split.h"

#include "sql_lex.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------- classifying */

struct parser {
	const char *s;
	size_t len;
	struct sql_lexer lx;
	struct sql_token t; /* the current token */
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
		sb_putc(b, fold ? sql_lex_lower(s[k]) : s[k]);
}

/* Advances; a ';' followed only by ';' and blanks counts as the end, so a
 * statement from the extended protocol may keep its trailing semicolon. */
static void p_next(struct parser *p)
{
	sql_lex_next(&p->lx, &p->t);
	if (p->t.type != SQL_TOK_PUNCT || p->s[p->t.off] != ';')
		return;
	size_t i = p->lx.pos;
	while ((i = sql_lex_skip_blank(p->s, p->len, i)) < p->len && p->s[i] == ';')
		i++;
	if (i >= p->len) {
		p->t.type = SQL_TOK_END;
		p->t.len = 0;
		p->lx.pos = p->len;
	}
}

static bool p_is(const struct parser *p, const char *kw) { return sql_lex_tok_is(p->s, &p->t, kw); }

static bool p_accept(struct parser *p, const char *kw)
{
	if (!p_is(p, kw))
		return false;
	p_next(p);
	return true;
}

static bool p_punct(const struct parser *p, char c) { return sql_lex_tok_punct(p->s, &p->t, c); }

static bool p_end(const struct parser *p) { return p->t.type == SQL_TOK_END; }

/* The token after the current one. */
static struct sql_token p_peek(const struct parser *p)
{
	struct parser q = *p;
	p_next(&q);
	return q.t;
}

static bool p_peek_is(const struct parser *p, const char *kw)
{
	struct sql_token t = p_peek(p);
	return sql_lex_tok_is(p->s, &t, kw);
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

/* Appends the text of a string token, quotes removed and escapes decoded. */
static void sb_string(struct sbuf *b, const char *s, const struct sql_token *t)
{
	const char *q = s + t->body;
	size_t n = t->body_len;
	for (size_t k = 0; k < n; k++) {
		char c = q[k];
		if (t->form != SQL_STR_DOLLAR && c == '\'' && k + 1 < n && q[k + 1] == '\'') {
			k++;
		} else if (t->form == SQL_STR_ESC && c == '\\' && k + 1 < n) {
			k++;
			c = sql_lex_unescape(q, n, &k);
		}
		sb_putc(b, c);
	}
}

/* Appends a quoted identifier's text with "" undoubled. */
static void sb_qident(struct sbuf *b, const char *s, const struct sql_token *t)
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
	if (p->t.type == SQL_TOK_WORD) {
		sb_puts(b, p->s + p->t.off, p->t.len, true);
	} else if (p->t.type == SQL_TOK_QIDENT) {
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
	if (p->t.type != SQL_TOK_NUMBER)
		return p_fail(p);
	uint64_t v = 0;
	for (size_t k = 0; k < p->t.len; k++) {
		char c = p->s[p->t.off + k];
		if (!sql_lex_is_digit((unsigned char)c))
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
	if (p_is(p, "savepoint") && p_peek(p).type != SQL_TOK_END)
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
		if (p->t.type != SQL_TOK_NUMBER)
			return p_fail(p);
	}
	switch (p->t.type) {
	case SQL_TOK_WORD:
	case SQL_TOK_NUMBER:
		sb_puts(b, p->s + p->t.off, p->t.len, p->t.type == SQL_TOK_WORD);
		break;
	case SQL_TOK_QIDENT:
		sb_qident(b, p->s, &p->t);
		break;
	case SQL_TOK_STRING:
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
	if (p_is(p, "default") && p_peek(p).type == SQL_TOK_END) {
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
		sb_puts(&b, p->s + p->t.off, p->t.len, p->t.type == SQL_TOK_WORD);
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
		if ((p_is(p, "local") || p_is(p, "default")) && p_peek(p).type == SQL_TOK_END) {
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
	struct sql_token after = p_peek(p);
	bool generic = sql_lex_tok_punct(p->s, &after, '=') || sql_lex_tok_is(p->s, &after, "to");
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
	if (p_is(p, "constraints") && after.type != SQL_TOK_END && !generic) {
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
	if (p_is(p, "all") && p_peek(p).type == SQL_TOK_END) {
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
		if (p->t.type != SQL_TOK_NUMBER && !p_punct(p, '-') && !p_punct(p, '+'))
			return 1;
		if (p_count(p, &n, &neg) < 0)
			return -1;
		set_count(out, n, fwd == neg);
		return 2;
	}
	if (p->t.type == SQL_TOK_NUMBER || p_punct(p, '-') || p_punct(p, '+')) {
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
	struct sql_lexer lx = p->lx;
	struct sql_token first = p->t;
	int took = p_direction(p, out);
	if (took < 0)
		return -1;
	if (took == 1 && p_end(p) && first.type == SQL_TOK_WORD) {
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
	if (p_is(p, "prepare") && p_peek(p).type != SQL_TOK_END)
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
	if (p->t.type != SQL_TOK_STRING)
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
		if (p->t.type == SQL_TOK_WORD)
			sb_puts(b, p->s + p->t.off, p->t.len, true);
		else if (p->t.type == SQL_TOK_QIDENT)
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
			if (p->t.type != SQL_TOK_WORD)
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
	struct sql_lexer lx = p->lx;
	struct sql_token t = p->t;
	for (; t.type != SQL_TOK_END; sql_lex_next(&lx, &t))
		if (sql_lex_tok_is(p->s, &t, "into")) {
			out->kind = SQL_VACUUM_INTO; /* SQLite's VACUUM [schema] INTO 'file' */
			return 0;
		}
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

/* ------------------------------------------------ replication commands */

/* An LSN written X/Y in hex, as one run of text up to white space, a
 * parenthesis or the end; the lexer then goes on after it. */
static int p_lsn(struct parser *p, uint64_t *lsn)
{
	if (p_end(p))
		return p_fail(p);
	size_t i = p->t.off, end = i;
	while (end < p->len && !sql_lex_is_space((unsigned char)p->s[end]) && p->s[end] != '(' && p->s[end] != ';')
		end++;
	uint64_t part[2] = { 0, 0 };
	int k = 0, digits = 0;
	for (size_t j = i; j < end; j++) {
		int v = sql_lex_hex_value(p->s[j]);
		if (p->s[j] == '/' && k == 0 && digits > 0) {
			k = 1;
			digits = 0;
		} else if (v >= 0 && digits < 8) {
			part[k] = part[k] * 16 + (uint64_t)v;
			digits++;
		} else {
			return p_error(p, "invalid LSN \"%.*s\"", (int)(end - i), p->s + i);
		}
	}
	if (k != 1 || digits == 0)
		return p_error(p, "invalid LSN \"%.*s\"", (int)(end - i), p->s + i);
	*lsn = part[0] << 32 | part[1];
	p->lx.pos = end;
	p_next(p);
	return 0;
}

/* One option into the list: "name" or "name=value". */
static void options_add(struct sbuf *b, const char *name, const char *value)
{
	if (b->len > 0)
		sb_putc(b, '\n');
	sb_puts(b, name, strlen(name), false);
	if (value) {
		sb_putc(b, '=');
		sb_puts(b, value, strlen(value), false);
	}
}

/* ( name [value] [, …] ): names are words or "identifiers", values
 * strings, words or numbers. */
static int p_repl_options(struct parser *p, struct sql_command *out)
{
	struct sbuf b;
	sb_init(&b, out->options, sizeof(out->options));
	p_next(p); /* ( */
	while (!p_punct(p, ')')) {
		char name[SQL_NAME_MAX], value[SQL_VALUE_MAX];
		struct sbuf nb, vb;
		sb_init(&nb, name, sizeof(name));
		if (p_name_part(p, &nb) < 0 || p_check(p, &nb, "option name") < 0)
			return -1;
		bool has_value = false;
		sb_init(&vb, value, sizeof(value));
		if (p->t.type == SQL_TOK_STRING) {
			sb_string(&vb, p->s, &p->t);
			has_value = true;
			p_next(p);
		} else if (p->t.type == SQL_TOK_WORD || p->t.type == SQL_TOK_NUMBER) {
			sb_puts(&vb, p->s + p->t.off, p->t.len, p->t.type == SQL_TOK_WORD);
			has_value = true;
			p_next(p);
		}
		if (p_check(p, &vb, "option value") < 0)
			return -1;
		options_add(&b, name, has_value ? value : NULL);
		if (p_punct(p, ','))
			p_next(p);
		else if (!p_punct(p, ')'))
			return p_fail(p);
	}
	p_next(p); /* ) */
	return p_check(p, &b, "option list");
}

static int p_slot_name(struct parser *p, struct sql_command *out) { return p_name(p, out, false); }

static int parse_identify_system(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_REPL_IDENTIFY;
	return p_expect_end(p);
}

static int parse_create_slot(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_REPL_CREATE_SLOT;
	if (p_slot_name(p, out) < 0)
		return -1;
	out->temporary = p_accept(p, "temporary");
	if (p_accept(p, "physical")) {
		out->physical = true;
	} else {
		if (p_expect(p, "logical") < 0)
			return -1;
		struct sbuf b;
		sb_init(&b, out->plugin, sizeof(out->plugin));
		if (p_name_part(p, &b) < 0 || p_check(p, &b, "plugin name") < 0)
			return -1;
	}
	if (p_punct(p, '('))
		return p_repl_options(p, out) < 0 ? -1 : p_expect_end(p);
	static const char *const words[][2] = {
		{ "export_snapshot", "snapshot=export" }, { "noexport_snapshot", "snapshot=nothing" },
		{ "use_snapshot", "snapshot=use" },	  { "two_phase", "two_phase" },
		{ "reserve_wal", "reserve_wal" },
	};
	struct sbuf b;
	sb_init(&b, out->options, sizeof(out->options));
	while (!p_end(p)) {
		size_t k = 0;
		while (k < sizeof(words) / sizeof(words[0]) && !p_is(p, words[k][0]))
			k++;
		if (k == sizeof(words) / sizeof(words[0]))
			return p_fail(p);
		options_add(&b, words[k][1], NULL);
		p_next(p);
	}
	return p_check(p, &b, "option list");
}

static int parse_drop_slot(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_REPL_DROP_SLOT;
	if (p_slot_name(p, out) < 0)
		return -1;
	if (p_accept(p, "wait"))
		snprintf(out->options, sizeof(out->options), "wait");
	return p_expect_end(p);
}

static int parse_start_replication(struct parser *p, struct sql_command *out)
{
	out->kind = SQL_REPL_START;
	if (p_accept(p, "slot") && p_slot_name(p, out) < 0)
		return -1;
	if (p_accept(p, "logical")) {
		if (!out->name[0])
			return p_error(p, "logical replication needs a slot");
	} else {
		out->physical = true;
		p_accept(p, "physical");
	}
	if (p_lsn(p, &out->lsn) < 0)
		return -1;
	if (out->physical && p_accept(p, "timeline")) {
		if (p->t.type != SQL_TOK_NUMBER)
			return p_fail(p);
		p_next(p);
	}
	if (!out->physical && p_punct(p, '(') && p_repl_options(p, out) < 0)
		return -1;
	return p_expect_end(p);
}

static int parse_repl_other(struct parser *p, struct sql_command *out)
{
	(void)p;
	out->kind = SQL_REPL_OTHER;
	return 0;
}

/* ----------------------------------------------------------- dispatching */

static const struct {
	const char *word;
	int (*parse)(struct parser *p, struct sql_command *out);
} commands[] = {
	{ "abort", parse_abort },
	{ "analyse", parse_analyze },
	{ "analyze", parse_analyze },
	{ "base_backup", parse_repl_other },
	{ "begin", parse_begin },
	{ "checkpoint", parse_checkpoint },
	{ "close", parse_close },
	{ "commit", parse_commit },
	{ "create_replication_slot", parse_create_slot },
	{ "deallocate", parse_deallocate },
	{ "declare", parse_declare },
	{ "discard", parse_discard },
	{ "drop_replication_slot", parse_drop_slot },
	{ "end", parse_commit },
	{ "fetch", parse_fetch },
	{ "identify_system", parse_identify_system },
	{ "listen", parse_listen },
	{ "move", parse_move },
	{ "notify", parse_notify },
	{ "read_replication_slot", parse_repl_other },
	{ "release", parse_release },
	{ "reset", parse_reset },
	{ "rollback", parse_rollback },
	{ "savepoint", parse_savepoint },
	{ "set", parse_set },
	{ "show", parse_show },
	{ "start", parse_start },
	{ "start_replication", parse_start_replication },
	{ "timeline_history", parse_repl_other },
	{ "truncate", parse_truncate },
	{ "upload_manifest", parse_repl_other },
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
	if (p.t.type != SQL_TOK_WORD || p.t.len > 23)
		return 0;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (!sql_lex_tok_is(stmt, &p.t, commands[k].word))
			continue;
		p_next(&p);
		if (commands[k].parse == parse_start && !p_is(&p, "transaction"))
			return 0; /* not ours; SQLite reports it */
		return commands[k].parse(&p, out);
	}
	return 0;
}
