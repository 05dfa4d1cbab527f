/*
 * commitreply.c — the commit's LSN, warnings and errors in a committed
 * job's reply (see commitreply.h).
 */
#include "commitreply.h"

#include <string.h>

#include "lsn.h"
#include "pgwire.h"
#include "session.h"
#include "sqlstate.h"

#define READY_SIZE 6 /* ReadyForQuery: type, length, status */

int commitreply_level(const struct job *j) { return j->sess->cfg.synchronous_commit; }

/* Puts extra just before the job's final ReadyForQuery (or at the end). */
static void insert_before_ready(struct job *j, const struct buf *extra)
{
	struct buf *out = &j->out;
	if (j->ready_at + READY_SIZE != out->len || out->data[j->ready_at] != 'Z') {
		buf_append(out, extra->data, extra->len);
		return;
	}
	uint8_t ready[READY_SIZE];
	memcpy(ready, out->data + j->ready_at, READY_SIZE);
	out->len = j->ready_at;
	buf_append(out, extra->data, extra->len);
	j->ready_at = out->len;
	buf_append(out, ready, READY_SIZE);
}

void commitreply_cancelled(struct job *j)
{
	buf_reset(&j->out);
	pgwire_put_error(&j->out, 'E', "ERROR", SQLSTATE_QUERY_CANCELED, "canceling wait for synchronous replication",
			 "The transaction is durable on the leader, but the synchronous standbys have not "
			 "confirmed it: it may be lost if the leader fails.",
			 NULL);
	j->ready_at = j->out.len;
	pgwire_put_ready(&j->out, 'I');
}

void commitreply_done(struct job *j, uint64_t lsn, enum syncrep_result res)
{
	bool waits = commitreply_level(j) >= SYNC_REMOTE_WRITE;
	if (waits && res == SYNCREP_DEPOSED) {
		buf_reset(&j->out);
		pgwire_put_error(&j->out, 'E', "ERROR", SQLSTATE_STATEMENT_COMPLETION_UNKNOWN,
				 "the leader stepped down before synchronous standbys confirmed the commit",
				 "The transaction is durable in this node's log; whether the new leader has it is "
				 "unknown.",
				 NULL);
		j->ready_at = j->out.len;
		pgwire_put_ready(&j->out, 'I');
		return;
	}
	if (waits && res == SYNCREP_STOPPED) {
		buf_reset(&j->out);
		pgwire_put_error(&j->out, 'E', "FATAL", SQLSTATE_ADMIN_SHUTDOWN,
				 "terminating connection: the server is shutting down before synchronous standbys "
				 "confirmed the commit",
				 "The transaction is durable on the leader; whether it survives a failover is unknown.",
				 NULL);
		j->fatal = true;
		return;
	}
	if (waits && res == SYNCREP_DEGRADED && atomic_load(&j->intr.cancel)) {
		commitreply_cancelled(j);
		return;
	}
	char text[LSN_TEXT_MAX], err[64];
	lsn_format(lsn, text);
	session_set(j->sess, "sluice.commit_lsn", text, err, sizeof(err));
	struct buf extra;
	buf_init(&extra);
	pgwire_put_param_status(&extra, "sluice.commit_lsn", text);
	if (waits && res == SYNCREP_DEGRADED)
		pgwire_put_error(&extra, 'N', "WARNING", SQLSTATE_WARNING,
				 "commit was not confirmed by synchronous standbys within synchronous_timeout; "
				 "synchronous replication is degraded",
				 "The transaction is committed, but durable on the leader only until the standbys "
				 "catch up: a failover now could lose it.",
				 NULL);
	insert_before_ready(j, &extra);
	buf_free(&extra);
}
