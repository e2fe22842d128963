/* mc-message: streams a whole message through mc-mime once and keeps what
 * the store needs so IMAP never reparses: the part tree with offsets, the
 * envelope headers of every (encapsulated) message, searchable text. The
 * IMAP values, part map and SORT keys are written at finish by the other
 * mc-message-*.c files. */
#include "mc-message-private.h"

#include "mailcore/mc-address.h"
#include "mailcore/mc-date.h"
#include "mailcore/mc-encword.h"

#include <stdlib.h>
#include <string.h>

/* Header names of enum msg_env_field, in order. */
static const char *const env_names[ENV_COUNT] = {
	"date", "subject", "from",	  "sender",	"reply-to",  "to",
	"cc",	"bcc",	   "in-reply-to", "message-id", "references"};

/* A collector with a parser waiting for the message's first byte. */
struct mc_message *mc_message_create(const struct mc_message_settings *set)
{
	struct mc_message *msg = mc_calloc(1, sizeof(*msg));

	if (set != NULL)
		msg->set = *set;
	if (msg->set.max_text == 0)
		msg->set.max_text = MSG_DEFAULT_MAX_TEXT;
	msg->pool = mc_pool_create("message", 16384);
	msg->parser = mc_mime_parser_create(&msg->set.mime);
	msg->text_part = -1;
	msg_text_init(&msg->text, msg->set.max_text);
	return msg;
}

/* Frees the collector and everything the info points to. */
void mc_message_destroy(struct mc_message **msgp)
{
	struct mc_message *msg = *msgp;

	if (msg == NULL)
		return;
	mc_mime_parser_destroy(&msg->parser);
	msg_text_free(&msg->text);
	free(msg->parts);
	mc_pool_destroy(&msg->pool);
	free(msg);
	*msgp = NULL;
}

/* The part an event refers to, growing the array as parts begin. */
static struct msg_part *part_get(struct mc_message *msg, unsigned idx)
{
	if (idx >= msg->parts_alloc) {
		unsigned n = msg->parts_alloc == 0 ? 16 : msg->parts_alloc;

		while (n <= idx)
			n *= 2;
		msg->parts = mc_realloc(msg->parts, n * sizeof(*msg->parts));
		memset(msg->parts + msg->parts_alloc, 0,
		       (n - msg->parts_alloc) * sizeof(*msg->parts));
		msg->parts_alloc = n;
	}
	if (idx >= msg->parts_count)
		msg->parts_count = idx + 1;
	return &msg->parts[idx];
}

/* True when the part is message/rfc822 or message/global by type. */
static bool is_message_type(const struct msg_part *p)
{
	return p->has_info && strcmp(p->type, "message") == 0 &&
	       (strcmp(p->subtype, "rfc822") == 0 ||
		strcmp(p->subtype, "global") == 0);
}

/* PART_BEGIN: links the part under its parent; message roots (the top
 * one and those inside message/rfc822) get an envelope. */
static void on_begin(struct mc_message *msg, const struct mc_mime_event *ev)
{
	struct msg_part *p = part_get(msg, ev->part), *parent;

	memset(p, 0, sizeof(*p));
	p->parent = ev->parent;
	p->first_child = p->last_child = p->next_sibling = -1;
	p->header_offset = ev->u.begin.offset;
	p->body_offset = ev->u.begin.offset;
	if (ev->parent >= 0 && (unsigned)ev->parent < msg->parts_count &&
	    (unsigned)ev->parent != ev->part) {
		parent = &msg->parts[ev->parent];
		if (parent->last_child >= 0)
			msg->parts[parent->last_child].next_sibling =
				(int)ev->part;
		else
			parent->first_child = (int)ev->part;
		parent->last_child = (int)ev->part;
		parent->children++;
		if (is_message_type(parent))
			p->env = mc_palloc(msg->pool, sizeof(*p->env));
	} else {
		p->parent = -1;
		p->env = mc_palloc(msg->pool, sizeof(*p->env));
	}
}

/* HEADER: keeps the first occurrence of each envelope field. */
static void on_header(struct mc_message *msg, const struct mc_mime_event *ev)
{
	struct msg_envelope *env = part_get(msg, ev->part)->env;

	if (env == NULL)
		return;
	for (unsigned i = 0; i < ENV_COUNT; i++) {
		if (env->field[i] == NULL &&
		    mc_str_eq_icase(ev->u.header.name, env_names[i])) {
			env->field[i] =
				mc_pstrndup(msg->pool, ev->u.header.value,
					    ev->u.header.value_len);
			return;
		}
	}
}

/* Copies a parameter list into the message pool. */
static struct mc_mime_param *
params_dup(struct mc_pool *pool, const struct mc_mime_param *in, unsigned count)
{
	struct mc_mime_param *out;

	if (count == 0)
		return NULL;
	out = mc_palloc_array(pool, count, sizeof(*out));
	for (unsigned i = 0; i < count; i++) {
		out[i].name = mc_pstrdup(pool, in[i].name);
		out[i].value = mc_pstrdup(pool, in[i].value);
	}
	return out;
}

