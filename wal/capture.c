/*
 * capture.c — the VFS shim that captures WAL frames (see capture.h).
 *
 * What the shim relies on, from SQLite's WAL format (wal.c): the -wal file
 * is a 32-byte header, then frames of a 24-byte frame header plus one page.
 * A frame header holds the page number (bytes 0-3, big-endian), the
 * database size in pages after the commit for a commit frame and zero
 * otherwise (bytes 4-7), the salts (8-15) and the running checksums
 * (16-23). SQLite writes a frame as two writes, header then page, and a
 * new header at offset 0 when it starts the WAL over. A frame may be
 * written again in place inside its own transaction (a page changed after
 * its frame was written); the last image of a page wins. A write lock on
 * shared-memory slot 0 brackets every write transaction.
 *
 * Runs on whichever thread calls into SQLite; the transaction state is only
 * touched by the connection holding the write lock.
 */
#include "capture.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sl_error.h"

#define WAL_HEADER_SIZE 32
#define FRAME_HEADER_SIZE 24

enum file_kind { FILE_OTHER, FILE_DB, FILE_WAL };

struct shim_file {
	sqlite3_file base;
	enum file_kind kind;
	bool commit_pending; /* this handle wrote a commit frame not yet synced */
	sqlite3_file *real; /* follows this struct in the same allocation */
};

struct held_write {
	sqlite3_int64 off;
	int n;
	uint8_t *data;
};

struct page_image {
	uint32_t pgno;
	uint64_t seq; /* write order: the last image of a page wins */
	uint8_t *data;
};

/* The write transaction in progress. */
struct txn_state {
	uint32_t page_size;
	uint32_t first_frame;   /* frame number of the transaction's first frame */
	uint32_t *frame_pgno;   /* frame first_frame + i → page number */
	size_t nframes, frames_cap;
	struct page_image *pages;
	size_t npages, pages_cap;
	uint64_t seq;
	bool commit_seen;       /* the commit frame's header was written */
	struct shim_file *file; /* the WAL handle that wrote it */
	uint32_t db_pages;
	struct txnrec_walpos walpos;
	struct held_write *held;
	size_t nheld, held_cap;
};

static struct {
	sqlite3_vfs vfs;
	sqlite3_vfs *real;
	struct capture_hooks hooks;
	bool collect_pages;
	bool active;
	_Atomic bool failed; /* a logged commit could not reach the WAL */
	struct txn_state txn;
} shim;

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void txn_reset(struct txn_state *t)
{
	for (size_t i = 0; i < t->npages; i++)
		free(t->pages[i].data);
	for (size_t i = 0; i < t->nheld; i++)
		free(t->held[i].data);
	uint32_t page_size = t->page_size;
	if (t->file)
		t->file->commit_pending = false;
	free(t->frame_pgno);
	free(t->pages);
	free(t->held);
	memset(t, 0, sizeof(*t));
	t->page_size = page_size; /* stays valid until the next WAL header */
}

static bool grow(void **v, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	void *p = realloc(*v, n * size);
	if (!p)
		return false;
	*v = p;
	*cap = n;
	return true;
}

static int hold_write(struct txn_state *t, const void *buf, int n, sqlite3_int64 off)
{
	if (!grow((void **)&t->held, &t->held_cap, t->nheld + 1, sizeof(*t->held)))
		return SQLITE_NOMEM;
	uint8_t *copy = malloc((size_t)n);
	if (!copy)
		return SQLITE_NOMEM;
	memcpy(copy, buf, (size_t)n);
	t->held[t->nheld++] = (struct held_write){ off, n, copy };
	return SQLITE_OK;
}

static int note_frame(struct txn_state *t, uint32_t frame, uint32_t pgno)
{
	if (t->nframes == 0)
		t->first_frame = frame;
	if (frame < t->first_frame)
		return SQLITE_IOERR_WRITE;
	size_t i = frame - t->first_frame;
	if (!grow((void **)&t->frame_pgno, &t->frames_cap, i + 1, sizeof(uint32_t)))
		return SQLITE_NOMEM;
	while (t->nframes <= i)
		t->frame_pgno[t->nframes++] = 0;
	t->frame_pgno[i] = pgno;
	return SQLITE_OK;
}

