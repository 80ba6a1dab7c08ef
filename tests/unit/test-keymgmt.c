/* SPDX-License-Identifier: Apache-2.0 */
/* Keys moving between keys through the module: the wrap and unwrap rules, RSA wrapping, ECDH derivation,
 * certificates, data objects and the 3.0 object attributes; results checked against plain OpenSSL. */
#include <stdbool.h>

#include <check.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/pkcs11x.h"
#include "tests/unit/modfixture.h"

static CK_SESSION_HANDLE sess;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_OBJECT_CLASS c_secret = CKO_SECRET_KEY, c_priv = CKO_PRIVATE_KEY;
static CK_KEY_TYPE k_aes = CKK_AES, k_gen = CKK_GENERIC_SECRET;
static CK_BYTE oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static CK_BYTE oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static CK_BYTE oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static CK_BYTE oid_x25519[] = {0x06, 0x03, 0x2b, 0x65, 0x6e};

static void setup(void)
{
	setup_token();
	sess = user_session();
}

static void teardown(void)
{
	teardown_store();
}

/* A secret key with value val; extra attributes are appended to the basic template. */
static CK_OBJECT_HANDLE secret(CK_KEY_TYPE kt, const CK_BYTE *val, CK_ULONG len, CK_ATTRIBUTE *extra, CK_ULONG nextra)
{
	CK_ATTRIBUTE t[16] = {{CKA_CLASS, &c_secret, sizeof(c_secret)},
			      {CKA_KEY_TYPE, &kt, sizeof(kt)},
			      {CKA_VALUE, (void *)val, len}};
	CK_OBJECT_HANDLE h = 0;

	ck_assert_uint_le(nextra, 13);
	if (nextra)
		memcpy(t + 3, extra, nextra * sizeof(*extra));
	ck_assert_rv(f->C_CreateObject(sess, t, 3 + nextra, &h), CKR_OK);
	return h;
}

static CK_ULONG get_value(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_BYTE *buf, CK_ULONG cap)
{
	CK_ATTRIBUTE q = {type, buf, cap};

	ck_assert_rv(f->C_GetAttributeValue(sess, h, &q, 1), CKR_OK);
	return q.ulValueLen;
}

