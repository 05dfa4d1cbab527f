/*
 * table.c — aligned text tables (see table.h).
 *
 * Cells are cleaned when they are added, so that formatting only measures
 * and pads: after cleaning a cell is valid UTF-8 without control
 * characters, and its width is its number of code points (bytes that are
 * not continuation bytes).
 */
#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "sl_error.h"

#define TABLE_GAP "  "
#define TABLE_EMPTY "-"

void table_init(struct table *t, const struct table_column *cols, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->ncols = ncols;
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* A printable copy of s: valid UTF-8, control characters as '?'. NULL for
 * an empty cell, and (with *oom set) when memory runs out. */
static char *cell_clean(const char *s, bool *oom)
{
	if (!s || !s[0])
		return NULL;
	size_t n = strlen(s);
	char *out = malloc(n + 1); /* cleaning never lengthens */
	if (!out) {
		*oom = true;
		return NULL;
	}
	const uint8_t *p = (const uint8_t *)s;
	size_t o = 0;
	while (n > 0) {
		size_t len = json_utf8_len(p, n);
		if (len == 0 || p[0] < 0x20 || p[0] == 0x7F) {
			out[o++] = '?';
			len = len ? len : 1;
		} else {
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
		n -= len;
	}
	out[o] = '\0';
	return out;
}

int table_add_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		if (cap > SIZE_MAX / sizeof(char *) / t->ncols)
			return SL_ENOMEM;
		char **more = realloc(t->cells, cap * t->ncols * sizeof(char *));
		if (!more)
			return SL_ENOMEM;
		t->cells = more;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	bool oom = false;
	for (size_t c = 0; c < t->ncols; c++)
		row[c] = cell_clean(cells[c], &oom);
	if (oom) {
		for (size_t c = 0; c < t->ncols; c++)
			free(row[c]);
		return SL_ENOMEM;
	}
	t->nrows++;
	return 0;
}

/* Code points in a cleaned cell. */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((uint8_t)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static const char *cell_text(const struct table *t, size_t row, size_t col)
{
	const char *s = t->cells[row * t->ncols + col];
	return s ? s : TABLE_EMPTY;
}

static void put_padding(struct buf *out, size_t n)
{
	static const char spaces[] = "                                ";
	while (n > 0) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
		buf_append(out, spaces, k);
		n -= k;
	}
}

/* The header line, or the line of row `row`: the shown columns only, and
 * no padding after the last one. */
static void put_line(const struct table *t, const size_t *width, const bool *shown, struct buf *out,
		     size_t row, bool header)
{
	size_t last = 0;
	for (size_t c = 0; c < t->ncols; c++)
		if (shown[c])
			last = c;
	bool first = true;
	for (size_t c = 0; c < t->ncols; c++) {
		if (!shown[c])
			continue;
		const char *s = header ? t->cols[c].header : cell_text(t, row, c);
		size_t pad = width[c] - text_width(s);
		if (!first)
			buf_append(out, TABLE_GAP, sizeof(TABLE_GAP) - 1);
		first = false;
		if (t->cols[c].align == TABLE_RIGHT)
			put_padding(out, pad);
		buf_append(out, s, strlen(s));
		if (t->cols[c].align == TABLE_LEFT && c != last)
			put_padding(out, pad);
	}
	buf_put_u8(out, '\n');
}

void table_format(const struct table *t, struct buf *out)
{
	size_t *width = calloc(t->ncols, sizeof(*width));
	bool *shown = calloc(t->ncols, sizeof(*shown));
	if (!width || !shown) {
		out->oom = true;
		goto done;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		width[c] = text_width(t->cols[c].header);
		shown[c] = !t->cols[c].hide_empty;
		for (size_t r = 0; r < t->nrows; r++) {
			if (t->cells[r * t->ncols + c])
				shown[c] = true;
			size_t w = text_width(cell_text(t, r, c));
			if (w > width[c])
				width[c] = w;
		}
	}
	put_line(t, width, shown, out, 0, true);
	for (size_t r = 0; r < t->nrows; r++)
		put_line(t, width, shown, out, r, false);
done:
	free(width);
	free(shown);
}
