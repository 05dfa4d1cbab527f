/*
 * peerframe.c — frames of the peer protocol (see peerframe.h).
 *
 * FORMAT (all integers big-endian)
 *
 *   offset size
 *        0    4  magic "SLP1" (0x534C5031)
 *        4    1  type (enum peer_type); any other value is a protocol error
 *        5    1  flags: bit 0 = payload is compressed, bit 1 = sealed;
 *                every other bit 0
 *        6    2  reserved, must be 0
 *        8    8  the sender's epoch (0 before it has one)
 *       16    4  stored payload length P, at most PEER_MAX_PAYLOAD
 *       20    4  CRC32 (zlib's) over bytes 0..19 and then the payload
 *       24    P  stored payload
 *     24+P   16  sealed only: the first 16 bytes of HMAC-SHA-256(key,
 *                u64 sequence number ‖ bytes 0..23 ‖ stored payload)
 *
 * A compressed payload is zpack.h's form (u32 raw length, zlib stream);
 * its raw length is at most PEER_MAX_PAYLOAD too. Nothing in a header is
 * trusted before it is checked: a reader first asks peer_frame_size for
 * the length, which refuses anything above the maximum before a byte of
 * payload is read or allocated.
 */
#include "peerframe.h"

#include <string.h>
#include <zlib.h>

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sl_error.h"
#include "zpack.h"

#define PEER_MAGIC 0x534C5031u

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get_u32(p) << 32 | get_u32(p + 4); }

static uint32_t frame_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	uLong crc = crc32(0L, hdr, 20);
	if (len > 0)
		crc = crc32(crc, payload, len);
	return (uint32_t)crc;
}

int peer_frame_encode(struct buf *out, uint8_t type, uint64_t epoch, const void *payload, size_t len,
		      bool compress)
{
	if (len > PEER_MAX_PAYLOAD)
		return SL_ETOOBIG;
	bool was_oom = out->oom;
	size_t room = PEER_HEADER_SIZE + len + (compress && len > 0 ? zpack_bound(len) : 0);
	if (!buf_reserve(out, room)) {
		out->oom = was_oom;
		return SL_ENOMEM;
	}
	uint8_t *hdr = out->data + out->len;
	uint8_t *stored = hdr + PEER_HEADER_SIZE;
	uint32_t stored_len = 0;
	uint8_t flags = 0;
	if (compress && (stored_len = zpack_compress(stored, payload, len)) > 0)
		flags = PEER_F_COMPRESSED;
	if (!flags) {
		stored_len = (uint32_t)len;
		if (len > 0)
			memcpy(stored, payload, len);
	}
	put32(hdr, PEER_MAGIC);
	hdr[4] = type;
	hdr[5] = flags;
	hdr[6] = hdr[7] = 0;
	put32(hdr + 8, (uint32_t)(epoch >> 32));
	put32(hdr + 12, (uint32_t)epoch);
	put32(hdr + 16, stored_len);
	put32(hdr + 20, frame_crc(hdr, stored, stored_len));
	out->len += PEER_HEADER_SIZE + stored_len;
	return 0;
}

static const char *header_problem(const uint8_t *h)
{
	if (get_u32(h) != PEER_MAGIC)
		return "bad magic";
	if (h[4] < PEER_HELLO || h[4] > PEER_TYPE_LAST)
		return "unknown frame type";
	if (h[5] & ~(PEER_F_COMPRESSED | PEER_F_SEALED))
		return "unknown flags";
	if (h[6] || h[7])
		return "reserved bits set";
	if (get_u32(h + 16) > PEER_MAX_PAYLOAD)
		return "payload length beyond the maximum";
	return NULL;
}

int peer_frame_size(const uint8_t *data, size_t len, size_t *total)
{
	if (len < PEER_HEADER_SIZE)
		return SL_EAGAIN;
	if (header_problem(data))
		return SL_EPROTO;
	*total = PEER_HEADER_SIZE + (size_t)get_u32(data + 16) + (data[5] & PEER_F_SEALED ? PEER_TAG_SIZE : 0);
	return 0;
}

static int frame_check(const uint8_t *data, size_t len, struct peer_frame *f, size_t *consumed,
		       const char **why)
{
	*why = NULL;
	size_t total;
	int rc = peer_frame_size(data, len, &total);
	if (rc == SL_EPROTO)
		*why = header_problem(data);
	if (rc != 0)
		return rc;
	if (len < total)
		return SL_EAGAIN;
	uint32_t stored_len = get_u32(data + 16);
	const uint8_t *stored = data + PEER_HEADER_SIZE;
	if (frame_crc(data, stored, stored_len) != get_u32(data + 20)) {
		*why = "CRC mismatch";
		return SL_EPROTO;
	}
	uint32_t raw_len;
	if ((data[5] & PEER_F_COMPRESSED) && (*why = zpack_check(stored, stored_len, PEER_MAX_PAYLOAD, &raw_len)))
		return SL_EPROTO;
	f->type = data[4];
	f->flags = data[5];
	f->epoch = get64(data + 8);
	f->payload = stored;
	f->len = stored_len;
	f->header = data;
	*consumed = total;
	return 0;
}