START_TEST(test_wrap_rules)
{
	CK_BYTE kek[16] = {1}, val[16] = {2}, out[64];
	CK_ULONG n = sizeof(out);
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
	CK_ATTRIBUTE wrap_on[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}};
	CK_ATTRIBUTE extractable[] = {{CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE wwt[] = {{CKA_EXTRACTABLE, &yes, 1}, {CKA_WRAP_WITH_TRUSTED, &yes, 1}};
	CK_ATTRIBUTE trusted[] = {{CKA_TRUSTED, &yes, 1}};
	CK_ATTRIBUTE only_aes[] = {{CKA_KEY_TYPE, &k_aes, sizeof(k_aes)}};
	CK_ATTRIBUTE with_tmpl[] = {{CKA_WRAP, &yes, 1}, {CKA_WRAP_TEMPLATE, only_aes, sizeof(only_aes)}};
	CK_ATTRIBUTE back[1];
	CK_KEY_TYPE got_kt = 0;
	CK_OBJECT_HANDLE w = secret(CKK_AES, kek, 16, wrap_on, 2);
	CK_OBJECT_HANDLE nowrap = secret(CKK_AES, kek, 16, NULL, 0);
	CK_OBJECT_HANDLE t = secret(CKK_AES, val, 16, extractable, 1);
	CK_OBJECT_HANDLE stuck = secret(CKK_AES, val, 16, NULL, 0);
	CK_OBJECT_HANDLE needs_trust = secret(CKK_AES, val, 16, wwt, 2);
	CK_OBJECT_HANDLE gen = secret(CKK_GENERIC_SECRET, val, 16, extractable, 1);
	CK_OBJECT_HANDLE tw = secret(CKK_AES, kek, 16, with_tmpl, 2);
	CK_OBJECT_HANDLE pub, priv;
	CK_MECHANISM ecgen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}};

	ck_assert_rv(f->C_WrapKey(sess, &kw, w, t, out, &n), CKR_OK);
	ck_assert_uint_eq(n, 24);
	n = sizeof(out);
	ck_assert_rv(f->C_WrapKey(sess, &kw, nowrap, t, out, &n), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, stuck, out, &n), CKR_KEY_UNEXTRACTABLE);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, needs_trust, out, &n), CKR_KEY_NOT_WRAPPABLE);
	ck_assert_rv(f->C_WrapKey(sess, &kw, 0x7777, t, out, &n), CKR_WRAPPING_KEY_HANDLE_INVALID);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, 0x7777, out, &n), CKR_KEY_HANDLE_INVALID);
	ck_assert_rv(f->C_GenerateKeyPair(sess, &ecgen, pt, 1, NULL, 0, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_WrapKey(sess, &kw, priv, t, out, &n), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
	ck_assert_rv(f->C_WrapKey(sess, &kw, w, pub, out, &n), CKR_KEY_NOT_WRAPPABLE);
	/* CKA_WRAP_TEMPLATE: only keys matching it are wrapped; it reads back as an attribute array */
	n = sizeof(out);
	ck_assert_rv(f->C_WrapKey(sess, &kw, tw, t, out, &n), CKR_OK);
	ck_assert_rv(f->C_WrapKey(sess, &kw, tw, gen, out, &n), CKR_KEY_NOT_WRAPPABLE);
	{
		CK_ATTRIBUTE q = {CKA_WRAP_TEMPLATE, NULL, 0};

		ck_assert_rv(f->C_GetAttributeValue(sess, tw, &q, 1), CKR_OK);
		ck_assert_uint_eq(q.ulValueLen, sizeof(CK_ATTRIBUTE));
		back[0].type = 0;
		back[0].pValue = &got_kt;
		back[0].ulValueLen = sizeof(got_kt);
		q.pValue = back;
		ck_assert_rv(f->C_GetAttributeValue(sess, tw, &q, 1), CKR_OK);
		ck_assert_uint_eq(back[0].type, CKA_KEY_TYPE);
		ck_assert_uint_eq(got_kt, CKK_AES);
	}
	/* CKA_TRUSTED: never from a user; the SO marks a public key trusted, and then it may wrap */
	{
		CK_OBJECT_HANDLE h;
		CK_ATTRIBUTE tt[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
				     {CKA_VALUE, kek, 16}, {CKA_TRUSTED, &yes, 1}};
		CK_ATTRIBUTE pubt[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &no, 1}, {CKA_VALUE, kek, 16},
				       {CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
				       {CKA_WRAP, &yes, 1}};
		CK_SESSION_HANDLE so;
		CK_OBJECT_HANDLE tk;

		ck_assert_rv(f->C_CreateObject(sess, tt, 4, &h), CKR_ATTRIBUTE_READ_ONLY);
		ck_assert_rv(f->C_CreateObject(sess, pubt, 6, &tk), CKR_OK);
		ck_assert_rv(f->C_SetAttributeValue(sess, tk, trusted, 1), CKR_ATTRIBUTE_READ_ONLY);
		n = sizeof(out);
		ck_assert_rv(f->C_WrapKey(sess, &kw, tk, needs_trust, out, &n), CKR_KEY_NOT_WRAPPABLE);
		ck_assert_rv(f->C_Logout(sess), CKR_OK);
		ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &so), CKR_OK);
		ck_assert_rv(f->C_Login(so, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_OK);
		ck_assert_rv(f->C_SetAttributeValue(so, tk, trusted, 1), CKR_OK);
		ck_assert_rv(f->C_Logout(so), CKR_OK);
		ck_assert_rv(f->C_CloseSession(so), CKR_OK);
		ck_assert_rv(f->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
		n = sizeof(out);
		ck_assert_rv(f->C_WrapKey(sess, &kw, tk, needs_trust, out, &n), CKR_OK);
	}
}
END_TEST

START_TEST(test_unwrap_rules)
{
	CK_BYTE kek[32] = {7}, val[32] = {8}, out[64], v2[32];
	CK_ULONG n = sizeof(out);
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
	CK_ATTRIBUTE sens[] = {{CKA_SENSITIVE, &yes, 1}};
	CK_ATTRIBUTE kek_attrs[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}, {CKA_UNWRAP_TEMPLATE, sens, sizeof(sens)}};
	CK_ATTRIBUTE extractable[] = {{CKA_EXTRACTABLE, &yes, 1}, {CKA_SENSITIVE, &no, 1}, {CKA_ENCRYPT, &yes, 1}};
	CK_OBJECT_HANDLE w = secret(CKK_AES, kek, 32, kek_attrs, 3);
	CK_OBJECT_HANDLE plain_w;
	CK_OBJECT_HANDLE t = secret(CKK_AES, val, 32, extractable, 3), u;
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
			     {CKA_EXTRACTABLE, &yes, 1}};
	CK_ATTRIBUTE contra[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
				 {CKA_SENSITIVE, &no, 1}};
	CK_ATTRIBUTE noclass[] = {{CKA_KEY_TYPE, &k_aes, sizeof(k_aes)}};
	CK_BBOOL local = 1, as = 1, ne = 1, s = 0;
	CK_ATTRIBUTE q[] = {{CKA_LOCAL, &local, 1}, {CKA_ALWAYS_SENSITIVE, &as, 1}, {CKA_NEVER_EXTRACTABLE, &ne, 1},
			    {CKA_SENSITIVE, &s, 1}};
	CK_ATTRIBUTE vq = {CKA_VALUE, v2, sizeof(v2)};
	CK_ATTRIBUTE wrap_only[] = {{CKA_WRAP, &yes, 1}};

	ck_assert_rv(f->C_WrapKey(sess, &kw, w, t, out, &n), CKR_OK);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, w, out, n, ut, 3, &u), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(sess, u, q, 4), CKR_OK);
	ck_assert(!local && !as && !ne);
	ck_assert(s); /* from the unwrapping key's CKA_UNWRAP_TEMPLATE */
	ck_assert_rv(f->C_GetAttributeValue(sess, u, &vq, 1), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, w, out, n, contra, 3, &u), CKR_TEMPLATE_INCONSISTENT);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, w, out, n, noclass, 1, &u), CKR_TEMPLATE_INCOMPLETE);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, w, out, n - 1, ut, 3, &u), CKR_WRAPPED_KEY_LEN_RANGE);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, 0x7777, out, n, ut, 3, &u), CKR_UNWRAPPING_KEY_HANDLE_INVALID);
	plain_w = secret(CKK_AES, kek, 32, wrap_only, 1);
	ck_assert_rv(f->C_UnwrapKey(sess, &kw, plain_w, out, n, ut, 3, &u), CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* an unwrapped key works like the original */
	{
		CK_ATTRIBUTE ut2[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
				      {CKA_ENCRYPT, &yes, 1}};
		CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
		CK_BYTE a[16], b[16], zero[16] = {0};
		CK_ULONG la = 16, lb = 16;

		ck_assert_rv(f->C_UnwrapKey(sess, &kw, w, out, n, ut2, 3, &u), CKR_OK);
		ck_assert_rv(f->C_EncryptInit(sess, &ecb, u), CKR_OK);
		ck_assert_rv(f->C_Encrypt(sess, zero, 16, a, &la), CKR_OK);
		ck_assert_rv(f->C_EncryptInit(sess, &ecb, t), CKR_OK);
		ck_assert_rv(f->C_Encrypt(sess, zero, 16, b, &lb), CKR_OK);
		ck_assert_mem_eq(a, b, 16);
	}
}
END_TEST

