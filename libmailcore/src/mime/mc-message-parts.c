/* mc-message-parts: the part map, a compact text locating every IMAP
 * section (RFC 3501 6.4.5) in the raw message, and its lookup. One line
 * per section, in tree order:
 *   <section> SP <kind> SP <hoff> SP <hsize> SP <boff> SP <bsize>
 *             [SP <mhoff> SP <mhsize> SP <mboff> SP <mbsize>] LF
 * section is "0" for the whole message (IMAP ""), else the dotted part
 * number; kind is 'p' multipart, 'm' message/rfc822 or global with an
 * encapsulated message (whose header and body follow as mh and mb), 'l'
 * anything else. Offsets and sizes are decimal byte counts. */
#include "mc-message-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTION_MAX 256

/* True for a part with a multipart Content-Type. */
static bool part_is_multipart(const struct msg_part *p)
{
	return p->has_info && strcmp(p->type, "multipart") == 0;
}

/* The encapsulated message of a message/rfc822 part, or NULL. */
static const struct msg_part *encapsulated(const struct mc_message *msg,
					   const struct msg_part *p)
{
	if (!p->has_info || strcmp(p->type, "message") != 0 ||
	    p->first_child < 0)
		return NULL;
	return &msg->parts[p->first_child];
}

/* Appends one map line for part p under section. */
static void put_line(const struct mc_message *msg, struct mc_buf *out,
		     const char *section, const struct msg_part *p, bool top)
{
	const struct msg_part *m = top ? NULL : encapsulated(msg, p);
	char kind = m != NULL ? 'm' : part_is_multipart(p) ? 'p' : 'l';

	mc_buf_printf(out, "%s %c %llu %llu %llu %llu", section, kind,
		      (unsigned long long)p->header_offset,
		      (unsigned long long)p->header_size,
		      (unsigned long long)p->body_offset,
		      (unsigned long long)p->body_size);
	if (m != NULL)
		mc_buf_printf(out, " %llu %llu %llu %llu",
			      (unsigned long long)m->header_offset,
			      (unsigned long long)m->header_size,
			      (unsigned long long)m->body_offset,
			      (unsigned long long)m->body_size);
	mc_buf_append_c(out, '\n');
}

static void number_body(const struct mc_message *msg, struct mc_buf *out,
			unsigned idx, const char *section);

/* "prefix.n", or "n" at the top. */
static void child_section(char *buf, const char *prefix, unsigned n)
{
	if (*prefix == '\0')
		snprintf(buf, SECTION_MAX, "%u", n);
	else
		snprintf(buf, SECTION_MAX, "%s.%u", prefix, n);
}

/* Numbers the parts of a message (the top one or an encapsulated one):
 * a multipart's children are prefix.1, prefix.2...; any other body is
 * prefix.1 itself. */
static void number_message(const struct mc_message *msg, struct mc_buf *out,
			   unsigned idx, const char *prefix)
{
	const struct msg_part *m = &msg->parts[idx];
	char section[SECTION_MAX];
	unsigned n = 0;

	if (strlen(prefix) + 12 >= SECTION_MAX)
		return;
	if (!part_is_multipart(m)) {
		child_section(section, prefix, 1);
		number_body(msg, out, idx, section);
		return;
	}
	for (int c = m->first_child; c >= 0; c = msg->parts[c].next_sibling) {
		child_section(section, prefix, ++n);
		number_body(msg, out, (unsigned)c, section);
	}
}

/* Writes the line of a body part and numbers what it contains. */
static void number_body(const struct mc_message *msg, struct mc_buf *out,
			unsigned idx, const char *section)
{
	const struct msg_part *p = &msg->parts[idx];
	char sub[SECTION_MAX];
	unsigned n = 0;

	put_line(msg, out, section, p, false);
	if (encapsulated(msg, p) != NULL) {
		number_message(msg, out, (unsigned)p->first_child, section);
		return;
	}
	if (!part_is_multipart(p) || strlen(section) + 12 >= SECTION_MAX)
		return;
	for (int c = p->first_child; c >= 0; c = msg->parts[c].next_sibling) {
		child_section(sub, section, ++n);
		number_body(msg, out, (unsigned)c, sub);
	}
}

/* The whole map: the message itself as "0", then its sections. */
void msg_parts_write(const struct mc_message *msg, struct mc_buf *out)
{
	put_line(msg, out, "0", &msg->parts[0], true);
	number_message(msg, out, 0, "");
}

/* section-part = nz-number *("." nz-number), or "" for the message. */
static bool valid_section(const char *s)
{
	if (*s == '\0')
		return true;
	for (;;) {
		if (*s < '1' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
		if (*s == '\0')
			return true;
		if (*s++ != '.')
			return false;
	}
}

/* Reads " <number>" at *s; false on anything else. */
static bool read_u64(const char **s, uint64_t *value_r)
{
	char *end;

	if (**s != ' ' || (*s)[1] < '0' || (*s)[1] > '9')
		return false;
	*value_r = strtoull(*s + 1, &end, 10);
	*s = end;
	return true;
}

/* Parses the rest of a map line after its section: kind and numbers. */
static bool parse_line(const char *s, struct mc_message_part *r)
{
	char kind;

	memset(r, 0, sizeof(*r));
	if (s[0] != ' ' || (s[1] != 'l' && s[1] != 'p' && s[1] != 'm'))
		return false;
	kind = s[1];
	s += 2;
	if (!read_u64(&s, &r->header_offset) ||
	    !read_u64(&s, &r->header_size) || !read_u64(&s, &r->body_offset) ||
	    !read_u64(&s, &r->body_size))
		return false;
	r->is_multipart = kind == 'p';
	r->is_message = kind == 'm';
	if (!r->is_message) {
		r->msg_header_offset = r->header_offset;
		r->msg_header_size = r->header_size;
		r->msg_body_offset = r->body_offset;
		r->msg_body_size = r->body_size;
		return *s == '\n' || *s == '\0';
	}
	return read_u64(&s, &r->msg_header_offset) &&
	       read_u64(&s, &r->msg_header_size) &&
	       read_u64(&s, &r->msg_body_offset) &&
	       read_u64(&s, &r->msg_body_size) && (*s == '\n' || *s == '\0');
}

/* Finds the map line of a section and reads it into part_r. */
bool mc_message_part_find(const char *parts, const char *section,
			  struct mc_message_part *part_r)
{
	const char *key = *section == '\0' ? "0" : section;
	size_t klen = strlen(key);

	if (parts == NULL || !valid_section(section))
		return false;
	for (const char *line = parts; *line != '\0';) {
		const char *nl = strchr(line, '\n');

		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return parse_line(line + klen, part_r);
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return false;
}
