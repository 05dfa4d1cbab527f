/*
 * fuzz_peer.c — libFuzzer target for the peer protocol codecs:
 * common/peerframe.c (frames), common/peermsg.c (message bodies), and the
 * follower's checks on what the leader sends.
 *
 * The input is read as the byte stream of a peer link. Each frame is sized
 * from its header (peer_frame_size), decoded and its payload extracted
 * (inflated); the frame is encoded again, plain and compressed, and must
 * decode to the same type, epoch and payload. The payload then goes through
 * every message decoder: whatever one accepts must encode back to exactly
 * the same bytes (strings without NUL and below the maximum, no trailing
 * bytes, epoch counts as claimed).
 *
 * A sealed frame counts only if its tag is right under FUZZ_KEY for its
 * place among the sealed frames of the conversation (else the link is
 * lost, as in common/peerlink.c); re-encoded and sealed, it must check for
 * its sequence number and no other.
 *
 * Then a model of the follower takes the frame as the leader's, doing what
 * replica/bootstrap.c receive() and replica/receiver.c keep_records() do,
 * without I/O:
 *
 *   SNAP_BEGIN starts a snapshot; each SNAP_DATA must start where the last
 *   ended and not pass SNAP_BEGIN's size; SNAP_END's CRC must equal the
 *   CRC of the bytes received, and all of them must have come; then the
 *   page size must fit the size, and the log continues at the snapshot's
 *   LSN. STREAM_START gives the LSN streaming starts at (it must be the
 *   follower's end when that is known). RECORDS must hold whole log
 *   records, each at the LSN where the last ended.
 *
 * Anything the follower would refuse closes the link: the model forgets
 * the snapshot and the log end, and the scan goes on at the next magic, so
 * frames anywhere in the input are exercised. A broken invariant aborts.
 *
 * Build with clang -fsanitize=fuzzer (configure --enable-fuzzing), or link
 * with tests/fuzz/replay_main.c to replay the corpus in tests/fuzz/corpus/peer
 * (written by tests/fuzz/make_corpus_peer.py).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "fuzz.h"
#include "peerframe.h"
#include "peermsg.h"
#include "record.h"
#include "sl_error.h"

/* Compressed payloads claiming more than this are not inflated: the ratio
 * check allows 1032 bytes per stored byte, a lot for a big input. */
#define FUZZ_MAX_RAW (16u * 1024 * 1024)
/* Snapshots up to this size are also kept whole, to check the CRC again. */
#define FUZZ_SNAP_KEEP (1u << 20)
/* The key sealed frames are checked with: make_corpus_peer.py seals some
 * seeds with it, so that the fuzzer starts past the seal. */
static const uint8_t FUZZ_KEY[PEER_KEY_SIZE] = "sluice fuzz key for sealed frame";

/* ---------------------------------------------------------------- messages */

/* b (an encoder's output) is exactly p[0..n). */
static void check_same(struct buf *b, const uint8_t *p, size_t n)
{
	if (!b->oom)
		CHECK(b->len == n && (n == 0 || memcmp(b->data, p, n) == 0));
	buf_reset(b);
}

static void check_str(const char *s, size_t max)
{
	CHECK(memchr(s, '\0', max) != NULL);
}

/* Every decoder on one payload: refused with SL_EPROTO, or accepted and
 * encoded back to the same bytes. */
