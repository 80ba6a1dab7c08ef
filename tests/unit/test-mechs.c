/* SPDX-License-Identifier: Apache-2.0 */
/* Mechanisms beyond the everyday ones, each result checked against plain OpenSSL or a standard's vectors:
 * raw RSA (CKM_RSA_X_509); Ed448 and X448 key pairs; the legacy mechanisms of a token with legacy = true (RSA-1024, triple DES, single DES,
 * MD5) and their absence elsewhere. */
#include <stdbool.h>
#include <stddef.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

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

	ck_assert_int_eq(rsa_parts_attrs(pk, n, t + 4, buf), 0);
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


static bool has_mech(CK_MECHANISM_TYPE m)
{
	CK_MECHANISM_TYPE list[256];
	CK_ULONG n = N(list);

	ck_assert_rv(f->C_GetMechanismList(0, list, &n), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++)
		if (list[i] == m)
			return true;
	return false;
}

/* A session secret key of type kt with value val, for encryption, decryption, wrapping and unwrapping. */
static CK_RV secret_key(CK_KEY_TYPE kt, const CK_BYTE *val, CK_ULONG len, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_VALUE, (void *)val, len},
			    {CKA_ENCRYPT, &yes, 1},	    {CKA_DECRYPT, &yes, 1},	      {CKA_WRAP, &yes, 1},
			    {CKA_UNWRAP, &yes, 1},	    {CKA_EXTRACTABLE, &yes, 1},	      {CKA_SENSITIVE, &no, 1}};

	return f->C_CreateObject(sess, t, N(t), h);
}

static CK_RV rsa_gen(CK_ULONG bits)
{
	CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
	CK_OBJECT_HANDLE pub, priv;

	return f->C_GenerateKeyPair(sess, &m, pt, 1, NULL, 0, &pub, &priv);
}

