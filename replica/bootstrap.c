/*
 * bootstrap.c — a follower gets a snapshot from the leader and makes it
 * its database.
 *
 * The snapshot arrives as runs of whole pages (SNAP_DATA pieces, mostly in
 * order; page 1 comes last) into data_dir/bootstrap.partial, and is
 * checked against SNAP_END's CRC and SNAP_BEGIN's size, with every page
 * received (a bitmap, one bit a page). Only then is it
 * installed: db-position goes first, so a crash anywhere in between
 * leaves a directory that bootstraps again instead of serving a half
 * copy; then the file becomes the database (renamed at start-up; copied
 * page by page with readers kept out while serving), the log starts over
 * at the snapshot's LSN, and db-position is written last.
 *
 * Progress: a bar on stderr (bytes, rate, time left) when stderr is a
 * terminal, else a log line every few seconds.
 */
#include "replica_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fileio.h"
#include "log.h"
#include "lsn.h"
#include "recovery.h"
#include "sl_error.h"
#include "sl_time.h"

#define COPY_CHUNK (1u << 20)
#define SQLITE_MAX_PAGES 4294967294u /* the most pages a database can have */
#define WRITEBACK_EVERY (64u << 20)
#define LOG_EVERY_MS 3000
#define BAR_EVERY_MS 200

struct progress {
	uint64_t total;
	int64_t start_ms, last_ms;
	bool tty;
};

static void human(double bytes, char *out, size_t n)
{
	const char *units[] = { "B", "kB", "MB", "GB", "TB" };
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(out, n, "%.1f %s", bytes, units[u]);
}

static void progress_show(struct progress *p, uint64_t done, bool last)
{
	int64_t now = sl_monotonic_ms();
	if (!last && now - p->last_ms < (p->tty ? BAR_EVERY_MS : LOG_EVERY_MS))
		return;
	p->last_ms = now;
	double secs = (double)(now - p->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)done / secs : 0;
	double left = rate > 0 ? (double)(p->total - done) / rate : 0;
	char d[32], t[32], r[32];
	human((double)done, d, sizeof(d));
	human((double)p->total, t, sizeof(t));
	human(rate, r, sizeof(r));
	if (p->tty) {
		int width = 30, filled = p->total ? (int)((double)done / (double)p->total * width) : width;
		char bar[64];
		for (int i = 0; i < width; i++)
			bar[i] = i < filled ? '#' : '.';
		bar[width] = '\0';
		fprintf(stderr, "\rbootstrap [%s] %s / %s  %s/s  %d:%02d left ", bar, d, t, r, (int)left / 60,
			(int)left % 60);
		if (last)
			fputc('\n', stderr);
		fflush(stderr);
	} else {
		log_info("replica", "bootstrap progress received=\"%s\" total=\"%s\" rate=\"%s/s\" left_s=%d", d, t, r,
			 (int)left);
	}
}

