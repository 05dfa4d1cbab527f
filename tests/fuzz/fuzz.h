/*
 * fuzz.h — what every fuzz target shares: the libFuzzer entry point it
 * defines (replay_main.c calls it for each corpus file in `make check`)
 * and CHECK, which aborts when a property of the code under test fails.
 */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                               \
	do {                                                                                                      \
		if (!(cond))                                                                                      \
			abort();                                                                                  \
	} while (0)

#endif