/* A default token offers none of the legacy mechanisms: no DES keys, no RSA below 2048 bits, no MD5. */
START_TEST(test_legacy_off_by_default)
{
	static const CK_BYTE k24[24] = {1, 2, 3};
	CK_MECHANISM md5 = {CKM_MD5, NULL, 0}, gen = {CKM_DES3_KEY_GEN, NULL, 0};
	CK_OBJECT_HANDLE h;

	ck_assert(!has_mech(CKM_DES3_ECB) && !has_mech(CKM_DES3_KEY_GEN) && !has_mech(CKM_DES_CBC) && !has_mech(CKM_MD5));
	ck_assert_rv(secret_key(CKK_DES3, k24, 24, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_rv(f->C_GenerateKey(sess, &gen, NULL, 0, &h), CKR_MECHANISM_INVALID);
	ck_assert_rv(f->C_DigestInit(sess, &md5), CKR_MECHANISM_INVALID);
	ck_assert_rv(rsa_gen(1024), CKR_KEY_SIZE_RANGE);
	/* an RSA-1024 private key is not taken either; its public key is (to verify old signatures) */
	{
		EVP_PKEY *pk = EVP_RSA_gen(1024);
		CK_BYTE buf[RSA_PARTS][512];
		CK_ATTRIBUTE t[2 + RSA_PARTS] = {{CKA_CLASS, &c_priv, sizeof(c_priv)}, {CKA_KEY_TYPE, &k_rsa, sizeof(k_rsa)}};

		ck_assert_ptr_nonnull(pk);
		ck_assert_int_eq(rsa_parts_attrs(pk, RSA_PARTS, t + 2, buf), 0);
		ck_assert_rv(f->C_CreateObject(sess, t, N(t), &h), CKR_KEY_SIZE_RANGE);
		t[0].pValue = &c_pub;
		ck_assert_rv(f->C_CreateObject(sess, t, 4, &h), CKR_OK);
		EVP_PKEY_free(pk);
	}
}
END_TEST

static void legacy_setup(void)
{
	setup_store();
	write_conf("[token:kms11]\nengine = openssl\nlegacy = true\n");
	init_token();
	sess = user_session();
}

static void legacy_teardown(void)
{
	teardown_store();
	unsetenv("KMS11_CONF");
}

/* OpenSSL's encryption (with padding or not) of in under cipher; returns the length. */
static size_t ossl_enc(const EVP_CIPHER *c, const CK_BYTE *key, const CK_BYTE *iv, bool pad, const CK_BYTE *in,
		       size_t inlen, CK_BYTE *out)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int a = 0, b = 0;

	ck_assert_int_eq(EVP_EncryptInit_ex2(x, c, key, iv, NULL), 1);
	EVP_CIPHER_CTX_set_padding(x, pad);
	ck_assert_int_eq(EVP_EncryptUpdate(x, out, &a, in, (int)inlen), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(x, out + a, &b), 1);
	EVP_CIPHER_CTX_free(x);
	return (size_t)(a + b);
}

/* The module's one-shot encryption of in, decrypted back; returns the ciphertext length. */
static size_t enc_dec(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const CK_BYTE *in, size_t inlen, CK_BYTE *out)
{
	CK_BYTE back[128];
	CK_ULONG n = 128, bn = sizeof(back);

	ck_assert_rv(f->C_EncryptInit(sess, m, k), CKR_OK);
	ck_assert_rv(f->C_Encrypt(sess, (CK_BYTE_PTR)in, (CK_ULONG)inlen, out, &n), CKR_OK);
	ck_assert_rv(f->C_DecryptInit(sess, m, k), CKR_OK);
	ck_assert_rv(f->C_Decrypt(sess, out, n, back, &bn), CKR_OK);
	ck_assert_uint_eq(bn, inlen);
	ck_assert_mem_eq(back, in, inlen);
	return n;
}

/* Triple DES with two and three keys: generation with odd parity, the check value, ECB, CBC and CBC-PAD against
 * OpenSSL, wrong key types and lengths, wrapping and unwrapping an AES key. */
START_TEST(test_legacy_triple_des)
{
	static const CK_BYTE k16[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
	static const CK_BYTE k24[24] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x23, 0x45, 0x67, 0x89,
					0xab, 0xcd, 0xef, 0x01, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23};
	static const CK_BYTE iv[8] = {0x12, 0x34, 0x56, 0x78, 0x90, 0xab, 0xcd, 0xef};
	static const CK_BYTE msg[21] = "triple DES, 21 bytes";
	CK_MECHANISM ecb = {CKM_DES3_ECB, NULL, 0}, cbc = {CKM_DES3_CBC, (void *)iv, 8},
		     pad = {CKM_DES3_CBC_PAD, (void *)iv, 8};
	CK_OBJECT_HANDLE h2, h3, g;
	CK_BYTE got[128], want[128], val[32], kcv[3], zero[8] = {0};
	CK_ATTRIBUTE q[] = {{CKA_VALUE, val, sizeof(val)}, {CKA_CHECK_VALUE, kcv, 3}};
	size_t n;

	ck_assert(has_mech(CKM_DES3_ECB) && has_mech(CKM_DES2_KEY_GEN) && has_mech(CKM_DES3_CBC_PAD));
	ck_assert_rv(secret_key(CKK_DES2, k16, 16, &h2), CKR_OK);
	ck_assert_rv(secret_key(CKK_DES3, k24, 24, &h3), CKR_OK);
	ck_assert_rv(secret_key(CKK_DES3, k24, 16, &g), CKR_ATTRIBUTE_VALUE_INVALID);
	/* check values: the first three bytes of the encryption of a zero block */
	ck_assert_rv(f->C_GetAttributeValue(sess, h3, q, 2), CKR_OK);
	ossl_enc(EVP_des_ede3_ecb(), k24, NULL, false, zero, 8, want);
	ck_assert_mem_eq(kcv, want, 3);
	ck_assert_rv(f->C_GetAttributeValue(sess, h2, q, 2), CKR_OK);
	ossl_enc(EVP_des_ede_ecb(), k16, NULL, false, zero, 8, want);
	ck_assert_mem_eq(kcv, want, 3);

	/* the modes, three keys and two keys (CKM_DES3_* takes both) */
	n = enc_dec(&ecb, h3, msg, 16, got);
	ck_assert_mem_eq(got, want, ossl_enc(EVP_des_ede3_ecb(), k24, NULL, false, msg, 16, want));
	ck_assert_uint_eq(n, 16);
	n = enc_dec(&cbc, h3, msg, 16, got);
	ck_assert_mem_eq(got, want, ossl_enc(EVP_des_ede3_cbc(), k24, iv, false, msg, 16, want));
	n = enc_dec(&pad, h3, msg, sizeof(msg), got);
	ck_assert_uint_eq(n, 24);
	ck_assert_mem_eq(got, want, ossl_enc(EVP_des_ede3_cbc(), k24, iv, true, msg, sizeof(msg), want));
	n = enc_dec(&pad, h2, msg, sizeof(msg), got);
	ck_assert_mem_eq(got, want, ossl_enc(EVP_des_ede_cbc(), k16, iv, true, msg, sizeof(msg), want));
	/* not whole blocks, a bad IV length */
	{
		CK_MECHANISM badiv = {CKM_DES3_CBC, (void *)iv, 7};
		CK_ULONG l = sizeof(got);

		ck_assert_rv(f->C_EncryptInit(sess, &ecb, h3), CKR_OK);
		ck_assert_rv(f->C_Encrypt(sess, (CK_BYTE_PTR)msg, 12, got, &l), CKR_DATA_LEN_RANGE);
		ck_assert_rv(f->C_EncryptInit(sess, &badiv, h3), CKR_MECHANISM_PARAM_INVALID);
	}

	/* generation: the right length, odd parity in every byte, a check value that fits */
	{
		CK_MECHANISM m3 = {CKM_DES3_KEY_GEN, NULL, 0}, m2 = {CKM_DES2_KEY_GEN, NULL, 0};
		CK_BBOOL no = CK_FALSE;
		CK_ULONG wrong = 16;
		CK_ATTRIBUTE t[] = {{CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_VALUE_LEN, &wrong, sizeof(wrong)}};

		ck_assert_rv(f->C_GenerateKey(sess, &m3, t, 2, &g), CKR_OK);
		q[0].ulValueLen = sizeof(val);
		ck_assert_rv(f->C_GetAttributeValue(sess, g, q, 2), CKR_OK);
		ck_assert_uint_eq(q[0].ulValueLen, 24);
		for (int i = 0; i < 24; i++)
			ck_assert_msg(__builtin_popcount(val[i]) % 2 == 1, "byte %d has even parity", i);
		ossl_enc(EVP_des_ede3_ecb(), val, NULL, false, zero, 8, want);
		ck_assert_mem_eq(kcv, want, 3);
		ck_assert_rv(f->C_GenerateKey(sess, &m2, t, 2, &g), CKR_OK);
		q[0].ulValueLen = sizeof(val);
		ck_assert_rv(f->C_GetAttributeValue(sess, g, q, 1), CKR_OK);
		ck_assert_uint_eq(q[0].ulValueLen, 16);
		ck_assert_rv(f->C_GenerateKey(sess, &m3, t, 3, &g), CKR_TEMPLATE_INCONSISTENT);
	}

	/* wrapping an AES key with DES3-CBC-PAD gives OpenSSL's bytes; unwrapping gives the key back */
	{
		static const CK_BYTE aes[16] = {0xa5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x5a};
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = CKK_AES;
		CK_BBOOL no = CK_FALSE;
		CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
				     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
		CK_OBJECT_HANDLE a, u;
		CK_ULONG wl = sizeof(got);

		ck_assert_rv(secret_key(CKK_AES, aes, 16, &a), CKR_OK);
		ck_assert_rv(f->C_WrapKey(sess, &pad, h3, a, got, &wl), CKR_OK);
		ck_assert_uint_eq(wl, 24);
		ck_assert_mem_eq(got, want, ossl_enc(EVP_des_ede3_cbc(), k24, iv, true, aes, 16, want));
		ck_assert_rv(f->C_UnwrapKey(sess, &pad, h3, got, wl, ut, N(ut), &u), CKR_OK);
		q[0].ulValueLen = sizeof(val);
		ck_assert_rv(f->C_GetAttributeValue(sess, u, q, 1), CKR_OK);
		ck_assert_uint_eq(q[0].ulValueLen, 16);
		ck_assert_mem_eq(val, aes, 16);
		got[wl - 1] ^= 0x55; /* the padding no longer checks */
		ck_assert_rv(f->C_UnwrapKey(sess, &pad, h3, got, wl, ut, N(ut), &u), CKR_WRAPPED_KEY_INVALID);
	}
}
END_TEST

/* Single DES and MD5 come from OpenSSL's legacy provider; RSA-1024 key pairs are made and sign. */
START_TEST(test_legacy_des_md5_rsa1024)
{
	static const CK_BYTE k8[8] = {0x13, 0x34, 0x57, 0x79, 0x9b, 0xbc, 0xdf, 0xf1};
	static const CK_BYTE iv[8] = {8, 7, 6, 5, 4, 3, 2, 1};
	OSSL_PROVIDER *lp = OSSL_PROVIDER_load(NULL, "legacy"), *dp = OSSL_PROVIDER_load(NULL, "default");
	EVP_CIPHER *des = EVP_CIPHER_fetch(NULL, "DES-CBC", NULL);
	CK_MECHANISM cbc = {CKM_DES_CBC_PAD, (void *)iv, 8}, md5 = {CKM_MD5, NULL, 0};
	CK_BYTE got[128], want[64];
	CK_ULONG n = sizeof(got);
	CK_OBJECT_HANDLE h;

	ck_assert_msg(lp && des, "OpenSSL's legacy provider is needed for this test");
	ck_assert(has_mech(CKM_DES_CBC_PAD) && has_mech(CKM_MD5) && has_mech(CKM_DES_KEY_GEN));
	ck_assert_rv(secret_key(CKK_DES, k8, 8, &h), CKR_OK);
	enc_dec(&cbc, h, (const CK_BYTE *)"single DES", 10, got);
	ck_assert_mem_eq(got, want, ossl_enc(des, k8, iv, true, (const CK_BYTE *)"single DES", 10, want));
	/* MD5 of "abc" (RFC 1321) */
	ck_assert_rv(f->C_DigestInit(sess, &md5), CKR_OK);
	ck_assert_rv(f->C_Digest(sess, (CK_BYTE_PTR) "abc", 3, got, &n), CKR_OK);
	ck_assert_uint_eq(n, 16);
	ck_assert_mem_eq(got, "\x90\x01\x50\x98\x3c\xd2\x4f\xb0\xd6\x96\x3f\x7d\x28\xe1\x7f\x72", 16);
	/* RSA from 1024 bits, not below; an RSA-1024 private key is taken and signs */
	ck_assert_rv(rsa_gen(1024), CKR_OK);
	{
		EVP_PKEY *pk = EVP_RSA_gen(1024);
		CK_OBJECT_HANDLE priv;
		CK_MECHANISM rs = {CKM_SHA256_RSA_PKCS, NULL, 0};

		ck_assert_ptr_nonnull(pk);
		priv = rsa_import(pk, true);
		n = sizeof(got);
		ck_assert_rv(f->C_SignInit(sess, &rs, priv), CKR_OK);
		ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "old", 3, got, &n), CKR_OK);
		ck_assert_uint_eq(n, 128);
		EVP_PKEY_free(pk);
	}
	ck_assert_rv(rsa_gen(768), CKR_KEY_SIZE_RANGE);
	EVP_CIPHER_free(des);
	OSSL_PROVIDER_unload(lp);
	OSSL_PROVIDER_unload(dp);
}
END_TEST

