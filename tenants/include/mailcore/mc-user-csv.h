/* mc-user-csv: the CSV files of user.import and user.export (RFC 4180, on
 * libcsv). Import: push the body in pieces (or all at once), then read one
 * row per data line, each with its fields or the error of that line; the
 * caller validates names and creates users line by line. Problems of the
 * whole file (header, quoting, size) fail the parse before any row is
 * handed out, so nothing is created from a file that is refused. Export:
 * a header and one line per user appended to an mc_buf. */
#ifndef MC_USER_CSV_H
#define MC_USER_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_buf;
struct mc_error;
struct mc_user_csv;

/* Default limits of an import. */
#define MC_USER_CSV_MAX_BYTES (10u * 1024 * 1024)
#define MC_USER_CSV_MAX_ROWS  100000u
/* Longest fields, in bytes (after trimming blanks; passwords untrimmed). */
#define MC_USER_CSV_ADDRESS_MAX	     320
#define MC_USER_CSV_PASSWORD_MAX     1024
#define MC_USER_CSV_DISPLAY_NAME_MAX 256
#define MC_USER_CSV_DEPARTMENT_MAX   1000

/* Header columns (bits of mc_user_csv_columns()). Names are matched
 * case-insensitively, blanks around them ignored. Each may appear once;
 * exactly one of local_part and address is required. The export's extra
 * columns are accepted so that an export can be imported again:
 * quota_bytes is the same column as quota, used_bytes and created_at are
 * ignored. Any other name fails the whole file. */
#define MC_USER_CSV_COL_LOCAL_PART   0x01u
#define MC_USER_CSV_COL_ADDRESS	     0x02u
#define MC_USER_CSV_COL_PASSWORD     0x04u
#define MC_USER_CSV_COL_DISPLAY_NAME 0x08u
#define MC_USER_CSV_COL_QUOTA	     0x10u
#define MC_USER_CSV_COL_DEPARTMENT   0x20u
#define MC_USER_CSV_COL_STATUS	     0x40u

struct mc_user_csv_settings {
	size_t max_bytes; /* input size; 0 = MC_USER_CSV_MAX_BYTES */
	size_t max_rows;  /* data lines; 0 = MC_USER_CSV_MAX_ROWS */
};

/* One data line. Strings belong to the parser (a pool that is zeroed when
 * the parser is destroyed: passwords). Every field but the password has
 * its blanks (space, tab) trimmed; an absent column or an empty field is
 * NULL. On a line with error set, the other fields are best effort (for
 * the report: local_part or address when it could be read). */
struct mc_user_csv_row {
	size_t line;		  /* line in the file where the record starts */
	const char *local_part;	  /* local_part column (not validated) */
	const char *address;	  /* address column (not validated) */
	const char *password;	  /* exactly as in the file */
	const char *display_name; /* valid UTF-8, at most 256 bytes */
	const char *department;	  /* path, names trimmed: "Sales/EMEA" */
	const char *status;	  /* "active" or "frozen" */
	bool has_quota;		  /* quota column present and not empty */
	uint64_t quota_bytes;	  /* at most INT64_MAX */
	const char *error;	  /* NULL, or why this line is refused */
};

/* Import. The input is UTF-8 text, a byte order mark at its start is
 * skipped; the first non-blank line is the header. Records end with CRLF,
 * LF or CR; quoted fields may hold commas, doubled quotes and line breaks.
 * Blank lines (every field empty) are skipped. A line's error is one of:
 * wrong number of fields, empty local_part/address, bad quota (bytes, or
 * a number with K, M, G or T suffix, binary multiples), bad status, bad
 * department path (an empty name), invalid UTF-8 or a NUL byte, a field
 * too long. Whole-file errors (MC_ERR_INVALID): no header, unknown or
 * duplicate column, neither or both of local_part and address, malformed
 * quoting (a quote inside an unquoted field, text after a closing quote,
 * an unterminated quoted field), more than max_bytes of input or more
 * than max_rows data lines. */

/* settings may be NULL (the defaults). */
struct mc_user_csv *mc_user_csv_create(const struct mc_user_csv_settings *set);
/* Accepts NULL; wipes and frees everything, clears *csv. */
void mc_user_csv_destroy(struct mc_user_csv **csv);
/* Parses the next len bytes. 0, or -1 with a whole-file error; once
 * failed, every later call fails the same way. */
int mc_user_csv_feed(struct mc_user_csv *csv, const void *data, size_t len,
		     struct mc_error *err);
/* Ends the input. 0, or -1 with a whole-file error. */
int mc_user_csv_finish(struct mc_user_csv *csv, struct mc_error *err);
/* Create + feed + finish: 0 with the parser in *csv_r (the caller
 * destroys it), or -1 with nothing to free. */
int mc_user_csv_parse(const void *data, size_t len,
		      const struct mc_user_csv_settings *set,
		      struct mc_user_csv **csv_r, struct mc_error *err);

/* After a successful finish: the data lines in file order (owned by csv)
 * and the MC_USER_CSV_COL_* bits of the header. */
const struct mc_user_csv_row *mc_user_csv_rows(const struct mc_user_csv *csv,
					       size_t *n_r);
unsigned int mc_user_csv_columns(const struct mc_user_csv *csv);

/* Export. One user; NULL strings are empty fields. created_at is RFC 3339
 * text, department the path ("Sales/EMEA"). */
struct mc_user_csv_export_row {
	const char *local_part;
	const char *display_name;
	uint64_t quota_bytes;
	uint64_t used_bytes;
	const char *department;
	const char *status;
	const char *created_at;
};

/* Append the header line
 * "local_part,display_name,quota_bytes,used_bytes,department,status,
 * created_at" / one user's line, each ended by CRLF. A field is quoted
 * (doubling its quotes) when it holds a comma, quote, CR or LF or starts
 * or ends with a blank. false when buf's max would be passed (then
 * nothing of the line is appended). */
bool mc_user_csv_export_header(struct mc_buf *buf);
bool mc_user_csv_export_row(struct mc_buf *buf,
			    const struct mc_user_csv_export_row *row);

#endif
