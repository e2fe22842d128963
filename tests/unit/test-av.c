/* test-av: the antivirus module. libclamav with the signatures of
 * tests/fixtures/clamav (EICAR, clam.exe) against plain files, MIME
 * messages with base64 and zipped attachments, Debian's clamav-testfiles,
 * limits, readers and concurrent scans; and the fake backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailcore/mc-av.h"
#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mc-test.h"

#define AV_DB	    "tests/fixtures/clamav"
#define TESTFILES   "/usr/share/clamav-testfiles"
#define EICAR_NAME  "Mailcore.Test.EICAR.UNOFFICIAL"
#define CLAM_NAME   "Mailcore.Test.ClamExe.UNOFFICIAL"
#define THREADS	    4
#define THREAD_RUNS 3

/* The EICAR test file, joined at run time so no source or object file
 * holds it in one piece. */
static const char eicar_a[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR";
static const char eicar_b[] = "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

struct buf {
	char *data;
	size_t len;
};

/* The 68 EICAR bytes (caller frees). */
static struct buf eicar(void)
{
	struct buf b = {.len = strlen(eicar_a) + strlen(eicar_b)};

	b.data = mc_malloc(b.len + 1);
	memcpy(b.data, eicar_a, strlen(eicar_a));
	memcpy(b.data + strlen(eicar_a), eicar_b, strlen(eicar_b) + 1);
	return b;
}

/* A whole file, or skip() when it is not installed (caller frees). */
static struct buf read_file(const char *path)
{
	struct buf b = {0};
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		print_message("%s missing, skipped\n", path);
		skip();
	}
	fseek(f, 0, SEEK_END);
	b.len = (size_t)ftell(f);
	rewind(f);
	b.data = mc_malloc(b.len + 1);
	assert_int_equal(fread(b.data, 1, b.len, f), b.len);
	fclose(f);
	return b;
}

