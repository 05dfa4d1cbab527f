/*
 * recovery.c — start-up agreement between the database and the log (see
 * recovery.h). Runs on the main thread before any connection is opened
 * through the capture VFS.
 *
 * The WAL format read here is SQLite's (wal.c): a 32-byte header (magic
 * 0x377f0682 or 0x377f0683, version 3007000, page size, checkpoint
 * sequence, two salts, two checksums over the first 24 bytes), then frames
 * of a 24-byte header (page number, database size for a commit frame,
 * the salts, two running checksums over the first 8 header bytes and the
 * page) and the page. Checksums add 32-bit words, big-endian when the
 * magic's low bit is set, else little-endian. A frame is valid when its
 * salts match the header's and its checksums match; reading stops at the
 * first invalid frame.
 */
#include "recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "log.h"
#include "lsn.h"
#include "replay.h"
#include "sl_error.h"

#define WAL_MAGIC 0x377f0682u
#define WAL_VERSION 3007000u

/* ------------------------------------------------------------ base file */

int recovery_base_read(const char *path, uint64_t *lsn)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? SL_ENOTFOUND : SL_EIO;
	char line[64] = "";
	bool ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (!ok || lsn_parse(line, lsn) != 0)
		return SL_ECORRUPT;
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return SL_EIO;
	int rc = fsync(fd) == 0 ? 0 : SL_EIO;
	close(fd);
	return rc;
}

int recovery_file_write(const char *path, const char *text)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n || fdatasync(fd) != 0) {
		close(fd);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) != 0 || fsync_dir_of(path) != 0)
		goto fail;
	return 0;
fail:
	log_error("recovery", "could not write a position file: %s path=%s", strerror(errno), path);
	return SL_EIO;
}

int recovery_base_write(const char *path, uint64_t lsn)
{
	char text[LSN_TEXT_MAX + 1];
	lsn_format(lsn, text);
	strcat(text, "\n");
	return recovery_file_write(path, text);
}

/* ------------------------------------------------------------- WAL scan */

static uint32_t rd32(const uint8_t *p, bool big)
{
	if (big)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void wal_cksum(bool big, const uint8_t *a, size_t n, uint32_t *s1, uint32_t *s2)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		*s1 += rd32(a + i, big) + *s2;
		*s2 += rd32(a + i + 4, big) + *s1;
	}
}

static bool read_whole(int fd, void *buf, size_t n, off_t off)
{
	size_t got;
	return fileio_pread_all(fd, buf, n, (uint64_t)off, &got) == 0 && got == n;
}

