/* mc-spamrules: the rule-based spam score of a message. One streaming
 * pass (through mc-mime) over the message runs the rules of a rules file
 * (PCRE2 patterns on header fields, body text and URIs), the built-in
 * checks (Reply-To domain, a display name that is another address,
 * missing Date / Message-ID, dangerous attachments by file name and by
 * content sniffed with libmagic), and adds the verdicts of the other
 * filters (SPF, DKIM, DMARC, DNSBL score) that the caller passes in:
 * this module calls none of them. The result is a score, the symbols
 * that hit and the attachments seen.
 *
 * Rules file ([spam] rules = FILE; the default set ships as
 * libmailcore/data/spam-rules.conf). One rule per line; blank lines and
 * lines starting with "#" are ignored:
 *
 *   header NAME TARGET =~ /REGEX/FLAGS SCORE ["DESCRIPTION"]
 *   header NAME TARGET !~ /REGEX/FLAGS SCORE ["DESCRIPTION"]
 *   header NAME exists:FIELD SCORE ["DESCRIPTION"]
 *   body NAME =~ /REGEX/FLAGS SCORE ["DESCRIPTION"]
 *   rawbody NAME =~ /REGEX/FLAGS SCORE ["DESCRIPTION"]
 *   uri NAME =~ /REGEX/FLAGS SCORE ["DESCRIPTION"]
 *
 * NAME: letters, digits and "_", at most MC_SPAMRULES_NAME_MAX, unique
 * in the set and none of the built-in symbols (see the scores below).
 * TARGET is a header field name of the message (not of its parts),
 * matched against its value unfolded and decoded to UTF-8 (RFC
 * 2047), every occurrence joined by "\n", "" when the field is absent
 * (so !~ hits a missing field); "FIELD:raw" is the undecoded value,
 * "FIELD:addr" the addresses ("local@domain", one per line),
 * "FIELD:name" the decoded display names; "ALL" is every field as
 * "Name: value\n". exists:FIELD hits when the field is present.
 *   body: the Subject, a newline, then the text parts (text/plain and
 * text/html that are no attachments) decoded to UTF-8, HTML tags,
 * comments, <script> and <style> dropped and entities decoded, parts
 * separated by newlines, line ends LF. rawbody: the same parts decoded
 * to UTF-8 with the HTML kept, no Subject. uri: each http://,
 * https://, ftp:// or www. link found in the rawbody text, matched one
 * at a time (the rule hits once however many match).
 *   REGEX is PCRE2 syntax in UTF-8 mode ("/" inside written "\/");
 * FLAGS any of i (caseless), m (^ and $ at line ends), s (. matches
 * newlines), x (extended). SCORE is a decimal number, negative allowed,
 * |SCORE| <= 1000; a rule scored 0 is checked but never run.
 * DESCRIPTION is in double quotes (\" and \\ escaped). Anything else
 * (meta, score, describe lines of SpamAssassin) fails loading with the
 * line number. A rule hits once per message, whatever the matches.
 *
 * Every regex runs under the match and depth limits of the settings: a
 * match that reaches one (catastrophic backtracking) counts as no match
 * and is counted in regex_errors.
 *
 * Thread-safe: a struct mc_spamrules is read-only after creation (the
 * compiled patterns) and may be shared by every worker thread; each scan
 * takes its own scratch (PCRE2 match data and JIT stack) and a libmagic
 * handle from a mutex-guarded free list (a magic_t is not thread-safe).
 * A scan holds at most a few times max_body_bytes plus sniff_bytes per
 * part in memory, whatever the message size. */
#ifndef MC_SPAMRULES_H
#define MC_SPAMRULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mc-dkim.h"
#include "mc-dmarc.h"
#include "mc-spf.h"

struct mc_error;
struct mc_pool;
struct mc_spamrules;

