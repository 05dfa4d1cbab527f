/*
 * status.c — `sluice status --host H:P [--json]`: the state of a whole
 * cluster, found from any one of its nodes.
 *
 * It is a libpq client like psql. It connects to the PostgreSQL client
 * port H:P and reads `SELECT * FROM sluice_status`; from there it finds the
 * rest of the cluster:
 *
 *   - a follower's leader_client column is the leader's client address;
 *   - the leader's `SELECT * FROM sluice_replication` lists every follower
 *     that connected since the leader started, with the follower's client
 *     address and how far it has been sent, written, flushed and replayed;
 *
 *   - the leader's `SELECT * FROM sluice_members` lists the voting members
 *     of automatic failover: one that no data node goes by (a witness,
 *     which serves no client) is shown with the leader's view of it,
 *     whether it answers the leader's heartbeats;
 *
 * and it reads sluice_status on each of the data nodes too. Nodes are asked
 * one after the other, on a fresh connection each, and every step has a
 * deadline (libpq's connect_timeout of 5 s, then 10 s for each query,
 * waited for with poll()), so a stopped or hung node costs at most 15 s
 * (25 s for the leader, asked two queries) and shows as unreachable, with
 * the error, instead of stalling the rest.
 *
 * An address that a node reports with a wildcard host (0.0.0.0, ::, * or
 * nothing before the colon) is tried at the host that node was itself
 * reached at.
 *
 * Connections use user PGUSER (default "sluice"), dbname "sluice", and a
 * password as libpq finds one itself (PGPASSWORD, ~/.pgpass). The host,
 * port and database given here override PGHOST, PGPORT and PGDATABASE;
 * other PG* variables (PGSSLMODE, ...) apply as for any libpq client.
 *
 * Output: a table, one line per node, the leader first, then the
 * followers in the leader's order, with the leader's view of each follower
 * beside the follower's own, then the other members (role "member",
 * their peer address, state "answering" or "silent"); or, with --json,
 * one JSON document {"ok": ..., "nodes": [...]} holding every column of
 * the three tables. Exit status: 0 when every node answered (and the
 * leader is one of them) and every other member answers the leader's
 * heartbeats, 1 otherwise; the table is printed either way, and a line on
 * stderr says what is missing.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "json.h"
#include "sl_error.h"
#include "sl_time.h"
#include "sluice.h"
#include "table.h"

#define STATUS_CONNECT_TIMEOUT "5" /* seconds: libpq's connect_timeout */
#define STATUS_QUERY_TIMEOUT_MS 10000
#define STATUS_MAX_NODES 1000 /* followers shown at most; more rows is a broken answer */
#define STATUS_DEFAULT_USER "sluice"
#define STATUS_DBNAME "sluice"
#define ADDR_HOST_MAX 256 /* a DNS name is at most 253 bytes */
#define ADDR_PORT_MAX 6   /* "65535" and its NUL */
#define ADDR_MAX (ADDR_HOST_MAX + ADDR_PORT_MAX + 3)
#define NODE_ERROR_MAX 512

/* Integer type OIDs of a RowDescription: int8, int2, int4. */
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23

/* One result row: every column by name, as text. */
struct row {
	size_t ncols;
	char **names;
	char **values; /* NULL for SQL NULL */
	bool *is_int;  /* the column has an integer type */
};

struct node {
	char address[ADDR_MAX];       /* "host:port" asked; "" when not known */
	const char *expected_role;    /* what it should be, for a node that did not answer */
	bool answered;                /* status holds its sluice_status row */
	char error[NODE_ERROR_MAX];   /* why it did not answer, or what is wrong; "" if nothing */
	struct row status;            /* its own sluice_status */
	struct row repl;              /* the leader's sluice_replication row about it */
	/* a member the leader lists in sluice_members but no data node is
	 * known by: a witness (it serves no client), or a data node the
	 * leader has not heard from as a follower */
	bool member_only;
	struct row member;            /* the leader's sluice_members row about it */
};

struct cluster {
	struct node **nodes; /* in printing order */
	size_t n, cap;
};

/* ---------------------------------------------------------------- rows */

