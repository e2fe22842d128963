/* mc-user-csv: the CSV import and export of users (RFC 4180 through
 * libcsv in strict mode). The import maps the header to columns, then
 * turns each record into a row with its fields or the error of its line,
 * counting physical lines so that errors name the line of the file. */
#include <csv.h>
#include <inttypes.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-user-csv.h"

/* Columns of a header; IGNORED ones are the export's read-only ones. */
enum col {
	COL_LOCAL_PART,
	COL_ADDRESS,
	COL_PASSWORD,
	COL_DISPLAY_NAME,
	COL_QUOTA,
	COL_DEPARTMENT,
	COL_STATUS,
	COL_IGNORED,
};

static const struct column {
	const char *name;
	enum col col;
	unsigned int bit; /* for duplicates; the low 7 are MC_USER_CSV_COL_* */
	size_t max;	  /* longest field in bytes, 0 = no limit */
} columns[] = {
	{"local_part", COL_LOCAL_PART, MC_USER_CSV_COL_LOCAL_PART,
	 MC_USER_CSV_ADDRESS_MAX},
	{"address", COL_ADDRESS, MC_USER_CSV_COL_ADDRESS,
	 MC_USER_CSV_ADDRESS_MAX},
	{"password", COL_PASSWORD, MC_USER_CSV_COL_PASSWORD,
	 MC_USER_CSV_PASSWORD_MAX},
	{"display_name", COL_DISPLAY_NAME, MC_USER_CSV_COL_DISPLAY_NAME,
	 MC_USER_CSV_DISPLAY_NAME_MAX},
	{"quota", COL_QUOTA, MC_USER_CSV_COL_QUOTA, 0},
	{"department", COL_DEPARTMENT, MC_USER_CSV_COL_DEPARTMENT,
	 MC_USER_CSV_DEPARTMENT_MAX},
	{"status", COL_STATUS, MC_USER_CSV_COL_STATUS, 0},
	{"quota_bytes", COL_QUOTA, MC_USER_CSV_COL_QUOTA, 0},
	{"used_bytes", COL_IGNORED, 0x80, 0},
	{"created_at", COL_IGNORED, 0x100, 0},
};
#define N_COLUMNS (sizeof(columns) / sizeof(columns[0]))
/* More header fields than this cannot all be distinct known columns. */
#define MAX_FIELDS N_COLUMNS

static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};

struct mc_user_csv {
	struct csv_parser parser;
	struct mc_pool *pool; /* secure: rows, passwords */
	size_t max_bytes, max_rows, bytes, n_data;
	unsigned int bom_matched;
	bool bom_done, failed, finished;
	struct mc_error error;

	/* the header */
	bool have_header;
	unsigned int mask;
	size_t n_cols;
	const struct column *cols[MAX_FIELDS];
	char *names[MAX_FIELDS]; /* while reading the header record */

	/* physical lines: the current one, and whether a CR just ended one */
	size_t line;
	bool last_cr;

	/* the record being read */
	bool in_record, blank;
	size_t rec_line, n_fields;
	struct mc_user_csv_row cur;
	const char *quota_text, *status_text, *field_error;

	struct mc_user_csv_row *rows;
	size_t n_rows, cap_rows;
};

