/* libssl.so for CivetWeb: Debian's CivetWeb 1.15 looks up OpenSSL 1.1
 * symbols with dlopen("libssl.so"); OpenSSL 3 dropped
 * SSL_get_peer_certificate (now a macro), so CivetWeb would call NULL on
 * the first TLS connection. This library, loaded by mc-webd before
 * CivetWeb starts, adds the one missing symbol on top of the real libssl
 * (a dependency, so every other lookup lands there). */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

X509 *SSL_get_peer_certificate(const SSL *ssl);

/* The OpenSSL 1.1 name of SSL_get1_peer_certificate. */
X509 *SSL_get_peer_certificate(const SSL *ssl)
{
	return SSL_get1_peer_certificate(ssl);
}