/* A pool copy of s, NULL staying NULL. */
static const char *pdup(struct mc_pool *pool, const char *s)
{
	return s == NULL ? NULL : mc_pstrdup(pool, s);
}

/* Copies the Content-* information of a part. */
static void copy_info(struct mc_pool *pool, struct msg_part *p,
		      const struct mc_mime_part_info *in)
{
	p->has_info = true;
	p->type = mc_pstrdup(pool, in->type);
	p->subtype = mc_pstrdup(pool, in->subtype);
	p->params = params_dup(pool, in->params, in->params_count);
	p->params_count = in->params_count;
	p->encoding = pdup(pool, in->encoding_name);
	p->id = pdup(pool, in->id);
	p->description = pdup(pool, in->description);
	p->md5 = pdup(pool, in->md5);
	p->language = pdup(pool, in->language);
	p->location = pdup(pool, in->location);
	p->disposition = pdup(pool, in->disposition);
	p->dparams = params_dup(pool, in->disposition_params,
				in->disposition_params_count);
	p->dparams_count = in->disposition_params_count;
	p->header_size = in->header_size;
	p->body_offset = in->body_offset;
}

/* Decodes an address list for display: "Name <a@b>, c@d". */
static const char *display_list(struct mc_pool *pool, const char *raw)
{
	struct mc_address *addrs;
	struct mc_buf buf;
	size_t count;

	if (raw == NULL)
		return "";
	addrs = mc_address_parse(pool, raw, strlen(raw), 0, &count);
	for (size_t i = 0; i < count; i++) {
		const char **s = addrs[i].is_group_start ? &addrs[i].group
							 : &addrs[i].name;

		if (*s == NULL)
			continue;
		mc_buf_init(&buf, pool, 0);
		mc_encword_decode(*s, strlen(*s), &buf);
		*s = mc_buf_cstr(&buf);
	}
	mc_buf_init(&buf, pool, 0);
	mc_address_write_list(addrs, count, &buf);
	return mc_buf_cstr(&buf);
}

/* Lower-cased local part of the first mailbox of an address list. */
static const char *first_mailbox(struct mc_pool *pool, const char *raw)
{
	struct mc_address *addrs;
	size_t count;

	if (raw == NULL)
		return "";
	addrs = mc_address_parse(pool, raw, strlen(raw), 0, &count);
	for (size_t i = 0; i < count; i++) {
		if (addrs[i].local != NULL)
			return msg_lower_utf8(pool, addrs[i].local);
	}
	return "";
}

/* Trimmed pool copy of a raw value, "" when absent. */
static const char *raw_trimmed(struct mc_pool *pool, const char *s)
{
	return s == NULL ? "" : mc_str_trim(mc_pstrdup(pool, s));
}

/* Fills the decoded header fields and sort keys of the top message and
 * puts the subject and addresses into the searchable text. */
static void top_headers(struct mc_message *msg, const struct msg_envelope *e)
{
	struct mc_message_info *info = &msg->info;
	const char *subj = e->field[ENV_SUBJECT];
	struct mc_buf buf;

	mc_buf_init(&buf, msg->pool, 0);
	if (subj != NULL)
		mc_encword_decode(subj, strlen(subj), &buf);
	info->subject = mc_buf_cstr(&buf);
	info->from = display_list(msg->pool, e->field[ENV_FROM]);
	info->to = display_list(msg->pool, e->field[ENV_TO]);
	info->cc = display_list(msg->pool, e->field[ENV_CC]);
	info->message_id = raw_trimmed(msg->pool, e->field[ENV_MESSAGE_ID]);
	info->in_reply_to = raw_trimmed(msg->pool, e->field[ENV_IN_REPLY_TO]);
	info->references = raw_trimmed(msg->pool, e->field[ENV_REFERENCES]);
	info->base_subject = msg_base_subject(msg->pool, subj);
	info->sort_from = first_mailbox(msg->pool, e->field[ENV_FROM]);
	info->sort_to = first_mailbox(msg->pool, e->field[ENV_TO]);
	info->sort_cc = first_mailbox(msg->pool, e->field[ENV_CC]);
	if (e->field[ENV_DATE] != NULL)
		info->has_date = mc_date_parse(e->field[ENV_DATE], &info->date,
					       &info->date_tz);
	msg_text_add(&msg->text, info->subject);
	msg_text_add(&msg->text, info->from);
	msg_text_add(&msg->text, info->to);
	msg_text_add(&msg->text, info->cc);
}