/* Marks the whole file failed with a message (the first one wins). */
static void __attribute__((format(printf, 2, 3)))
fail(struct mc_user_csv *csv, const char *fmt, ...)
{
	char msg[sizeof(csv->error.msg)];
	va_list ap;

	if (csv->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mc_error_set(&csv->error, MC_ERR_INVALID, "%s", msg);
	csv->failed = true;
}

/* -1 with the stored whole-file error copied to err. */
static int failed(const struct mc_user_csv *csv, struct mc_error *err)
{
	mc_error_set(err, csv->error.cls, "%s", csv->error.msg);
	return -1;
}

/* libcsv's buffer may hold passwords: wipe what it gives back. */
static void *wipe_realloc(void *ptr, size_t size)
{
	void *p = mc_malloc(size);

	if (ptr != NULL) {
		size_t old = malloc_usable_size(ptr);
		memcpy(p, ptr, old < size ? old : size);
		OPENSSL_cleanse(ptr, old);
		free(ptr);
	}
	return p;
}

/* Frees a libcsv buffer after wiping it. */
static void wipe_free(void *ptr)
{
	if (ptr != NULL) {
		OPENSSL_cleanse(ptr, malloc_usable_size(ptr));
		free(ptr);
	}
}

/* RFC 4180 keeps blanks: no character is a space to libcsv. */
static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

struct mc_user_csv *mc_user_csv_create(const struct mc_user_csv_settings *set)
{
	struct mc_user_csv *csv = mc_calloc(1, sizeof(*csv));

	if (csv_init(&csv->parser,
		     CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0)
		abort();
	csv_set_realloc_func(&csv->parser, wipe_realloc);
	csv_set_free_func(&csv->parser, wipe_free);
	csv_set_space_func(&csv->parser, no_space);
	csv->pool = mc_pool_create_secure("user-csv", 0);
	csv->max_bytes = set != NULL && set->max_bytes != 0
				 ? set->max_bytes
				 : MC_USER_CSV_MAX_BYTES;
	csv->max_rows = set != NULL && set->max_rows != 0
				? set->max_rows
				: MC_USER_CSV_MAX_ROWS;
	csv->line = 1;
	return csv;
}

void mc_user_csv_destroy(struct mc_user_csv **csvp)
{
	struct mc_user_csv *csv = *csvp;

	if (csv == NULL)
		return;
	csv_free(&csv->parser);
	mc_pool_destroy(&csv->pool);
	free(csv->rows);
	OPENSSL_cleanse(csv, sizeof(*csv));
	free(csv);
	*csvp = NULL;
}

/* Line breaks inside a field: LF, CRLF and a lone CR count one each. */
static size_t count_newlines(const char *s, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' ||
		    (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n')))
			count++;
	}
	return count;
}

/* Length of the UTF-8 sequence a lead byte starts, 0 if it cannot lead. */
static size_t utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0)
		return 2;
	if (c < 0xf0)
		return 3;
	return c < 0xf5 ? 4 : 0;
}

/* True when s[0..n) is valid UTF-8 (no overlongs, surrogates, or code
 * points past U+10FFFF). */
static bool valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = utf8_len(c);
		if (len == 0 || len > n - i)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		}
		if ((c == 0xe0 && s[i + 1] < 0xa0) ||
		    (c == 0xed && s[i + 1] >= 0xa0) ||
		    (c == 0xf0 && s[i + 1] < 0x90) ||
		    (c == 0xf4 && s[i + 1] >= 0x90))
			return false;
		i += len;
	}
	return true;
}

