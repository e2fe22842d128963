/* mc-api-routes: THE route table of /api/v1 (method and path pattern ->
 * operation of mc-admin.h, success status, flags) as in the design note,
 * the matcher that picks a route for a request (404 / 405 with Allow
 * otherwise), and the listing printed by `mc-webd --routes`. */
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pool.h"
#include "mc-api-private.h"

#define D  "/api/v1/domains/{domain}"
#define U  D "/users/{local}"
#define Q  "/api/v1/queue/{queue_id}"
#define NA MC_API_NO_AUTH
#define LS MC_API_LIST
#define AC MC_API_ACTION

/* {method, pattern, op, status, flags, builtin, csv_op, location} */
const struct mc_api_route mc_api_routes[] = {
	{"GET", "/api/v1/me", "me.get", 200, 0, 0, NULL, NULL},
	{"POST", "/api/v1/sessions", NULL, 201, NA, MC_API_LOGIN, NULL, NULL},
	{"DELETE", "/api/v1/sessions/current", NULL, 204, 0, MC_API_LOGOUT,
	 NULL, NULL},
	{"GET", "/api/v1/openapi.yaml", NULL, 200, NA, MC_API_OPENAPI, NULL,
	 NULL},

	{"GET", "/api/v1/resellers", "reseller.list", 200, LS, 0, NULL, NULL},
	{"POST", "/api/v1/resellers", "reseller.create", 201, 0, 0, NULL,
	 "/api/v1/resellers/{name}"},
	{"GET", "/api/v1/resellers/{reseller}", "reseller.get", 200, 0, 0, NULL,
	 NULL},
	{"PATCH", "/api/v1/resellers/{reseller}", "reseller.update", 200, 0, 0,
	 NULL, NULL},
	{"DELETE", "/api/v1/resellers/{reseller}", "reseller.delete", 204, 0, 0,
	 NULL, NULL},

	{"GET", "/api/v1/tenants", "tenant.list", 200, LS, 0, NULL, NULL},
	{"POST", "/api/v1/tenants", "tenant.create", 201, 0, 0, NULL,
	 "/api/v1/tenants/{name}"},
	{"GET", "/api/v1/tenants/{tenant}", "tenant.get", 200, 0, 0, NULL,
	 NULL},
	{"PATCH", "/api/v1/tenants/{tenant}", "tenant.update", 200, 0, 0, NULL,
	 NULL},
	{"DELETE", "/api/v1/tenants/{tenant}", "tenant.delete", 204, 0, 0, NULL,
	 NULL},
	{"GET", "/api/v1/tenants/{tenant}/usage", "tenant.usage", 200, 0, 0,
	 NULL, NULL},
	{"GET", "/api/v1/tenants/{tenant}/domains", "domain.list_tenant", 200,
	 LS, 0, NULL, NULL},
	{"POST", "/api/v1/tenants/{tenant}/domains", "domain.create", 201, 0, 0,
	 NULL, "/api/v1/domains/{name}"},

	{"GET", "/api/v1/domains", "domain.list", 200, LS, 0, NULL, NULL},
	{"GET", D, "domain.get", 200, 0, 0, NULL, NULL},
	{"PATCH", D, "domain.update", 200, 0, 0, NULL, NULL},
	{"DELETE", D, "domain.delete", 204, 0, 0, NULL, NULL},
	{"GET", D "/usage", "domain.usage", 200, 0, 0, NULL, NULL},
	{"GET", D "/dns-records", "dns.records", 200, 0, 0, NULL, NULL},
	{"GET", D "/domain-aliases", "domain_alias.list", 200, LS, 0, NULL,
	 NULL},
	{"POST", D "/domain-aliases", "domain_alias.create", 201, 0, 0, NULL,
	 D "/domain-aliases/{name}"},
	{"DELETE", D "/domain-aliases/{alias}", "domain_alias.delete", 204, 0,
	 0, NULL, NULL},

	{"GET", D "/departments", "department.list", 200, LS, 0, NULL, NULL},
	{"POST", D "/departments", "department.create", 201, 0, 0, NULL,
	 "/api/v1/domains/{0}/departments/{id}"},
	{"GET", D "/departments/{id}", "department.get", 200, 0, 0, NULL, NULL},
	{"PATCH", D "/departments/{id}", "department.update", 200, 0, 0, NULL,
	 NULL},
	{"DELETE", D "/departments/{id}", "department.delete", 204, 0, 0, NULL,
	 NULL},

	{"GET", D "/users", "user.list", 200, LS | MC_API_CSV_EXPORT, 0,
	 "user.export", NULL},
	{"POST", D "/users", "user.create", 201, 0, 0, NULL,
	 "/api/v1/domains/{0}/users/{local_part}"},
	{"POST", D "/users/import", "user.import", 200, MC_API_CSV_BODY, 0,
	 NULL, NULL},
	{"POST", D "/users/batch", "user.batch", 201, 0, 0, NULL, NULL},
	{"GET", U, "user.get", 200, 0, 0, NULL, NULL},
	{"PATCH", U, "user.update", 200, 0, 0, NULL, NULL},
	{"DELETE", U, "user.delete", 204, 0, 0, NULL, NULL},
	{"POST", U "/freeze", "user.freeze", 200, AC, 0, NULL, NULL},
	{"POST", U "/restore", "user.restore", 200, AC, 0, NULL, NULL},
	{"POST", U "/password", "user.password", 200, AC, 0, NULL, NULL},
	{"GET", U "/usage", "user.usage", 200, 0, 0, NULL, NULL},
	{"GET", U "/policy", "user.policy", 200, 0, 0, NULL, NULL},
	/* self-registration: anonymous (mc-api.c builds its actor) */
	{"POST", D "/registrations", "registration.create", 201, NA, 0, NULL,
	 NULL},

	{"GET", D "/aliases", "alias.list", 200, LS, 0, NULL, NULL},
	{"POST", D "/aliases", "alias.create", 201, 0, 0, NULL,
	 "/api/v1/domains/{0}/aliases/{local_part}"},
	{"GET", D "/aliases/{local}", "alias.get", 200, 0, 0, NULL, NULL},
	{"PATCH", D "/aliases/{local}", "alias.update", 200, 0, 0, NULL, NULL},
	{"DELETE", D "/aliases/{local}", "alias.delete", 204, 0, 0, NULL, NULL},

	{"GET", D "/bcc-rules", "bcc.list", 200, LS, 0, NULL, NULL},
	{"POST", D "/bcc-rules", "bcc.create", 201, 0, 0, NULL,
	 "/api/v1/domains/{0}/bcc-rules/{id}"},
	{"DELETE", D "/bcc-rules/{id}", "bcc.delete", 204, 0, 0, NULL, NULL},

	{"GET", D "/policies", "policy.list", 200, LS, 0, NULL, NULL},
	{"POST", D "/policies", "policy.create", 201, 0, 0, NULL,
	 "/api/v1/domains/{0}/policies/{name}"},
	{"GET", D "/policies/{name}", "policy.get", 200, 0, 0, NULL, NULL},
	{"PATCH", D "/policies/{name}", "policy.update", 200, 0, 0, NULL, NULL},
	{"DELETE", D "/policies/{name}", "policy.delete", 204, 0, 0, NULL,
	 NULL},

	{"GET", D "/dkim-keys", "dkim.list", 200, LS, 0, NULL, NULL},
	{"POST", D "/dkim-keys", "dkim.create", 201, 0, 0, NULL,
	 "/api/v1/domains/{0}/dkim-keys/{selector}"},
	{"DELETE", D "/dkim-keys/{selector}", "dkim.delete", 204, 0, 0, NULL,
	 NULL},

	{"GET", "/api/v1/role-bindings", "binding.list", 200, LS, 0, NULL,
	 NULL},
	{"POST", "/api/v1/role-bindings", "binding.create", 201, 0, 0, NULL,
	 "/api/v1/role-bindings/{id}"},
	{"GET", "/api/v1/role-bindings/{id}", "binding.get", 200, 0, 0, NULL,
	 NULL},
	{"DELETE", "/api/v1/role-bindings/{id}", "binding.delete", 204, 0, 0,
	 NULL, NULL},

	{"GET", "/api/v1/tokens", "token.list", 200, LS, 0, NULL, NULL},
	{"POST", "/api/v1/tokens", "token.create", 201, 0, 0, NULL,
	 "/api/v1/tokens/{id}"},
	{"GET", "/api/v1/tokens/{id}", "token.get", 200, 0, 0, NULL, NULL},
	{"DELETE", "/api/v1/tokens/{id}", "token.delete", 204, 0, 0, NULL,
	 NULL},

	{"GET", "/api/v1/audit", "audit.list", 200, LS, 0, NULL, NULL},

	/* the outbound queue (DELETE reads ?bounce= as a list filter) */
	{"GET", "/api/v1/queue", "queue.list", 200, LS, 0, NULL, NULL},
	{"GET", "/api/v1/tenants/{tenant}/queue", "queue.list_tenant", 200, LS,
	 0, NULL, NULL},
	{"GET", D "/queue", "queue.list_domain", 200, LS, 0, NULL, NULL},
	{"GET", Q, "queue.show", 200, 0, 0, NULL, NULL},
	{"POST", Q "/hold", "queue.hold", 200, AC, 0, NULL, NULL},
	{"POST", Q "/release", "queue.release", 200, AC, 0, NULL, NULL},
	{"POST", Q "/retry", "queue.retry", 200, AC, 0, NULL, NULL},
	{"DELETE", Q, "queue.delete", 204, LS, 0, NULL, NULL},

	/* smarthost routes of mc-deliverd (the provider only) */
	{"GET", "/api/v1/relay-routes", "relay.list", 200, LS, 0, NULL, NULL},
	{"POST", "/api/v1/relay-routes", "relay.create", 201, 0, 0, NULL, NULL},
	{"DELETE", "/api/v1/relay-routes/{id}", "relay.delete", 204, 0, 0, NULL,
	 NULL},

	/* quarantined inbound mail (mc-quarantine.h in the actor's scope) */
	{"GET", "/api/v1/quarantine", "quarantine.list", 200, LS, 0, NULL,
	 NULL},
	{"GET", D "/quarantine", "quarantine.list_domain", 200, LS, 0, NULL,
	 NULL},
	{"GET", "/api/v1/quarantine/{id}", "quarantine.show", 200, 0, 0, NULL,
	 NULL},
	{"DELETE", "/api/v1/quarantine/{id}", "quarantine.delete", 204, 0, 0,
	 NULL, NULL},
	{"POST", "/api/v1/quarantine/{id}/release", "quarantine.release", 200,
	 AC, 0, NULL, NULL},

	/* the inbound verdicts per message and recipient (schema/0011) */
	{"GET", "/api/v1/security-log", "security.list", 200, LS, 0, NULL,
	 NULL},
	{"GET", D "/security-log", "security.list_domain", 200, LS, 0, NULL,
	 NULL},

	/* per-domain content policy (mc-content-rules.h) */
	{"GET", D "/content-rules", "content_rules.list", 200, LS, 0, NULL,
	 NULL},
	{"POST", D "/content-rules", "content_rules.create", 201, 0, 0, NULL,
	 "/api/v1/domains/{0}/content-rules/{id}"},
	{"DELETE", D "/content-rules/{id}", "content_rules.delete", 204, 0, 0,
	 NULL, NULL},

	/* sender allow and block lists (schema/0012) */
	{"GET", D "/sender-lists", "sender_lists.list", 200, LS, 0, NULL, NULL},
	{"POST", D "/sender-lists", "sender_lists.create", 201, 0, 0, NULL,
	 "/api/v1/domains/{0}/sender-lists/{id}"},
	{"DELETE", D "/sender-lists/{id}", "sender_lists.delete", 204, 0, 0,
	 NULL, NULL},
	{0},
};

