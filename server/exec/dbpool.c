/*
 * dbpool.c — SQLite connections, statement caches and WAL syncing (see
 * dbpool.h).
 */
#include "dbpool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "changes.h"
#include "log.h"
#include "nodestatus.h"
#include "admin.h"
#include "pgfuncs.h"
#include "sandbox.h"
#include "slotfuncs.h"
#include "slots.h"
#include "sl_error.h"
#include "sqlstate.h"

int64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Every 1000 VM steps: stop the statement when cancelled or past its deadline. */
static int progress_check(void *arg)
{
	struct dbconn *c = arg;
	if (atomic_load(&c->standby_conflict))
		return 1;
	struct interrupt *intr = c->intr;
	if (!intr)
		return 0;
	if (atomic_load(&intr->cancel))
		return 1;
	if (intr->deadline_ns && monotonic_ns() > intr->deadline_ns) {
		intr->timed_out = true;
		return 1;
	}
	return 0;
}

static int commit_hook(void *arg)
{
	struct dbconn *c = arg;
	if (c->pool->cl && commitlog_failed(c->pool->cl))
		atomic_store(&c->pool->failed, true);
	if (atomic_load(&c->pool->failed))
		return 1; /* fail-stop: turn the commit into a rollback */
	c->commit_seen = true;
	return 0;
}

/*
 * Checkpoints. Copying WAL frames into the database file means random
 * writes and an fsync of the database: too slow for the commit path. So the
 * checkpointer thread copies them in the background (PASSIVE: it blocks
 * neither the writer nor the readers) once the WAL holds
 * checkpoint_wal_size worth of frames. A background checkpoint never catches
 * up with a busy writer, though, and the WAL can only start over from its
 * beginning after a checkpoint has copied every frame; so at twice that
 * length the writer finishes the checkpoint itself, which is cheap by then
 * because most frames are already copied. Starting over keeps the WAL file
 * at a fixed size, rewritten in place, where an fsync costs far less than
 * one that also grows the file.
 */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct dbpool *pool = arg;
	if (frames >= 2 * pool->checkpoint_frames) {
		int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_error("dbpool", "checkpoint failed: %s", sqlite3_errmsg(db));
	} else if (frames >= pool->checkpoint_frames) {
		pthread_mutex_lock(&pool->ckpt_mu);
		pool->ckpt_wanted = true;
		pthread_cond_signal(&pool->ckpt_cond);
		pthread_mutex_unlock(&pool->ckpt_mu);
	}
	return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
	struct dbpool *pool = arg;
	for (;;) {
		pthread_mutex_lock(&pool->ckpt_mu);
		while (!pool->ckpt_wanted && !pool->ckpt_stop)
			pthread_cond_wait(&pool->ckpt_cond, &pool->ckpt_mu);
		bool stop = pool->ckpt_stop;
		pool->ckpt_wanted = false;
		pthread_mutex_unlock(&pool->ckpt_mu);
		if (stop)
			return NULL;
		int rc = sqlite3_wal_checkpoint_v2(pool->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_error("dbpool", "checkpoint failed: %s", sqlite3_errmsg(pool->ckpt_db));
	}
}

static int checkpointer_start(struct dbpool *pool, char *err, size_t errlen)
{
	int rc = sqlite3_open_v2(pool->path, &pool->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
				 pool->cl ? CAPTURE_VFS_NAME : NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(pool->ckpt_db, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0", NULL, NULL,
				  NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "could not open the checkpoint connection: %s",
			 pool->ckpt_db ? sqlite3_errmsg(pool->ckpt_db) : sqlite3_errstr(rc));
		return SL_EIO;
	}
	sqlite3_busy_timeout(pool->ckpt_db, 1000);
	if (pthread_create(&pool->ckpt_thread, NULL, checkpointer_main, pool) != 0) {
		snprintf(err, errlen, "could not start the checkpoint thread");
		return SL_EIO;
	}
	pool->ckpt_running = true;
	return 0;
}

/*
 * Every connection's authorizer. Each statement must pass the sandbox
 * (sluice's own pass it too: it checkpoints through the C API, and only
 * dbconn_vacuum may attach); a refusal is reported like a SQL function's
 * error, 42501 with the reason. Then logical capture looks at it, when the
 * log has rows.
 */
/* The schema's own table, which SQLite reads when it loads the schema
 * (a statement that reads it opens its b-tree: dbconn_reads_no_data). */
