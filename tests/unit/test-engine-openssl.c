/* SPDX-License-Identifier: Apache-2.0 */
/* The openssl engine on its own: keys, every mechanism checked by plain OpenSSL, known answers, error codes. */
#include <string.h>

#include <check.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/mem.h"
#include "engines/engine.h"
#include "tests/unit/testutil.h"

static const struct kms_engine_ops *e = &kms_engine_openssl;
static void *inst;

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

static void setup(void)
{
	ck_assert_rv(e->init(NULL, &inst), CKR_OK);
}

static void teardown(void)
{
	e->shutdown(inst);
}

/* A key pair from the engine: material, the decoded private and public keys, the plain OpenSSL public key. */
struct pair {
	struct kms_key_material km;
	struct kms_engine_key *priv, *pub;
	EVP_PKEY *ref; /* the SPKI parsed by OpenSSL, independent of the engine */
};

static void pair_from(struct pair *p)
{
	const struct kms_attr *spki = kms_attrs_get(&p->km.pub, CKA_PUBLIC_KEY_INFO);
	const unsigned char *q;

	ck_assert_ptr_nonnull(spki);
	q = spki->val;
	p->ref = d2i_PUBKEY(NULL, &q, (long)spki->len);
	ck_assert_ptr_nonnull(p->ref);
	ck_assert_rv(e->load(inst, CKO_PRIVATE_KEY, p->km.blob, p->km.blob_len, &p->km.pub, &p->priv), CKR_OK);
	ck_assert_rv(e->load(inst, CKO_PUBLIC_KEY, NULL, 0, &p->km.pub, &p->pub), CKR_OK);
}

static void gen(struct pair *p, CK_MECHANISM_TYPE mech, CK_ULONG bits, const uint8_t *params, size_t plen)
{
	struct kms_keygen_params kp = {.mech = mech, .modulus_bits = bits, .ec_params = params, .ec_params_len = plen};

	memset(p, 0, sizeof(*p));
	ck_assert_rv(e->generate_pair(inst, &kp, &p->km), CKR_OK);
	pair_from(p);
}

static void pair_free(struct pair *p)
{
	e->unload(p->priv);
	e->unload(p->pub);
	EVP_PKEY_free(p->ref);
	kms_key_material_free(&p->km);
}

/* Signs with the engine in one part. */
static size_t sign(struct pair *p, CK_MECHANISM *m, const uint8_t *in, size_t inlen, uint8_t *sig)
{
	struct kms_engine_op *op = NULL;
	size_t n;

	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, m, p->priv, &op), CKR_OK);
	n = e->op_outlen(op, inlen);
	ck_assert_rv(e->op_oneshot(op, in, inlen, sig, &n), CKR_OK);
	e->op_free(op);
	return n;
}

static CK_RV verify(struct pair *p, CK_MECHANISM *m, const uint8_t *in, size_t inlen, const uint8_t *sig, size_t n)
{
	struct kms_engine_op *op = NULL;
	CK_RV rv;

	ck_assert_rv(e->op_init(inst, KMS_OP_VERIFY, m, p->pub, &op), CKR_OK);
	rv = e->op_verify(op, in, inlen, sig, n);
	e->op_free(op);
	return rv;
}

/* r||s to DER for plain OpenSSL. */
static size_t raw_to_der(const uint8_t *raw, size_t n, uint8_t *der)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	uint8_t *q = der;
	int len;

	ck_assert_int_eq(ECDSA_SIG_set0(s, BN_bin2bn(raw, (int)n / 2, NULL), BN_bin2bn(raw + n / 2, (int)n / 2, NULL)), 1);
	len = i2d_ECDSA_SIG(s, &q);
	ECDSA_SIG_free(s);
	return (size_t)len;
}