/* The length of the path segment at s (up to '/' or the end). */
static size_t seg_len(const char *s)
{
	return strcspn(s, "/");
}

/* Matches path against pattern; fills args (decoded) and a score in
 * which each literal segment counts more the earlier it comes. */
static bool pattern_match(const char *pat, const char *path, char **args,
			  size_t *nargs, unsigned long *score)
{
	*nargs = 0;
	*score = 0;
	while (*pat == '/' && *path == '/') {
		pat++, path++;
		size_t pl = seg_len(pat), sl = seg_len(path);
		*score <<= 1;
		if (pat[0] == '{') {
			if (sl == 0 || *nargs == MC_API_ARGS_MAX)
				return false;
			char *v = mc_api_url_decode(path, sl, false);
			if (v == NULL)
				return false;
			args[(*nargs)++] = v;
		} else if (pl != sl || memcmp(pat, path, pl) != 0) {
			return false;
		} else {
			*score |= 1;
		}
		pat += pl, path += sl;
	}
	return *pat == '\0' && *path == '\0';
}

/* Frees n decoded arguments. */
static void free_args(char **args, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(args[i]);
		args[i] = NULL;
	}
}

/* Adds method to the Allow list unless it is there already. */
static void allow_add(struct mc_api_match *m, const char *method)
{
	size_t ml = strlen(method);
	for (const char *p = m->allow; (p = strstr(p, method)) != NULL; p += ml)
		if ((p == m->allow || p[-1] == ' ') &&
		    (p[ml] == ',' || p[ml] == '\0'))
			return;
	size_t len = strlen(m->allow);
	snprintf(m->allow + len, sizeof(m->allow) - len, "%s%s",
		 len > 0 ? ", " : "", method);
}