static void check_decoders(const uint8_t *p, size_t n)
{
	struct buf b;
	buf_init(&b);
	int rc;

	struct peer_hello h;
	if ((rc = peer_hello_get(p, n, &h)) == 0) {
		check_str(h.cluster_id, PEER_STR_MAX);
		check_str(h.node_name, PEER_STR_MAX);
		check_str(h.client_addr, PEER_STR_MAX);
		peer_hello_put(&b, &h);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO);
	}

	struct peer_challenge c;
	if ((rc = peer_challenge_get(p, n, &c)) == 0) {
		CHECK(n == PEER_NONCE_SIZE + PEER_PROOF_SIZE);
		peer_challenge_put(&b, &c);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO && n != PEER_NONCE_SIZE + PEER_PROOF_SIZE);
	}

	uint8_t proof[PEER_PROOF_SIZE];
	if ((rc = peer_auth_get(p, n, proof)) == 0) {
		peer_auth_put(&b, proof);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO && n != PEER_PROOF_SIZE);
	}

	struct peer_welcome w;
	if ((rc = peer_welcome_get(p, n, &w)) == 0) {
		check_str(w.node_name, PEER_STR_MAX);
		check_str(w.client_addr, PEER_STR_MAX);
		CHECK(w.nepochs <= PEER_MAX_EPOCHS);
		CHECK((w.nepochs == 0) == (w.epochs == NULL));
		CHECK((size_t)w.nepochs * 18 <= n);
		for (uint32_t i = 0; i < w.nepochs; i++)
			check_str(w.epochs[i].leader, PEER_STR_MAX);
		peer_welcome_put(&b, &w);
		check_same(&b, p, n);
		peer_welcome_free(&w);
		CHECK(w.epochs == NULL && w.nepochs == 0);
	} else {
		CHECK(rc == SL_EPROTO || rc == SL_ENOMEM);
		CHECK(w.epochs == NULL);
	}

	char text[PEER_STR_MAX * 2];
	if ((rc = peer_text_get(p, n, text)) == 0) {
		check_str(text, sizeof(text));
		peer_text_put(&b, text);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO);
	}

	struct peer_follow fw;
	if ((rc = peer_follow_get(p, n, &fw)) == 0) {
		peer_follow_put(&b, &fw);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO && n != 24);
	}

	struct peer_snap_begin sb;
	if ((rc = peer_snap_begin_get(p, n, &sb)) == 0) {
		peer_snap_begin_put(&b, &sb);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO && n != 20);
	}

	struct peer_snap_data d;
	if ((rc = peer_snap_data_get(p, n, &d)) == 0) {
		CHECK(n >= 8 && d.len == n - 8 && d.data == p + 8);
		peer_snap_data_put(&b, d.offset, d.data, d.len);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO && n < 8);
	}

	uint64_t v;
	if ((rc = peer_u64_get(p, n, &v)) == 0) {
		peer_u64_put(&b, v);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO && n != 8);
	}

	struct peer_heartbeat hb;
	if ((rc = peer_heartbeat_get(p, n, &hb)) == 0) {
		peer_heartbeat_put(&b, &hb);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO && n != 16);
	}

	struct peer_ack a;
	if ((rc = peer_ack_get(p, n, &a)) == 0) {
		peer_ack_put(&b, &a);
		check_same(&b, p, n);
	} else {
		CHECK(rc == SL_EPROTO && n != 24);
	}
	buf_free(&b);
}

/* ---------------------------------------------------------------- the follower */

#define END_UNKNOWN UINT64_MAX /* record_decode's "any LSN" */

struct follower {
	bool in_snapshot;
	struct peer_snap_begin sb;
	uint64_t got;     /* snapshot bytes received */
	uLong crc;        /* their CRC32 */
	struct buf copy;  /* the bytes themselves, for a small snapshot */
	uint64_t end;     /* the follower's log end */
	uint64_t seq;     /* the next sealed frame's sequence number */
	unsigned snapshots, records; /* accepted, for nothing but a debugger */
};

/* The link is closed: what the follower knew of this conversation goes. */
static void lost(struct follower *fl)
{
	fl->in_snapshot = false;
	fl->got = 0;
	buf_reset(&fl->copy);
	fl->end = END_UNKNOWN;
	fl->seq = 0;
}

/* bootstrap.c receive(), one frame after SNAP_BEGIN. */
static void snapshot_frame(struct follower *fl, uint8_t type, const uint8_t *p, size_t n)
{
	if (type == PEER_SNAP_END) {
		uint64_t want;
		bool ok = peer_u64_get(p, n, &want) == 0 && want == (uint64_t)fl->crc && fl->got == fl->sb.size;
		if (ok && fl->sb.size <= FUZZ_SNAP_KEEP && !fl->copy.oom) {
			CHECK(fl->copy.len == fl->got);
			uLong again = crc32(0L, Z_NULL, 0);
			if (fl->copy.len)
				again = crc32(again, fl->copy.data, (uInt)fl->copy.len);
			CHECK(again == fl->crc);
		}
		/* bootstrap_run(): the page size must fit the size */
		const struct peer_snap_begin *sb = &fl->sb;
		if (!ok || sb->page_size < 512 || sb->page_size > 65536 || sb->size % sb->page_size != 0) {
			lost(fl);
			return;
		}
		fl->snapshots++;
		lost(fl);
		fl->end = sb->lsn; /* the log starts over at the snapshot's LSN */
		return;
	}
	struct peer_snap_data d;
	if (type != PEER_SNAP_DATA || peer_snap_data_get(p, n, &d) != 0 || d.offset != fl->got ||
	    d.len > fl->sb.size - fl->got) {
		lost(fl);
		return;
	}
	CHECK(d.data == p + 8 && d.len == n - 8);
	if (d.len)
		fl->crc = crc32(fl->crc, d.data, d.len);
	fl->got += d.len;
	CHECK(fl->got <= fl->sb.size);
	if (fl->sb.size <= FUZZ_SNAP_KEEP)
		buf_append(&fl->copy, d.data, d.len);
}

