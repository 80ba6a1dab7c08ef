/* SPDX-License-Identifier: Apache-2.0 */
/* Key management through the module's function list: wrapping and its rules, ECDH, certificates, data objects
 * and the 3.0 object attributes, each result checked against plain OpenSSL. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/pkcs11x.h"
#include "tests/unit/modfixture.h"
#include "tests/unit/osslcheck.h"
#include "tests/rsaparts.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define BAD_HANDLE 0x7ffffff1UL

static CK_SESSION_HANDLE sess;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_OBJECT_CLASS c_secret = CKO_SECRET_KEY, c_pub = CKO_PUBLIC_KEY, c_priv = CKO_PRIVATE_KEY;
static CK_KEY_TYPE k_aes = CKK_AES, k_gen = CKK_GENERIC_SECRET, k_ec = CKK_EC, k_rsa = CKK_RSA;
static CK_BYTE oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static CK_BYTE oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static CK_BYTE oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static CK_BYTE oid_x25519[] = {0x06, 0x03, 0x2b, 0x65, 0x6e};
static CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};

static void setup(void)
{
	setup_token();
	sess = user_session();
}

static void teardown(void)
{
	teardown_store();
}

static void fill(CK_BYTE *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (CK_BYTE)(seed * 29 + i * 7 + 3);
}

/* A session secret key of type kt and value val, with extra attributes after the basic three. */
static CK_OBJECT_HANDLE secret(CK_KEY_TYPE kt, const CK_BYTE *val, CK_ULONG len, const CK_ATTRIBUTE *extra,
			       size_t nextra)
{
	CK_ATTRIBUTE t[16] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
			      {CKA_KEY_TYPE, &kt, sizeof(kt)},
			      {CKA_VALUE, (void *)val, len}};
	CK_OBJECT_HANDLE h = 0;

	ck_assert_uint_le(nextra, N(t) - 3);
	for (size_t i = 0; i < nextra; i++)
		t[3 + i] = extra[i];
	ck_assert_rv(f->C_CreateObject(sess, t, (CK_ULONG)(3 + nextra), &h), CKR_OK);
	return h;
}

/* One attribute of h read into buf; its length. */
static CK_ULONG attr(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap)
{
	CK_ATTRIBUTE q = {type, buf, cap};

	ck_assert_rv(f->C_GetAttributeValue(sess, h, &q, 1), CKR_OK);
	return q.ulValueLen;
}

static CK_BBOOL attr_bool(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = 0x55;

	ck_assert_uint_eq(attr(h, type, &b, 1), 1);
	return b;
}

/* AES-KW (pad false) or AES-KWP (pad true) by plain OpenSSL, enc 1 wraps and 0 unwraps; the length or -1. */
static int ossl_kw(bool pad, int enc, const CK_BYTE *kek, size_t keklen, const CK_BYTE *in, size_t inlen,
		   CK_BYTE *out)
{
	char name[32];
	EVP_CIPHER *c;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l = 0, l2 = 0, ok;

	snprintf(name, sizeof(name), "AES-%zu-WRAP%s", keklen * 8, pad ? "-PAD" : "");
	c = EVP_CIPHER_fetch(NULL, name, NULL);
	ck_assert_ptr_nonnull(c);
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = EVP_CipherInit_ex2(ctx, c, kek, NULL, enc, NULL) == 1 &&
	     EVP_CipherUpdate(ctx, out, &l, in, (int)inlen) == 1 && EVP_CipherFinal_ex(ctx, out + l, &l2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	return ok ? l + l2 : -1;
}

/* AES-GCM encryption by plain OpenSSL with a 16-byte tag after the ciphertext. */
static void ossl_gcm(const CK_BYTE *key, size_t keylen, const CK_BYTE *iv, size_t ivlen, const CK_BYTE *aad,
		     size_t aadlen, const CK_BYTE *in, size_t len, CK_BYTE *out)
{
	char name[32];
	EVP_CIPHER *c;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	OSSL_PARAM p[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen), OSSL_PARAM_END};
	int l = 0;

	snprintf(name, sizeof(name), "AES-%zu-GCM", keylen * 8);
	c = EVP_CIPHER_fetch(NULL, name, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(EVP_EncryptInit_ex2(ctx, c, key, NULL, p), 1);
	ck_assert_int_eq(EVP_EncryptInit_ex2(ctx, NULL, NULL, iv, NULL), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(ctx, NULL, &l, aad, (int)aadlen), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(ctx, out, &l, in, (int)len), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, out + l, &l), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + len), 1);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
}

/* RSA-OAEP (SHA-256, MGF1-SHA-256) by plain OpenSSL, enc 1 encrypts; the output length. */
static size_t ossl_oaep(EVP_PKEY *pk, int enc, const CK_BYTE *in, size_t inlen, CK_BYTE *out, size_t cap)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);

	ck_assert_int_eq(enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()), 1);
	ck_assert_int_eq(enc ? EVP_PKEY_encrypt(c, out, &cap, in, inlen) : EVP_PKEY_decrypt(c, out, &cap, in, inlen),
			 1);
	EVP_PKEY_CTX_free(c);
	return cap;
}

/* An OpenSSL RSA key imported into the module: its public half with CKA_WRAP, or all of it with CKA_UNWRAP. */
static CK_OBJECT_HANDLE rsa_import(EVP_PKEY *pk, bool private)
{
	CK_BYTE buf[8][512];
	CK_ATTRIBUTE t[12] = {{CKA_CLASS, private ? &c_priv : &c_pub, sizeof(CK_OBJECT_CLASS)},
			      {CKA_KEY_TYPE, &k_rsa, sizeof(k_rsa)},
			      {private ? CKA_UNWRAP : CKA_WRAP, &yes, 1}};
	size_t n = private ? 8 : 2;
	CK_OBJECT_HANDLE h = 0;

	ck_assert_int_eq(rsa_parts_attrs(pk, n, t + 3, buf), 0);
	ck_assert_rv(f->C_CreateObject(sess, t, (CK_ULONG)(3 + n), &h), CKR_OK);
	OPENSSL_cleanse(buf, sizeof(buf));
	return h;
}

/* The module's EC or X25519 public key, from its CKA_EC_POINT, as an OpenSSL key. */
static EVP_PKEY *ec_pub(CK_OBJECT_HANDLE pub, const char *group)
{
	CK_BYTE pt[200];
	CK_ULONG l = attr(pub, CKA_EC_POINT, pt, sizeof(pt));
	size_t hdr = pt[1] < 0x80 ? 2 : 2 + (pt[1] & 0x7f), len = pt[1] < 0x80 ? pt[1] : pt[hdr - 1];
	EVP_PKEY *pk = NULL;

	/* a DER OCTET STRING around the point */
	ck_assert_uint_eq(pt[0], 0x04);
	ck_assert_uint_eq(hdr + len, l);
	if (!strcmp(group, "X25519")) {
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pt + hdr, len);
	} else {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
				  OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt + hdr, len),
				  OSSL_PARAM_END};

		ck_assert_int_eq(EVP_PKEY_fromdata_init(c), 1);
		ck_assert_int_eq(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, p), 1);
		EVP_PKEY_CTX_free(c);
	}
	ck_assert_ptr_nonnull(pk);
	return pk;
}

static void gen_rsa(CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_ULONG bits = 2048;
	CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_WRAP, &yes, 1}};
	CK_ATTRIBUTE vt[] = {{CKA_UNWRAP, &yes, 1}};

	ck_assert_rv(f->C_GenerateKeyPair(sess, &m, pt, 2, vt, 1, pub, priv), CKR_OK);
}

