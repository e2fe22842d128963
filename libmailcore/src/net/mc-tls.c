/* mc-tls: OpenSSL server contexts for the listeners: TLS 1.2 or newer,
 * server cipher preference, no compression, no renegotiation, one
 * certificate chain and key loaded from PEM files. Errors name the file
 * and carry OpenSSL's reason. */
#include "mailcore/mc-tls.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-error.h"

/* Appends one queued OpenSSL error to buf (at offset *len), skipping a
 * reason already written. */
static void append_error(char *buf, size_t size, size_t *len, unsigned long e)
{
	const char *reason = ERR_reason_error_string(e);
	char tmp[256];
	int n;

	if (ERR_SYSTEM_ERROR(e)) {
		reason = strerror_r((int)ERR_GET_REASON(e), tmp, sizeof(tmp));
	} else if (reason == NULL) {
		ERR_error_string_n(e, tmp, sizeof(tmp));
		reason = tmp;
	}
	if (strstr(buf, reason) != NULL)
		return;
	n = snprintf(buf + *len, size - *len, "%s%s", *len > 0 ? "; " : "",
		     reason);
	if (n > 0)
		*len = (size_t)n >= size - *len ? size - 1 : *len + (size_t)n;
}

const char *mc_tls_last_error(char *buf, size_t size)
{
	unsigned long e;
	size_t len = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		if (len + 1 < size)
			append_error(buf, size, &len, e);
	}
	if (buf[0] == '\0')
		snprintf(buf, size, "unknown error");
	return buf;
}

/* "1.2" (or NULL/empty) and "1.3" into OpenSSL's version numbers. */
static int parse_min_version(const char *s, int *version_r,
			     struct mc_error *err)
{
	if (s == NULL || *s == '\0' || strcmp(s, "1.2") == 0) {
		*version_r = TLS1_2_VERSION;
	} else if (strcmp(s, "1.3") == 0) {
		*version_r = TLS1_3_VERSION;
	} else {
		mc_error_set(err, MC_ERR_INVALID,
			     "invalid TLS minimum version \"%s\" "
			     "(expected 1.2 or 1.3)",
			     s);
		return -1;
	}
	return 0;
}

/* Checks that both file names are set. */
static int files_configured(const struct mc_tls_settings *set,
			    struct mc_error *err)
{
	if (set->cert_file == NULL || *set->cert_file == '\0') {
		mc_error_set(err, MC_ERR_INVALID,
			     "no TLS certificate configured");
		return 0;
	}
	if (set->key_file == NULL || *set->key_file == '\0') {
		mc_error_set(err, MC_ERR_INVALID,
			     "no TLS certificate configured (empty key file)");
		return 0;
	}
	return 1;
}

/* Loads the chain and the key into ctx and checks that they match. */
static int load_files(SSL_CTX *ctx, const struct mc_tls_settings *set,
		      struct mc_error *err)
{
	char reason[256];

	if (SSL_CTX_use_certificate_chain_file(ctx, set->cert_file) != 1) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "cannot load certificate %s: %s", set->cert_file,
			     mc_tls_last_error(reason, sizeof(reason)));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, set->key_file, SSL_FILETYPE_PEM) !=
	    1) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "cannot load private key %s: %s", set->key_file,
			     mc_tls_last_error(reason, sizeof(reason)));
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "private key %s does not match certificate %s: %s",
			     set->key_file, set->cert_file,
			     mc_tls_last_error(reason, sizeof(reason)));
		return -1;
	}
	return 0;
}

SSL_CTX *mc_tls_server_ctx_create(const struct mc_tls_settings *set,
				  struct mc_error *err)
{
	char reason[256];
	SSL_CTX *ctx;
	int min_version;

	if (!files_configured(set, err) ||
	    parse_min_version(set->min_version, &min_version, err) < 0)
		return NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "cannot create TLS context: %s",
			     mc_tls_last_error(reason, sizeof(reason)));
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
					 SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "cannot set the TLS minimum version: %s",
			     mc_tls_last_error(reason, sizeof(reason)));
	} else if (load_files(ctx, set, err) == 0) {
		return ctx;
	}
	SSL_CTX_free(ctx);
	return NULL;
}
