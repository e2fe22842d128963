/* mc-spamrules-checks: the built-in checks of a scan. Missing Date and
 * Message-ID, a Reply-To domain unrelated to the From domain, a From
 * display name that is another address, dangerous attachments by name,
 * declared type and libmagic sniffing (handles kept on a mutex-guarded
 * idle list: a magic_t is not thread-safe), and the other filters'
 * verdicts as symbols. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-address.h"
#include "mailcore/mc-encword.h"
#include "mailcore/mc-pool.h"
#include "mc-spamrules-private.h"

/* The first mailbox of a field with a local part and a domain, or
 * NULL. */
static const struct mc_address *first_mailbox(struct scan *s,
					      const struct field *f)
{
	size_t n;
	if (f == NULL)
		return NULL;
	struct mc_address *a =
		mc_address_parse(s->pool, f->raw, strlen(f->raw), 0, &n);
	for (size_t i = 0; i < n; i++)
		if (a[i].local != NULL && a[i].domain != NULL)
			return &a[i];
	return NULL;
}

/* True when sub is dom or one of its subdomains. */
static bool domain_within(const char *sub, const char *dom)
{
	size_t ls = strlen(sub), ld = strlen(dom);
	if (ls == ld)
		return strcasecmp(sub, dom) == 0;
	return ls > ld && sub[ls - ld - 1] == '.' &&
	       strcasecmp(sub + ls - ld, dom) == 0;
}

/* REPLYTO_DIFFERS: a Reply-To mailbox whose domain is neither the From
 * domain nor a sub- or parent domain of it. */
static void check_reply_to(struct scan *s, const struct mc_address *from)
{
	const struct field *f = scan_field(s, "Reply-To");
	size_t n;
	if (f == NULL || from == NULL || s->sr->scores.reply_to_differs == 0)
		return;
	struct mc_address *a =
		mc_address_parse(s->pool, f->raw, strlen(f->raw), 0, &n);
	for (size_t i = 0; i < n; i++) {
		const char *d = a[i].domain;
		if (a[i].local == NULL || d == NULL ||
		    domain_within(d, from->domain) ||
		    domain_within(from->domain, d))
			continue;
		scan_hit(s, "REPLYTO_DIFFERS", s->sr->scores.reply_to_differs,
			 mc_psprintf(s->pool,
				     "Reply-To domain %s is not the "
				     "From domain %s",
				     d, from->domain));
		return;
	}
}

/* True for a plausible domain: dotted labels of letters, digits, "-"
 * and UTF-8. */
static bool plausible_domain(const char *d)
{
	if (*d == '\0' || *d == '.' || strchr(d, '.') == NULL ||
	    strstr(d, "..") != NULL || d[strlen(d) - 1] == '.')
		return false;
	for (; *d != '\0'; d++)
		if (!isalnum((unsigned char)*d) && *d != '-' && *d != '.' &&
		    (unsigned char)*d < 0x80)
			return false;
	return true;
}

/* The display name stripped of blanks, quotes, brackets and "mailto:",
 * in buf; true when what is left is an address (one "@", a local part
 * without blanks, a plausible domain). *at_r points at its "@". */
static bool name_as_address(const char *name, char *buf, size_t size,
			    char **at_r)
{
	static const char strip[] = " \t\"'<>()[]";
	size_t len = strlen(name);
	while (len > 0 && strchr(strip, name[len - 1]) != NULL)
		len--;
	while (len > 0 && strchr(strip, *name) != NULL) {
		name++;
		len--;
	}
	if (len >= 7 && strncasecmp(name, "mailto:", 7) == 0) {
		name += 7;
		len -= 7;
	}
	if (len == 0 || len >= size)
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	char *at = strchr(buf, '@');
	if (at == NULL || at == buf || strchr(at + 1, '@') != NULL ||
	    strpbrk(buf, " \t,;") != NULL)
		return false;
	*at_r = at;
	return plausible_domain(at + 1);
}