/* Wrapping with AES-KW, AES-KWP and CKM_AES_KEY_WRAP_PAD gives OpenSSL's bytes; unwrapping reverses OpenSSL's. */
START_TEST(test_aes_kw_matches_openssl)
{
	static const struct {
		CK_MECHANISM_TYPE mech;
		bool pad;
		size_t keklen, vlen;
		CK_KEY_TYPE kt;
	} c[] = {
		{CKM_AES_KEY_WRAP, false, 16, 16, CKK_AES},    {CKM_AES_KEY_WRAP, false, 24, 24, CKK_AES},
		{CKM_AES_KEY_WRAP, false, 32, 32, CKK_AES},    {CKM_AES_KEY_WRAP_KWP, true, 32, 16, CKK_AES},
		{CKM_AES_KEY_WRAP_KWP, true, 16, 20, CKK_GENERIC_SECRET},
		{CKM_AES_KEY_WRAP_PAD, true, 32, 32, CKK_AES}, {CKM_AES_KEY_WRAP_PAD, true, 24, 20, CKK_GENERIC_SECRET},
	};
	CK_ATTRIBUTE kek_a[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}};
	CK_ATTRIBUTE val_a[] = {{CKA_EXTRACTABLE, &yes, 1}};

	for (size_t i = 0; i < N(c); i++) {
		CK_BYTE kek[32], val[32], val2[32], got[64], want[64], back[64];
		CK_MECHANISM m = {c[i].mech, NULL, 0};
		CK_KEY_TYPE kt = c[i].kt;
		CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
				     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
		CK_OBJECT_HANDLE w, t, u;
		CK_ULONG n;
		int wl;

		fill(kek, sizeof(kek), (unsigned)i);
		fill(val, sizeof(val), (unsigned)i + 100);
		fill(val2, sizeof(val2), (unsigned)i + 200);
		w = secret(CKK_AES, kek, (CK_ULONG)c[i].keklen, kek_a, 2);
		t = secret(c[i].kt, val, (CK_ULONG)c[i].vlen, val_a, 1);
		wl = ossl_kw(c[i].pad, 1, kek, c[i].keklen, val, c[i].vlen, want);
		ck_assert_int_gt(wl, 0);
		/* size query, short buffer, then the bytes */
		n = 0;
		ck_assert_rv(f->C_WrapKey(sess, &m, w, t, NULL, &n), CKR_OK);
		ck_assert_uint_eq(n, (CK_ULONG)wl);
		n = (CK_ULONG)wl - 1;
		ck_assert_rv(f->C_WrapKey(sess, &m, w, t, got, &n), CKR_BUFFER_TOO_SMALL);
		ck_assert_uint_eq(n, (CK_ULONG)wl);
		n = sizeof(got);
		ck_assert_rv(f->C_WrapKey(sess, &m, w, t, got, &n), CKR_OK);
		ck_assert_uint_eq(n, (CK_ULONG)wl);
		ck_assert_mem_eq(got, want, (size_t)wl);
		/* the module unwraps what OpenSSL wrapped */
		wl = ossl_kw(c[i].pad, 1, kek, c[i].keklen, val2, c[i].vlen, want);
		ck_assert_rv(f->C_UnwrapKey(sess, &m, w, want, (CK_ULONG)wl, ut, 4, &u), CKR_OK);
		ck_assert_uint_eq(attr(u, CKA_VALUE, back, sizeof(back)), c[i].vlen);
		ck_assert_mem_eq(back, val2, c[i].vlen);
		/* a changed byte fails the integrity check */
		want[wl / 2] ^= 0x10;
		ck_assert_rv(f->C_UnwrapKey(sess, &m, w, want, (CK_ULONG)wl, ut, 4, &u), CKR_WRAPPED_KEY_INVALID);
		if (!c[i].pad)
			ck_assert_rv(f->C_UnwrapKey(sess, &m, w, got, n - 1, ut, 4, &u), CKR_WRAPPED_KEY_LEN_RANGE);
		/* an unwrapped AES key encrypts like the original value */
		if (c[i].kt == CKK_AES) {
			CK_ATTRIBUTE et[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
					     {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
					     {CKA_ENCRYPT, &yes, 1}};
			CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
			CK_BYTE pt[32], ct[32], ref[32];
			CK_ULONG cl = sizeof(ct);
			char name[32];
			EVP_CIPHER *ci;
			EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
			int ol = 0;

			fill(pt, sizeof(pt), 7);
			ck_assert_rv(f->C_UnwrapKey(sess, &m, w, got, n, et, 3, &u), CKR_OK);
			ck_assert_rv(f->C_EncryptInit(sess, &ecb, u), CKR_OK);
			ck_assert_rv(f->C_Encrypt(sess, pt, sizeof(pt), ct, &cl), CKR_OK);
			ck_assert_uint_eq(cl, 32);
			snprintf(name, sizeof(name), "AES-%zu-ECB", c[i].vlen * 8);
			ci = EVP_CIPHER_fetch(NULL, name, NULL);
			ck_assert_int_eq(EVP_EncryptInit_ex2(ctx, ci, val, NULL, NULL), 1);
			EVP_CIPHER_CTX_set_padding(ctx, 0);
			ck_assert_int_eq(EVP_EncryptUpdate(ctx, ref, &ol, pt, sizeof(pt)), 1);
			ck_assert_mem_eq(ct, ref, 32);
			EVP_CIPHER_CTX_free(ctx);
			EVP_CIPHER_free(ci);
		}
	}
}
END_TEST

