/*
 * slots.c — CDC slots' table, quiet records and retention (see slots.h).
 */
#include "slots.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sl_error.h"
#include "txnrec.h"

#define SLOTS_MAX 256              /* slots whose retention is remembered */
#define SLOTS_QUIET_SCAN_MAX 10000 /* records slots_skip_quiet looks at, at most */

bool slots_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > SLOTS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return false;
	return true;
}

bool slots_is_table(const char *table) { return table && sqlite3_stricmp(table, SLOTS_TABLE) == 0; }

bool slots_is_own_ddl(const void *sql, size_t len)
{
	return len == strlen(SLOTS_CREATE_SQL) && memcmp(sql, SLOTS_CREATE_SQL, len) == 0;
}

bool slots_guarded(int action, const char *a1, const char *a2)
{
	switch (action) {
	case SQLITE_INSERT:
	case SQLITE_UPDATE:
	case SQLITE_DELETE:
	case SQLITE_CREATE_TABLE:
	case SQLITE_DROP_TABLE:
		return slots_is_table(a1);
	case SQLITE_ALTER_TABLE:       /* a1 the database, a2 the table */
	case SQLITE_CREATE_INDEX:      /* a1 the index, a2 the table */
	case SQLITE_DROP_INDEX:
	case SQLITE_CREATE_TRIGGER:
	case SQLITE_DROP_TRIGGER:
		return slots_is_table(a2);
	default:
		return false;
	}
}

/* Whether every change of a changeset is to the slot table. */
static bool changeset_own(const uint8_t *data, uint32_t len)
{
	sqlite3_changeset_iter *it = NULL;
	if (sqlite3changeset_start(&it, (int)len, (void *)data) != SQLITE_OK)
		return false;
	bool own = true;
	int step;
	while (own && (step = sqlite3changeset_next(it)) == SQLITE_ROW) {
		const char *name;
		int ncol, op, indirect;
		own = sqlite3changeset_op(it, &name, &ncol, &op, &indirect) == SQLITE_OK && slots_is_table(name);
	}
	return sqlite3changeset_finalize(it) == SQLITE_OK && own;
}

bool slots_record_quiet(const struct record *rec)
{
	if (rec->type == RECORD_EPOCH)
		return true;
	if (rec->type != RECORD_TXN)
		return false;
	struct buf raw;
	buf_init(&raw);
	struct txnrec tr;
	bool quiet = record_payload(rec, &raw) == 0 && txnrec_decode(raw.data, raw.len, &tr) == 0 &&
		     (tr.sections & TXNREC_LOGICAL);
	struct txnrec_iter it;
	if (quiet)
		txnrec_items(&tr, &it);
	uint8_t kind;
	const uint8_t *data;
	uint32_t len;
	while (quiet && txnrec_next_item(&it, &kind, &data, &len) == 1) {
		if (kind == TXNREC_DDL)
			quiet = slots_is_own_ddl(data, len);
		else if (kind == TXNREC_CHANGESET && len > 0)
			quiet = changeset_own(data, len);
	}
	buf_free(&raw);
	return quiet;
}

uint64_t slots_skip_quiet(struct replog *log, uint64_t from, uint64_t limit, uint64_t *commit_ts)
{
	*commit_ts = 0;
	if (from >= limit)
		return from;
	struct replog_reader *r = NULL;
	if (replog_reader_open(log, from, &r) != 0)
		return from;
	uint64_t at = from;
	struct record rec;
	for (int n = 0; n < SLOTS_QUIET_SCAN_MAX && at < limit; n++) {
		if (replog_reader_next(r, &rec, 0) != 0)
			break;
		if (!slots_record_quiet(&rec)) {
			*commit_ts = rec.commit_ts;
			break;
		}
		at = replog_reader_position(r);
	}
	replog_reader_close(r);
	return at;
}

bool slots_lost(struct replog *log, uint64_t confirmed, uint64_t end, uint64_t max_lag)
{
	return confirmed < replog_start_lsn(log) || (max_lag > 0 && end > confirmed && end - confirmed > max_lag);
}

/* The names of the slots whose retention the log was told, so a dropped
 * one is forgotten. */
static struct {
	pthread_mutex_t mu;
	int n;
	char names[SLOTS_MAX][SLOTS_NAME_MAX + 1];
} retained = { PTHREAD_MUTEX_INITIALIZER, 0, { { 0 } } };

static void consumer_name(const char *slot, char *out, size_t outlen) { snprintf(out, outlen, "slot:%s", slot); }

int slots_retain_all(sqlite3 *db, struct replog *log, uint64_t max_lag)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT name, confirmed_lsn FROM " SLOTS_TABLE, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		/* no slot table yet: no slots */
		rc = sqlite3_errmsg(db) && strstr(sqlite3_errmsg(db), "no such table") ? SQLITE_OK : rc;
	}
	if (rc != SQLITE_OK)
		return rc;
	char consumer[SLOTS_NAME_MAX + 8];
	pthread_mutex_lock(&retained.mu);
	int before = retained.n;
	bool seen[SLOTS_MAX] = { false };
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name || strlen(name) > SLOTS_NAME_MAX)
			continue;
		consumer_name(name, consumer, sizeof(consumer));
		replog_retain_within(log, consumer, (uint64_t)sqlite3_column_int64(st, 1), max_lag);
		int i = 0;
		while (i < retained.n && strcmp(retained.names[i], name) != 0)
			i++;
		if (i == retained.n && retained.n < SLOTS_MAX)
			snprintf(retained.names[retained.n++], sizeof(retained.names[0]), "%s", name);
		if (i < SLOTS_MAX)
			seen[i] = true;
	}
	rc = st ? sqlite3_finalize(st) : SQLITE_OK;
	for (int i = before - 1; rc == SQLITE_OK && i >= 0; i--) {
		if (seen[i])
			continue;
		consumer_name(retained.names[i], consumer, sizeof(consumer));
		replog_retain(log, consumer, UINT64_MAX);
		memcpy(retained.names[i], retained.names[retained.n - 1], sizeof(retained.names[0]));
		seen[i] = seen[retained.n - 1];
		retained.n--;
	}
	pthread_mutex_unlock(&retained.mu);
	return rc;
}