/* A P-256 private key wrapped with each mechanism, unwrapped, still signs for the original public key. */
START_TEST(test_wrap_private_keys)
{
	CK_MECHANISM ecgen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, rsagen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_MECHANISM ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
	CK_ULONG bits = 2048;
	CK_ATTRIBUTE ecpub[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}};
	CK_ATTRIBUTE ecpriv[] = {{CKA_EXTRACTABLE, &yes, 1}, {CKA_SIGN, &yes, 1}};
	CK_ATTRIBUTE rsapub[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_WRAP, &yes, 1}};
	CK_ATTRIBUTE rsapriv[] = {{CKA_UNWRAP, &yes, 1}};
	CK_ATTRIBUTE wrap_on[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}};
	CK_KEY_TYPE k_ec = CKK_EC;
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &c_priv, sizeof(c_priv)}, {CKA_KEY_TYPE, &k_ec, sizeof(k_ec)},
			     {CKA_SIGN, &yes, 1}};
	CK_BYTE kek[32] = {3}, iv[12] = {4}, out[4096], sig[80];
	CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
	CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
	struct kms_ck_rsa_aes_key_wrap_params rak = {256, &oaep};
	CK_MECHANISM mechs[] = {{CKM_AES_KEY_WRAP_KWP, NULL, 0},
				{CKM_AES_KEY_WRAP_PAD, NULL, 0},
				{CKM_AES_GCM, &gp, sizeof(gp)},
				{CKM_RSA_AES_KEY_WRAP, &rak, sizeof(rak)}};
	CK_OBJECT_HANDLE pub, priv, rpub, rpriv, w = secret(CKK_AES, kek, 32, wrap_on, 2), u;

	ck_assert_rv(f->C_GenerateKeyPair(sess, &ecgen, ecpub, 1, ecpriv, 2, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_GenerateKeyPair(sess, &rsagen, rsapub, 2, rsapriv, 1, &rpub, &rpriv), CKR_OK);
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		bool rsa = mechs[i].mechanism == CKM_RSA_AES_KEY_WRAP;
		CK_ULONG n = sizeof(out), sl = sizeof(sig);

		ck_assert_rv(f->C_WrapKey(sess, &mechs[i], rsa ? rpub : w, priv, out, &n), CKR_OK);
		ck_assert_rv(f->C_UnwrapKey(sess, &mechs[i], rsa ? rpriv : w, out, n, ut, 3, &u), CKR_OK);
		ck_assert_rv(f->C_SignInit(sess, &ecdsa, u), CKR_OK);
		ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "msg", 3, sig, &sl), CKR_OK);
		ck_assert_rv(f->C_VerifyInit(sess, &ecdsa, pub), CKR_OK);
		ck_assert_rv(f->C_Verify(sess, (CK_BYTE_PTR) "msg", 3, sig, sl), CKR_OK);
		out[n / 2] ^= 1;
		ck_assert_rv(f->C_UnwrapKey(sess, &mechs[i], rsa ? rpriv : w, out, n, ut, 3, &u),
			     CKR_WRAPPED_KEY_INVALID);
	}
	/* RSA-OAEP wraps secret keys and small private keys */
	{
		CK_MECHANISM om = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
		CK_BYTE val[32] = {5}, v2[32];
		CK_ATTRIBUTE ex[] = {{CKA_EXTRACTABLE, &yes, 1}};
		CK_OBJECT_HANDLE t = secret(CKK_AES, val, 32, ex, 1);
		CK_ATTRIBUTE st[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
				     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
		CK_ULONG n = sizeof(out);

		ck_assert_rv(f->C_WrapKey(sess, &om, rpub, t, out, &n), CKR_OK);
		ck_assert_uint_eq(n, 256);
		ck_assert_rv(f->C_UnwrapKey(sess, &om, rpriv, out, n, st, 4, &u), CKR_OK);
		ck_assert_uint_eq(get_value(u, CKA_VALUE, v2, sizeof(v2)), 32);
		ck_assert_mem_eq(v2, val, 32);
		/* a P-256 PKCS#8 (138 bytes) fits in one OAEP block of a 2048-bit key */
		n = sizeof(out);
		ck_assert_rv(f->C_WrapKey(sess, &om, rpub, priv, out, &n), CKR_OK);
		ck_assert_rv(f->C_UnwrapKey(sess, &om, rpriv, out, n, ut, 3, &u), CKR_OK);
		/* the wrapped key's type must match the template's */
		{
			CK_KEY_TYPE k_rsa = CKK_RSA;
			CK_ATTRIBUTE rt[] = {{CKA_CLASS, &c_priv, sizeof(c_priv)}, {CKA_KEY_TYPE, &k_rsa, sizeof(k_rsa)}};

			ck_assert_rv(f->C_UnwrapKey(sess, &om, rpriv, out, n, rt, 2, &u), CKR_TEMPLATE_INCONSISTENT);
			/* and a PKCS#8 is no AES key */
			ck_assert_rv(f->C_UnwrapKey(sess, &om, rpriv, out, n, st, 2, &u), CKR_WRAPPED_KEY_INVALID);
		}
	}
}
END_TEST

