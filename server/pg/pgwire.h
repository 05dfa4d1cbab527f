/*
 * pgwire.h — the PostgreSQL v3 message codec: bytes in, parsed structs out;
 * structs in, bytes appended to a buffer. No I/O, no SQLite.
 *
 * Frontend messages are decoded in place: every string and byte range in a
 * decoded struct points into the message body, which the caller keeps
 * alive. Every length is checked against the bytes present before use.
 */
#ifndef SL_PGWIRE_H
#define SL_PGWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PG_PROTOCOL_V3 196608u
#define PG_CANCEL_REQUEST_CODE 80877102u
#define PG_SSL_REQUEST_CODE 80877103u
#define PG_GSSENC_REQUEST_CODE 80877104u
#define PG_MAX_STARTUP_PARAMS 64
#define PG_MAX_STARTUP_LEN 10000u

/* One framed message: type byte (0 for the startup packet) and body. */
struct pg_msg {
	uint8_t type;
	const uint8_t *body;
	uint32_t len; /* body length, without type and length word */
};

/*
 * Frames the next message from data[0..avail). Returns 1 with *msg and
 * *consumed set, 0 when more bytes are needed, SL_EPROTO for a length below
 * 4, SL_ETOOBIG for a length above max.
 */
int pgwire_frame(const uint8_t *data, size_t avail, size_t max, struct pg_msg *msg, size_t *consumed);
/* The same for the untyped startup packet (length, then code and body). */
int pgwire_frame_startup(const uint8_t *data, size_t avail, struct pg_msg *msg, size_t *consumed);

struct pg_startup {
	uint32_t code; /* PG_PROTOCOL_V3, or one of the request codes */
	const char *keys[PG_MAX_STARTUP_PARAMS];
	const char *values[PG_MAX_STARTUP_PARAMS];
	int nparams;
	uint32_t cancel_pid, cancel_key; /* CancelRequest */
};

/* Returns 0 or SL_EPROTO (bad layout, unsupported protocol version). */
int pgwire_decode_startup(const struct pg_msg *msg, struct pg_startup *out);
const char *pgwire_startup_param(const struct pg_startup *s, const char *key);

struct pg_parse {
	const char *name;
	const char *query;
	uint16_t nparams;
	const uint8_t *param_oids; /* nparams big-endian u32 */
};

struct pg_value {
	const uint8_t *data; /* NULL for SQL NULL */
	int32_t len;         /* -1 for SQL NULL */
};

struct pg_bind {
	const char *portal;
	const char *stmt;
	uint16_t nformats;
	const uint8_t *formats; /* nformats big-endian i16 */
	uint16_t nparams;
	struct pg_value *params; /* malloc'd: free with pgwire_bind_free */
	uint16_t nresult_formats;
	const uint8_t *result_formats;
};

struct pg_describe { /* also Close */
	char kind;   /* 'S' statement or 'P' portal */
	const char *name;
};

struct pg_execute {
	const char *portal;
	uint32_t max_rows; /* 0 = all */
};

int pgwire_decode_query(const struct pg_msg *msg, const char **sql);
/* An ErrorResponse's SQLSTATE and message ("" when missing). */
void pgwire_error_fields(const struct pg_msg *msg, char *sqlstate, size_t statelen, char *message, size_t msglen);
int pgwire_decode_parse(const struct pg_msg *msg, struct pg_parse *out);
/* Returns 0, SL_EPROTO, or SL_ENOMEM. */
int pgwire_decode_bind(const struct pg_msg *msg, struct pg_bind *out);
void pgwire_bind_free(struct pg_bind *b);
int pgwire_decode_describe(const struct pg_msg *msg, struct pg_describe *out);
int pgwire_decode_execute(const struct pg_msg *msg, struct pg_execute *out);
/* PasswordMessage: one string. */
int pgwire_decode_password(const struct pg_msg *msg, const char **password);
/* SASLInitialResponse: mechanism and initial client data. */
int pgwire_decode_sasl_initial(const struct pg_msg *msg, const char **mechanism, const uint8_t **data,
			       uint32_t *len);
/* Format code i of a list of n codes (0 codes = text, 1 code = for all). */
int pgwire_format_at(const uint8_t *codes, uint16_t n, int i);
uint32_t pgwire_oid_at(const uint8_t *oids, uint16_t n, int i);

/* ---- backend messages ---- */

/* Starts a message of the given type; returns the offset for pgwire_end. */
size_t pgwire_begin(struct buf *b, char type);
void pgwire_end(struct buf *b, size_t start);

void pgwire_put_auth(struct buf *b, uint32_t code, const void *data, size_t len);
void pgwire_put_auth_sasl(struct buf *b); /* offers SCRAM-SHA-256 */
void pgwire_put_param_status(struct buf *b, const char *name, const char *value);
void pgwire_put_backend_key(struct buf *b, uint32_t pid, uint32_t key);
void pgwire_put_ready(struct buf *b, char status);
void pgwire_put_simple(struct buf *b, char type); /* '1' '2' '3' 'n' 's' 'I' */
void pgwire_put_command_complete(struct buf *b, const char *tag);
/* ErrorResponse ('E') or NoticeResponse ('N'); detail and hint may be NULL. */
void pgwire_put_error(struct buf *b, char type, const char *severity, const char *sqlstate, const char *message,
		      const char *detail, const char *hint);

/* RowDescription: begin, one field per column, end. */
size_t pgwire_row_description_begin(struct buf *b, uint16_t nfields);
void pgwire_row_description_field(struct buf *b, const char *name, uint32_t type_oid, int16_t typlen, int16_t format);
void pgwire_put_param_description(struct buf *b, uint16_t n, const uint32_t *oids);

/* DataRow: begin, one column at a time, end. */
size_t pgwire_data_row_begin(struct buf *b, uint16_t ncols);
void pgwire_data_row_null(struct buf *b);
void pgwire_data_row_value(struct buf *b, const void *data, size_t len);

#endif