/* Appends to a growing buffer. */
static void append(struct buf *b, const void *data, size_t len)
{
	b->data = mc_realloc(b->data, b->len + len + 1);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

/* Appends data base64-encoded in CRLF lines of 76 characters. */
static void append_base64(struct buf *b, const struct buf *data)
{
	for (size_t off = 0; off < data->len; off += 57) {
		unsigned char line[80];
		size_t n = data->len - off < 57 ? data->len - off : 57;
		int len = EVP_EncodeBlock(
			line, (const unsigned char *)data->data + off, (int)n);
		append(b, line, (size_t)len);
		append(b, "\r\n", 2);
	}
}

/* Appends a base64 attachment part named filename. */
static void append_part(struct buf *b, const char *filename,
			const struct buf *att)
{
	char part[256];

	snprintf(part, sizeof(part),
		 "--XYZ\r\nContent-Type: application/octet-stream; "
		 "name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n"
		 "Content-Disposition: attachment; filename=\"%s\""
		 "\r\n\r\n",
		 filename, filename);
	append(b, part, strlen(part));
	append_base64(b, att);
}

/* A multipart/mixed message with a text part and the attachments
 * (names[i], atts[i]) (caller frees). */
static struct buf mime_parts(const char *const *names, const struct buf *atts,
			     size_t count)
{
	static const char head[] =
		"From: a@example.org\r\nTo: b@example.net\r\n"
		"Subject: test\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n"
		"--XYZ\r\nContent-Type: text/plain\r\n\r\nHello.\r\n";
	struct buf b = {0};

	append(&b, head, strlen(head));
	for (size_t i = 0; i < count; i++)
		append_part(&b, names[i], &atts[i]);
	append(&b, "--XYZ--\r\n", 9);
	return b;
}

/* The same with one attachment, or none when att is NULL. */
static struct buf mime_message(const char *filename, const struct buf *att)
{
	return mime_parts(&filename, att, att != NULL ? 1 : 0);
}

/* A plain text message whose body is body plus CRLF (caller frees). */
static struct buf text_message(const struct buf *body)
{
	static const char head[] = "From: a@example.org\r\nTo: b@example.net"
				   "\r\nSubject: plain\r\n\r\n";
	struct buf b = {0};

	append(&b, head, strlen(head));
	append(&b, body->data, body->len);
	append(&b, "\r\n", 2);
	return b;
}

/* Settings on the test database with libclamav's default limits. */
static struct mc_av_settings settings(void)
{
	return (struct mc_av_settings){.database_dir = AV_DB,
				       .scan_archives = true};
}

/* An engine that must load. */
static struct mc_av *engine(const struct mc_av_settings *set)
{
	struct mc_error err = {0};
	struct mc_av *av = mc_av_clamav_create(set, &err);

	if (av == NULL)
		fail_msg("mc_av_clamav_create: %s", err.msg);
	return av;
}

/* Scans data and checks the verdict and name (NULL: clean). */
static void expect_scan(struct mc_av *av, const struct buf *b, const char *want)
{
	struct mc_pool *pool = mc_pool_create("test-av", 0);
	struct mc_error err = {0};
	const char *name = "unset";
	int ret = mc_av_scan(av, b->data, b->len, &name, pool, &err);

	if (ret < 0)
		fail_msg("scan failed: %s", err.msg);
	assert_int_equal(ret, want != NULL ? 1 : 0);
	if (want != NULL)
		assert_string_equal(name, want);
	else
		assert_null(name);
	mc_pool_destroy(&pool);
}

/* The EICAR file on its own is found by its hash. */
static void test_eicar_plain(void **state)
{
	struct mc_av_settings set = settings();
	struct mc_av *av = engine(&set);
	struct buf e = eicar();

	(void)state;
	assert_int_equal(e.len, 68);
	expect_scan(av, &e, EICAR_NAME);
	assert_false(mc_av_name_is_heuristic(EICAR_NAME));
	free(e.data);
	mc_av_destroy(&av);
	assert_null(av);
	mc_av_destroy(&av);
}

enum content { EICAR, CLAM_ZIP, CLAM_EXE, NONE };

/* One message case: an attachment (or none) and the expected name. */
static const struct msg_case {
	const char *label;
	enum content att;
	bool text_body; /* the content as a plain text body instead */
	bool archives;	/* scan_archives */
	const char *want;
} msg_cases[] = {
	{"EICAR base64 attachment", EICAR, false, true, EICAR_NAME},
	{"EICAR in a text body", EICAR, true, true, EICAR_NAME},
	{"clam.zip attachment", CLAM_ZIP, false, true, CLAM_NAME},
	{"clam.exe attachment", CLAM_EXE, false, true, CLAM_NAME},
	{"clam.zip, archives off", CLAM_ZIP, false, false, NULL},
	{"clam.exe, archives off", CLAM_EXE, false, false, CLAM_NAME},
	{"clean message", NONE, false, true, NULL},
};

/* The attachment content of a case (caller frees). */
static struct buf content(enum content c)
{
	switch (c) {
	case EICAR:
		return eicar();
	case CLAM_ZIP:
		return read_file(TESTFILES "/clam.zip");
	case CLAM_EXE:
		return read_file(TESTFILES "/clam.exe");
	default:
		return (struct buf){0};
	}
}

/* The message of a case (caller frees). */
static struct buf case_message(const struct msg_case *c)
{
	struct buf att = content(c->att), msg;

	if (c->att == NONE)
		msg = mime_message(NULL, NULL);
	else if (c->text_body)
		msg = text_message(&att);
	else
		msg = mime_message(c->att == CLAM_ZIP ? "clam.zip" : "clam.exe",
				   &att);
	free(att.data);
	return msg;
}

/* MIME messages: libclamav decodes the attachments, zip included. */
static void test_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		const struct msg_case *c = &msg_cases[i];
		struct mc_av_settings set = settings();
		struct buf msg = case_message(c);

		print_message("case: %s\n", c->label);
		set.scan_archives = c->archives;
		struct mc_av *av = engine(&set);
		expect_scan(av, &msg, c->want);
		mc_av_destroy(&av);
		free(msg.data);
	}
}

