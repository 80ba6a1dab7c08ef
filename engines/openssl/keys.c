/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine keys: generation, import from PKCS#11 components, PKCS#8 blobs and public attributes. */
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "common/osslctx.h"
#include "common/log.h"
#include "common/mem.h"
#include "engines/openssl/ossl.h"

static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
static const uint8_t oid_x25519[] = {0x06, 0x03, 0x2b, 0x65, 0x6e};
static const uint8_t oid_ed448[] = {0x06, 0x03, 0x2b, 0x65, 0x71};
static const uint8_t oid_x448[] = {0x06, 0x03, 0x2b, 0x65, 0x6f};

static const uint8_t oid_ec_public_key[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

/* The curves of generated and imported EC, Edwards and Montgomery keys: OpenSSL's NID (for Edwards and
 * Montgomery keys also their EVP_PKEY type), its algorithm and group names, the PKCS#11 key type, the OID of
 * CKA_EC_PARAMS (the curve's for EC, the algorithm's otherwise), and the field size in bytes (EC), which for
 * Edwards and Montgomery keys is also the length of the raw public and private keys. */
static const struct {
	int nid;
	const char *alg, *group;
	CK_KEY_TYPE kt;
	const uint8_t *oid;
	size_t oidlen, field;
} gens[G__COUNT] = {
	[G_P256] = {NID_X9_62_prime256v1, "EC", "P-256", CKK_EC, oid_p256, sizeof(oid_p256), 32},
	[G_P384] = {NID_secp384r1, "EC", "P-384", CKK_EC, oid_p384, sizeof(oid_p384), 48},
	[G_P521] = {NID_secp521r1, "EC", "P-521", CKK_EC, oid_p521, sizeof(oid_p521), 66},
	[G_ED25519] = {NID_ED25519, "ED25519", NULL, CKK_EC_EDWARDS, oid_ed25519, sizeof(oid_ed25519), 32},
	[G_X25519] = {NID_X25519, "X25519", NULL, CKK_EC_MONTGOMERY, oid_x25519, sizeof(oid_x25519), 32},
	[G_ED448] = {NID_ED448, "ED448", NULL, CKK_EC_EDWARDS, oid_ed448, sizeof(oid_ed448), 57},
	[G_X448] = {NID_X448, "X448", NULL, CKK_EC_MONTGOMERY, oid_x448, sizeof(oid_x448), 56},
};

/* The entry of gens for a NID, or -1. */
static int gen_kind(int nid)
{
	for (int i = 0; i < G__COUNT; i++)
		if (gens[i].nid == nid)
			return i;
	return -1;
}

/* Writes a DER length; returns the bytes used (at most 4). */
static size_t der_len(uint8_t *p, size_t n)
{
	if (n < 0x80) {
		p[0] = (uint8_t)n;
		return 1;
	}
	if (n < 0x100) {
		p[0] = 0x81;
		p[1] = (uint8_t)n;
		return 2;
	}
	p[0] = 0x82;
	p[1] = (uint8_t)(n >> 8);
	p[2] = (uint8_t)n;
	return 3;
}

/* Sets type to DER OCTET STRING { raw }. */
static int set_octet_string(struct kms_attrs *a, uint64_t type, const uint8_t *raw, size_t n)
{
	uint8_t buf[8 + 1024];
	size_t h;

	if (n > 1024)
		return -1;
	buf[0] = 0x04;
	h = 1 + der_len(buf + 1, n);
	memcpy(buf + h, raw, n);
	return kms_attrs_set(a, type, buf, h + n);
}

/* Reads a DER OCTET STRING wrapper if p is exactly one; otherwise returns p as it is. */
static const uint8_t *unwrap_octet_string(const uint8_t *p, size_t n, size_t *outlen)
{
	size_t len, h;

	if (n >= 2 && p[0] == 0x04) {
		if (p[1] < 0x80) {
			len = p[1];
			h = 2;
		} else if (p[1] == 0x81 && n >= 3) {
			len = p[2];
			h = 3;
		} else if (p[1] == 0x82 && n >= 4) {
			len = ((size_t)p[2] << 8) | p[3];
			h = 4;
		} else {
			len = 0;
			h = 0;
		}
		if (h && h + len == n) {
			*outlen = len;
			return p + h;
		}
	}
	*outlen = n;
	return p;
}

static int set_bn(struct kms_attrs *a, uint64_t type, const EVP_PKEY *pk, const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t *buf;
	int n, rc = -1;

	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
		return -1;
	n = BN_num_bytes(bn);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf) {
		BN_bn2bin(bn, buf);
		rc = kms_attrs_set(a, type, buf, (size_t)n);
		kms_free_wiped(buf, (size_t)n);
	}
	BN_clear_free(bn);
	return rc;
}

