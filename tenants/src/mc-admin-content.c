/* mc-admin-content: a domain's inbound protection settings through the
 * admin model: the content rules (content_rules.list, .create, .delete,
 * rules as mc-content-rules.h defines them) and the members of
 * domain.create / .update that mc-admin-domains.c hands here:
 * filter_settings (the overrides of mc-filter.h, checked key by key),
 * attachment_blocklist and attachment_blocklist_action. Tenant admins
 * and domain admins of the domain (and those above) only. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-content-rules.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

#define WHAT	     "manage content rules"
#define TAG_MAX	     64	  /* as mc-filter keeps a tag */
#define SCORE_MAX    1000 /* spam thresholds */
#define RULE_VERSION 1	  /* rules are replaced, never changed */

/* filter_settings ------------------------------------------------------ */

/* The kinds of value a filter_settings key takes. */
enum fkind { F_REJECT_TAG, F_BOOL, F_TAG, F_GREYLIST, F_SCORE };

static const struct {
	const char *key;
	enum fkind kind;
} filter_keys[] = {
	{"spf_fail", F_REJECT_TAG},
	{"spf_softfail", F_REJECT_TAG},
	{"dmarc", F_BOOL},
	{"virus", F_REJECT_TAG},
	{"tag", F_TAG},
	{"virus_tag", F_TAG},
	{"greylist", F_GREYLIST},
	{"spam_tag", F_SCORE},
	{"spam_junk", F_SCORE},
	{"spam_reject", F_SCORE},
	{"greylist_score", F_SCORE},
};
#define N_FILTER_KEYS (sizeof(filter_keys) / sizeof(filter_keys[0]))

