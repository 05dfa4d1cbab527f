/*
 * lease.h — the leader's lease as the write path sees it: until when
 * (CLOCK_MONOTONIC, ms) this node may accept and acknowledge writes. The
 * failover adapter (server/failover.c) moves it; the replication log
 * refuses commits and synchronous commit refuses to confirm once it has
 * run out. Any thread; a NULL lease always holds (no automatic failover).
 */
#ifndef SL_LEASE_H
#define SL_LEASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sl_time.h"

struct lease {
	_Atomic int64_t until_ms; /* INT64_MAX: no limit; 0: none */
};

static inline void lease_set(struct lease *l, int64_t until_ms) { atomic_store(&l->until_ms, until_ms); }

static inline bool lease_holds(const struct lease *l)
{
	return !l || sl_monotonic_ms() < atomic_load((_Atomic int64_t *)&l->until_ms);
}

#endif