/* The curve of DER EC parameters: an OID or a PrintableString name. NID_undef when unknown;
 * *bad set when the bytes are not DER of either kind. */
static int curve_nid(const uint8_t *p, size_t n, bool *bad)
{
	char name[64];
	int nid = NID_undef;

	*bad = false;
	if (n >= 2 && p[0] == 0x06 && (size_t)p[1] + 2 == n) {
		const unsigned char *q = p;
		ASN1_OBJECT *obj = d2i_ASN1_OBJECT(NULL, &q, (long)n);

		if (!obj) {
			*bad = true;
			return NID_undef;
		}
		nid = OBJ_obj2nid(obj);
		ASN1_OBJECT_free(obj);
		return nid;
	}
	if (n >= 2 && (p[0] == 0x13 || p[0] == 0x0c) && (size_t)p[1] + 2 == n && p[1] < sizeof(name)) {
		memcpy(name, p + 2, p[1]);
		name[p[1]] = 0;
		if (!strcasecmp(name, "edwards25519") || !strcasecmp(name, "ed25519"))
			return NID_ED25519;
		if (!strcasecmp(name, "curve25519") || !strcasecmp(name, "x25519"))
			return NID_X25519;
		if (!strcasecmp(name, "edwards448") || !strcasecmp(name, "ed448"))
			return NID_ED448;
		if (!strcasecmp(name, "curve448") || !strcasecmp(name, "x448"))
			return NID_X448;
		nid = EC_curve_nist2nid(name);
		if (nid == NID_undef)
			nid = OBJ_sn2nid(name);
		if (nid == NID_undef)
			nid = OBJ_ln2nid(name);
		return nid;
	}
	*bad = true;
	return NID_undef;
}

/* The refusal of EC parameters, with its reason in the log (KMS11_DEBUG=3): CKR_DOMAIN_PARAMS_INVALID for
 * parameters that are no named curve's DER, else CKR_CURVE_NOT_SUPPORTED naming the curve. */
static CK_RV curve_refused(const uint8_t *p, size_t n, int nid, bool bad, const char *what)
{
	char oid[80] = "?";

	if (bad) {
		KMS_DBG("%s: CKA_EC_PARAMS (%zu bytes) are not a named curve (a DER OBJECT IDENTIFIER or PrintableString)",
			what, n);
		return CKR_DOMAIN_PARAMS_INVALID;
	}
	if (nid != NID_undef)
		OBJ_obj2txt(oid, sizeof(oid), OBJ_nid2obj(nid), 1);
	else if (n >= 2 && p[0] == 0x06) {
		const unsigned char *q = p;
		ASN1_OBJECT *obj = d2i_ASN1_OBJECT(NULL, &q, (long)n);

		if (obj)
			OBJ_obj2txt(oid, sizeof(oid), obj, 1);
		ASN1_OBJECT_free(obj);
	}
	KMS_DBG("%s: curve %s (%s) is not offered (P-256, P-384, P-521, Ed25519, Ed448, X25519, X448)", what,
		nid != NID_undef ? OBJ_nid2sn(nid) : "unknown", oid);
	return CKR_CURVE_NOT_SUPPORTED;
}

static bool ec_nid_ok(int nid)
{
	return nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 || nid == NID_secp521r1;
}

