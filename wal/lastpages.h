/*
 * lastpages.h — the leader's memory of the last image the log holds of
 * recently written pages, so that the next write of such a page goes into
 * the log as a delta against it (txnrec_put_page_delta) instead of a whole
 * page.
 *
 * Bounded: a direct-mapped table of a few MB, whatever the database's
 * size; a page not in it (never logged by this process, or pushed out)
 * is logged whole, but for a page past the database's end, whose base is
 * zeros (a follower's file ends where the last record said). Writer
 * thread only.
 */
#ifndef SL_LASTPAGES_H
#define SL_LASTPAGES_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct lastpages;

/* A table of about `bytes` of page images; NULL when out of memory. */
struct lastpages *lastpages_new(size_t bytes);
void lastpages_free(struct lastpages *lp);

/*
 * Appends the page to b (a physical section's entry): a delta if its last
 * image is known and the delta is smaller, else the image. The page is
 * remembered as pending: data must stay valid until lastpages_commit or
 * lastpages_abort. SL_ENOMEM (nothing remembered) or 0.
 */
int lastpages_put(struct lastpages *lp, struct buf *b, uint32_t pgno, const uint8_t *data, uint32_t page_size);

/* The record with the pending pages is in the log: they are the last
 * images now; pages past db_pages are forgotten. (Both take NULL: no
 * physical log.) */
void lastpages_commit(struct lastpages *lp, uint32_t db_pages);
/* The record did not make it: forget the pending pages. */
void lastpages_abort(struct lastpages *lp);

#endif