static bool is_schema_table(const char *name)
{
	return strcasecmp(name, "sqlite_master") == 0 || strcasecmp(name, "sqlite_schema") == 0 ||
	       strcasecmp(name, "sqlite_temp_master") == 0 || strcasecmp(name, "sqlite_temp_schema") == 0;
}

static const char *raise_v(struct dbconn *c, const char *sqlstate, const char *hint, const char *fmt, va_list ap)
{
	vsnprintf(c->fn_error.message, sizeof(c->fn_error.message), fmt, ap);
	snprintf(c->fn_error.sqlstate, sizeof(c->fn_error.sqlstate), "%s", sqlstate);
	snprintf(c->fn_error.hint, sizeof(c->fn_error.hint), "%s", hint ? hint : "");
	return c->fn_error.message;
}

const char *dbconn_raise(struct dbconn *c, const char *sqlstate, const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *message = raise_v(c, sqlstate, hint, fmt, ap);
	va_end(ap);
	return message;
}

int dbconn_vtab_error(struct dbconn *c, sqlite3_vtab *vt, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *message = raise_v(c, sqlstate, NULL, fmt, ap);
	va_end(ap);
	sqlite3_free(vt->zErrMsg);
	vt->zErrMsg = sqlite3_mprintf("%s", message);
	return SQLITE_ERROR;
}

static int conn_authorize(void *arg, int action, const char *a1, const char *a2, const char *db, const char *trigger)
{
	struct dbconn *c = arg;
	if (c->probing && action == SQLITE_READ && !(a1 && (nodestatus_is_table(a1) || is_schema_table(a1))))
		c->probe_read_data = true;
	if (c->vacuuming && (action == SQLITE_ATTACH || action == SQLITE_DETACH))
		return SQLITE_OK; /* VACUUM's own temporary copy (dbconn_vacuum) */
	if (action == SQLITE_FUNCTION && slotfuncs_writes(a2))
		c->prep_writes_fn = true;
	if (!c->slot_writing && slots_guarded(action, a1, a2)) {
		dbconn_raise(c, SQLSTATE_INSUFFICIENT_PRIVILEGE, "Use the slot functions: sluice_slot_create, sluice_slot_drop, sluice_slot_confirm.",
			     "the table %s is sluice's own", SLOTS_TABLE);
		return SQLITE_DENY;
	}
	char why[sizeof(c->fn_error.message)];
	if (sandbox_check(action, a1, a2, why, sizeof(why)) != SQLITE_OK) {
		dbconn_raise(c, SQLSTATE_INSUFFICIENT_PRIVILEGE, NULL, "%s", why);
		return SQLITE_DENY;
	}
	return c->logical ? logical_authorize(c->logical, action, a1, a2, db, trigger) : SQLITE_OK;
}

