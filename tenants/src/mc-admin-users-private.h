/* mc-admin-users-private: what the single-user operations
 * (mc-admin-users.c) share with the bulk ones (mc-admin-users-bulk.c):
 * finding the domain of a user operation with the role check, and
 * creating one user inside a transaction with every rule of user.create
 * (name, alias clash, department scope, quota, password policy, audit). */
#ifndef MC_ADMIN_USERS_PRIVATE_H
#define MC_ADMIN_USERS_PRIVATE_H

#include <stdint.h>

#include "mailcore/mc-password-policy.h"
#include "mc-admin-private.h"

/* A user to create. Strings are borrowed. */
struct admin_new_user {
	const char *local_part;	  /* lower case, checked */
	const char *password;	  /* NULL: generate one into generated */
	const char *display_name; /* NULL = "" */
	int64_t department_id;	  /* 0 = none (department admins: theirs) */
	int64_t quota_bytes;	  /* -1 = the domain's default_user_quota */
	const char *status;	  /* "active" (NULL) or "frozen" */
	const char *protocols;	  /* PostgreSQL array literal; NULL = all */
	/* out: the generated password (wipe it when done), the new id */
	char generated[MC_PASSWORD_GEN_MAX + 1];
	int64_t user_id;
};

/* Inside admin_txn: finds domain for a user operation and checks that the
 * actor may manage users (department admins and above; assistants and
 * users are DENIED). 0 or -1. */
int admin_users_domain(struct mc_admin *a, const char *domain,
		       struct admin_place *p, const char *what,
		       struct mc_error *err);

/* Inside admin_txn, after admin_users_domain: creates u in the domain at
 * p (the domain row is locked for the rest of the transaction) and
 * writes its "user.create" audit record. Field errors name "local_part",
 * "password", "department", "quota_bytes"; an existing user or alias is
 * MC_ERR_EXISTS ("user x@y already exists"). 0 or -1. */
int admin_user_insert(struct mc_admin *a, const struct admin_place *p,
		      struct admin_new_user *u, struct mc_error *err);

/* True when a user local_part exists in the domain at p (even deleted):
 * 1, 0, or -1 with err. */
int admin_user_exists(struct mc_admin *a, const struct admin_place *p,
		      const char *local_part, struct mc_error *err);

#endif