/* legacy = takes true or false only: anything else stops C_Initialize. */
START_TEST(test_legacy_setting_checked)
{
	setup_store();
	write_conf("[token:kms11]\nengine = openssl\nlegacy = maybe\n");
	ck_assert_rv(f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	write_conf("[token:kms11]\nengine = openssl\nlegcy = true\n");
	ck_assert_rv(f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	write_conf("[token:kms11]\nengine = openssl\nlegacy = false\n");
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert(!has_mech(CKM_DES3_ECB));
	legacy_teardown();
}
END_TEST

/* Ed448 and X448 key pairs are generated (by OID and by curve name): Ed448 signs 114-byte signatures that
 * verify; two X448 pairs derive the same secret from each other's CKA_EC_POINT. */
START_TEST(test_ed448_x448_generate)
{
	static CK_BYTE ed448[] = {0x06, 0x03, 0x2b, 0x65, 0x71}, x448[] = {0x06, 0x03, 0x2b, 0x65, 0x6f};
	static CK_BYTE ed448_name[] = {0x13, 0x0a, 'e', 'd', 'w', 'a', 'r', 'd', 's', '4', '4', '8'};
	CK_MECHANISM ge = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0}, gx = {CKM_EC_MONTGOMERY_KEY_PAIR_GEN, NULL, 0},
		     eddsa = {CKM_EDDSA, NULL, 0};
	CK_ATTRIBUTE et[] = {{CKA_EC_PARAMS, ed448, sizeof(ed448)}}, en[] = {{CKA_EC_PARAMS, ed448_name, sizeof(ed448_name)}};
	CK_ATTRIBUTE xt[] = {{CKA_EC_PARAMS, x448, sizeof(x448)}}, dv[] = {{CKA_DERIVE, &yes, 1}};
	CK_OBJECT_HANDLE pub, priv, apub, apriv, bpub, bpriv;
	CK_BYTE sig[128], pa[64], pb[64];
	CK_ULONG n = sizeof(sig);

	ck_assert_rv(f->C_GenerateKeyPair(sess, &ge, en, 1, NULL, 0, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_GenerateKeyPair(sess, &ge, et, 1, NULL, 0, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_SignInit(sess, &eddsa, priv), CKR_OK);
	ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "ed448", 5, sig, &n), CKR_OK);
	ck_assert_uint_eq(n, 114);
	ck_assert_rv(f->C_VerifyInit(sess, &eddsa, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, (CK_BYTE_PTR) "ed448", 5, sig, n), CKR_OK);
	/* an Ed448 OID is not a Montgomery curve */
	ck_assert_rv(f->C_GenerateKeyPair(sess, &gx, et, 1, NULL, 0, &pub, &priv), CKR_CURVE_NOT_SUPPORTED);

	ck_assert_rv(f->C_GenerateKeyPair(sess, &gx, xt, 1, dv, 1, &apub, &apriv), CKR_OK);
	ck_assert_rv(f->C_GenerateKeyPair(sess, &gx, xt, 1, dv, 1, &bpub, &bpriv), CKR_OK);
	{
		CK_ATTRIBUTE qa = {CKA_EC_POINT, pa, sizeof(pa)}, qb = {CKA_EC_POINT, pb, sizeof(pb)};
		CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
		CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
		CK_BBOOL no = CK_FALSE;
		CK_ATTRIBUTE dt[] = {{CKA_CLASS, &sec, sizeof(sec)}, {CKA_KEY_TYPE, &gk, sizeof(gk)},
				     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
		CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, 0, NULL};
		CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof(p)};
		CK_BYTE za[64], zb[64];
		CK_ATTRIBUTE va = {CKA_VALUE, za, sizeof(za)}, vb = {CKA_VALUE, zb, sizeof(zb)};
		CK_OBJECT_HANDLE da, db;

		ck_assert_rv(f->C_GetAttributeValue(sess, apub, &qa, 1), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(sess, bpub, &qb, 1), CKR_OK);
		ck_assert_uint_eq(qa.ulValueLen, 58); /* DER OCTET STRING of 56 bytes */
		p.pPublicData = pb;
		p.ulPublicDataLen = qb.ulValueLen;
		ck_assert_rv(f->C_DeriveKey(sess, &m, apriv, dt, 4, &da), CKR_OK);
		p.pPublicData = pa;
		p.ulPublicDataLen = qa.ulValueLen;
		ck_assert_rv(f->C_DeriveKey(sess, &m, bpriv, dt, 4, &db), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(sess, da, &va, 1), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(sess, db, &vb, 1), CKR_OK);
		ck_assert_uint_eq(va.ulValueLen, 56);
		ck_assert_uint_eq(vb.ulValueLen, 56);
		ck_assert_mem_eq(za, zb, 56);
	}
}
END_TEST