/* receiver.c keep_records(): whole records, each where the last ended. */
static void keep_records(struct follower *fl, const uint8_t *p, size_t n)
{
	struct buf raw;
	buf_init(&raw);
	size_t off = 0;
	while (off < n) {
		struct record rec;
		size_t used = SIZE_MAX;
		int rc = record_decode(p + off, n - off, fl->end, &rec, &used);
		if (rc != 0) {
			/* a torn record inside a frame is as bad as a corrupt one */
			CHECK(rc == SL_EAGAIN || rc == SL_ECORRUPT);
			CHECK(used == SIZE_MAX);
			CHECK(record_diagnose(p + off, n - off, fl->end) != NULL);
			lost(fl);
			break;
		}
		CHECK(used >= RECORD_HEADER_SIZE && used <= n - off && used == record_size(&rec));
		CHECK(fl->end == END_UNKNOWN || rec.lsn == fl->end);
		CHECK(rec.payload == p + off + RECORD_HEADER_SIZE);
		CHECK(record_diagnose(p + off, n - off, fl->end) == NULL);
		if (rec.raw_len <= FUZZ_MAX_RAW) {
			rc = record_payload(&rec, &raw);
			CHECK(rc == 0 || rc == SL_ECORRUPT || rc == SL_ENOMEM);
			if (rc == 0)
				CHECK(raw.len == rec.raw_len);
		}
		off += used;
		fl->end = rec.lsn + used;
		fl->records++;
	}
	buf_free(&raw);
}

/* One frame from the leader, as the follower takes it. */
static void follower_frame(struct follower *fl, uint8_t type, const uint8_t *p, size_t n)
{
	if (fl->in_snapshot) {
		snapshot_frame(fl, type, p, n);
		return;
	}
	struct peer_snap_begin sb;
	struct peer_heartbeat hb;
	char text[PEER_STR_MAX * 2];
	uint64_t from, visible;
	switch (type) {
	case PEER_SNAP_BEGIN:
		if (peer_snap_begin_get(p, n, &sb) != 0) {
			lost(fl);
			break;
		}
		lost(fl);
		fl->in_snapshot = true;
		fl->sb = sb;
		fl->crc = crc32(0L, Z_NULL, 0);
		break;
	case PEER_STREAM_START:
		if (peer_u64_get(p, n, &from) != 0 || (fl->end != END_UNKNOWN && from != fl->end))
			lost(fl);
		else
			fl->end = from;
		break;
	case PEER_RECORDS:
		keep_records(fl, p, n);
		break;
	case PEER_HEARTBEAT:
		if (peer_heartbeat_get(p, n, &hb) != 0)
			lost(fl);
		break;
	case PEER_VISIBLE:
	case PEER_TRUNCATE:
	case PEER_PROMOTE:
		if (peer_u64_get(p, n, &visible) != 0)
			lost(fl);
		break;
	case PEER_ERROR:
	case PEER_REBOOTSTRAP:
	case PEER_NOT_LEADER:
		/* the reason is logged; either way this link is over */
		if (peer_text_get(p, n, text) == 0)
			CHECK(strlen(text) < sizeof(text));
		lost(fl);
		break;
	default: /* the handshake, or what goes to the leader */
		break;
	}
}

/* ---------------------------------------------------------------- frames */

/* Encodes raw again as f's type and epoch (sealed too when f was) and
 * checks it decodes the same. */
static void reencode(const struct peer_frame *f, const struct buf *raw, bool compress)
{
	struct buf b, out;
	buf_init(&b);
	buf_init(&out);
	bool sealed = f->flags & PEER_F_SEALED;
	int rc = peer_frame_encode(&b, f->type, f->epoch, raw->data, raw->len, compress);
	CHECK(rc == 0 || rc == SL_ENOMEM);
	if (rc == 0 && sealed)
		CHECK((rc = peer_frame_seal(&b, 0, FUZZ_KEY, 7)) == 0 || rc == SL_ENOMEM);
	if (rc == 0) {
		struct peer_frame g;
		size_t used = 0;
		CHECK(peer_frame_decode(b.data, b.len, &g, &used) == 0 && used == b.len);
		CHECK(g.type == f->type && g.epoch == f->epoch);
		CHECK(!!(g.flags & PEER_F_SEALED) == sealed);
		if (sealed)
			CHECK(peer_frame_seal_ok(&g, FUZZ_KEY, 7) && !peer_frame_seal_ok(&g, FUZZ_KEY, 8));
		if (!compress)
			CHECK((g.flags & PEER_F_COMPRESSED) == 0 && g.len == raw->len);
		rc = peer_frame_payload(&g, PEER_MAX_PAYLOAD, &out);
		CHECK(rc == 0 || rc == SL_ENOMEM);
		if (rc == 0)
			CHECK(out.len == raw->len && (raw->len == 0 || memcmp(out.data, raw->data, raw->len) == 0));
	}
	buf_free(&b);
	buf_free(&out);
}

