/* SPDX-License-Identifier: Apache-2.0 */
/* Crypto by name, as the KMS APIs offer it: sign and verify in the algorithm names of Lamassu and AWS KMS,
 * encrypt and decrypt with versioned ciphertexts, HMAC and data keys. Every operation goes through the core,
 * on the key's objects, so the lifecycle and usage rules apply as for any PKCS#11 application. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>

#include "common/mem.h"
#include "common/util.h"
#include "module/kms/kms-int.h"

/* A signing algorithm: the mechanism for a message and for a digest, the hash, and the digest length. */
static const struct salg {
	const char *name;
	CK_MECHANISM_TYPE msg_mech, hash_mech, hash;
	CK_RSA_PKCS_MGF_TYPE mgf;
	size_t hlen;
	CK_KEY_TYPE kt;
	bool pss;
	const uint8_t *prefix; /* PKCS#1 v1.5 DigestInfo prefix, for a digest input */
	size_t prefixlen;
} salgs[] = {
#define DI256 "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"
#define DI384 "\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05\x00\x04\x30"
#define DI512 "\x30\x51\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03\x05\x00\x04\x40"
	{"RSASSA_PKCS1_V1_5_SHA_256", CKM_SHA256_RSA_PKCS, CKM_RSA_PKCS, CKM_SHA256, 0, 32, CKK_RSA, false,
	 (const uint8_t *)DI256, 19},
	{"RSASSA_PKCS1_V1_5_SHA_384", CKM_SHA384_RSA_PKCS, CKM_RSA_PKCS, CKM_SHA384, 0, 48, CKK_RSA, false,
	 (const uint8_t *)DI384, 19},
	{"RSASSA_PKCS1_V1_5_SHA_512", CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS, CKM_SHA512, 0, 64, CKK_RSA, false,
	 (const uint8_t *)DI512, 19},
	{"RSASSA_PSS_SHA_256", CKM_SHA256_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32, CKK_RSA, true,
	 NULL, 0},
	{"RSASSA_PSS_SHA_384", CKM_SHA384_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48, CKK_RSA, true,
	 NULL, 0},
	{"RSASSA_PSS_SHA_512", CKM_SHA512_RSA_PKCS_PSS, CKM_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 64, CKK_RSA, true,
	 NULL, 0},
	{"ECDSA_SHA_256", CKM_ECDSA_SHA256, CKM_ECDSA, CKM_SHA256, 0, 32, CKK_EC, false, NULL, 0},
	{"ECDSA_SHA_384", CKM_ECDSA_SHA384, CKM_ECDSA, CKM_SHA384, 0, 48, CKK_EC, false, NULL, 0},
	{"ECDSA_SHA_512", CKM_ECDSA_SHA512, CKM_ECDSA, CKM_SHA512, 0, 64, CKK_EC, false, NULL, 0},
	{"ED25519", CKM_EDDSA, 0, 0, 0, 0, CKK_EC_EDWARDS, false, NULL, 0},
};

static const struct salg *salg_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(salgs) / sizeof(salgs[0]); i++)
		if (!strcasecmp(name, salgs[i].name))
			return &salgs[i];
	return NULL;
}

int kms_sign_check(const char *alg, bool hash, size_t len, struct kms_err *e)
{
	const struct salg *a = salg_find(alg);

	if (!a)
		return kms_fail(e, KMS_E_INPUT, "algorithm: '%s' is not a signing algorithm (RSASSA_PKCS1_V1_5_SHA_256, "
			       "RSASSA_PSS_SHA_256, ECDSA_SHA_256, ED25519, and the _384 and _512 forms)", alg ? alg : "");
	if (hash && !a->hlen)
		return kms_fail(e, KMS_E_INPUT, "message_type: %s signs messages only, not digests", a->name);
	if (hash && len != a->hlen)
		return kms_fail(e, KMS_E_INPUT, "message: a %s digest has %zu bytes, not %zu", a->name, a->hlen, len);
	return KMS_OK;
}

