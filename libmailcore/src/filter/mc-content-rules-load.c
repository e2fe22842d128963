/* mc-content-rules-load: a domain's content rules and attachment
 * blocklist from PostgreSQL (schema/0009_content_rules.sql), compiled in
 * one query: the rule rows merged with their name, position and enabled
 * columns into the JSON form the compiler takes. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"

#include "mc-content-rules-private.h"

static const char load_sql[] =
	"SELECT d.attachment_blocklist_action, "
	"array_to_json(d.attachment_blocklist)::text, "
	"coalesce((SELECT jsonb_agg(r.rule || jsonb_build_object('id', r.id, "
	"'name', r.name, 'position', r.position, 'enabled', r.enabled) "
	"ORDER BY r.position) FROM content_rules r "
	"WHERE r.tenant_id = d.tenant_id AND r.domain_id = d.id), "
	"'[]')::text "
	"FROM domains d WHERE d.tenant_id = $1 AND d.id = $2";

/* Parses a JSON text the database produced. */
static json_t *parse(const char *text, const char *what, struct mc_error *err)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	if (j == NULL)
		mc_error_set(err, MC_ERR_PERMANENT, "stored %s: %s", what,
			     jerr.text);
	return j;
}

/* Compiles the row's rules and blocklist into *rules_r. 0 or -1. */
static int compile_row(const PGresult *res, struct mc_pool *pool,
		       struct mc_content_rules **rules_r, struct mc_error *err)
{
	enum mc_content_action action =
		strcmp(PQgetvalue(res, 0, 0), "quarantine") == 0
			? MC_CONTENT_QUARANTINE
			: MC_CONTENT_REJECT;
	json_t *block = parse(PQgetvalue(res, 0, 1), "blocklist", err);
	json_t *rules = block != NULL
				? parse(PQgetvalue(res, 0, 2), "rules", err)
				: NULL;
	struct mc_content_rules *set = NULL;
	int ret = -1;

	if (rules != NULL &&
	    mc_content_rules_compile(rules, pool, &set, err) == 0 &&
	    mc_content_rules_set_blocklist(set, block, action, err) == 0) {
		*rules_r = set;
		ret = 0;
	} else if (rules != NULL) {
		mc_error_prefix(err, "stored rules");
	}
	json_decref(rules);
	json_decref(block);
	return ret;
}

int mc_content_rules_load(struct mc_pg *pg, struct mc_pool *pool,
			  int64_t tenant_id, int64_t domain_id,
			  struct mc_content_rules **rules_r,
			  struct mc_error *err)
{
	char tid[24], did[24];
	snprintf(tid, sizeof(tid), "%" PRId64, tenant_id);
	snprintf(did, sizeof(did), "%" PRId64, domain_id);
	const char *params[] = {tid, did};

	PGresult *res = mc_pg_query(pg, load_sql, 2, params, err);
	if (res == NULL)
		return -1;
	int ret;
	if (PQntuples(res) == 0)
		ret = mc_content_rules_compile(NULL, pool, rules_r, err);
	else
		ret = compile_row(res, pool, rules_r, err) < 0 ? -1 : 1;
	PQclear(res);
	return ret;
}
