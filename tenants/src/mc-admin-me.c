/* mc-admin-me: me.get, the actor of the request as the API sees it: its
 * role, the names of its scope (reseller, tenant, domain; the department
 * by id), its name, and the role binding and token it acts through. */
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mc-admin-limits.h"

struct me_op {
	json_t *out;
};

/* An id as a parameter: NULL for 0. */
static const char *id_param(int64_t id, char *buf)
{
	return id != 0 ? admin_id_text(id, buf) : NULL;
}

/* An id as JSON: null for 0. */
static json_t *id_json(int64_t id)
{
	return id != 0 ? json_integer(id) : json_null();
}

/* Transaction of me.get: looks the scope's names up. */
static int me_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct me_op *op = ctx;
	const struct mc_actor *ac = &a->actor;
	char rid[24], tid[24], did[24];
	const char *params[] = {id_param(ac->reseller_id, rid),
				id_param(ac->tenant_id, tid),
				id_param(ac->domain_id, did)};
	PGresult *res = admin_query(
		a,
		"SELECT (SELECT name FROM resellers WHERE id = $1::bigint), "
		"(SELECT name FROM tenants WHERE id = $2::bigint), "
		"(SELECT name FROM domains WHERE id = $3::bigint)",
		3, params, err);

	if (res == NULL)
		return -1;
	json_t *scope = json_pack(
		"{sosososo}", "reseller", admin_col_json(res, 0, 0), "tenant",
		admin_col_json(res, 0, 1), "domain", admin_col_json(res, 0, 2),
		"department", id_json(ac->department_id));
	PQclear(res);
	op->out = json_pack("{sssosssoso}", "role", mc_role_name(ac->role),
			    "scope", scope, "name", ac->name, "binding",
			    id_json(ac->binding_id), "token",
			    id_json(ac->token_id));
	if (op->out != NULL)
		return 0;
	mc_error_set(err, MC_ERR_PERMANENT, "the actor's name is not UTF-8");
	return -1;
}

ADMIN_OP(admin_me_get)
{
	struct me_op op = {NULL};

	(void)call;
	admin_op_begin(a, out_r);
	return admin_run(a, me_txn, &op, &op.out, out_r, err);
}
