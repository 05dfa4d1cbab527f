/*
 * sql_lex.c — the one lexer of the SQL dialect (see sql_lex.h), used by the
 * splitter and classifier (sql_split.c, sql_classify.c) to walk statements
 * token by token, and by the rewriter (sql_rewrite.c), which copies every
 * token, blanks included, to its output.
 *
 * Pure functions over a byte range that need not be NUL-terminated; no
 * allocation, no I/O, no global state.
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
 */
#include "sql_lex.h"

#include <string.h>

int sql_lex_hex_value(char c)
{
	if (sql_lex_is_digit((unsigned char)c))
		return c - '0';
	c = sql_lex_lower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

size_t sql_lex_skip_quoted(const char *s, size_t len, size_t i, char q, bool bs, bool *closed)
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

size_t sql_lex_dollar_tag_len(const char *s, size_t len, size_t i)
{
	size_t j = i + 1;
	if (j < len && s[j] != '$') {
		if (!sql_lex_is_ident_start((unsigned char)s[j]))
			return 0;
		while (j < len && (sql_lex_is_ident_start((unsigned char)s[j]) || sql_lex_is_digit((unsigned char)s[j])))
			j++;
	}
	if (j >= len || s[j] != '$')
		return 0;
	return j + 1 - i;
}

size_t sql_lex_skip_dollar(const char *s, size_t len, size_t i, size_t taglen, bool *closed)
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

size_t sql_lex_skip_line(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] != '\n' && s[i] != '\r')
		i++;
	return i;
}

size_t sql_lex_skip_block(const char *s, size_t len, size_t i, bool *nested, bool *closed)
{
	size_t depth = 1;
	*nested = false;
	for (i += 2; i < len; i++) {
		if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
			depth++;
			*nested = true;
			i++;
		} else if (s[i] == '*' && i + 1 < len && s[i + 1] == '/') {
			i++;
			if (--depth == 0) {
				*closed = true;
				return i + 1;
			}
		}
	}
	*closed = false;
	return len;
}

size_t sql_lex_skip_blank(const char *s, size_t len, size_t i)
{
	bool nested, closed;
	while (i < len) {
		if (sql_lex_is_space((unsigned char)s[i]))
			i++;
		else if (s[i] == '-' && i + 1 < len && s[i + 1] == '-')
			i = sql_lex_skip_line(s, len, i);
		else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*')
			i = sql_lex_skip_block(s, len, i, &nested, &closed);
		else
			break;
	}
	return i;
}

size_t sql_lex_word_end(const char *s, size_t len, size_t i)
{
	for (i++; i < len && sql_lex_is_ident_char((unsigned char)s[i]); i++)
		;
	return i;
}

/* Index just past the number starting at s[i]. */
static size_t number_end(const char *s, size_t len, size_t i)
{
	size_t e;
	for (e = i; e < len; e++) {
		unsigned char d = (unsigned char)s[e];
		if ((d == 'e' || d == 'E') && e + 2 < len && (s[e + 1] == '+' || s[e + 1] == '-') &&
		    sql_lex_is_digit((unsigned char)s[e + 2]))
			e += 2;
		else if (!sql_lex_is_digit(d) && !sql_lex_is_alpha(d) && d != '_' && d != '.')
			break;
	}
	return e;
}

char sql_lex_unescape(const char *q, size_t n, size_t *k)
{
	char c = q[*k];
	switch (c) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'x':
		if (*k + 1 < n && sql_lex_hex_value(q[*k + 1]) >= 0) {
			int v = sql_lex_hex_value(q[++*k]);
			if (*k + 1 < n && sql_lex_hex_value(q[*k + 1]) >= 0)
				v = v * 16 + sql_lex_hex_value(q[++*k]);
			c = (char)v;
		}
		return c;
	default:
		if (c >= '0' && c <= '7') {
			unsigned v = (unsigned)(c - '0');
			for (int d = 0; d < 2 && *k + 1 < n && q[*k + 1] >= '0' && q[*k + 1] <= '7'; d++)
				v = v * 8 + (unsigned)(q[++*k] - '0');
			c = (char)(v & 0xff);
		}
		return c;
	}
}

/* A quoted string whose opening quote is at s[q]; the token began earlier
 * when it has a prefix. */