/* Fills the public attributes both halves of a key carry. */
static CK_RV public_attrs(EVP_PKEY *pk, struct kms_attrs *a)
{
	uint8_t *spki = NULL, buf[256];
	int spkilen;
	size_t n = 0;
	int e = 0;

	spkilen = i2d_PUBKEY(pk, &spki);
	if (spkilen <= 0)
		return CKR_GENERAL_ERROR;
	e |= kms_attrs_set(a, CKA_PUBLIC_KEY_INFO, spki, (size_t)spkilen);
	OPENSSL_free(spki);
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		e |= kms_attrs_set_ulong(a, CKA_KEY_TYPE, CKK_RSA);
		e |= set_bn(a, CKA_MODULUS, pk, OSSL_PKEY_PARAM_RSA_N);
		e |= set_bn(a, CKA_PUBLIC_EXPONENT, pk, OSSL_PKEY_PARAM_RSA_E);
		e |= kms_attrs_set_ulong(a, CKA_MODULUS_BITS, (unsigned long)EVP_PKEY_get_bits(pk));
		break;
	case EVP_PKEY_EC: {
		char group[64];
		uint8_t oid[32], *q = oid;
		ASN1_OBJECT *obj;
		int nid, olen;

		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1)
			return CKR_GENERAL_ERROR;
		nid = OBJ_sn2nid(group);
		if (nid == NID_undef)
			nid = EC_curve_nist2nid(group);
		obj = OBJ_nid2obj(nid);
		if (!obj || i2d_ASN1_OBJECT(obj, NULL) > (int)sizeof(oid))
			return CKR_GENERAL_ERROR;
		olen = i2d_ASN1_OBJECT(obj, &q);
		e |= kms_attrs_set_ulong(a, CKA_KEY_TYPE, CKK_EC);
		e |= kms_attrs_set(a, CKA_EC_PARAMS, oid, (size_t)olen);
		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof(buf), &n) != 1)
			return CKR_GENERAL_ERROR;
		e |= set_octet_string(a, CKA_EC_POINT, buf, n);
		break;
	}
	case EVP_PKEY_ED25519:
	case EVP_PKEY_X25519:
	case EVP_PKEY_ED448:
	case EVP_PKEY_X448: {
		int c = gen_kind(EVP_PKEY_get_base_id(pk));

		n = sizeof(buf);
		if (c < 0 || EVP_PKEY_get_raw_public_key(pk, buf, &n) != 1)
			return CKR_GENERAL_ERROR;
		e |= kms_attrs_set_ulong(a, CKA_KEY_TYPE, gens[c].kt);
		e |= kms_attrs_set(a, CKA_EC_PARAMS, gens[c].oid, gens[c].oidlen);
		e |= set_octet_string(a, CKA_EC_POINT, buf, n);
		break;
	}
	default:
		return CKR_GENERAL_ERROR;
	}
	return e ? CKR_HOST_MEMORY : CKR_OK;
}

/* Fills key material: public attributes and, for a private key, the PKCS#8 blob in secure memory. */
CK_RV ossl_key_material(EVP_PKEY *pk, bool priv, struct kms_key_material *out)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	uint8_t *der = NULL;
	int n;
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	rv = public_attrs(pk, &out->pub);
	if (rv != CKR_OK || !priv)
		goto out;
	rv = CKR_GENERAL_ERROR;
	p8 = EVP_PKEY2PKCS8(pk);
	if (!p8)
		goto out;
	n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	if (n <= 0)
		goto out;
	out->blob = kms_secure_dup(der, (size_t)n);
	out->blob_len = (size_t)n;
	rv = out->blob ? CKR_OK : CKR_HOST_MEMORY;
	OPENSSL_clear_free(der, (size_t)n);
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (rv != CKR_OK)
		kms_key_material_free(out);
	return rv;
}


/*
 * Generation fast path. OpenSSL 3's EVP_PKEY_Q_keygen looks the algorithm up by name (store locks) at every
 * call, and its DER encoders look their implementations up too: for an EC or Edwards key those lookups cost
 * many times the key generation itself. Contexts made once per curve are kept (OSSL_GEN_SPARES of them, taken
 * and given back atomically, so threads do not share one), and the SubjectPublicKeyInfo and PKCS#8 of
 * these keys, whose DER has a fixed shape, are written here.
 */
void ossl_gen_release(struct ossl_inst *in)
{
	for (int g = 0; g < G__COUNT; g++)
		for (int i = 0; i < OSSL_GEN_SPARES; i++) {
			EVP_PKEY_CTX_free(in->gen_spare[g][i]);
			in->gen_spare[g][i] = NULL;
		}
}

/* A key of kind g from a kept context (or a new one, kept afterwards when there is room). */
static EVP_PKEY *gen_fast(struct ossl_inst *in, int g)
{
	_Atomic(EVP_PKEY_CTX *) *slots = (_Atomic(EVP_PKEY_CTX *) *)in->gen_spare[g];
	EVP_PKEY_CTX *c = NULL;
	EVP_PKEY *pk = NULL;
	int i;

	for (i = 0; i < OSSL_GEN_SPARES && !c; i++)
		c = atomic_exchange(&slots[i], NULL);
	if (!c) {
		c = EVP_PKEY_CTX_new_from_name(kms_libctx(), gens[g].alg, NULL);
		if (!c || EVP_PKEY_keygen_init(c) != 1 ||
		    (gens[g].group && EVP_PKEY_CTX_set_group_name(c, gens[g].group) != 1)) {
			EVP_PKEY_CTX_free(c);
			return NULL;
		}
	}
	if (EVP_PKEY_keygen(c, &pk) != 1)
		pk = NULL;
	for (i = 0; i < OSSL_GEN_SPARES && c; i++) {
		EVP_PKEY_CTX *none = NULL;

		if (atomic_compare_exchange_strong(&slots[i], &none, c))
			c = NULL;
	}
	EVP_PKEY_CTX_free(c);
	return pk;
}

