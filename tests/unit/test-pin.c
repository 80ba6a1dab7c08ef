/* SPDX-License-Identifier: Apache-2.0 */
/* PIN key derivation and the AES-256-GCM seal of token keys and key blobs. */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/evp.h>

#include "tests/unit/testutil.h"
#include "common/mem.h"
#include "module/core/core.h"


START_TEST(test_kdf_parameters_reach_scrypt)
{
	struct kms_kdf kdf;
	uint8_t a[32], b[32], ref[32];

	ck_assert_rv(kms_kdf_new(&kdf), CKR_OK);
	ck_assert_int_eq(kdf.n, 1 << 15);
	ck_assert_int_eq(kdf.r, 8);
	ck_assert_int_eq(kdf.p, 1);
	ck_assert_rv(kms_kdf_derive(&kdf, "1234", 4, a), CKR_OK);
	ck_assert_int_eq(EVP_PBE_scrypt("1234", 4, kdf.salt, sizeof(kdf.salt), kdf.n, kdf.r, kdf.p, 64 << 20, ref, 32), 1);
	ck_assert_mem_eq(a, ref, 32);
	ck_assert_rv(kms_kdf_derive(&kdf, "1235", 4, b), CKR_OK);
	ck_assert(memcmp(a, b, 32) != 0);
	kdf.salt[0] ^= 1;
	ck_assert_rv(kms_kdf_derive(&kdf, "1234", 4, b), CKR_OK);
	ck_assert(memcmp(a, b, 32) != 0);
	kdf.n = 1000; /* not a power of two */
	ck_assert_rv(kms_kdf_derive(&kdf, "1234", 4, b), CKR_GENERAL_ERROR);
}
END_TEST

START_TEST(test_kdf_salts_differ)
{
	struct kms_kdf k1, k2;

	ck_assert_rv(kms_kdf_new(&k1), CKR_OK);
	ck_assert_rv(kms_kdf_new(&k2), CKR_OK);
	ck_assert(memcmp(k1.salt, k2.salt, sizeof(k1.salt)) != 0);
}
END_TEST

START_TEST(test_gcm_seal_open)
{
	uint8_t key[32], other[32];
	const uint8_t aad[] = "object 7", msg[] = "private key bytes";
	uint8_t *sealed = NULL, *plain = NULL;
	size_t slen = 0, plen = 0;

	memset(key, 0x11, sizeof(key));
	memset(other, 0x12, sizeof(other));
	ck_assert_rv(kms_gcm_seal(key, aad, sizeof(aad), msg, sizeof(msg), &sealed, &slen), CKR_OK);
	ck_assert_int_eq(slen, 12 + sizeof(msg) + 16);
	ck_assert_ptr_null(memmem(sealed, slen, "private", 7));
	ck_assert_rv(kms_gcm_open(key, aad, sizeof(aad), sealed, slen, &plain, &plen), CKR_OK);
	ck_assert_int_eq(plen, sizeof(msg));
	ck_assert_mem_eq(plain, msg, sizeof(msg));
	kms_secure_free(plain);
	/* wrong key, wrong associated data (another object id), tampered byte, truncated */
	ck_assert_rv(kms_gcm_open(other, aad, sizeof(aad), sealed, slen, &plain, &plen), CKR_ENCRYPTED_DATA_INVALID);
	ck_assert_rv(kms_gcm_open(key, (const uint8_t *)"object 8", 9, sealed, slen, &plain, &plen),
		     CKR_ENCRYPTED_DATA_INVALID);
	sealed[14] ^= 0x80;
	ck_assert_rv(kms_gcm_open(key, aad, sizeof(aad), sealed, slen, &plain, &plen), CKR_ENCRYPTED_DATA_INVALID);
	sealed[14] ^= 0x80;
	ck_assert_rv(kms_gcm_open(key, aad, sizeof(aad), sealed, 20, &plain, &plen), CKR_ENCRYPTED_DATA_INVALID);
	free(sealed);
}
END_TEST

START_TEST(test_gcm_nonces_fresh)
{
	uint8_t key[32] = {1};
	uint8_t *s1 = NULL, *s2 = NULL;
	size_t l1 = 0, l2 = 0;

	ck_assert_rv(kms_gcm_seal(key, NULL, 0, (const uint8_t *)"x", 1, &s1, &l1), CKR_OK);
	ck_assert_rv(kms_gcm_seal(key, NULL, 0, (const uint8_t *)"x", 1, &s2, &l2), CKR_OK);
	ck_assert(memcmp(s1, s2, 12) != 0);
	free(s1);
	free(s2);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("pin");
	TCase *tc = tcase_create("kdf-gcm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_kdf_parameters_reach_scrypt);
	tcase_add_test(tc, test_kdf_salts_differ);
	tcase_add_test(tc, test_gcm_seal_open);
	tcase_add_test(tc, test_gcm_nonces_fresh);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