/* The key type of the key's asymmetric half, and its field size in bytes (EC). */
static CK_KEY_TYPE key_type(const struct kms_key *k, size_t *field)
{
	const char *alg;
	unsigned long kt = CK_UNAVAILABLE_INFORMATION, bits = 0;

	kms_attrs_get_ulong(kms_key_main(k), CKA_KEY_TYPE, &kt);
	kms_key_kind(kms_key_main(k), &alg, &bits);
	*field = (bits + 7) / 8;
	return kt;
}

/* Runs one single-part operation of kind on object h; *out malloc'd. */
static CK_RV run_op(struct kms_login *l, enum kms_op_kind kind, CK_MECHANISM *m, uint64_t h, const uint8_t *in,
		    size_t inlen, uint8_t **out, size_t *outlen)
{
	CK_ULONG n = 0;
	CK_RV rv = kms_op_init(l->s, kind, m, h);

	*out = NULL;
	if (rv != CKR_OK)
		return rv;
	rv = kms_op_oneshot(l->s, kind, in, inlen, NULL, &n);
	if (rv == CKR_OK) {
		*out = kms_secure_alloc(n ? n : 1);
		if (!*out) {
			kms_session_op_end(l->s, kind);
			return CKR_HOST_MEMORY;
		}
		rv = kms_op_oneshot(l->s, kind, in, inlen, *out, &n);
	}
	if (rv != CKR_OK) {
		kms_secure_free(*out);
		*out = NULL;
		return rv;
	}
	*outlen = n;
	return CKR_OK;
}

/* The mechanism of a signing algorithm for a message or a digest; the input to sign (a DigestInfo for a
 * PKCS#1 v1.5 digest) in *in, malloc'd when built. */
static int sign_setup(const struct kms_key *k, const struct salg *a, bool hash, const uint8_t *msg, size_t len,
		      CK_MECHANISM *m, CK_RSA_PKCS_PSS_PARAMS *pss, uint8_t **built, const uint8_t **in, size_t *inlen,
		      struct kms_err *e)
{
	size_t field;
	int ret = kms_sign_check(a->name, hash, len, e);

	*built = NULL;
	if (ret != KMS_OK)
		return ret;
	if (key_type(k, &field) != a->kt || (a->kt != CKK_EC_EDWARDS && !k->has_pub && !k->has_priv))
		return kms_fail(e, KMS_E_INPUT, "algorithm: %s does not fit this key", a->name);
	m->mechanism = hash ? a->hash_mech : a->msg_mech;
	m->pParameter = NULL;
	m->ulParameterLen = 0;
	if (a->pss) {
		pss->hashAlg = a->hash;
		pss->mgf = a->mgf;
		pss->sLen = a->hlen;
		m->pParameter = pss;
		m->ulParameterLen = sizeof(*pss);
	}
	*in = msg;
	*inlen = len;
	if (hash && a->prefix) {
		*built = malloc(a->prefixlen + len);
		if (!*built)
			return kms_fail(e, KMS_E_INTERNAL, "out of memory");
		memcpy(*built, a->prefix, a->prefixlen);
		memcpy(*built + a->prefixlen, msg, len);
		*in = *built;
		*inlen = a->prefixlen + len;
	}
	return KMS_OK;
}

/* ECDSA r || s (PKCS#11) to DER, and back. */
static int ecdsa_to_der(const uint8_t *rs, size_t len, uint8_t **der, size_t *derlen)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)(len / 2), NULL), *s = BN_bin2bn(rs + len / 2, (int)(len / 2), NULL);
	unsigned char *p = NULL;
	int n = -1;

	if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
		r = s = NULL;
		n = i2d_ECDSA_SIG(sig, &p);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return -1;
	*der = malloc((size_t)n);
	if (*der)
		memcpy(*der, p, (size_t)n);
	OPENSSL_free(p);
	*derlen = (size_t)n;
	return *der ? 0 : -1;
}

static int der_to_ecdsa(const uint8_t *der, size_t len, size_t field, uint8_t *rs)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	int ok;

	if (!sig || p != der + len) {
		ECDSA_SIG_free(sig);
		return -1;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, rs, (int)field) == (int)field && BN_bn2binpad(s, rs + field, (int)field) == (int)field;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

