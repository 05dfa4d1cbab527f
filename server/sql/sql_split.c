/*
 * sql_split.c — the lexical front of the SQL dialect (see sql_split.h):
 * splitting a simple-query string into statements, and the first-word
 * helpers. Recognising the commands that sluice runs itself (sql_classify)
 * lives in sql_classify.c; the tokens both walk come from sql_lex.c, whose
 * header spells out the lexical rules.
 *
 * Pure functions over a byte range that need not be NUL-terminated; no
 * allocation, no I/O, no global state. Called on the loop thread for every
 * simple query, so each function is one pass over the text.
 *
 * Splitting: a ';' outside strings, quoted identifiers and comments ends a
 * statement, with one exception borrowed from sqlite3_complete(): in
 * CREATE [TEMP|TEMPORARY] TRIGGER … BEGIN … END, the ';' inside the body do
 * not split; only a ';' right after an END that does not close a CASE ends
 * the statement. This keeps SQLite trigger definitions whole;
 * PostgreSQL-style triggers (no BEGIN) are split as usual.
 */
#include "sql_split.h"

#include "sql_lex.h"

#include <string.h>

/* ------------------------------------------------------------- splitting */

/* Tracks CREATE [TEMP] TRIGGER … BEGIN … END so the body stays whole. */
struct trigger_watch {
	int stage; /* 0 start, 1 CREATE, 2 TEMP, 3 not a trigger, 4 header, 5 body */
	size_t case_depth;
	bool prev_end; /* the last token was an END closing the body */
};

static void trigger_note(struct trigger_watch *tw, const char *s, const struct sql_token *t)
{
	bool end = false;
	switch (tw->stage) {
	case 0:
		tw->stage = sql_lex_tok_is(s, t, "create") ? 1 : 3;
		break;
	case 1:
		if (sql_lex_tok_is(s, t, "temp") || sql_lex_tok_is(s, t, "temporary"))
			tw->stage = 2;
		else
			tw->stage = sql_lex_tok_is(s, t, "trigger") ? 4 : 3;
		break;
	case 2:
		tw->stage = sql_lex_tok_is(s, t, "trigger") ? 4 : 3;
		break;
	case 4:
		if (sql_lex_tok_is(s, t, "begin"))
			tw->stage = 5;
		break;
	case 5:
		if (sql_lex_tok_is(s, t, "case")) {
			tw->case_depth++;
		} else if (sql_lex_tok_is(s, t, "end")) {
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
	struct sql_lexer lx = { sql, len, 0 };
	struct trigger_watch tw = { 0, 0, false };
	struct sql_token t;
	size_t n = 0, found = 0, start = 0;
	bool content = false;

	for (;;) {
		sql_lex_next(&lx, &t);
		bool end = t.type == SQL_TOK_END;
		if (!end && !(sql_lex_tok_punct(sql, &t, ';') && (tw.stage != 5 || tw.prev_end))) {
			content = true;
			trigger_note(&tw, sql, &t);
			continue;
		}
		if (content) {
			size_t a = start, b = t.off;
			while (a < b && sql_lex_is_space((unsigned char)sql[a]))
				a++;
			while (b > a && sql_lex_is_space((unsigned char)sql[b - 1]))
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

bool sql_is_blank(const char *sql, size_t len) { return sql_lex_skip_blank(sql, len, 0) >= len; }

void sql_first_word(const char *stmt, size_t len, char *word, size_t wordlen)
{
	struct sql_lexer lx = { stmt, len, 0 };
	struct sql_token t;
	if (wordlen == 0)
		return;
	word[0] = '\0';
	sql_lex_next(&lx, &t);
	if (t.type != SQL_TOK_WORD || t.len >= wordlen)
		return;
	for (size_t k = 0; k < t.len; k++)
		word[k] = sql_lex_lower(stmt[t.off + k]);
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