/* Debian's ready-made infected mails, scanned as they are. */
static void test_testfiles_mail(void **state)
{
	static const char *const files[] = {
		TESTFILES "/clam.mail", TESTFILES "/clam.exe.mbox.base64",
		TESTFILES "/clam.exe.mbox.uu", TESTFILES "/clam.tar.gz",
		TESTFILES "/clam.7z"};
	struct mc_av_settings set = settings();
	struct mc_av *av = engine(&set);

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct buf b = read_file(files[i]);
		print_message("file: %s\n", files[i]);
		expect_scan(av, &b, CLAM_NAME);
		free(b.data);
	}
	mc_av_destroy(&av);
}

/* Empty input is clean; virus_r may be NULL. */
static void test_empty_and_null_name(void **state)
{
	struct mc_av_settings set = settings();
	struct mc_av *av = engine(&set);
	struct buf e = eicar();
	struct mc_error err = {0};
	const char *name = "unset";

	(void)state;
	assert_int_equal(mc_av_scan(av, "", 0, &name, NULL, &err), 0);
	assert_null(name);
	assert_int_equal(mc_av_scan(av, e.data, e.len, NULL, NULL, &err), 1);
	assert_int_equal(err.cls, MC_ERR_NONE);
	free(e.data);
	mc_av_destroy(&av);
}

/* Unusable database directories fail at create with a clear error. */
static void test_bad_database(void **state)
{
	char dir[128], file[160];
	struct mc_error err;
	struct mc_av_settings set = settings();

	(void)state;
	assert_non_null(mc_test_mkdtemp(dir, sizeof(dir), "test-av"));
	snprintf(file, sizeof(file), "%s/x.txt", dir);
	const char *const dirs[] = {"/nonexistent/mailcore-av", dir, file,
				    NULL};
	const char *const want[] = {"No such file or directory",
				    "Can't open file or directory",
				    "not a directory", "no database"};
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	for (size_t i = 0; i < 4; i++) {
		mc_error_clear(&err);
		set.database_dir = dirs[i];
		assert_null(mc_av_clamav_create(&set, &err));
		print_message("%s\n", err.msg);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		assert_non_null(strstr(err.msg, want[i]));
		if (dirs[i] != NULL)
			assert_non_null(strstr(err.msg, dirs[i]));
	}
	mc_test_rmdir(dir);
}

/* A directory with only an unparsable signature file is refused too. */
static void test_corrupt_database(void **state)
{
	char dir[128], file[160];
	struct mc_error err = {0};
	struct mc_av_settings set = settings();

	(void)state;
	assert_non_null(mc_test_mkdtemp(dir, sizeof(dir), "test-av"));
	snprintf(file, sizeof(file), "%s/bad.hdb", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("not-a-hash:xx\n", f);
	fclose(f);
	set.database_dir = dir;
	assert_null(mc_av_clamav_create(&set, &err));
	print_message("%s\n", err.msg);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_test_rmdir(dir);
}

/* A reader handing out at most max bytes per call, failing at fail_at. */
struct chunked {
	const struct buf *b;
	size_t max;
	uint64_t fail_at; /* UINT64_MAX: never */
	unsigned calls;
};

/* mc_av_read_fn over a buffer, in small pieces. */
static ssize_t chunked_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct chunked *c = ctx;

	c->calls++;
	if (off >= c->fail_at || c->fail_at - off < len)
		return -1; /* the byte at fail_at is unreadable */
	if (off >= c->b->len)
		return 0;
	size_t n = c->b->len - off < len ? c->b->len - off : len;
	n = n < c->max ? n : c->max;
	memcpy(buf, c->b->data + off, n);
	return (ssize_t)n;
}

