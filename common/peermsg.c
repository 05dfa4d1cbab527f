/*
 * peermsg.c — peer message bodies (see peermsg.h). All integers are
 * big-endian; a string is a u16 length L (below PEER_STR_MAX) and L bytes
 * without NUL. Layouts, field by field:
 *
 *   HELLO,
 *   MEMBER_HELLO  u16 version, str cluster_id, str node_name,
 *                 str client_addr, 32 bytes nonce
 *   CHALLENGE     32 bytes nonce, 32 bytes proof
 *   AUTH          32 bytes proof
 *   WELCOME       str node_name, str client_addr, u8 log_mode, u32 n
 *                 (at most PEER_MAX_EPOCHS), n x (u64 epoch,
 *                 u64 start_lsn, str leader)
 *   ERROR,
 *   REBOOTSTRAP,
 *   SWITCHOVER,
 *   NOT_LEADER    u16 L (below 2 * PEER_STR_MAX), L bytes of text (for
 *                 SWITCHOVER: the follower's peer address, host:port;
 *                 for NOT_LEADER: the peer address of the leader the
 *                 answering follower hears from, or nothing)
 *   FOLLOW        u64 epoch, u64 end_lsn, u64 applied_lsn
 *   SNAP_BEGIN    u64 lsn, u64 size, u32 page_size
 *   SNAP_DATA     u64 offset, then the data to the end of the payload
 *   SNAP_END      u32 CRC32 of the whole snapshot (as a u64)
 *   STREAM_START  u64 first LSN
 *   RECORDS       whole log records, back to back, as in the log
 *   HEARTBEAT     u64 durable end LSN, u64 time (us since the Unix epoch)
 *   ACK           u64 write_lsn, u64 flush_lsn, u64 apply_lsn
 *   VISIBLE       u64 LSN readers may see up to
 *   TRUNCATE      u64 LSN where the follower's history leaves the leader's
 *   PROMOTE       u64 LSN: the leader's log ends there and the follower
 *                 has it all; it leads from there
 *   ELECTION      u8 type (1 HEARTBEAT, 2 HEARTBEAT_ACK, 3 PREVOTE_REQ,
 *                 4 PREVOTE, 5 VOTE_REQ, 6 VOTE), u8 granted (0 or 1),
 *                 u8 priority, u64 epoch, u64 last_epoch, u64 last_lsn,
 *                 u64 stamp
 */
#include "peermsg.h"

#include <stdlib.h>
#include <string.h>

#include "sl_error.h"

static void put_str(struct buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max - 1);
	buf_put_u16(b, (uint16_t)n);
	buf_append(b, s, n);
}

