/*
 * tls.h — TLS with OpenSSL: the server context made from the ssl_*
 * settings, and non-blocking handshakes, reads and writes that say what
 * they wait for, so that an event loop can drive them.
 */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

/* What a non-blocking TLS call came to. */
enum tls_io {
	TLS_IO_DONE,       /* the handshake ended, or some bytes moved */
	TLS_IO_WANT_READ,  /* call again once the socket is readable */
	TLS_IO_WANT_WRITE, /* call again once the socket is writable */
	TLS_IO_CLOSED,     /* the peer ended the TLS session */
	TLS_IO_ERROR,      /* the session is broken: tls_error() says why */
};

/*
 * The server side's context from cfg (ssl_cert_file, ssl_key_file,
 * ssl_ca_file, ssl_min_protocol_version): NULL with a message in err when
 * a file is missing, unreadable or does not match, or the key file may be
 * read by group or others. With ssl_ca_file, a client that sends a
 * certificate must have one that file's CAs signed. ALPN: a client that
 * offers protocols must offer "postgresql".
 */
SSL_CTX *tls_server_ctx(const struct config *cfg, char *err, size_t errlen);

/*
 * The peer port's contexts (peer_ssl), for the accepting or the dialing
 * side: both present ssl_cert_file and require the other's certificate,
 * signed by a CA of ssl_ca_file. NULL with err.
 */
SSL_CTX *tls_peer_ctx(const struct config *cfg, bool accepting, char *err, size_t errlen);
/* A new client-side session on fd, to verify that the server's
 * certificate names host (an IP address or a host name), or NULL. */
SSL *tls_connect_new(SSL_CTX *ctx, int fd, const char *host);

/* A new server-side session on the connected socket fd, or NULL. */
SSL *tls_accept_new(SSL_CTX *ctx, int fd);

enum tls_io tls_handshake(SSL *ssl);
/* Reads up to len bytes into buf; *got is set on TLS_IO_DONE. */
enum tls_io tls_read(SSL *ssl, void *buf, size_t len, size_t *got);
/* Writes up to len bytes of buf; *put is set on TLS_IO_DONE. */
enum tls_io tls_write(SSL *ssl, const void *buf, size_t len, size_t *put);
/* Whether ALPN agreed on "postgresql". */
bool tls_alpn_postgresql(SSL *ssl);
/* Frees the session; with notify (no TLS error happened), after sending
 * close_notify if the socket takes it at once. */
void tls_free(SSL *ssl, bool notify);
/* The reason of the last failure on this thread, as text in buf. */
const char *tls_error(char *buf, size_t len);

#endif
