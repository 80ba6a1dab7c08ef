/* SPDX-License-Identifier: Apache-2.0 */
/* Mechanisms beyond the everyday ones, each result checked against plain OpenSSL or a standard's vectors:
 * raw RSA (CKM_RSA_X_509). */
#include <stdbool.h>
#include <stddef.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/pkcs11x.h"
#include "tests/unit/modfixture.h"
#include "tests/rsaparts.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static CK_SESSION_HANDLE sess;
static CK_BBOOL yes = CK_TRUE;
static CK_OBJECT_CLASS c_pub = CKO_PUBLIC_KEY, c_priv = CKO_PRIVATE_KEY;
static CK_KEY_TYPE k_rsa = CKK_RSA;

static void setup(void)
{
	setup_token();
	sess = user_session();
}

static void teardown(void)
{
	teardown_store();
}

/* An OpenSSL RSA key in the module: its public half (encrypt, verify) or all of it (decrypt, sign). */
static CK_OBJECT_HANDLE rsa_import(EVP_PKEY *pk, bool private)
{
	CK_BYTE buf[RSA_PARTS][512];
	CK_ATTRIBUTE t[4 + RSA_PARTS] = {{CKA_CLASS, private ? &c_priv : &c_pub, sizeof(CK_OBJECT_CLASS)},
					 {CKA_KEY_TYPE, &k_rsa, sizeof(k_rsa)},
					 {private ? CKA_SIGN : CKA_VERIFY, &yes, 1},
					 {private ? CKA_DECRYPT : CKA_ENCRYPT, &yes, 1}};
	size_t n = private ? RSA_PARTS : 2;
	CK_OBJECT_HANDLE h = 0;

	for (size_t i = 0; i < n; i++) {
		BIGNUM *bn = NULL;

		ck_assert_int_eq(EVP_PKEY_get_bn_param(pk, rsa_part_names[i], &bn), 1);
		t[4 + i].type = rsa_part_types[i];
		t[4 + i].pValue = buf[i];
		t[4 + i].ulValueLen = (CK_ULONG)BN_bn2bin(bn, buf[i]);
		BN_free(bn);
	}
	ck_assert_rv(f->C_CreateObject(sess, t, (CK_ULONG)(4 + n), &h), CKR_OK);
	OPENSSL_cleanse(buf, sizeof(buf));
	return h;
}

/* OpenSSL's bare RSA: the public operation (enc) or the private one on a whole block. */
static void ossl_raw(EVP_PKEY *pk, bool enc, const CK_BYTE *in, size_t inlen, CK_BYTE *out, size_t want)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	size_t n = want;

	ck_assert_int_eq(enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING), 1);
	ck_assert_int_eq(enc ? EVP_PKEY_encrypt(c, out, &n, in, inlen) : EVP_PKEY_decrypt(c, out, &n, in, inlen), 1);
	ck_assert_uint_eq(n, want);
	EVP_PKEY_CTX_free(c);
}

/* CKM_RSA_X_509: short data is taken with zero bytes in front; sign, verify, encrypt and decrypt agree with
 * OpenSSL's bare RSA; data longer than the modulus, or a block not below it, is refused. */