int recovery_wal_last_commit(const char *wal_path, struct txnrec_walpos *pos)
{
	int fd = open(wal_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : SL_EIO;
	uint8_t h[32];
	int found = 0;
	uint8_t *frame = NULL;
	if (!read_whole(fd, h, sizeof(h), 0))
		goto done;
	uint32_t magic = rd32(h, true);
	bool big = magic & 1;
	uint32_t page_size = rd32(h + 8, true);
	if ((magic & ~1u) != WAL_MAGIC || rd32(h + 4, true) != WAL_VERSION || page_size < 512 || page_size > 65536 ||
	    (page_size & (page_size - 1)))
		goto done;
	uint32_t s1 = 0, s2 = 0;
	wal_cksum(big, h, 24, &s1, &s2);
	if (s1 != rd32(h + 24, true) || s2 != rd32(h + 28, true))
		goto done;
	uint32_t salt1 = rd32(h + 16, true), salt2 = rd32(h + 20, true);
	size_t frame_size = 24 + (size_t)page_size;
	frame = malloc(frame_size);
	if (!frame) {
		found = SL_ENOMEM;
		goto done;
	}
	for (off_t off = 32; read_whole(fd, frame, frame_size, off); off += (off_t)frame_size) {
		if (rd32(frame + 8, true) != salt1 || rd32(frame + 12, true) != salt2 || rd32(frame, true) == 0)
			break;
		wal_cksum(big, frame, 8, &s1, &s2);
		wal_cksum(big, frame + 24, page_size, &s1, &s2);
		if (s1 != rd32(frame + 16, true) || s2 != rd32(frame + 20, true))
			break;
		if (rd32(frame + 4, true) != 0) {
			*pos = (struct txnrec_walpos){ salt1, salt2, s1, s2 };
			found = 1;
		}
	}
done:
	free(frame);
	close(fd);
	return found;
}

/* ---------------------------------------------------------------- redo */

struct pending {
	struct replog_reader *reader;
	struct buf payload;
	struct txnrec t;
	uint64_t lsn;
};

/* The next TXN record (1), the end (0) or an error. */
static int next_txn(struct pending *p, char *err, size_t errlen)
{
	for (;;) {
		struct record rec;
		int rc = replog_reader_next(p->reader, &rec, 0);
		if (rc == SL_ETIMEDOUT)
			return 0;
		char at[LSN_TEXT_MAX];
		if (rc != 0) {
			snprintf(err, errlen, "could not read the replication log: %s", sl_strerror(rc));
			return rc;
		}
		if (rec.type != RECORD_TXN)
			continue;
		p->lsn = rec.lsn;
		if ((rc = record_payload(&rec, &p->payload)) != 0 ||
		    (rc = txnrec_decode(p->payload.data, p->payload.len, &p->t)) != 0) {
			snprintf(err, errlen, "corrupt transaction record at LSN %s", lsn_format(rec.lsn, at));
			return rc;
		}
		return 1;
	}
}

/* Whether a TXN record in [from, to) has walpos pos; *after gets the LSN
 * after the last such record. 1, 0 or an error. */
static int find_walpos(struct replog *log, uint64_t from, uint64_t to, const struct txnrec_walpos *pos,
		       uint64_t *after, char *err, size_t errlen)
{
	struct pending p = { .payload = { 0 } };
	buf_init(&p.payload);
	int rc = replog_reader_open(log, from, &p.reader);
	if (rc != 0) {
		snprintf(err, errlen, "the replication log no longer holds the database position");
		buf_free(&p.payload);
		return rc;
	}
	bool matched = false;
	while ((rc = next_txn(&p, err, errlen)) == 1 && p.lsn < to) {
		if (memcmp(&p.t.walpos, pos, sizeof(*pos)) == 0) {
			matched = true;
			*after = replog_reader_position(p.reader);
		}
	}
	replog_reader_close(p.reader);
	buf_free(&p.payload);
	return rc < 0 ? rc : matched;
}

/* The LSN up to which the database already holds the log. */
static int find_db_position(struct replog *log, uint64_t base, const char *wal_path, const char *marker,
			    uint64_t *db_lsn, char *err, size_t errlen)
{
	struct txnrec_walpos pos;
	int found = recovery_wal_last_commit(wal_path, &pos);
	if (found < 0) {
		snprintf(err, errlen, "could not read the database WAL \"%s\"", wal_path);
		return found;
	}
	*db_lsn = base;
	if (found == 0)
		return 0;
	int rc = find_walpos(log, base, UINT64_MAX, &pos, db_lsn, err, errlen);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	/* a WAL commit from before the base: the database file already holds it */
	uint64_t ignored;
	rc = find_walpos(log, replog_start_lsn(log), base, &pos, &ignored, err, errlen);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	uint64_t to;
	if (recovery_base_read(marker, &to) == 0) {
		*db_lsn = to; /* the replay transaction of an interrupted recovery */
		return 0;
	}
	snprintf(err, errlen,
		 "the database WAL holds a transaction that is not in the replication log: "
		 "this data directory's database and log do not belong together");
	return SL_ECORRUPT;
}

/* Opens the database with the default VFS and empties its WAL into it. */
static int checkpoint_all(const char *db_path, sqlite3 **keep, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "could not checkpoint \"%s\": %s", db_path, db ? sqlite3_errmsg(db) : "?");
		sqlite3_close(db);
		return SL_EIO;
	}
	if (keep) {
		*keep = db;
		return 0;
	}
	sqlite3_close(db);
	return 0;
}

static void remove_wal_files(const char *db_path)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s-wal", db_path);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", db_path);
	unlink(path);
}

static int redo_physical(struct pending *p, const char *db_path, uint64_t *redone, char *err, size_t errlen)
{
	int rc = checkpoint_all(db_path, NULL, err, errlen);
	if (rc != 0)
		return rc;
	remove_wal_files(db_path);
	int fd = open(db_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "could not open \"%s\": %s", db_path, strerror(errno));
		return SL_EIO;
	}
	/* a redo cut short by a crash may have written some of these pages */
	struct replay_ahead ahead = { 0 };
	uint32_t page_size = 0;
	char at[LSN_TEXT_MAX];
	do {
		if (!(p->t.sections & TXNREC_PHYSICAL)) {
			snprintf(err, errlen, "record at LSN %s has no pages, the database needs them",
				 lsn_format(p->lsn, at));
			rc = SL_ECORRUPT;
			break;
		}
		page_size = p->t.page_size;
		if ((rc = replay_physical(fd, &p->t, &ahead)) != 0) {
			snprintf(err, errlen, "could not replay the record at LSN %s: %s", lsn_format(p->lsn, at),
				 sl_strerror(rc));
			break;
		}
		(*redone)++;
	} while ((rc = next_txn(p, err, errlen)) == 1);
	if (rc == 0)
		rc = replay_ahead_check(fd, page_size, &ahead, err, errlen);
	replay_ahead_free(&ahead);
	if (rc == 0 && fsync(fd) != 0) {
		snprintf(err, errlen, "could not fsync \"%s\": %s", db_path, strerror(errno));
		rc = SL_EIO;
	}
	close(fd);
	return rc;
}

