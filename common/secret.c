/*
 * secret.c — the strength check and the generator of secret.h.
 */
#include "secret.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

const char *secret_weakness(const char *secret)
{
	size_t len = strlen(secret);
	if (len < SECRET_MIN_LEN)
		return "too short: a cluster_secret needs at least 32 characters (`sluice secret` prints a random one)";
	size_t count[256] = { 0 };
	for (size_t i = 0; i < len; i++)
		count[(unsigned char)secret[i]]++;
	double bits = 0;
	for (int c = 0; c < 256; c++) {
		if (!count[c])
			continue;
		double p = (double)count[c] / (double)len;
		bits -= (double)count[c] * log2(p);
	}
	/* a repeated word has few distinct pairs of neighbours */
	size_t pairs = len - 1, distinct = 0;
	for (size_t i = 0; i < pairs; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = secret[j] == secret[i] && secret[j + 1] == secret[i + 1];
		distinct += !seen;
	}
	if (bits < SECRET_MIN_BITS || distinct * 2 < pairs)
		return "too predictable: a cluster_secret must look random, with few repeated characters "
		       "(`sluice secret` prints a random one)";
	return NULL;
}

int secret_generate(char *out, size_t outlen)
{
	uint8_t raw[SECRET_HEX_LEN / 2];
	if (outlen < SECRET_HEX_LEN + 1) {
		errno = EINVAL;
		return -1;
	}
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}
