/*
 * users.h — the password file: who may log in and with what secret.
 *
 * Format: one user per line, `name:secret`; `#` starts a comment line;
 * blank lines are ignored; the secret runs to the end of the line (it may
 * contain ':'), and is a plain password or a SCRAM-SHA-256 verifier (see
 * scram.h). A malformed line is an error naming the file and line.
 */
#ifndef SL_USERS_H
#define SL_USERS_H

#include <stddef.h>

struct users;

/* Returns 0 and *out, or SL_EIO/SL_EINVAL/SL_ENOMEM with err filled. */
int users_load(const char *path, struct users **out, char *err, size_t errlen);
/* The user's secret as written (for a cleartext password check), or NULL
 * when there is no such user. */
const char *users_secret(const struct users *u, const char *name);
/* The user's SCRAM-SHA-256 verifier (made at load for a plain password),
 * or NULL when there is no such user. */
const char *users_verifier(const struct users *u, const char *name);
void users_free(struct users *u);

#endif
