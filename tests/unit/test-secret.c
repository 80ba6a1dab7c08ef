/* SPDX-License-Identifier: Apache-2.0 */
/* Secret keys, AES, HMAC and digests through the module's function list, checked against plain OpenSSL. */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tests/unit/modfixture.h"

static CK_OBJECT_HANDLE import_secret(CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const CK_BYTE *key, CK_ULONG len,
				      CK_BBOOL sensitive)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL t_ = CK_TRUE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
			    {CKA_VALUE, (void *)key, len},   {CKA_TOKEN, &t_, 1},
			    {CKA_SENSITIVE, &sensitive, 1},  {CKA_EXTRACTABLE, &t_, 1}};
	CK_OBJECT_HANDLE h = 0;

	ck_assert_rv(f->C_CreateObject(s, t, 6, &h), CKR_OK);
	return h;
}

START_TEST(test_generate_aes)
{
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG len = 32, bad = 20;
	CK_BBOOL f_ = CK_FALSE, t_ = CK_TRUE, local = 0;
	CK_KEY_TYPE rsa = CKK_RSA;
	CK_BYTE key[32], kcv[3], zero[16] = {0}, enc[32];
	CK_ATTRIBUTE ok[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_SENSITIVE, &f_, 1}, {CKA_EXTRACTABLE, &t_, 1}};
	CK_ATTRIBUTE big[] = {{CKA_VALUE_LEN, &bad, sizeof(bad)}};
	CK_ATTRIBUTE wrongkt[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_KEY_TYPE, &rsa, sizeof(rsa)}};
	CK_ATTRIBUTE q[] = {{CKA_VALUE, key, sizeof(key)}, {CKA_CHECK_VALUE, kcv, sizeof(kcv)}, {CKA_LOCAL, &local, 1}};
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;

	setup_token();
	s = user_session();
	ck_assert_rv(f->C_GenerateKey(s, &gen, NULL, 0, &h), CKR_TEMPLATE_INCOMPLETE);
	ck_assert_rv(f->C_GenerateKey(s, &gen, big, 1, &h), CKR_KEY_SIZE_RANGE);
	ck_assert_rv(f->C_GenerateKey(s, &gen, wrongkt, 2, &h), CKR_TEMPLATE_INCONSISTENT);
	ck_assert_rv(f->C_GenerateKey(s, &gen, ok, 3, &h), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, h, q, 3), CKR_OK);
	ck_assert_int_eq(q[0].ulValueLen, 32);
	ck_assert(local);
	/* the check value is the start of AES-ECB(key, zero block) */
	ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, key, NULL), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	ck_assert_int_eq(EVP_EncryptUpdate(c, enc, &n, zero, 16), 1);
	ck_assert_mem_eq(kcv, enc, 3);
	EVP_CIPHER_CTX_free(c);
	teardown_store();
}
END_TEST

START_TEST(test_aes_cbc_pad_and_gcm)
{
	static const CK_BYTE key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
					0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
	CK_BYTE iv[16] = {1, 2, 3}, msg[100], ct[160], pt[160], ref[160], aad[] = "header", tag_iv[12] = {9};
	CK_MECHANISM cbc = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
	CK_GCM_PARAMS gp = {tag_iv, sizeof(tag_iv), 96, aad, sizeof(aad), 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof(gp)};
	CK_ULONG n = 0, part, total = 0;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int rn = 0, rf = 0;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (CK_BYTE)i;
	setup_token();
	s = user_session();
	h = import_secret(s, CKK_AES, key, sizeof(key), CK_TRUE);
	/* multi-part CBC-PAD equals OpenSSL's one-shot */
	ck_assert_rv(f->C_EncryptInit(s, &cbc, h), CKR_OK);
	for (size_t off = 0; off < sizeof(msg); off += 17) {
		CK_ULONG chunk = sizeof(msg) - off < 17 ? sizeof(msg) - off : 17;

		part = sizeof(ct) - total;
		ck_assert_rv(f->C_EncryptUpdate(s, msg + off, chunk, ct + total, &part), CKR_OK);
		total += part;
	}
	part = sizeof(ct) - total;
	ck_assert_rv(f->C_EncryptFinal(s, ct + total, &part), CKR_OK);
	total += part;
	ck_assert_int_eq(total, 112);
	ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, ref, &rn, msg, sizeof(msg)), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(c, ref + rn, &rf), 1);
	ck_assert_int_eq(rn + rf, 112);
	ck_assert_mem_eq(ct, ref, 112);
	ck_assert_rv(f->C_DecryptInit(s, &cbc, h), CKR_OK);
	n = 0;
	ck_assert_rv(f->C_Decrypt(s, ct, total, NULL, &n), CKR_OK);
	ck_assert_int_ge(n, sizeof(msg));
	n = sizeof(pt);
	ck_assert_rv(f->C_Decrypt(s, ct, total, pt, &n), CKR_OK);
	ck_assert_int_eq(n, sizeof(msg));
	ck_assert_mem_eq(pt, msg, sizeof(msg));
	/* GCM with AAD; a changed tag does not decrypt */
	ck_assert_rv(f->C_EncryptInit(s, &gcm, h), CKR_OK);
	n = sizeof(ct);
	ck_assert_rv(f->C_Encrypt(s, msg, 64, ct, &n), CKR_OK);
	ck_assert_int_eq(n, 64 + 16);
	ck_assert_rv(f->C_DecryptInit(s, &gcm, h), CKR_OK);
	part = sizeof(pt);
	ck_assert_rv(f->C_Decrypt(s, ct, n, pt, &part), CKR_OK);
	ck_assert_int_eq(part, 64);
	ck_assert_mem_eq(pt, msg, 64);
	ct[n - 1] ^= 1;
	ck_assert_rv(f->C_DecryptInit(s, &gcm, h), CKR_OK);
	part = sizeof(pt);
	ck_assert_rv(f->C_Decrypt(s, ct, n, pt, &part), CKR_ENCRYPTED_DATA_INVALID);
	EVP_CIPHER_CTX_free(c);
	teardown_store();
}
END_TEST