/* Verifies with plain OpenSSL: digest name NULL for Ed25519, "" for a prehashed input. */
static int ref_verify(EVP_PKEY *pk, const char *md, int pad, const uint8_t *in, size_t inlen, const uint8_t *sig,
		      size_t n)
{
	uint8_t der[200];
	int ok;

	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		n = raw_to_der(sig, n, der);
		sig = der;
	}
	if (md && !*md) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);

		ok = EVP_PKEY_verify_init(c) == 1;
		if (pad)
			ok = ok && EVP_PKEY_CTX_set_rsa_padding(c, pad) == 1;
		if (pad == RSA_PKCS1_PSS_PADDING)
			ok = ok && EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
			     EVP_PKEY_CTX_set_rsa_pss_saltlen(c, 32) == 1;
		ok = ok && EVP_PKEY_verify(c, sig, n, in, inlen) == 1;
		EVP_PKEY_CTX_free(c);
	} else {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pc = NULL;

		ok = EVP_DigestVerifyInit_ex(c, &pc, md, NULL, NULL, pk, NULL) == 1;
		if (pad == RSA_PKCS1_PSS_PADDING)
			ok = ok && EVP_PKEY_CTX_set_rsa_padding(pc, pad) == 1 &&
			     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) == 1;
		ok = ok && EVP_DigestVerify(c, sig, n, in, inlen) == 1;
		EVP_MD_CTX_free(c);
	}
	return ok;
}

START_TEST(test_generate_public_attrs)
{
	static const struct {
		CK_MECHANISM_TYPE mech;
		const uint8_t *oid;
		size_t oidlen, pointlen;
	} ec[] = {
		{CKM_EC_KEY_PAIR_GEN, oid_p256, sizeof(oid_p256), 2 + 65},
		{CKM_EC_KEY_PAIR_GEN, oid_p384, sizeof(oid_p384), 2 + 97},
		{CKM_EC_KEY_PAIR_GEN, oid_p521, sizeof(oid_p521), 3 + 133},
		{CKM_EC_EDWARDS_KEY_PAIR_GEN, oid_ed25519, sizeof(oid_ed25519), 2 + 32},
	};
	struct pair p;
	unsigned long bits = 0;

	for (size_t i = 0; i < sizeof(ec) / sizeof(ec[0]); i++) {
		const struct kms_attr *a;

		gen(&p, ec[i].mech, 0, ec[i].oid, ec[i].oidlen);
		a = kms_attrs_get(&p.km.pub, CKA_EC_PARAMS);
		ck_assert_int_eq(a->len, ec[i].oidlen);
		ck_assert_mem_eq(a->val, ec[i].oid, ec[i].oidlen);
		a = kms_attrs_get(&p.km.pub, CKA_EC_POINT);
		ck_assert_int_eq(a->len, ec[i].pointlen);
		ck_assert_int_eq(a->val[0], 0x04);
		pair_free(&p);
	}
	gen(&p, CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, NULL, 0);
	ck_assert_int_eq(kms_attrs_get_ulong(&p.km.pub, CKA_MODULUS_BITS, &bits), 0);
	ck_assert_int_eq(bits, 2048);
	ck_assert_int_eq(kms_attrs_get(&p.km.pub, CKA_MODULUS)->len, 256);
	ck_assert_int_eq(EVP_PKEY_get_bits(p.ref), 2048);
	/* the PKCS#8 blob is the same key as the SPKI */
	{
		const unsigned char *q = p.km.blob;
		EVP_PKEY *priv = d2i_AutoPrivateKey(NULL, &q, (long)p.km.blob_len);

		ck_assert_ptr_nonnull(priv);
		ck_assert_int_eq(EVP_PKEY_eq(priv, p.ref), 1);
		EVP_PKEY_free(priv);
	}
	pair_free(&p);
}
END_TEST

START_TEST(test_generate_errors)
{
	struct kms_key_material km = {KMS_ATTRS_INIT, NULL, 0};
	static const uint8_t k1[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}, junk[] = {0x30, 0x00};
	static const uint8_t name[] = {0x13, 0x05, 'P', '-', '3', '8', '4'};
	struct kms_keygen_params kp = {.mech = CKM_RSA_PKCS_KEY_PAIR_GEN, .modulus_bits = 1024};
	const struct kms_attr *a;

	ck_assert_rv(e->generate_pair(inst, &kp, &km), CKR_KEY_SIZE_RANGE);
	kp.mech = CKM_EC_KEY_PAIR_GEN;
	kp.ec_params = k1;
	kp.ec_params_len = sizeof(k1);
	ck_assert_rv(e->generate_pair(inst, &kp, &km), CKR_CURVE_NOT_SUPPORTED);
	kp.ec_params = junk;
	kp.ec_params_len = sizeof(junk);
	ck_assert_rv(e->generate_pair(inst, &kp, &km), CKR_DOMAIN_PARAMS_INVALID);
	kp.ec_params = oid_ed25519;
	kp.ec_params_len = sizeof(oid_ed25519);
	ck_assert_rv(e->generate_pair(inst, &kp, &km), CKR_CURVE_NOT_SUPPORTED);
	kp.ec_params = name; /* a printable curve name gives the OID */
	kp.ec_params_len = sizeof(name);
	ck_assert_rv(e->generate_pair(inst, &kp, &km), CKR_OK);
	a = kms_attrs_get(&km.pub, CKA_EC_PARAMS);
	ck_assert_mem_eq(a->val, oid_p384, sizeof(oid_p384));
	kms_key_material_free(&km);
}
END_TEST

