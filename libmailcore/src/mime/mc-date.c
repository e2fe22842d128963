/* mc-date: RFC 5322 date-time parsing (obsolete forms of section 4.3
 * included) and formatting, and the IMAP date-time / date forms:
 *   date-time = [ day-of-week "," ] date time [CFWS]
 *   date      = day month year;  time = hour ":" minute [ ":" second ] zone
 *   IMAP:  date-time = DQUOTE date-day-fixed "-" date-month "-" date-year
 *                      SP time SP zone DQUOTE;  date = date-day "-" ... */
#include "mailcore/mc-date.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr",
					    "May", "Jun", "Jul", "Aug",
					    "Sep", "Oct", "Nov", "Dec"};
static const char *const month_full[12] = {
	"january", "february", "march",	    "april",   "may",	   "june",
	"july",	   "august",   "september", "october", "november", "december"};
static const char *const day_names[7] = {"Sun", "Mon", "Tue", "Wed",
					 "Thu", "Fri", "Sat"};
static const char *const day_full[7] = {"sunday",    "monday",	 "tuesday",
					"wednesday", "thursday", "friday",
					"saturday"};

struct zone_name {
	const char *name;
	int minutes;
};

static const struct zone_name zone_names[] = {
	{"UT", 0},     {"UTC", 0},    {"GMT", 0},    {"Z", 0},
	{"EST", -300}, {"EDT", -240}, {"CST", -360}, {"CDT", -300},
	{"MST", -420}, {"MDT", -360}, {"PST", -480}, {"PDT", -420},
};

/* Skips blanks and (nested) comments. */
static void skip_cfws(const char **sp)
{
	const char *s = *sp;
	unsigned depth = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && depth > 0 && s[1] != '\0')
			s++;
		else if (*s == '(')
			depth++;
		else if (*s == ')' && depth > 0)
			depth--;
		else if (depth == 0 && strchr(" \t\r\n", *s) == NULL)
			break;
	}
	*sp = s;
}

/* Reads 1..max_digits digits; the digit count goes to *n_r. */
static bool read_num(const char **sp, unsigned max_digits, int *value_r,
		     unsigned *n_r)
{
	const char *s = *sp;
	unsigned n = 0;
	int value = 0;

	while (n < max_digits && s[n] >= '0' && s[n] <= '9')
		value = value * 10 + (s[n++] - '0');
	if (n == 0 || (s[n] >= '0' && s[n] <= '9'))
		return false;
	*sp = s + n;
	*value_r = value;
	if (n_r != NULL)
		*n_r = n;
	return true;
}

/* Reads an ASCII word of letters into buf (at most size - 1). */
static bool read_word(const char **sp, char *buf, size_t size)
{
	const char *s = *sp;
	size_t n = 0;

	while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
		if (n + 1 >= size)
			return false;
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	*sp = s;
	return n > 0;
}

/* Index of word in the short (3 letter) or full names, -1 if none. */
static int name_index(const char *word, const char *const *names,
		      const char *const *full, int count)
{
	for (int i = 0; i < count; i++) {
		if (strcasecmp(word, names[i]) == 0 ||
		    strcasecmp(word, full[i]) == 0)
			return i;
	}
	return -1;
}

/* True for leap years of the Gregorian calendar. */
static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* True when the fields name a real day and time. */
static bool valid_fields(int year, int mon, int day, int hour, int min, int sec)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30,
				      31, 31, 30, 31, 30, 31};
	int max = mdays[mon] + (mon == 1 && is_leap(year) ? 1 : 0);

	return year >= 1900 && year <= 9999 && day >= 1 && day <= max &&
	       hour <= 23 && min <= 59 && sec <= 60;
}

/* Fields to the instant, given the zone east of UTC. */
static time_t to_utc(int year, int mon, int day, int hour, int min, int sec,
		     int tz_min)
{
	struct tm tm = {.tm_year = year - 1900,
			.tm_mon = mon,
			.tm_mday = day,
			.tm_hour = hour,
			.tm_min = min,
			.tm_sec = sec};

	return timegm(&tm) - (time_t)tz_min * 60;
}