/* Generated EC, Edwards and Montgomery key pairs: CKA_PUBLIC_KEY_INFO is the DER OpenSSL writes for the same
 * key, CKA_EC_POINT holds the same point, and the private key (written as PKCS#8 by the module) signs or
 * derives. */
START_TEST(test_generated_der)
{
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static CK_BYTE p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
	static CK_BYTE ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70}, ed448[] = {0x06, 0x03, 0x2b, 0x65, 0x71};
	static CK_BYTE x25519[] = {0x06, 0x03, 0x2b, 0x65, 0x6e}, x448[] = {0x06, 0x03, 0x2b, 0x65, 0x6f};
	static const struct {
		CK_MECHANISM_TYPE gen, use;
		CK_BYTE *oid;
		size_t oidlen;
	} c[] = {
		{CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, p256, sizeof(p256)},
		{CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, p384, sizeof(p384)},
		{CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, p521, sizeof(p521)},
		{CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, ed25519, sizeof(ed25519)},
		{CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, ed448, sizeof(ed448)},
		{CKM_EC_MONTGOMERY_KEY_PAIR_GEN, CKM_ECDH1_DERIVE, x25519, sizeof(x25519)},
		{CKM_EC_MONTGOMERY_KEY_PAIR_GEN, CKM_ECDH1_DERIVE, x448, sizeof(x448)},
	};

	for (size_t i = 0; i < N(c); i++) {
		CK_MECHANISM gen = {c[i].gen, NULL, 0};
		CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, c[i].oid, c[i].oidlen}, {CKA_VERIFY, &yes, 1}};
		CK_ATTRIBUTE kt[] = {{CKA_SIGN, &yes, 1}, {CKA_DERIVE, &yes, 1}};
		CK_BYTE spki[300], pt2[200], sig[200], hash[32] = {1, 2, 3};
		CK_ATTRIBUTE q[] = {{CKA_PUBLIC_KEY_INFO, spki, sizeof(spki)}, {CKA_EC_POINT, pt2, sizeof(pt2)}};
		CK_OBJECT_HANDLE pub, priv;
		const unsigned char *pp = spki;
		unsigned char *again = NULL;
		EVP_PKEY *pk;
		int n;

		ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 2, kt, c[i].use == CKM_ECDH1_DERIVE ? 2 : 1, &pub, &priv),
			     CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(sess, pub, q, 2), CKR_OK);
		pk = d2i_PUBKEY(NULL, &pp, (long)q[0].ulValueLen);
		ck_assert_msg(pk != NULL, "case %zu: CKA_PUBLIC_KEY_INFO does not decode", i);
		ck_assert_ptr_eq(pp, spki + q[0].ulValueLen);
		n = i2d_PUBKEY(pk, &again);
		ck_assert_int_eq(n, (int)q[0].ulValueLen);
		ck_assert_mem_eq(again, spki, (size_t)n);
		OPENSSL_free(again);
		EVP_PKEY_free(pk);
		if (c[i].use == CKM_ECDH1_DERIVE) {
			CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
			CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
			CK_ATTRIBUTE dt[] = {{CKA_CLASS, &sec, sizeof(sec)}, {CKA_KEY_TYPE, &gk, sizeof(gk)}};
			CK_ECDH1_DERIVE_PARAMS dp = {CKD_NULL, 0, NULL, q[1].ulValueLen, pt2};
			CK_MECHANISM dm = {CKM_ECDH1_DERIVE, &dp, sizeof(dp)};
			CK_OBJECT_HANDLE d;

			ck_assert_rv(f->C_DeriveKey(sess, &dm, priv, dt, 2, &d), CKR_OK);
		} else {
			CK_MECHANISM sm = {c[i].use, NULL, 0};
			CK_ULONG sl = sizeof(sig);

			ck_assert_rv(f->C_SignInit(sess, &sm, priv), CKR_OK);
			ck_assert_rv(f->C_Sign(sess, hash, sizeof(hash), sig, &sl), CKR_OK);
			ck_assert_rv(f->C_VerifyInit(sess, &sm, pub), CKR_OK);
			ck_assert_rv(f->C_Verify(sess, hash, sizeof(hash), sig, sl), CKR_OK);
		}
	}
}
END_TEST

int main(void)
{
	Suite *su = suite_create("mechs");
	TCase *rsa = tcase_create("rsa"), *legacy = tcase_create("legacy"), *conf = tcase_create("conf");

	tcase_add_checked_fixture(rsa, setup, teardown);
	tcase_set_timeout(rsa, 120);
	tcase_add_test(rsa, test_rsa_x509);
	tcase_add_test(rsa, test_legacy_off_by_default);
	tcase_add_test(rsa, test_ed448_x448_generate);
	tcase_add_test(rsa, test_generated_der);
	suite_add_tcase(su, rsa);
	tcase_add_checked_fixture(legacy, legacy_setup, legacy_teardown);
	tcase_set_timeout(legacy, 120);
	tcase_add_test(legacy, test_legacy_triple_des);
	tcase_add_test(legacy, test_legacy_des_md5_rsa1024);
	suite_add_tcase(su, legacy);
	tcase_set_timeout(conf, 60);
	tcase_add_test(conf, test_legacy_setting_checked);
	suite_add_tcase(su, conf);
	return kms_test_run(su);
}