#define MC_SPAMRULES_NAME_MAX  64    /* rule name bytes */
#define MC_SPAMRULES_RULES_MAX 10000 /* rules in one set */
#define MC_SPAMRULES_LINE_MAX  8192  /* bytes in one rules-file line */
#define MC_SPAMRULES_URIS_MAX  1000  /* links matched by uri rules */
#define MC_SPAMRULES_SCORE_MAX 1000.0

/* The scores of the built-in checks and of the other filters' verdicts.
 * 0 disables a check (no symbol). The symbol names are in brackets. */
struct mc_spamrules_scores {
	double reply_to_differs;   /* [REPLYTO_DIFFERS] Reply-To domain is
				      neither the From domain nor one of
				      its sub- or parent domains */
	double from_name_address;  /* [FROM_NAME_ADDRESS] the From display
				      name is itself an address, another
				      one than the From address */
	double missing_date;	   /* [MISSING_DATE] */
	double missing_message_id; /* [MISSING_MESSAGE_ID] */
	double attach_name;	   /* [ATTACH_DANGEROUS_NAME] an attachment
				      name ends in a dangerous extension */
	double attach_type;	   /* [ATTACH_DANGEROUS_TYPE] the declared or
				      sniffed type is a dangerous one */
	double spf_pass;	   /* [SPF_PASS] */
	double spf_fail;	   /* [SPF_FAIL] */
	double spf_softfail;	   /* [SPF_SOFTFAIL] */
	double dkim_pass;	   /* [DKIM_PASS] */
	double dkim_fail;	   /* [DKIM_FAIL] */
	double dmarc_fail;	   /* [DMARC_FAIL] */
	/* [DNSBL] scores dnsbl_score * dnsbl_factor */
	double dnsbl_factor;
};

struct mc_spamrules_settings {
	const char *rules_file; /* a rules file, NULL for none */
	const char *rules;	/* rules text loaded after the file's, or
				   NULL (tests, per-domain additions) */
	struct mc_spamrules_scores scores;
	/* comma or blank separated lists, case-insensitive; NULL = the
	 * defaults (MC_SPAMRULES_DANGEROUS_EXTENSIONS / _TYPES) */
	const char *dangerous_extensions; /* "exe, scr" (no dots) */
	const char *dangerous_types;	  /* "application/x-dosexec" */
	/* libmagic database, NULL = libmagic's default */
	const char *magic_file;
	/* limits, 0 = the default in brackets */
	size_t max_body_bytes; /* decoded text kept for body and rawbody
				  rules, each [256 KiB] */
	unsigned max_parts;    /* MIME parts looked at [100] */
	size_t sniff_bytes;    /* leading bytes of an attachment given to
				  libmagic [8 KiB] */
	uint32_t match_limit;  /* PCRE2 match limit [200000] */
	uint32_t depth_limit;  /* PCRE2 depth limit [5000] (interpreter) */
};

#define MC_SPAMRULES_DANGEROUS_EXTENSIONS                                      \
	"ade adp app appx appxbundle bas bat chm cmd com cpl dll exe gadget "  \
	"hta inf ins iso img isp jar js jse lnk mde msc msi msix msp mst "     \
	"pif ps1 psm1 reg scr sct shb shs sys vb vbe vbs vhd vhdx wsc wsf "    \
	"wsh xll"
#define MC_SPAMRULES_DANGEROUS_TYPES                                           \
	"application/x-dosexec application/vnd.microsoft.portable-executable " \
	"application/x-msdownload application/x-msdos-program "                \
	"application/x-executable application/x-pie-executable "               \
	"application/x-sharedlib application/x-mach-binary "                   \
	"application/x-ms-shortcut application/x-msi "                         \
	"application/x-ms-installer application/hta text/x-msdos-batch "       \
	"application/java-archive application/x-java-archive "                 \
	"application/x-iso9660-image"

/* Fills set with the default scores and no rules, lists or limits
 * (their defaults apply). Start from this and override. */
void mc_spamrules_settings_init(struct mc_spamrules_settings *set);