START_TEST(test_sign_every_mechanism)
{
	static const uint8_t di256_prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
					       0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
	static const struct {
		CK_MECHANISM_TYPE m;
		const char *md;
	} hashed[] = {
		{CKM_SHA1_RSA_PKCS, "SHA1"},     {CKM_SHA224_RSA_PKCS, "SHA224"}, {CKM_SHA256_RSA_PKCS, "SHA256"},
		{CKM_SHA384_RSA_PKCS, "SHA384"}, {CKM_SHA512_RSA_PKCS, "SHA512"},
	};
	static const struct {
		CK_MECHANISM_TYPE m;
		const char *md;
	} ecd[] = {
		{CKM_ECDSA_SHA1, "SHA1"},     {CKM_ECDSA_SHA224, "SHA224"}, {CKM_ECDSA_SHA256, "SHA256"},
		{CKM_ECDSA_SHA384, "SHA384"}, {CKM_ECDSA_SHA512, "SHA512"},
	};
	uint8_t msg[300], di[51], h[32], sig[512];
	struct pair rsa, ec;
	size_t n;

	memset(msg, 0x5a, sizeof(msg));
	EVP_Digest(msg, sizeof(msg), h, NULL, EVP_sha256(), NULL);
	memcpy(di, di256_prefix, sizeof(di256_prefix));
	memcpy(di + sizeof(di256_prefix), h, 32);
	gen(&rsa, CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, NULL, 0);
	gen(&ec, CKM_EC_KEY_PAIR_GEN, 0, oid_p256, sizeof(oid_p256));
	{
		CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};

		n = sign(&rsa, &m, di, sizeof(di), sig);
		ck_assert_int_eq(n, 256);
		ck_assert(ref_verify(rsa.ref, "SHA256", RSA_PKCS1_PADDING, msg, sizeof(msg), sig, n));
		ck_assert_rv(verify(&rsa, &m, di, sizeof(di), sig, n), CKR_OK);
	}
	for (size_t i = 0; i < 5; i++) {
		CK_MECHANISM m = {hashed[i].m, NULL, 0};

		n = sign(&rsa, &m, msg, sizeof(msg), sig);
		ck_assert_msg(ref_verify(rsa.ref, hashed[i].md, 0, msg, sizeof(msg), sig, n), "%s", hashed[i].md);
		ck_assert_rv(verify(&rsa, &m, msg, sizeof(msg), sig, n), CKR_OK);
		sig[0] ^= 1;
		ck_assert_rv(verify(&rsa, &m, msg, sizeof(msg), sig, n), CKR_SIGNATURE_INVALID);
	}
	{
		CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
		CK_MECHANISM raw = {CKM_RSA_PKCS_PSS, &pp, sizeof(pp)}, hm = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)};

		n = sign(&rsa, &raw, h, sizeof(h), sig);
		ck_assert(ref_verify(rsa.ref, "", RSA_PKCS1_PSS_PADDING, h, sizeof(h), sig, n));
		ck_assert_rv(verify(&rsa, &raw, h, sizeof(h), sig, n), CKR_OK);
		n = sign(&rsa, &hm, msg, sizeof(msg), sig);
		ck_assert(ref_verify(rsa.ref, "SHA256", RSA_PKCS1_PSS_PADDING, msg, sizeof(msg), sig, n));
		ck_assert_rv(verify(&rsa, &hm, msg, sizeof(msg), sig, n), CKR_OK);
	}
	{
		CK_MECHANISM m = {CKM_ECDSA, NULL, 0};

		n = sign(&ec, &m, h, sizeof(h), sig);
		ck_assert_int_eq(n, 64);
		ck_assert(ref_verify(ec.ref, "", 0, h, sizeof(h), sig, n));
		ck_assert_rv(verify(&ec, &m, h, sizeof(h), sig, n), CKR_OK);
		ck_assert_rv(verify(&ec, &m, h, sizeof(h), sig, 63), CKR_SIGNATURE_LEN_RANGE);
	}
	for (size_t i = 0; i < 5; i++) {
		CK_MECHANISM m = {ecd[i].m, NULL, 0};

		n = sign(&ec, &m, msg, sizeof(msg), sig);
		ck_assert_msg(ref_verify(ec.ref, ecd[i].md, 0, msg, sizeof(msg), sig, n), "%s", ecd[i].md);
		ck_assert_rv(verify(&ec, &m, msg, sizeof(msg), sig, n), CKR_OK);
	}
	pair_free(&rsa);
	pair_free(&ec);
}
END_TEST

