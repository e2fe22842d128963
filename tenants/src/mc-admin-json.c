/* mc-admin-json: input checks of operation bodies with field errors for
 * the problem document, conversions between JSON and PostgreSQL arrays,
 * If-Match versions, list options with opaque cursors, and the limits
 * object every level shares. */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

#define LIST_DEFAULT 50
#define LIST_MAX     500

void admin_field_error(struct mc_admin *a, struct mc_error *err,
		       const char *field, const char *fmt, ...)
{
	char detail[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (a->problem == NULL)
		a->problem = json_object();
	json_t *errors = json_object_get(a->problem, "errors");
	if (errors == NULL) {
		errors = json_array();
		json_object_set_new(a->problem, "errors", errors);
	}
	json_array_append_new(
		errors, json_pack("{ssss}", "field", field, "detail", detail));
	mc_error_set(err, MC_ERR_INVALID, "invalid request: %s: %s", field,
		     detail);
}

int admin_body_check(struct mc_admin *a, const json_t *body,
		     const char *const *allowed, bool required,
		     struct mc_error *err)
{
	const char *key;
	json_t *value;
	int bad = 0;

	if (body == NULL) {
		if (!required)
			return 0;
		admin_field_error(a, err, "body", "a JSON object is required");
		return -1;
	}
	if (!json_is_object(body)) {
		admin_field_error(a, err, "body", "must be a JSON object");
		return -1;
	}
	json_object_foreach((json_t *)body, key, value)
	{
		size_t i = 0;
		while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
			i++;
		if (allowed[i] == NULL) {
			admin_field_error(a, err, key, "unknown member");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* Valid UTF-8 without control characters? */
static bool clean_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		int n = *p < 0x80	      ? 0
			: (*p & 0xe0) == 0xc0 ? 1
			: (*p & 0xf0) == 0xe0 ? 2
			: (*p & 0xf8) == 0xf0 ? 3
					      : -1;
		if (n < 0 || (n == 0 && (*p < 0x20 || *p == 0x7f)))
			return false;
		if (n == 1 && *p < 0xc2)
			return false;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
		}
		p += n + 1;
	}
	return true;
}

int admin_get_string(struct mc_admin *a, const json_t *body, const char *field,
		     size_t max, bool required, bool allow_empty,
		     const char **value_r, struct mc_error *err)
{
	json_t *v = body != NULL ? json_object_get(body, field) : NULL;

	if (v == NULL) {
		if (required)
			admin_field_error(a, err, field, "is required");
		return required ? -1 : 0;
	}
	if (!json_is_string(v)) {
		admin_field_error(a, err, field, "must be a string");
		return -1;
	}
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (strlen(s) != len || !clean_utf8(s)) {
		admin_field_error(a, err, field,
				  "must be UTF-8 text without control "
				  "characters");
		return -1;
	}
	if ((len == 0 && !allow_empty) || len > max) {
		admin_field_error(a, err, field, "must be %s1 to %zu bytes",
				  allow_empty ? "0 or " : "", max);
		return -1;
	}
	*value_r = s;
	return 1;
}

int admin_get_int(struct mc_admin *a, const json_t *body, const char *field,
		  int64_t min, int64_t max, bool required, int64_t *value_r,
		  struct mc_error *err)
{
	json_t *v = body != NULL ? json_object_get(body, field) : NULL;

	if (v == NULL) {
		if (required)
			admin_field_error(a, err, field, "is required");
		return required ? -1 : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		admin_field_error(a, err, field,
				  "must be an integer from %lld to %lld",
				  (long long)min, (long long)max);
		return -1;
	}
	*value_r = json_integer_value(v);
	return 1;
}

int admin_get_bool(struct mc_admin *a, const json_t *body, const char *field,
		   bool required, bool *value_r, struct mc_error *err)
{
	json_t *v = body != NULL ? json_object_get(body, field) : NULL;

	if (v == NULL) {
		if (required)
			admin_field_error(a, err, field, "is required");
		return required ? -1 : 0;
	}
	if (!json_is_boolean(v)) {
		admin_field_error(a, err, field, "must be true or false");
		return -1;
	}
	*value_r = json_is_true(v);
	return 1;
}

int admin_get_strings(struct mc_admin *a, const json_t *body, const char *field,
		      size_t max, size_t item_max, bool required,
		      const json_t **array_r, struct mc_error *err)
{
	json_t *v = body != NULL ? json_object_get(body, field) : NULL;
	size_t i;
	json_t *item;

	if (v == NULL) {
		if (required)
			admin_field_error(a, err, field, "is required");
		return required ? -1 : 0;
	}
	if (!json_is_array(v) || json_array_size(v) > max) {
		admin_field_error(a, err, field,
				  "must be an array of at most %zu strings",
				  max);
		return -1;
	}
	json_array_foreach(v, i, item)
	{
		const char *s = json_string_value(item);
		if (s == NULL || *s == '\0' ||
		    json_string_length(item) > item_max ||
		    strlen(s) != json_string_length(item) || !clean_utf8(s)) {
			admin_field_error(a, err, field,
					  "item %zu must be text of 1 to %zu "
					  "bytes",
					  i, item_max);
			return -1;
		}
	}
	*array_r = v;
	return 1;
}

/* Appends s to buf as a quoted array element. */
static void append_element(struct mc_buf *buf, const char *s)
{
	mc_buf_append_c(buf, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			mc_buf_append_c(buf, '\\');
		mc_buf_append_c(buf, *s);
	}
	mc_buf_append_c(buf, '"');
}

char *admin_pg_array(const json_t *array)
{
	struct mc_buf buf;
	size_t i;
	json_t *item;

	mc_buf_init(&buf, NULL, 0);
	mc_buf_append_c(&buf, '{');
	json_array_foreach(array, i, item)
	{
		if (i > 0)
			mc_buf_append_c(&buf, ',');
		append_element(&buf, json_string_value(item) != NULL
					     ? json_string_value(item)
					     : "");
	}
	mc_buf_append_c(&buf, '}');
	char *s = mc_strdup(mc_buf_cstr(&buf));
	mc_buf_free(&buf);
	return s;
}

/* Reads one element of a PostgreSQL array at *sp into buf. */
static void read_element(const char **sp, struct mc_buf *buf)
{
	const char *s = *sp;

	mc_buf_clear(buf);
	if (*s == '"') {
		for (s++; *s != '\0' && *s != '"'; s++) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			mc_buf_append_c(buf, *s);
		}
		if (*s == '"')
			s++;
	} else {
		for (; *s != '\0' && *s != ',' && *s != '}'; s++)
			mc_buf_append_c(buf, *s);
	}
	*sp = s;
}

