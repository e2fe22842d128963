/* mc-date: RFC 5322 date-time parsing (with the obsolete forms of 4.3 that
 * real mail carries) and formatting, and the IMAP date-time and date forms
 * (RFC 3501 INTERNALDATE, APPEND, SEARCH). No locale dependence. */
#ifndef MC_DATE_H
#define MC_DATE_H

#include <stdbool.h>
#include <time.h>

#define MC_DATE_RFC5322_MAX 64
#define MC_DATE_IMAP_MAX    32

/* Parses an RFC 5322 date-time such as "Tue, 1 Jul 2003 10:52:37 +0200".
 * Accepts 2- and 3-digit years, missing seconds and day-of-week, the
 * alphabetic zones (UT, GMT, EST...; military zones and unknown names mean
 * -0000), comments and extra blanks; ignores what follows the zone. A
 * missing zone counts as +0000. False for anything that is not a real
 * date (Feb 30, 25:00). *utc_r is the instant, *tz_offset_minutes_r the
 * zone east of UTC (either may be NULL). */
bool mc_date_parse(const char *s, time_t *utc_r, int *tz_offset_minutes_r);

/* Writes "Mon, 2 Jan 2006 15:04:05 -0700" for t shown in zone tz_min. */
void mc_date_format_rfc5322(time_t t, int tz_min,
			    char buf[MC_DATE_RFC5322_MAX]);

/* Writes the IMAP date-time "02-Jan-2006 15:04:05 -0700" (unquoted). */
void mc_date_format_imap(time_t t, int tz_min, char buf[MC_DATE_IMAP_MAX]);

/* Parses an IMAP date-time "2-Jan-2006 15:04:05 -0700" (optionally in
 * double quotes, day with a leading blank or zero) or an IMAP date
 * "2-Jan-2006" (then midnight UTC, zone 0). Strict: false on anything
 * else or an impossible date. */
bool mc_date_parse_imap(const char *s, time_t *utc_r, int *tz_offset_minutes_r);

#endif