static int note_page(struct txn_state *t, uint32_t frame, const void *data)
{
	size_t i = frame - t->first_frame;
	if (t->nframes == 0 || frame < t->first_frame || i >= t->nframes || t->frame_pgno[i] == 0)
		return SQLITE_IOERR_WRITE; /* a page whose frame header we never saw */
	if (!shim.collect_pages)
		return SQLITE_OK;
	if (!grow((void **)&t->pages, &t->pages_cap, t->npages + 1, sizeof(*t->pages)))
		return SQLITE_NOMEM;
	uint8_t *copy = malloc(t->page_size);
	if (!copy)
		return SQLITE_NOMEM;
	memcpy(copy, data, t->page_size);
	t->pages[t->npages++] = (struct page_image){ t->frame_pgno[i], t->seq++, copy };
	return SQLITE_OK;
}

static int read_page_size(struct shim_file *f, struct txn_state *t)
{
	uint8_t hdr[WAL_HEADER_SIZE];
	int rc = f->real->pMethods->xRead(f->real, hdr, sizeof(hdr), 0);
	if (rc != SQLITE_OK)
		return rc;
	t->page_size = be32(hdr + 8);
	if (t->page_size < 512 || t->page_size > 65536 || (t->page_size & (t->page_size - 1)))
		return SQLITE_IOERR_READ;
	return SQLITE_OK;
}

/* A write to the -wal file while capture is on. */
static int wal_write(struct shim_file *f, const void *buf, int n, sqlite3_int64 off)
{
	struct txn_state *t = &shim.txn;
	sqlite3_io_methods const *m = f->real->pMethods;
	if (off == 0 && n == WAL_HEADER_SIZE) {
		/* the WAL starts over: every earlier frame is in the database file */
		if (shim.hooks.wal_reset(shim.hooks.arg) != 0)
			return SQLITE_IOERR_WRITE;
		t->page_size = be32((const uint8_t *)buf + 8);
		return m->xWrite(f->real, buf, n, off);
	}
	if (t->page_size == 0) {
		int rc = read_page_size(f, t);
		if (rc != SQLITE_OK)
			return rc;
	}
	sqlite3_int64 frame_size = FRAME_HEADER_SIZE + (sqlite3_int64)t->page_size;
	if (off < WAL_HEADER_SIZE)
		goto unexpected;
	sqlite3_int64 rel = off - WAL_HEADER_SIZE;
	uint32_t frame = (uint32_t)(rel / frame_size) + 1;
	sqlite3_int64 within = rel % frame_size;
	const uint8_t *p = buf;
	int rc;
	if (within == 0 && (n == FRAME_HEADER_SIZE || n == frame_size)) {
		uint32_t pgno = be32(p), commit = be32(p + 4);
		if (pgno == 0 || (rc = note_frame(t, frame, pgno)) != SQLITE_OK)
			goto unexpected;
		if (commit) {
			/* the last commit-marked header written is what SQLite's
			 * recovery will find: a rewrite or a padding frame moves it */
			t->commit_seen = true;
			t->file = f;
			f->commit_pending = true;
			t->db_pages = commit;
			t->walpos = (struct txnrec_walpos){ be32(p + 8), be32(p + 12), be32(p + 16), be32(p + 20) };
		}
		if (n == frame_size && (rc = note_page(t, frame, p + FRAME_HEADER_SIZE)) != SQLITE_OK)
			return rc;
	} else if (within == FRAME_HEADER_SIZE && n == (int)t->page_size) {
		if ((rc = note_page(t, frame, p)) != SQLITE_OK)
			return rc;
	} else {
		goto unexpected;
	}
	if (t->commit_seen)
		return hold_write(t, buf, n, off);
	return m->xWrite(f->real, buf, n, off);
unexpected:
	log_error("capture", "unexpected write to the WAL offset=%lld bytes=%d", (long long)off, n);
	return SQLITE_IOERR_WRITE;
}

