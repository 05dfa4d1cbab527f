/*
 * peerframe.h — framing of the peer protocol (format: peerframe.c; the
 * messages inside frames: peermsg.h).
 *
 * Every message between nodes is one frame: a fixed header (magic, type,
 * flags, the sender's epoch, payload length, CRC32) and a payload,
 * optionally zlib-compressed, and after authentication a tag that seals
 * it (HMAC-SHA-256 under the link's key for its direction, over the
 * frame's sequence number on the link, header and payload): a frame
 * altered, replayed, dropped or reordered on the way fails its check. The
 * codec does no I/O.
 */
#ifndef SL_PEERFRAME_H
#define SL_PEERFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PEER_HEADER_SIZE 24
/* A frame carries at most one whole log record (1 GiB) plus its framing. */
#define PEER_MAX_PAYLOAD ((1024u * 1024u * 1024u) + (1024u * 1024u))
/* The largest payload either side of a link takes before the other has
 * proved the cluster secret: a stranger gets no large buffers. */
#define PEER_HANDSHAKE_MAX (64u * 1024u)
#define PEER_F_COMPRESSED 0x01
#define PEER_F_SEALED 0x02 /* a PEER_TAG_SIZE tag follows the payload */
#define PEER_TAG_SIZE 16
#define PEER_KEY_SIZE 32

enum peer_type {
	PEER_HELLO = 1,        /* follower → leader: version, cluster, name, nonce */
	PEER_CHALLENGE = 2,    /* leader: its nonce and proof of the secret */
	PEER_AUTH = 3,         /* follower: its proof of the secret */
	PEER_WELCOME = 4,      /* leader: who it is, its epoch history */
	PEER_ERROR = 5,        /* either side: why the link is closed */
	PEER_FOLLOW = 6,       /* follower: its position; stream from there */
	PEER_SNAPSHOT_REQ = 7, /* follower: send a snapshot */
	PEER_SNAP_BEGIN = 8,   /* leader: snapshot LSN and size */
	PEER_SNAP_DATA = 9,    /* leader: a piece of the snapshot */
	PEER_SNAP_END = 10,    /* leader: the snapshot's checksum */
	PEER_STREAM_START = 11, /* leader: records follow from this LSN */
	PEER_RECORDS = 12,     /* leader: whole log records, as in the log */
	PEER_HEARTBEAT = 13,   /* leader: its durable end and clock */
	PEER_ACK = 14,         /* follower: write, flush and apply positions */
	PEER_REBOOTSTRAP = 15, /* leader: the position cannot be served */
	PEER_VISIBLE = 16,     /* leader: records up to this LSN may be applied */
	PEER_TRUNCATE = 17,    /* leader: the histories part here; cut the log back to it */
	PEER_SWITCHOVER = 18,  /* follower: make me the leader; my peer address */
	PEER_PROMOTE = 19,     /* leader: you have all up to this LSN; lead now */
	PEER_NOT_LEADER = 20,  /* a follower, instead of WELCOME: the leader it follows */
	PEER_MEMBER_HELLO = 21, /* a member, as HELLO: this link carries its election messages */
	PEER_ELECTION = 22,    /* a member: one election message (heartbeat, vote, ...) */
	PEER_TYPE_LAST = PEER_ELECTION,
};

struct peer_frame {
	uint8_t type;
	uint8_t flags;
	uint64_t epoch;
	const uint8_t *payload; /* as stored (compressed when flagged); not owned */
	uint32_t len;           /* stored length */
	const uint8_t *header;  /* the frame's first byte; not owned */
};

/*
 * Appends one frame to out. With compress, the payload is zlib-compressed
 * when that makes it smaller. Returns 0, SL_ETOOBIG or SL_ENOMEM (out
 * unchanged on error).
 */
int peer_frame_encode(struct buf *out, uint8_t type, uint64_t epoch, const void *payload, size_t len,
		      bool compress);

/*
 * Seals the frame just encoded at out->data + at: sets PEER_F_SEALED (and
 * the CRC again) and appends its tag under key for sequence number seq.
 * 0 or SL_ENOMEM (out unchanged).
 */
int peer_frame_seal(struct buf *out, size_t at, const uint8_t key[PEER_KEY_SIZE], uint64_t seq);
/* Whether a decoded frame is sealed with the right tag for key and seq
 * (constant time). */
bool peer_frame_seal_ok(const struct peer_frame *f, const uint8_t key[PEER_KEY_SIZE], uint64_t seq);

/*
 * Checks a header (the first PEER_HEADER_SIZE bytes of data) and gives the
 * whole frame's size. SL_EAGAIN with fewer bytes; SL_EPROTO when the magic,
 * type, flags, reserved field or length is wrong.
 */
int peer_frame_size(const uint8_t *data, size_t len, size_t *total);

/*
 * Decodes the frame at the start of data. Returns 0 (frame filled, payload
 * pointing into data, *consumed set), SL_EAGAIN (need more bytes) or
 * SL_EPROTO (bad header or CRC).
 */
int peer_frame_decode(const uint8_t *data, size_t len, struct peer_frame *f, size_t *consumed);

/* Why decoding fails ("bad magic", "CRC mismatch", ...), or NULL. */
const char *peer_frame_diagnose(const uint8_t *data, size_t len);

/* The raw payload, inflated if compressed, into out (reset first); a
 * compressed payload may inflate to max_raw bytes at most, which is checked
 * before anything is allocated (a link passes what it allows at this point
 * of its life: before authentication, as little as the stored frame).
 * 0, SL_EPROTO (bad zlib data or length) or SL_ENOMEM. */
int peer_frame_payload(const struct peer_frame *f, uint32_t max_raw, struct buf *out);

const char *peer_type_name(uint8_t type);

#endif