/* CKM_AES_GCM as a wrapping mechanism: the wrapped key is GCM's ciphertext and tag of its value. */
START_TEST(test_gcm_wrap)
{
	CK_BYTE kek[32], val[32], iv[12], aad[] = "wrap aad", got[64], want[48], back[32];
	CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, aad, 8, 128};
	CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
	CK_ATTRIBUTE kek_a[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}};
	CK_ATTRIBUTE val_a[] = {{CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
	CK_OBJECT_HANDLE w, t, u;
	CK_ULONG n = 0;

	fill(kek, sizeof(kek), 1);
	fill(val, sizeof(val), 2);
	fill(iv, sizeof(iv), 3);
	w = secret(CKK_AES, kek, 32, kek_a, 2);
	t = secret(CKK_AES, val, 32, val_a, 1);
	ck_assert_rv(f->C_WrapKey(sess, &m, w, t, NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 48);
	n = 47;
	ck_assert_rv(f->C_WrapKey(sess, &m, w, t, got, &n), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(n, 48);
	n = sizeof(got);
	ck_assert_rv(f->C_WrapKey(sess, &m, w, t, got, &n), CKR_OK);
	ck_assert_uint_eq(n, 48);
	ossl_gcm(kek, 32, iv, 12, aad, 8, val, 32, want);
	ck_assert_mem_eq(got, want, 48);
	ck_assert_rv(f->C_UnwrapKey(sess, &m, w, got, n, ut, 4, &u), CKR_OK);
	ck_assert_uint_eq(attr(u, CKA_VALUE, back, sizeof(back)), 32);
	ck_assert_mem_eq(back, val, 32);
	got[47] ^= 1;
	ck_assert_rv(f->C_UnwrapKey(sess, &m, w, got, n, ut, 4, &u), CKR_WRAPPED_KEY_INVALID);
}
END_TEST

/* CKM_RSA_PKCS_OAEP both ways against OpenSSL, and with a key pair from C_GenerateKeyPair. */
START_TEST(test_rsa_oaep_wrap)
{
	CK_MECHANISM m = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)}, kw = {CKM_AES_KEY_WRAP, NULL, 0};
	EVP_PKEY *rk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CK_BYTE val[32], val2[32], got[512], back[512];
	CK_ATTRIBUTE val_a[] = {{CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE kek_a[] = {{CKA_WRAP, &yes, 1}};
	CK_OBJECT_HANDLE opub, opriv, gpub, gpriv, t, u, aes_kek;
	CK_ULONG n = 0;
	size_t l;

	ck_assert_ptr_nonnull(rk);
	fill(val, sizeof(val), 4);
	fill(val2, sizeof(val2), 5);
	opub = rsa_import(rk, false);
	opriv = rsa_import(rk, true);
	t = secret(CKK_AES, val, 32, val_a, 1);
	ck_assert_rv(f->C_WrapKey(sess, &m, opub, t, NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 256);
	n = 255;
	ck_assert_rv(f->C_WrapKey(sess, &m, opub, t, got, &n), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(n, 256);
	ck_assert_rv(f->C_WrapKey(sess, &m, opub, t, got, &n), CKR_OK);
	l = ossl_oaep(rk, 0, got, n, back, sizeof(back));
	ck_assert_uint_eq(l, 32);
	ck_assert_mem_eq(back, val, 32);
	/* OpenSSL's OAEP block unwrapped by the module */
	l = ossl_oaep(rk, 1, val2, 32, got, sizeof(got));
	ck_assert_rv(f->C_UnwrapKey(sess, &m, opriv, got, (CK_ULONG)l, ut, 4, &u), CKR_OK);
	ck_assert_uint_eq(attr(u, CKA_VALUE, back, sizeof(back)), 32);
	ck_assert_mem_eq(back, val2, 32);
	got[100] ^= 1;
	ck_assert_rv(f->C_UnwrapKey(sess, &m, opriv, got, (CK_ULONG)l, ut, 4, &u), CKR_WRAPPED_KEY_INVALID);
	/* a generated pair round trip */
	gen_rsa(&gpub, &gpriv);
	n = sizeof(got);
	ck_assert_rv(f->C_WrapKey(sess, &m, gpub, t, got, &n), CKR_OK);
	ck_assert_uint_eq(n, 256);
	ck_assert_rv(f->C_UnwrapKey(sess, &m, gpriv, got, n, ut, 4, &u), CKR_OK);
	ck_assert_uint_eq(attr(u, CKA_VALUE, back, sizeof(back)), 32);
	ck_assert_mem_eq(back, val, 32);
	/* an AES key is no RSA wrapping key, an RSA key no AES one */
	aes_kek = secret(CKK_AES, val2, 32, kek_a, 1);
	n = sizeof(got);
	ck_assert_rv(f->C_WrapKey(sess, &m, aes_kek, t, got, &n), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
	ck_assert_rv(f->C_WrapKey(sess, &kw, gpub, t, got, &n), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
	EVP_PKEY_free(rk);
}
END_TEST

/* CKM_RSA_AES_KEY_WRAP: OAEP of a fresh AES key, then KWP of the target with it (both ways against OpenSSL). */
START_TEST(test_rsa_aes_wrap)
{
	struct kms_ck_rsa_aes_key_wrap_params rp = {256, &oaep};
	CK_MECHANISM m = {CKM_RSA_AES_KEY_WRAP, &rp, sizeof(rp)};
	EVP_PKEY *rk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CK_BYTE val[24], val2[24], eph[32], got[512], back[512], kwp[64];
	CK_ATTRIBUTE val_a[] = {{CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
	CK_OBJECT_HANDLE opub, opriv, gpub, gpriv, t, u;
	CK_ULONG n = 0;
	size_t l;
	int kl;

	ck_assert_ptr_nonnull(rk);
	fill(val, sizeof(val), 6);
	fill(val2, sizeof(val2), 7);
	fill(eph, sizeof(eph), 8);
	opub = rsa_import(rk, false);
	opriv = rsa_import(rk, true);
	t = secret(CKK_AES, val, 24, val_a, 1);
	/* 256 bytes of OAEP, then KWP of 24 bytes: 32 */
	ck_assert_rv(f->C_WrapKey(sess, &m, opub, t, NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 256 + 32);
	n = 100;
	ck_assert_rv(f->C_WrapKey(sess, &m, opub, t, got, &n), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(n, 256 + 32);
	ck_assert_rv(f->C_WrapKey(sess, &m, opub, t, got, &n), CKR_OK);
	l = ossl_oaep(rk, 0, got, 256, back, sizeof(back));
	ck_assert_uint_eq(l, 32);
	kl = ossl_kw(true, 0, back, 32, got + 256, n - 256, kwp);
	ck_assert_int_eq(kl, 24);
	ck_assert_mem_eq(kwp, val, 24);
	/* OpenSSL's wrapping unwrapped by the module */
	l = ossl_oaep(rk, 1, eph, 32, got, sizeof(got));
	ck_assert_uint_eq(l, 256);
	kl = ossl_kw(true, 1, eph, 32, val2, 24, got + 256);
	ck_assert_int_eq(kl, 32);
	ck_assert_rv(f->C_UnwrapKey(sess, &m, opriv, got, 256 + 32, ut, 4, &u), CKR_OK);
	ck_assert_uint_eq(attr(u, CKA_VALUE, back, sizeof(back)), 24);
	ck_assert_mem_eq(back, val2, 24);
	got[256 + 5] ^= 1;
	ck_assert_rv(f->C_UnwrapKey(sess, &m, opriv, got, 256 + 32, ut, 4, &u), CKR_WRAPPED_KEY_INVALID);
	/* a generated pair round trip */
	gen_rsa(&gpub, &gpriv);
	n = sizeof(got);
	ck_assert_rv(f->C_WrapKey(sess, &m, gpub, t, got, &n), CKR_OK);
	ck_assert_rv(f->C_UnwrapKey(sess, &m, gpriv, got, n, ut, 4, &u), CKR_OK);
	ck_assert_uint_eq(attr(u, CKA_VALUE, back, sizeof(back)), 24);
	ck_assert_mem_eq(back, val, 24);
	EVP_PKEY_free(rk);
}
END_TEST

/* A P-256 private key wrapped (PKCS#8 inside) and unwrapped still signs for the original public key. */
START_TEST(test_wrap_ec_private_key)
{
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}};
	CK_ATTRIBUTE vt[] = {{CKA_EXTRACTABLE, &yes, 1}, {CKA_SIGN, &yes, 1}};
	CK_ATTRIBUTE kek_a[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}};
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_priv, sizeof(c_priv)}, {CKA_KEY_TYPE, &k_ec, sizeof(k_ec)},
			     {CKA_SIGN, &yes, 1}};
	CK_BYTE kek[32], iv[12], aad[] = "aad";
	CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, aad, 3, 128};
	struct kms_ck_rsa_aes_key_wrap_params rp = {128, &oaep};
	CK_MECHANISM mechs[] = {{CKM_AES_KEY_WRAP_KWP, NULL, 0},
				{CKM_AES_KEY_WRAP_PAD, NULL, 0},
				{CKM_AES_GCM, &gp, sizeof(gp)},
				{CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)},
				{CKM_RSA_AES_KEY_WRAP, &rp, sizeof(rp)}};
	CK_OBJECT_HANDLE pub, priv, w, rpub, rpriv;
	EVP_PKEY *opub;

	fill(kek, sizeof(kek), 9);
	fill(iv, sizeof(iv), 10);
	w = secret(CKK_AES, kek, 32, kek_a, 2);
	gen_rsa(&rpub, &rpriv);
	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, vt, 2, &pub, &priv), CKR_OK);
	opub = ec_pub(pub, "P-256");
	for (size_t i = 0; i < N(mechs); i++) {
		bool rsa = mechs[i].mechanism == CKM_RSA_PKCS_OAEP || mechs[i].mechanism == CKM_RSA_AES_KEY_WRAP;
		CK_BYTE out[1024], sig[80], msg[] = "signed after unwrapping";
		CK_ULONG n = 0, need, sl = sizeof(sig);
		CK_OBJECT_HANDLE u;

		ck_assert_rv(f->C_WrapKey(sess, &mechs[i], rsa ? rpub : w, priv, NULL, &n), CKR_OK);
		need = n;
		ck_assert_uint_gt(need, 64);
		ck_assert_uint_le(need, sizeof(out));
		n = need - 1;
		ck_assert_rv(f->C_WrapKey(sess, &mechs[i], rsa ? rpub : w, priv, out, &n), CKR_BUFFER_TOO_SMALL);
		n = sizeof(out);
		ck_assert_rv(f->C_WrapKey(sess, &mechs[i], rsa ? rpub : w, priv, out, &n), CKR_OK);
		ck_assert_uint_eq(n, need);
		ck_assert_rv(f->C_UnwrapKey(sess, &mechs[i], rsa ? rpriv : w, out, n, ut, 3, &u), CKR_OK);
		ck_assert_rv(f->C_SignInit(sess, &ecdsa, u), CKR_OK);
		ck_assert_rv(f->C_Sign(sess, msg, sizeof(msg), sig, &sl), CKR_OK);
		ck_assert_uint_eq(sl, 64);
		ck_assert(ossl_ecdsa_ok(opub, msg, sizeof(msg), sig, sl));
		/* KWP's plaintext is the PKCS#8 of the same key */
		if (mechs[i].mechanism == CKM_AES_KEY_WRAP_KWP) {
			CK_BYTE p8[512];
			int pl = ossl_kw(true, 0, kek, 32, out, n, p8);
			const unsigned char *pp = p8;
			PKCS8_PRIV_KEY_INFO *inf;
			EVP_PKEY *back;

			ck_assert_int_gt(pl, 0);
			inf = d2i_PKCS8_PRIV_KEY_INFO(NULL, &pp, pl);
			ck_assert_ptr_nonnull(inf);
			back = EVP_PKCS82PKEY(inf);
			ck_assert_ptr_nonnull(back);
			ck_assert_int_eq(EVP_PKEY_eq(back, opub), 1);
			EVP_PKEY_free(back);
			PKCS8_PRIV_KEY_INFO_free(inf);
			OPENSSL_cleanse(p8, sizeof(p8));
		}
		/* the template's key type must be the wrapped key's, and a PKCS#8 is no AES key */
		{
			CK_ATTRIBUTE rt[] = {{CKA_CLASS, &c_priv, sizeof(c_priv)}, {CKA_KEY_TYPE, &k_rsa, sizeof(k_rsa)}};
			CK_ATTRIBUTE st[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
					     {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)}};

			ck_assert_rv(f->C_UnwrapKey(sess, &mechs[i], rsa ? rpriv : w, out, n, rt, 2, &u),
				     CKR_TEMPLATE_INCONSISTENT);
			ck_assert_rv(f->C_UnwrapKey(sess, &mechs[i], rsa ? rpriv : w, out, n, st, 2, &u),
				     CKR_WRAPPED_KEY_INVALID);
		}
		out[n - 3] ^= 0x20;
		ck_assert_rv(f->C_UnwrapKey(sess, &mechs[i], rsa ? rpriv : w, out, n, ut, 3, &u),
			     CKR_WRAPPED_KEY_INVALID);
	}
	EVP_PKEY_free(opub);
}
END_TEST

/* The codes of C_WrapKey's refusals. */
START_TEST(test_wrap_rules)
{
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0}, gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_BYTE kek[16], val[16], out[64];
	CK_ULONG n = sizeof(out);
	CK_ATTRIBUTE wrap_on[] = {{CKA_WRAP, &yes, 1}};
	CK_ATTRIBUTE wrap_off[] = {{CKA_WRAP, &no, 1}};
	CK_ATTRIBUTE ex[] = {{CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE unex[] = {{CKA_EXTRACTABLE, &no, 1}};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}};
	CK_ATTRIBUTE vt[] = {{CKA_EXTRACTABLE, &yes, 1}};
	CK_OBJECT_HANDLE w, nowrap, t, stuck, pub, priv;

	fill(kek, sizeof(kek), 11);
	fill(val, sizeof(val), 12);
	w = secret(CKK_AES, kek, 16, wrap_on, 1);
	nowrap = secret(CKK_AES, kek, 16, wrap_off, 1);
	t = secret(CKK_AES, val, 16, ex, 1);
	stuck = secret(CKK_AES, val, 16, unex, 1);
	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, vt, 1, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, t, out, &n), CKR_OK);
	ck_assert_uint_eq(n, 24);
	n = sizeof(out);
	ck_assert_rv(f->C_WrapKey(sess, &kw, nowrap, t, out, &n), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, stuck, out, &n), CKR_KEY_UNEXTRACTABLE);
	ck_assert_rv(f->C_WrapKey(sess, &kw, BAD_HANDLE, t, out, &n), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, BAD_HANDLE, out, &n), CKR_KEY_HANDLE_INVALID);
	ck_assert_rv(f->C_WrapKey(sess, &kw, priv, t, out, &n), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, pub, out, &n), CKR_KEY_NOT_WRAPPABLE);
}
END_TEST

