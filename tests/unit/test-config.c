/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the configuration loader (module/core/config.c): default, files and every error. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "module/core/config.h"
#include "tests/unit/testutil.h"

static char tmpdir[64];
static char path[256];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kms11-test-config-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/kms11.conf", tmpdir);
	unsetenv("KMS11_CONF");
	unsetenv("KMS11_STORE");
	unsetenv("XDG_DATA_HOME");
	setenv("HOME", "/home/tester", 1);
}

static void teardown(void)
{
	unlink(path);
	rmdir(tmpdir);
}

static void write_file(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* Loads text as a config file; returns kms_conf_load_file's result, message in err. */
static int load_text(const char *text, struct kms_conf *c, char *err, size_t errlen)
{
	write_file(text, strlen(text));
	return kms_conf_load_file(c, path, err, errlen);
}

START_TEST(test_default)
{
	struct kms_conf c;
	char err[256];

	/* Without KMS11_CONF the module reads the system configuration when it exists: then the built-in default
	 * cannot be seen on this machine. */
	ck_assert_msg(access(KMS11_SYSCONF, F_OK) != 0,
		      "%s exists: the built-in default configuration cannot be tested here (move it aside)", KMS11_SYSCONF);

	ck_assert_int_eq(kms_conf_load(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.n_tokens, 1);
	ck_assert_str_eq(c.tokens[0].label, "kms11");
	ck_assert_str_eq(c.tokens[0].engine, "openssl");
	ck_assert_uint_eq(c.tokens[0].n_settings, 0);
	ck_assert_str_eq(c.store_dir, "/home/tester/.local/share/kms11");
	ck_assert_ptr_null(c.log_file);
	ck_assert_int_eq(c.debug, -1);
	kms_conf_free(&c);
	ck_assert_uint_eq(c.n_tokens, 0);

	setenv("XDG_DATA_HOME", "/xdg", 1);
	ck_assert_int_eq(kms_conf_load(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.store_dir, "/xdg/kms11");
	kms_conf_free(&c);

	setenv("KMS11_STORE", "/srv/store", 1);
	ck_assert_int_eq(kms_conf_load(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.store_dir, "/srv/store");
	kms_conf_free(&c);
}
END_TEST

static const char two_tokens[] = "; kms11 test config\n"
				 "[kms11]\n"
				 "store = /var/lib/kms11\n"
				 "log = /tmp/kms11.log\n"
				 "debug = 2\n"
				 "\n"
				 "[token:alpha]\n"
				 "engine = openssl\n"
				 "kdf = scrypt\n"
				 "\n"
				 "[token:beta two]\n"
				 "engine=openssl\n"
				 "path = /a/b ; inline comment\n"
				 "other: colon\n";

START_TEST(test_two_tokens)
{
	struct kms_conf c;
	char err[256] = "";

	ck_assert_msg(load_text(two_tokens, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.store_dir, "/var/lib/kms11");
	ck_assert_str_eq(c.log_file, "/tmp/kms11.log");
	ck_assert_int_eq(c.debug, 2);
	ck_assert_uint_eq(c.n_tokens, 2);
	ck_assert_str_eq(c.tokens[0].label, "alpha");
	ck_assert_str_eq(c.tokens[0].engine, "openssl");
	ck_assert_uint_eq(c.tokens[0].n_settings, 1);
	ck_assert_str_eq(c.tokens[0].settings[0].key, "kdf");
	ck_assert_str_eq(c.tokens[0].settings[0].value, "scrypt");
	ck_assert_str_eq(c.tokens[1].label, "beta two");
	ck_assert_uint_eq(c.tokens[1].n_settings, 2);
	ck_assert_str_eq(c.tokens[1].settings[0].key, "path");
	ck_assert_str_eq(c.tokens[1].settings[0].value, "/a/b");
	ck_assert_str_eq(c.tokens[1].settings[1].key, "other");
	ck_assert_str_eq(c.tokens[1].settings[1].value, "colon");
	kms_conf_free(&c);

	/* KMS11_STORE wins over store = */
	setenv("KMS11_STORE", "/env/store", 1);
	ck_assert_int_eq(load_text(two_tokens, &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.store_dir, "/env/store");
	kms_conf_free(&c);
	unsetenv("KMS11_STORE");

	/* through KMS11_CONF */
	setenv("KMS11_CONF", path, 1);
	ck_assert_int_eq(kms_conf_load(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.n_tokens, 2);
	kms_conf_free(&c);

	/* without store =, the default applies */
	ck_assert_int_eq(load_text("[token:x]\nengine = openssl\n", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.store_dir, "/home/tester/.local/share/kms11");
	ck_assert_int_eq(c.debug, -1);
	kms_conf_free(&c);

	/* a 32-byte label is fine */
	ck_assert_int_eq(load_text("[token:0123456789abcdef0123456789abcdef]\nengine = openssl\n", &c, err,
				   sizeof(err)),
			 0);
	ck_assert_uint_eq(strlen(c.tokens[0].label), 32);
	kms_conf_free(&c);
}
END_TEST

START_TEST(test_errors)
{
	static const struct {
		const char *text;
		const char *want; /* expected message after "<path>" */
	} cases[] = {
		{ "[kms11]\nstore = /x\n\n[token:a]\nengine = openssl\n\n[token:b]\nengine = foo\n",
		  ":8: unknown engine 'foo'" },
		{ "[token:a]\nkdf = x\n", ":1: token 'a' has no engine" },
		{ "[token:a]\nengine = openssl\n[token:b]\n", ":3: token 'b' has no engine" },
		{ "[token:a]\nengine = openssl\n[token:a]\nengine = openssl\n",
		  ":3: duplicate token label 'a' (first on line 1)" },
		{ "[token:]\nengine = openssl\n", ":1: empty token label in [token:]" },
		{ "[token:0123456789abcdef0123456789abcdefX]\nengine = openssl\n",
		  ":1: token label '0123456789abcdef0123456789abcdefX' is longer than 32 bytes" },
		{ "[kms11]\nstore = /x\n", ": no token section" },
		{ "", ": no token section" },
		{ "; only a comment\n", ": no token section" },
		{ "[kms11]\nstroe = /x\n[token:a]\nengine = openssl\n", ":2: unknown key 'stroe' in [kms11]" },
		{ "[kms11]\ndebug = 7\n[token:a]\nengine = openssl\n", ":2: debug must be 0, 1, 2 or 3, not '7'" },
		{ "[kms11]\nstore =\n[token:a]\nengine = openssl\n", ":2: empty store directory" },
		{ "[tokens:a]\nengine = openssl\n", ":1: unknown section [tokens:a]" },
		{ "engine = openssl\n[token:a]\nengine = openssl\n", ":1: key 'engine' outside any section" },
		{ "[token:a]\nengine = openssl\nthis line has no equals sign\n", ":3: syntax error" },
		{ "[token:a\nengine = openssl\n", ":1: syntax error" },
		{ "[token:a]\nengine =\n", ":2: unknown engine ''" },
	};
	char err[512];
	char want[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kms_conf c;
		memset(err, 0, sizeof(err));
		ck_assert_msg(load_text(cases[i].text, &c, err, sizeof(err)) == -1, "case %zu accepted", i);
		snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "case %zu: got '%s', want '%s'", i, err, want);
		ck_assert_uint_eq(c.n_tokens, 0);
		ck_assert_ptr_null(c.tokens);
	}
}
END_TEST

START_TEST(test_missing_file)
{
	struct kms_conf c;
	char err[512], want[600];

	snprintf(want, sizeof(want), "cannot open %s/nope.conf: No such file or directory", tmpdir);
	snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
	ck_assert_int_eq(kms_conf_load_file(&c, path, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);

	setenv("KMS11_CONF", path, 1);
	ck_assert_int_eq(kms_conf_load(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);

	/* a directory is not a config file */
	ck_assert_int_eq(kms_conf_load_file(&c, tmpdir, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ": not a regular file") != NULL, "%s", err);

	/* small or missing error buffers are fine */
	ck_assert_int_eq(kms_conf_load_file(&c, path, err, 4), -1);
	ck_assert_str_eq(err, "can");
	ck_assert_int_eq(kms_conf_load_file(&c, path, NULL, 0), -1);
}
END_TEST

START_TEST(test_long_line_and_nul)
{
	struct kms_conf c;
	char err[512];
	char text[1024];
	static const char nul[] = "[token:a]\nengine = open\0ssl\n";

	snprintf(text, sizeof(text), "[token:a]\nengine = openssl\nkey = %0600d\n", 1);
	ck_assert_int_eq(load_text(text, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":3: line too long") != NULL, "%s", err);

	write_file(nul, sizeof(nul) - 1);
	ck_assert_int_eq(kms_conf_load_file(&c, path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2: NUL byte") != NULL, "%s", err);
}
END_TEST

START_TEST(test_garbage)
{
	struct kms_conf c;
	char err[512];
	char buf[4096];
	unsigned int seed = 12345;
	static const char alphabet[] = "[]=:;#\n token:kms11 engine openssl \t\r\xef\xbb\xbf";

	/* random bytes, and random mixes of INI punctuation; must never crash */
	for (int round = 0; round < 300; round++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf));
		for (size_t i = 0; i < n; i++) {
			if (round % 2)
				buf[i] = (char)rand_r(&seed);
			else
				buf[i] = alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
		}
		write_file(buf, n);
		int r = kms_conf_load_file(&c, path, err, sizeof(err));
		if (r == 0) {
			ck_assert_uint_ge(c.n_tokens, 1);
			kms_conf_free(&c);
		} else {
			ck_assert_int_eq(r, -1);
			ck_assert_uint_gt(strlen(err), 0);
		}
	}
}
END_TEST

/* Only regular files of at most 1 MiB: /dev/zero, a FIFO without a writer and a huge file answer at once. */
START_TEST(test_endless_and_special_files)
{
	struct kms_conf c;
	char err[512], fifo[300];
	FILE *fp;

	ck_assert_int_eq(kms_conf_load_file(&c, "/dev/zero", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/dev/zero: not a regular file");
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(kms_conf_load_file(&c, fifo, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
	unlink(fifo);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("[token:a]\nengine = openssl\n", fp);
	ck_assert_int_eq(fseek(fp, 1 << 20, SEEK_SET), 0);
	fputs("\n", fp);
	fclose(fp);
	ck_assert_int_eq(kms_conf_load_file(&c, path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "larger than 1048576 bytes") != NULL, "%s", err);
	setenv("KMS11_CONF", "/dev/zero", 1);
	ck_assert_int_eq(kms_conf_load(&c, err, sizeof(err)), -1);
	unsetenv("KMS11_CONF");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_default);
	tcase_add_test(tc, test_two_tokens);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_long_line_and_nul);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_endless_and_special_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kms_test_run(config_suite());
}