/* Writes tag, length and n bytes of v at o; returns the bytes written. */
static size_t tlv(uint8_t *o, uint8_t tag, const uint8_t *v, size_t n)
{
	size_t h;

	o[0] = tag;
	h = 1 + der_len(o + 1, n);
	memcpy(o + h, v, n);
	return h + n;
}

/* AlgorithmIdentifier of kind g (EC: id-ecPublicKey with the curve). */
static size_t alg_id(uint8_t *o, int g)
{
	uint8_t in[32];
	size_t n = 0;

	if (gens[g].group) {
		memcpy(in, oid_ec_public_key, sizeof(oid_ec_public_key));
		n = sizeof(oid_ec_public_key);
	}
	memcpy(in + n, gens[g].oid, gens[g].oidlen);
	return tlv(o, 0x30, in, n + gens[g].oidlen);
}

/* BIT STRING (no unused bits) of pub. */
static size_t bit_string(uint8_t *o, const uint8_t *pub, size_t n)
{
	uint8_t in[160];

	in[0] = 0;
	memcpy(in + 1, pub, n);
	return tlv(o, 0x03, in, n + 1);
}

/* Key material of a generated key of kind g: its public attributes and its PKCS#8, DER written here. The
 * buffers fit the largest case, P-521: a 133-byte point, a 66-byte scalar, an ECPrivateKey of 214 bytes. */
/* Turns a native-endian unsigned integer (OSSL_PARAM_construct_BN's layout) into big-endian, in place. */
static void native_to_big(uint8_t *b, size_t n)
{
	const uint16_t probe = 1;

	if (*(const uint8_t *)&probe == 0)
		return;
	for (size_t i = 0; i < n / 2; i++) {
		uint8_t t = b[i];

		b[i] = b[n - 1 - i];
		b[n - 1 - i] = t;
	}
}

static CK_RV fast_material(EVP_PKEY *pk, int g, struct kms_key_material *out)
{
	uint8_t pub[160], priv[80], spki[256], p8[400], body[360], inner[256], t[256];
	size_t publen = sizeof(pub), privlen = 0, n, m, k;
	int e = 0;
	CK_RV rv = CKR_GENERAL_ERROR;

	memset(out, 0, sizeof(*out));
	if (gens[g].group) {
		/* One export for both; the scalar as a native-endian integer, which needs no BIGNUM. */
		OSSL_PARAM ps[] = {OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, sizeof(pub)),
				   OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, priv, gens[g].field), OSSL_PARAM_END};

		if (EVP_PKEY_get_params(pk, ps) != 1 || !OSSL_PARAM_modified(&ps[0]) || !OSSL_PARAM_modified(&ps[1]) ||
		    ps[1].return_size > gens[g].field)
			goto out;
		publen = ps[0].return_size;
		privlen = gens[g].field;
		native_to_big(priv, privlen);
	} else {
		privlen = sizeof(priv);
		if (EVP_PKEY_get_raw_public_key(pk, pub, &publen) != 1 ||
		    EVP_PKEY_get_raw_private_key(pk, priv, &privlen) != 1)
			goto out;
	}
	/* SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING } */
	n = alg_id(body, g);
	n += bit_string(body + n, pub, publen);
	n = tlv(spki, 0x30, body, n);
	/* PrivateKeyInfo ::= SEQUENCE { version 0, algorithm, privateKey OCTET STRING } where privateKey holds,
	 * for EC, ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [1] publicKey BIT STRING }, and
	 * for the Edwards and Montgomery curves, CurvePrivateKey ::= OCTET STRING (RFC 8410). */
	if (gens[g].group) {
		k = tlv(inner, 0x02, (const uint8_t *)"\x01", 1);
		k += tlv(inner + k, 0x04, priv, privlen);
		m = bit_string(t, pub, publen);
		k += tlv(inner + k, 0xa1, t, m);
		m = tlv(t, 0x30, inner, k);
	} else {
		m = tlv(t, 0x04, priv, privlen);
	}
	k = tlv(body, 0x02, (const uint8_t *)"\x00", 1);
	k += alg_id(body + k, g);
	k += tlv(body + k, 0x04, t, m);
	k = tlv(p8, 0x30, body, k);

	e |= kms_attrs_set(&out->pub, CKA_PUBLIC_KEY_INFO, spki, n);
	e |= kms_attrs_set_ulong(&out->pub, CKA_KEY_TYPE, gens[g].kt);
	e |= kms_attrs_set(&out->pub, CKA_EC_PARAMS, gens[g].oid, gens[g].oidlen);
	e |= set_octet_string(&out->pub, CKA_EC_POINT, pub, publen);
	out->blob = e ? NULL : kms_secure_dup(p8, k);
	out->blob_len = k;
	rv = out->blob ? CKR_OK : CKR_HOST_MEMORY;