/* The shared secret of OpenSSL's peer and the module's public key (its CKA_EC_POINT), and the peer's point. */
static size_t ref_ecdh(const char *group, CK_OBJECT_HANDLE pub, CK_BYTE *z, CK_BYTE *peer_pt, size_t *peer_len)
{
	CK_BYTE ecpt[160];
	CK_ULONG l = get_value(pub, CKA_EC_POINT, ecpt, sizeof(ecpt));
	EVP_PKEY *peer, *mine = NULL;
	EVP_PKEY_CTX *ctx;
	size_t zlen = 200;
	bool x = !strcmp(group, "X25519");

	peer = x ? EVP_PKEY_Q_keygen(NULL, NULL, "X25519") : EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	ck_assert_ptr_nonnull(peer);
	if (x) {
		mine = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, ecpt + 2, l - 2);
		*peer_len = 32;
		ck_assert_int_eq(EVP_PKEY_get_raw_public_key(peer, peer_pt, peer_len), 1);
	} else {
		OSSL_PARAM p[3];
		size_t hdr = ecpt[1] == 0x81 ? 3 : 2;

		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
		p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, ecpt + hdr, l - hdr);
		p[2] = OSSL_PARAM_construct_end();
		ck_assert_int_eq(EVP_PKEY_fromdata_init(ctx), 1);
		ck_assert_int_eq(EVP_PKEY_fromdata(ctx, &mine, EVP_PKEY_PUBLIC_KEY, p), 1);
		EVP_PKEY_CTX_free(ctx);
		ck_assert_int_eq(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, peer_pt, 160,
								 peer_len),
				 1);
	}
	ck_assert_ptr_nonnull(mine);
	ctx = EVP_PKEY_CTX_new(peer, NULL);
	ck_assert_int_eq(EVP_PKEY_derive_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_derive_set_peer(ctx, mine), 1);
	ck_assert_int_eq(EVP_PKEY_derive(ctx, z, &zlen), 1);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(mine);
	return zlen;
}