/* Numeric zone "+hhmm" (also "+hh:mm") at s; false when malformed. */
static bool read_numeric_zone(const char **sp, int *tz_r)
{
	const char *s = *sp;
	int sign = *s++ == '-' ? -1 : 1, hh, mm;
	unsigned n;

	if (!read_num(&s, 4, &hh, &n))
		return false;
	if (n == 4) {
		mm = hh % 100;
		hh /= 100;
	} else if (n != 2 || *s++ != ':' || !read_num(&s, 2, &mm, &n) ||
		   n != 2) {
		return false;
	}
	if (hh > 23 || mm > 59)
		return false;
	*tz_r = sign * (hh * 60 + mm);
	*sp = s;
	return true;
}

/* Zone: numeric, a known name, a military letter or unknown name (both
 * -0000) or nothing (+0000). */
static bool read_zone(const char **sp, int *tz_r)
{
	char word[16];

	*tz_r = 0;
	skip_cfws(sp);
	if (**sp == '+' || **sp == '-')
		return read_numeric_zone(sp, tz_r);
	if (!read_word(sp, word, sizeof(word)))
		return **sp == '\0' || strchr("\"(", **sp) != NULL ||
		       (unsigned char)**sp < 0x20;
	for (size_t i = 0; i < sizeof(zone_names) / sizeof(zone_names[0]);
	     i++) {
		if (strcasecmp(word, zone_names[i].name) == 0)
			*tz_r = zone_names[i].minutes;
	}
	return true;
}

/* Optional day-of-week followed by ",". */
static bool read_day_of_week(const char **sp)
{
	char word[16];

	skip_cfws(sp);
	if (!(**sp >= 'a' && **sp <= 'z') && !(**sp >= 'A' && **sp <= 'Z'))
		return true;
	if (!read_word(sp, word, sizeof(word)) ||
	    name_index(word, day_names, day_full, 7) < 0)
		return false;
	skip_cfws(sp);
	if (**sp == ',')
		(*sp)++;
	return true;
}

/* day month year, with 2- and 3-digit years mapped per RFC 5322 4.3. */
static bool read_date(const char **sp, int *year_r, int *mon_r, int *day_r)
{
	char word[16];
	unsigned n;

	skip_cfws(sp);
	if (!read_num(sp, 2, day_r, NULL))
		return false;
	skip_cfws(sp);
	if (!read_word(sp, word, sizeof(word)))
		return false;
	*mon_r = name_index(word, month_names, month_full, 12);
	skip_cfws(sp);
	if (*mon_r < 0 || !read_num(sp, 4, year_r, &n))
		return false;
	if (n == 2)
		*year_r += *year_r < 50 ? 2000 : 1900;
	else if (n == 3)
		*year_r += 1900;
	return true;
}

/* hour ":" minute [":" second], blanks allowed around the colons. */
static bool read_time(const char **sp, int *hms)
{
	hms[2] = 0;
	for (int i = 0; i < 3; i++) {
		skip_cfws(sp);
		if (i > 0) {
			if (**sp != ':')
				return i == 2;
			(*sp)++;
			skip_cfws(sp);
		}
		if (!read_num(sp, 2, &hms[i], NULL))
			return false;
	}
	return true;
}

bool mc_date_parse(const char *s, time_t *utc_r, int *tz_offset_minutes_r)
{
	int year, mon, day, hms[3], tz;

	if (s == NULL || !read_day_of_week(&s) ||
	    !read_date(&s, &year, &mon, &day) || !read_time(&s, hms) ||
	    !read_zone(&s, &tz))
		return false;
	if (!valid_fields(year, mon, day, hms[0], hms[1], hms[2]))
		return false;
	if (utc_r != NULL)
		*utc_r = to_utc(year, mon, day, hms[0], hms[1], hms[2], tz);
	if (tz_offset_minutes_r != NULL)
		*tz_offset_minutes_r = tz;
	return true;
}