/* RFC 8032 section 7.1, TEST 2. */
START_TEST(test_ed25519_known_answer)
{
	static const uint8_t sk[32] = {0x4c, 0xcd, 0x08, 0x9b, 0x28, 0xff, 0x96, 0xda, 0x9d, 0xb6, 0xc3,
				       0x46, 0xec, 0x11, 0x4e, 0x0f, 0x5b, 0x8a, 0x31, 0x9f, 0x35, 0xab,
				       0xa6, 0x24, 0xda, 0x8c, 0xf6, 0xed, 0x4f, 0xb8, 0xa6, 0xfb};
	static const uint8_t pk[32] = {0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a, 0x92, 0xb7, 0x0a,
				       0xa7, 0x4d, 0x1b, 0x7e, 0xbc, 0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4,
				       0x96, 0x8c, 0xc0, 0xcd, 0x55, 0xf1, 0x2a, 0xf4, 0x66, 0x0c};
	static const uint8_t want[64] = {
		0x92, 0xa0, 0x09, 0xa9, 0xf0, 0xd4, 0xca, 0xb8, 0x72, 0x0e, 0x82, 0x0b, 0x5f, 0x64, 0x25, 0x40,
		0xa2, 0xb2, 0x7b, 0x54, 0x16, 0x50, 0x3f, 0x8f, 0xb3, 0x76, 0x22, 0x23, 0xeb, 0xdb, 0x69, 0xda,
		0x08, 0x5a, 0xc1, 0xe4, 0x3e, 0x15, 0x99, 0x6e, 0x45, 0x8f, 0x36, 0x13, 0xd0, 0xf1, 0x1d, 0x8c,
		0x38, 0x7b, 0x2e, 0xae, 0xb4, 0x30, 0x2a, 0xee, 0xb0, 0x0d, 0x29, 0x16, 0x12, 0xbb, 0x0c, 0x00};
	const uint8_t msg[1] = {0x72};
	struct kms_attrs t = KMS_ATTRS_INIT;
	struct pair p;
	CK_MECHANISM m = {CKM_EDDSA, NULL, 0};
	uint8_t sig[64], *val = NULL;
	size_t n, vlen = 0;
	const struct kms_attr *pt;

	memset(&p, 0, sizeof(p));
	kms_attrs_set(&t, CKA_EC_PARAMS, oid_ed25519, sizeof(oid_ed25519));
	kms_attrs_set(&t, CKA_VALUE, sk, sizeof(sk));
	ck_assert_rv(e->import(inst, CKO_PRIVATE_KEY, CKK_EC_EDWARDS, &t, &p.km), CKR_OK);
	pt = kms_attrs_get(&p.km.pub, CKA_EC_POINT);
	ck_assert_int_eq(pt->len, 34);
	ck_assert_mem_eq(pt->val + 2, pk, 32);
	pair_from(&p);
	n = sign(&p, &m, msg, sizeof(msg), sig);
	ck_assert_int_eq(n, 64);
	ck_assert_mem_eq(sig, want, 64);
	ck_assert_rv(verify(&p, &m, msg, sizeof(msg), sig, n), CKR_OK);
	ck_assert(ref_verify(p.ref, NULL, 0, msg, sizeof(msg), sig, n));
	/* multi-part input is buffered and gives the same signature */
	{
		struct kms_engine_op *op = NULL;

		ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &m, p.priv, &op), CKR_OK);
		ck_assert_rv(e->op_update(op, msg, 1), CKR_OK);
		n = sizeof(sig);
		ck_assert_rv(e->op_final(op, sig, &n), CKR_OK);
		e->op_free(op);
		ck_assert_mem_eq(sig, want, 64);
	}
	ck_assert_rv(e->private_attr(p.priv, CKA_VALUE, &val, &vlen), CKR_OK);
	ck_assert_int_eq(vlen, 32);
	ck_assert_mem_eq(val, sk, 32);
	kms_free_wiped(val, vlen);
	kms_attrs_free(&t);
	pair_free(&p);
}
END_TEST

