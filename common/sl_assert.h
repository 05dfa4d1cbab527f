/*
 * sl_assert.h — assertions on the program's own invariants (never on bytes
 * from the network or the disk). They stay on in every build, tests and
 * production alike: a broken invariant is logged with its place and the
 * process aborts, rather than going on in a state nobody planned for.
 */
#ifndef SL_ASSERT_H
#define SL_ASSERT_H

#include "log.h"

#include <stdlib.h>

#define SL_ASSERT(cond)                                                                                       \
	do {                                                                                                  \
		if (!(cond)) {                                                                                \
			log_fatal("assert", "assertion failed: %s at=%s:%d", #cond, __FILE__, __LINE__);     \
			abort();                                                                              \
		}                                                                                             \
	} while (0)

#endif