/* CKA_WRAP_WITH_TRUSTED needs a CKA_TRUSTED wrapping key, and only the SO makes one. */
START_TEST(test_wrap_with_trusted)
{
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
	CK_BYTE kek[16], val[16], out[64];
	CK_ULONG n = sizeof(out);
	CK_ATTRIBUTE wrap_on[] = {{CKA_WRAP, &yes, 1}};
	CK_ATTRIBUTE wwt[] = {{CKA_EXTRACTABLE, &yes, 1}, {CKA_WRAP_WITH_TRUSTED, &yes, 1}};
	CK_ATTRIBUTE trusted[] = {{CKA_TRUSTED, &yes, 1}};
	CK_ATTRIBUTE tt[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			     {CKA_VALUE, kek, 16},			    {CKA_WRAP, &yes, 1},
			     {CKA_TRUSTED, &yes, 1}};
	CK_ATTRIBUTE pubt[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			       {CKA_VALUE, kek, 16},			      {CKA_WRAP, &yes, 1},
			       {CKA_TOKEN, &yes, 1},			      {CKA_PRIVATE, &no, 1},
			       {CKA_LABEL, "trusted kek", 11}};
	CK_OBJECT_HANDLE w, needs, tk, h;
	CK_SESSION_HANDLE so;

	fill(kek, sizeof(kek), 13);
	fill(val, sizeof(val), 14);
	w = secret(CKK_AES, kek, 16, wrap_on, 1);
	needs = secret(CKK_AES, val, 16, wwt, 2);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, needs, out, &n), CKR_KEY_NOT_WRAPPABLE);
	/* a user never sets CKA_TRUSTED */
	ck_assert_rv(f->C_CreateObject(sess, tt, N(tt), &h), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_rv(f->C_CreateObject(sess, pubt, N(pubt), &tk), CKR_OK);
	ck_assert_rv(f->C_SetAttributeValue(sess, tk, trusted, 1), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_int_eq(attr_bool(tk, CKA_TRUSTED), CK_FALSE);
	ck_assert_rv(f->C_WrapKey(sess, &kw, tk, needs, out, &n), CKR_KEY_NOT_WRAPPABLE);
	/* the SO marks the public token key trusted */
	ck_assert_rv(f->C_Logout(sess), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &so), CKR_OK);
	ck_assert_rv(f->C_Login(so, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_OK);
	ck_assert_rv(f->C_SetAttributeValue(so, tk, trusted, 1), CKR_OK);
	ck_assert_rv(f->C_Logout(so), CKR_OK);
	ck_assert_rv(f->C_CloseSession(so), CKR_OK);
	ck_assert_rv(f->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	ck_assert_int_eq(attr_bool(tk, CKA_TRUSTED), CK_TRUE);
	/* logging out ended the private session keys (test_logout_ends_private_session_keys): make them again */
	needs = secret(CKK_AES, val, 16, wwt, 2);
	w = secret(CKK_AES, kek, 16, wrap_on, 1);
	n = sizeof(out);
	ck_assert_rv(f->C_WrapKey(sess, &kw, tk, needs, out, &n), CKR_OK);
	ck_assert_uint_eq(n, 24);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, needs, out, &n), CKR_KEY_NOT_WRAPPABLE);
}
END_TEST

/* C_Logout destroys the private session objects; public ones and token objects stay. */
START_TEST(test_logout_ends_private_session_keys)
{
	CK_BYTE v[16];
	CK_ATTRIBUTE priv_a[] = {{CKA_PRIVATE, &yes, 1}};
	CK_ATTRIBUTE pub_a[] = {{CKA_PRIVATE, &no, 1}};
	CK_ATTRIBUTE q = {CKA_KEY_TYPE, NULL, 0};
	CK_OBJECT_HANDLE p, o;

	fill(v, sizeof(v), 21);
	p = secret(CKK_AES, v, 16, priv_a, 1);
	o = secret(CKK_AES, v, 16, pub_a, 1);
	ck_assert_rv(f->C_Logout(sess), CKR_OK);
	ck_assert_rv(f->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(sess, o, &q, 1), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(sess, p, &q, 1), CKR_OBJECT_HANDLE_INVALID);
}
END_TEST

