/*
 * changewalk.c — walking a TXN record's logical section (see changewalk.h).
 */
#include "changewalk.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sl_error.h"

struct walk {
	const struct change_walk_ops *ops;
	struct txnrec_table **tables; /* the TABLE items so far; a later one of a name wins */
	int ntables, cap;
};

static const struct txnrec_table *table_named(const struct walk *w, const char *name)
{
	for (int i = w->ntables - 1; i >= 0; i--)
		if (strcmp(w->tables[i]->name, name) == 0)
			return w->tables[i];
	return NULL;
}

static int add_table(struct walk *w, const uint8_t *data, uint32_t len)
{
	if (w->ntables == w->cap) {
		int cap = w->cap ? 2 * w->cap : 4;
		struct txnrec_table **v = realloc(w->tables, (size_t)cap * sizeof(*v));
		if (!v)
			return SL_ENOMEM;
		w->tables = v;
		w->cap = cap;
	}
	struct txnrec_table *t = malloc(sizeof(*t));
	if (!t)
		return SL_ENOMEM;
	if (txnrec_table_decode(data, len, t) != 0) {
		free(t);
		return SL_ECORRUPT;
	}
	w->tables[w->ntables++] = t;
	return 0;
}

static int walk_changeset(struct walk *w, const uint8_t *data, uint32_t len)
{
	sqlite3_changeset_iter *it = NULL;
	if (sqlite3changeset_start(&it, (int)len, (void *)data) != SQLITE_OK)
		return SL_ECORRUPT;
	int step;
	while ((step = sqlite3changeset_next(it)) == SQLITE_ROW) {
		const char *name;
		int ncol, op, indirect;
		if (sqlite3changeset_op(it, &name, &ncol, &op, &indirect) != SQLITE_OK)
			break;
		const struct txnrec_table *t = table_named(w, name);
		if (!t || t->ncols < ncol) { /* every changeset's tables are described before it */
			sqlite3changeset_finalize(it);
			return SL_ECORRUPT;
		}
		if (w->ops->change)
			w->ops->change(w->ops->arg, t, it, ncol, op);
	}
	int rc = sqlite3changeset_finalize(it);
	return step == SQLITE_DONE && rc == SQLITE_OK ? 0 : SL_ECORRUPT;
}

int change_walk(const struct record *rec, const struct change_walk_ops *ops)
{
	if (rec->type != RECORD_TXN)
		return 0;
	struct buf raw;
	buf_init(&raw);
	int rc = record_payload(rec, &raw);
	struct txnrec tr;
	if (rc == 0 && txnrec_decode(raw.data, raw.len, &tr) != 0)
		rc = SL_ECORRUPT;
	if (rc == 0 && !(tr.sections & TXNREC_LOGICAL))
		rc = SL_EINVAL;
	struct walk w = { .ops = ops };
	struct txnrec_iter it;
	if (rc == 0)
		txnrec_items(&tr, &it);
	uint8_t kind;
	const uint8_t *data;
	uint32_t len;
	while (rc == 0 && txnrec_next_item(&it, &kind, &data, &len) == 1) {
		if (kind == TXNREC_TABLE)
			rc = add_table(&w, data, len);
		else if (kind == TXNREC_CHANGESET && len > 0)
			rc = walk_changeset(&w, data, len);
		else if (kind == TXNREC_DDL && ops->ddl)
			ops->ddl(ops->arg, data, len);
	}
	for (int i = 0; i < w.ntables; i++)
		free(w.tables[i]);
	free(w.tables);
	buf_free(&raw);
	return rc;
}

sqlite3_value *change_old(sqlite3_changeset_iter *it, int i)
{
	sqlite3_value *v = NULL;
	sqlite3changeset_old(it, i, &v);
	return v;
}

sqlite3_value *change_new(sqlite3_changeset_iter *it, const struct txnrec_table *t, int i)
{
	sqlite3_value *v = NULL;
	if (sqlite3changeset_new(it, i, &v) == SQLITE_OK && !v && t->pk[i])
		sqlite3changeset_old(it, i, &v);
	return v;
}
