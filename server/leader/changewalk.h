/*
 * changewalk.h — the logical section of a TXN record, walked in the order
 * things happened: each DDL statement, and each row change with the
 * description (name, columns, primary key) of its table. What every
 * output of change events (cdc.h, decoding.h) is made from.
 */
#ifndef SL_CHANGEWALK_H
#define SL_CHANGEWALK_H

#include <sqlite3.h>
#include <stdint.h>

#include "record.h"
#include "txnrec.h"

struct change_walk_ops {
	void (*ddl)(void *arg, const uint8_t *sql, uint32_t len);
	/* it stands on the change: sqlite3changeset_old/new give its values;
	 * op is SQLITE_INSERT, SQLITE_UPDATE or SQLITE_DELETE; ncol <= t->ncols */
	void (*change)(void *arg, const struct txnrec_table *t, sqlite3_changeset_iter *it, int ncol, int op);
	void *arg;
};

/*
 * Walks rec (an EPOCH record holds nothing: 0 at once). 0; SL_EINVAL when
 * a TXN record has no logical section (log_mode = physical); SL_ECORRUPT;
 * SL_ENOMEM.
 */
int change_walk(const struct record *rec, const struct change_walk_ops *ops);

/* A changeset's old value of column i, or NULL; the new one, where an
 * UPDATE that left a key column as it was gives its old one. */
sqlite3_value *change_old(sqlite3_changeset_iter *it, int i);
sqlite3_value *change_new(sqlite3_changeset_iter *it, const struct txnrec_table *t, int i);

#endif