/* A CKA_ALWAYS_AUTHENTICATE key signs only after C_Login(CKU_CONTEXT_SPECIFIC) for that very operation. */
START_TEST(test_context_specific_login)
{
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
	CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}, {CKA_VERIFY, &yes, 1}};
	CK_ATTRIBUTE priv[] = {{CKA_SIGN, &yes, 1}, {CKA_ALWAYS_AUTHENTICATE, &yes, 1}};
	CK_OBJECT_HANDLE hp, hk;
	CK_BYTE sig[128];
	CK_ULONG n = sizeof(sig);
	CK_BBOOL aa = CK_FALSE;
	CK_ATTRIBUTE q = {CKA_ALWAYS_AUTHENTICATE, &aa, 1};

	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pub, 2, priv, 2, &hp, &hk), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(sess, hk, &q, 1), CKR_OK);
	ck_assert_int_eq(aa, CK_TRUE);
	/* nothing waits for a context-specific login yet */
	ck_assert_rv(f->C_Login(sess, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f->C_SignInit(sess, &ecdsa, hk), CKR_OK);
	ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "m", 1, sig, &n), CKR_USER_NOT_LOGGED_IN);
	ck_assert_rv(f->C_SignUpdate(sess, (CK_BYTE_PTR) "m", 1), CKR_USER_NOT_LOGGED_IN);
	ck_assert_rv(f->C_Login(sess, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR) "0000", 4), CKR_PIN_INCORRECT);
	ck_assert_rv(f->C_Login(sess, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	n = sizeof(sig);
	ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "m", 1, sig, &n), CKR_OK);
	ck_assert_rv(f->C_VerifyInit(sess, &ecdsa, hp), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, (CK_BYTE_PTR) "m", 1, sig, n), CKR_OK);
	/* the next operation needs its own */
	ck_assert_rv(f->C_SignInit(sess, &ecdsa, hk), CKR_OK);
	n = sizeof(sig);
	ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "m", 1, sig, &n), CKR_USER_NOT_LOGGED_IN);
	ck_assert_rv(f->C_Login(sess, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	ck_assert_rv(f->C_SignUpdate(sess, (CK_BYTE_PTR) "m", 1), CKR_OK);
	n = sizeof(sig);
	ck_assert_rv(f->C_SignFinal(sess, sig, &n), CKR_OK);
	/* the failed PIN was counted, and the right one cleared the count */
	{
		CK_TOKEN_INFO ti;

		ck_assert_rv(f->C_GetTokenInfo(0, &ti), CKR_OK);
		ck_assert(!(ti.flags & CKF_USER_PIN_COUNT_LOW));
	}
}
END_TEST

/* CKA_ALLOWED_MECHANISMS of a key that never had it reads as an empty list (every mechanism allowed), not
 * CKR_ATTRIBUTE_TYPE_INVALID; a key that has it reads it back; a data object has none. */
START_TEST(test_allowed_mechanisms_default_empty)
{
	CK_BYTE v[16];
	CK_MECHANISM_TYPE only[] = {CKM_AES_CBC_PAD}, back[4];
	CK_ATTRIBUTE with[] = {{CKA_ALLOWED_MECHANISMS, only, sizeof(only)}};
	CK_ATTRIBUTE q = {CKA_ALLOWED_MECHANISMS, NULL, 99};
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &data, sizeof(data)}, {CKA_VALUE, "x", 1}};
	CK_OBJECT_HANDLE plain, limited, d;

	fill(v, sizeof(v), 5);
	plain = secret(CKK_AES, v, 16, NULL, 0);
	limited = secret(CKK_AES, v, 16, with, 1);
	ck_assert_rv(f->C_GetAttributeValue(sess, plain, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, 0);
	q.pValue = back;
	q.ulValueLen = sizeof(back);
	ck_assert_rv(f->C_GetAttributeValue(sess, plain, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, 0);
	q.ulValueLen = sizeof(back);
	ck_assert_rv(f->C_GetAttributeValue(sess, limited, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, sizeof(only));
	ck_assert_uint_eq(back[0], CKM_AES_CBC_PAD);
	ck_assert_rv(f->C_CreateObject(sess, dt, 2, &d), CKR_OK);
	q.ulValueLen = sizeof(back);
	ck_assert_rv(f->C_GetAttributeValue(sess, d, &q, 1), CKR_ATTRIBUTE_TYPE_INVALID);
}
END_TEST

/* CKA_WRAP_TEMPLATE limits what a key wraps and reads back as an attribute array. */
START_TEST(test_wrap_template)
{
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
	CK_BYTE kek[16], val[16], out[64];
	CK_ULONG n = sizeof(out);
	CK_ATTRIBUTE only_aes[] = {{CKA_KEY_TYPE, &k_aes, sizeof(k_aes)}, {CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE with_tmpl[] = {{CKA_WRAP, &yes, 1}, {CKA_WRAP_TEMPLATE, only_aes, sizeof(only_aes)}};
	CK_ATTRIBUTE ex[] = {{CKA_EXTRACTABLE, &yes, 1}};
	CK_OBJECT_HANDLE tw, aes, gen;
	CK_ATTRIBUTE q = {CKA_WRAP_TEMPLATE, NULL, 0};
	CK_ATTRIBUTE back[2];
	CK_KEY_TYPE kt = 0;
	CK_BBOOL b = 0;

	fill(kek, sizeof(kek), 15);
	fill(val, sizeof(val), 16);
	tw = secret(CKK_AES, kek, 16, with_tmpl, 2);
	aes = secret(CKK_AES, val, 16, ex, 1);
	gen = secret(CKK_GENERIC_SECRET, val, 16, ex, 1);
	ck_assert_rv(f->C_WrapKey(sess, &kw, tw, aes, out, &n), CKR_OK);
	n = sizeof(out);
	ck_assert_rv(f->C_WrapKey(sess, &kw, tw, gen, out, &n), CKR_KEY_NOT_WRAPPABLE);
	/* length of the array, then each element's length, then the values */
	ck_assert_rv(f->C_GetAttributeValue(sess, tw, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, 2 * sizeof(CK_ATTRIBUTE));
	memset(back, 0, sizeof(back));
	q.pValue = back;
	q.ulValueLen = sizeof(CK_ATTRIBUTE);
	ck_assert_rv(f->C_GetAttributeValue(sess, tw, &q, 1), CKR_BUFFER_TOO_SMALL);
	q.ulValueLen = sizeof(back);
	ck_assert_rv(f->C_GetAttributeValue(sess, tw, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, 2 * sizeof(CK_ATTRIBUTE));
	for (int i = 0; i < 2; i++) {
		ck_assert(back[i].type == CKA_KEY_TYPE || back[i].type == CKA_EXTRACTABLE);
		ck_assert_uint_eq(back[i].ulValueLen, back[i].type == CKA_KEY_TYPE ? sizeof(CK_KEY_TYPE) : 1);
		back[i].pValue = back[i].type == CKA_KEY_TYPE ? (void *)&kt : (void *)&b;
	}
	ck_assert_uint_ne(back[0].type, back[1].type);
	ck_assert_rv(f->C_GetAttributeValue(sess, tw, &q, 1), CKR_OK);
	ck_assert_uint_eq(kt, CKK_AES);
	ck_assert_uint_eq(b, CK_TRUE);
}
END_TEST

/* C_UnwrapKey's rules: the unwrapping key's template, the key's origin attributes, the codes of its refusals. */
START_TEST(test_unwrap_rules)
{
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
	CK_BYTE kek[32], val[32], out[64], buf[64];
	CK_ULONG n = sizeof(out);
	CK_ATTRIBUTE sens[] = {{CKA_SENSITIVE, &yes, 1}};
	CK_ATTRIBUTE kek_a[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}, {CKA_UNWRAP_TEMPLATE, sens, sizeof(sens)}};
	CK_ATTRIBUTE plain_a[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}};
	CK_ATTRIBUTE wrap_only[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &no, 1}};
	CK_ATTRIBUTE ex[] = {{CKA_EXTRACTABLE, &yes, 1}, {CKA_SENSITIVE, &no, 1}};
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			     {CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE contra[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
				 {CKA_SENSITIVE, &no, 1}};
	CK_ATTRIBUTE noclass[] = {{CKA_KEY_TYPE, &k_aes, sizeof(k_aes)}, {CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE locked[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
				 {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1}};
	CK_ATTRIBUTE open[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			       {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
	CK_OBJECT_HANDLE w, pw, wo, t, u;
	CK_ATTRIBUTE vq = {CKA_VALUE, buf, sizeof(buf)};

	fill(kek, sizeof(kek), 17);
	fill(val, sizeof(val), 18);
	w = secret(CKK_AES, kek, 32, kek_a, 3);
	pw = secret(CKK_AES, kek, 32, plain_a, 2);
	wo = secret(CKK_AES, kek, 32, wrap_only, 2);
	t = secret(CKK_AES, val, 32, ex, 2);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, t, out, &n), CKR_OK);
	ck_assert_uint_eq(n, 40);
	/* CKA_UNWRAP_TEMPLATE {CKA_SENSITIVE true} is applied */
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, w, out, n, ut, N(ut), &u), CKR_OK);
	ck_assert_int_eq(attr_bool(u, CKA_SENSITIVE), CK_TRUE);
	ck_assert_int_eq(attr_bool(u, CKA_LOCAL), CK_FALSE);
	ck_assert_int_eq(attr_bool(u, CKA_ALWAYS_SENSITIVE), CK_FALSE);
	ck_assert_int_eq(attr_bool(u, CKA_NEVER_EXTRACTABLE), CK_FALSE);
	ck_assert_rv(f->C_GetAttributeValue(sess, u, &vq, 1), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_uint_eq(vq.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, w, out, n, contra, N(contra), &u), CKR_TEMPLATE_INCONSISTENT);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, w, out, n, noclass, N(noclass), &u), CKR_TEMPLATE_INCOMPLETE);
	/* sensitive and unextractable from the start still does not make it "always" or "never" */
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, pw, out, n, locked, N(locked), &u), CKR_OK);
	ck_assert_int_eq(attr_bool(u, CKA_ALWAYS_SENSITIVE), CK_FALSE);
	ck_assert_int_eq(attr_bool(u, CKA_NEVER_EXTRACTABLE), CK_FALSE);
	ck_assert_int_eq(attr_bool(u, CKA_LOCAL), CK_FALSE);
	/* without a template on the unwrapping key the value reads back */
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, pw, out, n, open, N(open), &u), CKR_OK);
	ck_assert_uint_eq(attr(u, CKA_VALUE, buf, sizeof(buf)), 32);
	ck_assert_mem_eq(buf, val, 32);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, wo, out, n, ut, N(ut), &u), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, BAD_HANDLE, out, n, ut, N(ut), &u), CKR_UNWRAPPING_KEY_HANDLE_INVALID);
	out[5] ^= 0x01;
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, pw, out, n, open, N(open), &u), CKR_WRAPPED_KEY_INVALID);
}
END_TEST