START_TEST(test_rsa_x509)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	CK_MECHANISM m = {CKM_RSA_X_509, NULL, 0};
	CK_OBJECT_HANDLE pub, priv;
	CK_BYTE data[20], block[256], sig[256], back[256], ct[256], big[257];
	CK_ULONG len;

	ck_assert_ptr_nonnull(pk);
	pub = rsa_import(pk, false);
	priv = rsa_import(pk, true);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (CK_BYTE)(i * 13 + 1);
	memset(block, 0, sizeof(block));
	memcpy(block + sizeof(block) - sizeof(data), data, sizeof(data));

	/* sign: s = block^d; OpenSSL's public operation gives the block back */
	ck_assert_rv(f->C_SignInit(sess, &m, priv), CKR_OK);
	len = 0;
	ck_assert_rv(f->C_Sign(sess, data, sizeof(data), NULL, &len), CKR_OK);
	ck_assert_uint_eq(len, 256);
	ck_assert_rv(f->C_Sign(sess, data, sizeof(data), sig, &len), CKR_OK);
	ck_assert_uint_eq(len, 256);
	ossl_raw(pk, true, sig, len, back, 256);
	ck_assert_mem_eq(back, block, 256);
	/* verify it, also given as the whole block; a changed signature or changed data fails */
	ck_assert_rv(f->C_VerifyInit(sess, &m, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, data, sizeof(data), sig, 256), CKR_OK);
	ck_assert_rv(f->C_VerifyInit(sess, &m, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, block, sizeof(block), sig, 256), CKR_OK);
	data[0] ^= 1;
	ck_assert_rv(f->C_VerifyInit(sess, &m, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, data, sizeof(data), sig, 256), CKR_SIGNATURE_INVALID);
	data[0] ^= 1;
	sig[100] ^= 1;
	ck_assert_rv(f->C_VerifyInit(sess, &m, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, data, sizeof(data), sig, 256), CKR_SIGNATURE_INVALID);
	ck_assert_rv(f->C_VerifyInit(sess, &m, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, data, sizeof(data), sig, 255), CKR_SIGNATURE_LEN_RANGE);

	/* encrypt: OpenSSL's private operation gives the block; the module's decryption gives it too */
	ck_assert_rv(f->C_EncryptInit(sess, &m, pub), CKR_OK);
	len = sizeof(ct);
	ck_assert_rv(f->C_Encrypt(sess, data, sizeof(data), ct, &len), CKR_OK);
	ck_assert_uint_eq(len, 256);
	ossl_raw(pk, false, ct, 256, back, 256);
	ck_assert_mem_eq(back, block, 256);
	ck_assert_rv(f->C_DecryptInit(sess, &m, priv), CKR_OK);
	len = 10;
	ck_assert_rv(f->C_Decrypt(sess, ct, 256, back, &len), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(len, 256);
	memset(back, 0xee, sizeof(back));
	ck_assert_rv(f->C_Decrypt(sess, ct, 256, back, &len), CKR_OK);
	ck_assert_uint_eq(len, 256);
	ck_assert_mem_eq(back, block, 256);
	/* multi-part signing buffers the parts */
	ck_assert_rv(f->C_SignInit(sess, &m, priv), CKR_OK);
	ck_assert_rv(f->C_SignUpdate(sess, data, 7), CKR_OK);
	ck_assert_rv(f->C_SignUpdate(sess, data + 7, sizeof(data) - 7), CKR_OK);
	len = sizeof(back);
	ck_assert_rv(f->C_SignFinal(sess, back, &len), CKR_OK);
	ossl_raw(pk, true, back, len, ct, 256);
	ck_assert_mem_eq(ct, block, 256);

	/* too long, and a whole block above the modulus */
	memset(big, 0xff, sizeof(big));
	ck_assert_rv(f->C_SignInit(sess, &m, priv), CKR_OK);
	len = sizeof(sig);
	ck_assert_rv(f->C_Sign(sess, big, 257, sig, &len), CKR_DATA_LEN_RANGE);
	ck_assert_rv(f->C_SignInit(sess, &m, priv), CKR_OK);
	len = sizeof(sig);
	ck_assert_rv(f->C_Sign(sess, big, 256, sig, &len), CKR_DATA_INVALID);
	ck_assert_rv(f->C_EncryptInit(sess, &m, pub), CKR_OK);
	len = sizeof(ct);
	ck_assert_rv(f->C_Encrypt(sess, big, 256, ct, &len), CKR_DATA_INVALID);
	ck_assert_rv(f->C_DecryptInit(sess, &m, priv), CKR_OK);
	len = sizeof(back);
	ck_assert_rv(f->C_Decrypt(sess, ct, 255, back, &len), CKR_ENCRYPTED_DATA_LEN_RANGE);
	EVP_PKEY_free(pk);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("mechs");
	TCase *rsa = tcase_create("rsa");

	tcase_add_checked_fixture(rsa, setup, teardown);
	tcase_set_timeout(rsa, 120);
	tcase_add_test(rsa, test_rsa_x509);
	suite_add_tcase(su, rsa);
	return kms_test_run(su);
}