START_TEST(test_ecdh_derive)
{
	static const struct {
		CK_MECHANISM_TYPE gen;
		CK_BYTE *oid;
		size_t oidlen;
		const char *group;
	} c[] = {
		{CKM_EC_KEY_PAIR_GEN, oid_p256, sizeof(oid_p256), "P-256"},
		{CKM_EC_KEY_PAIR_GEN, oid_p384, sizeof(oid_p384), "P-384"},
		{CKM_EC_KEY_PAIR_GEN, oid_p521, sizeof(oid_p521), "P-521"},
		{CKM_EC_MONTGOMERY_KEY_PAIR_GEN, oid_x25519, sizeof(oid_x25519), "X25519"},
	};
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_gen, sizeof(k_gen)},
			     {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
	CK_ULONG thirty_two = 32;
	CK_ATTRIBUTE dt32[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_gen, sizeof(k_gen)},
			       {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1},
			       {CKA_VALUE_LEN, &thirty_two, sizeof(thirty_two)}};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		CK_MECHANISM gen = {c[i].gen, NULL, 0};
		CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, c[i].oid, c[i].oidlen}};
		CK_ATTRIBUTE vt[] = {{CKA_DERIVE, &yes, 1}};
		CK_OBJECT_HANDLE pub, priv, d, nd_pub, nd_priv;
		CK_BYTE z[80], got[80], peer[160], kdf_out[32], info[] = "shared info";
		size_t zlen, plen = 0;
		CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, 0, peer};
		CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof(p)};
		EVP_KDF *kdf;
		EVP_KDF_CTX *kctx;
		OSSL_PARAM kp[4];

		ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, vt, 1, &pub, &priv), CKR_OK);
		zlen = ref_ecdh(c[i].group, pub, z, peer, &plen);
		p.ulPublicDataLen = plen;
		ck_assert_rv(f->C_DeriveKey(sess, &m, priv, dt, 4, &d), CKR_OK);
		ck_assert_uint_eq(get_value(d, CKA_VALUE, got, sizeof(got)), zlen);
		ck_assert_mem_eq(got, z, zlen);
		/* ANSI X9.63 KDF with SHA-256 and shared info, as OpenSSL computes it */
		p.kdf = CKD_SHA256_KDF;
		p.pSharedData = info;
		p.ulSharedDataLen = sizeof(info) - 1;
		ck_assert_rv(f->C_DeriveKey(sess, &m, priv, dt32, 5, &d), CKR_OK);
		ck_assert_uint_eq(get_value(d, CKA_VALUE, got, sizeof(got)), 32);
		kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
		kctx = EVP_KDF_CTX_new(kdf);
		kp[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
		kp[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, zlen);
		kp[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info) - 1);
		kp[3] = OSSL_PARAM_construct_end();
		ck_assert_int_eq(EVP_KDF_derive(kctx, kdf_out, 32, kp), 1);
		EVP_KDF_CTX_free(kctx);
		EVP_KDF_free(kdf);
		ck_assert_mem_eq(got, kdf_out, 32);
		/* CKD_NULL takes no shared data; a point off the curve is refused; CKA_DERIVE is needed */
		p.kdf = CKD_NULL;
		ck_assert_rv(f->C_DeriveKey(sess, &m, priv, dt, 4, &d), CKR_MECHANISM_PARAM_INVALID);
		p.pSharedData = NULL;
		p.ulSharedDataLen = 0;
		if (c[i].gen == CKM_EC_KEY_PAIR_GEN) {
			peer[plen - 1] ^= 1;
			ck_assert_rv(f->C_DeriveKey(sess, &m, priv, dt, 4, &d), CKR_MECHANISM_PARAM_INVALID);
			peer[plen - 1] ^= 1;
		}
		ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, NULL, 0, &nd_pub, &nd_priv), CKR_OK);
		ck_assert_rv(f->C_DeriveKey(sess, &m, nd_priv, dt, 4, &d), CKR_KEY_FUNCTION_NOT_PERMITTED);
	}
}
END_TEST

