/* mc-quarantine-digest: the message telling a user about new quarantined
 * mail: the items are picked and marked as sent in one statement, then
 * written as a multipart/alternative message (plain text and simple
 * HTML) with a signed release link per item. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-date.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-quarantine.h"
#include "mailcore/mc-str.h"
#include "mc-quarantine-private.h"

#define MAX_FIELD    150 /* bytes of a sender, subject or reason shown */
#define MAX_BASE_URL 200
#define LINK_PATH    "/quarantine/release?t="

/* One item as the digest shows it. */
struct ditem {
	const char *sender, *subject, *reason, *date, *link;
};

/* A digest being written. */
struct digest {
	const struct mc_quarantine_digest_settings *set;
	struct mc_pool *pool;
	int64_t tenant_id, user_id;
	time_t now;
	const char *to, *domain, *boundary;
	struct ditem *items;
	size_t count;
};

/* The user's address and domain name. */
static const char sql_user[] =
	"SELECT u.local_part || '@' || d.name, d.name FROM users u JOIN "
	"domains d ON d.tenant_id = u.tenant_id AND d.id = u.domain_id "
	"WHERE u.tenant_id = $1 AND u.id = $2";

/* Picks the user's new items ($3 now, $4 since, $5 at most) oldest
 * first and marks them as sent. */
static const char sql_pick[] =
	"WITH c AS (SELECT tenant_id, id FROM quarantine WHERE tenant_id = $1 "
	"AND user_id = $2 AND digest_sent_at IS NULL AND released_at IS NULL "
	"AND expires_at > to_timestamp($3::double precision) AND created_at "
	">= to_timestamp($4::double precision) ORDER BY created_at, id LIMIT "
	"$5 FOR UPDATE SKIP LOCKED), u AS (UPDATE quarantine q SET "
	"digest_sent_at = now() FROM c WHERE q.tenant_id = c.tenant_id AND "
	"q.id = c.id RETURNING q.id, q.sender, q.subject, q.reason, "
	"q.created_at, q.expires_at) SELECT id, sender, subject, reason, "
	"extract(epoch FROM created_at)::bigint, extract(epoch FROM "
	"expires_at)::bigint FROM u ORDER BY created_at, id";

/* Checks the settings a digest cannot do without. */
static int settings_valid(const struct mc_quarantine_digest_settings *set,
			  struct mc_error *err)
{
	const char *why = NULL;
	if (set == NULL || set->secret == NULL || set->secret[0] == '\0')
		why = "no secret";
	else if (set->base_url == NULL || set->base_url[0] == '\0' ||
		 strlen(set->base_url) > MAX_BASE_URL ||
		 strpbrk(set->base_url, " \t\r\n\"<>") != NULL)
		why = "bad base URL";
	else if (set->from != NULL && strpbrk(set->from, "\r\n") != NULL)
		why = "bad From address";
	if (why != NULL)
		mc_error_set(err, MC_ERR_INVALID, "quarantine digest: %s", why);
	return why != NULL ? -1 : 0;
}

/* Reads the user's address: 1, or -1 (MC_ERR_NOTFOUND when none). */
static int read_user(struct mc_pg *pg, struct digest *dg, struct mc_error *err)
{
	char tid[QUAR_NUM], uid[QUAR_NUM];
	const char *params[] = {mc_quarantine_num(tid, dg->tenant_id),
				mc_quarantine_num(uid, dg->user_id)};
	PGresult *res = mc_pg_query(pg, sql_user, 2, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		dg->to = mc_quarantine_col_str(dg->pool, res, 0, 0);
		dg->domain = mc_quarantine_col_str(dg->pool, res, 0, 1);
	} else {
		mc_error_set(err, MC_ERR_NOTFOUND,
			     "no user %lld in tenant "
			     "%lld",
			     (long long)dg->user_id, (long long)dg->tenant_id);
	}
	PQclear(res);
	return found ? 1 : -1;
}

/* s for one line of the digest: controls become blanks, at most
 * MAX_FIELD bytes (cut at a character, "..." added). */
