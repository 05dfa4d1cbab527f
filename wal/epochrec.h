/*
 * epochrec.h — the payload of an EPOCH record (record.h): the first record
 * of a leader's term names the new epoch and its leader. Format:
 * epochrec.c. The codec does no I/O.
 */
#ifndef SL_EPOCHREC_H
#define SL_EPOCHREC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "epochs.h"

/* The longest leader name, in bytes (the epoch history's limit). */
#define EPOCHREC_LEADER_MAX (EPOCHS_LEADER_MAX - 1)

struct epochrec {
	uint64_t epoch;
	char leader[EPOCHREC_LEADER_MAX + 1]; /* NUL-terminated copy */
};

/*
 * Appends the payload to b (check b->oom). Returns 0, or SL_EINVAL (b
 * unchanged) when leader is empty, longer than EPOCHREC_LEADER_MAX bytes
 * or epoch is 0.
 */
int epochrec_encode(struct buf *b, uint64_t epoch, const char *leader);
/* Decodes a whole payload; 0 or SL_ECORRUPT. */
int epochrec_decode(const uint8_t *p, size_t len, struct epochrec *e);

#endif