/* FROM_NAME_ADDRESS: '"service@paypal.com" <x@evil.example>'. */
static void check_display_name(struct scan *s, const struct mc_address *from)
{
	char addr[512], *at;
	if (from == NULL || from->name == NULL ||
	    s->sr->scores.from_name_address == 0)
		return;
	struct mc_buf dec;
	mc_buf_init(&dec, s->pool, sizeof(addr));
	mc_encword_decode(from->name, strlen(from->name), &dec);
	if (!name_as_address(mc_buf_cstr(&dec), addr, sizeof(addr), &at))
		return;
	*at = '\0';
	if (strcasecmp(addr, from->local) == 0 &&
	    strcasecmp(at + 1, from->domain) == 0)
		return;
	scan_hit(s, "FROM_NAME_ADDRESS", s->sr->scores.from_name_address,
		 mc_psprintf(s->pool,
			     "From display name %s@%s is not the "
			     "address %s@%s",
			     addr, at + 1, from->local, from->domain));
}

/* Adds a hit named name when the header field is missing. */
static void check_missing(struct scan *s, const char *field, const char *name,
			  double score)
{
	if (score != 0 && scan_field(s, field) == NULL)
		scan_hit(s, name, score,
			 mc_psprintf(s->pool, "Message has no %s header",
				     field));
}

/* Missing Date / Message-ID, Reply-To and display-name checks. */
void checks_headers(struct scan *s)
{
	const struct mc_spamrules_scores *sc = &s->sr->scores;
	check_missing(s, "Date", "MISSING_DATE", sc->missing_date);
	check_missing(s, "Message-ID", "MISSING_MESSAGE_ID",
		      sc->missing_message_id);
	const struct mc_address *from = first_mailbox(s, scan_field(s, "From"));
	check_reply_to(s, from);
	check_display_name(s, from);
}

/* ---- attachments ---- */

/* True when word (compared case-insensitively) is in list. */
static bool in_list(char *const *list, size_t n, const char *word)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(list[i], word) == 0)
			return true;
	return false;
}

/* True when name ends in a dangerous extension (trailing dots and blanks,
 * which Windows ignores, ignored too). */
static bool dangerous_name(const struct mc_spamrules *sr, const char *name)
{
	char ext[32];
	size_t len = strlen(name);
	while (len > 0 && (name[len - 1] == '.' || name[len - 1] == ' '))
		len--;
	size_t dot = len;
	while (dot > 0 && name[dot - 1] != '.')
		dot--;
	if (dot == 0 || len - dot == 0 || len - dot >= sizeof(ext))
		return false;
	memcpy(ext, name + dot, len - dot);
	ext[len - dot] = '\0';
	return in_list(sr->exts, sr->ext_count, ext);
}

/* A new libmagic handle for sr; false with why filled. */
bool checks_magic_open(const struct mc_spamrules *sr, magic_t *m_r, char *why,
		       size_t size)
{
	magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS);
	if (m == NULL) {
		snprintf(why, size, "magic_open: %s", strerror(errno));
		return false;
	}
	if (magic_load(m, sr->magic_file) != 0) {
		const char *e = magic_error(m);
		snprintf(why, size, "%s", e ? e : "cannot load the database");
		magic_close(m);
		return false;
	}
	*m_r = m;
	return true;
}

/* The scan's libmagic handle: an idle one, or a new one. */
static magic_t magic_take(struct scan *s)
{
	struct mc_spamrules *sr = s->sr;
	char why[256];
	if (s->magic != NULL)
		return s->magic;
	pthread_mutex_lock(&sr->magic_lock);
	if (sr->magic_idle_count > 0)
		s->magic = sr->magic_idle[--sr->magic_idle_count];
	pthread_mutex_unlock(&sr->magic_lock);
	if (s->magic == NULL &&
	    !checks_magic_open(sr, &s->magic, why, sizeof(why)))
		s->magic = NULL; /* sniffing skipped for this scan */
	return s->magic;
}

/* Returns the scan's libmagic handle (if any) to the idle list. */
void checks_magic_release(struct scan *s)
{
	struct mc_spamrules *sr = s->sr;
	if (s->magic == NULL)
		return;
	pthread_mutex_lock(&sr->magic_lock);
	if (sr->magic_idle_count == sr->magic_idle_cap) {
		sr->magic_idle_cap *= 2;
		sr->magic_idle = mc_realloc(sr->magic_idle,
					    sr->magic_idle_cap *
						    sizeof(*sr->magic_idle));
	}
	sr->magic_idle[sr->magic_idle_count++] = s->magic;
	pthread_mutex_unlock(&sr->magic_lock);
	s->magic = NULL;
}

