/*
 * peermsg.h — the bodies of peer protocol messages (layouts: peermsg.c;
 * framing: peerframe.h; the conversation: docs/PROTOCOL.md).
 *
 * Encoders append to a buffer (check its oom flag once); decoders read a
 * frame's raw payload, check every length, and refuse trailing bytes:
 * SL_EPROTO for anything malformed. Strings are at most PEER_STR_MAX - 1
 * bytes and never contain NUL.
 */
#ifndef SL_PEERMSG_H
#define SL_PEERMSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PEER_VERSION 3
#define PEER_NONCE_SIZE 32
#define PEER_PROOF_SIZE 32
#define PEER_STR_MAX 256
#define PEER_MAX_EPOCHS 1024

struct peer_hello {
	uint16_t version;
	char cluster_id[PEER_STR_MAX];
	char node_name[PEER_STR_MAX];
	char client_addr[PEER_STR_MAX]; /* where the follower serves clients, host:port */
	uint8_t nonce[PEER_NONCE_SIZE];
};

struct peer_challenge {
	uint8_t nonce[PEER_NONCE_SIZE];
	uint8_t proof[PEER_PROOF_SIZE]; /* the leader's proof (peerauth.h) */
};

struct peer_epoch {
	uint64_t epoch;
	uint64_t start_lsn;
	char leader[PEER_STR_MAX];
};

struct peer_welcome {
	char node_name[PEER_STR_MAX];
	char client_addr[PEER_STR_MAX];
	uint8_t log_mode;    /* txnrec section bits */
	uint32_t nepochs;
	struct peer_epoch *epochs; /* decode: malloc'd, free with peer_welcome_free */
};

struct peer_follow {
	uint64_t epoch;       /* epoch of the follower's last record (0: none) */
	uint64_t end_lsn;     /* end of its log */
	uint64_t applied_lsn;
};

struct peer_snap_begin {
	uint64_t lsn;  /* the snapshot holds every record before this LSN */
	uint64_t size; /* bytes of database */
	uint32_t page_size;
};

struct peer_snap_data {
	uint64_t offset;
	const uint8_t *data; /* points into the payload */
	uint32_t len;
};

struct peer_heartbeat {
	uint64_t end_lsn; /* the leader's durable end */
	uint64_t now_us;  /* its clock, microseconds since the Unix epoch */
};

struct peer_ack {
	uint64_t write_lsn, flush_lsn, apply_lsn;
};

/* One election message between members (cluster/election.h says what
 * the fields mean). */
struct peer_election {
	uint8_t type, granted, priority;
	uint64_t epoch, last_epoch, last_lsn, stamp;
};

void peer_hello_put(struct buf *b, const struct peer_hello *m);
int peer_hello_get(const uint8_t *p, size_t len, struct peer_hello *m);
void peer_challenge_put(struct buf *b, const struct peer_challenge *m);
int peer_challenge_get(const uint8_t *p, size_t len, struct peer_challenge *m);
void peer_auth_put(struct buf *b, const uint8_t proof[PEER_PROOF_SIZE]);
int peer_auth_get(const uint8_t *p, size_t len, uint8_t proof[PEER_PROOF_SIZE]);
void peer_welcome_put(struct buf *b, const struct peer_welcome *m);
int peer_welcome_get(const uint8_t *p, size_t len, struct peer_welcome *m);
void peer_welcome_free(struct peer_welcome *m);
/* ERROR and REBOOTSTRAP: one line of text saying why; SWITCHOVER and
 * NOT_LEADER: an address. */
void peer_text_put(struct buf *b, const char *text);
int peer_text_get(const uint8_t *p, size_t len, char out[PEER_STR_MAX * 2]);
void peer_follow_put(struct buf *b, const struct peer_follow *m);
int peer_follow_get(const uint8_t *p, size_t len, struct peer_follow *m);
void peer_snap_begin_put(struct buf *b, const struct peer_snap_begin *m);
int peer_snap_begin_get(const uint8_t *p, size_t len, struct peer_snap_begin *m);
/* SNAP_DATA: offset, then the bytes to the end of the payload: whole
 * pages, in any order (a page may come again; the last copy is right). */
void peer_snap_data_put(struct buf *b, uint64_t offset, const void *data, uint32_t len);
int peer_snap_data_get(const uint8_t *p, size_t len, struct peer_snap_data *m);
/* SNAP_END: CRC32 of the SNAP_DATA bytes in the order sent. STREAM_START: the first LSN.
 * VISIBLE, TRUNCATE and PROMOTE: an LSN. */
void peer_u64_put(struct buf *b, uint64_t v);
int peer_u64_get(const uint8_t *p, size_t len, uint64_t *v);
void peer_heartbeat_put(struct buf *b, const struct peer_heartbeat *m);
int peer_heartbeat_get(const uint8_t *p, size_t len, struct peer_heartbeat *m);
void peer_ack_put(struct buf *b, const struct peer_ack *m);
int peer_ack_get(const uint8_t *p, size_t len, struct peer_ack *m);
void peer_election_put(struct buf *b, const struct peer_election *m);
int peer_election_get(const uint8_t *p, size_t len, struct peer_election *m);

#endif
