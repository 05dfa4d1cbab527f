/*
 * sluice.c — the `sluice` command-line tool: reads the command line and
 * runs a subcommand. Two work on a data directory's replication log,
 * offline:
 *
 *   sluice log dump DATA_DIR [--from LSN] [--json]     (log_dump.c)
 *   sluice log replay DATA_DIR OUT_DB [--mode physical|logical] [--from LSN]
 *
 * Both open DATA_DIR/log themselves, which locks it and repairs a torn
 * tail, so the sluiced that owns the data directory must be stopped (while
 * it runs they fail on the lock), or they are run on a copy. Four ask a
 * running cluster over the PostgreSQL protocol:
 *
 *   sluice status --host H:P [--json]                  (status.c)
 *   sluice promote NODE --host H:P[,H:P...] [--force [--yes]]  (promote.c)
 *   sluice cdc --host H:P [--host H:P...] [--from LSN] ...     (cdc.c)
 *   sluice slot create|list|drop NAME --host H:P               (slot.c)
 *
 * and one needs nothing: `sluice secret` prints a new cluster secret.
 *
 * Exit status: 0 on success, 1 when the command fails (for status: when a
 * node did not answer), 2 for a wrong command line (with the usage on
 * stderr).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdc.h"
#include "slots.h"
#include "lsn.h"
#include "replay.h"
#include "replog.h"
#include "secret.h"
#include "sl_error.h"
#include "sluice.h"

#define ERR_MAX 1024

static const char usage_text[] =
	"sluice is the command-line tool of sluice, a replication server for SQLite.\n"
	"\n"
	"Usage:\n"
	"  sluice log dump DATA_DIR [--from LSN] [--json]\n"
	"  sluice log replay DATA_DIR OUT_DB [--mode physical|logical] [--from LSN]\n"
	"  sluice status --host HOST:PORT [--json]\n"
	"  sluice promote NODE --host HOST:PORT[,HOST:PORT...] [--force [--yes]]\n"
	"  sluice cdc --host HOST:PORT [--host HOST:PORT...] [--slot NAME | --from LSN]\n"
	"             [--snapshot] [--format json|debezium] [--tables T1,T2] [--endpos LSN]\n"
	"  sluice slot create|drop NAME --host HOST:PORT[,HOST:PORT...]\n"
	"  sluice slot list [NAME] --host HOST:PORT[,HOST:PORT...] [--json]\n"
	"  sluice secret\n"
	"  sluice help\n"
	"\n"
	"Commands:\n"
	"  log dump     Print every record of the replication log in DATA_DIR/log, one\n"
	"               line each: LSN, epoch, type, size, commit time, and for a\n"
	"               transaction its pages and its DDL, changesets, rows and tables.\n"
	"               --json prints one JSON object per line instead, with each row\n"
	"               change's table and operation. DATA_DIR may also be a log\n"
	"               directory itself, such as the transactions a follower\n"
	"               discarded on rejoining (DATA_DIR/discarded/LSN).\n"
	"  log replay   Apply the transactions of the log to the SQLite database OUT_DB\n"
	"               (created if missing). --mode physical (the default) writes the\n"
	"               page images into the file: OUT_DB must be empty, or a copy of the\n"
	"               database as of --from. --mode logical applies the DDL and\n"
	"               changesets through SQLite, one transaction per record, and stops\n"
	"               at the first conflict.\n"
	"  status       Connect to the node whose PostgreSQL port is HOST:PORT (any node),\n"
	"               find the leader and its followers from there, and print one line\n"
	"               per node: name, role, address, state, epoch, current and applied\n"
	"               LSN, lag, and for a follower what the leader has sent it and it\n"
	"               has written, flushed and replayed. A node that does not answer\n"
	"               is shown as unreachable, with the error, and the exit status is\n"
	"               then 1. --json prints one JSON document with every column.\n"
	"               The user is PGUSER (default sluice), the database sluice, and\n"
	"               the password comes from PGPASSWORD or ~/.pgpass.\n"
	"  promote      Make the follower NODE (its node_name or client address) the\n"
	"               leader, finding it from HOST:PORT as status does (several,\n"
	"               comma-separated: without a leader a node knows no siblings).\n"
	"               Without --force it is a planned switchover: the leader stops\n"
	"               taking writes, waits until NODE has its whole log, hands over\n"
	"               and follows NODE (NODE needs a fixed peer port); nothing is\n"
	"               lost. --force is for when the leader is gone: it first prints\n"
	"               what may be lost (NODE's end of log against the highest LSN a\n"
	"               reachable node reports, and a leader that still answers) and\n"
	"               asks for confirmation, or takes --yes. Either way NODE opens\n"
	"               the next epoch, and the command prints it once NODE leads.\n"
	"               Admin users only (admin_users).\n"
	"  cdc          Print the change events of the leader found from the hosts\n"
	"               given (any nodes, as for status), one JSON object per line:\n"
	"               each transaction's begin, row changes and DDL, and commit\n"
	"               (docs/CDC.md); needs log_mode = logical or both. It follows\n"
	"               new commits until SIGINT or SIGTERM, and after a switchover or\n"
	"               failover goes on from the new leader where it stopped. Without\n"
	"               --from it starts at the leader's end of log; --from 0/0 starts\n"
	"               at the oldest record kept; --snapshot first prints every row\n"
	"               as a read event from one snapshot, then the stream from it\n"
	"               with no gap. --format debezium writes Debezium's\n"
	"               envelope; --tables keeps the row changes of these tables;\n"
	"               --endpos prints the transactions before that LSN and exits.\n"
	"               --slot NAME starts where the slot stands and confirms it after\n"
	"               writing out each batch, so a restarted consumer, on any leader,\n"
	"               goes on after the last batch confirmed (a batch written but\n"
	"               not yet confirmed when it stopped comes again).\n"
	"  slot         CDC slots on the leader found from the hosts given: create\n"
	"               NAME (at the end of the log), drop NAME, list (name, plugin,\n"
	"               confirmed LSN, lag in bytes and seconds, active, lost). A\n"
	"               slot keeps the log its consumer still needs, replicated to\n"
	"               every node, until it falls max_slot_lag behind: then it is\n"
	"               lost. Admin users only (admin_users).\n"
	"  secret       Print a new random cluster_secret (32 bytes from the kernel's\n"
	"               random source, as 64 hex digits). Every member of a cluster\n"
	"               needs the same one; sluiced refuses a short or predictable one.\n"
	"\n"
	"Options:\n"
	"  --from LSN   Start at this record (X/Y in hex, as the dump prints it)\n"
	"               instead of the oldest one kept (cdc: the end of the log).\n"
	"  --host H:P   A node's PostgreSQL client address (host:port or\n"
	"               [IPv6]:port); cdc and promote take several.\n"
	"  --json       log dump, status, slot list: JSON output.\n"
	"  --slot NAME  cdc: read through this slot (see slot).\n"
	"  --force      promote: even though the leader may still be reachable.\n"
	"  --yes        promote --force: do not ask for confirmation.\n"
	"  --mode M     log replay: physical or logical.\n"
	"  -h, --help   Show this help.\n"
	"\n"
	"For log dump and log replay, stop the sluiced that owns DATA_DIR first, or\n"
	"work on a copy of it: opening the log repairs a torn record at its end.\n";

struct args {
	const char *pos[3];
	int npos;
	uint64_t from;
	bool has_from;
	bool json;
	const char *mode;
	const char *host; /* every --host given, comma-separated (in hosts) */
	char hosts[1024];
	bool force, yes;
	const char *format, *tables, *slot;
	uint64_t endpos;
	bool has_endpos, snapshot;
};

