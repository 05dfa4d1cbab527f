/*
 * main.c — sluiced: reads the settings (file, then command-line
 * overrides), prepares the data directory and runs the node.
 *
 *   sluiced [-c FILE | --config=FILE] [-D DATA_DIR] [-p PORT] [--NAME=VALUE ...]
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoconfig.h"
#include "config.h"
#include "log.h"
#include "members.h"
#include "peerlink.h"
#include "server.h"
#include "witness.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: sluiced [-c FILE | --config=FILE] [-D DATA_DIR] [-p PORT] [--NAME=VALUE ...]\n\n"
		     "Serves a SQLite database over the PostgreSQL protocol.\n\n"
		     "Settings (each may be given as --NAME=VALUE or in the config file):\n");
	config_print_help(out);
}

/* Applies one override; exits with a message when it is invalid. */
static void override(struct config *cfg, const char *name, const char *value)
{
	char err[512];
	if (config_set(cfg, name, value, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		exit(2);
	}
}

/* peers: checked, and this node's entry gives peer_listen when unset. */
static void apply_peers(struct config *cfg)
{
	struct members m;
	char err[512];
	if (members_parse(cfg->peers, &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		exit(2);
	}
	const struct member *me = cfg->node_name[0] ? members_find(&m, cfg->node_name) : NULL;
	if (m.n > 0 && !me) {
		fprintf(stderr, "sluiced: peers does not name this node (node_name \"%s\")\n", cfg->node_name);
		exit(2);
	}
	if (me && !cfg->peer_listen[0])
		snprintf(cfg->peer_listen, sizeof(cfg->peer_listen), "%s", me->addr);
}

static int prepare_data_dir(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_fatal("main", "could not create data directory \"%s\": %s", dir, strerror(errno));
		return -1;
	}
	char path[CONFIG_STR_MAX + 32];
	snprintf(path, sizeof(path), "%s/sluiced.pid", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_fatal("main", "could not lock \"%s\": %s (is another sluiced using this data directory?)", path,
			  strerror(errno));
		return -1;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n) {
		log_fatal("main", "could not write \"%s\": %s", path, strerror(errno));
		return -1;
	}
	return 0; /* the lock is held until exit */
}

int main(int argc, char **argv)
{
	struct config cfg;
	config_defaults(&cfg);
	const char *config_file = NULL;
	/* the config file first, so that flags override it wherever they stand */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			config_file = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config_file = argv[i] + 9;
	}
	char err[1024];
	if (config_file && config_load_file(&cfg, config_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0) {
			i++;
		} else if (strncmp(a, "--config=", 9) == 0) {
			continue;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("sluiced %s\n", PACKAGE_VERSION);
			return 0;
		} else if ((strcmp(a, "-D") == 0 || strcmp(a, "-p") == 0) && i + 1 < argc) {
			override(&cfg, a[1] == 'D' ? "data_dir" : "port", argv[++i]);
		} else if (strncmp(a, "--", 2) == 0 && strchr(a, '=')) {
			char name[128];
			size_t n = (size_t)(strchr(a, '=') - a - 2);
			if (n >= sizeof(name))
				n = sizeof(name) - 1;
			memcpy(name, a + 2, n);
			name[n] = '\0';
			for (char *p = name; *p; p++)
				if (*p == '-')
					*p = '_';
			override(&cfg, name, strchr(a, '=') + 1);
		} else {
			fprintf(stderr, "sluiced: unexpected argument \"%s\"\n", a);
			usage(stderr);
			return 2;
		}
	}
	log_set_level((enum log_level)cfg.log_level);
	apply_peers(&cfg);
	if (!cfg.data_dir[0]) {
		fprintf(stderr, "sluiced: no data directory: give -D DATA_DIR or data_dir in the config file\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (prepare_data_dir(cfg.data_dir) != 0)
		return 1;
	if (cfg.peer_ssl && peerlink_tls_setup(&cfg, err, sizeof(err)) != 0) {
		log_fatal("main", "%s", err);
		return 1;
	}
	if (cfg.role == ROLE_WITNESS) {
		int wrc = witness_run(&cfg);
		peerlink_tls_teardown();
		return wrc;
	}
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	struct server srv;
	int rc = 0;
	if (server_init(&srv, &cfg, loop) == 0)
		server_run(&srv);
	else
		rc = 1;
	if (srv.failed)
		rc = 1;
	server_free(&srv);
	ev_loop_destroy(loop);
	peerlink_tls_teardown();
	log_info("main", "stopped");
	return rc;
}
