/*
 * session.c — per-session settings and the lists of prepared statements
 * and portals (see session.h).
 *
 * Settings known to PostgreSQL clients have defaults here; the ones marked
 * `report` are sent as ParameterStatus at start-up and whenever SET
 * changes them, as PostgreSQL does. Any other name may be SET and SHOWn
 * (drivers set parameters sluice has no use for, such as extra_float_digits);
 * server settings from the config are SHOWn from the session's copy.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgwire.h"
#include "sl_error.h"
#include "walsender.h"

struct known_setting {
	const char *name;  /* as reported (case as in PostgreSQL) */
	const char *value; /* default */
	bool report;
};

static const struct known_setting known[] = {
	{ "server_version", "15.0", true },
	{ "server_version_num", "150000", false },
	{ "server_encoding", "UTF8", true },
	{ "client_encoding", "UTF8", true },
	{ "DateStyle", "ISO, MDY", true },
	{ "IntervalStyle", "postgres", true },
	{ "TimeZone", "UTC", true },
	{ "integer_datetimes", "on", true },
	{ "standard_conforming_strings", "on", true },
	{ "is_superuser", "on", true },
	{ "session_authorization", "", true },
	{ "application_name", "", true },
	{ "in_hot_standby", "off", true },
	{ "default_transaction_read_only", "off", true },
	{ "transaction_read_only", "off", false },
	{ "transaction_isolation", "repeatable read", false },
	{ "default_transaction_isolation", "repeatable read", false },
	{ "extra_float_digits", "1", false },
	{ "search_path", "\"$user\", public", false },
	{ "client_min_messages", "notice", false },
	{ "bytea_output", "hex", false },
	{ "lc_messages", "C", false },
	{ "lc_monetary", "C", false },
	{ "lc_numeric", "C", false },
	{ "lc_time", "C", false },
	{ "max_identifier_length", "63", false },
	{ "data_directory_mode", "0700", false }, /* pg_recvlogical asks */
};

#define NKNOWN (sizeof(known) / sizeof(known[0]))

static const struct known_setting *find_known(const char *name)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (strcasecmp(known[i].name, name) == 0)
			return &known[i];
	return NULL;
}

static struct setting *find_setting(struct session *s, const char *name)
{
	for (struct setting *x = s->settings; x; x = x->next)
		if (strcasecmp(x->name, name) == 0)
			return x;
	return NULL;
}

static int store(struct session *s, const char *name, const char *value)
{
	struct setting *x = find_setting(s, name);
	char *v = strdup(value);
	if (!v)
		return SL_ENOMEM;
	if (x) {
		free(x->value);
		x->value = v;
		return 0;
	}
	x = calloc(1, sizeof(*x));
	if (!x || !(x->name = strdup(name))) {
		free(x);
		free(v);
		return SL_ENOMEM;
	}
	x->value = v;
	x->next = s->settings;
	s->settings = x;
	return 0;
}

struct session *session_new(const struct config *cfg, uint32_t pid, uint32_t secret, bool read_only_node)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->pid = pid;
	s->secret = secret;
	s->cfg = *cfg;
	s->read_only_node = read_only_node;
	buf_init(&s->reports);
	if (read_only_node &&
	    (store(s, "in_hot_standby", "on") || store(s, "default_transaction_read_only", "on") ||
	     store(s, "transaction_read_only", "on"))) {
		session_free(s);
		return NULL;
	}
	return s;
}

int session_set_read_only_node(struct session *s, bool read_only_node)
{
	if (s->read_only_node == read_only_node)
		return 0;
	s->read_only_node = read_only_node;
	const char *v = read_only_node ? "on" : "off";
	if (store(s, "in_hot_standby", v) || store(s, "default_transaction_read_only", v) ||
	    store(s, "transaction_read_only", v))
		return SL_ENOMEM;
	pgwire_put_param_status(&s->reports, "in_hot_standby", v);
	pgwire_put_param_status(&s->reports, "default_transaction_read_only", v);
	return s->reports.oom ? SL_ENOMEM : 0;
}

int session_set_superuser(struct session *s, bool admin)
{
	return store(s, "is_superuser", admin ? "on" : "off") ? SL_ENOMEM : 0;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	walsender_free(s->wal);
	while (s->portals) {
		struct portal *p = s->portals;
		s->portals = p->next;
		prepared_unref(p->prep);
		free(p->name);
		free(p->oids);
		free(p->formats);
		free(p);
	}
	while (s->prepared) {
		struct prepared *p = s->prepared;
		s->prepared = p->next;
		prepared_unref(p);
	}
	while (s->settings) {
		struct setting *x = s->settings;
		s->settings = x->next;
		free(x->name);
		free(x->value);
		free(x);
	}
	for (int i = 0; i < s->nsavepoints; i++)
		free(s->savepoints[i]);
	free(s->savepoints);
	buf_free(&s->reports);
	free(s);
}

