/* SPDX-License-Identifier: Apache-2.0 */
/* The seal binds a key's lifecycle facts: a disabled key enabled again, or an expiration date removed, by writing
 * the store without the token key is refused, never used; the management plane's own changes seal again and keep
 * working, here and in a new process; a store sealed before (version 3) migrates at the first login with its
 * keys, states and dates intact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "tests/unit/testutil.h"

#include "common/mem.h"
#include "include/kms11.h"
#include "module/kms/kms.h"
#include "storage/store.h"

#define PIN "1234"
#define SO_PIN "12345678"

static char dir[64], storedir[128];
static struct kms_login login;

static void start(void)
{
	struct kms_err e = {0};
	struct kms_token *tok;

	ck_assert_msg(kms_mgr_start(&e) == KMS_OK, "start: %s", e.msg);
	ck_assert_int_eq(kms_mgr_token(NULL, &tok, &e), KMS_OK);
	ck_assert_msg(kms_mgr_login(tok, PIN, &login, &e) == KMS_OK, "login: %s", e.msg);
}

static void stop(void)
{
	kms_mgr_logout(&login);
	memset(&login, 0, sizeof(login));
	kms_mgr_stop();
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kms11-test-lifeseal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(storedir, sizeof(storedir), "%s/store", dir);
	setenv("KMS11_STORE", storedir, 1);
	/* The built-in default's token, written out: a system configuration plays no part. */
	kms_test_conf(dir, "[token:kms11]\nengine = openssl\n");
}

static void teardown(void)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void resolve(const char *name, struct kms_key *k)
{
	struct kms_err e = {0};

	ck_assert_msg(kms_key_resolve(name, NULL, k, &e) == KMS_OK, "%s: %s", name, e.msg);
}

/* kms_key_encrypt of a short text with the key named name: its status. */
static int encrypt(const char *name)
{
	struct kms_err e = {0};
	struct kms_key k;
	char *ct = NULL;
	int ret;

	resolve(name, &k);
	ret = kms_key_encrypt(&login, &k, (const uint8_t *)"text", 4, NULL, 0, &ct, &e);
	free(ct);
	kms_key_free(&k);
	return ret;
}

/* In a child (no module there): writes attributes into every object of the key named name with the storage
 * library, as someone with write access to data.mdb and no PIN could. state 0: removes it; exp NULL: removes the
 * expiration date. */
