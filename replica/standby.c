/*
 * standby.c — keeping a follower's readers out while page images are
 * written into its database file, and making every connection drop its
 * page cache afterwards (LiteFS applies pages the same way).
 *
 * Readers are SQLite connections in WAL mode, and the follower's WAL stays
 * empty. A reader holds one of SQLite's WAL read-mark locks (shared) for
 * as long as its read transaction lasts; holding all of them exclusively,
 * through this connection's own shared-memory lock method, means no reader
 * has a snapshot. The WAL write and checkpoint locks are taken too, so no
 * checkpoint runs meanwhile. From the first try to the release, the
 * node's gate is closed (replica_readers): no new read transaction starts,
 * so a stream of short reads cannot keep the locks busy for ever; a
 * reader that starts one anyway (SQLite's own, while preparing) waits in
 * SQLite's retry loop for the short time pages are being written.
 *
 * Afterwards the wal-index header gets a new change counter (iChange) and
 * the new database size: a connection whose copy of the header differs
 * throws its page cache away when its next read transaction starts. The
 * header is written the way SQLite writes it: the second copy, a memory
 * barrier, then the first, each with its checksum.
 */
#include "replica_internal.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sl_error.h"
#include "sl_time.h"

/* SQLite's WAL lock slots (wal.c) */
#define WAL_WRITE_LOCK 0
#define WAL_CKPT_LOCK 1
#define WAL_READ_LOCK0 3
#define WAL_NREADER 5
/* wal-index header (wal.c, struct WalIndexHdr), 48 bytes, native byte order */
#define HDR_SIZE 48
#define HDR_ICHANGE 8
#define HDR_MXFRAME 16
#define HDR_NPAGE 20
#define HDR_CKSUM 40

int standby_open(struct standby *s, const char *db_path, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	int rc = sqlite3_open_v2(db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
	/* a read maps the shared memory (the wal-index) for this connection */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "PRAGMA query_only=ON; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &s->file);
	if (rc != SQLITE_OK || !s->file || !s->file->pMethods || !s->file->pMethods->xShmLock) {
		snprintf(err, errlen, "could not open \"%s\" for page apply: %s", db_path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		standby_close(s);
		return SL_EIO;
	}
	return 0;
}

void standby_close(struct standby *s)
{
	if (s->held)
		standby_release(s);
	sqlite3_close_v2(s->db);
	memset(s, 0, sizeof(*s));
}

static int shm_lock(struct standby *s, int ofs, int n, bool lock)
{
	int flags = (lock ? SQLITE_SHM_LOCK : SQLITE_SHM_UNLOCK) | SQLITE_SHM_EXCLUSIVE;
	return s->file->pMethods->xShmLock(s->file, ofs, n, flags);
}

int standby_exclude(struct standby *s, int64_t max_delay_ms, const struct replica_readers *readers,
		    atomic_bool *stop)
{
	int64_t start = sl_monotonic_ms(), last_cancel = 0;
	bool writer_locks = false;
	if (readers->gate)
		readers->gate(readers->arg, REPLICA_GATE_APPLYING);
	for (int spins = 0;; spins++) {
		int rc = SQLITE_BUSY;
		if (!writer_locks && shm_lock(s, WAL_WRITE_LOCK, 2, true) == SQLITE_OK)
			writer_locks = true;
		if (writer_locks)
			rc = shm_lock(s, WAL_READ_LOCK0, WAL_NREADER, true);
		if (rc == SQLITE_OK) {
			s->held = true;
			s->readers = readers;
			return 0;
		}
		if (rc != SQLITE_BUSY || atomic_load(stop)) {
			if (rc != SQLITE_BUSY)
				log_error("replica", "could not lock the follower's readers out rc=%d", rc);
			if (writer_locks)
				shm_lock(s, WAL_WRITE_LOCK, 2, false);
			if (readers->gate)
				readers->gate(readers->arg, REPLICA_GATE_OPEN);
			return SL_EIO;
		}
		int64_t now = sl_monotonic_ms();
		if (now - start >= max_delay_ms && now - last_cancel >= 100 && readers->cancel) {
			if (last_cancel == 0)
				log_warn("replica", "cancelling reads that hold a snapshot past max_standby_delay waited_ms=%lld",
					 (long long)(now - start));
			readers->cancel(readers->arg);
			last_cancel = now;
		}
		sl_sleep_ms(spins < 20 ? 1 : 5);
	}
}

static void hdr_checksum(const uint8_t *hdr, uint32_t out[2])
{
	uint32_t s1 = 0, s2 = 0, w[HDR_CKSUM / 4];
	memcpy(w, hdr, HDR_CKSUM);
	for (int i = 0; i < HDR_CKSUM / 4; i += 2) {
		s1 += w[i] + s2;
		s2 += w[i + 1] + s1;
	}
	out[0] = s1;
	out[1] = s2;
}

int standby_publish(struct standby *s, uint32_t db_pages)
{
	volatile void *region = NULL;
	int rc = s->file->pMethods->xShmMap(s->file, 0, 32768, 0, &region);
	if (rc != SQLITE_OK)
		return SL_EIO;
	if (!region)
		return 0; /* no wal-index yet: whoever opens one reads the file afresh */
	volatile uint8_t *shm = region;
	uint8_t hdr[HDR_SIZE];
	memcpy(hdr, (const void *)shm, HDR_SIZE);
	uint32_t v;
	memcpy(&v, hdr + HDR_MXFRAME, 4);
	if (v != 0) {
		log_error("replica", "the follower's WAL is not empty; pages cannot be applied frames=%u", v);
		return SL_EIO;
	}
	memcpy(&v, hdr + HDR_ICHANGE, 4);
	v++;
	memcpy(hdr + HDR_ICHANGE, &v, 4);
	memcpy(hdr + HDR_NPAGE, &db_pages, 4);
	uint32_t ck[2];
	hdr_checksum(hdr, ck);
	memcpy(hdr + HDR_CKSUM, ck, 8);
	memcpy((void *)(shm + HDR_SIZE), hdr, HDR_SIZE);
	s->file->pMethods->xShmBarrier(s->file);
	memcpy((void *)shm, hdr, HDR_SIZE);
	s->file->pMethods->xShmBarrier(s->file);
	return 0;
}

void standby_release(struct standby *s)
{
	if (!s->held)
		return;
	shm_lock(s, WAL_READ_LOCK0, WAL_NREADER, false);
	shm_lock(s, WAL_WRITE_LOCK, 2, false);
	s->held = false;
	if (s->readers->gate)
		s->readers->gate(s->readers->arg, REPLICA_GATE_OPEN);
}