/* The shared secret OpenSSL computes from its own peer and the module's public key; the peer's public data. */
static size_t ossl_ecdh(const char *group, CK_OBJECT_HANDLE pub, CK_BYTE *z, CK_BYTE *peer_pt, size_t *peer_len)
{
	bool x = !strcmp(group, "X25519");
	EVP_PKEY *peer = x ? EVP_PKEY_Q_keygen(NULL, NULL, "X25519") : EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	EVP_PKEY *mine = ec_pub(pub, group);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);
	size_t zlen = 80;

	ck_assert_ptr_nonnull(peer);
	if (x)
		ck_assert_int_eq(EVP_PKEY_get_raw_public_key(peer, peer_pt, peer_len), 1);
	else
		ck_assert_int_eq(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, peer_pt,
								 *peer_len, peer_len),
				 1);
	ck_assert_int_eq(EVP_PKEY_derive_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_derive_set_peer(c, mine), 1);
	ck_assert_int_eq(EVP_PKEY_derive(c, z, &zlen), 1);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(mine);
	return zlen;
}

/* ANSI X9.63 KDF with SHA-256 by OpenSSL. */
static void ossl_x963(const CK_BYTE *z, size_t zlen, const CK_BYTE *info, size_t ilen, CK_BYTE *out, size_t len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
			  OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen),
			  OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, ilen), OSSL_PARAM_END};

	ck_assert_ptr_nonnull(kc);
	ck_assert_int_eq(EVP_KDF_derive(kc, out, len, p), 1);
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
}

START_TEST(test_ecdh_derive)
{
	static const struct {
		CK_MECHANISM_TYPE gen;
		CK_BYTE *oid;
		size_t oidlen, zlen;
		const char *group;
	} c[] = {
		{CKM_EC_KEY_PAIR_GEN, oid_p256, sizeof(oid_p256), 32, "P-256"},
		{CKM_EC_KEY_PAIR_GEN, oid_p384, sizeof(oid_p384), 48, "P-384"},
		{CKM_EC_KEY_PAIR_GEN, oid_p521, sizeof(oid_p521), 66, "P-521"},
		{CKM_EC_MONTGOMERY_KEY_PAIR_GEN, oid_x25519, sizeof(oid_x25519), 32, "X25519"},
	};
	CK_ULONG len48 = 48;
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_gen, sizeof(k_gen)},
			     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1},
			     {CKA_VALUE_LEN, &len48, sizeof(len48)}};

	for (size_t i = 0; i < N(c); i++) {
		CK_MECHANISM gen = {c[i].gen, NULL, 0};
		CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, c[i].oid, c[i].oidlen}};
		CK_ATTRIBUTE vt[] = {{CKA_DERIVE, &yes, 1}};
		CK_ATTRIBUTE nvt[] = {{CKA_DERIVE, &no, 1}};
		CK_BYTE z[80], got[80], peer[160], want[48], info[] = "kms11 shared info";
		size_t zlen, plen = sizeof(peer);
		CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, 0, peer};
		CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof(p)};
		CK_OBJECT_HANDLE pub, priv, d, npub, npriv;

		ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, vt, 1, &pub, &priv), CKR_OK);
		zlen = ossl_ecdh(c[i].group, pub, z, peer, &plen);
		ck_assert_uint_eq(zlen, c[i].zlen);
		p.ulPublicDataLen = (CK_ULONG)plen;
		/* CKD_NULL: the raw shared secret */
		ck_assert_rv(f->C_DeriveKey(sess, &m, priv, dt, 4, &d), CKR_OK);
		ck_assert_uint_eq(attr(d, CKA_VALUE, got, sizeof(got)), zlen);
		ck_assert_mem_eq(got, z, zlen);
		ck_assert_int_eq(attr_bool(d, CKA_LOCAL), CK_FALSE);
		/* CKD_SHA256_KDF with shared data: X9.63, two blocks for 48 bytes */
		p.kdf = CKD_SHA256_KDF;
		p.pSharedData = info;
		p.ulSharedDataLen = sizeof(info) - 1;
		ck_assert_rv(f->C_DeriveKey(sess, &m, priv, dt, 5, &d), CKR_OK);
		ck_assert_uint_eq(attr(d, CKA_VALUE, got, sizeof(got)), 48);
		ossl_x963(z, zlen, info, sizeof(info) - 1, want, 48);
		ck_assert_mem_eq(got, want, 48);
		/* CKD_NULL takes no shared data; a point off the curve is no public data */
		p.kdf = CKD_NULL;
		ck_assert_rv(f->C_DeriveKey(sess, &m, priv, dt, 4, &d), CKR_MECHANISM_PARAM_INVALID);
		p.pSharedData = NULL;
		p.ulSharedDataLen = 0;
		if (c[i].gen == CKM_EC_KEY_PAIR_GEN) {
			peer[plen - 1] ^= 1;
			ck_assert_rv(f->C_DeriveKey(sess, &m, priv, dt, 4, &d), CKR_MECHANISM_PARAM_INVALID);
			peer[plen - 1] ^= 1;
		}
		/* a base key without CKA_DERIVE */
		ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, nvt, 1, &npub, &npriv), CKR_OK);
		ck_assert_rv(f->C_DeriveKey(sess, &m, npriv, dt, 5, &d), CKR_KEY_FUNCTION_NOT_PERMITTED);
	}
}
END_TEST

/* CKA_DERIVE_TEMPLATE of the base key applies to what is derived from it. */
START_TEST(test_derive_template)
{
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE sens[] = {{CKA_SENSITIVE, &yes, 1}};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}};
	CK_ATTRIBUTE vt[] = {{CKA_DERIVE, &yes, 1}, {CKA_DERIVE_TEMPLATE, sens, sizeof(sens)}};
	CK_ATTRIBUTE plain[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_gen, sizeof(k_gen)}};
	CK_ATTRIBUTE contra[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_gen, sizeof(k_gen)},
				 {CKA_SENSITIVE, &no, 1}};
	CK_BYTE z[80], peer[160], buf[80];
	size_t plen = sizeof(peer);
	CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, 0, peer};
	CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof(p)};
	CK_ATTRIBUTE vq = {CKA_VALUE, buf, sizeof(buf)};
	CK_OBJECT_HANDLE pub, priv, d;

	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, vt, 2, &pub, &priv), CKR_OK);
	ossl_ecdh("P-256", pub, z, peer, &plen);
	p.ulPublicDataLen = (CK_ULONG)plen;
	ck_assert_rv(f->C_DeriveKey(sess, &m, priv, plain, N(plain), &d), CKR_OK);
	ck_assert_int_eq(attr_bool(d, CKA_SENSITIVE), CK_TRUE);
	ck_assert_rv(f->C_GetAttributeValue(sess, d, &vq, 1), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_rv(f->C_DeriveKey(sess, &m, priv, contra, N(contra), &d), CKR_TEMPLATE_INCONSISTENT);
}
END_TEST

/* A DER X.509 certificate for pk, signed by signer; its length. */
static size_t make_cert(EVP_PKEY *pk, EVP_PKEY *signer, const char *cn, long serial, CK_BYTE *der, size_t cap)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	unsigned char *p = der;
	int n;

	ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
	ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	ck_assert_int_eq(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
	ck_assert_int_eq(X509_set_subject_name(x, nm), 1);
	ck_assert_int_eq(X509_set_issuer_name(x, nm), 1);
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30));
	ck_assert_int_eq(X509_set_pubkey(x, pk), 1);
	ck_assert_int_gt(X509_sign(x, signer, EVP_sha256()), 0);
	n = i2d_X509(x, NULL);
	ck_assert_int_gt(n, 0);
	ck_assert_int_le(n, (int)cap);
	ck_assert_int_eq(i2d_X509(x, &p), n);
	X509_NAME_free(nm);
	X509_free(x);
	return (size_t)n;
}

static CK_OBJECT_CLASS c_cert = CKO_CERTIFICATE;
static CK_CERTIFICATE_TYPE ct_x509 = CKC_X_509;