int kms_key_sign(struct kms_login *l, struct kms_key *k, const char *alg, bool hash, const uint8_t *msg, size_t len,
		 uint8_t **sig, size_t *siglen, struct kms_err *e)
{
	const struct salg *a = salg_find(alg);
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM m;
	const uint8_t *in;
	uint8_t *built = NULL, *raw = NULL;
	size_t inlen, rawlen = 0;
	CK_RV rv;
	int ret;

	*sig = NULL;
	if (!a)
		return kms_sign_check(alg, hash, len, e);
	if (!k->has_priv)
		return kms_fail(e, KMS_E_INPUT, "the key has no private key to sign with");
	ret = sign_setup(k, a, hash, msg, len, &m, &pss, &built, &in, &inlen, e);
	if (ret != KMS_OK)
		return ret;
	rv = run_op(l, KMS_OP_SIGN, &m, k->id_priv, in, inlen, &raw, &rawlen);
	free(built);
	if (rv != CKR_OK)
		return kms_fail_rv(e, "sign", rv);
	if (a->kt == CKK_EC) {
		ret = ecdsa_to_der(raw, rawlen, sig, siglen) == 0 ? KMS_OK : kms_fail(e, KMS_E_INTERNAL, "DER encoding");
		kms_secure_free(raw);
		return ret;
	}
	*sig = malloc(rawlen);
	if (*sig) {
		memcpy(*sig, raw, rawlen);
		*siglen = rawlen;
	}
	kms_secure_free(raw);
	return *sig ? KMS_OK : kms_fail(e, KMS_E_INTERNAL, "out of memory");
}

/* Verifies with the public key object h of one version; *valid set, KMS_OK unless the operation failed. */
static int verify_one(struct kms_login *l, struct kms_key *k, const struct salg *a, bool hash, const uint8_t *msg,
		      size_t len, const uint8_t *sig, size_t siglen, uint64_t h, bool *valid, struct kms_err *e)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM m;
	const uint8_t *in;
	uint8_t *built = NULL, rs[2 * 66];
	size_t inlen, field;
	CK_RV rv;
	int ret;

	*valid = false;
	ret = sign_setup(k, a, hash, msg, len, &m, &pss, &built, &in, &inlen, e);
	if (ret != KMS_OK)
		return ret;
	/* The operation starts first, so that a key that may not be used says so whatever the signature. */
	rv = kms_op_init(l->s, KMS_OP_VERIFY, &m, h);
	if (rv == CKR_OK && a->kt == CKK_EC) {
		key_type(k, &field);
		if (field > 66 || der_to_ecdsa(sig, siglen, field, rs) != 0) {
			/* Not a DER ECDSA signature of this curve: it does not verify. */
			kms_session_op_end(l->s, KMS_OP_VERIFY);
			free(built);
			return KMS_OK;
		}
		sig = rs;
		siglen = 2 * field;
	}
	if (rv == CKR_OK)
		rv = kms_op_verify(l->s, in, inlen, sig, siglen);
	free(built);
	if (rv == CKR_OK)
		*valid = true;
	else if (rv != CKR_SIGNATURE_INVALID && rv != CKR_SIGNATURE_LEN_RANGE)
		return kms_fail_rv(e, "verify", rv);
	return KMS_OK;
}

int kms_key_verify(struct kms_login *l, struct kms_key *k, const char *alg, bool hash, const uint8_t *msg, size_t len,
		   const uint8_t *sig, size_t siglen, bool *valid, struct kms_err *e)
{
	const struct salg *a = salg_find(alg);
	int ret;

	*valid = false;
	if (!a)
		return kms_sign_check(alg, hash, len, e);
	if (!k->has_pub)
		return kms_fail(e, KMS_E_INPUT, "the key has no public key to verify with");
	/* The primary version first, then the older ones, newest first: a signature made before a rotation
	 * still verifies. */
	ret = verify_one(l, k, a, hash, msg, len, sig, siglen, k->id_pub, valid, e);
	for (size_t i = k->nvers; ret == KMS_OK && !*valid && i-- > 0;)
		if (k->vers[i].id_pub && k->vers[i].id_pub != k->id_pub)
			ret = verify_one(l, k, a, hash, msg, len, sig, siglen, k->vers[i].id_pub, valid, e);
	return ret;
}

