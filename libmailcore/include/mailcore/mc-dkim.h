/* mc-dkim: DKIM signatures (RFC 6376) with libopendkim: signing outbound
 * mail with a domain's keys (rsa-sha256, and ed25519-sha256 per RFC
 * 8463; one signature per key, both when both exist), and verifying
 * every signature of a message, with the key records fetched through
 * mc-dns (so tests and the filter use [dns] upstream). relaxed/relaxed
 * canonicalization; the signed header fields are the usual ones (From,
 * To, Cc, Subject, Date, Message-ID, Reply-To, MIME-Version,
 * Content-Type, In-Reply-To, References...). Thread-safe: one struct
 * mc_dkim shared by the workers. */
#ifndef MC_DKIM_H
#define MC_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mc_dns;
struct mc_error;
struct mc_pool;
struct mc_dkim;

struct mc_dkim_key {
	const char *domain;	 /* d= */
	const char *selector;	 /* s= */
	const char *algorithm;	 /* "rsa-2048" or "ed25519" (dkim_keys) */
	const char *private_key; /* as stored in dkim_keys.private_key */
};

/* dns may be NULL for a signer that never verifies. The caller owns
 * the result (and keeps dns alive while it is used). */
struct mc_dkim *mc_dkim_create(struct mc_dns *dns, struct mc_error *err);
void mc_dkim_destroy(struct mc_dkim **dkim);

/* Reads the message (CRLF lines): up to len bytes at offset; the count,
 * 0 at the end, -1 on error. */
typedef ssize_t mc_dkim_read_fn(void *ctx, void *buf, size_t len,
				uint64_t offset);

/* Signs the message with each key; *headers_r (pool) is the
 * DKIM-Signature header fields to put in front of the message, each
 * folded with CRLF + TAB and ending in CRLF. 0, or -1 with err
 * (MC_ERR_INVALID for a key libopendkim refuses, MC_ERR_TEMPORARY when
 * reading failed). */
int mc_dkim_sign(struct mc_dkim *dkim, struct mc_pool *pool,
		 const struct mc_dkim_key *keys, size_t keys_count,
		 mc_dkim_read_fn *read, void *read_ctx, const char **headers_r,
		 struct mc_error *err);

enum mc_dkim_result {
	MC_DKIM_NONE,	   /* no signature */
	MC_DKIM_PASS,
	MC_DKIM_FAIL,	   /* bad signature or body hash */
	MC_DKIM_NEUTRAL,   /* syntax, unknown algorithm, expired */
	MC_DKIM_TEMPERROR, /* key lookup failed temporarily */
	MC_DKIM_PERMERROR, /* key missing, revoked or unusable */
};

struct mc_dkim_sig {
	enum mc_dkim_result result;
	const char *domain, *selector; /* d=, s= */
	const char *algorithm;	       /* "rsa-sha256", "ed25519-sha256" */
	const char *reason;	       /* what failed, for logs; "" on pass */
};

/* Verifies every signature (up to 10). *sigs_r (pool) has one entry per
 * signature, none when the message is unsigned. 0, or -1 with err when
 * the message cannot be read. */
int mc_dkim_verify(struct mc_dkim *dkim, struct mc_pool *pool,
		   mc_dkim_read_fn *read, void *read_ctx,
		   const struct mc_dkim_sig **sigs_r, size_t *count_r,
		   struct mc_error *err);

/* "pass", "fail", "neutral", "temperror", "permerror", "none". */
const char *mc_dkim_result_name(enum mc_dkim_result r);

#endif