/*
 * Changesets are not idempotent, and the transactions replayed here get
 * WAL frames the log knows nothing of. So all records go in one
 * transaction, and a marker file written first says where it ends: after
 * a crash, a WAL commit the log does not know, with the marker present,
 * is that transaction (find_db_position).
 */
static int redo_logical(struct pending *p, const char *db_path, const char *marker, uint64_t to, uint64_t *redone,
			char *err, size_t errlen)
{
	sqlite3 *db;
	int rc = recovery_base_write(marker, to);
	if (rc != 0) {
		snprintf(err, errlen, "could not write \"%s\"", marker);
		return rc;
	}
	if ((rc = checkpoint_all(db_path, &db, err, errlen)) != 0)
		return rc;
	char at[LSN_TEXT_MAX], why[512] = "";
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "could not begin the replay: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return SL_EIO;
	}
	do {
		if (!(p->t.sections & TXNREC_LOGICAL)) {
			snprintf(err, errlen, "record at LSN %s has no logical changes, the database needs them",
				 lsn_format(p->lsn, at));
			rc = SL_ECORRUPT;
			break;
		}
		if ((rc = replay_logical(db, &p->t, why, sizeof(why))) != 0) {
			snprintf(err, errlen, "could not replay the record at LSN %s: %s", lsn_format(p->lsn, at), why);
			break;
		}
		(*redone)++;
	} while ((rc = next_txn(p, err, errlen)) == 1);
	if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "could not commit the replay: %s", sqlite3_errmsg(db));
		rc = SL_EIO;
	}
	sqlite3_close(db); /* rolls back what was not committed */
	return rc;
}

int recovery_run(struct replog *log, const char *db_path, const char *base_path, uint64_t *redone, char *err,
		 size_t errlen)
{
	*redone = 0;
	uint64_t base;
	int rc = recovery_base_read(base_path, &base);
	if (rc == SL_ENOTFOUND) {
		base = replog_start_lsn(log);
	} else if (rc != 0) {
		snprintf(err, errlen, "could not read the database position file \"%s\"", base_path);
		return rc;
	}
	char wal_path[4096];
	snprintf(wal_path, sizeof(wal_path), "%s-wal", db_path);
	uint64_t db_lsn;
	char marker[4096];
	snprintf(marker, sizeof(marker), "%s.redo", base_path);
	if ((rc = find_db_position(log, base, wal_path, marker, &db_lsn, err, errlen)) != 0)
		return rc;
	struct pending p = { .payload = { 0 } };
	buf_init(&p.payload);
	if ((rc = replog_reader_open(log, db_lsn, &p.reader)) != 0) {
		snprintf(err, errlen, "the replication log does not hold the database position");
		buf_free(&p.payload);
		return rc;
	}
	rc = next_txn(&p, err, errlen);
	if (rc == 1)
		rc = p.t.sections & TXNREC_PHYSICAL ? redo_physical(&p, db_path, redone, err, errlen)
						    : redo_logical(&p, db_path, marker, replog_end_lsn(log), redone, err, errlen);
	replog_reader_close(p.reader);
	buf_free(&p.payload);
	if (rc != 0)
		return rc;
	char at[LSN_TEXT_MAX];
	if (*redone > 0)
		log_info("recovery", "replayed the log into the database records=%" PRIu64 " from=%s", *redone,
			 lsn_format(db_lsn, at));
	/* The database now holds the whole log. Say so before emptying the WAL,
	 * as the capture shim does: a crash in between leaves WAL commits older
	 * than the base, which find_db_position accepts. */
	if ((rc = recovery_base_write(base_path, replog_end_lsn(log))) != 0) {
		snprintf(err, errlen, "could not write the database position file \"%s\"", base_path);
		return rc;
	}
	if ((rc = checkpoint_all(db_path, NULL, err, errlen)) != 0)
		return rc;
	remove_wal_files(db_path);
	if (unlink(marker) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "could not remove \"%s\": %s", marker, strerror(errno));
		return SL_EIO;
	}
	return 0;
}