/* A frame that decoded at `at`: check it, then hand it to the follower. */
static void check_frame(struct follower *fl, const uint8_t *at, size_t left, const struct peer_frame *f,
			size_t used)
{
	bool sealed = f->flags & PEER_F_SEALED;
	size_t tag = sealed ? PEER_TAG_SIZE : 0;
	CHECK(used >= PEER_HEADER_SIZE + tag && used <= left && used - PEER_HEADER_SIZE - tag == f->len);
	CHECK(f->len <= PEER_MAX_PAYLOAD);
	CHECK(f->type >= PEER_HELLO && f->type <= PEER_TYPE_LAST);
	CHECK(strcmp(peer_type_name(f->type), "unknown") != 0);
	CHECK((f->flags & ~(PEER_F_COMPRESSED | PEER_F_SEALED)) == 0);
	CHECK(f->header == at);
	CHECK(f->payload == at + PEER_HEADER_SIZE);
	CHECK(peer_frame_diagnose(at, left) == NULL);
	struct peer_frame g;
	size_t g_used = SIZE_MAX;
	CHECK(peer_frame_decode(at, used - 1, &g, &g_used) == SL_EAGAIN && g_used == SIZE_MAX);

	/* a sealed frame counts only with the right tag for its place */
	if (sealed) {
		if (!peer_frame_seal_ok(f, FUZZ_KEY, fl->seq)) {
			lost(fl);
			return;
		}
		fl->seq++;
	}
	bool compressed = f->flags & PEER_F_COMPRESSED;
	uint32_t raw_len = f->len;
	if (compressed) {
		CHECK(f->len > 4);
		raw_len = get_u32(f->payload);
		CHECK(raw_len > 0 && raw_len <= PEER_MAX_PAYLOAD);
		CHECK((uint64_t)raw_len <= (uint64_t)(f->len - 4) * 1032 + 1032);
		if (raw_len > FUZZ_MAX_RAW) {
			lost(fl);
			return;
		}
	}
	struct buf raw;
	buf_init(&raw);
	int rc = peer_frame_payload(f, PEER_MAX_PAYLOAD, &raw);
	CHECK(rc == 0 || rc == SL_EPROTO || rc == SL_ENOMEM);
	if (!compressed)
		CHECK(rc != SL_EPROTO);
	if (rc != 0) {
		CHECK(raw.len == 0);
		lost(fl);
	} else {
		CHECK(raw.len == raw_len);
		if (!compressed && raw.len)
			CHECK(memcmp(raw.data, f->payload, raw.len) == 0);
		reencode(f, &raw, false);
		if (compressed) /* deflate is costly: only where the input had it */
			reencode(f, &raw, true);
		check_decoders(raw.data, raw.len);
		follower_frame(fl, f->type, raw.data, raw.len);
	}
	buf_free(&raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct follower fl;
	memset(&fl, 0, sizeof(fl));
	buf_init(&fl.copy);
	fl.end = END_UNKNOWN;
	size_t off = 0;
	while (off < size) {
		const uint8_t *at = data + off;
		size_t left = size - off, total = 0, used = SIZE_MAX;
		struct peer_frame f;
		int size_rc = peer_frame_size(at, left, &total);
		int rc = peer_frame_decode(at, left, &f, &used);
		const char *why = peer_frame_diagnose(at, left);
		if (rc == 0) {
			CHECK(size_rc == 0 && total == used);
			check_frame(&fl, at, left, &f, used);
			off += used;
			continue;
		}
		CHECK(used == SIZE_MAX && why != NULL);
		if (size_rc == SL_EAGAIN) {
			/* not even a header: the stream ends here */
			CHECK(left < PEER_HEADER_SIZE && rc == SL_EAGAIN);
			break;
		}
		if (size_rc == SL_EPROTO) {
			/* refused from the header alone, before any payload is wanted */
			CHECK(rc == SL_EPROTO && strcmp(why, "truncated frame") != 0);
		} else {
			size_t tag = at[5] & PEER_F_SEALED ? PEER_TAG_SIZE : 0;
			CHECK(size_rc == 0 && total >= PEER_HEADER_SIZE + tag &&
			      total - PEER_HEADER_SIZE - tag <= PEER_MAX_PAYLOAD);
			if (rc == SL_EAGAIN)
				CHECK(total > left && strcmp(why, "truncated frame") == 0);
			else
				CHECK(rc == SL_EPROTO && total <= left);
		}
		lost(&fl);
		/* the next frame can only start at a magic: skip to it (trying
		 * every byte made this target fifty times slower than the rest) */
		const uint8_t *next = left > 1 ? memmem(at + 1, left - 1, "SLP1", 4) : NULL;
		if (!next)
			break;
		off = (size_t)(next - data);
	}
	buf_free(&fl.copy);
	return 0;
}