/* Imports an OpenSSL-made RSA key by components; PKCS#1 v1.5 is deterministic, so signatures match. */
START_TEST(test_rsa_import_matches_openssl)
{
	static const struct {
		CK_ATTRIBUTE_TYPE t;
		const char *p;
	} parts[] = {
		{CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N},		{CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
		{CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},	{CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},
		{CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},	{CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
		{CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2}, {CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
	};
	EVP_PKEY *ossl = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct kms_attrs t = KMS_ATTRS_INIT, tp = KMS_ATTRS_INIT;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	uint8_t msg[] = "known answer", sig1[256], sig2[256], sig3[256], buf[512], *val = NULL;
	size_t n1, n2 = sizeof(sig2), n3 = sizeof(sig3), vlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	struct kms_engine_op *op = NULL;
	struct pair p;

	ck_assert_ptr_nonnull(ossl);
	for (size_t i = 0; i < 8; i++) {
		BIGNUM *bn = NULL;
		int len;

		ck_assert_int_eq(EVP_PKEY_get_bn_param(ossl, parts[i].p, &bn), 1);
		len = BN_bn2bin(bn, buf);
		kms_attrs_set(&t, parts[i].t, buf, (size_t)len);
		if (i < 2)
			kms_attrs_set(&tp, parts[i].t, buf, (size_t)len);
		BN_clear_free(bn);
	}
	memset(&p, 0, sizeof(p));
	ck_assert_rv(e->import(inst, CKO_PRIVATE_KEY, CKK_RSA, &t, &p.km), CKR_OK);
	pair_from(&p);
	ck_assert_int_eq(EVP_PKEY_eq(p.ref, ossl), 1);
	n1 = sign(&p, &m, msg, sizeof(msg), sig1);
	ck_assert_int_eq(EVP_DigestSignInit_ex(c, NULL, "SHA256", NULL, NULL, ossl, NULL), 1);
	ck_assert_int_eq(EVP_DigestSign(c, sig2, &n2, msg, sizeof(msg)), 1);
	ck_assert_int_eq(n1, n2);
	ck_assert_mem_eq(sig1, sig2, n1);
	/* multi-part equals single-part */
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &m, p.priv, &op), CKR_OK);
	ck_assert_rv(e->op_update(op, msg, 5), CKR_OK);
	ck_assert_rv(e->op_update(op, msg + 5, sizeof(msg) - 5), CKR_OK);
	ck_assert_rv(e->op_final(op, sig3, &n3), CKR_OK);
	e->op_free(op);
	ck_assert_mem_eq(sig3, sig1, n1);
	/* private components read back */
	ck_assert_rv(e->private_attr(p.priv, CKA_PRIVATE_EXPONENT, &val, &vlen), CKR_OK);
	ck_assert_int_eq(vlen, kms_attrs_get(&t, CKA_PRIVATE_EXPONENT)->len);
	ck_assert_mem_eq(val, kms_attrs_get(&t, CKA_PRIVATE_EXPONENT)->val, vlen);
	kms_free_wiped(val, vlen);
	ck_assert_rv(e->private_attr(p.pub, CKA_PRIVATE_EXPONENT, &val, &vlen), CKR_ATTRIBUTE_TYPE_INVALID);
	/* a public import verifies what the private one signed; a missing part is incomplete */
	{
		struct pair q;

		memset(&q, 0, sizeof(q));
		ck_assert_rv(e->import(inst, CKO_PUBLIC_KEY, CKK_RSA, &tp, &q.km), CKR_OK);
		ck_assert_ptr_null(q.km.blob);
		ck_assert_rv(e->load(inst, CKO_PUBLIC_KEY, NULL, 0, &q.km.pub, &q.pub), CKR_OK);
		ck_assert_rv(verify(&q, &m, msg, sizeof(msg), sig1, n1), CKR_OK);
		e->unload(q.pub);
		kms_key_material_free(&q.km);
		kms_attrs_del(&tp, CKA_PUBLIC_EXPONENT);
		ck_assert_rv(e->import(inst, CKO_PUBLIC_KEY, CKK_RSA, &tp, &q.km), CKR_TEMPLATE_INCOMPLETE);
	}
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(ossl);
	kms_attrs_free(&t);
	kms_attrs_free(&tp);
	pair_free(&p);
}
END_TEST

START_TEST(test_ec_import_round_trip)
{
	struct pair p, q;
	struct kms_attrs t = KMS_ATTRS_INIT, tp = KMS_ATTRS_INIT;
	CK_MECHANISM m = {CKM_ECDSA_SHA384, NULL, 0};
	uint8_t *val = NULL, msg[] = "ec", sig[132];
	size_t vlen = 0, n;
	const struct kms_attr *pt;

	gen(&p, CKM_EC_KEY_PAIR_GEN, 0, oid_p384, sizeof(oid_p384));
	ck_assert_rv(e->private_attr(p.priv, CKA_VALUE, &val, &vlen), CKR_OK);
	ck_assert_int_eq(vlen, 48);
	kms_attrs_set(&t, CKA_EC_PARAMS, oid_p384, sizeof(oid_p384));
	kms_attrs_set(&t, CKA_VALUE, val, vlen);
	memset(&q, 0, sizeof(q));
	ck_assert_rv(e->import(inst, CKO_PRIVATE_KEY, CKK_EC, &t, &q.km), CKR_OK);
	pair_from(&q);
	ck_assert_int_eq(EVP_PKEY_eq(p.ref, q.ref), 1); /* the public point was derived right */
	n = sign(&q, &m, msg, sizeof(msg), sig);
	ck_assert_rv(verify(&p, &m, msg, sizeof(msg), sig, n), CKR_OK);
	/* a public key from a raw (not DER-wrapped) point */
	pt = kms_attrs_get(&p.km.pub, CKA_EC_POINT);
	kms_attrs_set(&tp, CKA_EC_PARAMS, oid_p384, sizeof(oid_p384));
	kms_attrs_set(&tp, CKA_EC_POINT, pt->val + 2, pt->len - 2);
	pair_free(&q);
	memset(&q, 0, sizeof(q));
	ck_assert_rv(e->import(inst, CKO_PUBLIC_KEY, CKK_EC, &tp, &q.km), CKR_OK);
	ck_assert_mem_eq(kms_attrs_get(&q.km.pub, CKA_EC_POINT)->val, pt->val, pt->len);
	kms_key_material_free(&q.km);
	kms_free_wiped(val, vlen);
	kms_attrs_free(&t);
	kms_attrs_free(&tp);
	pair_free(&p);
}
END_TEST

/* A bare P-384 point whose x begins with 5f reads like a DER OCTET STRING header (04 5f, 95 bytes follow): its
 * length, 97 bytes, says it is the point. (It used to be taken for a wrapper, one key in 256.) */
START_TEST(test_ec_bare_point_like_der)
{
	struct pair p, q;
	struct kms_attrs tp = KMS_ATTRS_INIT;
	const struct kms_attr *pt = NULL;
	int tries = 0;

	for (;;) {
		gen(&p, CKM_EC_KEY_PAIR_GEN, 0, oid_p384, sizeof(oid_p384));
		pt = kms_attrs_get(&p.km.pub, CKA_EC_POINT);
		ck_assert_int_eq(pt->len, 99); /* 04 61, then 04 x y */
		if (pt->val[3] == 0x5f)
			break;
		pair_free(&p);
		ck_assert_int_lt(++tries, 20000);
	}
	kms_attrs_set(&tp, CKA_EC_PARAMS, oid_p384, sizeof(oid_p384));
	kms_attrs_set(&tp, CKA_EC_POINT, pt->val + 2, pt->len - 2);
	memset(&q, 0, sizeof(q));
	ck_assert_rv(e->import(inst, CKO_PUBLIC_KEY, CKK_EC, &tp, &q.km), CKR_OK);
	ck_assert_mem_eq(kms_attrs_get(&q.km.pub, CKA_EC_POINT)->val, pt->val, pt->len);
	/* and the same point wrapped, as PKCS#11 has it */
	kms_key_material_free(&q.km);
	kms_attrs_set(&tp, CKA_EC_POINT, pt->val, pt->len);
	memset(&q, 0, sizeof(q));
	ck_assert_rv(e->import(inst, CKO_PUBLIC_KEY, CKK_EC, &tp, &q.km), CKR_OK);
	ck_assert_mem_eq(kms_attrs_get(&q.km.pub, CKA_EC_POINT)->val, pt->val, pt->len);
	kms_key_material_free(&q.km);
	kms_attrs_free(&tp);
	pair_free(&p);
}
END_TEST

START_TEST(test_oaep)
{
	static const struct {
		CK_MECHANISM_TYPE h;
		CK_RSA_PKCS_MGF_TYPE mgf;
		const char *md;
	} hs[] = {{CKM_SHA_1, CKG_MGF1_SHA1, "SHA1"}, {CKM_SHA256, CKG_MGF1_SHA256, "SHA256"}};
	uint8_t msg[] = "secret for oaep", ct[256], pt[256];
	char label[] = "kms11 label";
	struct pair p;

	gen(&p, CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, NULL, 0);
	for (size_t i = 0; i < 2; i++) {
		for (int with_label = 0; with_label < 2; with_label++) {
			CK_RSA_PKCS_OAEP_PARAMS op = {hs[i].h, hs[i].mgf, CKZ_DATA_SPECIFIED,
						      with_label ? label : NULL, with_label ? strlen(label) : 0};
			CK_MECHANISM m = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
			struct kms_engine_op *eop = NULL;
			EVP_PKEY_CTX *c;
			size_t n = sizeof(ct), k = sizeof(pt);

			/* OpenSSL encrypts, the engine decrypts */
			c = EVP_PKEY_CTX_new(p.ref, NULL);
			ck_assert_int_eq(EVP_PKEY_encrypt_init(c), 1);
			ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
			ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_oaep_md_name(c, hs[i].md, NULL), 1);
			ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md_name(c, hs[i].md, NULL), 1);
			if (with_label)
				ck_assert_int_eq(EVP_PKEY_CTX_set0_rsa_oaep_label(c, OPENSSL_strdup(label),
										  (int)strlen(label)), 1);
			ck_assert_int_eq(EVP_PKEY_encrypt(c, ct, &n, msg, sizeof(msg)), 1);
			EVP_PKEY_CTX_free(c);
			ck_assert_rv(e->op_init(inst, KMS_OP_DECRYPT, &m, p.priv, &eop), CKR_OK);
			ck_assert_rv(e->op_oneshot(eop, ct, n, pt, &k), CKR_OK);
			e->op_free(eop);
			ck_assert_int_eq(k, sizeof(msg));
			ck_assert_mem_eq(pt, msg, k);
			/* the engine encrypts and decrypts its own */
			ck_assert_rv(e->op_init(inst, KMS_OP_ENCRYPT, &m, p.pub, &eop), CKR_OK);
			n = sizeof(ct);
			ck_assert_rv(e->op_oneshot(eop, msg, sizeof(msg), ct, &n), CKR_OK);
			e->op_free(eop);
			ck_assert_rv(e->op_init(inst, KMS_OP_DECRYPT, &m, p.priv, &eop), CKR_OK);
			k = sizeof(pt);
			ck_assert_rv(e->op_oneshot(eop, ct, n, pt, &k), CKR_OK);
			e->op_free(eop);
			ck_assert_mem_eq(pt, msg, sizeof(msg));
			/* another label does not decrypt it */
			op.pSourceData = "other";
			op.ulSourceDataLen = 5;
			ck_assert_rv(e->op_init(inst, KMS_OP_DECRYPT, &m, p.priv, &eop), CKR_OK);
			k = sizeof(pt);
			ck_assert_rv(e->op_oneshot(eop, ct, n, pt, &k), CKR_ENCRYPTED_DATA_INVALID);
			ck_assert_rv(e->op_oneshot(eop, ct, n - 1, pt, &k), CKR_ENCRYPTED_DATA_LEN_RANGE);
			e->op_free(eop);
		}
	}
	pair_free(&p);
}
END_TEST

