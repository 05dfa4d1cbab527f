/*
 * members.h — the cluster's static membership, from the `peers` setting:
 * 'name@host:port, name@host:port, ...' (node names and peer addresses).
 * Every node lists all of them, itself included; a follower that loses
 * its leader tries the others' peer addresses in turn until one leads.
 * The parser is pure: text in, list out.
 */
#ifndef SL_MEMBERS_H
#define SL_MEMBERS_H

#include <stddef.h>

#define MEMBERS_MAX 16
#define MEMBERS_NAME_MAX 64
#define MEMBERS_ADDR_MAX 256

struct member {
	char name[MEMBERS_NAME_MAX];
	char addr[MEMBERS_ADDR_MAX]; /* host:port of its peer port */
};

struct members {
	struct member v[MEMBERS_MAX];
	int n;
};

/*
 * Parses text (empty: no members). Names are 1 to 63 printable characters
 * without '@', ',' or blanks, each once; addresses host:port or
 * [v6]:port with a port from 1 to 65535. 0, or -1 with err.
 */
int members_parse(const char *text, struct members *out, char *err, size_t errlen);
/* The member called name, or NULL. */
const struct member *members_find(const struct members *m, const char *name);

#endif