const char *session_get(struct session *s, const char *name)
{
	struct setting *x = find_setting(s, name);
	if (x)
		return x->value;
	if (strcasecmp(name, "session_authorization") == 0)
		return s->user;
	if (strcasecmp(name, "sluice.database") == 0)
		return s->database;
	if (strcasecmp(name, "sluice.backend_pid") == 0) {
		snprintf(s->scratch, sizeof(s->scratch), "%u", s->pid);
		return s->scratch;
	}
	if (strcasecmp(name, "transaction_read_only") == 0)
		return (s->read_only_node || s->txn_read_only) ? "on" : "off";
	const struct known_setting *k = find_known(name);
	if (k)
		return k->value;
	static __thread char shown[CONFIG_STR_MAX];
	if (config_show(&s->cfg, name, shown, sizeof(shown)) == 0)
		return shown;
	return NULL;
}

/* PostgreSQL parameters that clients set and that have no meaning here:
 * accepted and shown back, as a PostgreSQL server would. */
static bool is_ignored_parameter(const char *name)
{
	static const char *const names[] = {
		"work_mem", "maintenance_work_mem", "temp_buffers", "jit", "random_page_cost", "seq_page_cost",
		"effective_cache_size", "default_statistics_target", "geqo", "row_security", "check_function_bodies",
		"xmloption", "gin_fuzzy_search_limit", "vacuum_cost_delay", "timezone_abbreviations",
		"escape_string_warning", "backslash_quote", "array_nulls", "default_with_oids", "log_statement",
		"log_min_duration_statement", "log_min_messages", "enable_seqscan", "enable_indexscan",
		"enable_bitmapscan", "enable_hashjoin", "enable_mergejoin", "enable_nestloop", "plan_cache_mode",
		"idle_session_timeout", "default_tablespace", "temp_tablespaces", "role", "deadlock_timeout",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(names[i], name) == 0)
			return true;
	return false;
}

static bool is_utf8_name(const char *v)
{
	return strcasecmp(v, "UTF8") == 0 || strcasecmp(v, "UTF-8") == 0 || strcasecmp(v, "unicode") == 0;
}

/* The server settings a session may change for itself. */
static bool session_may_set(const char *name)
{
	static const char *const names[] = {
		"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
		"synchronous_commit", "max_replica_lag",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(names[i], name) == 0)
			return true;
	return false;
}