/* Loads and compiles the rules (JIT when PCRE2 has it) and opens one
 * libmagic handle. NULL with err: MC_ERR_INVALID for an unreadable
 * rules file, a bad rule ("FILE:LINE: why", "rules:LINE: why" for the
 * rules text), a bad list or limit, or a libmagic database that does not
 * load. Strings of set are copied. The caller owns the result. */
struct mc_spamrules *
mc_spamrules_create(const struct mc_spamrules_settings *set,
		    struct mc_error *err);
/* Frees sr; accepts NULL and clears *sr. No scan may be running. */
void mc_spamrules_destroy(struct mc_spamrules **sr);
/* The number of rules loaded (disabled ones included). */
size_t mc_spamrules_rule_count(const struct mc_spamrules *sr);

/* Reads the message: up to len bytes at offset; the count, 0 at the end,
 * -1 on error (the shape of mc_dkim_read_fn). */
typedef ssize_t mc_spamrules_read_fn(void *ctx, void *buf, size_t len,
				     uint64_t offset);

/* One symbol that hit. */
struct mc_spamrules_hit {
	const char *name;
	double score;
	const char *description; /* "" when the rule gave none */
};

/* What the other filters concluded; NULL inputs add nothing. */
struct mc_spamrules_inputs {
	enum mc_spf_result spf;	    /* MAIL FROM result (NONE: not run) */
	enum mc_dkim_result dkim;   /* PASS when a signature passed, else
				       FAIL when one failed, else NONE */
	enum mc_dmarc_result dmarc; /* only FAIL scores */
	double dnsbl_score;	    /* mc_dnsbl_result.score; 0 = none */
	/* more symbols to add as they are (Bayes, greylisting...) */
	const struct mc_spamrules_hit *extra;
	size_t extra_count;
};

/* One attachment: a leaf part other than the text/plain or text/html
 * body, or any part carrying a file name. Strings from the pool. */
struct mc_spamrules_attachment {
	const char *name;	   /* file name (decoded), NULL if none */
	const char *declared_type; /* "application/pdf" as declared */
	const char *sniffed_type;  /* libmagic's MIME type of its first
				      bytes, NULL when empty or not sniffed */
	uint64_t size;		   /* decoded bytes */
	bool dangerous_name, dangerous_type;
	bool dangerous; /* either of the two */
};

struct mc_spamrules_result {
	double score;			     /* the sum of the hits' scores */
	const struct mc_spamrules_hit *hits; /* in evaluation order */
	size_t hit_count;
	const struct mc_spamrules_attachment *attachments;
	size_t attachment_count;
	bool body_truncated;   /* text was cut at max_body_bytes */
	bool parts_truncated;  /* the message had more than max_parts */
	unsigned regex_errors; /* matches stopped by a limit (no match) */
	uint64_t size;	       /* bytes read */
};

/* Scans the message behind read(read_ctx) once, start to end, with in
 * (may be NULL). 0 and *out filled (arrays and strings from pool), or -1
 * with err (MC_ERR_TEMPORARY) when reading failed: *out is then
 * meaningless. Safe to call from any number of threads at once. */
int mc_spamrules_scan(struct mc_spamrules *sr, struct mc_pool *pool,
		      mc_spamrules_read_fn *read, void *read_ctx,
		      const struct mc_spamrules_inputs *in,
		      struct mc_spamrules_result *out, struct mc_error *err);

/* Convenience: scans len bytes of a message in memory. */
int mc_spamrules_scan_buffer(struct mc_spamrules *sr, struct mc_pool *pool,
			     const void *data, size_t len,
			     const struct mc_spamrules_inputs *in,
			     struct mc_spamrules_result *out,
			     struct mc_error *err);

/* The hit named name in res, or NULL. */
const struct mc_spamrules_hit *
mc_spamrules_result_find(const struct mc_spamrules_result *res,
			 const char *name);

#endif