static void get_str(struct cursor *c, char *out, size_t max)
{
	uint16_t n = cursor_u16(c);
	const uint8_t *p = cursor_bytes(c, n);
	if (!p || n >= max || memchr(p, 0, n)) {
		c->bad = true;
		out[0] = '\0';
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static void get_raw(struct cursor *c, uint8_t *out, size_t n)
{
	const uint8_t *p = cursor_bytes(c, n);
	if (p)
		memcpy(out, p, n);
}

/* Every field read, nothing left over. */
static int done(const struct cursor *c) { return c->bad || c->len != 0 ? SL_EPROTO : 0; }

void peer_hello_put(struct buf *b, const struct peer_hello *m)
{
	buf_put_u16(b, m->version);
	put_str(b, m->cluster_id, PEER_STR_MAX);
	put_str(b, m->node_name, PEER_STR_MAX);
	put_str(b, m->client_addr, PEER_STR_MAX);
	buf_append(b, m->nonce, PEER_NONCE_SIZE);
}

int peer_hello_get(const uint8_t *p, size_t len, struct peer_hello *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	m->version = cursor_u16(&c);
	get_str(&c, m->cluster_id, PEER_STR_MAX);
	get_str(&c, m->node_name, PEER_STR_MAX);
	get_str(&c, m->client_addr, PEER_STR_MAX);
	get_raw(&c, m->nonce, PEER_NONCE_SIZE);
	return done(&c);
}

void peer_challenge_put(struct buf *b, const struct peer_challenge *m)
{
	buf_append(b, m->nonce, PEER_NONCE_SIZE);
	buf_append(b, m->proof, PEER_PROOF_SIZE);
}

int peer_challenge_get(const uint8_t *p, size_t len, struct peer_challenge *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	get_raw(&c, m->nonce, PEER_NONCE_SIZE);
	get_raw(&c, m->proof, PEER_PROOF_SIZE);
	return done(&c);
}

void peer_auth_put(struct buf *b, const uint8_t proof[PEER_PROOF_SIZE]) { buf_append(b, proof, PEER_PROOF_SIZE); }

int peer_auth_get(const uint8_t *p, size_t len, uint8_t proof[PEER_PROOF_SIZE])
{
	struct cursor c;
	cursor_init(&c, p, len);
	get_raw(&c, proof, PEER_PROOF_SIZE);
	return done(&c);
}

void peer_welcome_put(struct buf *b, const struct peer_welcome *m)
{
	put_str(b, m->node_name, PEER_STR_MAX);
	put_str(b, m->client_addr, PEER_STR_MAX);
	buf_put_u8(b, m->log_mode);
	buf_put_u32(b, m->nepochs);
	for (uint32_t i = 0; i < m->nepochs; i++) {
		buf_put_u64(b, m->epochs[i].epoch);
		buf_put_u64(b, m->epochs[i].start_lsn);
		put_str(b, m->epochs[i].leader, PEER_STR_MAX);
	}
}

int peer_welcome_get(const uint8_t *p, size_t len, struct peer_welcome *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	memset(m, 0, sizeof(*m));
	get_str(&c, m->node_name, PEER_STR_MAX);
	get_str(&c, m->client_addr, PEER_STR_MAX);
	m->log_mode = cursor_u8(&c);
	uint32_t n = cursor_u32(&c);
	/* each entry takes at least 18 bytes: a count beyond what is there is a lie */
	if (c.bad || n > PEER_MAX_EPOCHS || (size_t)n * 18 > c.len)
		return SL_EPROTO;
	if (n > 0 && !(m->epochs = calloc(n, sizeof(*m->epochs))))
		return SL_ENOMEM;
	m->nepochs = n;
	for (uint32_t i = 0; i < n && !c.bad; i++) {
		m->epochs[i].epoch = cursor_u64(&c);
		m->epochs[i].start_lsn = cursor_u64(&c);
		get_str(&c, m->epochs[i].leader, PEER_STR_MAX);
	}
	int rc = done(&c);
	if (rc != 0)
		peer_welcome_free(m);
	return rc;
}

void peer_welcome_free(struct peer_welcome *m)
{
	free(m->epochs);
	m->epochs = NULL;
	m->nepochs = 0;
}

void peer_text_put(struct buf *b, const char *text) { put_str(b, text, PEER_STR_MAX * 2); }

int peer_text_get(const uint8_t *p, size_t len, char out[PEER_STR_MAX * 2])
{
	struct cursor c;
	cursor_init(&c, p, len);
	get_str(&c, out, PEER_STR_MAX * 2);
	return done(&c);
}

void peer_follow_put(struct buf *b, const struct peer_follow *m)
{
	buf_put_u64(b, m->epoch);
	buf_put_u64(b, m->end_lsn);
	buf_put_u64(b, m->applied_lsn);
}

int peer_follow_get(const uint8_t *p, size_t len, struct peer_follow *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	m->epoch = cursor_u64(&c);
	m->end_lsn = cursor_u64(&c);
	m->applied_lsn = cursor_u64(&c);
	return done(&c);
}

void peer_snap_begin_put(struct buf *b, const struct peer_snap_begin *m)
{
	buf_put_u64(b, m->lsn);
	buf_put_u64(b, m->size);
	buf_put_u32(b, m->page_size);
}

int peer_snap_begin_get(const uint8_t *p, size_t len, struct peer_snap_begin *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	m->lsn = cursor_u64(&c);
	m->size = cursor_u64(&c);
	m->page_size = cursor_u32(&c);
	return done(&c);
}

void peer_snap_data_put(struct buf *b, uint64_t offset, const void *data, uint32_t len)
{
	buf_put_u64(b, offset);
	buf_append(b, data, len);
}

int peer_snap_data_get(const uint8_t *p, size_t len, struct peer_snap_data *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	m->offset = cursor_u64(&c);
	if (c.bad)
		return SL_EPROTO;
	m->len = (uint32_t)c.len;
	m->data = cursor_bytes(&c, c.len);
	return done(&c);
}

void peer_u64_put(struct buf *b, uint64_t v) { buf_put_u64(b, v); }

int peer_u64_get(const uint8_t *p, size_t len, uint64_t *v)
{
	struct cursor c;
	cursor_init(&c, p, len);
	*v = cursor_u64(&c);
	return done(&c);
}

void peer_heartbeat_put(struct buf *b, const struct peer_heartbeat *m)
{
	buf_put_u64(b, m->end_lsn);
	buf_put_u64(b, m->now_us);
}

int peer_heartbeat_get(const uint8_t *p, size_t len, struct peer_heartbeat *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	m->end_lsn = cursor_u64(&c);
	m->now_us = cursor_u64(&c);
	return done(&c);
}

void peer_ack_put(struct buf *b, const struct peer_ack *m)
{
	buf_put_u64(b, m->write_lsn);
	buf_put_u64(b, m->flush_lsn);
	buf_put_u64(b, m->apply_lsn);
}

int peer_ack_get(const uint8_t *p, size_t len, struct peer_ack *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	m->write_lsn = cursor_u64(&c);
	m->flush_lsn = cursor_u64(&c);
	m->apply_lsn = cursor_u64(&c);
	return done(&c);
}

void peer_election_put(struct buf *b, const struct peer_election *m)
{
	buf_put_u8(b, m->type);
	buf_put_u8(b, m->granted);
	buf_put_u8(b, m->priority);
	buf_put_u64(b, m->epoch);
	buf_put_u64(b, m->last_epoch);
	buf_put_u64(b, m->last_lsn);
	buf_put_u64(b, m->stamp);
}

int peer_election_get(const uint8_t *p, size_t len, struct peer_election *m)
{
	struct cursor c;
	cursor_init(&c, p, len);
	m->type = cursor_u8(&c);
	m->granted = cursor_u8(&c);
	m->priority = cursor_u8(&c);
	m->epoch = cursor_u64(&c);
	m->last_epoch = cursor_u64(&c);
	m->last_lsn = cursor_u64(&c);
	m->stamp = cursor_u64(&c);
	if (m->granted > 1)
		return SL_EPROTO;
	return done(&c);
}
