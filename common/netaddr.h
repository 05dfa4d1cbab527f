/*
 * netaddr.h — socket addresses as text ("host:port") and their ports.
 */
#ifndef SL_NETADDR_H
#define SL_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* "127.0.0.1:5433", "::1:5433"; "?:0" for a family other than IPv4/IPv6. */
void netaddr_format(const struct sockaddr_storage *ss, char *out, size_t outlen);
/* The port of an IPv4 or IPv6 address (0 otherwise). */
int netaddr_port(const struct sockaddr_storage *ss);

#endif
