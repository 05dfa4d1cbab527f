/*
 * epochs.c — the epoch history file (see epochs.h).
 *
 * FILE FORMAT
 *
 * A text file with one line per epoch, oldest first:
 *
 *     EPOCH " " START " " LEADER "\n"
 *
 *   EPOCH   the epoch number in decimal, 1 to 2^64-1, no sign, no leading
 *           zeros;
 *   START   the LSN of the epoch's first record, exactly 16 hex digits
 *           (written in upper case; lower case is read too);
 *   LEADER  the node_name of the epoch's leader: 1 to 63 bytes of
 *           printable ASCII without spaces (0x21..0x7E).
 *
 * For example "7 00000000016B3F00 node2\n". Fields are separated by one
 * space and every line, the last included, ends with "\n". There are no
 * empty lines and no comments. Epochs strictly ascend and start LSNs never
 * go down. Anything else is SL_ECORRUPT with the line number: the file is
 * only ever replaced whole, so damage is never a torn write to be skipped.
 *
 * DURABILITY
 *
 * epochs_append writes the whole list to PATH.tmp, fsyncs it, renames it
 * over PATH and fsyncs the directory; after a crash the file is either the
 * old list or the new one. The list in memory changes only once that
 * succeeded.
 *
 * COMPARING HISTORIES (epochs_check)
 *
 * Another node reports (e, L): the epoch of its last record and the end of
 * its log. Where our epoch e ends is end_e: the start of our next epoch,
 * or our_end_lsn when e is our newest.
 *
 *   - e newer than our newest epoch: AHEAD.
 *   - e is one of ours: L <= end_e is ON_HISTORY. Past end_e, when e is
 *     our newest they simply have more of it: AHEAD; otherwise they wrote
 *     in epoch e past where we moved on: DIVERGED at end_e.
 *   - e is not one of ours (but older than our newest): DIVERGED at
 *     min(L, start of our first epoch after e).
 *
 * Epoch 0 stands for "no record yet": it counts as one of ours, starting
 * at LSN 0 and ending where our first epoch starts (or at our_end_lsn when
 * the history is empty).
 */
#include "epochs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "sl_error.h"

#define EPOCHS_FILE_MAX (16u * 1024 * 1024)

static bool epochs_leader_ok(const char *s, size_t len)
{
	if (len == 0 || len >= EPOCHS_LEADER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E)
			return false;
	return true;
}

/* Decimal 1..UINT64_MAX without leading zeros, up to the first space. */
static const char *epochs_parse_epoch(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;
	if (q == end || *q < '1' || *q > '9')
		return "epoch is not a number from 1 up";
	while (q < end && *q >= '0' && *q <= '9') {
		unsigned d = (unsigned)(*q - '0');
		if (v > (UINT64_MAX - d) / 10)
			return "epoch is too large";
		v = v * 10 + d;
		q++;
	}
	*p = q;
	*out = v;
	return NULL;
}

static const char *epochs_parse_lsn(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;
	if (end - q < 16)
		return "start LSN is not 16 hex digits";
	for (int i = 0; i < 16; i++, q++) {
		char c = *q;
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return "start LSN is not 16 hex digits";
		v = (v << 4) | d;
	}
	*p = q;
	*out = v;
	return NULL;
}

/* Parses one line (without its "\n"); NULL or what is wrong. */
static const char *epochs_parse_line(const char *p, const char *end, struct epoch_entry *e)
{
	const char *why;
	if ((why = epochs_parse_epoch(&p, end, &e->epoch)) != NULL)
		return why;
	if (p == end || *p++ != ' ')
		return "expected one space after the epoch";
	if ((why = epochs_parse_lsn(&p, end, &e->start_lsn)) != NULL)
		return why;
	if (p == end || *p++ != ' ')
		return "expected one space after the start LSN";
	if (!epochs_leader_ok(p, (size_t)(end - p)))
		return "leader must be 1 to 63 printable characters without spaces";
	memcpy(e->leader, p, (size_t)(end - p));
	e->leader[end - p] = '\0';
	return NULL;
}

