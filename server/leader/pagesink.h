/*
 * pagesink.h — a write-only SQLite database file that hands each page
 * written to it to a callback instead of keeping it.
 *
 * Opened as the destination of SQLite's online backup, it turns the backup
 * into a stream of pages: the source is read page by page inside its own
 * read transaction and the destination pager writes each page out as its
 * small cache fills (then the rest at commit), so memory stays bounded by
 * the two page caches whatever the database's size. Pages come mostly in
 * ascending order; page 1 is written at the end (the pager holds it until
 * commit). A read back of anything already written is refused with an
 * I/O error rather than answered wrongly (the backup never needs it).
 *
 * The pages written are the source's bytes but for three fields of page
 * 1: the schema cookie (a backup bumps it; the snapshot puts it back) and
 * the file change counter and its copy (SQLite's pager writes its own
 * whenever it writes page 1; SQLite does not read them in WAL mode).
 */
#ifndef SL_PAGESINK_H
#define SL_PAGESINK_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* One page at its offset; 0 to go on, nonzero to fail the write. */
typedef int (*pagesink_fn)(void *arg, uint64_t offset, const uint8_t *page, size_t len);

struct pagesink {
	pagesink_fn fn;
	void *arg;
	uint32_t page_size;
	uint64_t high;   /* end of what has been written */
	int failed;      /* the callback's nonzero answer, if any */
};

#define PAGESINK_VFS_NAME "sluice-pagesink"

/*
 * Opens a sink database for s on *db (journal off, exclusive, a cache of
 * cache_kib). 0 or an SL_ code.
 */
int pagesink_open(struct pagesink *s, uint32_t page_size, int cache_kib, sqlite3 **db);
void pagesink_close(sqlite3 *db);

#endif