/* ---- encryption ---- */

static unsigned long key_version(const struct kms_key *k)
{
	unsigned long v = 1;

	kms_attrs_get_ulong(kms_key_main(k), CKA_KMS11_VERSION, &v);
	return v;
}

static int is_aes(const struct kms_key *k)
{
	unsigned long kt = 0;

	return k->has_sec && kms_attrs_get_ulong(&k->sec, CKA_KEY_TYPE, &kt) == 0 && kt == CKK_AES;
}

int kms_key_encrypt(struct kms_login *l, struct kms_key *k, const uint8_t *pt, size_t ptlen, const uint8_t *aad,
		    size_t aadlen, char **ct, struct kms_err *e)
{
	CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, (void *)aad, aadlen};
	uint8_t iv[12], *out = NULL, *buf = NULL;
	CK_GCM_PARAMS gcm = {iv, sizeof(iv), 96, (CK_BYTE_PTR)aad, aadlen, 128};
	CK_MECHANISM m;
	size_t outlen = 0, field;
	char prefix[40], *b64;
	uint64_t h;
	CK_RV rv;

	*ct = NULL;
	if (is_aes(k)) {
		rv = kms_random(l->s, iv, sizeof(iv));
		if (rv != CKR_OK)
			return kms_fail_rv(e, "random", rv);
		m = (CK_MECHANISM){CKM_AES_GCM, &gcm, sizeof(gcm)};
		h = k->id_sec;
	} else if (k->has_pub && key_type(k, &field) == CKK_RSA) {
		m = (CK_MECHANISM){CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
		h = k->id_pub;
	} else {
		return kms_fail(e, KMS_E_INPUT, "encrypt takes an AES or an RSA key");
	}
	rv = run_op(l, KMS_OP_ENCRYPT, &m, h, pt, ptlen, &out, &outlen);
	if (rv != CKR_OK)
		return kms_fail_rv(e, "encrypt", rv);
	if (is_aes(k)) {
		buf = malloc(sizeof(iv) + outlen);
		if (buf) {
			memcpy(buf, iv, sizeof(iv));
			memcpy(buf + sizeof(iv), out, outlen);
		}
		outlen += sizeof(iv);
	}
	b64 = kms_base64_encode(buf ? buf : out, outlen);
	kms_secure_free(out);
	free(buf);
	snprintf(prefix, sizeof(prefix), "kms11:v%lu:", key_version(k));
	if (b64 && (*ct = malloc(strlen(prefix) + strlen(b64) + 1)) != NULL) {
		strcpy(*ct, prefix);
		strcat(*ct, b64);
	}
	free(b64);
	return *ct ? KMS_OK : kms_fail(e, KMS_E_INTERNAL, "out of memory");
}

