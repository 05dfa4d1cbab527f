/*
 * pagesink.c — the write-only database file of a page stream (see
 * pagesink.h).
 *
 * A VFS whose one kind of file is the main database of a sink: every
 * write must be one whole, aligned page and goes to the sink's callback;
 * reads of the part not yet written answer "short read" (SQLite takes
 * zeros, as for a new database); the journal is never opened (the
 * destination runs with journal_mode=OFF). Everything else (time,
 * randomness) comes from the default VFS.
 */
#include "pagesink.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"

/* The sink whose database this thread is opening */
static __thread struct pagesink *binding;

struct sink_file {
	sqlite3_file base;
	struct pagesink *s;
};

static int sink_close(sqlite3_file *f)
{
	(void)f;
	return SQLITE_OK;
}

static int sink_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	struct pagesink *s = ((struct sink_file *)f)->s;
	if ((uint64_t)off < s->high)
		return SQLITE_IOERR_READ; /* not kept: never answer with something else */
	memset(buf, 0, (size_t)amt);
	return SQLITE_IOERR_SHORT_READ;
}

static int sink_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	struct pagesink *s = ((struct sink_file *)f)->s;
	if (s->failed)
		return SQLITE_IOERR_WRITE;
	if ((uint32_t)amt != s->page_size || off < 0 || (uint64_t)off % s->page_size != 0) {
		s->failed = SL_EPROTO;
		return SQLITE_IOERR_WRITE;
	}
	s->failed = s->fn(s->arg, (uint64_t)off, buf, (size_t)amt);
	if (s->failed)
		return SQLITE_IOERR_WRITE;
	if ((uint64_t)off + (uint64_t)amt > s->high)
		s->high = (uint64_t)off + (uint64_t)amt;
	return SQLITE_OK;
}

static int sink_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct pagesink *s = ((struct sink_file *)f)->s;
	if (size >= 0 && (uint64_t)size < s->high)
		s->high = (uint64_t)size;
	return SQLITE_OK;
}

static int sink_sync(sqlite3_file *f, int flags)
{
	(void)f;
	(void)flags;
	return SQLITE_OK;
}

static int sink_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	*size = (sqlite3_int64)((struct sink_file *)f)->s->high;
	return SQLITE_OK;
}

static int sink_lock(sqlite3_file *f, int level)
{
	(void)f;
	(void)level;
	return SQLITE_OK;
}

static int sink_check_reserved(sqlite3_file *f, int *out)
{
	(void)f;
	*out = 0;
	return SQLITE_OK;
}

static int sink_file_control(sqlite3_file *f, int op, void *arg)
{
	(void)f;
	(void)op;
	(void)arg;
	return SQLITE_NOTFOUND;
}

static int sink_sector_size(sqlite3_file *f)
{
	(void)f;
	return 4096;
}

static int sink_device_characteristics(sqlite3_file *f)
{
	(void)f;
	return 0;
}

static const sqlite3_io_methods sink_methods = {
	.iVersion = 1,
	.xClose = sink_close,
	.xRead = sink_read,
	.xWrite = sink_write,
	.xTruncate = sink_truncate,
	.xSync = sink_sync,
	.xFileSize = sink_file_size,
	.xLock = sink_lock,
	.xUnlock = sink_lock,
	.xCheckReservedLock = sink_check_reserved,
	.xFileControl = sink_file_control,
	.xSectorSize = sink_sector_size,
	.xDeviceCharacteristics = sink_device_characteristics,
};

static int sink_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	(void)vfs;
	f->pMethods = NULL;
	(void)name;
	if (!(flags & SQLITE_OPEN_MAIN_DB) || !binding)
		return SQLITE_CANTOPEN; /* no journal, no other temporary files */
	((struct sink_file *)f)->s = binding;
	f->pMethods = &sink_methods;
	if (out_flags)
		*out_flags = flags;
	return SQLITE_OK;
}

static int sink_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	(void)name;
	(void)sync_dir;
	return SQLITE_OK;
}

static int sink_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	(void)name;
	(void)flags;
	*out = 0; /* no journal, no WAL */
	return SQLITE_OK;
}

static int sink_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	snprintf(out, (size_t)n, "%s", name);
	return SQLITE_OK;
}

static sqlite3_vfs sink_vfs;
static int register_rc;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;

static void register_vfs(void)
{
	sqlite3_vfs *base = sqlite3_vfs_find(NULL);
	if (!base) {
		register_rc = SL_ENOMEM;
		return;
	}
	sink_vfs = *base; /* time, randomness, sleep */
	sink_vfs.iVersion = 2;
	sink_vfs.szOsFile = sizeof(struct sink_file);
	sink_vfs.pNext = NULL;
	sink_vfs.zName = PAGESINK_VFS_NAME;
	sink_vfs.pAppData = NULL;
	sink_vfs.xOpen = sink_open;
	sink_vfs.xDelete = sink_delete;
	sink_vfs.xAccess = sink_access;
	sink_vfs.xFullPathname = sink_full_pathname;
	sink_vfs.xDlOpen = NULL;
	sink_vfs.xDlError = NULL;
	sink_vfs.xDlSym = NULL;
	sink_vfs.xDlClose = NULL;
	register_rc = sqlite3_vfs_register(&sink_vfs, 0) == SQLITE_OK ? 0 : SL_ENOMEM;
}

int pagesink_open(struct pagesink *s, uint32_t page_size, int cache_kib, sqlite3 **db)
{
	*db = NULL;
	pthread_once(&register_once, register_vfs);
	if (register_rc)
		return register_rc;
	binding = s;
	int rc = sqlite3_open_v2("pagesink", db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, PAGESINK_VFS_NAME);
	binding = NULL;
	if (rc != SQLITE_OK)
		return SL_EIO;
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
		 " PRAGMA page_size=%u; PRAGMA cache_size=-%d;",
		 page_size, cache_kib);
	return sqlite3_exec(*db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : SL_EIO;
}

void pagesink_close(sqlite3 *db)
{
	sqlite3_close_v2(db);
}
