/*
 * admin.c — sluice's admin SQL functions (see admin.h).
 *
 * A refusal is raised through the connection's fn_error, so that the
 * client gets its SQLSTATE and hint rather than one SQLite maps from text.
 */
#include "admin.h"

#include <stdio.h>
#include <string.h>

#include "sqlstate.h"

static struct admin_ops admin;

void admin_set(const struct admin_ops *ops)
{
	if (ops)
		admin = *ops;
	else
		memset(&admin, 0, sizeof(admin));
}

static void refuse(sqlite3_context *ctx, struct dbconn *c, const struct admin_refusal *why)
{
	sqlite3_result_error(ctx, dbconn_raise(c, why->sqlstate, why->hint, "%s", why->message), -1);
}

bool admin_allowed(sqlite3_context *ctx, struct dbconn *c, const char *fn)
{
	const char *user = (c->session && c->pool->setting) ? c->pool->setting(c->session, "session_authorization") : NULL;
	if (admin.is_admin && user && admin.is_admin(admin.arg, user))
		return true;
	struct admin_refusal why = { .sqlstate = SQLSTATE_INSUFFICIENT_PRIVILEGE };
	snprintf(why.message, sizeof(why.message), "permission denied for function %s", fn);
	snprintf(why.hint, sizeof(why.hint), "Only the users named in admin_users may run it.");
	refuse(ctx, c, &why);
	return false;
}

/* sluice_promote([force]): true once this follower's promotion is under way. */
static void fn_promote(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dbconn *c = sqlite3_user_data(ctx);
	if (!admin_allowed(ctx, c, "sluice_promote"))
		return;
	bool force = argc > 0 && sqlite3_value_type(argv[0]) != SQLITE_NULL && sqlite3_value_int(argv[0]) != 0;
	struct admin_refusal why = { .sqlstate = SQLSTATE_INTERNAL };
	if (!admin.promote) {
		snprintf(why.message, sizeof(why.message), "this node cannot be promoted");
		refuse(ctx, c, &why);
		return;
	}
	if (admin.promote(admin.arg, force, &why) != 0) {
		refuse(ctx, c, &why);
		return;
	}
	sqlite3_result_int(ctx, 1);
}

/* sluice_drop_follower(name): true once the leader has forgotten it. */
static void fn_drop_follower(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dbconn *c = sqlite3_user_data(ctx);
	if (!admin_allowed(ctx, c, "sluice_drop_follower"))
		return;
	const char *name = (const char *)sqlite3_value_text(argv[0]);
	struct admin_refusal why = { .sqlstate = SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE };
	if (!name || !admin.drop_follower) {
		snprintf(why.message, sizeof(why.message), "%s", name ? "this node is not the leader" : "no follower named");
		refuse(ctx, c, &why);
		return;
	}
	if (admin.drop_follower(admin.arg, name, &why) != 0) {
		refuse(ctx, c, &why);
		return;
	}
	sqlite3_result_int(ctx, 1);
}

int admin_register(sqlite3 *db, struct dbconn *conn)
{
	int rc = sqlite3_create_function_v2(db, "sluice_promote", 0, SQLITE_UTF8, conn, fn_promote, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "sluice_promote", 1, SQLITE_UTF8, conn, fn_promote, NULL, NULL,
						NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "sluice_drop_follower", 1, SQLITE_UTF8, conn, fn_drop_follower,
						NULL, NULL, NULL);
	return rc;
}
