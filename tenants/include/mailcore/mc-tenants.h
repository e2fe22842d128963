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

/* Dates as mailctl takes them: "YYYY-MM-DD", a real calendar day. */
bool mc_tenants_valid_date(const char *date);
/* Checks an IPv4 or IPv6 network "ADDR/LEN" (a bare address is a host
 * network) with no host bits set, and writes it as "addr/len" into out
 * (MC_CIDR_MAX bytes). 0, or -1 MC_ERR_INVALID. */
#define MC_CIDR_MAX 64
int mc_tenants_parse_cidr(const char *cidr, char *out, struct mc_error *err);

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

/* The rest of this header (mc-tenants-mail.c) is what mail routing
 * needs: domain aliases and settings, forwards, send-as grants, relay
 * networks. A user or alias cannot be added under a domain alias
 * (MC_ERR_INVALID); a new user gets its domain's default_user_quota. */

/* Makes alias (a new domain name) a domain alias of domain, in domain's
 * tenant: u@alias is delivered to u@domain. domain must exist
 * (MC_ERR_NOTFOUND) and not be an alias itself (MC_ERR_INVALID). */
int mc_domain_alias_add(struct mc_pg *pg, const char *alias, const char *domain,
			struct mc_error *err);

/* Changes to a domain; NULL / -1 / MC_UNCHANGED leave a field alone.
 * Sizes are bytes, 0 = unlimited. */
#define MC_UNCHANGED (-1)
struct mc_domain_changes {
	const char *status;  /* "active", "suspended", "expired" */
	const char *expires; /* "YYYY-MM-DD" (midnight UTC), "never" */
	int64_t quota, default_user_quota, max_message_size;
	int quota_permanent; /* 0, 1 */
	bool set_catchall;   /* catchall_count 0 = no catch-all */
	const char *const *catchall;
	size_t catchall_count;
};
/* Initialises every field to "unchanged". */
void mc_domain_changes_init(struct mc_domain_changes *ch);
int mc_domain_set(struct mc_pg *pg, const char *domain,
		  const struct mc_domain_changes *ch, struct mc_error *err);

struct mc_domain_info {
	const char *name, *tenant, *status;
	const char *expires;   /* "YYYY-MM-DD", NULL = never */
	const char *alias_for; /* the domain this is an alias of, or NULL */
	int64_t quota, used, default_user_quota, max_message_size;
	bool quota_permanent;
	const char *catchall; /* targets joined by ',', NULL = none */
	int64_t users;
};
typedef void mc_domain_info_cb(const struct mc_domain_info *domain, void *ctx);
/* Calls cb once with domain's settings (strings valid during the call).
 * 0, or -1 (MC_ERR_NOTFOUND when there is no such domain). */
int mc_domain_get(struct mc_pg *pg, const char *domain, mc_domain_info_cb *cb,
		  void *ctx, struct mc_error *err);
/* Calls cb for each domain, of one tenant unless tenant is NULL, in name
 * order. Returns the number of domains, or -1. */
int mc_domain_list(struct mc_pg *pg, const char *tenant, mc_domain_info_cb *cb,
		   void *ctx, struct mc_error *err);

/* Changes to a user; NULL / MC_UNCHANGED leave a field alone. */
struct mc_user_changes {
	const char *status;	  /* "active", "frozen" */
	int64_t quota;		  /* bytes, 0 = unlimited */
	const char *display_name; /* printable, 256 bytes at most */
	bool set_forward;	  /* forward_count 0 = no forward */
	const char *const *forward;
	size_t forward_count;
	int keep_copy; /* 0, 1: also store forwarded mail locally */
	/* the IMAP node an IMAP proxy sends the user to: "IP:port", "" for
	 * none (the tenant's); NULL = keep */
	const char *imap_backend;
	/* the protocols the user may use, comma-separated from imap, pop3,
	 * smtp, webmail ("" for none); NULL = keep */
	const char *protocols;
};
void mc_user_changes_init(struct mc_user_changes *ch);
int mc_user_set(struct mc_pg *pg, const char *address,
		const struct mc_user_changes *ch, struct mc_error *err);

struct mc_user_details {
	const char *address, *display_name, *status;
	int64_t quota, used;
	const char *forward; /* targets joined by ',', NULL = none */
	bool keep_copy;
	const char *send_as;	/* grants joined by ',', NULL = none */
	const char *protocols;	/* joined by ',', "" = none */
	const char *imap_backend; /* NULL = none (the tenant's) */
	const char *created_at; /* ISO 8601 UTC */
};
/* Calls cb once with the user (strings valid during the call). 0, or -1
 * (MC_ERR_NOTFOUND). */
int mc_user_get(struct mc_pg *pg, const char *address,
		void (*cb)(const struct mc_user_details *user, void *ctx),
		void *ctx, struct mc_error *err);

/* Lets user send as address, a full address or "@domain", which must be
 * in one of the user's tenant's domains (else MC_ERR_INVALID). */
int mc_send_as_add(struct mc_pg *pg, const char *user, const char *address,
		   struct mc_error *err);
/* MC_ERR_NOTFOUND when there is no such grant. */
int mc_send_as_remove(struct mc_pg *pg, const char *user, const char *address,
		      struct mc_error *err);

/* Tenant relay networks (see mc_tenants_parse_cidr). */
int mc_network_add(struct mc_pg *pg, const char *tenant, const char *cidr,
		   struct mc_error *err);
int mc_network_remove(struct mc_pg *pg, const char *tenant, const char *cidr,
		      struct mc_error *err);
/* Calls cb with each network of tenant in order; the count, or -1. */
int mc_network_list(struct mc_pg *pg, const char *tenant,
		    void (*cb)(const char *cidr, void *ctx), void *ctx,
		    struct mc_error *err);

int mc_alias_remove(struct mc_pg *pg, const char *address,
		    struct mc_error *err);
/* Calls cb for each alias of domain in address order with its targets
 * joined by ','; the count, or -1. */
int mc_alias_list(struct mc_pg *pg, const char *domain,
		  void (*cb)(const char *address, const char *targets,
			     void *ctx),
		  void *ctx, struct mc_error *err);

#endif
