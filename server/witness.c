/*
 * witness.c — a node with role = witness: a member that votes in
 * elections and answers the leader's heartbeats (so it counts toward the
 * lease) but keeps no data, serves no client and never leads. Two data
 * nodes and a witness fail over safely: any two of the three are a
 * majority.
 *
 * It runs the peer port (a follower's: peers that dial it learn the
 * leader, members' election messages go to the election) and automatic
 * failover, until SIGTERM or SIGINT. Its data directory holds only the
 * vote file.
 */
#include "witness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "failover.h"
#include "lease.h"
#include "log.h"
#include "peers.h"
#include "sl_time.h"

/* A witness has no log: it never stands, and its position is nothing. */
static void no_position(void *arg, uint64_t *last_epoch, uint64_t *last_lsn)
{
	(void)arg;
	*last_epoch = *last_lsn = 0;
}

static void nothing_changed(void *arg) { (void)arg; }

/* Peers that dial the witness for the log learn who leads. */
static void leader_of(void *arg, char *out, size_t outlen)
{
	uint64_t epoch;
	if (failover_wants(arg, &epoch, out, outlen))
		out[0] = '\0';
}

int witness_run(const struct config *cfg)
{
	if (!cfg->peer_listen[0] || !cfg->peers[0]) {
		log_fatal("witness", "a witness needs peers naming it (or peer_listen) and the other members");
		return 1;
	}
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL); /* threads started below inherit the mask */
	struct lease lease;
	lease_set(&lease, 0);
	struct failover_hooks hooks = { nothing_changed, no_position, NULL };
	struct failover *f = NULL;
	struct peers *p = NULL;
	char err[512];
	int rc = 1;
	if (failover_start(&f, cfg, &lease, &hooks, err, sizeof(err)) != 0) {
		log_fatal("witness", "%s", err);
		goto out;
	}
	if (!f) {
		log_fatal("witness", "a witness needs failover = on and peers naming three or more members");
		goto out;
	}
	if (peers_start(&p, cfg, NULL, NULL, "", cfg->peer_listen, err, sizeof(err)) != 0) {
		log_fatal("witness", "%s", err);
		goto out;
	}
	peers_on_redirect(p, leader_of, f);
	peers_on_member(p, failover_on_member, f);
	log_info("witness", "witness running peer_listen=%s data_dir=%s", cfg->peer_listen, cfg->data_dir);
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("witness", "shutting down signal=%d", sig);
	rc = 0;
out:
	peers_stop(p);
	failover_stop(f);
	return rc;
}
