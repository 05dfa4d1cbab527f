/*
 * sl_time.h — clocks: monotonic milliseconds for deadlines, wall-clock
 * microseconds for timestamps that cross machines.
 */
#ifndef SL_TIME_H
#define SL_TIME_H

#include <stdint.h>

int64_t sl_monotonic_ms(void);
uint64_t sl_wall_us(void); /* since the Unix epoch */
void sl_sleep_ms(int ms);

#endif
