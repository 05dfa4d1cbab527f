/*
 * members.c — parsing the `peers` setting (see members.h).
 */
#include "members.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *what, const char *item)
{
	snprintf(err, errlen, "invalid peers entry \"%.100s\": %s", item, what);
	return -1;
}

static int parse_one(const char *item, struct member *m, char *err, size_t errlen)
{
	const char *at = strchr(item, '@');
	if (!at)
		return fail(err, errlen, "want name@host:port", item);
	size_t nlen = (size_t)(at - item);
	if (nlen == 0 || nlen >= MEMBERS_NAME_MAX)
		return fail(err, errlen, "the name must be 1 to 63 characters", item);
	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)item[i] < 0x21 || (unsigned char)item[i] > 0x7E)
			return fail(err, errlen, "the name has a blank or a control character", item);
	const char *addr = at + 1;
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || strlen(addr) >= MEMBERS_ADDR_MAX)
		return fail(err, errlen, "want name@host:port", item);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || colon[1] == '\0' || port < 1 || port > 65535)
		return fail(err, errlen, "the port must be 1 to 65535", item);
	memcpy(m->name, item, nlen);
	m->name[nlen] = '\0';
	snprintf(m->addr, sizeof(m->addr), "%s", addr);
	return 0;
}

int members_parse(const char *text, struct members *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *p = text;
	while (*p) {
		p += strspn(p, " \t,");
		size_t len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			break;
		char item[MEMBERS_NAME_MAX + MEMBERS_ADDR_MAX + 2];
		if (len >= sizeof(item)) {
			snprintf(err, errlen, "invalid peers entry: too long");
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (out->n == MEMBERS_MAX) {
			snprintf(err, errlen, "too many peers: at most %d", MEMBERS_MAX);
			return -1;
		}
		struct member m;
		if (parse_one(item, &m, err, errlen) != 0)
			return -1;
		if (members_find(out, m.name)) {
			snprintf(err, errlen, "peers names %s twice", m.name);
			return -1;
		}
		out->v[out->n++] = m;
		p += strcspn(p, ",");
	}
	return 0;
}

const struct member *members_find(const struct members *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0)
			return &m->v[i];
	return NULL;
}
