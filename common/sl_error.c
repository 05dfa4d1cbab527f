/*
 * sl_error.c — names for the codes of sl_error.h, for log lines.
 */
#include "sl_error.h"

const char *sl_strerror(int code)
{
	switch (code) {
	case SL_OK: return "ok";
	case SL_ENOMEM: return "out of memory";
	case SL_EIO: return "input/output error";
	case SL_EPROTO: return "protocol violation";
	case SL_ECORRUPT: return "corrupt data";
	case SL_EFENCED: return "fenced by a newer epoch";
	case SL_ETIMEDOUT: return "timed out";
	case SL_EINVAL: return "invalid argument";
	case SL_EAGAIN: return "need more input";
	case SL_ETOOBIG: return "too large";
	case SL_ENOTFOUND: return "not found";
	case SL_EAUTH: return "authentication failed";
	}
	return "unknown error";
}
