/*
 * tls.c — TLS with OpenSSL (see tls.h).
 *
 * The key file is checked as PostgreSQL checks its own: owned by this
 * user with no access for group or others (0600 or less), or owned by
 * root and readable by the group at most (0640 or less). Renegotiation
 * is off; writes may be partial and their buffer may move between tries,
 * which is what a connection's output buffer does.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

static const unsigned char ALPN_POSTGRESQL[] = "\x0apostgresql";

const char *tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e == 0)
		snprintf(buf, len, "%s", errno ? strerror(errno) : "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *ctx_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what, const char *path)
{
	char why[256];
	snprintf(err, errlen, "%s \"%s\": %s", what, path, tls_error(why, sizeof(why)));
	SSL_CTX_free(ctx);
	return NULL;
}

static int key_file_private(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "could not read ssl_key_file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "ssl_key_file \"%s\" is not a regular file", path);
		return -1;
	}
	bool mine = st.st_uid == geteuid();
	if ((!mine && st.st_uid != 0) || (mine && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
	    (!mine && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)))) {
		snprintf(err, errlen,
			 "ssl_key_file \"%s\" has group or world access, or another owner: it must be owned by this "
			 "user with permissions u=rw (0600) or less, or by root with u=rw,g=r (0640) or less",
			 path);
		return -1;
	}
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, ALPN_POSTGRESQL, sizeof(ALPN_POSTGRESQL) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* offered protocols, none of them ours */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* A context with this node's certificate and key (what = the setting that
 * asks for them, for messages), or NULL with err. */
static SSL_CTX *identity_ctx(const struct config *cfg, const SSL_METHOD *method, const char *what, char *err,
			     size_t errlen)
{
	if (!cfg->ssl_cert_file[0] || !cfg->ssl_key_file[0]) {
		snprintf(err, errlen, "%s = on needs ssl_cert_file and ssl_key_file", what);
		return NULL;
	}
	if (key_file_private(cfg->ssl_key_file, err, errlen) != 0)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx) {
		char why[256];
		snprintf(err, errlen, "could not create a TLS context: %s", tls_error(why, sizeof(why)));
		return NULL;
	}
	int min = cfg->ssl_min_protocol_version == CONFIG_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
	SSL_CTX_set_min_proto_version(ctx, min);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0); /* no resumption: nothing to send after the handshake */
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->ssl_cert_file) != 1)
		return ctx_fail(ctx, err, errlen, "could not load ssl_cert_file", cfg->ssl_cert_file);
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->ssl_key_file, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(ctx, err, errlen, "could not load ssl_key_file", cfg->ssl_key_file);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ctx_fail(ctx, err, errlen, "ssl_key_file does not match ssl_cert_file", cfg->ssl_key_file);
	return ctx;
}

SSL_CTX *tls_server_ctx(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = identity_ctx(cfg, TLS_server_method(), "ssl", err, errlen);
	if (!ctx)
		return NULL;
	if (cfg->ssl_ca_file[0]) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ssl_ca_file);
		if (!names || SSL_CTX_load_verify_locations(ctx, cfg->ssl_ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			return ctx_fail(ctx, err, errlen, "could not load ssl_ca_file", cfg->ssl_ca_file);
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL); /* a certificate sent must verify */
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

SSL_CTX *tls_peer_ctx(const struct config *cfg, bool accepting, char *err, size_t errlen)
{
	if (!cfg->ssl_ca_file[0]) {
		snprintf(err, errlen, "peer_ssl = on needs ssl_ca_file: members verify each other against it");
		return NULL;
	}
	SSL_CTX *ctx = identity_ctx(cfg, accepting ? TLS_server_method() : TLS_client_method(), "peer_ssl", err,
				    errlen);
	if (!ctx)
		return NULL;
	if (SSL_CTX_load_verify_locations(ctx, cfg->ssl_ca_file, NULL) != 1)
		return ctx_fail(ctx, err, errlen, "could not load ssl_ca_file", cfg->ssl_ca_file);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

SSL *tls_connect_new(SSL_CTX *ctx, int fd, const char *host)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	/* the certificate must name the address dialled: an IP, or a host
	 * name (which also goes as SNI) */
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	int named = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
			  : SSL_set1_host(ssl, host) && SSL_set_tlsext_host_name(ssl, host);
	if (named != 1 || SSL_set_fd(ssl, fd) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

SSL *tls_accept_new(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

static enum tls_io outcome(SSL *ssl, int rc)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_CLOSED;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET || errno == EPIPE))
			return TLS_IO_CLOSED; /* the socket ended without close_notify */
		return TLS_IO_ERROR;
	default:
		return TLS_IO_ERROR;
	}
}

enum tls_io tls_handshake(SSL *ssl)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_do_handshake(ssl);
	return rc == 1 ? TLS_IO_DONE : outcome(ssl, rc);
}

enum tls_io tls_read(SSL *ssl, void *buf, size_t len, size_t *got)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_read_ex(ssl, buf, len, got);
	return rc == 1 ? TLS_IO_DONE : outcome(ssl, rc);
}

enum tls_io tls_write(SSL *ssl, const void *buf, size_t len, size_t *put)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_write_ex(ssl, buf, len, put);
	return rc == 1 ? TLS_IO_DONE : outcome(ssl, rc);
}

bool tls_alpn_postgresql(SSL *ssl)
{
	const unsigned char *p;
	unsigned int n;
	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == sizeof(ALPN_POSTGRESQL) - 2 && memcmp(p, ALPN_POSTGRESQL + 1, n) == 0;
}

void tls_free(SSL *ssl, bool notify)
{
	if (!ssl)
		return;
	if (notify && SSL_is_init_finished(ssl))
		SSL_shutdown(ssl); /* non-blocking: close_notify goes if the socket takes it */
	ERR_clear_error();
	SSL_free(ssl);
}