int kms_key_decrypt(struct kms_login *l, struct kms_key *k, const char *ct, const uint8_t *aad, size_t aadlen,
		    uint8_t **pt, size_t *ptlen, struct kms_err *e)
{
	CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, (void *)aad, aadlen};
	CK_GCM_PARAMS gcm = {NULL, 12, 96, (CK_BYTE_PTR)aad, aadlen, 128};
	const struct kms_kver *ver;
	CK_MECHANISM m;
	unsigned long version;
	uint8_t *raw = NULL, *out = NULL;
	size_t rawlen = 0, outlen = 0, field;
	const uint8_t *in;
	char *end;
	uint64_t h;
	CK_RV rv;

	*pt = NULL;
	if (!ct || strncmp(ct, "kms11:v", 7) != 0)
		return kms_fail(e, KMS_E_INPUT, "ciphertext: not a kms11 ciphertext (kms11:v<version>:<base64>)");
	version = strtoul(ct + 7, &end, 10);
	if (end == ct + 7 || *end != ':' || kms_base64_decode(end + 1, &raw, &rawlen) != 0)
		return kms_fail(e, KMS_E_INPUT, "ciphertext: not a kms11 ciphertext (kms11:v<version>:<base64>)");
	if (!(ver = kms_key_version(k, version))) {
		free(raw);
		return kms_fail(e, KMS_E_NOTFOUND, "ciphertext: version %lu of the key does not exist", version);
	}
	in = raw;
	if (is_aes(k)) {
		if (rawlen < 12 + 16) {
			free(raw);
			return kms_fail(e, KMS_E_INPUT, "ciphertext: too short");
		}
		gcm.pIv = raw;
		in = raw + 12;
		rawlen -= 12;
		m = (CK_MECHANISM){CKM_AES_GCM, &gcm, sizeof(gcm)};
		h = ver->id_sec;
	} else if (ver->id_priv && key_type(k, &field) == CKK_RSA) {
		m = (CK_MECHANISM){CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
		h = ver->id_priv;
	} else {
		free(raw);
		return kms_fail(e, KMS_E_INPUT, "decrypt takes an AES key or an RSA key with its private key");
	}
	rv = run_op(l, KMS_OP_DECRYPT, &m, h, in, rawlen, &out, &outlen);
	free(raw);
	if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_AEAD_DECRYPT_FAILED || rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
		return kms_fail(e, KMS_E_INPUT, "ciphertext: it does not decrypt under this key (another key, other AAD, or "
			       "damaged)");
	if (rv != CKR_OK)
		return kms_fail_rv(e, "decrypt", rv);
	*pt = out;
	*ptlen = outlen;
	return KMS_OK;
}

int kms_key_hmac(struct kms_login *l, struct kms_key *k, const uint8_t *msg, size_t len, uint8_t **mac, size_t *maclen,
		 struct kms_err *e)
{
	const char *alg;
	unsigned long bits = 0, kt = 0;
	CK_MECHANISM m = {CKM_SHA256_HMAC, NULL, 0};
	CK_RV rv;

	*mac = NULL;
	if (k->has_sec)
		kms_attrs_get_ulong(&k->sec, CKA_KEY_TYPE, &kt);
	if (!k->has_sec || kt == CKK_AES)
		return kms_fail(e, KMS_E_INPUT, "hmac takes an HMAC key");
	kms_key_kind(&k->sec, &alg, &bits);
	m.mechanism = bits >= 512 ? CKM_SHA512_HMAC : bits >= 384 ? CKM_SHA384_HMAC : CKM_SHA256_HMAC;
	rv = run_op(l, KMS_OP_SIGN, &m, k->id_sec, msg, len, mac, maclen);
	return rv == CKR_OK ? KMS_OK : kms_fail_rv(e, "hmac", rv);
}

int kms_key_data_key(struct kms_login *l, struct kms_key *k, unsigned bits, uint8_t **dk, size_t *dklen, char **ct,
		     struct kms_err *e)
{
	CK_RV rv;
	int ret;

	*dk = NULL;
	*ct = NULL;
	if (bits != 128 && bits != 192 && bits != 256 && bits != 512)
		return kms_fail(e, KMS_E_INPUT, "bits: %u is not 128, 192, 256 or 512", bits);
	*dklen = bits / 8;
	*dk = kms_secure_alloc(*dklen);
	if (!*dk)
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	rv = kms_random(l->s, *dk, *dklen);
	ret = rv == CKR_OK ? kms_key_encrypt(l, k, *dk, *dklen, NULL, 0, ct, e) : kms_fail_rv(e, "random", rv);
	if (ret != KMS_OK) {
		kms_secure_free(*dk);
		*dk = NULL;
	}
	return ret;
}

/* ---- IBM Key Protect: wrap, unwrap, rewrap ---- */

int kms_aad_check(const char *const *aad, size_t naad, struct kms_err *e)
{
	if (naad > 126)
		return kms_fail(e, KMS_E_INPUT, "aad: at most 126 strings, not %zu", naad);
	for (size_t i = 0; i < naad; i++)
		if (strlen(aad[i]) > 255)
			return kms_fail(e, KMS_E_INPUT, "aad: string %zu has %zu bytes, at most 255", i + 1, strlen(aad[i]));
	return KMS_OK;
}

