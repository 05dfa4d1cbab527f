/*
 * walsender.h — PostgreSQL's logical replication protocol on a client
 * connection that started with replication=database, so that
 * pg_recvlogical and other clients of the protocol read sluice's change
 * stream through a slot (slots.h) with an output plugin (decoding.h):
 *
 *   IDENTIFY_SYSTEM: systemid (from the cluster's first epoch), timeline
 *     (the epoch), xlogpos (the visible end of the log), dbname;
 *   CREATE_REPLICATION_SLOT name LOGICAL plugin [(SNAPSHOT 'nothing', …)]:
 *     sluice_slot_create; no temporary slots, no exported snapshot;
 *   DROP_REPLICATION_SLOT name [WAIT]: sluice_slot_drop;
 *   START_REPLICATION SLOT name LOGICAL X/Y [(options)]: CopyBothResponse,
 *     then the stream from the later of X/Y and the slot's position.
 *
 * Commands run on executor threads like any statement (the backend hands
 * them here). A stream then goes on in steps, each an executor job
 * (JOB_STREAM, walsender_step) that reads the log from where the last one
 * stopped up to the visible end and writes an XLogData message per
 * plugin message, or a keepalive when there was nothing. The connection's
 * loop thread (pgconn.c) reads the client's messages meanwhile: standby
 * status updates (their flush position confirms the slot, through an
 * internal query), CopyDone (the stream ends: CopyDone, CommandComplete,
 * ReadyForQuery) and Terminate.
 */
#ifndef SL_WALSENDER_H
#define SL_WALSENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "pgwire.h"

struct walsender;
struct job;
struct dbpool;
struct ctx;
struct sql_command;

/* A replication command (SQL_REPL_* kinds). The backend's step result;
 * WALSENDER_STREAMING when the stream began (no ReadyForQuery then). */
#define WALSENDER_STREAMING 100
int walsender_command(struct ctx *x, const struct sql_command *cmd);

/* One step of the stream of job's session (an executor thread). */
void walsender_step(struct job *job, struct dbpool *pool);

/*
 * The loop thread, for a streaming session: one message from the client.
 * 0, or -1 with a message in err for one that has no place in a stream
 * (the connection then ends with 08P01).
 */
int walsender_client_message(struct walsender *ws, const struct pg_msg *m, char *err, size_t errlen);
/* Whether the client ended the stream (CopyDone). */
bool walsender_ending(const struct walsender *ws);
/* The query that confirms the slot up to the client's flush position
 * (into sql), or false when the slot already knows it. */
bool walsender_confirm_query(struct walsender *ws, char *sql, size_t sqllen);
/* That query came back (whether it failed is the caller's to judge: the
 * same position is not asked again). */
void walsender_confirm_done(struct walsender *ws);
/* The end of a stream the client ended: CopyDone, CommandComplete for the
 * copy and for START_REPLICATION, ReadyForQuery. */
void walsender_put_end(struct buf *out);

void walsender_free(struct walsender *ws);

#endif