bool mc_api_route_match(const char *method, const char *path,
			struct mc_api_match *m)
{
	memset(m, 0, sizeof(*m));
	unsigned long best = 0;
	for (const struct mc_api_route *r = mc_api_routes; r->method != NULL;
	     r++) {
		char *args[MC_API_ARGS_MAX];
		size_t n;
		unsigned long score;
		bool ok = pattern_match(r->pattern, path, args, &n, &score);
		if (ok) {
			m->path_found = true;
			allow_add(m, r->method);
		}
		if (ok && strcmp(r->method, method) == 0 &&
		    (m->route == NULL || score > best)) {
			free_args(m->args, m->nargs);
			memcpy(m->args, args, sizeof(args));
			m->nargs = n;
			m->route = r;
			best = score;
		} else {
			free_args(args, n);
		}
	}
	return m->route != NULL;
}

void mc_api_match_free(struct mc_api_match *m)
{
	free_args(m->args, m->nargs);
	m->nargs = 0;
}

/* qsort: strcmp of two strings. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void mc_api_print_routes(FILE *out)
{
	size_t n = 0;
	while (mc_api_routes[n].method != NULL)
		n++;
	char **lines = mc_calloc(n, sizeof(*lines));
	for (size_t i = 0; i < n; i++)
		lines[i] = mc_asprintf("%s %s", mc_api_routes[i].method,
				       mc_api_routes[i].pattern);
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
}
