/* mc-address: RFC 5322 address-list parser (section 3.4 with the obsolete
 * syntax of 4.4 and RFC 6532 UTF-8) producing the flat list IMAP's ENVELOPE
 * needs: group start marker, members, group end marker. Malformed input
 * degrades to best-effort entries marked invalid; it never fails. */
#ifndef MC_ADDRESS_H
#define MC_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

struct mc_pool;
struct mc_buf;

#define MC_ADDRESS_DEFAULT_MAX 10000

/* One mailbox or one group marker. Strings are unquoted (no surrounding
 * quotes, backslash escapes removed); the display name is otherwise raw:
 * RFC 2047 encoded words are left for the caller (mc-encword). */
struct mc_address {
	const char *name;   /* display name, NULL if none */
	const char *local;  /* NULL for group start/end markers */
	const char *domain; /* NULL for markers and domain-less mailboxes */
	const char *group;  /* group name on the group-start marker */
	bool is_group_start, is_group_end;
	bool invalid; /* syntax was broken: best-effort content */
};

/* Parses len bytes of an address-list (a header value, unfolded or not).
 * At most max entries (group markers included; 0 = MC_ADDRESS_DEFAULT_MAX)
 * are returned; a group that was opened is always closed. The array and
 * its strings are allocated from pool; *count_r gets the number of entries
 * (the array is NULL when it is 0). */
struct mc_address *mc_address_parse(struct mc_pool *pool, const char *input,
				    size_t len, size_t max, size_t *count_r);

/* Appends one entry in RFC 5322 form: "Name <local@domain>", "local@domain",
 * "Group:" for a group start and ";" for a group end. The display name and
 * the local part are quoted when they need it. False when out is full. */
bool mc_address_write(const struct mc_address *addr, struct mc_buf *out);

/* Appends a whole list with ", " between mailboxes: "a@b, G: c@d, e@f;". */
bool mc_address_write_list(const struct mc_address *addrs, size_t count,
			   struct mc_buf *out);

#endif
