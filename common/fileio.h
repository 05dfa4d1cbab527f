/*
 * fileio.h — whole reads and writes at a file offset, looping over short
 * transfers and EINTR.
 */
#ifndef SL_FILEIO_H
#define SL_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all of p[0..n) at off. 0, or SL_EIO with errno set (ENOSPC when
 * the system wrote nothing and said no error). */
int fileio_pwrite_all(int fd, const void *p, size_t n, uint64_t off);

/* Reads up to n bytes at off; *got < n only at the end of the file.
 * 0, or SL_EIO with errno set. */
int fileio_pread_all(int fd, void *p, size_t n, uint64_t off, size_t *got);

#endif