/* Receives the snapshot into the partial file. */
static int receive(struct replica *r, struct peerlink *pl, struct peer_snap_begin *sb, char *err, size_t errlen)
{
	int tmo = (int)r->cfg->replication_timeout_ms;
	if (peerlink_send(pl, PEER_SNAPSHOT_REQ, NULL, 0, tmo) != 0) {
		snprintf(err, errlen, "could not ask the leader for a snapshot");
		return SL_EIO;
	}
	uint8_t type;
	uint64_t epoch;
	int rc = peerlink_recv(pl, &type, &epoch, tmo);
	if (rc != 0 || type != PEER_SNAP_BEGIN || peer_snap_begin_get(pl->payload.data, pl->payload.len, sb) != 0) {
		snprintf(err, errlen, "no snapshot from the leader (%s)",
			 rc ? sl_strerror(rc) : peer_type_name(type));
		return SL_EPROTO;
	}
	if (sb->page_size < 512 || sb->page_size > 65536 || sb->size % sb->page_size != 0 ||
	    sb->size / sb->page_size > SQLITE_MAX_PAGES) {
		snprintf(err, errlen, "the snapshot's page size %u does not fit its size %" PRIu64, sb->page_size,
			 sb->size);
		return SL_EPROTO;
	}
	int fd = open(r->partial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "could not create \"%s\": %s", r->partial_path, strerror(errno));
		return SL_EIO;
	}
	char at[LSN_TEXT_MAX];
	log_info("replica", "receiving a snapshot lsn=%s bytes=%" PRIu64, lsn_format(sb->lsn, at), sb->size);
	int64_t started = sl_monotonic_ms();
	struct progress p = { sb->size, started, started, isatty(2) == 1 };
	uint64_t pages = sb->size / sb->page_size, have = 0, got = 0;
	uint8_t *seen = calloc(pages / 8 + 1, 1);
	uLong crc = crc32(0L, Z_NULL, 0);
	rc = seen ? 0 : SL_ENOMEM;
	if (!seen)
		snprintf(err, errlen, "out of memory for a snapshot of %" PRIu64 " pages", pages);
	while (rc == 0) {
		if (atomic_load(&r->stop)) {
			rc = SL_EIO;
			snprintf(err, errlen, "stopped");
			break;
		}
		rc = peerlink_recv(pl, &type, &epoch, tmo);
		if (rc != 0) {
			snprintf(err, errlen, "snapshot transfer cut after %" PRIu64 " bytes: %s", got,
				 rc == SL_EPROTO && pl->why ? pl->why : sl_strerror(rc));
			break;
		}
		if (type == PEER_SNAP_END) {
			uint64_t want;
			if (peer_u64_get(pl->payload.data, pl->payload.len, &want) != 0 || want != (uint64_t)crc ||
			    have != pages) {
				snprintf(err, errlen,
					 "snapshot does not check out (%" PRIu64 " of %" PRIu64 " pages, CRC %s)", have,
					 pages, want == (uint64_t)crc ? "right" : "wrong");
				rc = SL_EPROTO;
			}
			break;
		}
		struct peer_snap_data d;
		if (type != PEER_SNAP_DATA || peer_snap_data_get(pl->payload.data, pl->payload.len, &d) != 0 ||
		    d.offset % sb->page_size != 0 || d.len % sb->page_size != 0 || d.offset > sb->size ||
		    d.len > sb->size - d.offset) {
			snprintf(err, errlen, "bad snapshot piece (%s after %" PRIu64 " bytes)", peer_type_name(type),
				 got);
			rc = SL_EPROTO;
			break;
		}
		if (fileio_pwrite_all(fd, d.data, d.len, d.offset) != 0) {
			snprintf(err, errlen, "could not write \"%s\": %s", r->partial_path, strerror(errno));
			rc = SL_EIO;
			break;
		}
		crc = crc32(crc, d.data, d.len);
		for (uint64_t pg = d.offset / sb->page_size; pg < (d.offset + d.len) / sb->page_size; pg++) {
			if (!(seen[pg / 8] & (1u << (pg % 8)))) {
				seen[pg / 8] |= (uint8_t)(1u << (pg % 8));
				have++;
			}
		}
		got += d.len;
		/* start writing back as it comes, so the fsync at the end is short */
		if (got % WRITEBACK_EVERY < d.len)
			sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		progress_show(&p, have * sb->page_size, false);
	}
	free(seen);
	if (rc == 0 && fdatasync(fd) != 0) {
		snprintf(err, errlen, "could not fsync \"%s\": %s", r->partial_path, strerror(errno));
		rc = SL_EIO;
	}
	close(fd);
	if (rc == 0)
		progress_show(&p, sb->size, true);
	return rc;
}