/* s is one of the NULL-terminated words. */
static bool one_of(const char *s, const char *const *words)
{
	for (; s != NULL && *words != NULL; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

/* A tag: at most TAG_MAX bytes of UTF-8 without control characters. */
static bool tag_ok(const json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL || json_string_length(v) > TAG_MAX ||
	    strlen(s) != json_string_length(v))
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Whether v suits kind; *detail_r says what it must be otherwise. */
static bool value_ok(enum fkind kind, const json_t *v, const char **detail_r)
{
	static const char *const rt[] = {"reject", "tag", NULL};
	static const char *const grey[] = {"off", "always", "score", NULL};

	switch (kind) {
	case F_REJECT_TAG:
		*detail_r = "must be \"reject\" or \"tag\"";
		return one_of(json_string_value(v), rt);
	case F_BOOL:
		*detail_r = "must be true or false";
		return json_is_boolean(v);
	case F_TAG:
		*detail_r = "must be a string of at most 64 bytes without "
			    "control characters";
		return tag_ok(v);
	case F_GREYLIST:
		*detail_r = "must be \"off\", \"always\" or \"score\"";
		return one_of(json_string_value(v), grey);
	default:
		*detail_r = "must be a number from 0 to 1000";
		return json_is_number(v) && isfinite(json_number_value(v)) &&
		       json_number_value(v) >= 0 &&
		       json_number_value(v) <= SCORE_MAX;
	}
}

/* Checks one member of filter_settings. */
static int filter_member(struct mc_admin *a, const char *key, const json_t *v,
			 struct mc_error *err)
{
	char field[64];
	const char *detail = "is not a filter setting";
	size_t i = 0;

	while (i < N_FILTER_KEYS && strcmp(filter_keys[i].key, key) != 0)
		i++;
	if (i < N_FILTER_KEYS && value_ok(filter_keys[i].kind, v, &detail))
		return 0;
	snprintf(field, sizeof(field), "filter_settings.%.40s", key);
	admin_field_error(a, err, field, "%s", detail);
	return -1;
}

/* filter_settings: an object of known keys with suitable values. */
static int read_filter_settings(struct mc_admin *a, const json_t *body,
				struct admin_filter_in *in,
				struct mc_error *err)
{
	json_t *fs = json_object_get(body, "filter_settings");
	const char *key;
	json_t *v;

	if (fs == NULL)
		return 0;
	if (!json_is_object(fs)) {
		admin_field_error(a, err, "filter_settings",
				  "must be an object");
		return -1;
	}
	json_object_foreach(fs, key, v)
	{
		if (filter_member(a, key, v, err) < 0)
			return -1;
	}
	in->filter_settings = json_dumps(fs, JSON_COMPACT | JSON_SORT_KEYS);
	return 0;
}

/* The attachment blocklist ---------------------------------------------- */

/* An entry as stored: lower case, without a leading dot. */
static json_t *blocklist_entry(const char *s)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", s[0] == '.' ? s + 1 : s);
	mc_str_lower(buf);
	return json_string(buf);
}

/* attachment_blocklist (checked by mc-content-rules) and its action. */
static int read_blocklist(struct mc_admin *a, const json_t *body,
			  struct admin_filter_in *in, struct mc_error *err)
{
	static const char *const actions[] = {"reject", "quarantine", NULL};
	const json_t *list = NULL;
	struct mc_error verr = {0};
	size_t i;
	json_t *item;

	if (admin_get_string(a, body, "attachment_blocklist_action", 16, false,
			     false, &in->blocklist_action, err) < 0)
		return -1;
	if (in->blocklist_action != NULL &&
	    !one_of(in->blocklist_action, actions)) {
		admin_field_error(a, err, "attachment_blocklist_action",
				  "must be reject or quarantine");
		return -1;
	}
	if (admin_get_strings(a, body, "attachment_blocklist",
			      MC_CONTENT_BLOCKLIST_MAX, 255, false, &list,
			      err) < 0)
		return -1;
	if (list == NULL)
		return 0;
	if (mc_content_rules_validate(NULL, list, &verr) < 0) {
		admin_field_error(a, err, "attachment_blocklist", "%s",
				  verr.msg);
		return -1;
	}
	json_t *norm = json_array();
	json_array_foreach(list, i, item) json_array_append_new(
		norm, blocklist_entry(json_string_value(item)));
	in->blocklist = admin_pg_array(norm);
	json_decref(norm);
	return 0;
}

int admin_filter_read(struct mc_admin *a, const json_t *body,
		      struct admin_filter_in *in, struct mc_error *err)
{
	if (read_filter_settings(a, body, in, err) < 0 ||
	    read_blocklist(a, body, in, err) < 0)
		return -1;
	return 0;
}

void admin_filter_in_free(struct admin_filter_in *in)
{
	free(in->filter_settings);
	free(in->blocklist);
	in->filter_settings = NULL;
	in->blocklist = NULL;
}

int admin_filter_update(struct mc_admin *a, int64_t domain_id,
			const struct admin_filter_in *in, struct mc_error *err)
{
	char did[24];
	const char *params[] = {admin_id_text(domain_id, did),
				in->filter_settings, in->blocklist,
				in->blocklist_action};

	if (in->filter_settings == NULL && in->blocklist == NULL &&
	    in->blocklist_action == NULL)
		return 0;
	return admin_exec(a,
			  "UPDATE domains SET filter_settings = "
			  "coalesce($2::jsonb, filter_settings), "
			  "attachment_blocklist = coalesce($3::text[], "
			  "attachment_blocklist), attachment_blocklist_action "
			  "= coalesce($4, attachment_blocklist_action) WHERE "
			  "id = $1",
			  4, params, err) < 0
		       ? -1
		       : 0;
}

void admin_filter_json_add(json_t *o, const PGresult *res, int row, int col)
{
	json_t *fs = json_loads(PQgetvalue(res, row, col), 0, NULL);

	json_object_set_new(o, "filter_settings",
			    json_is_object(fs) ? fs : json_object());
	if (fs != NULL && !json_is_object(fs))
		json_decref(fs);
	json_object_set_new(o, "attachment_blocklist",
			    admin_json_array(PQgetvalue(res, row, col + 1)));
	json_object_set_new(o, "attachment_blocklist_action",
			    json_string(PQgetvalue(res, row, col + 2)));
}

/* content_rules.list ---------------------------------------------------- */

#define RULE_COLS                                                              \
	"r.id, r.name, r.position, r.enabled, r.rule::text, " ADMIN_TS(        \
		"r.created_at")

/* A rule row (RULE_COLS) as its JSON shape (ContentRule). */
static json_t *rule_json(const PGresult *res, int row, const void *arg)
{
	json_t *rule = json_loads(PQgetvalue(res, row, 4), 0, NULL);
	json_t *o = json_pack("{sIsssIsbsIss}", "id",
			      (json_int_t)admin_col_i64(res, row, 0), "name",
			      PQgetvalue(res, row, 1), "position",
			      (json_int_t)admin_col_i64(res, row, 2), "enabled",
			      *PQgetvalue(res, row, 3) == 't', "version",
			      (json_int_t)RULE_VERSION, "created_at",
			      PQgetvalue(res, row, 5));

	(void)arg;
	if (json_is_object(rule))
		json_object_update_missing(o, rule);
	if (json_object_get(o, "match") == NULL)
		json_object_set_new(o, "match", json_string("all"));
	json_decref(rule);
	return o;
}

/* Finds the domain of the call, where the actor may manage its rules. */
static int find_domain(struct mc_admin *a, const struct mc_admin_call *call,
		       struct admin_place *p, struct mc_error *err)
{
	if (admin_find_domain(a, admin_arg(call, 0), p, err) < 0 ||
	    admin_require(a, MC_ROLE_DOMAIN, WHAT, err) < 0 ||
	    admin_require_inside(a, p, WHAT, err) < 0)
		return -1;
	return 0;
}

static const struct admin_sort rule_sorts[] = {
	{"position", "r.position"},
	{"name", "r.name"},
	{"created_at", "r.created_at"},
	{NULL, NULL},
};

struct list_ctx {
	const struct mc_admin_call *call;
	struct admin_list l;
	json_t *out;
};

/* Transaction body of content_rules.list. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[4];
	struct mc_buf sql;

	if (find_domain(a, c->call, &p, err) < 0)
		return -1;
	params[0] = admin_id_text(p.tenant_id, tid);
	params[1] = admin_id_text(p.domain_id, did);
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " RULE_COLS ", (%s)::text, r.id FROM "
		      "content_rules r WHERE r.tenant_id = $1 AND "
		      "r.domain_id = $2",
		      c->l.sort->expr);
	c->out = admin_list_page(a, &c->l, &sql, "r.id", params, 2, rule_json,
				 NULL, err);
	return c->out != NULL ? 0 : -1;
}

ADMIN_OP(admin_content_rules_list)
{
	struct list_ctx c = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    admin_list_parse(a, call, rule_sorts, &c.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &c, &c.out, out_r, err);
}

/* content_rules.create -------------------------------------------------- */

struct create_ctx {
	const struct mc_admin_call *call;
	const char *name;
	int64_t position; /* -1: after the last */
	bool enabled;
	char *rule; /* JSON text of match, conditions, action */
	json_t *out;
};

/* The compiler's complaint about rules[0] as a field error: "rules[0].
 * conditions[1].value: ..." names field "conditions[1].value". */
static void rule_error(struct mc_admin *a, const struct mc_error *verr,
		       struct mc_error *err)
{
	char field[128];
	const char *m = verr->msg;
	const char *colon;

	if (strncmp(m, "rules[0]", 8) == 0)
		m += m[8] == '.' ? 9 : 8;
	colon = strstr(m, ": ");
	if (colon == NULL || colon == m ||
	    (size_t)(colon - m) >= sizeof(field)) {
		admin_field_error(a, err, "rule", "%s", m);
		return;
	}
	snprintf(field, sizeof(field), "%.*s", (int)(colon - m), m);
	admin_field_error(a, err, field, "%s", colon + 2);
}

/* Validates the body as one rule with mc-content-rules. */
static int validate_rule(struct mc_admin *a, const json_t *body,
			 struct mc_error *err)
{
	struct mc_error verr = {0};
	json_t *one = json_pack("[O]", body);
	int r = mc_content_rules_validate(one, NULL, &verr);

	json_decref(one);
	if (r < 0)
		rule_error(a, &verr, err);
	return r;
}

/* Reads a create body: the columns, and the rest of the rule as JSON. */
static int read_rule(struct mc_admin *a, const json_t *body,
		     struct create_ctx *c, struct mc_error *err)
{
	bool enabled = true;

	if (!json_is_object(body)) {
		admin_field_error(a, err, "body", "must be a rule object");
		return -1;
	}
	if (validate_rule(a, body, err) < 0 ||
	    admin_get_string(a, body, "name", 100, true, false, &c->name, err) <
		    0 ||
	    admin_get_int(a, body, "position", 0, INT32_MAX, false,
			  &c->position, err) < 0 ||
	    admin_get_bool(a, body, "enabled", false, &enabled, err) < 0)
		return -1;
	c->enabled = enabled;
	json_t *rest = json_deep_copy(body);
	json_object_del(rest, "id");
	json_object_del(rest, "name");
	json_object_del(rest, "position");
	json_object_del(rest, "enabled");
	c->rule = json_dumps(rest, JSON_COMPACT);
	json_decref(rest);
	return 0;
}

/* Inserts the rule of c into the domain at p; its row into c->out. */
static int insert_rule(struct mc_admin *a, struct create_ctx *c,
		       const struct admin_place *p, struct mc_error *err)
{
	char tid[24], did[24], pos[24];
	const char *params[] = {
		admin_id_text(p->tenant_id, tid),
		admin_id_text(p->domain_id, did),
		c->position >= 0 ? admin_id_text(c->position, pos) : NULL,
		c->name,
		c->enabled ? "true" : "false",
		c->rule};
	PGresult *res = admin_query(
		a,
		"WITH r AS (INSERT INTO content_rules (tenant_id, domain_id, "
		"position, name, enabled, rule) VALUES ($1, $2, "
		"coalesce($3::integer, (SELECT coalesce(max(position) + 1, 0) "
		"FROM content_rules WHERE tenant_id = $1 AND domain_id = $2)), "
		"$4, $5::boolean, $6::jsonb) RETURNING *) SELECT " RULE_COLS
		" FROM r",
		6, params, err);

	if (res == NULL) {
		if (err != NULL && err->cls == MC_ERR_EXISTS)
			mc_error_reset(err, MC_ERR_EXISTS,
				       "a content rule of %s already has "
				       "position %s",
				       p->domain, params[2]);
		return -1;
	}
	c->out = rule_json(res, 0, NULL);
	PQclear(res);
	return 0;
}

/* Transaction body of content_rules.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct create_ctx *c = ctx;
	struct admin_place p;

	if (find_domain(a, c->call, &p, err) < 0 ||
	    insert_rule(a, c, &p, err) < 0)
		return -1;
	a->dirty = true;
	return admin_audit_new(
		a, &p, "content_rules.create", p.domain,
		json_pack("{sOsOsO}", "id", json_object_get(c->out, "id"),
			  "name", json_object_get(c->out, "name"), "position",
			  json_object_get(c->out, "position")),
		err);
}

ADMIN_OP(admin_content_rules_create)
{
	struct create_ctx c = {.call = call, .position = -1};
	int r = -1;

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) == 0 &&
	    read_rule(a, call->body, &c, err) == 0)
		r = admin_run(a, create_txn, &c, &c.out, out_r, err);
	free(c.rule);
	return r;
}

/* content_rules.delete -------------------------------------------------- */

struct delete_ctx {
	const struct mc_admin_call *call;
	int64_t id;
};

/* Transaction body of content_rules.delete. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct delete_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], id[24];

	if (find_domain(a, c->call, &p, err) < 0)
		return -1;
	const char *params[] = {admin_id_text(p.tenant_id, tid),
				admin_id_text(p.domain_id, did),
				admin_id_text(c->id, id)};
	PGresult *res = admin_query(
		a,
		"DELETE FROM content_rules WHERE tenant_id = $1 AND "
		"domain_id = $2 AND id = $3 RETURNING name, position",
		3, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no content rule %s in %s",
			     id, p.domain);
		return -1;
	}
	json_t *changes = json_pack("{sIsssI}", "id", (json_int_t)c->id, "name",
				    PQgetvalue(res, 0, 0), "position",
				    (json_int_t)admin_col_i64(res, 0, 1));
	PQclear(res);
	if (admin_check_version(c->call, RULE_VERSION, err) < 0) {
		json_decref(changes);
		return -1;
	}
	a->dirty = true;
	return admin_audit_new(a, &p, "content_rules.delete", p.domain, changes,
			       err);
}

ADMIN_OP(admin_content_rules_delete)
{
	struct delete_ctx c = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 2, err) < 0 ||
	    admin_arg_id(call, 1, "content rule", &c.id, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &c, err) < 0 ? -1 : 0;
}