static struct dbconn *conn_open(struct dbpool *pool, bool writer, char *err, size_t errlen)
{
	struct dbconn *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->pool = pool;
	c->writer = writer;
	/* readers open read-write but with query_only, so -shm works everywhere */
	int flags = SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_READWRITE | (writer ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(pool->path, &c->db, flags, pool->cl ? CAPTURE_VFS_NAME : NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "could not open database \"%s\": %s", pool->path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, 5000);
	sqlite3_progress_handler(c->db, 1000, progress_check, c);
	/* The writer does not checkpoint on every 1000 frames as SQLite would:
	 * see wal_hook. synchronous=FULL makes SQLite sync the WAL at each
	 * commit: with a log, that is where the capture VFS makes the commit
	 * durable in the log instead (the WAL itself is not fsynced then). */
	const char *setup = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
				     "PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-65536;"
				   : "PRAGMA foreign_keys=ON; PRAGMA query_only=ON; PRAGMA cache_size=-16384;";
	char *msg = NULL;
	if (sqlite3_exec(c->db, setup, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "could not set up database \"%s\": %s", pool->path, msg ? msg : "?");
		sqlite3_free(msg);
		goto fail;
	}
	if (writer) {
		sqlite3_commit_hook(c->db, commit_hook, c);
		sqlite3_wal_hook(c->db, wal_hook, pool);
		if (pool->cl && (commitlog_mode(pool->cl) & LOG_MODE_LOGICAL) &&
		    logical_open(&c->logical, c->db, err, errlen) != 0)
			goto fail;
	}
	sqlite3_set_authorizer(c->db, conn_authorize, c); /* client SQL is sandboxed (sandbox.h) */
	if (pgfuncs_register(c->db, c) != SQLITE_OK || nodestatus_register(c->db) != SQLITE_OK ||
	    changes_register(c->db, c) != SQLITE_OK || admin_register(c->db, c) != SQLITE_OK ||
	    slotfuncs_register(c->db, c) != SQLITE_OK) {
		snprintf(err, errlen, "could not register SQL functions: %s", sqlite3_errmsg(c->db));
		goto fail;
	}
	return c;
fail:
	sqlite3_close_v2(c->db);
	free(c);
	return NULL;
}

static void conn_close(struct dbconn *c)
{
	logical_close(c->logical);
	for (int i = 0; i < DBCONN_CACHE_SIZE; i++) {
		sqlite3_finalize(c->cache[i].st);
		free(c->cache[i].sql);
	}
	free(c->ddl_stmts);
	sqlite3_close_v2(c->db);
	free(c);
}

/*
 * Writes zeroes up to `size` at the end of the -wal file, so that commits
 * rewrite blocks the file already has instead of growing it: an fdatasync
 * that must also record a new file size costs about twice as much. SQLite
 * reads a WAL only up to its first invalid frame, so zeroes (or old frames
 * with an old salt) past the end are ignored, as after any WAL restart.
 */
static int preallocate_wal(struct dbpool *pool, int64_t size, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s-wal", pool->path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "could not open write-ahead log \"%s\": %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return SL_EIO;
	}
	static const char zeroes[65536];
	for (int64_t at = sb.st_size; at < size;) {
		size_t n = size - at < (int64_t)sizeof(zeroes) ? (size_t)(size - at) : sizeof(zeroes);
		ssize_t w = pwrite(fd, zeroes, n, at);
		if (w <= 0) {
			snprintf(err, errlen, "could not preallocate write-ahead log \"%s\": %s", path,
				 w < 0 ? strerror(errno) : "short write");
			close(fd);
			return SL_EIO;
		}
		at += w;
	}
	if (sb.st_size < size && fsync(fd) != 0) {
		snprintf(err, errlen, "could not fsync write-ahead log \"%s\": %s", path, strerror(errno));
		close(fd);
		return SL_EIO;
	}
	close(fd);
	return 0;
}

