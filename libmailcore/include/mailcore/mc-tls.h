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
/* Per-domain certificates chosen by SNI. Loads every NAME.pem (chain)
 * with its NAME.key from dir into contexts made like ctx (same settings)
 * and makes ctx switch to the one whose certificate covers the name the
 * client sent: an exact DNS subjectAltName first (the subject CN when the
 * certificate has none), then a "*.parent" wildcard one label deep. Other
 * names, and clients sending no SNI, keep ctx's own certificate. The
 * loaded contexts are freed with ctx. Returns how many certificates were
 * loaded, or -1 with err naming the file (a pair missing its key, a key
 * not matching its certificate, an unreadable file). */
int mc_tls_sni_load(SSL_CTX *ctx, const struct mc_tls_settings *set,
		    const char *dir, struct mc_error *err);

/* OpenSSL's error queue as one line (and cleared), for error messages.
 * Returns buf. */
const char *mc_tls_last_error(char *buf, size_t size);

#endif