/* libmagic's MIME type of the sniffed bytes (pool), or NULL. */
static const char *sniff_type(struct scan *s, const struct mc_buf *sniff)
{
	magic_t m = magic_take(s);
	if (m == NULL)
		return NULL;
	const char *t = magic_buffer(m, sniff->data, sniff->len);
	return t != NULL ? mc_pstrdup(s->pool, t) : NULL;
}

/* Flags att by name, declared type and sniffed type. */
void checks_attachment(struct scan *s, struct mc_spamrules_attachment *att,
		       const struct mc_buf *sniff)
{
	const struct mc_spamrules *sr = s->sr;
	if (sniff != NULL && sniff->len > 0)
		att->sniffed_type = sniff_type(s, sniff);
	att->dangerous_name =
		att->name != NULL && dangerous_name(sr, att->name);
	att->dangerous_type =
		in_list(sr->types, sr->type_count, att->declared_type) ||
		(att->sniffed_type != NULL &&
		 in_list(sr->types, sr->type_count, att->sniffed_type));
	att->dangerous = att->dangerous_name || att->dangerous_type;
}

/* The type that made att dangerous: the sniffed one when listed, else
 * the declared one. */
static const char *bad_type(const struct mc_spamrules *sr,
			    const struct mc_spamrules_attachment *att)
{
	if (att->sniffed_type != NULL &&
	    in_list(sr->types, sr->type_count, att->sniffed_type))
		return att->sniffed_type;
	return att->declared_type;
}

/* The attachment symbols, naming the first attachment of each kind. */
void checks_attachments_total(struct scan *s)
{
	const struct mc_spamrules_scores *sc = &s->sr->scores;
	const struct mc_spamrules_attachment *by_name = NULL, *by_type = NULL;
	for (size_t i = 0; i < s->att_count; i++) {
		if (by_name == NULL && s->atts[i].dangerous_name)
			by_name = &s->atts[i];
		if (by_type == NULL && s->atts[i].dangerous_type)
			by_type = &s->atts[i];
	}
	if (by_name != NULL && sc->attach_name != 0)
		scan_hit(s, "ATTACH_DANGEROUS_NAME", sc->attach_name,
			 mc_psprintf(s->pool, "Dangerous attachment name %s",
				     by_name->name));
	if (by_type != NULL && sc->attach_type != 0)
		scan_hit(s, "ATTACH_DANGEROUS_TYPE", sc->attach_type,
			 mc_psprintf(s->pool, "Dangerous attachment type %s",
				     bad_type(s->sr, by_type)));
}

/* ---- the other filters ---- */

/* Adds a hit when score is not 0. */
static void input_hit(struct scan *s, const char *name, double score,
		      const char *description)
{
	if (score != 0)
		scan_hit(s, name, score, description);
}

/* The other filters' symbols; in may be NULL. */
void checks_inputs(struct scan *s, const struct mc_spamrules_inputs *in)
{
	const struct mc_spamrules_scores *sc = &s->sr->scores;
	if (in == NULL)
		return;
	if (in->spf == MC_SPF_PASS)
		input_hit(s, "SPF_PASS", sc->spf_pass, "SPF pass");
	else if (in->spf == MC_SPF_FAIL)
		input_hit(s, "SPF_FAIL", sc->spf_fail, "SPF fail");
	else if (in->spf == MC_SPF_SOFTFAIL)
		input_hit(s, "SPF_SOFTFAIL", sc->spf_softfail, "SPF softfail");
	if (in->dkim == MC_DKIM_PASS)
		input_hit(s, "DKIM_PASS", sc->dkim_pass,
			  "DKIM signature passed");
	else if (in->dkim == MC_DKIM_FAIL)
		input_hit(s, "DKIM_FAIL", sc->dkim_fail,
			  "DKIM signature failed");
	if (in->dmarc == MC_DMARC_FAIL)
		input_hit(s, "DMARC_FAIL", sc->dmarc_fail, "DMARC fail");
	if (in->dnsbl_score != 0)
		input_hit(s, "DNSBL", in->dnsbl_score * sc->dnsbl_factor,
			  mc_psprintf(s->pool, "DNSBL score %g",
				      in->dnsbl_score));
	for (size_t i = 0; i < in->extra_count; i++)
		scan_hit(s, in->extra[i].name, in->extra[i].score,
			 in->extra[i].description);
}