int dbpool_open(const char *path, bool read_only, int64_t checkpoint_wal_size, struct commitlog *cl,
		dbpool_setting_fn setting, struct dbpool **out, char *err, size_t errlen)
{
	struct dbpool *pool = calloc(1, sizeof(*pool));
	if (!pool || !(pool->path = strdup(path))) {
		free(pool);
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	pool->read_only = read_only;
	pool->setting = setting;
	pool->cl = read_only ? NULL : cl;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_mutex_init(&pool->ckpt_mu, NULL);
	pthread_cond_init(&pool->ckpt_cond, NULL);
	if (read_only) {
		/* a read-only node still needs the file and WAL mode set once */
		sqlite3 *db = NULL;
		int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "could not open database \"%s\": %s", path,
				 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
			sqlite3_close_v2(db);
			dbpool_close(pool);
			return SL_EIO;
		}
		sqlite3_close_v2(db);
	} else {
		pool->writer = conn_open(pool, true, err, errlen);
		/* a frame is a page plus its 24-byte header */
		int page = 4096;
		sqlite3_stmt *st;
		if (pool->writer && sqlite3_prepare_v2(pool->writer->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				page = sqlite3_column_int(st, 0);
			sqlite3_finalize(st);
		}
		pool->checkpoint_frames = (int)(checkpoint_wal_size / (page + 24));
		if (!pool->writer || preallocate_wal(pool, 2 * checkpoint_wal_size + 65536, err, errlen) != 0 ||
		    checkpointer_start(pool, err, errlen) != 0) {
			dbpool_close(pool);
			return SL_EIO;
		}
	}
	/* open one reader now so that a broken file is found at start-up */
	struct dbconn *r = dbpool_acquire(pool, err, errlen);
	if (!r) {
		dbpool_close(pool);
		return SL_EIO;
	}
	dbpool_release(pool, r);
	*out = pool;
	return 0;
}

void dbpool_close(struct dbpool *pool)
{
	if (!pool)
		return;
	if (pool->ckpt_running) {
		pthread_mutex_lock(&pool->ckpt_mu);
		pool->ckpt_stop = true;
		pthread_cond_signal(&pool->ckpt_cond);
		pthread_mutex_unlock(&pool->ckpt_mu);
		pthread_join(pool->ckpt_thread, NULL);
	}
	sqlite3_close_v2(pool->ckpt_db);
	pthread_mutex_destroy(&pool->ckpt_mu);
	pthread_cond_destroy(&pool->ckpt_cond);
	while (pool->free_readers) {
		struct dbconn *c = pool->free_readers;
		pool->free_readers = c->next_free;
		conn_close(c);
	}
	if (pool->writer)
		conn_close(pool->writer);
	pthread_mutex_destroy(&pool->mu);
	free(pool->path);
	free(pool);
}

struct dbconn *dbpool_acquire(struct dbpool *pool, char *err, size_t errlen)
{
	pthread_mutex_lock(&pool->mu);
	struct dbconn *c = pool->free_readers;
	if (c)
		pool->free_readers = c->next_free;
	pthread_mutex_unlock(&pool->mu);
	if (c) {
		c->next_free = NULL;
		atomic_store(&c->standby_conflict, false); /* a free connection holds no snapshot */
		return c;
	}
	c = conn_open(pool, false, err, errlen);
	if (c) {
		pthread_mutex_lock(&pool->mu);
		pool->nreaders++;
		c->next_reader = pool->readers;
		pool->readers = c;
		pthread_mutex_unlock(&pool->mu);
	}
	return c;
}

void dbpool_cancel_snapshots(void *arg)
{
	struct dbpool *pool = arg;
	pthread_mutex_lock(&pool->mu);
	for (struct dbconn *c = pool->readers; c; c = c->next_reader) {
		sqlite3_mutex *m = sqlite3_db_mutex(c->db);
		if (sqlite3_mutex_try(m) != SQLITE_OK) {
			/* a statement is running, on a snapshot: it stops at its next
			 * progress check; the next call finds the connection idle */
			atomic_store(&c->standby_conflict, true);
			continue;
		}
		if (sqlite3_txn_state(c->db, NULL) != SQLITE_TXN_NONE) {
			atomic_store(&c->standby_conflict, true);
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		}
		sqlite3_mutex_leave(m);
	}
	pthread_mutex_unlock(&pool->mu);
}

void dbpool_release(struct dbpool *pool, struct dbconn *c)
{
	c->intr = NULL;
	c->session = NULL;
	if (atomic_load(&c->standby_conflict)) {
		/* cancelled: whatever is left of its transaction goes */
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		atomic_store(&c->standby_conflict, false);
	}
	pthread_mutex_lock(&pool->mu);
	c->next_free = pool->free_readers;
	pool->free_readers = c;
	pthread_mutex_unlock(&pool->mu);
}

/* Remembers a statement that does DDL, for dbconn_step. */
static int note_ddl(struct dbconn *c, sqlite3_stmt *st)
{
	if (c->nddl == c->ddl_cap) {
		int cap = c->ddl_cap ? c->ddl_cap * 2 : 4;
		sqlite3_stmt **grown = realloc(c->ddl_stmts, (size_t)cap * sizeof(*grown));
		if (!grown) {
			sqlite3_finalize(st);
			return SQLITE_NOMEM;
		}
		c->ddl_stmts = grown;
		c->ddl_cap = cap;
	}
	c->ddl_stmts[c->nddl++] = st;
	return SQLITE_OK;
}

bool dbconn_reads_no_data(struct dbconn *c, const char *sql)
{
	char *explain = sqlite3_mprintf("EXPLAIN %s", sql);
	if (!explain)
		return false;
	/* EXPLAIN compiles against the schema the connection has and runs
	 * nothing that would find it changed: a statement that does, first */
	sqlite3_exec(c->db, "SELECT 1 FROM sqlite_schema LIMIT 0", NULL, NULL, NULL);
	sqlite3_stmt *st = NULL;
	c->probing = true;
	c->probe_read_data = false;
	int rc = sqlite3_prepare_v2(c->db, explain, -1, &st, NULL);
	c->probing = false;
	sqlite3_free(explain);
	bool none = rc == SQLITE_OK && st && !c->probe_read_data;
	while (none && sqlite3_step(st) == SQLITE_ROW) {
		const char *op = (const char *)sqlite3_column_text(st, 1);
		none = op && strcmp(op, "OpenRead") != 0 && strcmp(op, "OpenWrite") != 0 && strcmp(op, "ReopenIdx") != 0;
	}
	sqlite3_finalize(st);
	return none;
}

int dbconn_prepare(struct dbconn *c, const char *sql, sqlite3_stmt **st, const char **tail)
{
	struct cached_stmt *victim = NULL;
	for (int i = 0; i < DBCONN_CACHE_SIZE; i++) {
		struct cached_stmt *e = &c->cache[i];
		if (!e->st) {
			if (!victim || victim->st)
				victim = e;
			continue;
		}
		if (!e->in_use && strcmp(e->sql, sql) == 0) {
			e->in_use = true;
			c->prep_writes_fn = e->writes_fn;
			e->last_used = ++c->use_clock;
			*st = e->st;
			if (tail)
				*tail = sql + strlen(sql);
			return SQLITE_OK;
		}
		if (!e->in_use && (!victim || (victim->st && e->last_used < victim->last_used)))
			victim = e;
	}
	const char *t = NULL;
	c->prep_writes_fn = false; /* the authorizer notes such a call */
	if (c->logical)
		logical_prepare_start(c->logical, sql);
	int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, &t);
	if (tail)
		*tail = t;
	if (rc != SQLITE_OK || !*st)
		return rc;
	if (c->logical && logical_prepare_was_ddl(c->logical))
		return note_ddl(c, *st); /* never cached: found again by pointer */
	/* only a statement that is the whole text is cached (the key is the text) */
	if (victim && t && *t == '\0') {
		char *copy = strdup(sql);
		if (copy) {
			sqlite3_finalize(victim->st);
			free(victim->sql);
			victim->sql = copy;
			victim->st = *st;
			victim->in_use = true;
			victim->writes_fn = c->prep_writes_fn;
			victim->last_used = ++c->use_clock;
		}
	}
	return SQLITE_OK;
}