START_TEST(test_error_codes)
{
	struct pair rsa, ec;
	struct kms_engine_op *op = NULL;
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32}, pss_bad = {CKM_SHA_1, CKG_MGF1_SHA1, 20};
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0}, pss_none = {CKM_RSA_PKCS_PSS, NULL, 0};
	CK_MECHANISM pss_mism = {CKM_SHA256_RSA_PKCS_PSS, &pss_bad, sizeof(pss_bad)};
	CK_MECHANISM pss_raw = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss)}, ecdsa = {CKM_ECDSA, NULL, 0};
	CK_MECHANISM rsa_pkcs = {CKM_RSA_PKCS, NULL, 0}, junk_param = {CKM_ECDSA, &pss, sizeof(pss)};
	CK_MECHANISM oaep_none = {CKM_RSA_PKCS_OAEP, NULL, 0}, oaep_sign = {CKM_RSA_PKCS_OAEP, NULL, 0};
	uint8_t big[300] = {0}, out[512];
	size_t n = sizeof(out);

	gen(&rsa, CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, NULL, 0);
	gen(&ec, CKM_EC_KEY_PAIR_GEN, 0, oid_p256, sizeof(oid_p256));
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &sha, rsa.priv, &op), CKR_MECHANISM_INVALID);
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &oaep_sign, rsa.priv, &op), CKR_MECHANISM_INVALID);
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &pss_none, rsa.priv, &op), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &pss_mism, rsa.priv, &op), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &junk_param, ec.priv, &op), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_rv(e->op_init(inst, KMS_OP_DECRYPT, &oaep_none, rsa.priv, &op), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &ecdsa, rsa.priv, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &ecdsa, ec.pub, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_rv(e->op_init(inst, KMS_OP_VERIFY, &ecdsa, ec.priv, &op), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &pss_raw, rsa.priv, &op), CKR_OK);
	ck_assert_rv(e->op_oneshot(op, big, 20, out, &n), CKR_DATA_LEN_RANGE); /* not a SHA-256 hash */
	e->op_free(op);
	ck_assert_rv(e->op_init(inst, KMS_OP_SIGN, &rsa_pkcs, rsa.priv, &op), CKR_OK);
	n = sizeof(out);
	ck_assert_rv(e->op_oneshot(op, big, 246, out, &n), CKR_DATA_LEN_RANGE); /* more than k - 11 */
	e->op_free(op);
	ck_assert_rv(e->op_init(inst, KMS_OP_ENCRYPT, &rsa_pkcs, rsa.pub, &op), CKR_OK);
	n = sizeof(out);
	ck_assert_rv(e->op_oneshot(op, big, 250, out, &n), CKR_DATA_LEN_RANGE);
	e->op_free(op);
	ck_assert_rv(e->op_init(inst, KMS_OP_VERIFY, &rsa_pkcs, rsa.pub, &op), CKR_OK);
	ck_assert_rv(e->op_verify(op, big, 20, out, 255), CKR_SIGNATURE_LEN_RANGE);
	e->op_free(op);
	pair_free(&rsa);
	pair_free(&ec);
}
END_TEST