/* CKA_DERIVE_TEMPLATE of the base key is applied to every key derived from it. */
START_TEST(test_derive_template)
{
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE sens[] = {{CKA_SENSITIVE, &yes, 1}};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}};
	CK_ATTRIBUTE vt[] = {{CKA_DERIVE, &yes, 1}, {CKA_DERIVE_TEMPLATE, sens, sizeof(sens)}};
	CK_ATTRIBUTE plain[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_gen, sizeof(k_gen)}};
	CK_ATTRIBUTE contra[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_gen, sizeof(k_gen)},
				 {CKA_SENSITIVE, &no, 1}};
	CK_OBJECT_HANDLE pub, priv, d;
	CK_BYTE z[80], peer[160], buf[80];
	size_t plen = 0;
	CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, 0, peer};
	CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof(p)};
	CK_BBOOL s = 0;
	CK_ATTRIBUTE q = {CKA_SENSITIVE, &s, 1}, vq = {CKA_VALUE, buf, sizeof(buf)};

	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, vt, 2, &pub, &priv), CKR_OK);
	ref_ecdh("P-256", pub, z, peer, &plen);
	p.ulPublicDataLen = plen;
	ck_assert_rv(f->C_DeriveKey(sess, &m, priv, plain, 2, &d), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(sess, d, &q, 1), CKR_OK);
	ck_assert(s);
	ck_assert_rv(f->C_GetAttributeValue(sess, d, &vq, 1), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_rv(f->C_DeriveKey(sess, &m, priv, contra, 3, &d), CKR_TEMPLATE_INCONSISTENT);
}
END_TEST

/* A DER certificate for pk signed by signer (self-signed when signer is pk). */
static int make_cert(EVP_PKEY *pk, EVP_PKEY *signer, const char *cn, long serial, CK_BYTE *der, size_t cap)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	unsigned char *p = der;
	int n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, nm);
	X509_set_issuer_name(x, nm);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
	X509_set_pubkey(x, pk);
	ck_assert_int_gt(X509_sign(x, signer, EVP_sha256()), 0);
	ck_assert_int_le(i2d_X509(x, NULL), (int)cap);
	n = i2d_X509(x, &p);
	X509_NAME_free(nm);
	X509_free(x);
	return n;
}

