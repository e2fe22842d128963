/* mc-tls: OpenSSL server contexts. TLS 1.2 or newer only, a certificate
 * chain and key per listener, server cipher preference, no compression,
 * no renegotiation. */
#ifndef MC_TLS_H
#define MC_TLS_H

#include <openssl/ssl.h>

struct mc_error;

struct mc_tls_settings {
	const char *cert_file;	 /* PEM chain, leaf first */
	const char *key_file;	 /* PEM private key */
	const char *min_version; /* "1.2" (default when NULL) or "1.3" */
};

/* Returns a new context the caller frees with SSL_CTX_free(), or NULL with
 * err set (naming the file and OpenSSL's reason). */
SSL_CTX *mc_tls_server_ctx_create(const struct mc_tls_settings *set,
				  struct mc_error *err);
/* OpenSSL's error queue as one line (and cleared), for error messages.
 * Returns buf. */
const char *mc_tls_last_error(char *buf, size_t size);

#endif