/* HEADERS_END: part info, attachment detection, text capture start. */
static void on_headers_end(struct mc_message *msg,
			   const struct mc_mime_event *ev)
{
	const struct mc_mime_part_info *in = ev->u.headers_end.info;
	struct msg_part *p = part_get(msg, ev->part);
	const char *fname = in->filename != NULL ? in->filename : in->name;

	copy_info(msg->pool, p, in);
	if (ev->part == 0 && p->env != NULL)
		top_headers(msg, p->env);
	if ((fname != NULL && *fname != '\0') ||
	    (in->disposition != NULL &&
	     strcmp(in->disposition, "attachment") == 0))
		msg->info.has_attachments = true;
	if (fname != NULL)
		msg_text_add(&msg->text, fname);
	if (strcmp(in->type, "text") == 0 && !msg->text.full) {
		msg->text_part = (int)ev->part;
		msg_text_part_begin(&msg->text, in->charset,
				    strcmp(in->subtype, "html") == 0);
	}
}

/* PART_END: sizes, and the end of a text capture. */
static void on_end(struct mc_message *msg, const struct mc_mime_event *ev)
{
	struct msg_part *p = part_get(msg, ev->part);

	p->ended = true;
	p->header_size = ev->u.end.header_size;
	p->body_offset = ev->u.end.body_offset;
	p->body_size = ev->u.end.body_size;
	p->body_lines = ev->u.end.body_lines;
	if (msg->text_part == (int)ev->part) {
		msg_text_part_end(&msg->text);
		msg->text_part = -1;
	}
}

/* Dispatches one mc-mime event. */
static void on_event(struct mc_message *msg, const struct mc_mime_event *ev)
{
	switch (ev->type) {
	case MC_MIME_EV_PART_BEGIN:
		on_begin(msg, ev);
		break;
	case MC_MIME_EV_HEADER:
		on_header(msg, ev);
		break;
	case MC_MIME_EV_HEADERS_END:
		on_headers_end(msg, ev);
		break;
	case MC_MIME_EV_BODY:
		if (msg->text_part == (int)ev->part)
			msg_text_part_data(&msg->text, ev->u.body.data,
					   ev->u.body.size);
		break;
	case MC_MIME_EV_PART_END:
		on_end(msg, ev);
		break;
	case MC_MIME_EV_WARNING:
		msg->warnings++;
		break;
	}
}

/* Handles every event the parser has ready. */
static void drain(struct mc_message *msg)
{
	struct mc_mime_event ev;

	while (mc_mime_parser_next(msg->parser, &ev) == 1)
		on_event(msg, &ev);
}

/* Parses the bytes and handles every event they complete. */
void mc_message_feed(struct mc_message *msg, const void *data, size_t len)
{
	if (msg->finished || len == 0)
		return;
	msg->size += len;
	mc_mime_parser_feed(msg->parser, data, len);
	drain(msg);
}

/* Writes the IMAP values and the part map into the info. */
static void build_imap(struct mc_message *msg)
{
	static const struct msg_envelope empty_env;
	const struct msg_envelope *env = msg->parts[0].env;
	struct mc_buf buf;

	mc_buf_init(&buf, msg->pool, 0);
	msg_imap_envelope(&buf, msg->pool, env != NULL ? env : &empty_env);
	msg->info.envelope = mc_buf_cstr(&buf);
	mc_buf_init(&buf, msg->pool, 0);
	msg_imap_body(msg, &buf, 0, false);
	msg->info.body = mc_buf_cstr(&buf);
	mc_buf_init(&buf, msg->pool, 0);
	msg_imap_body(msg, &buf, 0, true);
	msg->info.bodystructure = mc_buf_cstr(&buf);
	mc_buf_init(&buf, msg->pool, 0);
	msg_parts_write(msg, &buf);
	msg->info.parts = mc_buf_cstr(&buf);
}

/* Sets every string of the info to "" before the fields are filled. */
static void info_defaults(struct mc_message_info *info)
{
	info->subject = info->from = info->to = info->cc = "";
	info->message_id = info->in_reply_to = info->references = "";
	info->base_subject = info->sort_from = "";
	info->sort_to = info->sort_cc = "";
}

/* Ends the input, completes the parts and writes the results. */
const struct mc_message_info *mc_message_finish(struct mc_message *msg)
{
	if (msg->finished)
		return &msg->info;
	msg->finished = true;
	mc_mime_parser_finish(msg->parser);
	drain(msg);
	if (msg->text_part >= 0) {
		msg_text_part_end(&msg->text);
		msg->text_part = -1;
	}
	if (msg->info.subject == NULL)
		info_defaults(&msg->info);
	if (msg->parts_count == 0)
		on_begin(msg, &(struct mc_mime_event){.parent = -1});
	build_imap(msg);
	msg->info.text = mc_buf_cstr(&msg->text.out);
	msg->info.text_len = msg->text.out.len;
	msg->info.size = msg->size;
	msg->info.parts_count = msg->parts_count;
	msg->info.warnings = msg->warnings;
	return &msg->info;
}
