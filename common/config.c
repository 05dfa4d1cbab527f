/*
 * config.c — the settings table and everything it drives (see config.h).
 *
 * One static table, `settings[]`, lists every setting once: its name, type,
 * where it lives in struct config, its default as text, its range and its
 * help. Defaults, config_set(), the file reader, SHOW, SHOW ALL and --help
 * all walk that table, so a new setting is one new row and nothing else.
 *
 * Types and their text forms:
 *
 *   int       a decimal integer, optionally signed.
 *   duration  an integer with an optional unit: us, ms, s, min, h, d; no unit
 *             means ms. Stored in milliseconds as int64; a value in us must
 *             be a whole number of milliseconds (we refuse rather than round,
 *             so "500us" cannot silently become 0, which means "off").
 *   size      an integer with an optional unit: B, kB, MB, GB, TB (powers of
 *             1024); no unit means bytes. Stored in bytes as int64.
 *   string    taken as is, at most CONFIG_STR_MAX - 1 bytes.
 *   enum      one of a list of names, case-insensitive; stored as an int.
 *
 * Units are case-sensitive, as in PostgreSQL; spaces may separate a number
 * from its unit. A value that overflows int64 while being scaled by its unit
 * is out of range. The canonical form (SHOW) uses the largest unit that
 * divides the value exactly, so SHOW's output parses back to the same value.
 *
 * The file format is postgresql.conf's:
 *
 *   # comment
 *   key = value          # the '=' is optional
 *   key = 'quoted value' # '' inside quotes is one quote
 *
 * Keys are case-insensitive. An unquoted value is one token (no spaces, '#'
 * or quotes). Backslash escapes are not interpreted, so paths stay literal.
 * A file is applied all or nothing: on the first error the config is left
 * as it was and the error names the file and line.
 *
 * No locking: callers load the config on one thread before sharing it.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "secret.h"
#include "sl_error.h"

enum setting_type { SETTING_INT, SETTING_DURATION, SETTING_SIZE, SETTING_STRING, SETTING_ENUM };

struct choice {
	const char *name;
	int value;
};

struct setting {
	const char *name;
	enum setting_type type;
	size_t offset; /* into struct config */
	const char *default_text;
	int64_t min; /* int, duration (ms), size (bytes) */
	int64_t max;
	const struct choice *choices; /* enum only; ends with a NULL name */
	const char *help;
};

static const struct choice role_choices[] = {
	{ "leader", ROLE_LEADER },
	{ "follower", ROLE_FOLLOWER },
	{ "witness", ROLE_WITNESS },
	{ NULL, 0 },
};

static const struct choice auth_choices[] = {
	{ "trust", AUTH_TRUST },
	{ "password", AUTH_PASSWORD },
	{ "scram-sha-256", AUTH_SCRAM },
	{ NULL, 0 },
};

static const struct choice log_level_choices[] = {
	{ "debug", LOG_DEBUG },
	{ "info", LOG_INFO },
	{ "warning", LOG_WARNING },
	{ "error", LOG_ERROR },
	{ NULL, 0 },
};

static const struct choice log_mode_choices[] = {
	{ "off", 0 },      /* no log: a node on its own, SQLite's WAL fsync makes commits durable */
	{ "physical", 1 }, /* values are txnrec.h's section bits */
	{ "logical", 2 },
	{ "both", 3 },
	{ NULL, 0 },
};

static const struct choice bool_choices[] = {
	{ "off", 0 },
	{ "on", 1 },
	{ NULL, 0 },
};

static const struct choice sync_commit_choices[] = {
	{ "local", SYNC_LOCAL },
	{ "off", SYNC_LOCAL }, /* PostgreSQL's name; the leader's log is always flushed */
	{ "remote_write", SYNC_REMOTE_WRITE },
	{ "on", SYNC_ON },
	{ "remote_apply", SYNC_REMOTE_APPLY },
	{ NULL, 0 },
};

static const struct choice sync_fallback_choices[] = {
	{ "block", SYNC_FALLBACK_BLOCK },
	{ "async", SYNC_FALLBACK_ASYNC },
	{ NULL, 0 },
};

static const struct choice tls_version_choices[] = {
	{ "TLSv1.2", CONFIG_TLS_1_2 },
	{ "TLSv1.3", CONFIG_TLS_1_3 },
	{ NULL, 0 },
};