static void row_free(struct row *r)
{
	for (size_t i = 0; i < r->ncols; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	free(r->names);
	free(r->values);
	free(r->is_int);
	memset(r, 0, sizeof(*r));
}

/* Copies row i of res into r (empty before). 0 or SL_ENOMEM. */
static int row_copy(const PGresult *res, int i, struct row *r)
{
	int n = PQnfields(res);
	memset(r, 0, sizeof(*r));
	if (n <= 0)
		return 0;
	r->names = calloc((size_t)n, sizeof(*r->names));
	r->values = calloc((size_t)n, sizeof(*r->values));
	r->is_int = calloc((size_t)n, sizeof(*r->is_int));
	if (!r->names || !r->values || !r->is_int)
		goto fail;
	r->ncols = (size_t)n; /* from here row_free() frees what is set: the rest is NULL */
	for (int c = 0; c < n; c++) {
		const char *name = PQfname(res, c);
		Oid type = PQftype(res, c);
		if (!(r->names[c] = strdup(name ? name : "?column?")))
			goto fail;
		if (!PQgetisnull(res, i, c) && !(r->values[c] = strdup(PQgetvalue(res, i, c))))
			goto fail;
		r->is_int[c] = type == OID_INT8 || type == OID_INT2 || type == OID_INT4;
	}
	return 0;
fail:
	row_free(r);
	return SL_ENOMEM;
}

/* The value of column name, or NULL when it is NULL or missing. */
static const char *row_get(const struct row *r, const char *name)
{
	for (size_t i = 0; i < r->ncols; i++)
		if (strcmp(r->names[i], name) == 0)
			return r->values[i];
	return NULL;
}

/* ---------------------------------------------------------------- addresses */

/*
 * Splits "host:port" or "[v6-host]:port" into host (without brackets) and
 * port. The port is decimal, 1 to 65535. 0 or SL_EINVAL.
 */
static int addr_split(const char *text, char host[ADDR_HOST_MAX], char port[ADDR_PORT_MAX])
{
	const char *colon, *h = text;
	size_t hlen;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return SL_EINVAL;
		h = text + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon || memchr(text, ':', (size_t)(colon - text)))
			return SL_EINVAL; /* none, or a bare IPv6 address */
		hlen = (size_t)(colon - text);
	}
	const char *p = colon + 1;
	size_t plen = strlen(p);
	if (hlen >= ADDR_HOST_MAX || plen == 0 || plen >= ADDR_PORT_MAX)
		return SL_EINVAL;
	unsigned long v = 0;
	for (size_t i = 0; i < plen; i++) {
		if (p[i] < '0' || p[i] > '9')
			return SL_EINVAL;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return SL_EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memcpy(port, p, plen + 1);
	return 0;
}

bool status_address_valid(const char *text)
{
	char host[ADDR_HOST_MAX], port[ADDR_PORT_MAX];
	return addr_split(text, host, port) == 0 && host[0] != '\0';
}

static bool addr_wildcard(const char *host)
{
	return host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
	       strcmp(host, "*") == 0;
}

/*
 * Where to reach the node at the address `reported` that the node at `via`
 * gave: reported itself, with a wildcard host replaced by via's host.
 * 0, or SL_EINVAL when reported is not host:port.
 */
static int addr_resolve(const char *reported, const char *via, char out[ADDR_MAX])
{
	char host[ADDR_HOST_MAX], port[ADDR_PORT_MAX], vport[ADDR_PORT_MAX];
	if (addr_split(reported, host, port) != 0)
		return SL_EINVAL;
	if (addr_wildcard(host) && (addr_split(via, host, vport) != 0 || addr_wildcard(host)))
		return SL_EINVAL;
	bool v6 = strchr(host, ':') != NULL;
	int n = snprintf(out, ADDR_MAX, v6 ? "[%s]:%s" : "%s:%s", host, port);
	return n > 0 && n < ADDR_MAX ? 0 : SL_EINVAL;
}

/* ---------------------------------------------------------------- nodes */