out:
	kms_wipe(priv, sizeof(priv));
	kms_wipe(inner, sizeof(inner));
	kms_wipe(t, sizeof(t));
	kms_wipe(body, sizeof(body));
	kms_wipe(p8, sizeof(p8));
	if (rv != CKR_OK)
		kms_key_material_free(out);
	return rv;
}

/* min_bits: 2048, or 1024 on a legacy token. */
static CK_RV gen_rsa(const struct kms_keygen_params *p, CK_ULONG min_bits, EVP_PKEY **pk)
{
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *e = NULL;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (p->modulus_bits < min_bits || p->modulus_bits > 16384)
		return CKR_KEY_SIZE_RANGE;
	if (p->pub_exp) {
		e = BN_bin2bn(p->pub_exp, (int)p->pub_exp_len, NULL);
		if (!e)
			return CKR_HOST_MEMORY;
		if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 64) {
			BN_free(e);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
	}
	ctx = EVP_PKEY_CTX_new_from_name(kms_libctx(), "RSA", NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)p->modulus_bits) != 1 ||
	    (e && EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) != 1) || EVP_PKEY_generate(ctx, pk) != 1)
		goto out;
	rv = CKR_OK;
out:
	BN_free(e);
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

CK_RV ossl_generate_pair(void *inst, const struct kms_keygen_params *p, struct kms_key_material *out)
{
	EVP_PKEY *pk = NULL;
	bool bad = false;
	int nid, g = -1;
	CK_RV rv = CKR_OK;

	switch (p->mech) {
	case CKM_RSA_PKCS_KEY_PAIR_GEN:
		rv = gen_rsa(p, ((struct ossl_inst *)inst)->legacy ? 1024 : 2048, &pk);
		break;
	case CKM_EC_KEY_PAIR_GEN:
		nid = curve_nid(p->ec_params, p->ec_params_len, &bad);
		if (bad || !ec_nid_ok(nid))
			return curve_refused(p->ec_params, p->ec_params_len, nid, bad, "EC key pair generation");
		g = gen_kind(nid);
		break;
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
	case CKM_EC_MONTGOMERY_KEY_PAIR_GEN: {
		bool ed = p->mech == CKM_EC_EDWARDS_KEY_PAIR_GEN;

		nid = curve_nid(p->ec_params, p->ec_params_len, &bad);
		if (bad || (ed ? nid != NID_ED25519 && nid != NID_ED448 : nid != NID_X25519 && nid != NID_X448))
			return curve_refused(p->ec_params, p->ec_params_len, nid, bad,
					     ed ? "Edwards key pair generation" : "Montgomery key pair generation");
		g = gen_kind(nid);
		break;
	}
	default:
		return CKR_MECHANISM_INVALID;
	}
	if (g >= 0) {
		pk = gen_fast(inst, g);
		rv = pk ? fast_material(pk, g, out) : CKR_GENERAL_ERROR;
	} else if (rv == CKR_OK) {
		rv = ossl_key_material(pk, true, out);
	}
	EVP_PKEY_free(pk);
	return rv;
}

/* A big-endian integer into a BIGNUM in the secure heap: OpenSSL's parameter builder then keeps it in
 * its secure block, wiped when the parameters are freed. NULL when out of memory. */
static BIGNUM *secret_bn(const uint8_t *v, size_t len)
{
	BIGNUM *bn = BN_secure_new();

	if (bn && !BN_bin2bn(v, (int)len, bn)) {
		BN_clear_free(bn);
		bn = NULL;
	}
	return bn;
}

/* Adds a big-endian integer attribute to a parameter builder (in secure memory: some are private). */
static int bld_bn(OSSL_PARAM_BLD *b, const char *name, const struct kms_attrs *t, CK_ATTRIBUTE_TYPE type,
		  BIGNUM **keep)
{
	const struct kms_attr *a = kms_attrs_get(t, type);

	if (!a || !a->len)
		return 0;
	*keep = secret_bn(a->val, a->len);
	if (!*keep || OSSL_PARAM_BLD_push_BN(b, name, *keep) != 1)
		return -1;
	return 1;
}