#define KB INT64_C(1024)
#define MS_MAX INT64_C(2147483647) /* PostgreSQL's limit for its timeouts */

/*
 * The offset of field f, which must have type T: comparing pointers of
 * different types draws a warning, so a row of the wrong type cannot build
 * quietly. sizeof does not evaluate the comparison.
 */
typedef char config_str[CONFIG_STR_MAX];
#define FIELD(f, T) (offsetof(struct config, f) + 0 * sizeof((T *)0 == &((struct config *)0)->f))

#define SET_INT(f, def, lo, hi, help) { #f, SETTING_INT, FIELD(f, int), def, lo, hi, NULL, help }
#define SET_DURATION(n, f, def, lo, hi, help) \
	{ n, SETTING_DURATION, FIELD(f, int64_t), def, lo, hi, NULL, help }
#define SET_SIZE(f, def, lo, hi, help) \
	{ #f, SETTING_SIZE, FIELD(f, int64_t), def, lo, hi, NULL, help }
#define SET_STRING(f, def, help) \
	{ #f, SETTING_STRING, FIELD(f, config_str), def, 0, 0, NULL, help }
#define SET_ENUM(f, def, choices, help) \
	{ #f, SETTING_ENUM, FIELD(f, int), def, 0, 0, choices, help }

static const struct setting settings[] = {
	SET_STRING(listen_address, "127.0.0.1", "address to listen on for PostgreSQL clients"),
	SET_INT(port, "5433", 0, 65535,
		"TCP port for PostgreSQL clients; 0 picks any free port (see port_file)"),
	SET_STRING(data_dir, "", "directory for the database and its replication log; required"),
	SET_STRING(node_name, "", "this node's name in the cluster; empty means host:port"),
	SET_ENUM(role, "leader", role_choices,
		 "whether this node starts as leader or follower; a witness votes in elections and counts toward "
		 "the lease but keeps no data and never leads"),
	SET_INT(max_connections, "100", 1, 10000, "most client connections open at once"),
	SET_INT(reader_threads, "2", 1, 64, "SQL executor threads for read-only queries, started at once"),
	SET_INT(max_reader_threads, "32", 1, 256,
		"most threads for read-only queries: another starts whenever every one is busy, so a long read "
		"never holds up a short one (at least reader_threads)"),
	SET_SIZE(max_message_size, "64MB", KB, KB * KB * KB,
		 "largest protocol message accepted from a client"),
	SET_SIZE(checkpoint_wal_size, "64MB", KB * KB, 16 * KB * KB * KB,
		 "WAL length at which a background checkpoint starts; the WAL file is preallocated to twice this"),
	SET_ENUM(log_mode, "physical", log_mode_choices,
		 "what the replication log records: page images (physical), row changes and DDL (logical), or both; "
		 "off keeps no log (no followers; commits are made durable by SQLite's WAL)"),
	SET_INT(commit_batch_size, "256", 1, 100000,
		"most transactions of different sessions the writer commits as one log record; 1 turns batching off"),
	SET_ENUM(log_compression, "off", bool_choices, "zlib-compress log record payloads where that makes them smaller"),
	SET_SIZE(log_segment_size, "64MB", KB * KB, KB * KB * KB, "size of each replication log segment file"),
	SET_SIZE(log_keep_size, "1GB", 0, 1024 * KB * KB * KB * KB,
		 "replication log kept even when no consumer needs it (for late followers and CDC)"),
	SET_SIZE(max_log_size, "16GB", 0, 1024 * KB * KB * KB * KB,
		 "replication log removed beyond this even if a follower or CDC slot still needs it; 0 means no cap"),
	SET_SIZE(max_slot_lag, "1GB", 0, 1024 * KB * KB * KB * KB,
		 "a CDC slot whose confirmed position falls further behind the log's end is lost and stops holding "
		 "the log back; 0 means no bound"),
	SET_DURATION("statement_timeout", statement_timeout_ms, "0", 0, MS_MAX,
		     "cancel a statement that runs longer than this; 0 turns it off"),
	SET_DURATION("idle_in_transaction_session_timeout", idle_in_transaction_session_timeout_ms,
		     "60s", 0, MS_MAX,
		     "close a session idle inside a transaction for longer than this; 0 turns it off"),
	SET_DURATION("authentication_timeout", authentication_timeout_ms, "60s", 1000, MS_MAX,
		     "close a connection that has not authenticated within this time"),
	SET_DURATION("lock_timeout", lock_timeout_ms, "0", 0, MS_MAX,
		     "give up waiting for a lock after this long; 0 waits forever"),
	SET_ENUM(auth_method, "trust", auth_choices, "how clients prove who they are"),
	SET_STRING(password_file, "", "file of `user:secret` lines; empty means none"),
	SET_STRING(admin_users, "",
		   "users who may run admin functions such as sluice_promote(), comma-separated; under auth_method "
		   "trust every user may"),
	SET_ENUM(ssl, "off", bool_choices, "TLS on the client port: SSLRequest is answered 'S', and direct TLS (ALPN "
		 "postgresql) is accepted"),
	SET_ENUM(ssl_required, "off", bool_choices,
		 "refuse clients that do not use TLS (SQLSTATE 28000); needs ssl = on"),
	SET_STRING(ssl_cert_file, "", "the server's certificate chain (PEM); required with ssl = on"),
	SET_STRING(ssl_key_file, "",
		   "the server's private key (PEM); required with ssl = on; must not be readable by group or others"),
	SET_STRING(ssl_ca_file, "",
		   "certificate authorities (PEM) that sign client certificates; when set, clients are asked for "
		   "one, and one they send must verify"),
	SET_ENUM(ssl_min_protocol_version, "TLSv1.2", tls_version_choices, "the oldest TLS version accepted"),
	SET_ENUM(peer_ssl, "off", bool_choices,
		 "TLS on every peer link, with ssl_cert_file and ssl_key_file; both sides verify the other's "
		 "certificate against ssl_ca_file, and the dialing side that it names the address dialled"),
	SET_ENUM(log_level, "info", log_level_choices, "least severe level written to the log"),
	SET_STRING(port_file, "", "file to write the bound port to once listening; empty means none"),
	SET_STRING(peer_listen, "", "host:port for the peer protocol (followers connect here); empty means none, port 0 any free port"),
	SET_STRING(peer_port_file, "", "file to write the bound peer port to once listening; empty means none"),
	SET_STRING(leader_peer, "", "on a follower: host:port of the leader's peer port"),
	SET_STRING(peers, "",
		   "every node of the cluster, this one included, as 'name@host:port, ...' (node_name and peer "
		   "port): a follower that loses its leader asks the others until one leads; this node's entry "
		   "gives peer_listen and node_name when they are not set"),
	SET_STRING(cluster_id, "sluice", "name of the cluster; peers with another cluster_id are refused"),
	SET_STRING(cluster_secret, "", "shared secret peers prove to each other; required for peer_listen and leader_peer"),
	SET_ENUM(stream_compression, "off", bool_choices, "zlib-compress the replication stream and snapshots"),
	SET_DURATION("max_standby_delay", max_standby_delay_ms, "30s", 0, MS_MAX,
		     "on a follower: cancel (40001) reads holding a snapshot this long while page apply waits for them"),
	SET_DURATION("replication_timeout", replication_timeout_ms, "10s", 1000, MS_MAX,
		     "close a peer link that has been silent this long"),
	SET_ENUM(synchronous_commit, "on", sync_commit_choices,
		 "what a COMMIT waits for: local (the leader's log), remote_write (followers received it), "
		 "on (followers flushed it) or remote_apply (followers applied it); sessions may SET it"),
	SET_STRING(synchronous_standbys, "",
		   "followers (by node_name) whose acknowledgements a COMMIT waits for: 'FIRST k (a, b, ...)' or "
		   "'ANY k (a, b, ...)'; a bare list means FIRST 1; empty means none"),
	SET_DURATION("synchronous_timeout", synchronous_timeout_ms, "10s", 1, MS_MAX,
		     "how long a COMMIT waits for synchronous standbys before synchronous_fallback applies"),
	SET_ENUM(synchronous_fallback, "block", sync_fallback_choices,
		 "after synchronous_timeout: block (keep waiting) or async (answer with a WARNING and run degraded "
		 "until the standbys are back)"),
	SET_DURATION("switchover_timeout", switchover_timeout_ms, "10s", 100, MS_MAX,
		     "on a leader: how long a planned switchover (sluice promote) may wait for the new leader to "
		     "have the whole log before it is abandoned and this node takes writes again"),
	SET_DURATION("follower_retention_timeout", follower_retention_timeout_ms, "0", 0, MS_MAX,
		     "on a leader: forget a follower disconnected this long, so that it no longer holds the log "
		     "(it bootstraps again if it returns after its log was removed); 0 keeps it until max_log_size"),
	SET_ENUM(failover, "on", bool_choices,
		 "automatic failover: when `peers` names three or more voters, the leader holds a lease and the "
		 "others elect a new leader when it is gone; off leaves leadership to sluice promote"),
	SET_INT(failover_priority, "100", 0, 255,
		"among equally up-to-date candidates the higher priority wins an election; 0 never leads"),
	SET_DURATION("heartbeat_interval", heartbeat_interval_ms, "100ms", 10, 60000,
		     "how often the leader tells the other members it leads"),
	SET_DURATION("lease_timeout", lease_timeout_ms, "600ms", 50, MS_MAX,
		     "the leader accepts writes only while a majority answered a heartbeat within this time"),
	SET_DURATION("failover_timeout", failover_timeout_ms, "1s", 100, MS_MAX,
		     "a member that hears no leader this long (plus up to 30% jitter) starts an election; at "
		     "least 1.5 times lease_timeout"),
	SET_DURATION("max_replica_lag", max_replica_lag_ms, "0", 0, MS_MAX,
		     "on a follower: refuse reads while it is further behind the leader than this; 0 turns it off; "
		     "sessions may SET it"),
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

struct unit {
	const char *name;
	int64_t factor; /* in the type's base unit: us for durations, bytes for sizes */
};

/* Smallest first; the canonical form takes the largest exact divisor. */
static const struct unit duration_units[] = {
	{ "us", 1 },
	{ "ms", INT64_C(1000) },
	{ "s", INT64_C(1000000) },
	{ "min", INT64_C(60000000) },
	{ "h", INT64_C(3600000000) },
	{ "d", INT64_C(86400000000) },
	{ NULL, 0 },
};
#define DURATION_US_PER_MS INT64_C(1000)

static const struct unit size_units[] = {
	{ "B", 1 }, { "kB", KB }, { "MB", KB * KB }, { "GB", KB * KB * KB }, { "TB", KB * KB * KB * KB },
	{ NULL, 0 },
};

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static const struct setting *setting_find(const char *name)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (strcasecmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

static void *setting_field(struct config *cfg, const struct setting *s)
{
	return (char *)cfg + s->offset;
}

static const void *setting_cfield(const struct config *cfg, const struct setting *s)
{
	return (const char *)cfg + s->offset;
}

/*
 * The units a number of this type may carry, and in *stored the factor of
 * the unit it is stored in, which is also what a bare number means.
 */
static const struct unit *setting_units(const struct setting *s, int64_t *stored)
{
	switch (s->type) {
	case SETTING_DURATION:
		*stored = DURATION_US_PER_MS;
		return duration_units;
	case SETTING_SIZE:
		*stored = 1;
		return size_units;
	default:
		*stored = 1;
		return NULL;
	}
}

/*
 * Writes a number of this setting's type in canonical form: the largest
 * unit that divides it exactly. Returns what snprintf returns.
 */
static int format_number(const struct setting *s, int64_t v, char *out, size_t outlen)
{
	int64_t stored;
	const struct unit *units = setting_units(s, &stored);
	if (!units || v == 0)
		return snprintf(out, outlen, "%" PRId64, v);
	const struct unit *best = NULL;
	for (const struct unit *u = units; u->name; u++)
		if (u->factor >= stored && v % (u->factor / stored) == 0)
			best = u;
	if (!best)
		return snprintf(out, outlen, "%" PRId64, v); /* not reached: the stored unit divides */
	return snprintf(out, outlen, "%" PRId64 "%s", v / (best->factor / stored), best->name);
}

static const char *choice_name(const struct choice *c, int value)
{
	for (; c->name; c++)
		if (c->value == value)
			return c->name;
	return NULL;
}

/* The setting's current value in canonical form; returns what snprintf returns. */
static int format_value(const struct setting *s, const struct config *cfg, char *out, size_t outlen)
{
	const void *f = setting_cfield(cfg, s);
	switch (s->type) {
	case SETTING_INT:
		return snprintf(out, outlen, "%d", *(const int *)f);
	case SETTING_DURATION:
	case SETTING_SIZE:
		return format_number(s, *(const int64_t *)f, out, outlen);
	case SETTING_STRING:
		/* a secret is never shown, only whether there is one */
		if (strcmp(s->name, "cluster_secret") == 0 && *(const char *)f)
			return snprintf(out, outlen, "%s", CONFIG_SECRET_SHOWN);
		return snprintf(out, outlen, "%s", (const char *)f);
	case SETTING_ENUM: {
		const char *name = choice_name(s->choices, *(const int *)f);
		if (name)
			return snprintf(out, outlen, "%s", name);
		return snprintf(out, outlen, "%d", *(const int *)f);
	}
	}
	return snprintf(out, outlen, "?");
}

/* "a, b, c" */
static void format_names(char *out, size_t outlen, const char *(*name)(const void *, size_t),
			 const void *list)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; name(list, i); i++) {
		int w = snprintf(out + n, outlen - n, "%s%s", i ? ", " : "", name(list, i));
		if (w < 0 || (size_t)w >= outlen - n)
			return;
		n += (size_t)w;
	}
}

static const char *unit_name_at(const void *list, size_t i)
{
	return ((const struct unit *)list)[i].name;
}

static const char *choice_name_at(const void *list, size_t i)
{
	return ((const struct choice *)list)[i].name;
}

static int invalid(const struct setting *s, const char *value, char *err, size_t errlen,
		   const char *why)
{
	return fail(SL_EINVAL, err, errlen, "invalid value for \"%s\": \"%s\"%s%s%s", s->name, value,
		    why ? " (" : "", why ? why : "", why ? ")" : "");
}

static int out_of_range(const struct setting *s, const char *value, char *err, size_t errlen)
{
	char lo[32], hi[32], why[96];
	format_number(s, s->min, lo, sizeof(lo));
	format_number(s, s->max, hi, sizeof(hi));
	snprintf(why, sizeof(why), "must be between %s and %s", lo, hi);
	return invalid(s, value, err, errlen, why);
}

static int bad_syntax(const struct setting *s, const char *value, char *err, size_t errlen)
{
	int64_t stored;
	const struct unit *units = setting_units(s, &stored);
	if (!units)
		return invalid(s, value, err, errlen, "must be an integer");
	char names[64], why[160];
	format_names(names, sizeof(names), unit_name_at, units);
	const char *bare_name = "";
	for (const struct unit *u = units; u->name; u++)
		if (u->factor == stored)
			bare_name = u->name;
	snprintf(why, sizeof(why), "must be an integer with an optional unit: %s; no unit means %s",
		 names, bare_name);
	return invalid(s, value, err, errlen, why);
}

/*
 * Parses "[+-]digits[ ][unit]" surrounded by optional spaces into the stored
 * unit and checks the range. Returns 0 or SL_EINVAL with a message.
 */
static int parse_number(const struct setting *s, const char *value, int64_t *out, char *err,
			size_t errlen)
{
	const char *p = value;
	while (is_space(*p))
		p++;
	bool neg = false;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (*p < '0' || *p > '9')
		return bad_syntax(s, value, err, errlen);

	/* Accumulate the magnitude; INT64_MAX + 1 is allowed for a negative. */
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t mag = 0;
	bool overflow = false;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (mag > (limit - d) / 10)
			overflow = true;
		else
			mag = mag * 10 + d;
	}
	while (is_space(*p))
		p++;
	const char *unit = p;
	size_t unit_len = 0;
	while (p[unit_len] && !is_space(p[unit_len]))
		unit_len++;
	for (p += unit_len; is_space(*p); p++)
		;
	if (*p != '\0')
		return bad_syntax(s, value, err, errlen);

	int64_t stored;
	const struct unit *units = setting_units(s, &stored);
	int64_t factor = stored;
	if (unit_len > 0) {
		const struct unit *u = units;
		for (; u && u->name; u++)
			if (strlen(u->name) == unit_len && memcmp(u->name, unit, unit_len) == 0)
				break;
		if (!u || !u->name)
			return bad_syntax(s, value, err, errlen);
		factor = u->factor;
	}
	if (overflow)
		return out_of_range(s, value, err, errlen);

	/* Scale the magnitude, refusing anything beyond int64. */
	if (mag > limit / (uint64_t)factor)
		return out_of_range(s, value, err, errlen);
	mag *= (uint64_t)factor;
	int64_t v;
	if (neg)
		v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		v = (int64_t)mag;
	if (v / stored < s->min || v / stored > s->max)
		return out_of_range(s, value, err, errlen);
	if (v % stored != 0)
		return invalid(s, value, err, errlen, "must be a whole number of milliseconds");
	*out = v / stored;
	return 0;
}

static int parse_enum(const struct setting *s, const char *value, int *out, char *err,
		      size_t errlen)
{
	const char *p = value;
	while (is_space(*p))
		p++;
	size_t n = strlen(p);
	while (n > 0 && is_space(p[n - 1]))
		n--;
	for (const struct choice *c = s->choices; c->name; c++) {
		if (strlen(c->name) == n && strncasecmp(c->name, p, n) == 0) {
			*out = c->value;
			return 0;
		}
	}
	char names[128], why[160];
	format_names(names, sizeof(names), choice_name_at, s->choices);
	snprintf(why, sizeof(why), "must be one of %s", names);
	return invalid(s, value, err, errlen, why);
}

/* Parses value for s and stores it only when it is valid. */
static int setting_set(struct config *cfg, const struct setting *s, const char *value, char *err,
		       size_t errlen)
{
	void *f = setting_field(cfg, s);
	switch (s->type) {
	case SETTING_INT:
	case SETTING_DURATION:
	case SETTING_SIZE: {
		int64_t v = 0;
		int rc = parse_number(s, value, &v, err, errlen);
		if (rc < 0)
			return rc;
		if (s->type == SETTING_INT)
			*(int *)f = (int)v; /* the range fits an int */
		else
			*(int64_t *)f = v;
		return 0;
	}
	case SETTING_STRING: {
		size_t n = strlen(value);
		if (n >= CONFIG_STR_MAX)
			return fail(SL_EINVAL, err, errlen,
				    "invalid value for \"%s\": too long (%zu bytes, at most %d)",
				    s->name, n, CONFIG_STR_MAX - 1);
		const char *weak = NULL;
		if (strcmp(s->name, "cluster_secret") == 0 && n > 0 && (weak = secret_weakness(value)))
			return fail(SL_EINVAL, err, errlen, "invalid value for \"cluster_secret\": %s", weak);
		memcpy(f, value, n + 1);
		return 0;
	}
	case SETTING_ENUM:
		return parse_enum(s, value, (int *)f, err, errlen);
	}
	return fail(SL_EINVAL, err, errlen, "setting \"%s\" has no type", s->name);
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_SETTINGS; i++) {
		int rc = setting_set(cfg, &settings[i], settings[i].default_text, NULL, 0);
		assert(rc == 0); /* the table's own defaults are valid */
		(void)rc;
	}
}

int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
	const struct setting *s = setting_find(name);
	if (!s)
		return fail(SL_EINVAL, err, errlen, "unknown setting \"%s\"", name);
	return setting_set(cfg, s, value, err, errlen);
}

