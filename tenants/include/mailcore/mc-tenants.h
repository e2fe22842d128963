/* mc-tenants: provisioning of the tenant model (tenants, domains, users,
 * aliases) in PostgreSQL, shared by mailctl and the REST API. Names are
 * checked and normalised (lower case) here; duplicates are MC_ERR_EXISTS,
 * missing parents MC_ERR_NOTFOUND, bad names MC_ERR_INVALID, an
 * unreachable database MC_ERR_TEMPORARY. */
#ifndef MC_TENANTS_H
#define MC_TENANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_error;
struct mc_pg;

#define MC_LOCAL_PART_MAX 64
#define MC_DOMAIN_MAX	  253
#define MC_ADDRESS_MAX	  (MC_LOCAL_PART_MAX + 1 + MC_DOMAIN_MAX)

/* Tenant names: lower-case letters, digits, '.', '_', '-', 1..63, starting
 * with a letter or digit. */
bool mc_tenants_valid_name(const char *name);
/* Host names: LDH labels of 1..63, at least two labels, 253 at most. */
bool mc_tenants_valid_domain(const char *domain);
/* Mailbox local parts: lower-case letters, digits, '.', '_', '-', 1..64. */
bool mc_tenants_valid_local_part(const char *local_part);

/* Splits "Local@Domain" into lower-cased parts (buffers of
 * MC_LOCAL_PART_MAX + 1 and MC_DOMAIN_MAX + 1 bytes). strict requires a
 * mailbox local part (ours); otherwise any 1..64 printable non-blank
 * characters are allowed (external targets). 0, or -1 MC_ERR_INVALID. */
int mc_tenants_split_address(const char *address, bool strict, char *local_r,
			     char *domain_r, struct mc_error *err);

int mc_tenant_add(struct mc_pg *pg, const char *name, struct mc_error *err);
int mc_domain_add(struct mc_pg *pg, const char *domain, const char *tenant,
		  struct mc_error *err);
/* password_hash is a crypt-style hash (see mc-password.h), never a
 * password. */
int mc_user_add(struct mc_pg *pg, const char *address,
		const char *password_hash, struct mc_error *err);
int mc_user_set_password(struct mc_pg *pg, const char *address,
			 const char *password_hash, struct mc_error *err);

struct mc_user_info {
	const char *address;
	const char *display_name;
	const char *status;
	int64_t quota_bytes;
	const char *created_at; /* ISO 8601 UTC */
};
/* Calls cb for each user of domain in address order; the strings are valid
 * during the call only. Returns the number of users, or -1. */
int mc_user_list(struct mc_pg *pg, const char *domain,
		 void (*cb)(const struct mc_user_info *user, void *ctx),
		 void *ctx, struct mc_error *err);

/* An alias delivering to 1..1000 targets, local or external. Its address
 * must not be a user's. */
int mc_alias_add(struct mc_pg *pg, const char *address,
		 const char *const *targets, size_t count,
		 struct mc_error *err);

#endif
