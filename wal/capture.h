/*
 * capture.h — a SQLite VFS shim that sees every write to the -wal file,
 * hands each committed transaction's pages to the log before SQLite may
 * publish it, and says when the database file holds every commit.
 *
 * Every connection of the process opens the database through this VFS (one
 * database per process). Only a connection that holds the WAL write lock
 * writes frames, so the transaction being written is process-wide state.
 *
 * How a commit goes (the writer runs with synchronous=FULL, so SQLite
 * syncs the WAL once after the commit frame):
 *   1. frames that are not the commit frame are written through at once:
 *      SQLite's recovery ignores frames that no commit frame follows;
 *   2. the commit frame and anything after it are held back in memory;
 *   3. at the sync, hooks->commit makes the transaction durable in the log
 *      (while SQLite still holds the write lock, so no reader can see it);
 *   4. only then are the held frames written (not synced: the log is the
 *      durable copy) and SQLite goes on to publish the commit.
 * So the WAL never holds a commit the log lacks; after a crash the log may
 * be ahead, and recovery replays the difference (recovery.h).
 */
#ifndef SL_CAPTURE_H
#define SL_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txnrec.h"

#define CAPTURE_VFS_NAME "sluice"

struct capture_page {
	uint32_t pgno;
	const uint8_t *data; /* page_size bytes */
};

/* One committed transaction, as SQLite wrote it to the WAL. */
struct capture_commit {
	uint32_t page_size;
	uint32_t db_pages; /* database size in pages after the commit */
	size_t npages;     /* 0 unless pages are collected */
	const struct capture_page *pages; /* ascending pgno, the last image of each */
	struct txnrec_walpos walpos;      /* the commit frame's salts and checksums */
};

struct capture_hooks {
	/*
	 * Writer thread, inside SQLite's COMMIT with the write lock held: make
	 * the transaction durable. Returns 0, or an SL_ code to fail the commit
	 * (SQLite then rolls it back; nothing of it reaches the WAL's commit).
	 */
	int (*commit)(void *arg, const struct capture_commit *cc);
	/*
	 * The database file now holds every commit written so far: the WAL was
	 * restarted from its beginning, truncated to nothing, or deleted.
	 * Returns 0 or an SL_ code (the WAL operation then fails).
	 */
	int (*wal_reset)(void *arg);
	/*
	 * Writer thread: SQLite released its WAL write lock, so whatever the
	 * transaction committed is now visible to new readers. May be NULL.
	 */
	void (*write_end)(void *arg);
	void *arg;
};

/*
 * Registers the VFS (not as the default) over the default VFS. With
 * collect_pages, commits carry their page images. Call at start-up,
 * before any connection opens; hooks must outlive every connection. A
 * second call (a log reopened in the same process) replaces the hooks.
 */
int capture_register(const struct capture_hooks *hooks, bool collect_pages);

/* A commit reached the log but not the WAL: every later commit fails
 * until the process restarts and recovery replays it. */
bool capture_failed(void);

/* Turns capture off (recovery replays through the same VFS) or back on. */
void capture_set_active(bool on);

#endif