static const char *field(struct mc_pool *pool, const char *s)
{
	size_t len = strlen(s), cut = len > MAX_FIELD ? MAX_FIELD : len;
	while (cut < len && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	char *out = mc_palloc(pool, cut + 4);
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	strcpy(out + cut, cut < len ? "..." : "");
	return out;
}

/* "2026-12-02 01:45 UTC". */
static const char *date_text(struct mc_pool *pool, time_t t)
{
	struct tm tm;
	char buf[32];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
	return mc_pstrdup(pool, buf);
}

/* The release link of item id, valid until expires. */
static const char *link_of(struct digest *dg, int64_t id, time_t expires)
{
	char token[MC_QUARANTINE_TOKEN_SIZE];
	mc_quarantine_token(dg->set->secret, id, dg->tenant_id, dg->user_id,
			    expires, token);
	return mc_psprintf(dg->pool, "%s" LINK_PATH "%s", dg->set->base_url,
			   token);
}

/* Reads the picked rows into dg->items. */
static void read_items(struct digest *dg, const PGresult *res)
{
	dg->count = (size_t)PQntuples(res);
	dg->items =
		mc_palloc_array(dg->pool, dg->count + 1, sizeof(*dg->items));
	for (int r = 0; r < (int)dg->count; r++) {
		const char *sender = PQgetvalue(res, r, 1);
		dg->items[r] = (struct ditem){
			.sender = field(dg->pool, sender[0] ? sender : "<>"),
			.subject = field(dg->pool, PQgetvalue(res, r, 2)),
			.reason = field(dg->pool, PQgetvalue(res, r, 3)),
			.date = date_text(dg->pool,
					  mc_quarantine_col_i64(res, r, 4)),
			.link = link_of(dg, mc_quarantine_col_i64(res, r, 0),
					mc_quarantine_col_i64(res, r, 5))};
	}
}

/* Picks and marks the new items since since. */
static int pick(struct mc_pg *pg, struct digest *dg, time_t since,
		struct mc_error *err)
{
	char tid[QUAR_NUM], uid[QUAR_NUM], now[QUAR_NUM], from[QUAR_NUM],
		max[QUAR_NUM];
	unsigned n = dg->set->max_items ? dg->set->max_items
					: MC_QUARANTINE_DIGEST_MAX;
	const char *params[] = {mc_quarantine_num(tid, dg->tenant_id),
				mc_quarantine_num(uid, dg->user_id),
				mc_quarantine_num(now, (int64_t)dg->now),
				mc_quarantine_num(from, (int64_t)since),
				mc_quarantine_num(max, n)};
	PGresult *res = mc_pg_query(pg, sql_pick, 5, params, err);
	if (res == NULL)
		return -1;
	read_items(dg, res);
	PQclear(res);
	return 0;
}

/* Random hex digits for the boundary and the Message-ID. */
static const char *random_hex(struct mc_pool *pool)
{
	unsigned char r[12];
	char *out = mc_palloc(pool, 2 * sizeof(r) + 1);
	if (RAND_bytes(r, sizeof(r)) != 1)
		abort(); /* no entropy: as an allocation failure */
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return out;
}

/* The message header and the preamble. */
static void write_header(struct digest *dg, struct mc_buf *b)
{
	char date[MC_DATE_RFC5322_MAX];
	const char *id = random_hex(dg->pool);
	mc_date_format_rfc5322(dg->now, 0, date);
	mc_buf_printf(b, "Date: %s\r\n", date);
	if (dg->set->from != NULL)
		mc_buf_printf(b, "From: %s\r\n", dg->set->from);
	else
		mc_buf_printf(b, "From: postmaster@%s\r\n", dg->domain);
	mc_buf_printf(b, "To: %s\r\n", dg->to);
	mc_buf_printf(b,
		      "Subject: Quarantine digest: %zu new message%s "
		      "held for you\r\n",
		      dg->count, dg->count == 1 ? "" : "s");
	mc_buf_printf(b, "Message-ID: <quarantine-digest.%lld.%lld.%s@%s>\r\n",
		      (long long)dg->tenant_id, (long long)dg->user_id, id,
		      dg->domain);
	mc_buf_append_str(b, "Auto-Submitted: auto-generated\r\n"
			     "MIME-Version: 1.0\r\n");
	mc_buf_printf(b,
		      "Content-Type: multipart/alternative; "
		      "boundary=\"%s\"\r\n\r\n",
		      dg->boundary);
	mc_buf_append_str(b,
			  "This is a multi-part message in MIME format.\r\n");
}

/* The start of one part of the given text subtype. */
static void write_part_header(struct digest *dg, struct mc_buf *b,
			      const char *subtype)
{
	mc_buf_printf(
		b,
		"\r\n--%s\r\nContent-Type: text/%s; "
		"charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
		dg->boundary, subtype);
}

/* The plain text part. */
static void write_text(struct digest *dg, struct mc_buf *b)
{
	write_part_header(dg, b, "plain");
	mc_buf_printf(b,
		      "These messages addressed to %s were held in "
		      "quarantine.\r\nOpen a message's release link to have "
		      "it delivered to your inbox.\r\n",
		      dg->to);
	for (size_t i = 0; i < dg->count; i++) {
		const struct ditem *it = &dg->items[i];
		mc_buf_printf(b,
			      "\r\n%zu. From:    %s\r\n   Subject: %s\r\n"
			      "   Reason:  %s\r\n   Date:    %s\r\n"
			      "   Release: %s\r\n",
			      i + 1, it->sender, it->subject, it->reason,
			      it->date, it->link);
	}
}

/* s with the HTML special characters escaped, appended to b. */
static void append_html(struct mc_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			mc_buf_append_str(b, "&amp;");
			break;
		case '<':
			mc_buf_append_str(b, "&lt;");
			break;
		case '>':
			mc_buf_append_str(b, "&gt;");
			break;
		case '"':
			mc_buf_append_str(b, "&quot;");
			break;
		default:
			mc_buf_append_c(b, *s);
		}
	}
}

