/*
 * lastpages.c — the last logged images of recently written pages (see
 * lastpages.h).
 */
#include "lastpages.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pagedelta.h"
#include "sl_error.h"
#include "txnrec.h"

#define SLOTS_MIN 16

struct slot {
	uint32_t pgno; /* 0: empty */
	uint32_t crc;
	uint8_t *image;
};

struct pending {
	uint32_t pgno, crc;
	const uint8_t *data;
};

struct lastpages {
	size_t bytes;
	uint32_t page_size; /* of the images held; the table is made on first use */
	struct slot *slots;
	size_t nslots;
	uint8_t *images;
	uint8_t *zero;      /* the base of a page past the end: a follower reads zeros */
	uint32_t zero_crc;
	uint32_t db_pages;  /* after the last commit */
	bool size_known;    /* db_pages is (a commit was logged) */
	struct pending *pending;
	size_t npending, pending_cap;
};

struct lastpages *lastpages_new(size_t bytes)
{
	struct lastpages *lp = calloc(1, sizeof(*lp));
	if (lp)
		lp->bytes = bytes;
	return lp;
}

static void drop_table(struct lastpages *lp)
{
	free(lp->slots);
	free(lp->images);
	free(lp->zero);
	lp->slots = NULL;
	lp->images = NULL;
	lp->zero = NULL;
	lp->nslots = 0;
	lp->page_size = 0;
}

void lastpages_free(struct lastpages *lp)
{
	if (!lp)
		return;
	drop_table(lp);
	free(lp->pending);
	free(lp);
}

/* The table for pages of page_size (a new one if the size changed). */
static int make_table(struct lastpages *lp, uint32_t page_size)
{
	if (lp->page_size == page_size)
		return 0;
	drop_table(lp);
	size_t n = lp->bytes / page_size;
	if (n < SLOTS_MIN)
		n = SLOTS_MIN;
	lp->slots = calloc(n, sizeof(*lp->slots));
	lp->images = malloc(n * page_size);
	lp->zero = calloc(1, page_size);
	if (!lp->slots || !lp->images || !lp->zero) {
		drop_table(lp);
		return SL_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		lp->slots[i].image = lp->images + i * page_size;
	lp->nslots = n;
	lp->page_size = page_size;
	lp->zero_crc = pagedelta_crc(2, lp->zero, page_size);
	return 0;
}

static struct slot *slot_of(struct lastpages *lp, uint32_t pgno) { return &lp->slots[pgno % lp->nslots]; }

int lastpages_put(struct lastpages *lp, struct buf *b, uint32_t pgno, const uint8_t *data, uint32_t page_size)
{
	uint32_t crc = pagedelta_crc(pgno, data, page_size);
	int rc = make_table(lp, page_size);
	if (rc == 0 && lp->npending == lp->pending_cap) {
		size_t cap = lp->pending_cap ? lp->pending_cap * 2 : 64;
		struct pending *p = realloc(lp->pending, cap * sizeof(*p));
		if (p) {
			lp->pending = p;
			lp->pending_cap = cap;
		} else {
			rc = SL_ENOMEM;
		}
	}
	const uint8_t *base = NULL;
	uint32_t base_crc = 0;
	const struct slot *s = rc == 0 ? slot_of(lp, pgno) : NULL;
	if (s && s->pgno == pgno) {
		base = s->image;
		base_crc = s->crc;
	} else if (rc == 0 && lp->size_known && pgno > lp->db_pages && pgno != 1) {
		base = lp->zero;
		base_crc = lp->zero_crc;
	}
	if (!(base && txnrec_put_page_delta(b, pgno, base, base_crc, data, crc, page_size)))
		txnrec_put_page(b, pgno, data, page_size);
	if (rc == 0)
		lp->pending[lp->npending++] = (struct pending){ pgno, crc, data };
	else if (lp->slots)
		slot_of(lp, pgno)->pgno = 0; /* its image there is not the last any more */
	return rc;
}

void lastpages_commit(struct lastpages *lp, uint32_t db_pages)
{
	if (!lp)
		return;
	for (size_t i = 0; i < lp->npending; i++) {
		struct slot *s = slot_of(lp, lp->pending[i].pgno);
		s->pgno = lp->pending[i].pgno;
		s->crc = lp->pending[i].crc;
		memcpy(s->image, lp->pending[i].data, lp->page_size);
	}
	lp->npending = 0;
	if (db_pages < lp->db_pages)
		for (size_t i = 0; i < lp->nslots; i++)
			if (lp->slots[i].pgno > db_pages)
				lp->slots[i].pgno = 0;
	lp->db_pages = db_pages;
	lp->size_known = true;
}

void lastpages_abort(struct lastpages *lp)
{
	if (lp)
		lp->npending = 0;
}