json_t *admin_json_array(const char *pg_array)
{
	json_t *out = json_array();
	struct mc_buf buf;
	const char *s = pg_array;

	if (s == NULL || *s != '{')
		return out;
	mc_buf_init(&buf, NULL, 0);
	for (s++; *s != '\0' && *s != '}';) {
		read_element(&s, &buf);
		json_array_append_new(out, json_string(mc_buf_cstr(&buf)));
		if (*s == ',')
			s++;
	}
	mc_buf_free(&buf);
	return out;
}

int admin_check_version(const struct mc_admin_call *call, int64_t version,
			struct mc_error *err)
{
	if (call == NULL || call->if_version < 0 || call->if_version == version)
		return 0;
	mc_error_set(err, MC_ERR_STALE,
		     "the object changed: version %lld, If-Match names %lld",
		     (long long)version, (long long)call->if_version);
	return -1;
}

/* base64url without padding of len bytes. */
static void b64url(const unsigned char *in, size_t len, char *out, size_t size)
{
	unsigned char tmp[1400];
	int n;

	if (len > 1024 || size < 4 * ((len + 2) / 3) + 1) {
		out[0] = '\0';
		return;
	}
	n = EVP_EncodeBlock(tmp, in, (int)len);
	while (n > 0 && tmp[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
		out[i] = tmp[i] == '+'	 ? '-'
			 : tmp[i] == '/' ? '_'
					 : (char)tmp[i];
	out[n] = '\0';
}

/* Decodes a base64url cursor into out (NUL-terminated); false if bad. */
static bool unb64url(const char *in, char *out, size_t size)
{
	char tmp[1400];
	size_t len = strlen(in), n = 0;

	if (len == 0 || len > 1300)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '-' || c == '_')
			c = c == '-' ? '+' : '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9')))
			return false;
		tmp[n++] = c;
	}
	while (n % 4 != 0)
		tmp[n++] = '=';
	tmp[n] = '\0';
	int pad = (tmp[n - 1] == '=') + (tmp[n - 2] == '=');
	int out_len = EVP_DecodeBlock((unsigned char *)out,
				      (unsigned char *)tmp, (int)n);
	if (out_len < 0 || (size_t)out_len - (size_t)pad >= size)
		return false;
	out[out_len - pad] = '\0';
	return true;
}