static void node_fail(struct node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records why the node is not right; the first reason stays. */
static void node_fail(struct node *n, const char *fmt, ...)
{
	if (n->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n->error, sizeof(n->error), fmt, ap);
	va_end(ap);
}

/*
 * libpq's message on one line, truncated to fit out[size]: a line break
 * becomes "; ", other runs of blanks one space, and blanks at either end go.
 */
static void error_one_line(const char *msg, char *out, size_t size)
{
	size_t o = 0;
	const char *sep = ""; /* what goes before the next visible character */
	for (const char *p = msg; *p; p++) {
		if (*p == '\n') {
			sep = o > 0 ? "; " : "";
			continue;
		}
		if (*p == '\t' || *p == '\r' || *p == ' ') {
			if (!sep[0] && o > 0)
				sep = " ";
			continue;
		}
		size_t n = strlen(sep);
		if (o + n + 1 >= size)
			break;
		memcpy(out + o, sep, n);
		o += n;
		out[o++] = *p;
		sep = "";
	}
	out[o] = '\0';
}

static bool same_text(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static const char *node_name(const struct node *n)
{
	const char *s = row_get(&n->status, "node_name");
	if (!s)
		s = row_get(&n->repl, "name");
	return s ? s : row_get(&n->member, "name");
}

static const char *node_role(const struct node *n)
{
	const char *s = row_get(&n->status, "role");
	return s ? s : n->expected_role;
}

static bool node_ok(const struct node *n)
{
	if (n->member_only)
		return same_text(row_get(&n->member, "heartbeat"), "answering");
	return n->answered && !n->error[0];
}

static struct node *node_new(const char *address, const char *expected_role)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	if (address)
		snprintf(n->address, sizeof(n->address), "%s", address); /* ADDR_MAX: always fits */
	n->expected_role = expected_role;
	return n;
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	row_free(&n->status);
	row_free(&n->repl);
	row_free(&n->member);
	free(n);
}

/* ---------------------------------------------------------------- libpq */

static PGconn *conn_open(struct node *n, const char *application)
{
	char host[ADDR_HOST_MAX], port[ADDR_PORT_MAX], msg[NODE_ERROR_MAX];
	if (addr_split(n->address, host, port) != 0) {
		node_fail(n, "invalid address \"%s\": want host:port", n->address);
		return NULL;
	}
	const char *user = getenv("PGUSER");
	if (!user || !user[0])
		user = STATUS_DEFAULT_USER;
	const char *const keys[] = { "host", "port", "user", "dbname", "connect_timeout", "application_name", NULL };
	const char *const values[] = { host, port, user, STATUS_DBNAME, STATUS_CONNECT_TIMEOUT, application, NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 0);
	if (!conn) {
		node_fail(n, "could not connect: out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		error_one_line(PQerrorMessage(conn), msg, sizeof(msg));
		node_fail(n, "%s", msg[0] ? msg : "could not connect");
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

PGresult *tool_query(PGconn *conn, const char *sql, int nparams, const char *const *values, int timeout_ms,
		     char *err, size_t errlen)
{
	char msg[NODE_ERROR_MAX];
	PGresult *keep = NULL, *res;
	int64_t deadline = sl_monotonic_ms() + timeout_ms;
	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
		goto conn_error;
	for (;;) {
		while (PQisBusy(conn)) {
			int64_t left = deadline - sl_monotonic_ms();
			if (left <= 0) {
				snprintf(err, errlen, "no answer within %d s", timeout_ms / 1000);
				goto fail;
			}
			struct pollfd pfd = { .fd = PQsocket(conn), .events = POLLIN };
			if (pfd.fd < 0)
				goto conn_error;
			int rc = poll(&pfd, 1, (int)left);
			if (rc < 0 && errno != EINTR) {
				snprintf(err, errlen, "poll failed: %s", strerror(errno));
				goto fail;
			}
			if (rc > 0 && !PQconsumeInput(conn))
				goto conn_error;
		}
		if (!(res = PQgetResult(conn)))
			break;
		if (!keep)
			keep = res;
		else
			PQclear(res);
	}
	if (keep)
		return keep;
conn_error:
	error_one_line(PQerrorMessage(conn), msg, sizeof(msg));
	snprintf(err, errlen, "%s", msg[0] ? msg : "the connection failed");
fail:
	PQclear(keep);
	return NULL;
}

void tool_result_error(const PGresult *res, char *out, size_t outlen)
{
	char msg[NODE_ERROR_MAX];
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (primary) {
		error_one_line(primary, msg, sizeof(msg));
		snprintf(out, outlen, "ERROR %s: %s", state ? state : "", msg);
	} else {
		error_one_line(PQresultErrorMessage(res), msg, sizeof(msg));
		snprintf(out, outlen, "%s", msg[0] ? msg : PQresStatus(PQresultStatus(res)));
	}
}

/*
 * Runs sql and returns its result set, or NULL with the reason in the
 * node. Waits at most STATUS_QUERY_TIMEOUT_MS.
 */
static PGresult *conn_query(PGconn *conn, struct node *n, const char *sql)
{
	char msg[NODE_ERROR_MAX];
	PGresult *res = tool_query(conn, sql, 0, NULL, STATUS_QUERY_TIMEOUT_MS, msg, sizeof(msg));
	if (!res) {
		node_fail(n, "%s: %s", sql, msg);
		return NULL;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		tool_result_error(res, msg, sizeof(msg));
		node_fail(n, "%s: %s", sql, msg);
		PQclear(res);
		return NULL;
	}
	return res;
}

/*
 * Reads the node's sluice_status, and on a leader, when repl is not NULL,
 * also sluice_replication into *repl (the caller PQclear()s it). Problems
 * are recorded in the node. Returns SL_ENOMEM only when memory ran out.
 */
static int node_probe(struct node *n, PGresult **repl, PGresult **members)
{
	PGresult *res = NULL;
	int rc = 0;
	PGconn *conn = conn_open(n, "sluice status");
	if (!conn)
		return 0;
	if (!(res = conn_query(conn, n, "SELECT * FROM sluice_status")))
		goto done;
	if (PQntuples(res) != 1) {
		node_fail(n, "sluice_status gave %d rows, want 1", PQntuples(res));
		goto done;
	}
	if ((rc = row_copy(res, 0, &n->status)) != 0)
		goto done;
	n->answered = true;
	const char *role = row_get(&n->status, "role");
	if (!role || !row_get(&n->status, "node_name")) {
		node_fail(n, "sluice_status gave no %s", role ? "node_name" : "role");
		goto done;
	}
	if (n->expected_role && strcmp(role, n->expected_role) != 0) {
		node_fail(n, "reached as the %s, it says it is a %s", n->expected_role, role);
		goto done;
	}
	if (repl && strcmp(role, "leader") == 0)
		*repl = conn_query(conn, n, "SELECT * FROM sluice_replication");
	if (members && strcmp(role, "leader") == 0 && *repl)
		*members = conn_query(conn, n, "SELECT * FROM sluice_members");
done:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* ---------------------------------------------------------------- discovery */

static int cluster_add(struct cluster *c, struct node *n)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct node **more = realloc(c->nodes, cap * sizeof(*more));
		if (!more)
			return SL_ENOMEM;
		c->nodes = more;
		c->cap = cap;
	}
	c->nodes[c->n++] = n;
	return 0;
}

static void cluster_free(struct cluster *c)
{
	for (size_t i = 0; i < c->n; i++)
		node_free(c->nodes[i]);
	free(c->nodes);
	memset(c, 0, sizeof(*c));
}


/*
 * The followers in the leader's sluice_replication, in its order. The
 * entry node, when it is one of them, is placed there with its answer; a
 * follower listed twice (by name) is shown once.
 */
static int add_followers(struct cluster *c, struct node *leader, const PGresult *repl, struct node **entry)
{
	int rows = PQntuples(repl);
	if (rows > STATUS_MAX_NODES) {
		node_fail(leader, "sluice_replication has %d rows; only the first %d are shown", rows,
			  STATUS_MAX_NODES);
		rows = STATUS_MAX_NODES;
	}
	for (int i = 0; i < rows; i++) {
		struct row r;
		if (row_copy(repl, i, &r) != 0)
			return SL_ENOMEM;
		const char *name = row_get(&r, "name");
		bool seen = false;
		for (size_t k = 0; k < c->n && !seen; k++)
			seen = same_text(node_name(c->nodes[k]), name);
		if (seen) {
			row_free(&r);
			continue;
		}
		struct node *n;
		if (*entry && same_text(node_name(*entry), name)) {
			n = *entry;
			*entry = NULL;
		} else if (!(n = node_new(NULL, "follower"))) {
			row_free(&r);
			return SL_ENOMEM;
		}
		if (cluster_add(c, n) != 0) {
			row_free(&r);
			node_free(n);
			return SL_ENOMEM;
		}
		n->repl = r;
		if (n->answered || n->error[0])
			continue; /* the entry node: asked already */
		const char *address = row_get(&n->repl, "address");
		if (!address)
			node_fail(n, "the leader does not know its client address");
		else if (addr_resolve(address, leader->address, n->address) != 0)
			node_fail(n, "the leader gives it an invalid client address \"%s\"", address);
		else if (node_probe(n, NULL, NULL) != 0)
			return SL_ENOMEM;
	}
	return 0;
}

/*
 * The members in the leader's sluice_members that no node shown so far is
 * called: a witness, or a data node the leader has not heard from as a
 * follower. The leader's view is all there is of them.
 */
static int add_members(struct cluster *c, const PGresult *members)
{
	int rows = PQntuples(members);
	for (int i = 0; i < rows && i < STATUS_MAX_NODES; i++) {
		struct row r;
		if (row_copy(members, i, &r) != 0)
			return SL_ENOMEM;
		const char *name = row_get(&r, "name");
		bool seen = !name;
		for (size_t k = 0; k < c->n && !seen; k++)
			seen = same_text(node_name(c->nodes[k]), name);
		struct node *n = seen ? NULL : node_new(NULL, "member");
		if (seen || !n || cluster_add(c, n) != 0) {
			row_free(&r);
			node_free(n);
			if (seen)
				continue;
			return SL_ENOMEM;
		}
		n->member_only = true;
		n->member = r;
		const char *peer = row_get(&r, "peer_address");
		snprintf(n->address, sizeof(n->address), "%s", peer ? peer : "");
		const char *age = row_get(&r, "heartbeat_answered_ms");
		if (!node_ok(n))
			snprintf(n->error, sizeof(n->error), "it answers no heartbeat of the leader's (%s)",
				 age ? "the last one it answered is too old" : "none in this epoch");
	}
	return 0;
}

/*
 * Where the leader is, by a follower's sluice_status: leader->address, or
 * the reason it is not known in leader->error.
 */
static void leader_address(const struct node *follower, struct node *leader)
{
	const char *lc = row_get(&follower->status, "leader_client");
	const char *state = row_get(&follower->status, "state");
	if (!lc)
		node_fail(leader, "follower %s does not know the leader's client address (its state: %s)",
			  node_name(follower), state ? state : "unknown");
	else if (addr_resolve(lc, follower->address, leader->address) != 0)
		node_fail(leader, "follower %s gives an invalid leader_client \"%s\"", node_name(follower), lc);
}

/* Finds the cluster from the node at address. 0 or SL_ENOMEM. */
static int discover(struct cluster *c, const char *address)
{
	struct node *entry = node_new(address, NULL), *leader = NULL;
	PGresult *repl = NULL, *members = NULL;
	if (!entry || node_probe(entry, &repl, &members) != 0)
		goto oom;
	if (!node_ok(entry) || same_text(node_role(entry), "leader")) {
		/* the leader, or a node that cannot tell where the leader is */
		leader = entry;
		entry = NULL;
		if (cluster_add(c, leader) != 0)
			goto oom;
	} else {
		if (!(leader = node_new(NULL, "leader")) || cluster_add(c, leader) != 0)
			goto oom;
		leader_address(entry, leader);
		if (!leader->error[0] && node_probe(leader, &repl, &members) != 0)
			goto oom_added;
	}
	if (repl && add_followers(c, leader, repl, &entry) != 0)
		goto oom_added;
	/* a follower the leader does not list, or whose leader was not reached */
	if (entry && cluster_add(c, entry) != 0)
		goto oom_added;
	entry = NULL;
	if (members && add_members(c, members) != 0)
		goto oom_added;
	PQclear(repl);
	PQclear(members);
	return 0;
oom:
	node_free(leader); /* not in the cluster yet */
oom_added:
	node_free(entry);
	PQclear(repl);
	PQclear(members);
	return SL_ENOMEM;
}

/* ---------------------------------------------------------------- output */

enum {
	COL_NAME,
	COL_ROLE,
	COL_ADDRESS,
	COL_STATE,
	COL_EPOCH,
	COL_ELECTION,
	COL_LEASE,
	COL_VOTED,
	COL_CURRENT,
	COL_APPLIED,
	COL_LAG_BYTES,
	COL_LAG_MS,
	COL_REPL_STATE,
	COL_SYNC,
	COL_SENT,
	COL_WRITE,
	COL_FLUSH,
	COL_REPLAY,
	COL_ERROR,
	NCOLS
};

static const struct table_column columns[NCOLS] = {
	[COL_NAME] = { "NAME", TABLE_LEFT, false },
	[COL_ROLE] = { "ROLE", TABLE_LEFT, false },
	[COL_ADDRESS] = { "ADDRESS", TABLE_LEFT, false },
	[COL_STATE] = { "STATE", TABLE_LEFT, false },
	[COL_EPOCH] = { "EPOCH", TABLE_RIGHT, false },
	/* automatic failover: the election's state, the leader's lease, the vote */
	[COL_ELECTION] = { "ELECTION", TABLE_LEFT, true },
	[COL_LEASE] = { "LEASE", TABLE_LEFT, true },
	[COL_VOTED] = { "VOTED FOR", TABLE_LEFT, true },
	[COL_CURRENT] = { "CURRENT LSN", TABLE_LEFT, false },
	[COL_APPLIED] = { "APPLIED LSN", TABLE_LEFT, false },
	[COL_LAG_BYTES] = { "LAG (bytes)", TABLE_RIGHT, false },
	[COL_LAG_MS] = { "LAG (ms)", TABLE_RIGHT, false },
	/* the leader's view of each follower, from sluice_replication */
	[COL_REPL_STATE] = { "REPL STATE", TABLE_LEFT, true },
	/* a follower's sync_state; the leader's synchronous (on, degraded, off) */
	[COL_SYNC] = { "SYNC", TABLE_LEFT, true },
	[COL_SENT] = { "SENT LSN", TABLE_LEFT, true },
	[COL_WRITE] = { "WRITE LSN", TABLE_LEFT, true },
	[COL_FLUSH] = { "FLUSH LSN", TABLE_LEFT, true },
	[COL_REPLAY] = { "REPLAY LSN", TABLE_LEFT, true },
	[COL_ERROR] = { "ERROR", TABLE_LEFT, true },
};

/* A node without automatic failover leaves the column empty. */
static const char *election_shown(const char *v) { return v && strcmp(v, "off") != 0 ? v : NULL; }

static int put_table(const struct cluster *c, struct buf *out)
{
	struct table t;
	int rc = 0;
	table_init(&t, columns, NCOLS);
	for (size_t i = 0; i < c->n && rc == 0; i++) {
		const struct node *n = c->nodes[i];
		const struct row *s = &n->status, *r = &n->repl;
		const char *cells[NCOLS] = {
			[COL_NAME] = node_name(n),
			[COL_ROLE] = node_role(n),
			[COL_ADDRESS] = n->address,
			[COL_STATE] = n->member_only ? row_get(&n->member, "heartbeat")
				      : n->answered ? row_get(s, "state") : "unreachable",
			[COL_EPOCH] = row_get(s, "epoch"),
			[COL_ELECTION] = election_shown(row_get(s, "election")),
			[COL_LEASE] = row_get(s, "lease"),
			[COL_VOTED] = row_get(s, "voted_for"),
			[COL_CURRENT] = row_get(s, "current_lsn"),
			[COL_APPLIED] = row_get(s, "applied_lsn"),
			[COL_LAG_BYTES] = row_get(s, "lag_bytes"),
			[COL_LAG_MS] = row_get(s, "lag_ms"),
			[COL_REPL_STATE] = row_get(r, "state"),
			[COL_SYNC] = row_get(r, "sync_state") ? row_get(r, "sync_state") : row_get(s, "synchronous"),
			[COL_SENT] = row_get(r, "sent_lsn"),
			[COL_WRITE] = row_get(r, "write_lsn"),
			[COL_FLUSH] = row_get(r, "flush_lsn"),
			[COL_REPLAY] = row_get(r, "replay_lsn"),
			[COL_ERROR] = n->error[0] ? n->error : row_get(s, "last_error"),
		};
		rc = table_add_row(&t, cells);
	}
	if (rc == 0)
		table_format(&t, out);
	table_free(&t);
	return rc;
}

/* "-123", "0.25" and the like: what may go into JSON as a number. */
static bool number_text(const char *s)
{
	size_t i = s[0] == '-' ? 1 : 0, digits = strspn(s + i, "0123456789");
	if (digits == 0 || digits > 19 || (s[i] == '0' && digits > 1))
		return false;
	i += digits;
	if (s[i] == '.') {
		size_t frac = strspn(s + i + 1, "0123456789");
		if (frac == 0 || frac > 17)
			return false;
		i += 1 + frac;
	}
	return s[i] == '\0';
}

/* The numeric columns of both tables, whatever type the server sends. */
static bool numeric_column(const char *name)
{
	return strcmp(name, "epoch") == 0 || strcmp(name, "lag_bytes") == 0 || strcmp(name, "lag_ms") == 0;
}

static void json_value(struct buf *o, const char *v, bool is_number)
{
	if (!v)
		buf_append(o, "null", 4);
	else if (is_number && number_text(v))
		buf_append(o, v, strlen(v));
	else
		json_put_cstr(o, v);
}

/* "name":value for each column not in skip[], each after a comma unless
 * it is the first and first is true. */
static void json_columns(struct buf *o, const struct row *r, const char *const *skip, bool first)
{
	for (size_t i = 0; i < r->ncols; i++) {
		bool skipped = false;
		for (size_t k = 0; skip && skip[k] && !skipped; k++)
			skipped = strcmp(r->names[i], skip[k]) == 0;
		if (skipped)
			continue;
		if (!first)
			buf_put_u8(o, ',');
		first = false;
		json_put_cstr(o, r->names[i]);
		buf_put_u8(o, ':');
		json_value(o, r->values[i], r->is_int[i] || numeric_column(r->names[i]));
	}
}

/* key, then the row as an object, or null when there is none */
static void put_json_row(struct buf *o, const char *key, const struct row *r)
{
	buf_append(o, key, strlen(key));
	if (r->ncols == 0) {
		buf_append(o, "null", 4);
		return;
	}
	buf_put_u8(o, '{');
	json_columns(o, r, NULL, true);
	buf_put_u8(o, '}');
}

static void put_json(const struct cluster *c, bool ok, struct buf *o)
{
	/* the keys every node has; sluice_status columns of the same name are these */
	static const char *const fixed[] = { "name",  "role",        "address", "state", "reachable",
					     "error", "replication", "member",  NULL };
	buf_printf(o, "{\"ok\":%s,\"nodes\":[", ok ? "true" : "false");
	for (size_t i = 0; i < c->n; i++) {
		const struct node *n = c->nodes[i];
		buf_append(o, i ? ",\n{" : "\n{", i ? 3 : 2);
		buf_append(o, "\"name\":", 7);
		json_value(o, node_name(n), false);
		buf_append(o, ",\"role\":", 8);
		json_value(o, node_role(n), false);
		buf_append(o, ",\"address\":", 11);
		json_value(o, n->address[0] ? n->address : NULL, false);
		buf_append(o, ",\"state\":", 9);
		json_value(o, n->member_only ? row_get(&n->member, "heartbeat")
			      : n->answered ? row_get(&n->status, "state") : "unreachable",
			   false);
		buf_printf(o, ",\"reachable\":%s,\"error\":", n->answered ? "true" : "false");
		json_value(o, n->error[0] ? n->error : NULL, false);
		json_columns(o, &n->status, fixed, false);
		put_json_row(o, ",\"replication\":", &n->repl);
		put_json_row(o, ",\"member\":", &n->member);
		buf_put_u8(o, '}');
	}
	buf_append(o, "\n]}\n", 4);
}

static void copy_text(char *out, size_t outlen, const char *s) { snprintf(out, outlen, "%s", s ? s : ""); }

int status_find(const char *address, struct status_node **out, size_t *n)
{
	struct cluster c = { 0 };
	*out = NULL;
	*n = 0;
	int rc = discover(&c, address);
	if (rc == 0 && c.n > 0 && !(*out = calloc(c.n, sizeof(**out))))
		rc = SL_ENOMEM;
	for (size_t i = 0; rc == 0 && i < c.n; i++) {
		const struct node *nd = c.nodes[i];
		struct status_node *s = &(*out)[i];
		copy_text(s->name, sizeof(s->name), node_name(nd));
		copy_text(s->address, sizeof(s->address), nd->address);
		copy_text(s->role, sizeof(s->role), node_role(nd));
		copy_text(s->current_lsn, sizeof(s->current_lsn), row_get(&nd->status, "current_lsn"));
		copy_text(s->epoch, sizeof(s->epoch), row_get(&nd->status, "epoch"));
		copy_text(s->error, sizeof(s->error), nd->error);
		s->ok = node_ok(nd);
	}
	if (rc == 0)
		*n = c.n;
	cluster_free(&c);
	return rc;
}

PGconn *status_connect(const char *address, const char *application, char *err, size_t errlen)
{
	struct node *n = node_new(address, NULL);
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	PGconn *conn = conn_open(n, application);
	if (!conn)
		snprintf(err, errlen, "%s", n->error);
	node_free(n);
	return conn;
}

int status_show(const char *address, bool json)
{
	struct cluster c = { 0 };
	struct buf out;
	size_t failed = 0;
	int rc;
	buf_init(&out);
	if (discover(&c, address) != 0) {
		rc = tool_error("out of memory");
		goto done;
	}
	for (size_t i = 0; i < c.n; i++)
		failed += !node_ok(c.nodes[i]);
	if (json)
		put_json(&c, failed == 0, &out);
	else if (put_table(&c, &out) != 0)
		out.oom = true;
	if (out.oom) {
		rc = tool_error("out of memory");
		goto done;
	}
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		rc = tool_error("could not write the output: %s", strerror(errno));
		goto done;
	}
	if (failed == 0) {
		rc = TOOL_EXIT_OK;
	} else {
		for (size_t i = 0; i < c.n; i++) {
			const struct node *n = c.nodes[i];
			const char *name = node_name(n), *role = node_role(n);
			if (!node_ok(n))
				tool_error("%s at %s: %s", name ? name : role ? role : "node",
					   n->address[0] ? n->address : "an unknown address",
					   n->error[0] ? n->error : "did not answer");
		}
		rc = TOOL_EXIT_FAIL;
	}
done:
	cluster_free(&c);
	buf_free(&out);
	return rc;
}

PGconn *status_leader_connect(const char *hosts, const char *application, char *err, size_t errlen)
{
	char list[1024], *save = NULL;
	snprintf(list, sizeof(list), "%s", hosts);
	snprintf(err, errlen, "no leader found");
	for (char *h = strtok_r(list, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		struct status_node *nodes;
		size_t n;
		if (status_find(h, &nodes, &n) != 0) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		char leader[sizeof(nodes->address)] = "";
		for (size_t i = 0; i < n; i++)
			if (nodes[i].ok && strcmp(nodes[i].role, "leader") == 0)
				snprintf(leader, sizeof(leader), "%s", nodes[i].address);
		if (!leader[0] && n > 0)
			snprintf(err, errlen, "no leader answers (asked %s: %s)", h,
				 nodes[0].error[0] ? nodes[0].error : nodes[0].role);
		free(nodes);
		if (!leader[0])
			continue;
		PGconn *conn = status_connect(leader, application, err, errlen);
		if (conn)
			return conn;
	}
	return NULL;
}
