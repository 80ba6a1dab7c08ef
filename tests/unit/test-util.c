/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/: hex, base64, ISO 8601 time, the u64 map, secure memory and logging. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"
#include "tests/unit/testutil.h"

START_TEST(test_hex_roundtrip)
{
	uint8_t in[256], *out = NULL;
	size_t outlen = 0;
	char *s;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	s = kms_hex_encode(in, sizeof(in));
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), 512);
	ck_assert(strncmp(s, "000102", 6) == 0);
	ck_assert_str_eq(s + 506, "fdfeff");
	ck_assert_int_eq(kms_hex_decode(s, &out, &outlen), 0);
	ck_assert_uint_eq(outlen, sizeof(in));
	ck_assert_mem_eq(out, in, sizeof(in));
	free(out);
	free(s);

	ck_assert_int_eq(kms_hex_decode("DEADbeef", &out, &outlen), 0);
	ck_assert_uint_eq(outlen, 4);
	ck_assert_uint_eq(out[0], 0xde);
	ck_assert_uint_eq(out[3], 0xef);
	free(out);

	s = kms_hex_encode(in, 0);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_int_eq(kms_hex_decode("", &out, &outlen), 0);
	ck_assert_uint_eq(outlen, 0);
	free(out);
}
END_TEST

START_TEST(test_hex_rejects)
{
	uint8_t *out = NULL;
	size_t outlen = 0;

	ck_assert_int_eq(kms_hex_decode("abc", &out, &outlen), -1);
	ck_assert_int_eq(kms_hex_decode("zz", &out, &outlen), -1);
	ck_assert_int_eq(kms_hex_decode("0g", &out, &outlen), -1);
	ck_assert_int_eq(kms_hex_decode(" 01", &out, &outlen), -1);
	ck_assert_int_eq(kms_hex_decode("01 ", &out, &outlen), -1);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_base64_vectors)
{
	/* RFC 4648 section 10 */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };

	for (size_t i = 0; i < 7; i++) {
		uint8_t *out = NULL;
		size_t outlen = 99;
		char *s = kms_base64_encode((const uint8_t *)plain[i], strlen(plain[i]));
		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(s, enc[i]);
		free(s);
		ck_assert_int_eq(kms_base64_decode(enc[i], &out, &outlen), 0);
		ck_assert_uint_eq(outlen, strlen(plain[i]));
		ck_assert_mem_eq(out, plain[i], outlen);
		free(out);
	}
}
END_TEST

START_TEST(test_base64_roundtrip)
{
	uint8_t in[1000], *out = NULL;
	size_t outlen;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n < 40; n++) {
		char *s = kms_base64_encode(in, n);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(strlen(s), (n + 2) / 3 * 4);
		ck_assert_int_eq(kms_base64_decode(s, &out, &outlen), 0);
		ck_assert_uint_eq(outlen, n);
		ck_assert_mem_eq(out, in, n);
		free(out);
		free(s);
	}
	char *s = kms_base64_encode(in, sizeof(in));
	ck_assert_ptr_null(strchr(s, '\n'));
	ck_assert_int_eq(kms_base64_decode(s, &out, &outlen), 0);
	ck_assert_uint_eq(outlen, sizeof(in));
	ck_assert_mem_eq(out, in, sizeof(in));
	free(out);
	free(s);
}
END_TEST