int tool_error(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout); /* what was printed before the failure comes first */
	fputs("sluice: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return TOOL_EXIT_FAIL;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("sluice: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", usage_text);
	return TOOL_EXIT_USAGE;
}

int tool_log_open(const char *data_dir, struct replog **log)
{
	char dir[4096], err[ERR_MAX] = "";
	struct stat st;
	*log = NULL;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/log", data_dir) >= sizeof(dir))
		return tool_error("data directory path too long: %s", data_dir);
	/* a log directory itself, such as DATA_DIR/discarded/X */
	if (stat(dir, &st) != 0 && errno == ENOENT && stat(data_dir, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(dir, sizeof(dir), "%s", data_dir);
	if (stat(dir, &st) != 0)
		return tool_error("could not open log directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return tool_error("could not open log directory %s: not a directory", dir);
	struct replog_options opt = { 0 };
	int rc = replog_open(log, dir, 0, &opt, err, sizeof(err));
	if (rc != 0) {
		*log = NULL;
		return tool_error("could not open the log in %s: %s", dir, err[0] ? err : sl_strerror(rc));
	}
	return TOOL_EXIT_OK;
}

/* The value of an option given as "--name=value" or "--name value". */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0' || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* The options, as bits of what a command takes. */
enum option {
	OPT_JSON = 1 << 0,
	OPT_FORCE = 1 << 1,
	OPT_YES = 1 << 2,
	OPT_SNAPSHOT = 1 << 3,
	OPT_FROM = 1 << 4,
	OPT_MODE = 1 << 5,
	OPT_HOST = 1 << 6,
	OPT_ENDPOS = 1 << 7,
	OPT_FORMAT = 1 << 8,
	OPT_TABLES = 1 << 9,
	OPT_SLOT = 1 << 10,
};

static const struct {
	const char *name;
	enum option bit;
	bool value; /* takes a value */
} options[] = {
	{ "--json", OPT_JSON, false },	   { "--force", OPT_FORCE, false },   { "--yes", OPT_YES, false },
	{ "--snapshot", OPT_SNAPSHOT, false }, { "--from", OPT_FROM, true },      { "--mode", OPT_MODE, true },
	{ "--host", OPT_HOST, true },	   { "--endpos", OPT_ENDPOS, true }, { "--format", OPT_FORMAT, true },
	{ "--tables", OPT_TABLES, true },   { "--slot", OPT_SLOT, true },
};

/* Reads the command line of the command cmd, which takes the options in
 * allowed; any other option is a usage error naming it. */
static int args_parse(int argc, char **argv, const char *cmd, unsigned allowed, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *v = NULL;
		enum option opt = 0;
		for (size_t k = 0; !opt && k < sizeof(options) / sizeof(options[0]); k++) {
			if (options[k].value ? (v = option_value(argc, argv, &i, options[k].name)) != NULL
					     : strcmp(argv[i], options[k].name) == 0)
				opt = options[k].bit;
			if (opt && !(allowed & opt))
				return usage_error("%s has no %s", cmd, options[k].name);
		}
		switch (opt) {
		case OPT_JSON: a->json = true; break;
		case OPT_FORCE: a->force = true; break;
		case OPT_YES: a->yes = true; break;
		case OPT_SNAPSHOT: a->snapshot = true; break;
		case OPT_MODE: a->mode = v; break;
		case OPT_FORMAT: a->format = v; break;
		case OPT_TABLES: a->tables = v; break;
		case OPT_SLOT: a->slot = v; break;
		case OPT_FROM:
		case OPT_ENDPOS:
			if (lsn_parse(v, opt == OPT_FROM ? &a->from : &a->endpos) != 0)
				return usage_error("invalid LSN \"%s\": want X/Y in hex, e.g. 0/16B3F0", v);
			*(opt == OPT_FROM ? &a->has_from : &a->has_endpos) = true;
			break;
		case OPT_HOST: {
			size_t used = strlen(a->hosts);
			if (used + strlen(v) + 2 > sizeof(a->hosts))
				return usage_error("--host is too long");
			snprintf(a->hosts + used, sizeof(a->hosts) - used, "%s%s", used ? "," : "", v);
			a->host = a->hosts;
			break;
		}
		default:
			if (argv[i][0] == '-' && argv[i][1] != '\0')
				return usage_error("unknown option or missing value: %s", argv[i]);
			if (a->npos == (int)(sizeof(a->pos) / sizeof(a->pos[0])))
				return usage_error("too many arguments");
			a->pos[a->npos++] = argv[i];
		}
	}
	return TOOL_EXIT_OK;
}

static int cmd_log_dump(int argc, char **argv)
{
	struct args a;
	int rc = args_parse(argc, argv, "log dump", OPT_FROM | OPT_JSON, &a);
	if (rc != TOOL_EXIT_OK)
		return rc;
	if (a.npos != 1)
		return usage_error("log dump takes one DATA_DIR");
	return log_dump(a.pos[0], a.from, a.json);
}

/* The end of the log after a replay: where a later replay goes on. */
static int log_end(const char *data_dir, uint64_t *end)
{
	struct replog *log;
	int rc = tool_log_open(data_dir, &log);
	if (rc != TOOL_EXIT_OK)
		return rc;
	*end = replog_end_lsn(log);
	replog_close(log);
	return TOOL_EXIT_OK;
}

static int cmd_log_replay(int argc, char **argv)
{
	struct args a;
	enum replay_mode mode = REPLAY_PHYSICAL;
	int rc = args_parse(argc, argv, "log replay", OPT_FROM | OPT_MODE, &a);
	if (rc != TOOL_EXIT_OK)
		return rc;
	if (a.npos != 2)
		return usage_error("log replay takes DATA_DIR and OUT_DB");
	if (a.mode && strcmp(a.mode, "logical") == 0)
		mode = REPLAY_LOGICAL;
	else if (a.mode && strcmp(a.mode, "physical") != 0)
		return usage_error("invalid --mode \"%s\": want physical or logical", a.mode);

	char dir[4096], err[ERR_MAX] = "", at[LSN_TEXT_MAX];
	uint64_t applied = 0, end = 0;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/log", a.pos[0]) >= sizeof(dir))
		return tool_error("data directory path too long: %s", a.pos[0]);
	rc = replay_log(dir, a.pos[1], mode, a.from, &applied, err, sizeof(err));
	if (rc != 0)
		return tool_error("replay failed after %llu records: %s", (unsigned long long)applied,
				  err[0] ? err : sl_strerror(rc));
	if ((rc = log_end(a.pos[0], &end)) != TOOL_EXIT_OK)
		return rc;
	printf("replayed %llu records up to %s\n", (unsigned long long)applied, lsn_format(end, at));
	return fflush(stdout) == 0 ? TOOL_EXIT_OK : tool_error("could not write the output");
}

static int cmd_log(int argc, char **argv)
{
	if (argc < 1)
		return usage_error("log needs a command: dump or replay");
	if (strcmp(argv[0], "dump") == 0)
		return cmd_log_dump(argc - 1, argv + 1);
	if (strcmp(argv[0], "replay") == 0)
		return cmd_log_replay(argc - 1, argv + 1);
	return usage_error("unknown log command \"%s\"", argv[0]);
}

static int cmd_status(int argc, char **argv)
{
	struct args a;
	int rc = args_parse(argc, argv, "status", OPT_HOST | OPT_JSON, &a);
	if (rc != TOOL_EXIT_OK)
		return rc;
	if (a.npos != 0)
		return usage_error("status takes no arguments, only --host HOST:PORT [--json]");
	if (!a.host)
		return usage_error("status needs --host HOST:PORT");
	if (strchr(a.host, ','))
		return usage_error("status takes one --host");
	if (!status_address_valid(a.host))
		return usage_error("invalid --host \"%s\": want HOST:PORT, e.g. 127.0.0.1:5433", a.host);
	return status_show(a.host, a.json);
}

/* Every address in a comma-separated --host list. */
static int hosts_valid(const char *hosts)
{
	char list[1024], *save = NULL;
	snprintf(list, sizeof(list), "%s", hosts);
	for (char *h = strtok_r(list, ",", &save); h; h = strtok_r(NULL, ",", &save))
		if (!status_address_valid(h))
			return usage_error("invalid --host \"%s\": want HOST:PORT, e.g. 127.0.0.1:5433", h);
	return TOOL_EXIT_OK;
}

static int cmd_promote(int argc, char **argv)
{
	struct args a;
	int rc = args_parse(argc, argv, "promote", OPT_HOST | OPT_FORCE | OPT_YES, &a);
	if (rc != TOOL_EXIT_OK)
		return rc;
	if (a.npos != 1)
		return usage_error("promote takes one NODE: sluice promote NODE --host HOST:PORT [--force [--yes]]");
	if (a.yes && !a.force)
		return usage_error("--yes goes with --force");
	if (!a.host)
		return usage_error("promote needs --host HOST:PORT[,HOST:PORT...]");
	if ((rc = hosts_valid(a.host)) != TOOL_EXIT_OK)
		return rc;
	return promote_run(a.pos[0], a.host, a.force, a.yes);
}

static int cmd_cdc(int argc, char **argv)
{
	struct args a;
	int rc = args_parse(argc, argv, "cdc",
			    OPT_HOST | OPT_FROM | OPT_SNAPSHOT | OPT_FORMAT | OPT_TABLES | OPT_ENDPOS | OPT_SLOT, &a);
	if (rc != TOOL_EXIT_OK)
		return rc;
	if (a.npos != 0)
		return usage_error("cdc takes no arguments, only options");
	if (!a.host)
		return usage_error("cdc needs --host HOST:PORT (one or more)");
	if ((rc = hosts_valid(a.host)) != TOOL_EXIT_OK)
		return rc;
	enum cdc_format format = CDC_FORMAT_JSON;
	if (a.format && cdc_format_parse(a.format, &format) != 0)
		return usage_error("invalid --format \"%s\": want json or debezium", a.format);
	if (a.tables) {
		struct cdc_options *o = calloc(1, sizeof(*o));
		char err[512];
		if (!o)
			return tool_error("out of memory");
		int bad = cdc_tables_parse(a.tables, o, err, sizeof(err));
		free(o);
		if (bad)
			return usage_error("invalid --tables: %s", err);
	}
	if (a.snapshot && a.has_from)
		return usage_error("cdc takes --snapshot or --from, not both");
	if (a.slot && a.has_from)
		return usage_error("cdc takes --slot or --from, not both");
	if (a.slot && !slots_name_valid(a.slot))
		return usage_error("invalid --slot \"%s\": 1 to 63 of a-z, 0-9 and _", a.slot);
	return cdc_run(a.host, a.has_from ? &a.from : NULL, a.format ? a.format : "json", a.tables,
		       a.has_endpos ? &a.endpos : NULL, a.snapshot, a.slot);
}

static int cmd_slot(int argc, char **argv)
{
	struct args a;
	int rc = args_parse(argc, argv, "slot", OPT_HOST | OPT_JSON, &a);
	if (rc != TOOL_EXIT_OK)
		return rc;
	if (a.npos < 1)
		return usage_error("slot needs a command: create, list or drop");
	const char *action = a.pos[0], *name = a.npos > 1 ? a.pos[1] : NULL;
	bool list = strcmp(action, "list") == 0;
	if (!list && strcmp(action, "create") != 0 && strcmp(action, "drop") != 0)
		return usage_error("unknown slot command \"%s\": want create, list or drop", action);
	if (a.npos > 2 || (!list && !name))
		return usage_error("slot %s takes %s NAME", action, list ? "at most one" : "one");
	if (a.json && !list)
		return usage_error("--json goes with slot list");
	if (name && !slots_name_valid(name))
		return usage_error("invalid slot name \"%s\": 1 to 63 of a-z, 0-9 and _", name);
	if (!a.host)
		return usage_error("slot needs --host HOST:PORT[,HOST:PORT...]");
	if ((rc = hosts_valid(a.host)) != TOOL_EXIT_OK)
		return rc;
	return slot_run(action, name, a.host, a.json);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("no command given");
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(usage_text, stdout);
		return TOOL_EXIT_OK;
	}
	if (strcmp(cmd, "log") == 0)
		return cmd_log(argc - 2, argv + 2);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(argc - 2, argv + 2);
	if (strcmp(cmd, "promote") == 0)
		return cmd_promote(argc - 2, argv + 2);
	if (strcmp(cmd, "cdc") == 0)
		return cmd_cdc(argc - 2, argv + 2);
	if (strcmp(cmd, "slot") == 0)
		return cmd_slot(argc - 2, argv + 2);
	if (strcmp(cmd, "secret") == 0) {
		if (argc > 2)
			return usage_error("secret takes no arguments");
		char s[SECRET_HEX_LEN + 1];
		if (secret_generate(s, sizeof(s)) != 0)
			return tool_error("could not read random bytes: %s", strerror(errno));
		printf("%s\n", s);
		return TOOL_EXIT_OK;
	}
	return usage_error("unknown command \"%s\"", cmd);
}