int session_set(struct session *s, const char *name, const char *value, char *err, size_t errlen)
{
	const struct known_setting *k = find_known(name);
	if (k && (strcmp(k->name, "server_version") == 0 || strcmp(k->name, "server_encoding") == 0 ||
		  strcmp(k->name, "integer_datetimes") == 0 || strcmp(k->name, "in_hot_standby") == 0 ||
		  strcmp(k->name, "server_version_num") == 0 || strcmp(k->name, "is_superuser") == 0 ||
		  strcmp(k->name, "max_identifier_length") == 0 || strcmp(k->name, "data_directory_mode") == 0)) {
		snprintf(err, errlen, "parameter \"%s\" cannot be changed", name);
		return -1;
	}
	if (k && strcmp(k->name, "client_encoding") == 0) {
		if (!is_utf8_name(value)) {
			snprintf(err, errlen, "client encoding \"%s\" is not supported: only UTF8 is", value);
			return -1;
		}
		value = "UTF8";
	}
	if (k && strcmp(k->name, "standard_conforming_strings") == 0 && strcasecmp(value, "on") != 0 &&
	    strcasecmp(value, "true") != 0) {
		snprintf(err, errlen, "standard_conforming_strings cannot be turned off");
		return -1;
	}
	if (!k) {
		/* a server setting: only what a session may change, checked by the config table */
		char shown[CONFIG_STR_MAX];
		if (config_show(&s->cfg, name, shown, sizeof(shown)) == 0) {
			if (!session_may_set(name)) {
				snprintf(err, errlen, "parameter \"%s\" cannot be changed now", name);
				return -1;
			}
			return config_set(&s->cfg, name, value, err, errlen) == 0 ? 0 : -1;
		}
	}
	if (!k && !strchr(name, '.') && !is_ignored_parameter(name)) {
		snprintf(err, errlen, "unrecognized configuration parameter \"%s\"", name);
		return -1;
	}
	const char *canonical = k ? k->name : name;
	if (store(s, canonical, value) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (k && k->report)
		pgwire_put_param_status(&s->reports, k->name, value);
	return 0;
}

/* The next argument of an options string into arg; false at its end. */
static bool next_option_arg(const char **pp, char *arg, size_t len)
{
	const char *p = *pp;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (!*p)
		return false;
	size_t n = 0;
	for (; *p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'; p++) {
		if (*p == '\\' && p[1])
			p++;
		if (n + 1 < len)
			arg[n++] = *p;
	}
	arg[n] = '\0';
	*pp = p;
	return true;
}

int session_set_options(struct session *s, const char *options, char *err, size_t errlen)
{
	char arg[CONFIG_STR_MAX];
	const char *p = options;
	while (next_option_arg(&p, arg, sizeof(arg))) {
		const char *setting = NULL;
		if (strcmp(arg, "-c") == 0) {
			if (!next_option_arg(&p, arg, sizeof(arg))) {
				snprintf(err, errlen, "option \"-c\" needs name=value");
				return -1;
			}
			setting = arg;
		} else if (strncmp(arg, "-c", 2) == 0) {
			setting = arg + 2;
		} else if (strncmp(arg, "--", 2) == 0) {
			setting = arg + 2;
		} else {
			snprintf(err, errlen, "unsupported start-up option \"%.100s\": only -c name=value is", arg);
			return -1;
		}
		char *eq = strchr(setting, '=');
		if (!eq || eq == setting) {
			snprintf(err, errlen, "start-up option \"%.100s\" is not name=value", setting);
			return -1;
		}
		*eq = '\0';
		for (char *c = (char *)setting; *c; c++)
			*c = *c == '-' ? '_' : *c; /* --max-replica-lag=1s */
		if (session_set(s, setting, eq + 1, err, errlen) != 0)
			return -1;
	}
	return 0;
}

void session_reset(struct session *s, const char *name)
{
	struct setting **pp = &s->settings;
	while (*pp) {
		struct setting *x = *pp;
		bool all = strcasecmp(name, "all") == 0;
		bool keep = s->read_only_node && (strcasecmp(x->name, "in_hot_standby") == 0 ||
						  strcasecmp(x->name, "default_transaction_read_only") == 0 ||
						  strcasecmp(x->name, "transaction_read_only") == 0);
		if ((all || strcasecmp(x->name, name) == 0) && !keep) {
			*pp = x->next;
			const struct known_setting *k = find_known(x->name);
			if (k && k->report)
				pgwire_put_param_status(&s->reports, k->name, k->value);
			free(x->name);
			free(x->value);
			free(x);
		} else {
			pp = &x->next;
		}
	}
	char shown[CONFIG_STR_MAX], err[128];
	if (strcasecmp(name, "all") != 0 && config_show(&s->cfg, name, shown, sizeof(shown)) == 0) {
		struct config defaults;
		config_defaults(&defaults);
		if (config_show(&defaults, name, shown, sizeof(shown)) == 0)
			config_set(&s->cfg, name, shown, err, sizeof(err));
	}
}

void session_report_all(struct session *s, struct buf *out)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (known[i].report)
			pgwire_put_param_status(out, known[i].name, session_get(s, known[i].name));
}

void session_foreach_setting(struct session *s, void (*fn)(void *, const char *, const char *), void *arg)
{
	for (size_t i = 0; i < NKNOWN; i++)
		fn(arg, known[i].name, session_get(s, known[i].name));
	for (struct setting *x = s->settings; x; x = x->next)
		if (!find_known(x->name))
			fn(arg, x->name, x->value);
}

struct prepared *session_find_prepared(struct session *s, const char *name)
{
	for (struct prepared *p = s->prepared; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

void session_add_prepared(struct session *s, struct prepared *p)
{
	p->next = s->prepared;
	s->prepared = p;
}

void session_drop_prepared(struct session *s, const char *name)
{
	for (struct prepared **pp = &s->prepared; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->name, name) == 0) {
			struct prepared *p = *pp;
			*pp = p->next;
			prepared_unref(p);
			return;
		}
	}
}

void prepared_unref(struct prepared *p)
{
	if (!p || --p->refs > 0)
		return;
	free(p->name);
	free(p->text);
	free(p->sql);
	free(p->param_oids);
	free(p);
}

struct portal *session_find_portal(struct session *s, const char *name)
{
	for (struct portal *p = s->portals; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}