/* HMAC, fetched once for every link */
static EVP_MAC *hmac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static void hmac_fetch(void) { hmac = EVP_MAC_fetch(NULL, "HMAC", NULL); }

/* The tag of the frame at hdr (header and stored payload) for key, seq. */
static void frame_tag(const uint8_t *hdr, uint32_t stored_len, const uint8_t key[PEER_KEY_SIZE], uint64_t seq,
		      uint8_t tag[EVP_MAX_MD_SIZE])
{
	uint8_t seqb[8];
	put32(seqb, (uint32_t)(seq >> 32));
	put32(seqb + 4, (uint32_t)seq);
	pthread_once(&hmac_once, hmac_fetch);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t n = 0;
	EVP_MAC_CTX *m = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	if (!m || EVP_MAC_init(m, key, PEER_KEY_SIZE, params) != 1 || EVP_MAC_update(m, seqb, 8) != 1 ||
	    EVP_MAC_update(m, hdr, PEER_HEADER_SIZE + (size_t)stored_len) != 1 ||
	    EVP_MAC_final(m, tag, &n, EVP_MAX_MD_SIZE) != 1)
		memset(tag, 0, EVP_MAX_MD_SIZE); /* out of memory: a tag that will not match */
	EVP_MAC_CTX_free(m);
}

int peer_frame_seal(struct buf *out, size_t at, const uint8_t key[PEER_KEY_SIZE], uint64_t seq)
{
	if (!buf_reserve(out, PEER_TAG_SIZE))
		return SL_ENOMEM;
	uint8_t *hdr = out->data + at;
	uint32_t stored_len = get_u32(hdr + 16);
	hdr[5] |= PEER_F_SEALED;
	put32(hdr + 20, frame_crc(hdr, hdr + PEER_HEADER_SIZE, stored_len));
	uint8_t tag[EVP_MAX_MD_SIZE];
	frame_tag(hdr, stored_len, key, seq, tag);
	buf_append(out, tag, PEER_TAG_SIZE);
	return 0;
}

bool peer_frame_seal_ok(const struct peer_frame *f, const uint8_t key[PEER_KEY_SIZE], uint64_t seq)
{
	if (!(f->flags & PEER_F_SEALED))
		return false;
	uint8_t tag[EVP_MAX_MD_SIZE];
	frame_tag(f->header, f->len, key, seq, tag);
	return CRYPTO_memcmp(tag, f->payload + f->len, PEER_TAG_SIZE) == 0;
}

int peer_frame_decode(const uint8_t *data, size_t len, struct peer_frame *f, size_t *consumed)
{
	const char *why;
	return frame_check(data, len, f, consumed, &why);
}

const char *peer_frame_diagnose(const uint8_t *data, size_t len)
{
	struct peer_frame f;
	size_t consumed;
	const char *why;
	int rc = frame_check(data, len, &f, &consumed, &why);
	if (rc == SL_EAGAIN)
		return "truncated frame";
	return rc == 0 ? NULL : why;
}

int peer_frame_payload(const struct peer_frame *f, uint32_t max_raw, struct buf *out)
{
	if (f->flags & PEER_F_COMPRESSED) {
		int rc = zpack_inflate(f->payload, f->len, max_raw < PEER_MAX_PAYLOAD ? max_raw : PEER_MAX_PAYLOAD, out);
		return rc == SL_ECORRUPT ? SL_EPROTO : rc;
	}
	buf_reset(out);
	buf_append(out, f->payload, f->len);
	if (out->oom) {
		buf_reset(out);
		out->oom = false;
		return SL_ENOMEM;
	}
	return 0;
}

const char *peer_type_name(uint8_t type)
{
	static const char *const names[] = {
		[PEER_HELLO] = "HELLO",
		[PEER_CHALLENGE] = "CHALLENGE",
		[PEER_AUTH] = "AUTH",
		[PEER_WELCOME] = "WELCOME",
		[PEER_ERROR] = "ERROR",
		[PEER_FOLLOW] = "FOLLOW",
		[PEER_SNAPSHOT_REQ] = "SNAPSHOT_REQ",
		[PEER_SNAP_BEGIN] = "SNAP_BEGIN",
		[PEER_SNAP_DATA] = "SNAP_DATA",
		[PEER_SNAP_END] = "SNAP_END",
		[PEER_STREAM_START] = "STREAM_START",
		[PEER_RECORDS] = "RECORDS",
		[PEER_HEARTBEAT] = "HEARTBEAT",
		[PEER_ACK] = "ACK",
		[PEER_REBOOTSTRAP] = "REBOOTSTRAP",
		[PEER_VISIBLE] = "VISIBLE",
		[PEER_TRUNCATE] = "TRUNCATE",
		[PEER_SWITCHOVER] = "SWITCHOVER",
		[PEER_PROMOTE] = "PROMOTE",
		[PEER_NOT_LEADER] = "NOT_LEADER",
		[PEER_MEMBER_HELLO] = "MEMBER_HELLO",
		[PEER_ELECTION] = "ELECTION",
	};
	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "unknown";
}