/* Does e follow the last entry of h? */
static bool epochs_follows(const struct epochs *h, uint64_t epoch, uint64_t start_lsn)
{
	if (epoch == 0)
		return false;
	if (h->n == 0)
		return true;
	return epoch > h->v[h->n - 1].epoch && start_lsn >= h->v[h->n - 1].start_lsn;
}

static int epochs_push(struct epochs *h, const struct epoch_entry *e)
{
	struct epoch_entry *v = realloc(h->v, (h->n + 1) * sizeof(*v));
	if (!v)
		return SL_ENOMEM;
	h->v = v;
	h->v[h->n++] = *e;
	return 0;
}

static int epochs_parse(struct epochs *h, const char *data, size_t len, char *err, size_t errlen)
{
	const char *p = data, *end = data + len;
	for (unsigned line = 1; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct epoch_entry e;
		const char *why;
		if (!nl)
			why = "the line does not end with a newline";
		else if ((why = epochs_parse_line(p, nl, &e)) == NULL && !epochs_follows(h, e.epoch, e.start_lsn))
			why = "epochs must ascend and start LSNs must not go down";
		if (why) {
			snprintf(err, errlen, "invalid epoch history file %s, line %u: %s", h->path, line, why);
			return SL_ECORRUPT;
		}
		if (epochs_push(h, &e) != 0) {
			snprintf(err, errlen, "out of memory");
			return SL_ENOMEM;
		}
		p = nl + 1;
	}
	return 0;
}

/* Reads the whole file into *out (NUL-terminated); SL_ENOTFOUND if missing. */
static int epochs_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	char *data = NULL;
	int rc = SL_EIO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return SL_ENOTFOUND;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "could not open epoch history file %s: %m", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > EPOCHS_FILE_MAX) {
		snprintf(err, errlen, "epoch history file %s is too large (%lld bytes)", path, (long long)st.st_size);
		rc = SL_ECORRUPT;
		goto fail;
	}
	if (!(data = malloc((size_t)st.st_size + 1))) {
		snprintf(err, errlen, "out of memory");
		rc = SL_ENOMEM;
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, data + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "could not read epoch history file %s: %s", path,
				 r == 0 ? "file shrank while read" : strerror(errno));
			goto fail;
		}
		got += (size_t)r;
	}
	data[got] = '\0';
	close(fd);
	*out = data;
	*len = got;
	return 0;
fail:
	free(data);
	if (fd >= 0)
		close(fd);
	return rc;
}