static int page_cmp(const void *a, const void *b)
{
	const struct page_image *x = a, *y = b;
	if (x->pgno != y->pgno)
		return x->pgno < y->pgno ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The commit point: the log first, then the held frames. */
static int wal_commit(struct shim_file *f)
{
	struct txn_state *t = &shim.txn;
	struct capture_page *pages = NULL;
	size_t n = 0;
	if (shim.failed)
		return SQLITE_IOERR_FSYNC;
	if (t->npages) {
		qsort(t->pages, t->npages, sizeof(*t->pages), page_cmp);
		pages = malloc(t->npages * sizeof(*pages));
		if (!pages)
			return SQLITE_IOERR_NOMEM;
		for (size_t i = 0; i < t->npages; i++) {
			bool last = i + 1 == t->npages || t->pages[i + 1].pgno != t->pages[i].pgno;
			if (last && t->pages[i].pgno <= t->db_pages)
				pages[n++] = (struct capture_page){ t->pages[i].pgno, t->pages[i].data };
		}
	}
	struct capture_commit cc = { t->page_size, t->db_pages, n, pages, t->walpos };
	int rc = shim.hooks.commit(shim.hooks.arg, &cc);
	free(pages);
	if (rc != 0)
		return SQLITE_IOERR_FSYNC;
	for (size_t i = 0; i < t->nheld; i++) {
		struct held_write *h = &t->held[i];
		rc = f->real->pMethods->xWrite(f->real, h->data, h->n, h->off);
		if (rc != SQLITE_OK) {
			/* durable in the log but not in the WAL: the database can no
			 * longer follow the log until recovery redoes it at start-up */
			log_error("capture", "could not write a logged commit to the WAL, writes are stopped rc=%d", rc);
			shim.failed = true;
			return rc;
		}
	}
	txn_reset(t);
	return SQLITE_OK;
}

/* ------------------------------------------------------------ io methods */

#define REAL(f) (((struct shim_file *)(f))->real)

static int shim_close(sqlite3_file *f)
{
	sqlite3_file *r = REAL(f);
	return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}

/*
 * What SQLite reads back of the WAL must include what it wrote, held
 * writes too: a transaction that rewrote a spilled page in place re-reads
 * its frames, the commit frame included, to recompute their checksums.
 */
static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	struct shim_file *sf = (struct shim_file *)f;
	int rc = sf->real->pMethods->xRead(sf->real, buf, n, off);
	if (!sf->commit_pending || (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ))
		return rc;
	const struct txn_state *t = &shim.txn;
	sqlite3_int64 end = off + n, covered = end; /* held bytes reach down to here */
	if (rc == SQLITE_IOERR_SHORT_READ && sf->real->pMethods->xFileSize(sf->real, &covered) != SQLITE_OK)
		return rc;
	if (covered < off)
		covered = off;
	for (size_t i = 0; i < t->nheld; i++) { /* in write order: the last write wins */
		const struct held_write *h = &t->held[i];
		sqlite3_int64 from = h->off > off ? h->off : off, to = h->off + h->n < end ? h->off + h->n : end;
		if (from < to)
			memcpy((uint8_t *)buf + (from - off), h->data + (from - h->off), (size_t)(to - from));
	}
	for (bool grew = true; covered < end && grew;) { /* is the short part all held? */
		grew = false;
		for (size_t i = 0; i < t->nheld; i++) {
			const struct held_write *h = &t->held[i];
			if (h->off <= covered && h->off + h->n > covered) {
				covered = h->off + h->n;
				grew = true;
			}
		}
	}
	return covered >= end ? SQLITE_OK : rc;
}

static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	struct shim_file *sf = (struct shim_file *)f;
	if (sf->kind == FILE_WAL && shim.active)
		return wal_write(sf, buf, n, off);
	return sf->real->pMethods->xWrite(sf->real, buf, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct shim_file *sf = (struct shim_file *)f;
	if (sf->kind == FILE_WAL && shim.active && size == 0 && shim.hooks.wal_reset(shim.hooks.arg) != 0)
		return SQLITE_IOERR_TRUNCATE;
	return sf->real->pMethods->xTruncate(sf->real, size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
	struct shim_file *sf = (struct shim_file *)f;
	/* only the handle that wrote the commit frame: a checkpointer syncs
	 * the WAL through a handle of its own */
	if (sf->kind == FILE_WAL && shim.active && sf->commit_pending)
		return wal_commit(sf);
	return sf->real->pMethods->xSync(sf->real, flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int shim_lock(sqlite3_file *f, int level) { return REAL(f)->pMethods->xLock(REAL(f), level); }

static int shim_unlock(sqlite3_file *f, int level) { return REAL(f)->pMethods->xUnlock(REAL(f), level); }

static int shim_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int shim_sector_size(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }

static int shim_device_characteristics(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int shim_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, out);
}

/* Slot 0 is SQLite's WAL write lock: a write transaction starts or ends. */
static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	int rc = REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
	if (rc == SQLITE_OK && offset == 0 && (flags & SQLITE_SHM_EXCLUSIVE) && shim.active) {
		if ((flags & SQLITE_SHM_UNLOCK) && shim.txn.commit_seen)
			log_error("capture", "a commit frame was written but never synced; it is dropped");
		txn_reset(&shim.txn);
		if ((flags & SQLITE_SHM_UNLOCK) && shim.hooks.write_end)
			shim.hooks.write_end(shim.hooks.arg);
	}
	return rc;
}

static void shim_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }

