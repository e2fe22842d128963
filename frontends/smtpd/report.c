/* report: spam and not-spam report addresses. An authenticated user who
 * sends a message to [spam] report_spam@ (or report_ham@) one of its
 * tenant's domains trains the tenant's Bayes classifier: with the first
 * attached message (message/rfc822, as "forward as attachment" makes
 * it), else the whole message. Such a recipient stores nothing. */
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-bayes.h"
#include "mailcore/mc-mime.h"
#include "smtpd.h"

/* Spam (1), ham (-1) or no report address (0) for address. */
int report_kind(const struct smtpd *d, const char *address)
{
	const char *at = strrchr(address, '@');
	if (at == NULL)
		return 0;
	size_t len = (size_t)(at - address);
	if (*d->report_spam != '\0' && strlen(d->report_spam) == len &&
	    strncasecmp(address, d->report_spam, len) == 0)
		return 1;
	if (*d->report_ham != '\0' && strlen(d->report_ham) == len &&
	    strncasecmp(address, d->report_ham, len) == 0)
		return -1;
	return 0;
}

/* The range of the first attached message: [start, end). */
struct range {
	uint64_t start, end;
	int container; /* the message/rfc822 part, -1 until seen */
	bool found, done;
};

/* Follows one parser event. */
static void track(struct range *r, const struct mc_mime_event *ev)
{
	if (r->done)
		return;
	if (ev->type == MC_MIME_EV_HEADERS_END && r->container < 0 &&
	    ev->u.headers_end.info->type != NULL &&
	    strcmp(ev->u.headers_end.info->type, "message") == 0 &&
	    strcmp(ev->u.headers_end.info->subtype, "rfc822") == 0 &&
	    ev->part > 0)
		r->container = (int)ev->part;
	else if (ev->type == MC_MIME_EV_PART_BEGIN && r->container >= 0 &&
		 !r->found && ev->parent == r->container) {
		r->found = true;
		r->start = ev->u.begin.offset;
	} else if (ev->type == MC_MIME_EV_PART_END && r->found &&
		   ev->parent == r->container) {
		r->end = ev->u.end.body_offset + ev->u.end.body_size;
		r->done = true;
	}
}

/* Finds the attached message; false when there is none. */
static bool attached(report_read_fn *read, void *ctx, struct range *r)
{
	struct mc_mime_parser *p = mc_mime_parser_create(NULL);
	char buf[65536];
	uint64_t off = 0;
	ssize_t n;
	struct mc_mime_event ev;
	*r = (struct range){.container = -1};
	while (!r->done && (n = read(ctx, buf, sizeof(buf), off)) > 0) {
		off += (uint64_t)n;
		mc_mime_parser_feed(p, buf, (size_t)n);
		while (mc_mime_parser_next(p, &ev) == 1)
			track(r, &ev);
	}
	if (!r->done) {
		mc_mime_parser_finish(p);
		while (mc_mime_parser_next(p, &ev) == 1)
			track(r, &ev);
	}
	mc_mime_parser_destroy(&p);
	return r->done && r->end > r->start;
}

/* A reader over a range of another reader. */
struct sub {
	report_read_fn *read;
	void *ctx;
	uint64_t start, end;
};

/* mc_bayes_read_fn over the range. */
static ssize_t sub_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct sub *s = ctx;
	if (s->start + off >= s->end)
		return 0;
	if (len > s->end - s->start - off)
		len = (size_t)(s->end - s->start - off);
	return s->read(s->ctx, buf, len, s->start + off);
}

/* The lower-case hex SHA-256 of the range (the learned message's key). */
static bool range_hash(struct sub *s, char hex[65])
{
	unsigned char md[32], buf[65536];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	uint64_t off = 0;
	ssize_t n;
	while ((n = sub_read(s, buf, sizeof(buf), off)) > 0) {
		EVP_DigestUpdate(c, buf, (size_t)n);
		off += (uint64_t)n;
	}
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return n == 0;
}

void report_learn(struct mc_worker *worker, struct smtpd *d,
		  struct mc_pool *pool, const struct trans *t,
		  report_read_fn *read, void *ctx, uint64_t size)
{
	struct range r;
	struct sub s = {read, ctx, 0, size};
	char hash[65];
	bool any = false;
	for (const struct rcpt *rc = t->rcpts; rc != NULL && !any; rc = rc->next)
		any = rc->report != 0;
	if (d->bayes == NULL || !any)
		return;
	if (attached(read, ctx, &r)) {
		s.start = r.start;
		s.end = r.end;
	}
	if (!range_hash(&s, hash))
		return;
	for (const struct rcpt *rc = t->rcpts; rc != NULL; rc = rc->next) {
		struct mc_error err = {0};
		if (rc->report == 0)
			continue;
		int got = mc_bayes_learn(d->bayes, mc_service_worker_pg(worker),
					 pool, rc->res.tenant_id, hash, sub_read,
					 &s, rc->report > 0, &err);
		mc_log_info("message %s: report to %s: %s", t->id, rc->address,
			    got < 0	 ? err.msg
			    : got == 0 ? "already learned so"
				       : rc->report > 0 ? "learned as spam"
							: "learned as ham");
	}
}