/* The attributes the module takes from the DER equal OpenSSL's view of it. */
START_TEST(test_certificate_attributes)
{
	CK_BYTE der[2048], buf[512], *p;
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	size_t n = make_cert(pk, pk, "kms11 cert test", 0x1234567, der, sizeof(der));
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &c_cert, sizeof(c_cert)}, {CKA_CERTIFICATE_TYPE, &ct_x509, sizeof(ct_x509)},
			    {CKA_VALUE, der, (CK_ULONG)n}, {CKA_TOKEN, &yes, 1}, {CKA_LABEL, "cert", 4}};
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)n);
	CK_OBJECT_HANDLE h;
	unsigned char ref[512], md[SHA_DIGEST_LENGTH];
	int rl;

	ck_assert_ptr_nonnull(x);
	ck_assert_rv(f->C_CreateObject(sess, t, N(t), &h), CKR_OK);
	p = ref;
	rl = i2d_X509_NAME(X509_get_subject_name(x), &p);
	ck_assert_uint_eq(attr(h, CKA_SUBJECT, buf, sizeof(buf)), (CK_ULONG)rl);
	ck_assert_mem_eq(buf, ref, (size_t)rl);
	p = ref;
	rl = i2d_X509_NAME(X509_get_issuer_name(x), &p);
	ck_assert_uint_eq(attr(h, CKA_ISSUER, buf, sizeof(buf)), (CK_ULONG)rl);
	ck_assert_mem_eq(buf, ref, (size_t)rl);
	p = ref;
	rl = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &p);
	ck_assert_uint_eq(attr(h, CKA_SERIAL_NUMBER, buf, sizeof(buf)), (CK_ULONG)rl);
	ck_assert_mem_eq(buf, ref, (size_t)rl);
	p = ref;
	rl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &p);
	ck_assert_uint_eq(attr(h, CKA_PUBLIC_KEY_INFO, buf, sizeof(buf)), (CK_ULONG)rl);
	ck_assert_mem_eq(buf, ref, (size_t)rl);
	/* CKA_CHECK_VALUE: the first three bytes of SHA-1 of CKA_VALUE */
	SHA1(der, n, md);
	ck_assert_uint_eq(attr(h, CKA_CHECK_VALUE, buf, sizeof(buf)), 3);
	ck_assert_mem_eq(buf, md, 3);
	/* the key hashes: SHA-1 of the subject public key bits; self-signed, so the issuer's is the same */
	{
		const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);

		SHA1(bits->data, (size_t)bits->length, md);
		ck_assert_uint_eq(attr(h, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, buf, sizeof(buf)), SHA_DIGEST_LENGTH);
		ck_assert_mem_eq(buf, md, SHA_DIGEST_LENGTH);
		ck_assert_uint_eq(attr(h, CKA_HASH_OF_ISSUER_PUBLIC_KEY, buf, sizeof(buf)), SHA_DIGEST_LENGTH);
		ck_assert_mem_eq(buf, md, SHA_DIGEST_LENGTH);
	}
	ck_assert_uint_eq(attr(h, CKA_VALUE, buf, sizeof(buf)), n);
	ck_assert_mem_eq(buf, der, n);
	X509_free(x);
	EVP_PKEY_free(pk);
}
END_TEST

START_TEST(test_certificate_rules)
{
	CK_BYTE der[2048], wrong[] = {0x30, 0x0b, 0x31, 0x09, 0x30, 0x07, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x00};
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	size_t n = make_cert(pk, pk, "kms11 rules", 99, der, sizeof(der));
	CK_ULONG cat5 = 5, cat2 = 2;
	CK_ATTRIBUTE base[] = {{CKA_CLASS, &c_cert, sizeof(c_cert)},
			       {CKA_CERTIFICATE_TYPE, &ct_x509, sizeof(ct_x509)},
			       {CKA_VALUE, der, (CK_ULONG)n},
			       {0, NULL, 0}};
	CK_OBJECT_HANDLE h;

	base[3] = (CK_ATTRIBUTE){CKA_SUBJECT, wrong, sizeof(wrong)};
	ck_assert_rv(f->C_CreateObject(sess, base, 4, &h), CKR_TEMPLATE_INCONSISTENT);
	base[3] = (CK_ATTRIBUTE){CKA_TRUSTED, &yes, 1};
	ck_assert_rv(f->C_CreateObject(sess, base, 4, &h), CKR_ATTRIBUTE_READ_ONLY);
	base[3] = (CK_ATTRIBUTE){CKA_CERTIFICATE_CATEGORY, &cat5, sizeof(cat5)};
	ck_assert_rv(f->C_CreateObject(sess, base, 4, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	/* a truncated DER, and no DER at all */
	base[2].ulValueLen = (CK_ULONG)n - 1;
	ck_assert_rv(f->C_CreateObject(sess, base, 3, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_rv(f->C_CreateObject(sess, base, 2, &h), CKR_TEMPLATE_INCOMPLETE);
	base[2].ulValueLen = (CK_ULONG)n;
	base[3] = (CK_ATTRIBUTE){CKA_CERTIFICATE_CATEGORY, &cat2, sizeof(cat2)};
	ck_assert_rv(f->C_CreateObject(sess, base, 4, &h), CKR_OK);
	ck_assert_rv(f->C_SetAttributeValue(sess, h, (CK_ATTRIBUTE[]){{CKA_TRUSTED, &yes, 1}}, 1),
		     CKR_ATTRIBUTE_READ_ONLY);
	EVP_PKEY_free(pk);
}
END_TEST

/* The SHA-256 of the DER SubjectPublicKeyInfo of pk. */
static void spki_sha256(EVP_PKEY *pk, CK_BYTE md[32])
{
	unsigned char *der = NULL;
	int l = i2d_PUBKEY(pk, &der);

	ck_assert_int_gt(l, 0);
	SHA256(der, (size_t)l, md);
	OPENSSL_free(der);
}

/* A certificate imported without CKA_ID takes the CKA_ID of its key pair: both are SHA-256 of the SPKI. */
/* A certificate and both halves of its key pair carry CKA_ID want (32 bytes). */
static void assert_shared_id(CK_OBJECT_HANDLE cert, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub, const CK_BYTE *want)
{
	const CK_OBJECT_HANDLE hs[] = {cert, priv, pub};
	CK_BYTE id[64];

	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(attr(hs[i], CKA_ID, id, sizeof(id)), 32);
		ck_assert_mem_eq(id, want, 32);
	}
}

START_TEST(test_certificate_id)
{
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}};
	CK_BYTE der[2048], spki[256], got[256], want[32], *p;
	CK_OBJECT_HANDLE pub, priv, cert;
	EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *theirs;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &c_cert, sizeof(c_cert)}, {CKA_CERTIFICATE_TYPE, &ct_x509, sizeof(ct_x509)},
			    {CKA_VALUE, der, 0}};
	size_t n;
	int sl;

	/* a generated pair */
	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, NULL, 0, &pub, &priv), CKR_OK);
	theirs = ec_pub(pub, "P-256");
	p = spki;
	sl = i2d_PUBKEY(theirs, &p);
	ck_assert_uint_eq(attr(pub, CKA_PUBLIC_KEY_INFO, got, sizeof(got)), (CK_ULONG)sl);
	ck_assert_mem_eq(got, spki, (size_t)sl);
	spki_sha256(theirs, want);
	n = make_cert(theirs, ca, "module key", 7, der, sizeof(der));
	t[2].ulValueLen = (CK_ULONG)n;
	ck_assert_rv(f->C_CreateObject(sess, t, N(t), &cert), CKR_OK);
	assert_shared_id(cert, priv, pub, want);
	EVP_PKEY_free(theirs);
	/* a pair made with C_CreateObject from OpenSSL's key */
	{
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		BIGNUM *d = NULL;
		CK_BYTE dv[32], pt65[65], ecpt[67];
		size_t pl = 0;
		CK_ATTRIBUTE vt[] = {{CKA_CLASS, &c_priv, sizeof(c_priv)}, {CKA_KEY_TYPE, &k_ec, sizeof(k_ec)},
				     {CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}, {CKA_VALUE, dv, 32}};
		CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_pub, sizeof(c_pub)}, {CKA_KEY_TYPE, &k_ec, sizeof(k_ec)},
				     {CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}, {CKA_EC_POINT, ecpt, 67}};

		ck_assert_int_eq(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
		ck_assert_int_eq(BN_bn2binpad(d, dv, 32), 32);
		BN_clear_free(d);
		ck_assert_int_eq(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt65,
								 sizeof(pt65), &pl),
				 1);
		ck_assert_uint_eq(pl, 65);
		ecpt[0] = 0x04;
		ecpt[1] = 65;
		memcpy(ecpt + 2, pt65, 65);
		ck_assert_rv(f->C_CreateObject(sess, vt, N(vt), &priv), CKR_OK);
		ck_assert_rv(f->C_CreateObject(sess, ut, N(ut), &pub), CKR_OK);
		OPENSSL_cleanse(dv, sizeof(dv));
		spki_sha256(k, want);
		n = make_cert(k, ca, "imported key", 8, der, sizeof(der));
		t[2].ulValueLen = (CK_ULONG)n;
		ck_assert_rv(f->C_CreateObject(sess, t, N(t), &cert), CKR_OK);
		assert_shared_id(cert, priv, pub, want);
		EVP_PKEY_free(k);
	}
	EVP_PKEY_free(ca);
}
END_TEST