START_TEST(test_mechanism_table)
{
	size_t n = 0;
	const struct kms_engine_mech *m = e->mechanisms(inst, &n);
	int seen = 0;

	ck_assert_int_ge(n, 23);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_le(m[i].min_key, m[i].max_key);
		ck_assert(!(m[i].flags & CKF_HW));
		if (m[i].type == CKM_RSA_PKCS_OAEP) {
			ck_assert(m[i].flags & CKF_DECRYPT);
			ck_assert(!(m[i].flags & CKF_SIGN));
			seen++;
		}
		if (m[i].type == CKM_EC_KEY_PAIR_GEN) {
			ck_assert(m[i].flags & CKF_EC_NAMEDCURVE);
			ck_assert_int_eq(m[i].max_key, 521);
			seen++;
		}
	}
	ck_assert_int_eq(seen, 2);
	ck_assert_ptr_eq(kms_engine_find("openssl"), e);
	ck_assert_ptr_null(kms_engine_find("nope"));
}
END_TEST

int main(void)
{
	Suite *su = suite_create("engine-openssl");
	TCase *tc = tcase_create("ops");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_generate_public_attrs);
	tcase_add_test(tc, test_generate_errors);
	tcase_add_test(tc, test_sign_every_mechanism);
	tcase_add_test(tc, test_ed25519_known_answer);
	tcase_add_test(tc, test_rsa_import_matches_openssl);
	tcase_add_test(tc, test_ec_import_round_trip);
	tcase_add_test(tc, test_ec_bare_point_like_der);
	tcase_add_test(tc, test_oaep);
	tcase_add_test(tc, test_error_codes);
	tcase_add_test(tc, test_mechanism_table);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