bool dbconn_prepared_writes(struct dbconn *c, sqlite3_stmt *st)
{
	return !sqlite3_stmt_readonly(st) || c->prep_writes_fn;
}

void dbconn_unprepare(struct dbconn *c, sqlite3_stmt *st)
{
	if (!st)
		return;
	for (int i = 0; i < c->nddl; i++) {
		if (c->ddl_stmts[i] == st) {
			c->ddl_stmts[i] = c->ddl_stmts[--c->nddl];
			break;
		}
	}
	for (int i = 0; i < DBCONN_CACHE_SIZE; i++) {
		if (c->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			c->cache[i].in_use = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

static int exec_plain(struct dbconn *c, const char *sql)
{
	sqlite3_stmt *st;
	int rc = dbconn_prepare(c, sql, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = dbconn_step(c, st);
	dbconn_unprepare(c, st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : sqlite3_extended_errcode(c->db);
}

static bool starts_with(const char *s, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncmp(s, prefix, n) != 0)
		return false;
	*rest = s + n;
	return true;
}

#define BLOCK_SAVEPOINT "sl_block"

/*
 * Transaction control on the writer during a batch. The backend sends
 * exactly these texts: BEGIN IMMEDIATE, COMMIT, ROLLBACK, and SAVEPOINT,
 * RELEASE, ROLLBACK TO with a quoted name. Logical capture follows the
 * savepoints so that ROLLBACK TO drops what it undoes.
 */
static int exec_in_batch(struct dbconn *c, const char *sql)
{
	struct logical *lg = c->logical;
	const char *name;
	int rc;
	if (strcmp(sql, "BEGIN IMMEDIATE") == 0 || strcmp(sql, "BEGIN") == 0) {
		if (lg && logical_savepoint(lg, BLOCK_SAVEPOINT) != 0)
			return SQLITE_NOMEM;
		return exec_plain(c, "SAVEPOINT " BLOCK_SAVEPOINT);
	}
	if (strcmp(sql, "COMMIT") == 0) {
		if (lg)
			logical_release(lg, BLOCK_SAVEPOINT);
		rc = exec_plain(c, "RELEASE " BLOCK_SAVEPOINT);
		if (rc != SQLITE_OK || !c->solo)
			return rc;
		rc = dbpool_batch_commit(c->pool);
		int again = dbpool_batch_begin(c->pool, true);
		return rc != SQLITE_OK ? rc : again;
	}
	if (strcmp(sql, "ROLLBACK") == 0) {
		rc = exec_plain(c, "ROLLBACK TO " BLOCK_SAVEPOINT);
		if (rc == SQLITE_OK)
			rc = exec_plain(c, "RELEASE " BLOCK_SAVEPOINT);
		if (lg && logical_rollback_to(lg, BLOCK_SAVEPOINT) != 0)
			rc = rc == SQLITE_OK ? SQLITE_NOMEM : rc;
		if (lg)
			logical_release(lg, BLOCK_SAVEPOINT);
		return rc;
	}
	rc = exec_plain(c, sql);
	if (!lg || rc != SQLITE_OK)
		return rc;
	if (starts_with(sql, "SAVEPOINT ", &name))
		return logical_savepoint(lg, name) == 0 ? SQLITE_OK : SQLITE_NOMEM;
	if (starts_with(sql, "RELEASE ", &name))
		logical_release(lg, name);
	else if (starts_with(sql, "ROLLBACK TO ", &name))
		return logical_rollback_to(lg, name) == 0 ? SQLITE_OK : SQLITE_NOMEM;
	return SQLITE_OK;
}

int dbconn_exec(struct dbconn *c, const char *sql)
{
	if (c->batch)
		return exec_in_batch(c, sql);
	return exec_plain(c, sql);
}

int dbconn_vacuum(struct dbconn *c)
{
	c->vacuuming = true;
	int rc = dbconn_exec(c, "VACUUM");
	c->vacuuming = false;
	return rc;
}

int dbconn_checkpoint(struct dbconn *c)
{
	/* the C call, not PRAGMA wal_checkpoint, which the sandbox refuses */
	return sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static bool is_ddl(struct dbconn *c, sqlite3_stmt *st)
{
	for (int i = 0; i < c->nddl; i++)
		if (c->ddl_stmts[i] == st)
			return true;
	return false;
}

void dbpool_gate(void *arg, enum replica_gate state)
{
	struct dbpool *pool = arg;
	atomic_store(&pool->gate, (int)state);
}

enum replica_gate dbpool_gate_state(struct dbpool *pool) { return (enum replica_gate)atomic_load(&pool->gate); }

void dbpool_hold_reads(void *arg, bool unconfirmed)
{
	struct dbpool *pool = arg;
	atomic_store(&pool->unconfirmed, unconfirmed);
}

int dbconn_step(struct dbconn *c, sqlite3_stmt *st)
{
	if (!c->logical || !is_ddl(c, st))
		return sqlite3_step(st);
	if (logical_before_ddl(c->logical) != 0)
		return SQLITE_NOMEM;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE && logical_after_ddl(c->logical, sqlite3_sql(st)) != 0)
		return SQLITE_NOMEM;
	return rc;
}

const char *dbconn_denied(struct dbconn *c) { return c->logical ? logical_denied(c->logical) : NULL; }

int dbpool_batch_begin(struct dbpool *pool, bool solo)
{
	struct dbconn *w = pool->writer;
	int rc = exec_plain(w, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK) {
		w->batch = true;
		w->solo = solo;
	}
	return rc;
}

static void batch_abandon(struct dbpool *pool)
{
	struct dbconn *w = pool->writer;
	w->batch = false;
	if (!sqlite3_get_autocommit(w->db))
		exec_plain(w, "ROLLBACK");
	if (w->logical)
		logical_rollback(w->logical);
	if (pool->cl)
		commitlog_unstage(pool->cl);
}

int dbpool_batch_commit(struct dbpool *pool)
{
	struct dbconn *w = pool->writer;
	int rc = SQLITE_OK;
	if (w->logical && pool->cl) {
		int src = commitlog_stage_logical(pool->cl, w->logical);
		rc = src == 0 ? SQLITE_OK : src == SL_EINVAL ? SQLITE_CONSTRAINT : SQLITE_NOMEM;
		if (src == SL_EINVAL && dbconn_denied(w))
			snprintf(w->commit_error, sizeof(w->commit_error), "%s", dbconn_denied(w));
	}
	w->batch = false;
	if (rc == SQLITE_OK)
		rc = exec_plain(w, "COMMIT");
	if (rc != SQLITE_OK) {
		log_error("dbpool", "could not commit a batch: %s",
			  w->commit_error[0] ? w->commit_error : sqlite3_errmsg(w->db));
		w->batch = true;
		batch_abandon(pool);
		if (pool->cl && commitlog_failed(pool->cl))
			atomic_store(&pool->failed, true);
		return rc;
	}
	if (w->commit_seen) {
		w->commit_seen = false;
		atomic_fetch_add(&pool->commit_count, 1); /* visible now */
	}
	return SQLITE_OK;
}

bool dbpool_batch_lost(struct dbpool *pool)
{
	struct dbconn *w = pool->writer;
	if (!w->batch || !sqlite3_get_autocommit(w->db))
		return false;
	batch_abandon(pool);
	return true;
}

uint64_t dbpool_commit_count(struct dbpool *pool) { return atomic_load(&pool->commit_count); }