/* Writes b to a new temp file and returns its open descriptor. */
static int temp_fd(const struct buf *b)
{
	char path[] = "/tmp/test-av.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, b->data, b->len), (ssize_t)b->len);
	return fd;
}

/* One scan through each of the four entry points, all equal. */
static void expect_all_ways(struct mc_av *av, struct mc_blob_store *store,
			    const struct buf *b, const char *want)
{
	struct mc_pool *pool = mc_pool_create("test-av", 0);
	struct chunked ch = {.b = b, .max = 7, .fail_at = UINT64_MAX};
	char hash[MC_BLOB_HASH_LEN + 1];
	const char *names[4] = {0};
	int rets[4], fd = temp_fd(b);

	rets[0] = mc_av_scan(av, b->data, b->len, &names[0], pool, NULL);
	rets[1] = mc_av_scan_reader(av, chunked_read, &ch, b->len, &names[1],
				    pool, NULL);
	rets[2] = mc_av_scan_fd(av, fd, &names[2], pool, NULL);
	assert_int_equal(mc_blob_put(store, b->data, b->len, hash, NULL), 0);
	struct mc_blob_reader *r = mc_blob_open(store, hash, NULL);
	assert_non_null(r);
	rets[3] = mc_av_scan_blob(av, r, &names[3], pool, NULL);
	mc_blob_reader_close(&r);
	assert_true(ch.calls > 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(rets[i], want != NULL ? 1 : 0);
		if (want != NULL)
			assert_string_equal(names[i], want);
	}
	close(fd);
	mc_pool_destroy(&pool);
}

/* Readers (callback, file descriptor, blob) agree with the buffer. */
static void test_readers(void **state)
{
	struct mc_av_settings set = settings();
	struct mc_av *av = engine(&set);
	struct mc_blob_store *store = mc_blob_store_memory_create();

	(void)state;
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		if (!msg_cases[i].archives)
			continue;
		struct buf msg = case_message(&msg_cases[i]);
		print_message("case: %s\n", msg_cases[i].label);
		expect_all_ways(av, store, &msg, msg_cases[i].want);
		free(msg.data);
	}
	mc_blob_store_destroy(&store);
	mc_av_destroy(&av);
}

/* Scans msg through a reader failing at fail_at; returns the verdict. */
static int scan_failing(struct mc_av *av, const struct buf *msg,
			uint64_t fail_at, struct mc_error *err)
{
	struct mc_pool *pool = mc_pool_create("test-av", 0);
	struct chunked ch = {.b = msg, .max = 4096, .fail_at = fail_at};
	const char *name = "unset";
	int ret;

	mc_error_clear(err);
	ret = mc_av_scan_reader(av, chunked_read, &ch, msg->len, &name, pool,
				err);
	if (ret < 0) {
		assert_null(name);
		assert_int_equal(err->cls, MC_ERR_TEMPORARY);
	}
	mc_pool_destroy(&pool);
	return ret;
}

/* A read error makes the scan fail: a clean verdict needs every byte,
 * and an infected one may only come from what was read. */