/* The cursor's JSON [sort field, value, id] into l; false if bad. */
static bool cursor_parse(const char *cursor, struct admin_list *l)
{
	char text[1024];
	json_t *c;
	const char *field, *value;
	json_int_t id;
	bool ok;

	if (!unb64url(cursor, text, sizeof(text)))
		return false;
	c = json_loads(text, 0, NULL);
	ok = c != NULL && json_unpack(c, "[ssI]", &field, &value, &id) == 0 &&
	     strcmp(field, l->sort->field) == 0 &&
	     strlen(value) < sizeof(l->after_value);
	if (ok) {
		snprintf(l->after_value, sizeof(l->after_value), "%s", value);
		l->after_id = id;
		snprintf(l->after_id_text, sizeof(l->after_id_text), "%lld",
			 (long long)id);
		l->after = true;
	}
	json_decref(c);
	return ok;
}

int admin_list_parse(struct mc_admin *a, const struct mc_admin_call *call,
		     const struct admin_sort *sorts, struct admin_list *l,
		     struct mc_error *err)
{
	const struct mc_admin_list *q = call != NULL ? call->list : NULL;
	const char *sort = q != NULL && q->sort != NULL ? q->sort : NULL;

	memset(l, 0, sizeof(*l));
	l->sort = &sorts[0];
	l->limit = q != NULL && q->limit > 0 ? q->limit : LIST_DEFAULT;
	l->filters = q != NULL ? q->filters : NULL;
	if (l->limit > LIST_MAX) {
		admin_field_error(a, err, "limit", "must be 1 to %d", LIST_MAX);
		return -1;
	}
	if (sort != NULL) {
		l->desc = *sort == '-';
		sort += l->desc;
		size_t i = 0;
		while (sorts[i].field != NULL &&
		       strcmp(sorts[i].field, sort) != 0)
			i++;
		if (sorts[i].field == NULL) {
			admin_field_error(a, err, "sort",
					  "cannot sort by \"%s\"", sort);
			return -1;
		}
		l->sort = &sorts[i];
	}
	if (q != NULL && q->cursor != NULL && !cursor_parse(q->cursor, l)) {
		admin_field_error(a, err, "cursor",
				  "is not a cursor of this list and sort");
		return -1;
	}
	return 0;
}

const char *admin_filter(const struct admin_list *l, const char *name)
{
	if (l->filters == NULL)
		return NULL;
	return json_string_value(json_object_get(l->filters, name));
}

void admin_list_sql(const struct admin_list *l, const char *id_expr,
		    struct mc_buf *sql, const char **params, int *n)
{
	const char *dir = l->desc ? " DESC" : "";

	if (l->after) {
		params[*n] = l->after_value;
		params[*n + 1] = l->after_id_text;
		mc_buf_printf(sql, " AND (%s, %s) %s ($%d, $%d::bigint)",
			      l->sort->expr, id_expr, l->desc ? "<" : ">",
			      *n + 1, *n + 2);
		*n += 2;
	}
	mc_buf_printf(sql, " ORDER BY %s%s, %s%s LIMIT %u", l->sort->expr, dir,
		      id_expr, dir, l->limit + 1);
}

json_t *admin_page(const struct admin_list *l, json_t *items, bool more,
		   const char *last_value, int64_t last_id)
{
	json_t *next = json_null();

	if (more && last_value != NULL) {
		json_t *c = json_pack("[ssI]", l->sort->field, last_value,
				      (json_int_t)last_id);
		char *text = json_dumps(c, JSON_COMPACT);
		char out[1400];
		b64url((const unsigned char *)text, strlen(text), out,
		       sizeof(out));
		next = json_string(out);
		free(text);
		json_decref(c);
	}
	return json_pack("{soso}", "items", items, "next_cursor", next);
}