START_TEST(test_hmac_and_digest)
{
	CK_BYTE key[40], msg[] = "what do ya want for nothing?", mac[64], ref[64], dg[32];
	CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0}, sha = {CKM_SHA256, NULL, 0};
	CK_ULONG n = sizeof(mac), dn = 0;
	unsigned int rn = 0;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_ATTRIBUTE v[] = {{CKA_VALUE, ref, sizeof(ref)}};

	memset(key, 0x0b, sizeof(key));
	setup_token();
	s = user_session();
	h = import_secret(s, CKK_GENERIC_SECRET, key, sizeof(key), CK_TRUE);
	ck_assert_rv(f->C_GetAttributeValue(s, h, v, 1), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_rv(f->C_SignInit(s, &hm, h), CKR_OK);
	ck_assert_rv(f->C_SignUpdate(s, msg, 4), CKR_OK);
	ck_assert_rv(f->C_SignUpdate(s, msg + 4, sizeof(msg) - 1 - 4), CKR_OK);
	ck_assert_rv(f->C_SignFinal(s, mac, &n), CKR_OK);
	ck_assert_int_eq(n, 32);
	HMAC(EVP_sha256(), key, sizeof(key), msg, sizeof(msg) - 1, ref, &rn);
	ck_assert_mem_eq(mac, ref, 32);
	ck_assert_rv(f->C_VerifyInit(s, &hm, h), CKR_OK);
	ck_assert_rv(f->C_Verify(s, msg, sizeof(msg) - 1, mac, n), CKR_OK);
	mac[0] ^= 1;
	ck_assert_rv(f->C_VerifyInit(s, &hm, h), CKR_OK);
	ck_assert_rv(f->C_Verify(s, msg, sizeof(msg) - 1, mac, n), CKR_SIGNATURE_INVALID);
	/* digest: size query, short buffer, one-shot and parts agree with OpenSSL */
	ck_assert_rv(f->C_DigestInit(s, &sha), CKR_OK);
	ck_assert_rv(f->C_Digest(s, msg, sizeof(msg), NULL, &dn), CKR_OK);
	ck_assert_int_eq(dn, 32);
	dn = 8;
	ck_assert_rv(f->C_Digest(s, msg, sizeof(msg), dg, &dn), CKR_BUFFER_TOO_SMALL);
	dn = sizeof(dg);
	ck_assert_rv(f->C_Digest(s, msg, sizeof(msg), dg, &dn), CKR_OK);
	EVP_Digest(msg, sizeof(msg), ref, NULL, EVP_sha256(), NULL);
	ck_assert_mem_eq(dg, ref, 32);
	ck_assert_rv(f->C_DigestInit(s, &sha), CKR_OK);
	ck_assert_rv(f->C_DigestUpdate(s, msg, 10), CKR_OK);
	ck_assert_rv(f->C_DigestUpdate(s, msg + 10, sizeof(msg) - 10), CKR_OK);
	dn = sizeof(dg);
	ck_assert_rv(f->C_DigestFinal(s, dg, &dn), CKR_OK);
	ck_assert_mem_eq(dg, ref, 32);
	ck_assert_rv(f->C_DigestFinal(s, dg, &dn), CKR_OPERATION_NOT_INITIALIZED);
	teardown_store();
}
END_TEST

int main(void)
{
	Suite *su = suite_create("secret");
	TCase *tc = tcase_create("keys");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_generate_aes);
	tcase_add_test(tc, test_aes_cbc_pad_and_gcm);
	tcase_add_test(tc, test_hmac_and_digest);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