/* Builds a key from parameters: CKR_ATTRIBUTE_VALUE_INVALID when OpenSSL refuses them. */
static CK_RV from_params(const char *alg, OSSL_PARAM_BLD *b, CK_OBJECT_CLASS cls, EVP_PKEY **pk)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(kms_libctx(), alg, NULL);
	CK_RV rv = CKR_HOST_MEMORY;

	if (params && ctx) {
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		if (EVP_PKEY_fromdata_init(ctx) == 1 &&
		    EVP_PKEY_fromdata(ctx, pk, cls == CKO_PRIVATE_KEY ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
				      params) == 1)
			rv = CKR_OK;
	}
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

/* min_priv: the smallest private key taken, in bits (2048; 1024 on a legacy token). Public keys from 1024 bits
 * are taken everywhere: verifying an old signature needs no legacy token. */
static CK_RV import_rsa(CK_OBJECT_CLASS cls, const struct kms_attrs *t, int min_priv, EVP_PKEY **pk)
{
	static const struct {
		CK_ATTRIBUTE_TYPE type;
		const char *name;
	} parts[] = {
		{CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N},
		{CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
		{CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},
		{CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},
		{CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},
		{CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
		{CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
		{CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
	};
	size_t need = cls == CKO_PRIVATE_KEY ? 3 : 2, nparts = cls == CKO_PRIVATE_KEY ? 8 : 2;
	BIGNUM *bn[8] = {0};
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	int crt = 0, r;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!b)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < nparts; i++) {
		r = bld_bn(b, parts[i].name, t, parts[i].type, &bn[i]);
		if (r < 0)
			goto out;
		if (r == 0 && i < need) {
			rv = CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
		crt += i >= 3 && r == 1;
	}
	if (crt != 0 && crt != 5) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	rv = from_params("RSA", b, cls, pk);
	if (rv != CKR_OK)
		goto out;
	if (EVP_PKEY_get_bits(*pk) < (cls == CKO_PRIVATE_KEY ? min_priv : 1024) || EVP_PKEY_get_bits(*pk) > 16384) {
		EVP_PKEY_free(*pk);
		*pk = NULL;
		rv = CKR_KEY_SIZE_RANGE;
		goto out;
	}
	rv = CKR_OK;
out:
	for (size_t i = 0; i < 8; i++)
		BN_clear_free(bn[i]);
	OSSL_PARAM_BLD_free(b);
	return rv;
}

/* The public point of private scalar d on curve nid, uncompressed, into buf. */
static size_t ec_public_from_private(int nid, const BIGNUM *d, uint8_t *buf, size_t len)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name_ex(kms_libctx(), NULL, nid);
	EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
	size_t n = 0;

	if (pt && EC_POINT_mul(g, pt, d, NULL, NULL, NULL) == 1)
		n = EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, buf, len, NULL);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return n;
}

/* CKA_EC_POINT is DER OCTET STRING { point }, though some applications give the bare point. A bare point on a
 * curve of field size f is 1 + 2f bytes (04 x y) or 1 + f (02 or 03, x): a wrapped point never has that length,
 * while a bare one may begin like a wrapper (04 5f ... on P-384, when x begins with 5f). So the length decides. */
static const uint8_t *ec_point_unwrap(int nid, const uint8_t *p, size_t n, size_t *len)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name_ex(kms_libctx(), NULL, nid);
	size_t f = g ? ((size_t)EC_GROUP_get_degree(g) + 7) / 8 : 0;

	EC_GROUP_free(g);
	if (f && n > 0 && ((n == 1 + 2 * f && (p[0] == 0x04 || p[0] == 0x06 || p[0] == 0x07)) ||
			   (n == 1 + f && (p[0] == 0x02 || p[0] == 0x03)))) {
		*len = n;
		return p;
	}
	return unwrap_octet_string(p, n, len);
}

