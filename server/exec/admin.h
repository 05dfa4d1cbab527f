/*
 * admin.h — sluice's admin SQL functions: sluice_promote(),
 * sluice_promote(force) and sluice_drop_follower(name). They run on
 * executor threads; what they ask of the node the server carries out
 * (a change of role on the loop thread) through the callbacks it
 * registers here.
 *
 * Only admin users may run them (admin_users; every user under
 * auth_method = trust); others get SQLSTATE 42501.
 */
#ifndef SL_ADMIN_H
#define SL_ADMIN_H

#include <sqlite3.h>
#include <stdbool.h>

#include "dbpool.h"

/* Why a request was refused: a SQLSTATE, a message and an optional hint. */
struct admin_refusal {
	const char *sqlstate;
	char message[256];
	char hint[256];
};

struct admin_ops {
	/* Whether user may run admin functions. */
	bool (*is_admin)(void *arg, const char *user);
	/*
	 * Asks the node to become the leader: with force, even though the
	 * leader may still be reachable elsewhere. 0 once the promotion is
	 * under way, or -1 with why.
	 */
	int (*promote)(void *arg, bool force, struct admin_refusal *why);
	/* A leader forgets a follower that is not connected. 0, or -1 with why. */
	int (*drop_follower)(void *arg, const char *name, struct admin_refusal *why);
	void *arg;
};

/* Set before any connection opens (or while no executor runs). */
void admin_set(const struct admin_ops *ops);

/* Whether the session's user may run admin function fn; if not, an
 * error (42501) is raised for ctx. */
bool admin_allowed(sqlite3_context *ctx, struct dbconn *c, const char *fn);

/* Registers the functions on a connection. SQLITE_OK or an error. */
int admin_register(sqlite3 *db, struct dbconn *conn);

#endif