START_TEST(test_base64_rejects)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "=Zg=", "Zm9v\n", "Zm 9", "Zm9v YmFy", "Zm9*", "Z=g=", "Zg==Zg==", "====",
	};
	uint8_t *out = NULL;
	size_t outlen;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(kms_base64_decode(bad[i], &out, &outlen) == -1, "accepted '%s'", bad[i]);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_time)
{
	char buf[32];
	time_t t;

	ck_assert_str_eq(kms_time_iso8601(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
	ck_assert_str_eq(kms_time_iso8601(1700000000, buf, sizeof(buf)), "2023-11-14T22:13:20Z");
	ck_assert_int_eq(kms_time_parse("2023-11-14T22:13:20Z", &t), 0);
	ck_assert_int_eq((long long)t, 1700000000LL);
	ck_assert_int_eq(kms_time_parse("2023-11-14T22:13:20.123Z", &t), 0);
	ck_assert_int_eq((long long)t, 1700000000LL);
	ck_assert_int_eq(kms_time_parse("2023-11-15T00:13:20+02:00", &t), 0);
	ck_assert_int_eq((long long)t, 1700000000LL);
	ck_assert_int_eq(kms_time_parse("2023-11-14T20:43:20-01:30", &t), 0);
	ck_assert_int_eq((long long)t, 1700000000LL);
	ck_assert_int_eq(kms_time_parse("2024-02-29", &t), 0);
	ck_assert_int_eq((long long)t, 1709164800LL);
	ck_assert_int_eq(kms_time_parse("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq((long long)t, 0);
	ck_assert_int_eq(kms_time_parse("1969-12-31T23:59:59Z", &t), 0);
	ck_assert_int_eq((long long)t, -1);

	/* round trip */
	for (time_t x = 0; x < 4102444800; x += 86400 * 37 + 3661) {
		ck_assert_int_eq(kms_time_parse(kms_time_iso8601(x, buf, sizeof(buf)), &t), 0);
		ck_assert_int_eq((long long)t, (long long)x);
	}

	static const char *const bad[] = {
		"", "2023", "2023-11", "2023-13-01", "2023-02-29", "2023-11-31", "2023-00-10", "2023-11-14T",
		"2023-11-14T22:13", "2023-11-14T22:13:20", "2023-11-14T24:00:00Z", "2023-11-14T22:60:00Z",
		"2023-11-14T22:13:20.Z", "2023-11-14T22:13:20+0200", "2023-11-14T22:13:20Zjunk", "2023-11-14 ",
		"23-11-14", "2023/11/14", "abcd-ef-gh",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(kms_time_parse(bad[i], &t) == -1, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_be)
{
	uint8_t b[8];

	kms_be64_put(b, 0x0102030405060708ULL);
	ck_assert_uint_eq(b[0], 1);
	ck_assert_uint_eq(b[7], 8);
	ck_assert(kms_be64_get(b) == 0x0102030405060708ULL);
	kms_be32_put(b, 0xa1b2c3d4u);
	ck_assert_uint_eq(b[0], 0xa1);
	ck_assert_uint_eq(kms_be32_get(b), 0xa1b2c3d4u);
}
END_TEST

static void count_each(uint64_t key, void *val, void *ctx)
{
	size_t *n = ctx;

	ck_assert_ptr_eq(val, (void *)(uintptr_t)(key * 3));
	(*n)++;
}

START_TEST(test_map_basic)
{
	struct kms_map m = KMS_MAP_INIT;
	int a, b;

	ck_assert_ptr_null(kms_map_get(&m, 1));
	ck_assert_ptr_null(kms_map_del(&m, 1));
	ck_assert_int_eq(kms_map_put(&m, 0, &a), -1);
	ck_assert_int_eq(kms_map_put(&m, 5, &a), 0);
	ck_assert_ptr_eq(kms_map_get(&m, 5), &a);
	ck_assert_int_eq(kms_map_put(&m, 5, &b), 0);
	ck_assert_ptr_eq(kms_map_get(&m, 5), &b);
	ck_assert_uint_eq(m.n, 1);
	ck_assert_ptr_eq(kms_map_del(&m, 5), &b);
	ck_assert_ptr_null(kms_map_get(&m, 5));
	ck_assert_uint_eq(m.n, 0);
	kms_map_free(&m);
	ck_assert_uint_eq(m.cap, 0);
}
END_TEST

START_TEST(test_map_100k)
{
	struct kms_map m = KMS_MAP_INIT;
	const uint64_t n = 100000;
	size_t cnt = 0;

	for (uint64_t k = 1; k <= n; k++) {
		ck_assert_int_eq(kms_map_put(&m, k, (void *)(uintptr_t)(k * 3)), 0);
		ck_assert(m.n * 10 <= m.cap * 7);
	}
	/* also keys that collide in the low bits */
	for (uint64_t k = 1; k <= 1000; k++)
		ck_assert_int_eq(kms_map_put(&m, k << 40, (void *)(uintptr_t)((k << 40) * 3)), 0);
	ck_assert_uint_eq(m.n, n + 1000);
	ck_assert_uint_eq(m.cap & (m.cap - 1), 0);
	for (uint64_t k = 1; k <= n; k++)
		ck_assert_ptr_eq(kms_map_get(&m, k), (void *)(uintptr_t)(k * 3));
	kms_map_each(&m, count_each, &cnt);
	ck_assert_uint_eq(cnt, n + 1000);

	/* delete every odd key: the even ones must all stay reachable */
	for (uint64_t k = 1; k <= n; k += 2)
		ck_assert_ptr_eq(kms_map_del(&m, k), (void *)(uintptr_t)(k * 3));
	ck_assert_uint_eq(m.n, n / 2 + 1000);
	for (uint64_t k = 1; k <= n; k++) {
		if (k % 2)
			ck_assert_ptr_null(kms_map_get(&m, k));
		else
			ck_assert_ptr_eq(kms_map_get(&m, k), (void *)(uintptr_t)(k * 3));
	}
	for (uint64_t k = 1; k <= 1000; k++)
		ck_assert_ptr_eq(kms_map_del(&m, k << 40), (void *)(uintptr_t)((k << 40) * 3));
	/* reinsert and delete everything */
	for (uint64_t k = 1; k <= n; k += 2)
		ck_assert_int_eq(kms_map_put(&m, k, (void *)(uintptr_t)(k * 3)), 0);
	ck_assert_uint_eq(m.n, n);
	for (uint64_t k = n; k >= 1; k--)
		ck_assert_ptr_eq(kms_map_del(&m, k), (void *)(uintptr_t)(k * 3));
	ck_assert_uint_eq(m.n, 0);
	for (size_t i = 0; i < m.cap; i++)
		ck_assert(m.keys[i] == 0);
	kms_map_free(&m);
}
END_TEST

START_TEST(test_secure_mem)
{
	static const size_t sizes[] = { 0, 1, 31, 32, 1000, 2047, 2048, 4000, 4096, 5000, 100000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *p = kms_secure_alloc(n);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % sizeof(void *), 0);
		for (size_t j = 0; j < n; j++)
			ck_assert_uint_eq(p[j], 0);
		memset(p, 0xa5, n);
		kms_secure_free(p);
	}
	kms_secure_free(NULL);
	char *d = kms_secure_dup("secret", 7);
	ck_assert_str_eq(d, "secret");
	kms_secure_free(d);
	ck_assert_ptr_null(kms_secure_alloc(SIZE_MAX - 8));

	uint8_t buf[16];
	memset(buf, 0xff, sizeof(buf));
	kms_wipe(buf, 8);
	ck_assert_uint_eq(buf[0], 0);
	ck_assert_uint_eq(buf[7], 0);
	ck_assert_uint_eq(buf[8], 0xff);

	char *h = malloc(10);
	memcpy(h, "123456789", 10);
	kms_free_wiped(h, 10);
	kms_free_wiped(NULL, 5);
}
END_TEST

/* kB of locked memory (VmLck) of this process. */
static long vm_locked(void)
{
	char line[256];
	long kb = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

/* True when the page holding p is marked "don't dump" (dd in /proc/self/smaps' VmFlags). */
static bool page_not_dumped(const void *p)
{
	char line[512];
	unsigned long lo, hi, a = (unsigned long)p;
	bool in = false, dd = false;
	FILE *fp = fopen("/proc/self/smaps", "r");

	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			if (in)
				break;
			in = a >= lo && a < hi;
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			dd = strstr(line, " dd") != NULL;
		}
	}
	fclose(fp);
	return dd;
}

/* Small secrets never lock heap pages (which would stay locked after the free: VmLck grew by tens of MB
 * over many operations) and are never dumped: without a secure heap each gets pages of its own, locked
 * while it lives and unlocked after; with one, they come from it. */
START_TEST(test_secure_mem_locks_only_its_own)
{
	long before, during, after;
	void *p[64];

	ck_assert(!CRYPTO_secure_malloc_initialized());
	before = vm_locked();
	for (int round = 0; round < 20000; round++) {
		void *q = kms_secure_alloc(32);

		ck_assert_ptr_nonnull(q);
		kms_secure_free(q);
	}
	after = vm_locked();
	ck_assert_msg(after <= before, "VmLck grew from %ld to %ld kB", before, after);
	for (int i = 0; i < 64; i++) {
		p[i] = kms_secure_alloc(32);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert(page_not_dumped(p[i]));
	}
	during = vm_locked();
	for (int i = 0; i < 64; i++)
		kms_secure_free(p[i]);
	ck_assert_int_le(vm_locked(), before);
	ck_assert_int_ge(during, before); /* locked while alive, where RLIMIT_MEMLOCK lets us */

	/* with OpenSSL's secure heap */
	ck_assert_int_ne(CRYPTO_secure_malloc_init(1 << 20, 16), 0);
	for (int i = 0; i < 64; i++) {
		p[i] = kms_secure_alloc(48);
		ck_assert(CRYPTO_secure_allocated((char *)p[i] - 32));
		ck_assert(page_not_dumped(p[i]));
	}
	for (int i = 0; i < 64; i++)
		kms_secure_free(p[i]);
	ck_assert_uint_eq(CRYPTO_secure_used(), 0);
}
END_TEST

/* Runs kms_log in a child with the given environment; returns what it wrote to stderr. */
static char *log_child(const char *debug, const char *logfile)
{
	int fds[2];
	pid_t pid;
	static char out[4096];
	size_t n = 0;
	ssize_t r;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		if (debug)
			setenv("KMS11_DEBUG", debug, 1);
		else
			unsetenv("KMS11_DEBUG");
		if (logfile)
			setenv("KMS11_LOG", logfile, 1);
		else
			unsetenv("KMS11_LOG");
		kms_log_init();
		KMS_ERR("err %d", 1);
		KMS_WARN("warn");
		KMS_INFO("info");
		KMS_DBG("dbg\n");
		/* re-init after fork must work in a grandchild too */
		pid_t g = fork();
		if (g == 0) {
			kms_log_init();
			KMS_ERR("grandchild");
			_exit(0);
		}
		waitpid(g, NULL, 0);
		kms_log_close();
		_exit(0);
	}
	close(fds[1]);
	while (n < sizeof(out) - 1 && (r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fds[0]);
	waitpid(pid, NULL, 0);
	return out;
}

START_TEST(test_log)
{
	char *o;
	char path[] = "/tmp/kms11-test-log-XXXXXX";
	char buf[4096];
	int fd;
	ssize_t r;

	o = log_child(NULL, NULL);
	ck_assert_str_eq(o, "");
	o = log_child("", NULL);
	ck_assert_str_eq(o, "");
	o = log_child("1", NULL);
	ck_assert_ptr_nonnull(strstr(o, "]: ERROR: err 1\n"));
	ck_assert_ptr_nonnull(strstr(o, "]: WARN: warn\n"));
	ck_assert_ptr_null(strstr(o, "INFO"));
	ck_assert_ptr_nonnull(strstr(o, "ERROR: grandchild\n"));
	ck_assert(strncmp(o, "kms11[", 6) == 0);
	o = log_child("yes", NULL);
	ck_assert_ptr_nonnull(strstr(o, "]: DEBUG: dbg\n"));
	ck_assert_ptr_null(strstr(o, "dbg\n\n"));

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	o = log_child(NULL, path);
	ck_assert_str_eq(o, "");
	r = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(r, 0);
	buf[r] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "ERROR: err 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "ERROR: grandchild\n"));
	ck_assert_ptr_null(strstr(buf, "WARN"));
	close(fd);
	unlink(path);

	/* kms_log_set_file switches logging on, in this process */
	unsetenv("KMS11_DEBUG");
	unsetenv("KMS11_LOG");
	kms_log_init();
	ck_assert(!kms_log_enabled(KMS_LOG_ERROR));
	kms_log_set_file(NULL); /* keeps stderr, switches ERROR on */
	ck_assert(kms_log_enabled(KMS_LOG_ERROR));
	ck_assert(!kms_log_enabled(KMS_LOG_WARN));
	kms_log_init();
	ck_assert(!kms_log_enabled(KMS_LOG_ERROR));
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	kms_log_set_file(path);
	ck_assert(kms_log_enabled(KMS_LOG_ERROR));
	ck_assert(!kms_log_enabled(KMS_LOG_WARN));
	KMS_ERR("to file %s", "ok");
	kms_log_close();
	r = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(r, 0);
	buf[r] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, ": ERROR: to file ok\n"));
	close(fd);
	unlink(path);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hex_roundtrip);
	tcase_add_test(tc, test_hex_rejects);
	tcase_add_test(tc, test_base64_vectors);
	tcase_add_test(tc, test_base64_roundtrip);
	tcase_add_test(tc, test_base64_rejects);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_be);
	tcase_add_test(tc, test_map_basic);
	tcase_add_test(tc, test_map_100k);
	tcase_add_test(tc, test_secure_mem);
	tcase_add_test(tc, test_secure_mem_locks_only_its_own);
	tcase_add_test(tc, test_log);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kms_test_run(util_suite());
}