int epochs_load(struct epochs *h, const char *path, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	memset(h, 0, sizeof(*h));
	if (!(h->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	int rc = epochs_read_file(path, &data, &len, err, errlen);
	if (rc == SL_ENOTFOUND)
		return 0;
	if (rc == 0)
		rc = epochs_parse(h, data, len, err, errlen);
	free(data);
	if (rc != 0)
		epochs_free(h);
	return rc;
}

void epochs_free(struct epochs *h)
{
	free(h->v);
	free(h->path);
	memset(h, 0, sizeof(*h));
}

uint64_t epochs_current(const struct epochs *h)
{
	return h->n ? h->v[h->n - 1].epoch : 0;
}

static int epochs_fsync_dir(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return SL_ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return SL_EIO;
	int rc = fsync(fd) == 0 ? 0 : SL_EIO;
	close(fd);
	return rc;
}

/* Writes the list plus extra to a temporary file and renames it over path. */
static int epochs_rewrite(const struct epochs *h, const struct epoch_entry *extra)
{
	struct buf b, tmp;
	int fd = -1, rc = SL_ENOMEM;
	buf_init(&b);
	buf_init(&tmp);
	for (size_t i = 0; i <= h->n; i++) {
		const struct epoch_entry *e = i < h->n ? &h->v[i] : extra;
		buf_printf(&b, "%llu %016llX %s\n", (unsigned long long)e->epoch, (unsigned long long)e->start_lsn,
			   e->leader);
	}
	buf_printf(&tmp, "%s.tmp", h->path);
	if (b.oom || tmp.oom)
		goto fail;
	rc = SL_EIO;
	if ((fd = open((char *)tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		goto fail;
	if (fileio_pwrite_all(fd, b.data, b.len, 0) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename((char *)tmp.data, h->path) != 0)
		goto fail;
	rc = epochs_fsync_dir(h->path);
fail:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp.data && !tmp.oom)
		unlink((char *)tmp.data);
	buf_free(&b);
	buf_free(&tmp);
	return rc;
}

int epochs_append(struct epochs *h, uint64_t epoch, uint64_t start_lsn, const char *leader)
{
	struct epoch_entry e = { .epoch = epoch, .start_lsn = start_lsn };
	if (!h->path || !leader || !epochs_leader_ok(leader, strlen(leader)) || !epochs_follows(h, epoch, start_lsn))
		return SL_EINVAL;
	memcpy(e.leader, leader, strlen(leader) + 1);
	struct epoch_entry *v = realloc(h->v, (h->n + 1) * sizeof(*v));
	if (!v)
		return SL_ENOMEM;
	h->v = v;
	int rc = epochs_rewrite(h, &e);
	if (rc == 0)
		h->v[h->n++] = e;
	return rc;
}

int epochs_replace(struct epochs *h, const struct epoch_entry *v, size_t n)
{
	struct epochs next = { .path = h->path };
	if (!h->path || n == 0)
		return SL_EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t len = strnlen(v[i].leader, EPOCHS_LEADER_MAX);
		if (len == EPOCHS_LEADER_MAX || !epochs_leader_ok(v[i].leader, len) ||
		    !epochs_follows(&next, v[i].epoch, v[i].start_lsn))
			goto invalid;
		if (epochs_push(&next, &v[i]) != 0) {
			free(next.v);
			return SL_ENOMEM;
		}
	}
	/* the last entry goes as the rewrite's extra one */
	next.n--;
	int rc = epochs_rewrite(&next, &next.v[next.n]);
	next.n++;
	if (rc != 0) {
		free(next.v);
		return rc;
	}
	free(h->v);
	h->v = next.v;
	h->n = next.n;
	return 0;
invalid:
	free(next.v);
	return SL_EINVAL;
}

enum epochs_parting epochs_compare(const struct epochs *ours, const struct epoch_entry *theirs, size_t n,
				   uint64_t *at)
{
	size_t i = 0;
	while (i < ours->n && i < n && ours->v[i].epoch == theirs[i].epoch &&
	       ours->v[i].start_lsn == theirs[i].start_lsn && strcmp(ours->v[i].leader, theirs[i].leader) == 0)
		i++;
	if (i == ours->n)
		return EPOCHS_SAME;
	if (i == n)
		return EPOCHS_NEWER;
	uint64_t a = ours->v[i].start_lsn, b = theirs[i].start_lsn;
	*at = a < b ? a : b;
	return EPOCHS_PART;
}

enum epochs_verdict epochs_check(const struct epochs *h, uint64_t our_end_lsn, uint64_t their_epoch,
				 uint64_t their_lsn, uint64_t *diverge_lsn)
{
	uint64_t diverge;
	size_t i = 0;
	if (their_epoch > epochs_current(h))
		return EPOCHS_AHEAD;
	while (i < h->n && h->v[i].epoch < their_epoch)
		i++;
	if (their_epoch != 0 && h->v[i].epoch != their_epoch) {
		/* An epoch we never had: h->v[i] is our first one after it. */
		diverge = their_lsn < h->v[i].start_lsn ? their_lsn : h->v[i].start_lsn;
		goto diverged;
	}
	size_t next = their_epoch == 0 ? i : i + 1;
	uint64_t end = next < h->n ? h->v[next].start_lsn : our_end_lsn;
	if (their_lsn <= end)
		return EPOCHS_ON_HISTORY;
	if (next >= h->n)
		return EPOCHS_AHEAD;
	diverge = end;
diverged:
	if (diverge_lsn)
		*diverge_lsn = diverge;
	return EPOCHS_DIVERGED;
}