static void test_reader_error(void **state)
{
	struct mc_av_settings set = settings();
	struct mc_av *av = engine(&set);
	struct buf att = {0}, clean, infected;
	struct mc_error err;

	(void)state;
	for (int i = 0; i < 3000; i++)
		append(&att, "clean text line of an attachment\r\n", 34);
	clean = mime_message("notes.txt", &att);
	free(att.data);
	att = read_file(TESTFILES "/clam.zip");
	infected = mime_message("clam.zip", &att);
	const uint64_t fail_at[] = {0, 100, clean.len / 2, clean.len - 1};
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(scan_failing(av, &clean, fail_at[i], &err),
				 -1);
	assert_int_equal(scan_failing(av, &infected, 0, &err), -1);
	assert_int_not_equal(
		scan_failing(av, &infected, infected.len - 1, &err), 0);
	mc_error_clear(&err);
	assert_int_equal(mc_av_scan_fd(av, -1, NULL, NULL, &err), -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	free(att.data);
	free(clean.data);
	free(infected.data);
	mc_av_destroy(&av);
}

/* Limits: a message over one is reported by a heuristic name. */
static const struct limit_case {
	const char *label;
	uint64_t max_scan_size, max_files, max_recursion;
	const char *file; /* a testfile, "mixed" (clam.zip, then EICAR) or
			     NULL (clam.zip) */
	const char *want;
} limit_cases[] = {
	{"scan size", 100, 0, 0, "clam.mail",
	 "Heuristics.Limits.Exceeded.MaxFileSize"},
	{"scan size, zip", 1000, 0, 0, NULL,
	 "Heuristics.Limits.Exceeded.MaxScanSize"},
	{"recursion", 0, 0, 1, NULL, "Heuristics.Limits.Exceeded.MaxRecursion"},
	{"files", 0, 1, 0, NULL, "Heuristics.Limits.Exceeded.MaxFiles"},
	{"under the limits", 1 << 20, 100, 10, NULL, CLAM_NAME},
	/* the zip's content is too deep, but a signature match elsewhere
	 * wins over the limit alert (no heuristic precedence) */
	{"signature beats limit", 0, 0, 2, "mixed", EICAR_NAME},
};

/* The message of a limit case (caller frees). */
static struct buf limit_message(const struct limit_case *c)
{
	static const char *const names[] = {"clam.zip", "eicar.com"};
	char path[128];
	struct buf atts[2], msg;

	if (c->file != NULL && strcmp(c->file, "mixed") != 0) {
		snprintf(path, sizeof(path), TESTFILES "/%s", c->file);
		return read_file(path);
	}
	atts[0] = read_file(TESTFILES "/clam.zip");
	atts[1] = eicar();
	msg = mime_parts(names, atts, c->file != NULL ? 2 : 1);
	free(atts[0].data);
	free(atts[1].data);
	return msg;
}

/* Zip-bomb limits never let a message through as clean. */
static void test_limits(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(limit_cases) / sizeof(limit_cases[0]);
	     i++) {
		const struct limit_case *c = &limit_cases[i];
		struct mc_av_settings set = settings();
		struct buf msg = limit_message(c);

		print_message("case: %s\n", c->label);
		set.max_scan_size = c->max_scan_size;
		set.max_files = c->max_files;
		set.max_recursion = c->max_recursion;
		struct mc_av *av = engine(&set);
		expect_scan(av, &msg, c->want);
		assert_int_equal(mc_av_name_is_heuristic(c->want),
				 strncmp(c->want, "Heuristics.", 11) == 0);
		mc_av_destroy(&av);
		free(msg.data);
	}
}

struct thread_arg {
	struct mc_av *av;
	const struct buf *msgs;
	int wrong;
};

/* Scans every case THREAD_RUNS times, counting wrong verdicts. */
static void *scan_thread(void *p)
{
	struct thread_arg *a = p;
	struct mc_pool *pool = mc_pool_create("test-av-thread", 0);
	size_t n = sizeof(msg_cases) / sizeof(msg_cases[0]);

	for (int run = 0; run < THREAD_RUNS; run++) {
		for (size_t i = 0; i < n; i++) {
			const char *want = msg_cases[i].archives
						   ? msg_cases[i].want
						   : CLAM_NAME;
			const char *name = NULL;
			int ret = mc_av_scan(a->av, a->msgs[i].data,
					     a->msgs[i].len, &name, pool, NULL);
			if (ret != (want != NULL) ||
			    (want != NULL && strcmp(name, want) != 0))
				a->wrong++;
		}
		mc_pool_clear(pool);
	}
	mc_pool_destroy(&pool);
	return NULL;
}