START_TEST(test_data_object)
{
	CK_OBJECT_CLASS dc = CKO_DATA;
	CK_BYTE oid[] = {0x06, 0x05, 0x2b, 0x06, 0x01, 0x04, 0x01}, buf[64];
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &dc, sizeof(dc)},	 {CKA_TOKEN, &yes, 1},
			     {CKA_APPLICATION, "kms11-app", 9}, {CKA_OBJECT_ID, oid, sizeof(oid)},
			     {CKA_VALUE, "payload bytes", 13},	 {CKA_LABEL, "data", 4}};
	CK_ATTRIBUTE other[] = {{CKA_CLASS, &dc, sizeof(dc)},
				{CKA_APPLICATION, "other-app", 9},
				{CKA_VALUE, "x", 1}};
	CK_ATTRIBUTE find[] = {{CKA_CLASS, &dc, sizeof(dc)}, {CKA_APPLICATION, "kms11-app", 9}};
	CK_OBJECT_HANDLE d, o, found[4];
	CK_ULONG cnt = 0;

	ck_assert_rv(f->C_CreateObject(sess, dt, N(dt), &d), CKR_OK);
	ck_assert_rv(f->C_CreateObject(sess, other, N(other), &o), CKR_OK);
	ck_assert_rv(f->C_FindObjectsInit(sess, find, N(find)), CKR_OK);
	ck_assert_rv(f->C_FindObjects(sess, found, 4, &cnt), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(sess), CKR_OK);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_uint_eq(found[0], d);
	ck_assert_uint_eq(attr(d, CKA_APPLICATION, buf, sizeof(buf)), 9);
	ck_assert_mem_eq(buf, "kms11-app", 9);
	ck_assert_uint_eq(attr(d, CKA_OBJECT_ID, buf, sizeof(buf)), sizeof(oid));
	ck_assert_mem_eq(buf, oid, sizeof(oid));
	ck_assert_uint_eq(attr(d, CKA_VALUE, buf, sizeof(buf)), 13);
	ck_assert_mem_eq(buf, "payload bytes", 13);
}
END_TEST

/* One object's CKA_UNIQUE_ID in session s. */
static CK_ULONG unique_id(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_BYTE *buf, CK_ULONG cap)
{
	CK_ATTRIBUTE q = {CKA_UNIQUE_ID, buf, cap};

	ck_assert_rv(f->C_GetAttributeValue(s, h, &q, 1), CKR_OK);
	ck_assert_uint_gt(q.ulValueLen, 0);
	return q.ulValueLen;
}

START_TEST(test_unique_id)
{
	CK_BYTE v[16], u1[64], u2[64], u3[64], u4[64];
	CK_ATTRIBUTE tok[] = {{CKA_TOKEN, &yes, 1}, {CKA_LABEL, "uid", 3}};
	CK_ATTRIBUTE uid[] = {{CKA_UNIQUE_ID, "abc", 3}};
	CK_ATTRIBUTE ct[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			     {CKA_VALUE, v, 16}, {CKA_UNIQUE_ID, "abc", 3}};
	CK_ULONG len16 = 16;
	CK_ATTRIBUTE gt[] = {{CKA_VALUE_LEN, &len16, sizeof(len16)}, {CKA_UNIQUE_ID, "abc", 3}};
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_OBJECT_HANDLE a, b, cp, h;
	CK_ULONG l1, l2, l3, l4, cnt = 0;
	CK_SESSION_HANDLE s2;

	fill(v, sizeof(v), 19);
	a = secret(CKK_AES, v, 16, NULL, 0);
	b = secret(CKK_AES, v, 16, tok, 2);
	l1 = unique_id(sess, a, u1, sizeof(u1));
	l2 = unique_id(sess, b, u2, sizeof(u2));
	ck_assert(l1 != l2 || memcmp(u1, u2, l1) != 0);
	/* read-only everywhere a template could set it */
	ck_assert_rv(f->C_CreateObject(sess, ct, N(ct), &h), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_rv(f->C_GenerateKey(sess, &gen, gt, N(gt), &h), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_rv(f->C_CopyObject(sess, a, uid, 1, &cp), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_rv(f->C_SetAttributeValue(sess, a, uid, 1), CKR_ATTRIBUTE_READ_ONLY);
	/* a copy gets its own */
	ck_assert_rv(f->C_CopyObject(sess, a, NULL, 0, &cp), CKR_OK);
	l3 = unique_id(sess, cp, u3, sizeof(u3));
	ck_assert(l3 != l1 || memcmp(u3, u1, l1) != 0);
	ck_assert(l3 != l2 || memcmp(u3, u2, l2) != 0);
	/* the token object's stays the same in another session and after the module restarts */
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
	l4 = unique_id(s2, b, u4, sizeof(u4));
	ck_assert_uint_eq(l4, l2);
	ck_assert_mem_eq(u4, u2, l2);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	sess = user_session();
	ck_assert_rv(f->C_FindObjectsInit(sess, tok + 1, 1), CKR_OK);
	ck_assert_rv(f->C_FindObjects(sess, &b, 1, &cnt), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(sess), CKR_OK);
	ck_assert_uint_eq(cnt, 1);
	memset(u4, 0, sizeof(u4));
	l4 = unique_id(sess, b, u4, sizeof(u4));
	ck_assert_uint_eq(l4, l2);
	ck_assert_mem_eq(u4, u2, l2);
}
END_TEST

START_TEST(test_destroyable_copyable)
{
	CK_BYTE v[16], buf[16];
	CK_ATTRIBUTE nd[] = {{CKA_DESTROYABLE, &no, 1}};
	CK_ATTRIBUTE nc[] = {{CKA_COPYABLE, &no, 1}};
	CK_ATTRIBUTE back_on[] = {{CKA_COPYABLE, &yes, 1}};
	CK_OBJECT_HANDLE a, b, cp;

	fill(v, sizeof(v), 20);
	a = secret(CKK_AES, v, 16, nd, 1);
	b = secret(CKK_AES, v, 16, nc, 1);
	ck_assert_int_eq(attr_bool(a, CKA_DESTROYABLE), CK_FALSE);
	ck_assert_rv(f->C_DestroyObject(sess, a), CKR_ACTION_PROHIBITED);
	ck_assert_uint_eq(attr(a, CKA_KEY_TYPE, buf, sizeof(buf)), sizeof(CK_KEY_TYPE));
	ck_assert_int_eq(attr_bool(b, CKA_COPYABLE), CK_FALSE);
	ck_assert_rv(f->C_CopyObject(sess, b, NULL, 0, &cp), CKR_ACTION_PROHIBITED);
	/* CKA_COPYABLE, once false, stays false */
	ck_assert_rv(f->C_SetAttributeValue(sess, b, back_on, 1), CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_rv(f->C_DestroyObject(sess, b), CKR_OK);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("keymgmt");
	TCase *wrap = tcase_create("wrap");
	TCase *derive = tcase_create("derive");
	TCase *objects = tcase_create("objects");

	tcase_add_checked_fixture(wrap, setup, teardown);
	tcase_set_timeout(wrap, 120);
	tcase_add_test(wrap, test_aes_kw_matches_openssl);
	tcase_add_test(wrap, test_gcm_wrap);
	tcase_add_test(wrap, test_rsa_oaep_wrap);
	tcase_add_test(wrap, test_rsa_aes_wrap);
	tcase_add_test(wrap, test_wrap_ec_private_key);
	tcase_add_test(wrap, test_wrap_rules);
	tcase_add_test(wrap, test_wrap_with_trusted);
	tcase_add_test(wrap, test_logout_ends_private_session_keys);
	tcase_add_test(wrap, test_allowed_mechanisms_default_empty);
	tcase_add_test(wrap, test_context_specific_login);
	tcase_add_test(wrap, test_wrap_template);
	tcase_add_test(wrap, test_unwrap_rules);
	suite_add_tcase(su, wrap);
	tcase_add_checked_fixture(derive, setup, teardown);
	tcase_set_timeout(derive, 120);
	tcase_add_test(derive, test_ecdh_derive);
	tcase_add_test(derive, test_derive_template);
	suite_add_tcase(su, derive);
	tcase_add_checked_fixture(objects, setup, teardown);
	tcase_set_timeout(objects, 120);
	tcase_add_test(objects, test_certificate_attributes);
	tcase_add_test(objects, test_certificate_rules);
	tcase_add_test(objects, test_certificate_id);
	tcase_add_test(objects, test_data_object);
	tcase_add_test(objects, test_unique_id);
	tcase_add_test(objects, test_destroyable_copyable);
	suite_add_tcase(su, objects);
	return kms_test_run(su);
}
