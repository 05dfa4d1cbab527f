/*
 * sl_error.h — the one set of error codes used inside sluice.
 *
 * Internal functions return 0 on success or one of these negative values.
 * Detail, when there is any, goes into a caller-owned buffer or struct.
 */
#ifndef SL_ERROR_H
#define SL_ERROR_H

enum sl_error {
	SL_OK = 0,
	SL_ENOMEM = -1,    /* allocation failed */
	SL_EIO = -2,       /* read, write or fsync failed */
	SL_EPROTO = -3,    /* malformed bytes from a peer or client */
	SL_ECORRUPT = -4,  /* malformed bytes on disk */
	SL_EFENCED = -5,   /* refused: a newer epoch exists */
	SL_ETIMEDOUT = -6, /* a deadline passed */
	SL_EINVAL = -7,    /* bad argument or setting */
	SL_EAGAIN = -8,    /* not enough input yet; call again with more */
	SL_ETOOBIG = -9,   /* a length beyond the allowed maximum */
	SL_ENOTFOUND = -10,
	SL_EAUTH = -11,    /* authentication failed */
};

const char *sl_strerror(int code);

#endif
