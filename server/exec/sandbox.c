/*
 * sandbox.c — the policy of sandbox.h: which SQLite actions client SQL may
 * take. Pure: no connection, no state; dbpool.c's authorizer asks it for
 * every action of a client statement being prepared.
 */
#include "sandbox.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* PRAGMAs that only read the schema or check it; their argument, if any,
 * names an object (table_info(t)) or a limit (quick_check(10)). */
static const char *const introspection[] = {
	"table_info",      "table_xinfo",  "table_list",   "index_list",  "index_info",
	"index_xinfo",     "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
	"collation_list",  "function_list", "module_list", "pragma_list", "compile_options",
};

/* PRAGMAs a client may read but never set: allowed only without a value. */
static const char *const readable[] = {
	"page_size",   "page_count", "freelist_count", "encoding",      "user_version", "application_id",
	"schema_version", "data_version", "foreign_keys", "journal_mode", "synchronous", "auto_vacuum",
	"max_page_count", "cache_size", "busy_timeout", "query_only",   "recursive_triggers",
};

/* SQL functions that load code or reach files (the last ones come with
 * SQLite's shell extensions, should a build register them). */
static const char *const forbidden_functions[] = {
	"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit", "lsdir",
};

static bool listed(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; name && i < n; i++)
		if (strcasecmp(name, list[i]) == 0)
			return true;
	return false;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int sandbox_check(int action, const char *arg1, const char *arg2, char *why, size_t whylen)
{
	switch (action) {
	case SQLITE_ATTACH:
		snprintf(why, whylen, "permission denied to attach a database: clients may not open files on the server");
		return SQLITE_DENY;
	case SQLITE_DETACH:
		snprintf(why, whylen, "permission denied to detach a database");
		return SQLITE_DENY;
	case SQLITE_FUNCTION: /* arg2 is the function's name */
		if (listed(arg2, forbidden_functions, COUNT(forbidden_functions))) {
			snprintf(why, whylen, "permission denied for function %s", arg2);
			return SQLITE_DENY;
		}
		return SQLITE_OK;
	case SQLITE_PRAGMA: /* arg1 is the PRAGMA's name, arg2 its value or NULL */
		if (listed(arg1, introspection, COUNT(introspection)))
			return SQLITE_OK;
		if (!arg2 && listed(arg1, readable, COUNT(readable)))
			return SQLITE_OK;
		if (arg2)
			snprintf(why, whylen, "permission denied to set PRAGMA %s: the server manages it", arg1 ? arg1 : "?");
		else
			snprintf(why, whylen, "permission denied for PRAGMA %s: only read-only introspection is allowed",
				 arg1 ? arg1 : "?");
		return SQLITE_DENY;
	default:
		return SQLITE_OK;
	}
}