/*
 * Splits one line in place into key and value. Returns 1 with both set, 0 for
 * a blank or comment line, or SL_EINVAL with a message in err.
 */
static int line_split(char *line, char **key, char **value, char *err, size_t errlen)
{
	char *p = line;
	while (is_space(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	*key = p;
	while (*p && !is_space(*p) && *p != '=' && *p != '#' && *p != '\'')
		p++;
	if (p == *key || *p == '\'')
		return fail(SL_EINVAL, err, errlen, "syntax error near \"%s\"", p);
	char *key_end = p;
	while (is_space(*p))
		p++;
	if (*p == '=')
		for (p++; is_space(*p); p++)
			;
	if (*p == '\0' || *p == '#') {
		*key_end = '\0';
		return fail(SL_EINVAL, err, errlen, "missing value for \"%s\"", *key);
	}
	/* p is past key_end now, so ending the key cannot cut the value. */
	*key_end = '\0';

	char *end;
	if (*p == '\'') {
		/* Unquote in place: the write position never passes the read one. */
		char *w = ++p;
		*value = w;
		for (;;) {
			if (*p == '\0')
				return fail(SL_EINVAL, err, errlen, "unterminated quoted string");
			if (*p == '\'') {
				if (p[1] != '\'')
					break;
				p++;
			}
			*w++ = *p++;
		}
		p++;
		end = w;
	} else {
		*value = p;
		while (*p && !is_space(*p) && *p != '#' && *p != '\'')
			p++;
		end = p;
	}
	char *rest = p;
	while (is_space(*rest))
		rest++;
	if (*rest != '\0' && *rest != '#')
		return fail(SL_EINVAL, err, errlen, "syntax error near \"%s\"", rest);
	*end = '\0';
	return 1;
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	int rc = 0;
	char *line = NULL;
	size_t cap = 0;
	char msg[512];
	struct config next = *cfg; /* applied only if the whole file is valid */

	FILE *f = fopen(path, "re");
	if (!f)
		return fail(SL_EIO, err, errlen, "could not open configuration file \"%s\": %s",
			    path, strerror(errno));
	for (int lineno = 1;; lineno++) {
		errno = 0;
		ssize_t n = getline(&line, &cap, f);
		if (n < 0) {
			if (feof(f))
				break;
			int e = errno ? errno : EIO; /* getline failed before the end */
			rc = fail(e == ENOMEM ? SL_ENOMEM : SL_EIO, err, errlen,
				  "could not read configuration file \"%s\": %s", path, strerror(e));
			goto fail;
		}
		if (strlen(line) != (size_t)n) {
			rc = fail(SL_EINVAL, err, errlen, "%s:%d: line contains a NUL byte", path,
				  lineno);
			goto fail;
		}
		while (n > 0 && is_space(line[n - 1]))
			line[--n] = '\0';
		char *text = line;
		if (lineno == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0)
			text += 3; /* a UTF-8 byte order mark */
		char *key = NULL, *value = NULL;
		rc = line_split(text, &key, &value, msg, sizeof(msg));
		if (rc == 1)
			rc = config_set(&next, key, value, msg, sizeof(msg));
		if (rc < 0) {
			fail(rc, err, errlen, "%s:%d: %s", path, lineno, msg);
			goto fail;
		}
	}
	*cfg = next;
	rc = 0;
fail:
	free(line);
	fclose(f);
	return rc;
}

int config_show(const struct config *cfg, const char *name, char *out, size_t outlen)
{
	const struct setting *s = setting_find(name);
	if (!s) {
		if (outlen > 0)
			out[0] = '\0';
		return SL_ENOTFOUND;
	}
	int n = format_value(s, cfg, out, outlen);
	if (n < 0 || (size_t)n >= outlen)
		return SL_ETOOBIG; /* out holds as much as fits */
	return 0;
}

void config_foreach(const struct config *cfg,
		    void (*fn)(void *arg, const char *name, const char *value, const char *help),
		    void *arg)
{
	char value[CONFIG_STR_MAX];
	for (size_t i = 0; i < N_SETTINGS; i++) {
		format_value(&settings[i], cfg, value, sizeof(value));
		fn(arg, settings[i].name, value, settings[i].help);
	}
}

/* Writes a default as the file would spell it: strings quoted. */
static void print_default(FILE *out, const struct setting *s)
{
	if (s->type != SETTING_STRING) {
		fputs(s->default_text, out);
		return;
	}
	fputc('\'', out);
	for (const char *p = s->default_text; *p; p++) {
		if (*p == '\'')
			fputc('\'', out);
		fputc(*p, out);
	}
	fputc('\'', out);
}

static const char *type_name(enum setting_type t)
{
	switch (t) {
	case SETTING_INT: return "integer";
	case SETTING_DURATION: return "duration";
	case SETTING_SIZE: return "size";
	case SETTING_STRING: return "string";
	case SETTING_ENUM: return "enum";
	}
	return "?";
}

void config_print_help(FILE *out)
{
	fprintf(out, "Settings (config file lines are `name = value`):\n");
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		char kind[192], lo[32], hi[32], names[128];
		switch (s->type) {
		case SETTING_INT:
		case SETTING_DURATION:
		case SETTING_SIZE:
			format_number(s, s->min, lo, sizeof(lo));
			format_number(s, s->max, hi, sizeof(hi));
			snprintf(kind, sizeof(kind), "%s, %s to %s", type_name(s->type), lo, hi);
			break;
		case SETTING_STRING:
			snprintf(kind, sizeof(kind), "string");
			break;
		case SETTING_ENUM:
			format_names(names, sizeof(names), choice_name_at, s->choices);
			snprintf(kind, sizeof(kind), "one of %s", names);
			break;
		}
		fprintf(out, "  %s = ", s->name);
		print_default(out, s);
		fprintf(out, "  (%s)\n      %s\n", kind, s->help);
	}
}
