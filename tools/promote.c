/*
 * promote.c — `sluice promote NODE --host H:P [--force] [--yes]`: make the
 * follower NODE the leader.
 *
 * It finds the cluster from the node whose client port is H:P, as `sluice
 * status` does, and NODE in it by node_name or client address. H:P may be
 * a comma-separated list (like libpq's multi-host strings): with the
 * leader gone, a follower knows no siblings, so each node worth counting
 * for a forced promotion is named there. Then it runs SELECT
 * sluice_promote() on NODE (sluice_promote(force => true) with --force)
 * and waits, up to PROMOTE_WAIT_MS, until NODE's sluice_status says it
 * leads, and prints its new epoch and how long it took. Without --force
 * that is a planned switchover (NODE asks its leader to hand over, see
 * server/handover.c); while it waits it also watches the leader, whose
 * sluice_status.state is "handing over" while writes are fenced: back to
 * "leading" means the switchover was abandoned, and the command says so.
 *
 * --force is for when the leader is gone. Before it asks NODE, it prints
 * what may be lost: the end of NODE's log against the highest LSN any
 * node it reached reports (a commit beyond NODE's end is not on NODE), and
 * whether the old leader still answers (it goes on taking writes until it
 * is stopped). It then asks for confirmation on the terminal, or takes
 * --yes; without a terminal and without --yes it refuses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "lsn.h"
#include "sl_error.h"
#include "sl_time.h"
#include "sluice.h"

#define PROMOTE_WAIT_MS 60000
#define PROMOTE_POLL_MS 50

static const struct status_node *find_node(const struct status_node *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0 || strcmp(v[i].address, name) == 0)
			return &v[i];
	return NULL;
}

/* Prints what a forced promotion of target may lose; 0 to go on. */
static int report_risk(const struct status_node *v, size_t n, const struct status_node *target)
{
	uint64_t have = 0, highest = 0;
	const char *highest_name = target->name;
	lsn_parse(target->current_lsn, &have);
	for (size_t i = 0; i < n; i++) {
		uint64_t l;
		if (v[i].ok && lsn_parse(v[i].current_lsn, &l) == 0 && l > highest) {
			highest = l;
			highest_name = v[i].name;
		}
	}
	char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
	printf("%s has the log up to %s; the highest LSN a reachable node reports is %s (%s).\n", target->name,
	       lsn_format(have, a), lsn_format(highest, b), highest_name);
	if (highest > have)
		printf("Commits between %s and %s are not on %s and would be lost (%" PRIu64 " bytes of log).\n", a,
		       b, target->name, highest - have);
	else
		printf("No reachable node holds a commit that %s lacks.\n", target->name);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].role, "leader") == 0 && v[i].ok)
			printf("The leader %s (%s) still answers: it goes on accepting writes until it is stopped, "
			       "and those are lost.\n",
			       v[i].name, v[i].address);
	for (size_t i = 0; i < n; i++)
		if (!v[i].ok)
			printf("Not reached: %s%s%s: %s\n", v[i].name[0] ? v[i].name : v[i].role,
			       v[i].address[0] ? " at " : "", v[i].address, v[i].error[0] ? v[i].error : "no answer");
	return 0;
}

static bool confirm(const char *name, bool yes)
{
	if (yes)
		return true;
	if (!isatty(STDIN_FILENO)) {
		tool_error("refusing a forced promotion without confirmation: give --yes");
		return false;
	}
	printf("Promote %s by force? [y/N] ", name);
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y')) {
		tool_error("not promoted");
		return false;
	}
	return true;
}

/* A node's sluice_status now: role, epoch and state ("" each when it
 * does not answer). */
struct node_now {
	char role[32], epoch[32], state[32];
};