START_TEST(test_certificates_and_data)
{
	CK_OBJECT_CLASS cc = CKO_CERTIFICATE, dc = CKO_DATA;
	CK_CERTIFICATE_TYPE x509 = CKC_X_509;
	CK_ULONG bad_cat = 5;
	CK_BYTE der[2048], buf[512], sub[256], id1[64], id2[64], spki[256];
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	int n = make_cert(pk, pk, "kms11 test", 4242, der, sizeof(der));
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cc, sizeof(cc)}, {CKA_CERTIFICATE_TYPE, &x509, sizeof(x509)},
			    {CKA_VALUE, der, (CK_ULONG)n}, {CKA_TOKEN, &yes, 1}};
	CK_OBJECT_HANDLE h, pub, priv, h2;
	X509 *x;
	const unsigned char *q = der;
	unsigned char *sp = sub;
	int sublen;

	ck_assert_rv(f->C_CreateObject(sess, t, 4, &h), CKR_OK);
	x = d2i_X509(NULL, &q, n);
	sublen = i2d_X509_NAME(X509_get_subject_name(x), &sp);
	ck_assert_uint_eq(get_value(h, CKA_SUBJECT, buf, sizeof(buf)), (CK_ULONG)sublen);
	ck_assert_mem_eq(buf, sub, (size_t)sublen);
	ck_assert_uint_eq(get_value(h, CKA_ISSUER, buf, sizeof(buf)), (CK_ULONG)sublen);
	{
		unsigned char ser[16], *s = ser;
		int sl = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &s);

		ck_assert_uint_eq(get_value(h, CKA_SERIAL_NUMBER, buf, sizeof(buf)), (CK_ULONG)sl);
		ck_assert_mem_eq(buf, ser, (size_t)sl);
	}
	{
		unsigned char *s = spki;
		int sl = i2d_PUBKEY(pk, &s);

		ck_assert_uint_eq(get_value(h, CKA_PUBLIC_KEY_INFO, buf, sizeof(buf)), (CK_ULONG)sl);
		ck_assert_mem_eq(buf, spki, (size_t)sl);
	}
	{
		const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
		unsigned char md[20], kcv[20];

		SHA1(bits->data, (size_t)bits->length, md);
		ck_assert_uint_eq(get_value(h, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, buf, sizeof(buf)), 20);
		ck_assert_mem_eq(buf, md, 20);
		/* self-signed: the issuer's key is the subject's */
		ck_assert_uint_eq(get_value(h, CKA_HASH_OF_ISSUER_PUBLIC_KEY, buf, sizeof(buf)), 20);
		ck_assert_mem_eq(buf, md, 20);
		SHA1(der, (size_t)n, kcv);
		ck_assert_uint_eq(get_value(h, CKA_CHECK_VALUE, buf, sizeof(buf)), 3);
		ck_assert_mem_eq(buf, kcv, 3);
	}
	X509_free(x);
	/* a contradicting template, a user's CKA_TRUSTED, a bad category */
	{
		CK_BYTE wrong[] = {0x30, 0x00};
		CK_ATTRIBUTE bad[] = {{CKA_CLASS, &cc, sizeof(cc)}, {CKA_CERTIFICATE_TYPE, &x509, sizeof(x509)},
				      {CKA_VALUE, der, (CK_ULONG)n}, {CKA_SUBJECT, wrong, 2}};
		CK_ATTRIBUTE tr[] = {{CKA_CLASS, &cc, sizeof(cc)}, {CKA_CERTIFICATE_TYPE, &x509, sizeof(x509)},
				     {CKA_VALUE, der, (CK_ULONG)n}, {CKA_TRUSTED, &yes, 1}};
		CK_ATTRIBUTE cat[] = {{CKA_CLASS, &cc, sizeof(cc)}, {CKA_CERTIFICATE_TYPE, &x509, sizeof(x509)},
				      {CKA_VALUE, der, (CK_ULONG)n}, {CKA_CERTIFICATE_CATEGORY, &bad_cat, sizeof(bad_cat)}};
		CK_ATTRIBUTE garbage[] = {{CKA_CLASS, &cc, sizeof(cc)}, {CKA_CERTIFICATE_TYPE, &x509, sizeof(x509)},
					  {CKA_VALUE, der, (CK_ULONG)n - 1}};

		ck_assert_rv(f->C_CreateObject(sess, bad, 4, &h2), CKR_TEMPLATE_INCONSISTENT);
		ck_assert_rv(f->C_CreateObject(sess, tr, 4, &h2), CKR_ATTRIBUTE_READ_ONLY);
		ck_assert_rv(f->C_CreateObject(sess, cat, 4, &h2), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_rv(f->C_CreateObject(sess, garbage, 3, &h2), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_rv(f->C_CreateObject(sess, garbage, 2, &h2), CKR_TEMPLATE_INCOMPLETE);
	}
	EVP_PKEY_free(pk);
	/* a certificate for a key pair made in the module shares its CKA_ID */
	{
		CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
		CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}};
		CK_ULONG l, l1, l2;
		const unsigned char *s = spki;
		EVP_PKEY *theirs, *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

		ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, NULL, 0, &pub, &priv), CKR_OK);
		l = get_value(pub, CKA_PUBLIC_KEY_INFO, spki, sizeof(spki));
		theirs = d2i_PUBKEY(NULL, &s, (long)l);
		ck_assert_ptr_nonnull(theirs);
		n = make_cert(theirs, ca, "module key", 7, der, sizeof(der));
		t[2].ulValueLen = (CK_ULONG)n;
		ck_assert_rv(f->C_CreateObject(sess, t, 4, &h2), CKR_OK);
		l1 = get_value(h2, CKA_ID, id1, sizeof(id1));
		l2 = get_value(priv, CKA_ID, id2, sizeof(id2));
		ck_assert_uint_eq(l1, l2);
		ck_assert_mem_eq(id1, id2, l1);
		EVP_PKEY_free(theirs);
		EVP_PKEY_free(ca);
	}
	/* data objects */
	{
		CK_ATTRIBUTE dt[] = {{CKA_CLASS, &dc, sizeof(dc)}, {CKA_APPLICATION, "app", 3},
				     {CKA_OBJECT_ID, "\x06\x03\x2a\x03\x04", 5}, {CKA_VALUE, "payload", 7},
				     {CKA_TOKEN, &yes, 1}};
		CK_ATTRIBUTE find[] = {{CKA_APPLICATION, "app", 3}};
		CK_OBJECT_HANDLE d, found[4];
		CK_ULONG cnt = 0;

		ck_assert_rv(f->C_CreateObject(sess, dt, 5, &d), CKR_OK);
		ck_assert_rv(f->C_FindObjectsInit(sess, find, 1), CKR_OK);
		ck_assert_rv(f->C_FindObjects(sess, found, 4, &cnt), CKR_OK);
		ck_assert_rv(f->C_FindObjectsFinal(sess), CKR_OK);
		ck_assert_uint_eq(cnt, 1);
		ck_assert_uint_eq(found[0], d);
		ck_assert_uint_eq(get_value(d, CKA_VALUE, buf, sizeof(buf)), 7);
		ck_assert_mem_eq(buf, "payload", 7);
	}
}
END_TEST

