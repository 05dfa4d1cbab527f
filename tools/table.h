/*
 * table.h — aligned text tables for the tools' human-readable output: a
 * header line, then one line per row, columns padded to their widest cell.
 *
 * A table copies every cell it is given. Cells are made safe to print on
 * the way in: control characters and bytes that are not valid UTF-8 become
 * '?', so a name chosen by someone else cannot break the layout or send
 * escape sequences to the terminal. Widths count code points (a character
 * that a terminal draws two columns wide still counts one).
 */
#ifndef SL_TOOLS_TABLE_H
#define SL_TOOLS_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum table_align {
	TABLE_LEFT,
	TABLE_RIGHT, /* numbers */
};

struct table_column {
	const char *header;
	enum table_align align;
	bool hide_empty; /* left out when every row's cell in it is empty */
};

struct table {
	const struct table_column *cols; /* not owned; must outlive the table */
	size_t ncols;
	char **cells; /* nrows * ncols, row by row; NULL for an empty cell */
	size_t nrows, cap;
};

/* cols[0..ncols) describes the columns; ncols > 0. */
void table_init(struct table *t, const struct table_column *cols, size_t ncols);
/* Frees the cells; the table may be initialised again afterwards. */
void table_free(struct table *t);

/*
 * Appends a row: cells[0..ncols), each NULL or "" for an empty cell.
 * Returns 0, or SL_ENOMEM with the table as it was.
 */
int table_add_row(struct table *t, const char *const *cells);

/*
 * Appends the table to out (check out->oom): the header line and the rows,
 * each ending in '\n'. Columns are separated by two spaces, an empty cell
 * prints as "-", and a line has no trailing blanks.
 */
void table_format(const struct table *t, struct buf *out);

#endif
