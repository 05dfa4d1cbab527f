/*
 * sql_lex.h — the one lexer of the SQL dialect, shared by the statement
 * splitter and classifier (sql_split.c, sql_classify.c) and the rewriter
 * (sql_rewrite.c). Private to server/: not part of any public interface.
 *
 * Works over a byte range s[0..len) that need not be NUL-terminated; every
 * function takes the length and never reads past it. Pure functions, no
 * allocation, no global state; runs on any thread. The token rules are
 * spelled out at the top of sql_lex.c.
 */
#ifndef SL_SQL_LEX_H
#define SL_SQL_LEX_H

#include <stdbool.h>
#include <stddef.h>

/* ------------------------------------------------------ character classes */

static inline bool sql_lex_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline bool sql_lex_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static inline bool sql_lex_is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static inline bool sql_lex_is_ident_start(unsigned char c) { return sql_lex_is_alpha(c) || c == '_' || c >= 0x80; }

static inline bool sql_lex_is_ident_char(unsigned char c)
{
	return sql_lex_is_ident_start(c) || sql_lex_is_digit(c) || c == '$';
}

/* ASCII lower case; other bytes unchanged. */
static inline char sql_lex_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c; }

/* The value of a hex digit, or -1. */
int sql_lex_hex_value(char c);

/* ------------------------------------------------------------- skipping */

/* Index just past a run quoted by q that opens at s[i]: a doubled q is a q,
 * and with bs a backslash escapes the next byte. *closed tells whether the
 * closing q was found (if not, the result is len). */
size_t sql_lex_skip_quoted(const char *s, size_t len, size_t i, char q, bool bs, bool *closed);

/* Length of the $tag$ that opens at s[i] (a '$'), or 0 when none does. */
size_t sql_lex_dollar_tag_len(const char *s, size_t len, size_t i);

/* Index just past the dollar-quoted string opening at s[i] with its tag. */
size_t sql_lex_skip_dollar(const char *s, size_t len, size_t i, size_t taglen, bool *closed);

/* Index of the end of the "--" comment at s[i] (its \n or \r, or len). */
size_t sql_lex_skip_line(const char *s, size_t len, size_t i);

/* Index just past the block comment opening at s[i]; *nested when another
 * one opens inside it, *closed when its last level is closed. */
size_t sql_lex_skip_block(const char *s, size_t len, size_t i, bool *nested, bool *closed);

/* Index just past white space and comments starting at s[i]. */
size_t sql_lex_skip_blank(const char *s, size_t len, size_t i);

/* Index just past the word at s[i] (which starts a word). */
size_t sql_lex_word_end(const char *s, size_t len, size_t i);

/*
 * Decodes the backslash escape whose letter is q[*k] (the byte after the
 * backslash) in an E'…' body q[0..n): \b \f \n \r \t, \xh[h], \ooo, and any
 * other byte as itself. Advances *k over the digits taken. \u and \U are the
 * caller's (here they are the letter itself).
 */
char sql_lex_unescape(const char *q, size_t n, size_t *k);

/* --------------------------------------------------------------- tokens */

enum sql_token_type {
	SQL_TOK_END = 0, /* end of the text */
	SQL_TOK_SPACE,   /* a run of white space (sql_lex_scan only) */
	SQL_TOK_COMMENT, /* "--" or block comment (sql_lex_scan only) */
	SQL_TOK_WORD,    /* keyword or unquoted identifier */
	SQL_TOK_QIDENT,  /* "quoted identifier" */
	SQL_TOK_STRING,  /* '…', E'…', $tag$…$tag$ and the prefixed forms */
	SQL_TOK_NUMBER,
	SQL_TOK_PARAM, /* $1 */
	SQL_TOK_PUNCT, /* any other single byte */
};

enum sql_str_form { SQL_STR_STD, SQL_STR_ESC, SQL_STR_DOLLAR };

struct sql_token {
	enum sql_token_type type;
	enum sql_str_form form;
	char prefix;           /* strings: lower-case b, e, n, u (U&), x or '$', else 0 */
	bool closed;           /* strings, identifiers, comments: the end was found */
	bool nested;           /* block comments: another opened inside */
	size_t off, len;       /* the whole token */
	size_t body, body_len; /* strings and identifiers: between the quotes */
};

/* The token that starts at s[i], white space and comments included. */
void sql_lex_scan(const char *s, size_t len, size_t i, struct sql_token *t);

/* A cursor over the text that skips white space and comments. */
struct sql_lexer {
	const char *s;
	size_t len;
	size_t pos;
};

/* The next token other than white space and comments (SQL_TOK_END at the end). */
void sql_lex_next(struct sql_lexer *lx, struct sql_token *t);

/* True when t is the word kw (lower case), in any case. */
bool sql_lex_tok_is(const char *s, const struct sql_token *t, const char *kw);

/* True when t is the punctuation byte c. */
static inline bool sql_lex_tok_punct(const char *s, const struct sql_token *t, char c)
{
	return t->type == SQL_TOK_PUNCT && s[t->off] == c;
}

#endif
