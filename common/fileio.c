/*
 * fileio.c — whole reads and writes at a file offset (see fileio.h).
 */
#include "fileio.h"

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "sl_error.h"

int fileio_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *q = p;
	while (n > 0) {
		ssize_t w = pwrite(fd, q, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return SL_EIO;
		}
		q += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int fileio_pread_all(int fd, void *p, size_t n, uint64_t off, size_t *got)
{
	uint8_t *q = p;
	*got = 0;
	while (*got < n) {
		ssize_t r = pread(fd, q + *got, n - *got, (off_t)(off + *got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return SL_EIO;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}