static CK_RV import_ec(CK_OBJECT_CLASS cls, const struct kms_attrs *t, EVP_PKEY **pk)
{
	const struct kms_attr *par = kms_attrs_get(t, CKA_EC_PARAMS);
	const struct kms_attr *val = kms_attrs_get(t, cls == CKO_PRIVATE_KEY ? CKA_VALUE : CKA_EC_POINT);
	OSSL_PARAM_BLD *b = NULL;
	BIGNUM *d = NULL;
	uint8_t point[256];
	const uint8_t *raw;
	size_t rawlen, plen = 0;
	bool bad;
	int nid;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!par || !val || !val->len)
		return CKR_TEMPLATE_INCOMPLETE;
	nid = curve_nid(par->val, par->len, &bad);
	if (bad || !ec_nid_ok(nid))
		return curve_refused(par->val, par->len, nid, bad, "EC key import");
	b = OSSL_PARAM_BLD_new();
	if (!b || OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0) != 1)
		goto out;
	if (cls == CKO_PRIVATE_KEY) {
		d = secret_bn(val->val, val->len);
		if (!d)
			goto out;
		plen = ec_public_from_private(nid, d, point, sizeof(point));
		if (!plen) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			goto out;
		}
		if (OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
		    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, plen) != 1)
			goto out;
	} else {
		raw = ec_point_unwrap(nid, val->val, val->len, &rawlen);
		if (OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, raw, rawlen) != 1)
			goto out;
	}
	rv = from_params("EC", b, cls, pk);
out:
	BN_clear_free(d);
	OSSL_PARAM_BLD_free(b);
	return rv;
}