/* Breaks t down as seen in zone tz_min. */
static void local_fields(time_t t, int tz_min, struct tm *tm)
{
	time_t shifted = t + (time_t)tz_min * 60;

	memset(tm, 0, sizeof(*tm));
	gmtime_r(&shifted, tm);
}

void mc_date_format_rfc5322(time_t t, int tz_min, char buf[MC_DATE_RFC5322_MAX])
{
	struct tm tm;
	int abs_tz = tz_min < 0 ? -tz_min : tz_min;

	local_fields(t, tz_min, &tm);
	snprintf(buf, MC_DATE_RFC5322_MAX,
		 "%s, %d %s %04d %02d:%02d:%02d %c%02d%02d",
		 day_names[tm.tm_wday % 7], tm.tm_mday,
		 month_names[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, tz_min < 0 ? '-' : '+',
		 (abs_tz / 60) % 100, abs_tz % 60);
}

void mc_date_format_imap(time_t t, int tz_min, char buf[MC_DATE_IMAP_MAX])
{
	struct tm tm;
	int abs_tz = tz_min < 0 ? -tz_min : tz_min;

	local_fields(t, tz_min, &tm);
	snprintf(buf, MC_DATE_IMAP_MAX,
		 "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d", tm.tm_mday,
		 month_names[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, tz_min < 0 ? '-' : '+',
		 (abs_tz / 60) % 100, abs_tz % 60);
}

/* Exactly n digits at *sp. */
static bool fixed_num(const char **sp, unsigned n, int *value_r)
{
	unsigned got;

	return read_num(sp, n, value_r, &got) && got == n;
}

/* IMAP date "d-Mon-yyyy" (day-fixed " d" allowed). */
static bool imap_date(const char **sp, int *year_r, int *mon_r, int *day_r)
{
	char word[4];

	if (**sp == ' ')
		(*sp)++;
	if (!read_num(sp, 2, day_r, NULL) || *(*sp)++ != '-')
		return false;
	if (strnlen(*sp, 4) < 4 || (*sp)[3] != '-')
		return false;
	memcpy(word, *sp, 3);
	word[3] = '\0';
	*mon_r = name_index(word, month_names, month_names, 12);
	*sp += 4;
	return *mon_r >= 0 && fixed_num(sp, 4, year_r);
}

/* IMAP " hh:mm:ss +zzzz" after the date. */
static bool imap_time(const char **sp, int *hms, int *tz_r)
{
	const char *s = *sp;
	int zone, sign;

	if (*s++ != ' ' || !fixed_num(&s, 2, &hms[0]) || *s++ != ':' ||
	    !fixed_num(&s, 2, &hms[1]) || *s++ != ':' ||
	    !fixed_num(&s, 2, &hms[2]) || *s++ != ' ' ||
	    (*s != '+' && *s != '-'))
		return false;
	sign = *s++ == '-' ? -1 : 1;
	if (!fixed_num(&s, 4, &zone) || zone / 100 > 23 || zone % 100 > 59)
		return false;
	*tz_r = sign * (zone / 100 * 60 + zone % 100);
	*sp = s;
	return true;
}

bool mc_date_parse_imap(const char *s, time_t *utc_r, int *tz_offset_minutes_r)
{
	int year, mon, day, hms[3] = {0, 0, 0}, tz = 0;
	bool quoted = s != NULL && *s == '"';

	if (s == NULL)
		return false;
	s += quoted ? 1 : 0;
	if (!imap_date(&s, &year, &mon, &day))
		return false;
	if (*s == ' ' && !imap_time(&s, hms, &tz))
		return false;
	if (quoted && *s++ != '"')
		return false;
	if (*s != '\0' || !valid_fields(year, mon, day, hms[0], hms[1], hms[2]))
		return false;
	if (utc_r != NULL)
		*utc_r = to_utc(year, mon, day, hms[0], hms[1], hms[2], tz);
	if (tz_offset_minutes_r != NULL)
		*tz_offset_minutes_r = tz;
	return true;
}
