/*
 * users.c — loads the password file (see users.h) into a sorted table.
 *
 * The file, as text lines ending in "\n" (a "\r" before it is dropped too):
 *
 *   # a comment: the first non-blank character is '#'
 *   alice:s3cret                          plain password
 *   bob:SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>
 *   carol:pass:with:colons                the secret is "pass:with:colons"
 *
 * Lines of only blanks (space, tab) are skipped. Elsewhere nothing is
 * trimmed: the name is everything before the first ':', the secret
 * everything after it. Errors, each "PATH:LINE: message": a line without
 * ':', an empty name, an empty secret, a NUL byte, a name given twice.
 *
 * Loaded once at start-up (and again on reload, into a new table); read-only
 * afterwards, so any thread may look users up. Secrets are wiped on free.
 * A plain password also gets a SCRAM verifier when the file is loaded, with
 * a random salt of its own (scram_make_verifier): no login derives keys,
 * so a real user's SCRAM exchange and an unknown one's take the same time
 * and cost the event loop no PBKDF2, and two users with one password get
 * two salts.
 */
#include "users.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "log.h"
#include "scram.h"
#include "sl_error.h"

#define VERIFIER_MAX 256

struct user {
	char *name;
	char *secret;
	char *verifier; /* a plain password's, made at load; NULL when secret is one */
	size_t line;
};

struct users {
	struct user *v;
	size_t n;
	size_t cap;
};

static int user_cmp(const void *a, const void *b)
{
	const struct user *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static bool users_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

static bool users_comment(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < n && s[i] == '#';
}

/* Adds one `name:secret` line; 0, SL_EINVAL or SL_ENOMEM with err filled. */
static int users_add(struct users *u, const char *path, size_t lineno, const char *s, size_t n, char *err,
		     size_t errlen)
{
	const char *colon = memchr(s, ':', n);
	if (memchr(s, '\0', n)) {
		snprintf(err, errlen, "%s:%zu: NUL byte in line", path, lineno);
		return SL_EINVAL;
	}
	if (!colon) {
		snprintf(err, errlen, "%s:%zu: missing ':' between user name and secret", path, lineno);
		return SL_EINVAL;
	}
	size_t name_len = (size_t)(colon - s), secret_len = n - name_len - 1;
	if (name_len == 0) {
		snprintf(err, errlen, "%s:%zu: empty user name", path, lineno);
		return SL_EINVAL;
	}
	if (secret_len == 0) {
		snprintf(err, errlen, "%s:%zu: empty secret for user \"%.*s\"", path, lineno, (int)name_len, s);
		return SL_EINVAL;
	}
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 16;
		struct user *v = realloc(u->v, cap * sizeof(*v));
		if (!v)
			goto oom;
		u->v = v;
		u->cap = cap;
	}
	struct user *e = &u->v[u->n];
	e->name = strndup(s, name_len);
	e->secret = strndup(colon + 1, secret_len);
	e->verifier = NULL;
	e->line = lineno;
	if (!e->name || !e->secret) {
		free(e->name);
		free(e->secret);
		goto oom;
	}
	u->n++;
	if (strncmp(e->secret, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) != 0) {
		char v[VERIFIER_MAX];
		if (scram_make_verifier(e->secret, v, sizeof(v)) != 0 || !(e->verifier = strdup(v))) {
			OPENSSL_cleanse(v, sizeof(v));
			snprintf(err, errlen, "%s:%zu: could not make a SCRAM verifier", path, lineno);
			return SL_ENOMEM;
		}
		OPENSSL_cleanse(v, sizeof(v));
	}
	return 0;
oom:
	snprintf(err, errlen, "%s:%zu: out of memory", path, lineno);
	return SL_ENOMEM;
}

static int users_read(struct users *u, FILE *f, const char *path, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t got;
	int rc = 0;

	for (;;) {
		errno = 0;
		got = getline(&line, &cap, f);
		if (got < 0)
			break;
		size_t n = (size_t)got;
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (users_blank(line, n) || users_comment(line, n))
			continue;
		rc = users_add(u, path, lineno, line, n, err, errlen);
		if (rc)
			goto out;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "could not read users file \"%s\": %s", path, strerror(errno));
		rc = SL_EIO;
	} else if (!feof(f)) { /* getline could not grow its buffer */
		snprintf(err, errlen, "%s: out of memory", path);
		rc = SL_ENOMEM;
	}
out:
	if (line)
		OPENSSL_cleanse(line, cap);
	free(line);
	return rc;
}

int users_load(const char *path, struct users **out, char *err, size_t errlen)
{
	char dummy[1];
	struct users *u = NULL;
	FILE *f = NULL;
	int rc;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	*out = NULL;
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "could not open users file \"%s\": %s", path, strerror(errno));
		return SL_EIO;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
		log_warn("users",
			 "the password file can be read or changed by other users than its owner (mode %04o): "
			 "passwords and verifiers in it are exposed; chmod 600 it file=%s",
			 (unsigned)(st.st_mode & 07777), path);
	u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = SL_ENOMEM;
		goto fail;
	}
	rc = users_read(u, f, path, err, errlen);
	if (rc)
		goto fail;
	if (u->n > 1)
		qsort(u->v, u->n, sizeof(*u->v), user_cmp);
	for (size_t i = 1; i < u->n; i++) {
		if (strcmp(u->v[i - 1].name, u->v[i].name) == 0) {
			snprintf(err, errlen, "%s:%zu: user \"%s\" already defined on line %zu", path, u->v[i].line,
				 u->v[i].name, u->v[i - 1].line);
			rc = SL_EINVAL;
			goto fail;
		}
	}
	fclose(f);
	*out = u;
	return 0;
fail:
	users_free(u);
	fclose(f);
	return rc;
}

static const struct user *find(const struct users *u, const char *name)
{
	if (!u || !name || u->n == 0)
		return NULL;
	size_t lo = 0, hi = u->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, u->v[mid].name);
		if (c == 0)
			return &u->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *users_secret(const struct users *u, const char *name)
{
	const struct user *e = find(u, name);
	return e ? e->secret : NULL;
}

const char *users_verifier(const struct users *u, const char *name)
{
	const struct user *e = find(u, name);
	return !e ? NULL : e->verifier ? e->verifier : e->secret;
}

void users_free(struct users *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++) {
		OPENSSL_cleanse(u->v[i].secret, strlen(u->v[i].secret));
		if (u->v[i].verifier)
			OPENSSL_cleanse(u->v[i].verifier, strlen(u->v[i].verifier));
		free(u->v[i].name);
		free(u->v[i].secret);
		free(u->v[i].verifier);
	}
	free(u->v);
	free(u);
}