static int shim_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, out);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_methods = {
	3,
	shim_close,
	shim_read,
	shim_write,
	shim_truncate,
	shim_sync,
	shim_file_size,
	shim_lock,
	shim_unlock,
	shim_check_reserved,
	shim_file_control,
	shim_sector_size,
	shim_device_characteristics,
	shim_shm_map,
	shim_shm_lock,
	shim_shm_barrier,
	shim_shm_unmap,
	shim_fetch,
	shim_unfetch,
};

/* -------------------------------------------------------------- the VFS */

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	(void)vfs;
	struct shim_file *sf = (struct shim_file *)file;
	memset(sf, 0, sizeof(*sf));
	sf->real = (sqlite3_file *)(sf + 1);
	sf->kind = flags & SQLITE_OPEN_MAIN_DB ? FILE_DB : flags & SQLITE_OPEN_WAL ? FILE_WAL : FILE_OTHER;
	int rc = shim.real->xOpen(shim.real, name, sf->real, flags, out_flags);
	if (sf->real->pMethods == NULL)
		return rc; /* base.pMethods stays NULL: SQLite will not call xClose */
	if (sf->real->pMethods->iVersion < 3) {
		sf->real->pMethods->xClose(sf->real);
		return SQLITE_CANTOPEN;
	}
	sf->base.pMethods = &shim_methods;
	return rc;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	size_t len = strlen(name);
	if (shim.active && len > 4 && strcmp(name + len - 4, "-wal") == 0 && shim.hooks.wal_reset(shim.hooks.arg) != 0)
		return SQLITE_IOERR_DELETE;
	return shim.real->xDelete(shim.real, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return shim.real->xAccess(shim.real, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return shim.real->xFullPathname(shim.real, name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return shim.real->xDlOpen(shim.real, name);
}

static void vfs_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	shim.real->xDlError(shim.real, n, msg);
}

static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return shim.real->xDlSym(shim.real, h, sym);
}

static void vfs_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	shim.real->xDlClose(shim.real, h);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return shim.real->xRandomness(shim.real, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return shim.real->xSleep(shim.real, us);
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return shim.real->xCurrentTime(shim.real, out);
}

static int vfs_get_last_error(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return shim.real->xGetLastError ? shim.real->xGetLastError(shim.real, n, out) : 0;
}

static int vfs_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return shim.real->xCurrentTimeInt64(shim.real, out);
}

int capture_register(const struct capture_hooks *hooks, bool collect_pages)
{
	if (shim.real) { /* registered already: new hooks for the next log */
		shim.hooks = *hooks;
		shim.collect_pages = collect_pages;
		capture_set_active(true);
		return 0;
	}
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	if (!real || real->iVersion < 2)
		return SL_EINVAL;
	shim.real = real;
	shim.hooks = *hooks;
	shim.collect_pages = collect_pages;
	shim.active = true;
	sqlite3_vfs *v = &shim.vfs;
	v->iVersion = 2;
	v->szOsFile = (int)sizeof(struct shim_file) + real->szOsFile;
	v->mxPathname = real->mxPathname;
	v->zName = CAPTURE_VFS_NAME;
	v->xOpen = vfs_open;
	v->xDelete = vfs_delete;
	v->xAccess = vfs_access;
	v->xFullPathname = vfs_full_pathname;
	v->xDlOpen = vfs_dlopen;
	v->xDlError = vfs_dlerror;
	v->xDlSym = vfs_dlsym;
	v->xDlClose = vfs_dlclose;
	v->xRandomness = vfs_randomness;
	v->xSleep = vfs_sleep;
	v->xCurrentTime = vfs_current_time;
	v->xGetLastError = vfs_get_last_error;
	v->xCurrentTimeInt64 = vfs_current_time_int64;
	return sqlite3_vfs_register(v, 0) == SQLITE_OK ? 0 : SL_EINVAL;
}

bool capture_failed(void) { return shim.failed; }

void capture_set_active(bool on)
{
	txn_reset(&shim.txn);
	shim.active = on;
}