START_TEST(test_unique_id_destroyable_copyable)
{
	CK_BYTE v[16] = {1}, u1[32], u2[32], u3[32];
	CK_ATTRIBUTE nd[] = {{CKA_DESTROYABLE, &no, 1}, {CKA_TOKEN, &yes, 1}};
	CK_ATTRIBUTE nc[] = {{CKA_COPYABLE, &no, 1}};
	CK_ATTRIBUTE uid[] = {{CKA_UNIQUE_ID, "x", 1}};
	CK_OBJECT_HANDLE a = secret(CKK_AES, v, 16, NULL, 0), b = secret(CKK_AES, v, 16, nd, 2);
	CK_OBJECT_HANDLE c = secret(CKK_AES, v, 16, nc, 1), cp, h;
	CK_ULONG l1 = get_value(a, CKA_UNIQUE_ID, u1, sizeof(u1)), l2 = get_value(b, CKA_UNIQUE_ID, u2, sizeof(u2)), l3;
	CK_SESSION_HANDLE s2;

	ck_assert_uint_gt(l1, 0);
	ck_assert(l1 != l2 || memcmp(u1, u2, l1) != 0);
	ck_assert_rv(f->C_DestroyObject(sess, b), CKR_ACTION_PROHIBITED);
	ck_assert_rv(f->C_CopyObject(sess, c, NULL, 0, &cp), CKR_ACTION_PROHIBITED);
	ck_assert_rv(f->C_CopyObject(sess, a, NULL, 0, &cp), CKR_OK);
	l3 = get_value(cp, CKA_UNIQUE_ID, u3, sizeof(u3));
	ck_assert(l3 != l1 || memcmp(u3, u1, l1) != 0);
	ck_assert_rv(f->C_CopyObject(sess, a, uid, 1, &cp), CKR_ATTRIBUTE_READ_ONLY);
	{
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &k_aes, sizeof(k_aes)},
				    {CKA_VALUE, v, 16}, {CKA_UNIQUE_ID, "x", 1}};

		ck_assert_rv(f->C_CreateObject(sess, t, 4, &h), CKR_ATTRIBUTE_READ_ONLY);
	}
	/* a token object keeps its unique id in another session */
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
	{
		CK_ATTRIBUTE q = {CKA_UNIQUE_ID, u3, sizeof(u3)};

		ck_assert_rv(f->C_GetAttributeValue(s2, b, &q, 1), CKR_OK);
		ck_assert_uint_eq(q.ulValueLen, l2);
		ck_assert_mem_eq(u3, u2, l2);
	}
}
END_TEST

int main(void)
{
	Suite *su = suite_create("keymgmt");
	TCase *tc = tcase_create("keys");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_wrap_rules);
	tcase_add_test(tc, test_unwrap_rules);
	tcase_add_test(tc, test_wrap_private_keys);
	tcase_add_test(tc, test_ecdh_derive);
	tcase_add_test(tc, test_derive_template);
	tcase_add_test(tc, test_certificates_and_data);
	tcase_add_test(tc, test_unique_id_destroyable_copyable);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
