/* mc-admin-ops: the table of administrative operations by name, which the
 * REST routes (api/src/mc-api-routes.c) and mailctl look up. */
#include <string.h>

#include "mc-admin-private.h"

const struct mc_admin_op_def mc_admin_ops[] = {
	{"me.get", admin_me_get},
	{"reseller.list", admin_reseller_list},
	{"reseller.create", admin_reseller_create},
	{"reseller.get", admin_reseller_get},
	{"reseller.update", admin_reseller_update},
	{"reseller.delete", admin_reseller_delete},
	{"tenant.list", admin_tenant_list},
	{"tenant.create", admin_tenant_create},
	{"tenant.get", admin_tenant_get},
	{"tenant.update", admin_tenant_update},
	{"tenant.delete", admin_tenant_delete},
	{"tenant.usage", admin_tenant_usage},
	{"domain.list", admin_domain_list},
	{"domain.list_tenant", admin_domain_list_tenant},
	{"domain.create", admin_domain_create},
	{"domain.get", admin_domain_get},
	{"domain.update", admin_domain_update},
	{"domain.delete", admin_domain_delete},
	{"domain.usage", admin_domain_usage},
	{"domain_alias.list", admin_domain_alias_list},
	{"domain_alias.create", admin_domain_alias_create},
	{"domain_alias.delete", admin_domain_alias_delete},
	{"department.list", admin_department_list},
	{"department.create", admin_department_create},
	{"department.get", admin_department_get},
	{"department.update", admin_department_update},
	{"department.delete", admin_department_delete},
	{"user.list", admin_user_list},
	{"user.create", admin_user_create},
	{"user.import", admin_user_import},
	{"user.batch", admin_user_batch},
	{"user.export", admin_user_export},
	{"user.get", admin_user_get},
	{"user.update", admin_user_update},
	{"user.delete", admin_user_delete},
	{"user.freeze", admin_user_freeze},
	{"user.restore", admin_user_restore},
	{"user.password", admin_user_password},
	{"user.usage", admin_user_usage},
	{"user.policy", admin_user_policy},
	{"alias.list", admin_alias_list},
	{"alias.create", admin_alias_create},
	{"alias.get", admin_alias_get},
	{"alias.update", admin_alias_update},
	{"alias.delete", admin_alias_delete},
	{"bcc.list", admin_bcc_list},
	{"bcc.create", admin_bcc_create},
	{"bcc.delete", admin_bcc_delete},
	{"policy.list", admin_policy_list},
	{"policy.create", admin_policy_create},
	{"policy.get", admin_policy_get},
	{"policy.update", admin_policy_update},
	{"policy.delete", admin_policy_delete},
	{"binding.list", admin_binding_list},
	{"binding.create", admin_binding_create},
	{"binding.get", admin_binding_get},
	{"binding.delete", admin_binding_delete},
	{"token.list", admin_token_list},
	{"token.create", admin_token_create},
	{"token.get", admin_token_get},
	{"token.delete", admin_token_delete},
	{"audit.list", admin_audit_list},
	{"dkim.list", admin_dkim_list},
	{"dkim.create", admin_dkim_create},
	{"dkim.delete", admin_dkim_delete},
	{"dns.records", admin_dns_records},
	{"registration.create", admin_registration_create},
	{NULL, NULL},
};

mc_admin_op *mc_admin_op_find(const char *name)
{
	for (size_t i = 0; name != NULL && mc_admin_ops[i].name != NULL; i++) {
		if (strcmp(mc_admin_ops[i].name, name) == 0)
			return mc_admin_ops[i].fn;
	}
	return NULL;
}