/* The field without blanks (space, tab) around it: start and length. */
static const char *trim(const char *s, size_t *n)
{
	while (*n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return s;
}

/* A header field: kept until the record ends (it may be a blank line). */
static void header_field(struct mc_user_csv *csv, const char *s, size_t n)
{
	if (csv->n_fields < MAX_FIELDS) {
		s = trim(s, &n);
		csv->names[csv->n_fields] = mc_pstrndup(csv->pool, s, n);
	}
}

/* The known column called name, or NULL. */
static const struct column *find_column(const char *name)
{
	for (size_t i = 0; i < N_COLUMNS; i++) {
		if (strcasecmp(name, columns[i].name) == 0)
			return &columns[i];
	}
	return NULL;
}

/* Checks one header name and maps column i to it. */
static bool header_name(struct mc_user_csv *csv, size_t i)
{
	const char *name = csv->names[i];
	const struct column *c = find_column(name);

	if (c == NULL) {
		bool printable = strlen(name) <= 64;
		for (const char *p = name; printable && *p != '\0'; p++)
			printable = *p >= 0x20 && *p < 0x7f;
		if (printable)
			fail(csv, "line %zu: unknown column \"%s\"",
			     csv->rec_line, name);
		else
			fail(csv, "line %zu: unknown column %zu", csv->rec_line,
			     i + 1);
		return false;
	}
	if ((csv->mask & c->bit) != 0) {
		fail(csv, "line %zu: duplicate column \"%s\"", csv->rec_line,
		     name);
		return false;
	}
	csv->mask |= c->bit;
	csv->cols[i] = c;
	return true;
}

/* The header record: columns known, each once, one key column. */
static void header_end(struct mc_user_csv *csv)
{
	unsigned int keys =
		MC_USER_CSV_COL_LOCAL_PART | MC_USER_CSV_COL_ADDRESS;

	if (csv->n_fields > MAX_FIELDS) {
		fail(csv, "line %zu: too many columns", csv->rec_line);
		return;
	}
	for (size_t i = 0; i < csv->n_fields; i++) {
		if (!header_name(csv, i))
			return;
	}
	if ((csv->mask & keys) == 0)
		fail(csv,
		     "line %zu: the header needs a local_part or an "
		     "address column",
		     csv->rec_line);
	else if ((csv->mask & keys) == keys)
		fail(csv,
		     "line %zu: the header has both local_part and "
		     "address; use one",
		     csv->rec_line);
	csv->n_cols = csv->n_fields;
	csv->have_header = true;
}

/* Sets the line's first field error. */
static void field_error(struct mc_user_csv *csv, const char *fmt,
			const char *column)
{
	if (csv->field_error == NULL)
		csv->field_error = mc_psprintf(csv->pool, fmt, column);
}

/* Stores a checked field value in the row being read. */
static void store_field(struct mc_user_csv *csv, enum col col, char *value)
{
	struct mc_user_csv_row *row = &csv->cur;

	if (*value == '\0')
		return;
	switch (col) {
	case COL_LOCAL_PART:
		row->local_part = value;
		break;
	case COL_ADDRESS:
		row->address = value;
		break;
	case COL_PASSWORD:
		row->password = value;
		break;
	case COL_DISPLAY_NAME:
		row->display_name = value;
		break;
	case COL_DEPARTMENT:
		row->department = value;
		break;
	case COL_QUOTA:
		csv->quota_text = value;
		break;
	case COL_STATUS:
		csv->status_text = value;
		break;
	case COL_IGNORED:
		break;
	}
}

/* A data field: checked for UTF-8 and length, then stored. */
static void data_field(struct mc_user_csv *csv, const char *s, size_t n)
{
	const struct column *c;

	if (csv->n_fields >= csv->n_cols)
		return;
	c = csv->cols[csv->n_fields];
	if (c->col == COL_IGNORED)
		return;
	if (c->col != COL_PASSWORD)
		s = trim(s, &n);
	if (memchr(s, '\0', n) != NULL) {
		field_error(csv, "NUL byte in %s", c->name);
		return;
	}
	if (!valid_utf8((const unsigned char *)s, n)) {
		field_error(csv, "invalid UTF-8 in %s", c->name);
		return;
	}
	if (c->max != 0 && n > c->max) {
		if (csv->field_error == NULL)
			csv->field_error = mc_psprintf(csv->pool,
						       "%s longer than %zu "
						       "bytes",
						       c->name, c->max);
		return;
	}
	store_field(csv, c->col, mc_pstrndup(csv->pool, s, n));
}

/* libcsv: one field of the current record. */
static void on_field(void *s, size_t n, void *data)
{
	struct mc_user_csv *csv = data;
	const char *field = s != NULL ? s : "";

	if (csv->failed)
		return;
	if (!csv->in_record) {
		csv->in_record = true;
		csv->blank = true;
		csv->rec_line = csv->line;
		csv->n_fields = 0;
		memset(&csv->cur, 0, sizeof(csv->cur));
		csv->quota_text = csv->status_text = csv->field_error = NULL;
	}
	for (size_t i = 0; i < n && csv->blank; i++)
		csv->blank = field[i] == ' ' || field[i] == '\t';
	if (csv->have_header)
		data_field(csv, field, n);
	else
		header_field(csv, field, n);
	csv->n_fields++;
	csv->line += count_newlines(field, n);
	csv->last_cr = false;
}

/* The quota: bytes or a K/M/G/T size that fits a bigint. */
static const char *check_quota(struct mc_user_csv *csv)
{
	struct mc_user_csv_row *row = &csv->cur;
	const char *text = csv->quota_text;

	if (text == NULL)
		return NULL;
	if (!mc_str_parse_size(text, &row->quota_bytes) ||
	    row->quota_bytes > INT64_MAX) {
		if (strlen(text) > 40)
			return "bad quota";
		return mc_psprintf(csv->pool,
				   "bad quota \"%s\" (bytes, or a number with "
				   "K, M, G or T)",
				   text);
	}
	row->has_quota = true;
	return NULL;
}

/* The status: active or frozen, any case. */
static const char *check_status(struct mc_user_csv *csv)
{
	const char *text = csv->status_text;

	if (text == NULL)
		return NULL;
	if (mc_str_eq_icase(text, "active"))
		csv->cur.status = "active";
	else if (mc_str_eq_icase(text, "frozen"))
		csv->cur.status = "frozen";
	else
		return "status must be active or frozen";
	return NULL;
}

/* The department path with its names trimmed; none may be empty. */
static const char *check_department(struct mc_user_csv *csv)
{
	const char *p = csv->cur.department;
	struct mc_buf out;

	if (p == NULL)
		return NULL;
	mc_buf_init(&out, csv->pool, 0);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		const char *name = trim(p, &n);
		if (n == 0)
			return "bad department path (an empty name)";
		if (out.len > 0)
			mc_buf_append_c(&out, '/');
		mc_buf_append(&out, name, n);
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	csv->cur.department = out.data;
	return NULL;
}

/* The error of the record just read, or NULL. */
static const char *row_error(struct mc_user_csv *csv)
{
	const char *error;

	if (csv->n_fields != csv->n_cols)
		return mc_psprintf(csv->pool,
				   "the line has %zu field%s, the header %zu",
				   csv->n_fields, csv->n_fields == 1 ? "" : "s",
				   csv->n_cols);
	if (csv->field_error != NULL)
		return csv->field_error;
	if ((csv->mask & MC_USER_CSV_COL_LOCAL_PART) != 0 &&
	    csv->cur.local_part == NULL)
		return "empty local_part";
	if ((csv->mask & MC_USER_CSV_COL_ADDRESS) != 0 &&
	    csv->cur.address == NULL)
		return "empty address";
	if ((error = check_quota(csv)) != NULL ||
	    (error = check_status(csv)) != NULL)
		return error;
	return check_department(csv);
}

/* Appends the finished row. */
static void push_row(struct mc_user_csv *csv)
{
	if (csv->n_rows == csv->cap_rows) {
		csv->cap_rows = csv->cap_rows == 0 ? 64 : csv->cap_rows * 2;
		csv->rows = mc_realloc(csv->rows,
				       csv->cap_rows * sizeof(*csv->rows));
	}
	csv->rows[csv->n_rows++] = csv->cur;
}

/* A complete record: the header, a blank line or a data line. */
static void record_end(struct mc_user_csv *csv)
{
	if (csv->blank)
		return;
	if (!csv->have_header) {
		header_end(csv);
		return;
	}
	if (++csv->n_data > csv->max_rows) {
		fail(csv, "more than %zu lines of users", csv->max_rows);
		return;
	}
	csv->cur.line = csv->rec_line;
	csv->cur.error = row_error(csv);
	push_row(csv);
}

/* libcsv: the end of a record, or an empty line (CRLF reports CR, LF). */
static void on_record(int c, void *data)
{
	struct mc_user_csv *csv = data;

	if (csv->failed)
		return;
	if (csv->in_record) {
		csv->in_record = false;
		record_end(csv);
	}
	if (c == '\r') {
		csv->line++;
		csv->last_cr = true;
	} else if (c == '\n') {
		if (!csv->last_cr)
			csv->line++;
		csv->last_cr = false;
	}
}

/* The line a parse error is reported on: where its record started. */
static size_t error_line(const struct mc_user_csv *csv)
{
	return csv->in_record ? csv->rec_line : csv->line;
}

/* Runs libcsv over data; a parse error fails the file. */
static int run_parser(struct mc_user_csv *csv, const void *data, size_t len)
{
	size_t done =
		csv_parse(&csv->parser, data, len, on_field, on_record, csv);

	if (!csv->failed && done < len) {
		if (csv_error(&csv->parser) == CSV_EPARSE)
			fail(csv,
			     "line %zu: malformed quoting (a quote in an "
			     "unquoted field, or text after a closing "
			     "quote)",
			     error_line(csv));
		else
			fail(csv, "line %zu: %s", error_line(csv),
			     csv_strerror(csv_error(&csv->parser)));
	}
	return csv->failed ? -1 : 0;
}

/* Skips a byte order mark at the very start, which may arrive split;
 * bytes that turn out not to be one are parsed. Returns the rest. */
static const unsigned char *skip_bom(struct mc_user_csv *csv,
				     const unsigned char *p, size_t *len)
{
	while (!csv->bom_done && *len > 0) {
		if (*p != bom[csv->bom_matched]) {
			csv->bom_done = true;
			if (csv->bom_matched > 0)
				run_parser(csv, bom, csv->bom_matched);
			break;
		}
		p++;
		(*len)--;
		csv->bom_done = ++csv->bom_matched == sizeof(bom);
	}
	return p;
}

int mc_user_csv_feed(struct mc_user_csv *csv, const void *data, size_t len,
		     struct mc_error *err)
{
	const unsigned char *p;

	if (!csv->failed && csv->finished)
		fail(csv, "input after the end");
	if (!csv->failed && (len > csv->max_bytes - csv->bytes)) {
		if (csv->max_bytes % (1024 * 1024) == 0)
			fail(csv, "the file is larger than %zu MiB",
			     csv->max_bytes / (1024 * 1024));
		else
			fail(csv, "the file is larger than %zu bytes",
			     csv->max_bytes);
	}
	if (csv->failed)
		return failed(csv, err);
	csv->bytes += len;
	p = skip_bom(csv, data, &len);
	if (csv->failed || run_parser(csv, p, len) < 0)
		return failed(csv, err);
	return 0;
}

int mc_user_csv_finish(struct mc_user_csv *csv, struct mc_error *err)
{
	if (!csv->failed && !csv->finished) {
		if (!csv->bom_done && csv->bom_matched > 0)
			run_parser(csv, bom, csv->bom_matched);
		csv->bom_done = true;
		if (!csv->failed &&
		    csv_fini(&csv->parser, on_field, on_record, csv) != 0)
			fail(csv, "line %zu: unterminated quoted field",
			     error_line(csv));
		if (!csv->failed && !csv->have_header)
			fail(csv, "no header line");
		csv->finished = true;
	}
	return csv->failed ? failed(csv, err) : 0;
}

int mc_user_csv_parse(const void *data, size_t len,
		      const struct mc_user_csv_settings *set,
		      struct mc_user_csv **csv_r, struct mc_error *err)
{
	struct mc_user_csv *csv = mc_user_csv_create(set);

	if (mc_user_csv_feed(csv, data, len, err) < 0 ||
	    mc_user_csv_finish(csv, err) < 0) {
		mc_user_csv_destroy(&csv);
		return -1;
	}
	*csv_r = csv;
	return 0;
}

const struct mc_user_csv_row *mc_user_csv_rows(const struct mc_user_csv *csv,
					       size_t *n_r)
{
	bool ok = csv->finished && !csv->failed;

	*n_r = ok ? csv->n_rows : 0;
	return ok ? csv->rows : NULL;
}

unsigned int mc_user_csv_columns(const struct mc_user_csv *csv)
{
	return csv->mask & 0x7fu;
}

/* Export ------------------------------------------------------------- */

/* True when a field must be quoted to read back the same. */
static bool needs_quotes(const char *s, size_t n)
{
	return n > 0 && (strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' ||
			 s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
}

/* Appends one field (after a comma unless first), quoted by libcsv's
 * csv_write when needed. */
static void put_field(struct mc_buf *line, const char *s, bool first)
{
	size_t n;

	if (!first)
		mc_buf_append_c(line, ',');
	if (s == NULL)
		return;
	n = strlen(s);
	if (!needs_quotes(s, n)) {
		mc_buf_append(line, s, n);
		return;
	}
	size_t need = csv_write(NULL, 0, s, n);
	char *quoted = mc_malloc(need);
	csv_write(quoted, need, s, n);
	mc_buf_append(line, quoted, need);
	free(quoted);
}

/* Appends line (a complete CSV line) to buf, all or nothing. */
static bool put_line(struct mc_buf *buf, struct mc_buf *line)
{
	bool ok;

	mc_buf_append(line, "\r\n", 2);
	ok = mc_buf_append(buf, line->data, line->len);
	mc_buf_free(line);
	return ok;
}

bool mc_user_csv_export_header(struct mc_buf *buf)
{
	return mc_buf_append_str(buf, "local_part,display_name,quota_bytes,"
				      "used_bytes,department,status,"
				      "created_at\r\n");
}

bool mc_user_csv_export_row(struct mc_buf *buf,
			    const struct mc_user_csv_export_row *row)
{
	struct mc_buf line;
	char quota[24], used[24];

	snprintf(quota, sizeof(quota), "%" PRIu64, row->quota_bytes);
	snprintf(used, sizeof(used), "%" PRIu64, row->used_bytes);
	mc_buf_init(&line, NULL, 0);
	put_field(&line, row->local_part, true);
	put_field(&line, row->display_name, false);
	put_field(&line, quota, false);
	put_field(&line, used, false);
	put_field(&line, row->department, false);
	put_field(&line, row->status, false);
	put_field(&line, row->created_at, false);
	return put_line(buf, &line);
}
