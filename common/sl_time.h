/*
 * sl_time.h — clocks: monotonic milliseconds for deadlines, wall-clock
 * microseconds for timestamps that cross machines.
 */
#ifndef SL_TIME_H
#define SL_TIME_H

#include <stdint.h>
#include <time.h>

int64_t sl_monotonic_ms(void);
/* The time ms milliseconds from now on clock: a deadline for
 * pthread_cond_timedwait (whose condition variable uses that clock). */
struct timespec sl_deadline(clockid_t clock, int64_t ms);
uint64_t sl_wall_us(void); /* since the Unix epoch */
void sl_sleep_ms(int ms);

#endif