static void tamper(const char *name, unsigned long state, const char *exp)
{
	pid_t pid = fork();
	int st = 0;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kms_store *s = NULL;
		struct kms_attrs q = KMS_ATTRS_INIT;
		uint64_t *ids = NULL;
		size_t n = 0;
		int bad = 0;

		if (kms_store_open(storedir, &s) != CKR_OK)
			_exit(2);
		kms_attrs_set(&q, CKA_LABEL, name, strlen(name));
		if (kms_store_obj_find(s, 1, &q, true, &ids, &n) != CKR_OK || n == 0)
			bad++;
		for (size_t i = 0; i < n; i++) {
			struct kms_attrs a = KMS_ATTRS_INIT;
			uint32_t no = 0;

			if (kms_store_obj_get(s, ids[i], &no, &a) != CKR_OK)
				bad++;
			if (state)
				kms_attrs_set_ulong(&a, CKA_KMS11_STATE, state);
			if (exp)
				kms_attrs_set(&a, CKA_KMS11_EXPIRATION_DATE, exp, strlen(exp));
			else
				kms_attrs_del(&a, CKA_KMS11_EXPIRATION_DATE);
			if (kms_store_obj_put(s, no, ids[i], &a, false) != CKR_OK)
				bad++;
			kms_attrs_free(&a);
		}
		free(ids);
		kms_attrs_free(&q);
		kms_store_close(s);
		_exit(bad ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tampering failed");
}

START_TEST(test_lifecycle_bound)
{
	struct kms_err e = {0};
	struct kms_token *tok;
	struct kms_key k;
	struct kms_create c = {.algorithm = "AES", .size = 256, .name = "life"};

	ck_assert_msg(kms_mgr_start(&e) == KMS_OK, "start: %s", e.msg);
	ck_assert_int_eq(kms_mgr_token(NULL, &tok, &e), KMS_OK);
	ck_assert_uint_eq(kms_token_init(tok, SO_PIN, 8, "life", PIN, 4), CKR_OK);
	kms_mgr_stop();
	start();
	ck_assert_msg(kms_key_create(&login, &c, &k, &e) == KMS_OK, "create: %s", e.msg);
	kms_key_free(&k);
	c.name = "short-lived";
	c.expiration = "2099-01-01T00:00:00Z";
	ck_assert_msg(kms_key_create(&login, &c, &k, &e) == KMS_OK, "create: %s", e.msg);
	kms_key_free(&k);
	ck_assert_int_eq(encrypt("life"), KMS_OK);
	/* The management plane's changes seal again: disable, enable, disable all leave a key that opens. */
	resolve("life", &k);
	ck_assert_int_eq(kms_key_life(&login, &k, KMS_LIFE_DISABLE, 0, &e), KMS_OK);
	ck_assert_int_eq(encrypt("life"), KMS_E_DENIED);
	ck_assert_int_eq(kms_key_life(&login, &k, KMS_LIFE_ENABLE, 0, &e), KMS_OK);
	ck_assert_int_eq(encrypt("life"), KMS_OK);
	ck_assert_int_eq(kms_key_life(&login, &k, KMS_LIFE_DISABLE, 0, &e), KMS_OK);
	kms_key_free(&k);
	stop();
	/* In a new process, as it was left. */
	start();
	ck_assert_int_eq(encrypt("life"), KMS_E_DENIED);
	ck_assert_int_eq(encrypt("short-lived"), KMS_OK);
	/* Enabled again, and the expiration date moved, without the token key: refused (the seal does not open),
	 * in this process, which had the keys decoded, and in the next. */
	tamper("life", KMS11_STATE_ENABLED, NULL);
	tamper("short-lived", 0, "2199-01-01T00:00:00Z");
	ck_assert_int_eq(encrypt("life"), KMS_E_INTERNAL);
	ck_assert_int_eq(encrypt("short-lived"), KMS_E_INTERNAL);
	stop();
	start();
	ck_assert_int_eq(encrypt("life"), KMS_E_INTERNAL);
	ck_assert_int_eq(encrypt("short-lived"), KMS_E_INTERNAL);
	stop();
}
END_TEST

/* tests/data/seal-v3.mdb: a store of seal version 3 (token "kms11", PINs 1234 and 12345678) holding v3-aes (an
 * AES-256 key, with seal-v3.ct a ciphertext of "sealed under version 3"), v3-ec (an ECDSA key rotated once),
 * v3-disabled (disabled) and v3-expired (expired on 2026-01-01). */
START_TEST(test_v3_store_migrates)
{
	const char *data = getenv("KMS11_TESTDATA");
	char cmd[1200], ct[200];
	struct kms_err e = {0};
	struct kms_key k;
	uint8_t *pt = NULL, *sig = NULL;
	size_t ptlen = 0, siglen = 0;
	bool valid = false;
	FILE *fp;

	ck_assert_msg(data != NULL, "KMS11_TESTDATA is not set");
	snprintf(cmd, sizeof(cmd), "mkdir -m 700 '%s' && cp '%s/seal-v3.mdb' '%s/data.mdb' && chmod 600 '%s/data.mdb'",
		 storedir, data, storedir, storedir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/seal-v3.ct", data);
	fp = fopen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(ct, sizeof(ct), fp));
	fclose(fp);
	ct[strcspn(ct, "\n")] = 0;
	for (int round = 0; round < 2; round++) {
		/* The first login migrates; the second process finds every seal in the new form. */
		start();
		resolve("v3-aes", &k);
		ck_assert_msg(kms_key_decrypt(&login, &k, ct, NULL, 0, &pt, &ptlen, &e) == KMS_OK, "decrypt: %s", e.msg);
		ck_assert_uint_eq(ptlen, 22);
		ck_assert_mem_eq(pt, "sealed under version 3", 22);
		kms_secure_free(pt); /* plaintext lives in the secure heap */
		kms_key_free(&k);
		resolve("v3-ec", &k);
		ck_assert_uint_eq(k.nvers, 2);
		ck_assert_msg(kms_key_sign(&login, &k, "ECDSA_SHA_256", false, (const uint8_t *)"m", 1, &sig, &siglen, &e) ==
				      KMS_OK,
			      "sign: %s", e.msg);
		ck_assert_int_eq(kms_key_verify(&login, &k, "ECDSA_SHA_256", false, (const uint8_t *)"m", 1, sig, siglen,
						&valid, &e),
				 KMS_OK);
		ck_assert(valid);
		free(sig);
		kms_key_free(&k);
		ck_assert_int_eq(encrypt("v3-disabled"), KMS_E_DENIED);
		ck_assert_int_eq(encrypt("v3-expired"), KMS_E_DENIED);
		stop();
	}
}
END_TEST

int main(void)
{
	Suite *su = suite_create("lifeseal");
	TCase *tc = tcase_create("lifeseal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lifecycle_bound);
	tcase_add_test(tc, test_v3_store_migrates);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