static const struct {
	const char *key;
	size_t offset;
} limit_keys[] = {
	{"domains", offsetof(struct admin_limits, domains)},
	{"users", offsetof(struct admin_limits, users)},
	{"aliases", offsetof(struct admin_limits, aliases)},
	{"lists", offsetof(struct admin_limits, lists)},
	{"storage_bytes", offsetof(struct admin_limits, storage)},
	{"message_bytes", offsetof(struct admin_limits, message_bytes)},
	{"daily_send_count", offsetof(struct admin_limits, send_count)},
	{"daily_send_bytes", offsetof(struct admin_limits, send_bytes)},
};

int admin_limits_parse(struct mc_admin *a, const json_t *body,
		       const char *const *allowed, struct admin_limits *l,
		       struct mc_error *err)
{
	json_t *v = body != NULL ? json_object_get(body, "limits") : NULL;

	for (size_t i = 0; i < sizeof(limit_keys) / sizeof(*limit_keys); i++)
		*(int64_t *)((char *)l + limit_keys[i].offset) =
			ADMIN_LIMIT_UNSET;
	if (v == NULL)
		return 0;
	if (admin_body_check(a, v, allowed, true, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(limit_keys) / sizeof(*limit_keys); i++) {
		int64_t value;
		int r = admin_get_int(a, v, limit_keys[i].key, 0, INT64_MAX,
				      false, &value, err);
		if (r < 0)
			return -1;
		if (r > 0)
			*(int64_t *)((char *)l + limit_keys[i].offset) = value;
	}
	return 1;
}

int admin_page_keep(const struct admin_list *l, const PGresult *res)
{
	int rows = PQntuples(res);

	return rows > (int)l->limit ? (int)l->limit : rows;
}

json_t *admin_page_end(const struct admin_list *l, const PGresult *res,
		       json_t *items, int sort_col, int id_col)
{
	int keep = admin_page_keep(l, res), nf = PQnfields(res);

	if (keep == 0)
		return admin_page(l, items, false, NULL, 0);
	sort_col = sort_col < 0 ? nf + sort_col : sort_col;
	id_col = id_col < 0 ? nf + id_col : id_col;
	return admin_page(l, items, PQntuples(res) > keep,
			  PQgetvalue(res, keep - 1, sort_col),
			  admin_col_i64(res, keep - 1, id_col));
}

json_t *admin_page_rows(const struct admin_list *l, const PGresult *res,
			int sort_col, int id_col, admin_item_fn *item,
			const void *arg)
{
	int keep = admin_page_keep(l, res);
	json_t *items = json_array();

	for (int i = 0; i < keep; i++)
		json_array_append_new(items, item(res, i, arg));
	return admin_page_end(l, res, items, sort_col, id_col);
}

PGresult *admin_list_fetch(struct mc_admin *a, const struct admin_list *l,
			   struct mc_buf *sql, const char *id_expr,
			   const char **params, int n, struct mc_error *err)
{
	admin_list_sql(l, id_expr, sql, params, &n);
	PGresult *res =
		mc_pg_query_once(a->pg, mc_buf_cstr(sql), n, params, err);
	mc_buf_free(sql);
	return res;
}

json_t *admin_list_page(struct mc_admin *a, const struct admin_list *l,
			struct mc_buf *sql, const char *id_expr,
			const char **params, int n, admin_item_fn *item,
			const void *arg, struct mc_error *err)
{
	PGresult *res = admin_list_fetch(a, l, sql, id_expr, params, n, err);

	if (res == NULL)
		return NULL;
	json_t *page = admin_page_rows(l, res, -2, -1, item, arg);
	PQclear(res);
	return page;
}

void admin_where(struct mc_buf *sql, const char **params, int *n,
		 const char *value, const char *cond)
{
	if (value == NULL)
		return;
	params[(*n)++] = value;
	for (const char *s = cond; *s != '\0'; s++) {
		if (s[0] == '$' && s[1] == '?') {
			mc_buf_printf(sql, "$%d", *n);
			s++;
		} else {
			mc_buf_append_c(sql, *s);
		}
	}
}