/* One table cell on a line of its own. */
static void html_cell(struct mc_buf *b, const char *s)
{
	mc_buf_append_str(b, "<td>");
	append_html(b, s);
	mc_buf_append_str(b, "</td>\r\n");
}

/* The HTML part. */
static void write_html(struct digest *dg, struct mc_buf *b)
{
	write_part_header(dg, b, "html");
	mc_buf_append_str(b, "<html><body>\r\n<p>These messages addressed to ");
	append_html(b, dg->to);
	mc_buf_append_str(b, " were held in quarantine.</p>\r\n<table>\r\n"
			     "<tr><th>From</th><th>Subject</th><th>Reason"
			     "</th><th>Date</th><th></th></tr>\r\n");
	for (size_t i = 0; i < dg->count; i++) {
		const struct ditem *it = &dg->items[i];
		mc_buf_append_str(b, "<tr>\r\n");
		html_cell(b, it->sender);
		html_cell(b, it->subject);
		html_cell(b, it->reason);
		html_cell(b, it->date);
		mc_buf_append_str(b, "<td><a href=\"");
		append_html(b, it->link);
		mc_buf_append_str(b, "\">Release</a></td>\r\n</tr>\r\n");
	}
	mc_buf_append_str(b, "</table>\r\n</body></html>\r\n");
}

/* The whole message, from dg->pool. */
static const char *write_message(struct digest *dg, size_t *size_r)
{
	struct mc_buf b;
	mc_buf_init(&b, dg->pool, 0);
	dg->boundary =
		mc_psprintf(dg->pool, "=_mc-digest-%s", random_hex(dg->pool));
	write_header(dg, &b);
	write_text(dg, &b);
	write_html(dg, &b);
	mc_buf_printf(&b, "\r\n--%s--\r\n", dg->boundary);
	*size_r = b.len;
	return mc_buf_cstr(&b);
}

int mc_quarantine_digest(struct mc_pg *pg, struct mc_pool *pool,
			 const struct mc_quarantine_digest_settings *set,
			 int64_t tenant_id, int64_t user_id, time_t since,
			 const char **message_r, size_t *size_r,
			 struct mc_error *err)
{
	struct digest dg = {.set = set,
			    .pool = pool,
			    .tenant_id = tenant_id,
			    .user_id = user_id};
	if (settings_valid(set, err) < 0 || read_user(pg, &dg, err) < 0)
		return -1;
	dg.now = set->now != 0 ? set->now : time(NULL);
	if (pick(pg, &dg, since, err) < 0)
		return -1;
	if (dg.count == 0)
		return 0;
	*message_r = write_message(&dg, size_r);
	return 1;
}