static void node_now(const char *address, struct node_now *now)
{
	char err[512];
	memset(now, 0, sizeof(*now));
	PGconn *conn = status_connect(address, "sluice promote", err, sizeof(err));
	if (!conn)
		return;
	PGresult *res = PQexec(conn, "SELECT role, epoch, state FROM sluice_status");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		snprintf(now->role, sizeof(now->role), "%s", PQgetvalue(res, 0, 0));
		snprintf(now->epoch, sizeof(now->epoch), "%s", PQgetvalue(res, 0, 1));
		snprintf(now->state, sizeof(now->state), "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	PQfinish(conn);
}

/* leader: for a planned switchover, the leader's entry (NULL if unknown). */
static int ask(const struct status_node *target, const struct status_node *leader, bool force)
{
	char err[512];
	PGconn *conn = status_connect(target->address, "sluice promote", err, sizeof(err));
	if (!conn)
		return tool_error("could not connect to %s at %s: %s", target->name, target->address, err);
	int64_t t0 = sl_monotonic_ms();
	PGresult *res = PQexec(conn, force ? "SELECT sluice_promote(force => true)" : "SELECT sluice_promote()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
		tool_error("%s refused: %s%s%s", target->name, msg ? msg : PQerrorMessage(conn), hint ? "\nhint: " : "",
			   hint ? hint : "");
		PQclear(res);
		PQfinish(conn);
		return TOOL_EXIT_FAIL;
	}
	PQclear(res);
	PQfinish(conn);
	/* the node changes role on its own thread: ask until it leads; in a
	 * planned switchover, the leader that stops handing over and leads on
	 * has abandoned it */
	struct node_now now, lead;
	bool handing_over = false;
	while (sl_monotonic_ms() - t0 < PROMOTE_WAIT_MS) {
		node_now(target->address, &now);
		if (strcmp(now.role, "leader") == 0) {
			printf("%s is the leader at epoch %s (was %s; took %" PRId64 " ms)\n", target->name, now.epoch,
			       target->epoch, sl_monotonic_ms() - t0);
			return fflush(stdout) == 0 ? TOOL_EXIT_OK : tool_error("could not write the output");
		}
		if (leader && !force) {
			node_now(leader->address, &lead);
			bool leads = strcmp(lead.role, "leader") == 0;
			if (leads && strcmp(lead.state, "handing over") == 0)
				handing_over = true;
			else if (leads && handing_over && strcmp(lead.state, "leading") == 0)
				return tool_error("the switchover was abandoned: %s did not have the whole log within the "
						  "leader's switchover_timeout; %s leads on",
						  target->name, leader->name);
		}
		usleep(PROMOTE_POLL_MS * 1000);
	}
	return tool_error("%s did not become the leader within %d s (its role: %s)", target->name,
			  PROMOTE_WAIT_MS / 1000, now.role[0] ? now.role : "unknown");
}

/* Adds the nodes found from one address to *v, once each (by name, or
 * address when nameless; one that answered wins). 0 or SL_ENOMEM. */
static int merge_found(struct status_node **v, size_t *n, const char *address)
{
	struct status_node *found;
	size_t nf;
	if (status_find(address, &found, &nf) != 0)
		return SL_ENOMEM;
	for (size_t i = 0; i < nf; i++) {
		const struct status_node *f = &found[i];
		struct status_node *same = NULL;
		for (size_t k = 0; k < *n && !same; k++)
			if ((f->name[0] && strcmp((*v)[k].name, f->name) == 0) ||
			    (f->address[0] && strcmp((*v)[k].address, f->address) == 0))
				same = &(*v)[k];
		if (same) {
			if (f->ok && !same->ok)
				*same = *f;
			continue;
		}
		struct status_node *grown = realloc(*v, (*n + 1) * sizeof(**v));
		if (!grown) {
			free(found);
			return SL_ENOMEM;
		}
		*v = grown;
		(*v)[(*n)++] = *f;
	}
	free(found);
	return 0;
}

int promote_run(const char *node, const char *addresses, bool force, bool yes)
{
	struct status_node *v = NULL;
	size_t n = 0;
	char list[1024], *save = NULL;
	snprintf(list, sizeof(list), "%s", addresses);
	for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		if (merge_found(&v, &n, a) != 0) {
			free(v);
			return tool_error("out of memory");
		}
	}
	const char *address = addresses;
	int rc = TOOL_EXIT_FAIL;
	const struct status_node *target = find_node(v, n, node);
	if (!target) {
		tool_error("no node named %s is known from %s", node, address);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "  %s (%s) at %s%s\n", v[i].name[0] ? v[i].name : "?", v[i].role,
				v[i].address[0] ? v[i].address : "an unknown address", v[i].ok ? "" : ", not reached");
	} else if (!target->ok) {
		tool_error("%s at %s does not answer: %s", target->name, target->address, target->error);
	} else if (strcmp(target->role, "follower") != 0) {
		tool_error("%s is not a follower (its role: %s, epoch %s)", target->name, target->role, target->epoch);
	} else if (!force || (report_risk(v, n, target) == 0 && confirm(target->name, yes))) {
		const struct status_node *leader = NULL;
		for (size_t i = 0; i < n; i++)
			if (v[i].ok && strcmp(v[i].role, "leader") == 0)
				leader = &v[i];
		rc = ask(target, leader, force);
	}
	free(v);
	return rc;
}
