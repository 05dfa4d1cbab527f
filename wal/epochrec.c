/*
 * epochrec.c — the payload of an EPOCH record (see epochrec.h).
 *
 * FORMAT
 *
 * Every integer is big-endian. The payload is exactly:
 *
 *   u64  epoch         the new epoch, 1 or more (equal to the record's
 *                      header epoch)
 *   u16  len           1..EPOCHREC_LEADER_MAX
 *   len bytes          the leader's node_name, no NUL byte
 *
 * Nothing may follow.
 */
#include "epochrec.h"

#include <string.h>

#include "sl_error.h"

int epochrec_encode(struct buf *b, uint64_t epoch, const char *leader)
{
	size_t n = strlen(leader);
	if (epoch == 0 || n == 0 || n > EPOCHREC_LEADER_MAX)
		return SL_EINVAL;
	buf_put_u64(b, epoch);
	buf_put_u16(b, (uint16_t)n);
	buf_append(b, leader, n);
	return 0;
}

int epochrec_decode(const uint8_t *p, size_t len, struct epochrec *e)
{
	struct cursor c;
	cursor_init(&c, p, len);
	memset(e, 0, sizeof(*e));
	uint64_t epoch = cursor_u64(&c);
	uint16_t n = cursor_u16(&c);
	if (c.bad || epoch == 0 || n == 0 || n > EPOCHREC_LEADER_MAX)
		return SL_ECORRUPT;
	const uint8_t *name = cursor_bytes(&c, n);
	if (c.bad || c.len != 0 || memchr(name, 0, n) != NULL)
		return SL_ECORRUPT;
	e->epoch = epoch;
	memcpy(e->leader, name, n);
	e->leader[n] = '\0';
	return 0;
}