/* Four threads share one engine and all get the right verdicts. */
static void test_threads(void **state)
{
	struct mc_av_settings set = settings();
	struct mc_av *av = engine(&set);
	size_t n = sizeof(msg_cases) / sizeof(msg_cases[0]);
	struct buf *msgs = mc_calloc(n, sizeof(*msgs));
	struct thread_arg args[THREADS];
	pthread_t tids[THREADS];

	(void)state;
	for (size_t i = 0; i < n; i++)
		msgs[i] = case_message(&msg_cases[i]);
	for (int t = 0; t < THREADS; t++) {
		args[t] = (struct thread_arg){.av = av, .msgs = msgs};
		assert_int_equal(
			pthread_create(&tids[t], NULL, scan_thread, &args[t]),
			0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(tids[t], NULL);
		assert_int_equal(args[t].wrong, 0);
	}
	for (size_t i = 0; i < n; i++)
		free(msgs[i].data);
	free(msgs);
	mc_av_destroy(&av);
}

/* The fake: marker anywhere (also across reader chunks), failures. */
static void test_fake(void **state)
{
	struct mc_av *av = mc_av_fake_create("XVIRUSX", 7, "Fake.Test");
	struct mc_pool *pool = mc_pool_create("test-av", 0);
	struct buf big = {.len = 200000};
	struct mc_error err = {0};
	const char *name = NULL;

	(void)state;
	big.data = mc_calloc(1, big.len);
	assert_int_equal(mc_av_scan(av, "a XVIRUSX b", 11, &name, pool, &err),
			 1);
	assert_string_equal(name, "Fake.Test");
	assert_int_equal(mc_av_scan(av, "a XVIRUS b", 10, &name, pool, &err),
			 0);
	assert_null(name);
	for (size_t at = 65530; at < 65540; at++) {
		struct chunked ch = {
			.b = &big, .max = SIZE_MAX, .fail_at = UINT64_MAX};
		memset(big.data, 'a', big.len);
		memcpy(big.data + at, "XVIRUSX", 7);
		assert_int_equal(mc_av_scan_reader(av, chunked_read, &ch,
						   big.len, &name, pool, &err),
				 1);
	}
	memset(big.data, 'a', big.len);
	struct chunked ch = {.b = &big, .max = SIZE_MAX, .fail_at = UINT64_MAX};
	assert_int_equal(mc_av_scan_reader(av, chunked_read, &ch, big.len,
					   &name, pool, &err),
			 0);
	ch.fail_at = 70000;
	assert_int_equal(mc_av_scan_reader(av, chunked_read, &ch, big.len,
					   &name, pool, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_error_clear(&err);
	mc_av_fake_set_fail(av, true);
	assert_int_equal(mc_av_scan(av, "XVIRUSX", 7, &name, pool, &err), -1);
	assert_null(name);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_av_fake_set_fail(av, false);
	assert_int_equal(mc_av_scan(av, "XVIRUSX", 7, &name, pool, &err), 1);
	assert_int_equal(mc_av_fake_scans(av), 16);
	free(big.data);
	mc_pool_destroy(&pool);
	mc_av_destroy(&av);
}

/* Which names count as heuristic alerts. */
static void test_heuristic_names(void **state)
{
	static const struct {
		const char *name;
		bool heuristic;
	} cases[] = {
		{"Heuristics.Limits.Exceeded.MaxFiles", true},
		{"BC.Heuristics.Something", true},
		{EICAR_NAME, false},
		{"Heuristic.Not", false},
		{"", false},
		{NULL, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mc_av_name_is_heuristic(cases[i].name),
				 cases[i].heuristic);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eicar_plain),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_testfiles_mail),
		cmocka_unit_test(test_empty_and_null_name),
		cmocka_unit_test(test_bad_database),
		cmocka_unit_test(test_corrupt_database),
		cmocka_unit_test(test_readers),
		cmocka_unit_test(test_reader_error),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_fake),
		cmocka_unit_test(test_heuristic_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