/* Copies the snapshot into the database file under the readers' feet. */
static int install_live(struct replica *r, const struct peer_snap_begin *sb, char *err, size_t errlen)
{
	if (applier_checkpoint(r, err, errlen) != 0)
		return SL_EIO;
	int in = open(r->partial_path, O_RDONLY | O_CLOEXEC);
	uint8_t *chunk = malloc(COPY_CHUNK);
	int rc = in >= 0 && chunk ? 0 : SL_EIO;
	if (rc == 0)
		rc = standby_exclude(&r->standby, r->cfg->max_standby_delay_ms, &r->readers, &r->stop);
	for (uint64_t off = 0; rc == 0 && off < sb->size; off += COPY_CHUNK) {
		size_t n = sb->size - off < COPY_CHUNK ? (size_t)(sb->size - off) : COPY_CHUNK;
		size_t got;
		if (fileio_pread_all(in, chunk, n, off, &got) != 0 || got != n ||
		    fileio_pwrite_all(r->db_fd, chunk, n, off) != 0)
			rc = SL_EIO;
	}
	if (rc == 0 && ftruncate(r->db_fd, (off_t)sb->size) != 0)
		rc = SL_EIO;
	if (r->standby.held) {
		if (rc == 0)
			rc = standby_publish(&r->standby, (uint32_t)(sb->size / sb->page_size));
		standby_release(&r->standby);
	}
	if (rc == 0 && fdatasync(r->db_fd) != 0)
		rc = SL_EIO;
	free(chunk);
	if (in >= 0)
		close(in);
	unlink(r->partial_path);
	if (rc != 0)
		snprintf(err, errlen, "could not install the snapshot: %s", strerror(errno));
	return rc;
}

/* Makes the snapshot the database before anyone reads it. */
static int install_fresh(struct replica *r, char *err, size_t errlen)
{
	static const char *const sidecars[] = { "-wal", "-shm" };
	for (size_t i = 0; i < 2; i++) {
		char path[REPLICA_PATH_MAX + 8];
		snprintf(path, sizeof(path), "%s%s", r->db_path, sidecars[i]);
		if (unlink(path) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "could not remove \"%s\": %s", path, strerror(errno));
			return SL_EIO;
		}
	}
	if (rename(r->partial_path, r->db_path) != 0) {
		snprintf(err, errlen, "could not rename the snapshot into place: %s", strerror(errno));
		return SL_EIO;
	}
	return 0;
}

int bootstrap_run(struct replica *r, struct peerlink *pl, const struct peer_welcome *w, char *err, size_t errlen)
{
	struct peer_snap_begin sb;
	int64_t t0 = sl_monotonic_ms();
	int rc = receive(r, pl, &sb, err, errlen);
	if (rc != 0)
		return rc;
	if (sb.lsn >= UINT64_MAX / 2) { /* LSNs grow from 0; this one could wrap */
		snprintf(err, errlen, "the snapshot's LSN is out of range");
		return SL_EPROTO;
	}
	/* from here until db-position is written again, this is no database */
	if (unlink(r->base_path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "could not remove \"%s\": %s", r->base_path, strerror(errno));
		return SL_EIO;
	}
	rc = r->serving ? install_live(r, &sb, err, errlen) : install_fresh(r, err, errlen);
	if (rc == 0) {
		pthread_mutex_lock(&r->mu);
		rc = replica_reset_log(r, sb.lsn, w, err, errlen);
		pthread_mutex_unlock(&r->mu);
	}
	if (rc == 0)
		rc = recovery_base_write(r->base_path, sb.lsn);
	if (rc != 0) {
		if (!err[0])
			snprintf(err, errlen, "could not install the snapshot");
		return rc;
	}
	r->commit_lsn[0] = r->commit_lsn[1] = UINT64_MAX; /* apply-commits went with the old log */
	pthread_mutex_lock(&r->mu);
	r->st.applied_lsn = r->st.flushed_lsn = sb.lsn;
	r->st.last_epoch = replica_last_epoch(r);
	r->st.last_error[0] = '\0';
	pthread_mutex_unlock(&r->mu);
	char at[LSN_TEXT_MAX];
	log_info("replica", "bootstrap done lsn=%s bytes=%" PRIu64 " ms=%lld", lsn_format(sb.lsn, at), sb.size,
		 (long long)(sl_monotonic_ms() - t0));
	return 0;
}