/* The AAD list as the bytes bound to the ciphertext: "kms11-aad" || count || (length || bytes)... */
static int aad_bytes(const char *const *aad, size_t naad, uint8_t **out, size_t *len, struct kms_err *e)
{
	size_t total = 10, pos;
	int ret = kms_aad_check(aad, naad, e);

	*out = NULL;
	*len = 0;
	if (ret != KMS_OK || naad == 0)
		return ret;
	for (size_t i = 0; i < naad; i++)
		total += 1 + strlen(aad[i]);
	*out = malloc(total);
	if (!*out)
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	memcpy(*out, "kms11-aad", 9);
	(*out)[9] = (uint8_t)naad;
	pos = 10;
	for (size_t i = 0; i < naad; i++) {
		size_t n = strlen(aad[i]);

		(*out)[pos++] = (uint8_t)n;
		memcpy(*out + pos, aad[i], n);
		pos += n;
	}
	*len = total;
	return KMS_OK;
}

int kms_key_wrap(struct kms_login *l, struct kms_key *k, uint8_t **dk, size_t *dklen, const char *const *aad, size_t naad,
		 char **ct, unsigned long *version, struct kms_err *e)
{
	uint8_t *ab = NULL;
	size_t alen = 0;
	bool made = false;
	CK_RV rv;
	int ret;

	*ct = NULL;
	if (!is_aes(k))
		return kms_fail(e, KMS_E_INPUT, "wrap takes an AES root key");
	if ((ret = aad_bytes(aad, naad, &ab, &alen, e)) != KMS_OK)
		return ret;
	if (!*dk) {
		*dklen = 32;
		*dk = kms_secure_alloc(*dklen);
		made = true;
		rv = *dk ? kms_random(l->s, *dk, *dklen) : CKR_HOST_MEMORY;
		if (rv != CKR_OK) {
			free(ab);
			kms_secure_free(*dk);
			*dk = NULL;
			return kms_fail_rv(e, "random", rv);
		}
	}
	ret = kms_key_encrypt(l, k, *dk, *dklen, ab, alen, ct, e);
	free(ab);
	if (ret != KMS_OK && made) {
		kms_secure_free(*dk);
		*dk = NULL;
	}
	*version = key_version(k);
	return ret;
}

int kms_key_unwrap(struct kms_login *l, struct kms_key *k, const char *ct, const char *const *aad, size_t naad, uint8_t **dk,
		   size_t *dklen, unsigned long *version, struct kms_err *e)
{
	uint8_t *ab = NULL;
	size_t alen = 0;
	int ret;

	*dk = NULL;
	if (!is_aes(k))
		return kms_fail(e, KMS_E_INPUT, "unwrap takes an AES root key");
	if ((ret = aad_bytes(aad, naad, &ab, &alen, e)) != KMS_OK)
		return ret;
	ret = kms_key_decrypt(l, k, ct, ab, alen, dk, dklen, e);
	free(ab);
	if (ret == KMS_OK)
		*version = strtoul(ct + 7, NULL, 10);
	else if (ret == KMS_E_INPUT && strstr(e->msg, "does not decrypt"))
		kms_fail(e, KMS_E_INPUT, "ciphertext: it does not unwrap under this key with this AAD list (the same strings, "
			 "in the same order, as when it was wrapped)");
	return ret;
}

int kms_key_rewrap(struct kms_login *l, struct kms_key *k, const char *ct, const char *const *aad, size_t naad, char **out,
		   unsigned long *version, struct kms_err *e)
{
	uint8_t *dk = NULL;
	size_t dklen = 0;
	unsigned long from;
	int ret = kms_key_unwrap(l, k, ct, aad, naad, &dk, &dklen, &from, e);

	*out = NULL;
	if (ret == KMS_OK)
		ret = kms_key_wrap(l, k, &dk, &dklen, aad, naad, out, version, e);
	kms_secure_free(dk);
	return ret;
}