static size_t lex_string(const char *s, size_t len, size_t q, bool esc, struct sql_token *t)
{
	size_t e = sql_lex_skip_quoted(s, len, q, '\'', esc, &t->closed);
	t->type = SQL_TOK_STRING;
	t->form = esc ? SQL_STR_ESC : SQL_STR_STD;
	t->body = q + 1;
	t->body_len = e - (q + 1) - (t->closed ? 1 : 0);
	return e;
}

void sql_lex_scan(const char *s, size_t len, size_t i, struct sql_token *t)
{
	size_t e, n;

	t->off = i;
	t->form = SQL_STR_STD;
	t->prefix = 0;
	t->closed = false;
	t->nested = false;
	t->body = i;
	t->body_len = 0;
	if (i >= len) {
		t->type = SQL_TOK_END;
		t->len = 0;
		return;
	}
	unsigned char c = (unsigned char)s[i];
	if (sql_lex_is_space(c)) {
		for (e = i + 1; e < len && sql_lex_is_space((unsigned char)s[e]); e++)
			;
		t->type = SQL_TOK_SPACE;
	} else if (c == '-' && i + 1 < len && s[i + 1] == '-') {
		e = sql_lex_skip_line(s, len, i);
		t->type = SQL_TOK_COMMENT;
		t->closed = true;
	} else if (c == '/' && i + 1 < len && s[i + 1] == '*') {
		e = sql_lex_skip_block(s, len, i, &t->nested, &t->closed);
		t->type = SQL_TOK_COMMENT;
	} else if (c == '\'') {
		e = lex_string(s, len, i, false, t);
	} else if (c == '"') {
		e = sql_lex_skip_quoted(s, len, i, '"', false, &t->closed);
		t->type = SQL_TOK_QIDENT;
		t->body = i + 1;
		t->body_len = e - (i + 1) - (t->closed ? 1 : 0);
	} else if (c == '$' && i + 1 < len && sql_lex_is_digit((unsigned char)s[i + 1])) {
		for (e = i + 1; e < len && sql_lex_is_digit((unsigned char)s[e]); e++)
			;
		t->type = SQL_TOK_PARAM;
	} else if (c == '$' && (n = sql_lex_dollar_tag_len(s, len, i)) > 0) {
		e = sql_lex_skip_dollar(s, len, i, n, &t->closed);
		t->type = SQL_TOK_STRING;
		t->form = SQL_STR_DOLLAR;
		t->prefix = '$';
		t->body = i + n;
		t->body_len = (t->closed ? e - n : e) - t->body;
	} else if (sql_lex_is_ident_start(c)) {
		e = sql_lex_word_end(s, len, i);
		char p = sql_lex_lower((char)c);
		if (e == i + 1 && e < len && s[e] == '\'' && (p == 'e' || p == 'b' || p == 'x' || p == 'n')) {
			e = lex_string(s, len, e, p == 'e', t);
			t->prefix = p;
		} else if (e == i + 1 && p == 'u' && e + 1 < len && s[e] == '&' && s[e + 1] == '\'') {
			e = lex_string(s, len, e + 1, false, t);
			t->prefix = p;
		} else {
			t->type = SQL_TOK_WORD;
		}
	} else if (sql_lex_is_digit(c) || (c == '.' && i + 1 < len && sql_lex_is_digit((unsigned char)s[i + 1]))) {
		e = number_end(s, len, i);
		t->type = SQL_TOK_NUMBER;
	} else {
		e = i + 1;
		t->type = SQL_TOK_PUNCT;
	}
	t->len = e - i;
}

void sql_lex_next(struct sql_lexer *lx, struct sql_token *t)
{
	sql_lex_scan(lx->s, lx->len, sql_lex_skip_blank(lx->s, lx->len, lx->pos), t);
	lx->pos = t->type == SQL_TOK_END ? lx->len : t->off + t->len;
}

bool sql_lex_tok_is(const char *s, const struct sql_token *t, const char *kw)
{
	size_t n = strlen(kw);
	if (t->type != SQL_TOK_WORD || t->len != n)
		return false;
	for (size_t k = 0; k < n; k++)
		if (sql_lex_lower(s[t->off + k]) != kw[k])
			return false;
	return true;
}