/* Edwards (Ed25519, Ed448) and Montgomery (X25519, X448) keys of type kt from raw values. */
static CK_RV import_raw(CK_OBJECT_CLASS cls, const struct kms_attrs *t, CK_KEY_TYPE kt, EVP_PKEY **pk)
{
	const struct kms_attr *par = kms_attrs_get(t, CKA_EC_PARAMS);
	const struct kms_attr *val = kms_attrs_get(t, cls == CKO_PRIVATE_KEY ? CKA_VALUE : CKA_EC_POINT);
	const uint8_t *raw;
	size_t rawlen;
	bool bad;
	int c, nid;

	if (!par || !val)
		return CKR_TEMPLATE_INCOMPLETE;
	nid = curve_nid(par->val, par->len, &bad);
	c = gen_kind(nid);
	if (c < 0 || gens[c].kt != kt)
		return curve_refused(par->val, par->len, nid, bad, "Edwards or Montgomery key import");
	raw = cls == CKO_PRIVATE_KEY ? val->val : unwrap_octet_string(val->val, val->len, &rawlen);
	if (cls == CKO_PRIVATE_KEY)
		rawlen = val->len;
	if (!raw || rawlen != gens[c].field)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*pk = cls == CKO_PRIVATE_KEY
		      ? EVP_PKEY_new_raw_private_key_ex(kms_libctx(), OBJ_nid2sn(gens[c].nid), NULL, raw, rawlen)
		      : EVP_PKEY_new_raw_public_key_ex(kms_libctx(), OBJ_nid2sn(gens[c].nid), NULL, raw, rawlen);
	return *pk ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

CK_RV ossl_import(void *inst, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, const struct kms_attrs *tmpl,
		  struct kms_key_material *out)
{
	EVP_PKEY *pk = NULL;
	CK_RV rv;

	if (cls == CKO_SECRET_KEY)
		return ossl_secret_import(inst, kt, tmpl, out);
	if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	switch (kt) {
	case CKK_RSA:
		rv = import_rsa(cls, tmpl, ((struct ossl_inst *)inst)->legacy ? 1024 : 2048, &pk);
		break;
	case CKK_EC:
		rv = import_ec(cls, tmpl, &pk);
		break;
	case CKK_EC_EDWARDS:
	case CKK_EC_MONTGOMERY:
		rv = import_raw(cls, tmpl, kt, &pk);
		break;
	default:
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	if (rv == CKR_OK)
		rv = ossl_key_material(pk, cls == CKO_PRIVATE_KEY, out);
	EVP_PKEY_free(pk);
	return rv;
}

CK_RV ossl_load(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len, const struct kms_attrs *pub,
		struct kms_engine_key **out)
{
	struct kms_engine_key *k;
	const unsigned char *p;
	EVP_PKEY *pk = NULL;
	bool legacy = false;

	(void)inst;
	if (cls == CKO_SECRET_KEY)
		return ossl_secret_load(blob, blob_len, pub, out);
	if (cls == CKO_PRIVATE_KEY) {
		if (!blob)
			return CKR_GENERAL_ERROR;
		pk = ossl_rsa_private_load(blob, blob_len);
		legacy = pk != NULL;
		if (!pk) {
			p = blob;
			pk = d2i_AutoPrivateKey_ex(NULL, &p, (long)blob_len, kms_libctx(), NULL);
		}
	} else {
		const struct kms_attr *spki = kms_attrs_get(pub, CKA_PUBLIC_KEY_INFO);

		if (!spki || !spki->len)
			return CKR_GENERAL_ERROR;
		p = spki->val;
		pk = d2i_PUBKEY_ex(NULL, &p, (long)spki->len, kms_libctx(), NULL);
	}
	if (!pk)
		return CKR_GENERAL_ERROR;
	k = calloc(1, sizeof(*k));
	if (!k) {
		EVP_PKEY_free(pk);
		return CKR_HOST_MEMORY;
	}
	k->pkey = pk;
	k->priv = cls == CKO_PRIVATE_KEY;
	k->legacy = legacy;
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		k->kt = CKK_RSA;
		k->size = (size_t)EVP_PKEY_get_size(pk);
		break;
	case EVP_PKEY_EC:
		k->kt = CKK_EC;
		k->size = ((size_t)EVP_PKEY_get_bits(pk) + 7) / 8;
		break;
	case EVP_PKEY_ED25519:
	case EVP_PKEY_X25519:
	case EVP_PKEY_ED448:
	case EVP_PKEY_X448: {
		int c = gen_kind(EVP_PKEY_get_base_id(pk));

		k->kt = gens[c].kt;
		k->size = gens[c].field;
		break;
	}
	default:
		ossl_unload(k);
		return CKR_GENERAL_ERROR;
	}
	*out = k;
	return CKR_OK;
}

void ossl_unload(struct kms_engine_key *key)
{
	if (!key)
		return;
	ossl_secret_clear(key);
	EVP_PKEY_CTX_free(key->sign_spare[0]);
	EVP_PKEY_CTX_free(key->sign_spare[1]);
	EVP_MD_CTX_free(key->eddsa_spare);
	EVP_PKEY_free(key->pkey);
	free(key);
}

CK_RV ossl_private_attr(struct kms_engine_key *key, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	const char *param = NULL;
	CK_RV rv = CKR_ATTRIBUTE_TYPE_INVALID;

	if (key->secret)
		return ossl_secret_attr(key, type, val, len);
	if (!key->priv)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (key->kt == CKK_RSA) {
		switch (type) {
		case CKA_PRIVATE_EXPONENT:
			param = OSSL_PKEY_PARAM_RSA_D;
			break;
		case CKA_PRIME_1:
			param = OSSL_PKEY_PARAM_RSA_FACTOR1;
			break;
		case CKA_PRIME_2:
			param = OSSL_PKEY_PARAM_RSA_FACTOR2;
			break;
		case CKA_EXPONENT_1:
			param = OSSL_PKEY_PARAM_RSA_EXPONENT1;
			break;
		case CKA_EXPONENT_2:
			param = OSSL_PKEY_PARAM_RSA_EXPONENT2;
			break;
		case CKA_COEFFICIENT:
			param = OSSL_PKEY_PARAM_RSA_COEFFICIENT1;
			break;
		default:
			return CKR_ATTRIBUTE_TYPE_INVALID;
		}
		if (set_bn(&a, type, key->pkey, param) != 0)
			return CKR_ATTRIBUTE_TYPE_INVALID;
	} else if (key->kt == CKK_EC && type == CKA_VALUE) {
		BIGNUM *d = NULL;
		uint8_t buf[80];

		if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
			return CKR_GENERAL_ERROR;
		if (BN_bn2binpad(d, buf, (int)key->size) < 0 || kms_attrs_set(&a, type, buf, key->size) != 0)
			rv = CKR_GENERAL_ERROR;
		BN_clear_free(d);
		kms_wipe(buf, sizeof(buf));
		if (rv == CKR_GENERAL_ERROR)
			return rv;
	} else if ((key->kt == CKK_EC_EDWARDS || key->kt == CKK_EC_MONTGOMERY) && type == CKA_VALUE) {
		uint8_t buf[64];
		size_t n = sizeof(buf);

		if (EVP_PKEY_get_raw_private_key(key->pkey, buf, &n) != 1 || kms_attrs_set(&a, type, buf, n) != 0)
			rv = CKR_GENERAL_ERROR;
		kms_wipe(buf, sizeof(buf));
		if (rv == CKR_GENERAL_ERROR)
			return rv;
	} else {
		return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	/* Hand the value over: the list's buffer becomes the caller's. */
	*val = a.v[0].val;
	*len = a.v[0].len;
	a.v[0].val = NULL;
	a.v[0].len = 0;
	kms_attrs_free(&a);
	return CKR_OK;
}
