/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine key wrapping: AES-KW (RFC 3394), AES-KWP (RFC 5649), AES-GCM, RSA-OAEP and RSA-AES-KW. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/osslctx.h"
#include "common/mem.h"
#include "engines/openssl/ossl.h"

#define WRAP_MAX ((size_t)1 << 20) /* largest wrapped key handled */

/* The bytes a key is wrapped as: a secret key's value, a private key's PKCS#8; in secure memory. */
static CK_RV payload_of(struct kms_engine_key *key, uint8_t **out, size_t *len)
{
	PKCS8_PRIV_KEY_INFO *p8;
	uint8_t *der = NULL;
	int n;

	if (key->secret) {
		*out = kms_secure_dup(key->secret, key->size);
		*len = key->size;
		return *out ? CKR_OK : CKR_HOST_MEMORY;
	}
	if (!key->priv || !key->pkey)
		return CKR_KEY_NOT_WRAPPABLE;
	p8 = EVP_PKEY2PKCS8(key->pkey);
	if (!p8)
		return CKR_GENERAL_ERROR;
	n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (n <= 0)
		return CKR_GENERAL_ERROR;
	*out = kms_secure_dup(der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_clear_free(der, (size_t)n);
	return *out ? CKR_OK : CKR_HOST_MEMORY;
}

/* AES key wrap with kek: RFC 3394 (pad false) or RFC 5649 (pad true). *out is malloc'd on wrap, in
 * secure memory on unwrap. iv is the mechanism's optional alternative initial value. */
static CK_RV aes_kw(const uint8_t *kek, size_t keklen, bool pad, bool wrap, const CK_MECHANISM *mech,
		    const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	char name[32];
	EVP_CIPHER *c = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	const uint8_t *iv = NULL;
	uint8_t *buf;
	size_t cap = inlen + 16;
	int l = 0, fin = 0;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (mech && mech->ulParameterLen) {
		if (!mech->pParameter || mech->ulParameterLen != (pad ? 4u : 8u))
			return CKR_MECHANISM_PARAM_INVALID;
		iv = mech->pParameter;
	}
	if (wrap && !pad && (inlen % 8 || inlen < 16))
		return CKR_KEY_SIZE_RANGE;
	if (wrap && pad && inlen == 0)
		return CKR_KEY_SIZE_RANGE;
	if (!wrap && (inlen % 8 || inlen < (pad ? 16u : 24u)))
		return CKR_WRAPPED_KEY_LEN_RANGE;
	if (inlen > WRAP_MAX)
		return wrap ? CKR_KEY_SIZE_RANGE : CKR_WRAPPED_KEY_LEN_RANGE;
	snprintf(name, sizeof(name), "AES-%zu-WRAP%s", keklen * 8, pad ? "-PAD" : "");
	buf = wrap ? malloc(cap) : kms_secure_alloc(cap);
	c = EVP_CIPHER_fetch(kms_libctx(), name, NULL);
	ctx = EVP_CIPHER_CTX_new();
	if (!buf || !c || !ctx) {
		rv = buf ? CKR_GENERAL_ERROR : CKR_HOST_MEMORY;
		goto out;
	}
	if (EVP_CipherInit_ex2(ctx, c, kek, iv, wrap, NULL) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, buf, &l, in, (int)inlen) != 1 || EVP_CipherFinal_ex(ctx, buf + l, &fin) != 1) {
		rv = wrap ? CKR_GENERAL_ERROR : CKR_WRAPPED_KEY_INVALID;
		goto out;
	}
	*out = buf;
	*outlen = (size_t)(l + fin);
	buf = NULL;
	rv = CKR_OK;
out:
	if (buf) {
		if (wrap)
			free(buf);
		else
			kms_secure_free(buf);
	}
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	return rv;
}

/* Runs an engine encrypt or decrypt operation once, into malloc'd (encrypt) or secure (decrypt) memory. */
static CK_RV run_op(struct ossl_inst *in, bool sym, enum kms_op_kind kind, const CK_MECHANISM *mech,
		    struct kms_engine_key *key, const uint8_t *data, size_t len, uint8_t **out, size_t *outlen)
{
	struct kms_engine_op *op = NULL;
	uint8_t *buf = NULL;
	size_t cap;
	CK_RV rv;

	rv = sym ? ossl_sym_init(in, kind, mech, key, &op) : ossl_op_init(in, kind, mech, key, &op);
	if (rv != CKR_OK)
		return rv;
	cap = sym ? ossl_sym_outlen(op, len) : ossl_op_outlen(op, len);
	buf = kind == KMS_OP_ENCRYPT ? malloc(cap ? cap : 1) : kms_secure_alloc(cap ? cap : 1);
	if (!buf) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	*outlen = cap;
	rv = sym ? ossl_sym_oneshot(op, data, len, buf, outlen) : ossl_op_oneshot(op, data, len, buf, outlen);
	if (rv == CKR_OK) {
		*out = buf;
		buf = NULL;
	}
out:
	if (buf) {
		if (kind == KMS_OP_ENCRYPT)
			free(buf);
		else
			kms_secure_free(buf);
	}
	if (sym)
		ossl_sym_free(op);
	else
		ossl_op_free(op);
	return rv;
}

/* Maps codes of an encrypt/decrypt step to those of wrapping. */
static CK_RV wrap_code(CK_RV rv, bool wrap)
{
	switch (rv) {
	case CKR_KEY_TYPE_INCONSISTENT:
		return wrap ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT : CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
	case CKR_DATA_LEN_RANGE:
		return CKR_KEY_SIZE_RANGE;
	case CKR_ENCRYPTED_DATA_INVALID:
		return CKR_WRAPPED_KEY_INVALID;
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
		return CKR_WRAPPED_KEY_LEN_RANGE;
	default:
		return rv;
	}
}

static bool is_aes(const struct kms_engine_key *k)
{
	return k && k->secret && k->kt == CKK_AES;
}

static bool is_rsa(const struct kms_engine_key *k, bool priv)
{
	return k && k->pkey && k->kt == CKK_RSA && k->priv == priv;
}

/* The parameters of CKM_RSA_AES_KEY_WRAP and the OAEP mechanism inside it. */
static CK_RV rsa_aes_params(const CK_MECHANISM *mech, size_t *aeslen, CK_MECHANISM *oaep)
{
	const struct kms_ck_rsa_aes_key_wrap_params *p = mech->pParameter;

	if (!p || mech->ulParameterLen != sizeof(*p) || !p->pOAEPParams ||
	    (p->ulAESKeyBits != 128 && p->ulAESKeyBits != 192 && p->ulAESKeyBits != 256))
		return CKR_MECHANISM_PARAM_INVALID;
	*aeslen = p->ulAESKeyBits / 8;
	oaep->mechanism = CKM_RSA_PKCS_OAEP;
	oaep->pParameter = p->pOAEPParams;
	oaep->ulParameterLen = sizeof(CK_RSA_PKCS_OAEP_PARAMS);
	return CKR_OK;
}

/* CKM_RSA_AES_KEY_WRAP: RSA-OAEP of a fresh AES key, followed by the payload wrapped under it (RFC 5649). */
static CK_RV rsa_aes_wrap(struct ossl_inst *in, const CK_MECHANISM *mech, struct kms_engine_key *rsa,
			  const uint8_t *data, size_t len, uint8_t **out, size_t *outlen)
{
	CK_MECHANISM oaep;
	uint8_t eph[32], *rct = NULL, *kct = NULL;
	size_t aeslen, rlen = 0, klen = 0;
	CK_RV rv = rsa_aes_params(mech, &aeslen, &oaep);

	if (rv != CKR_OK)
		return rv;
	if (!kms_rand_priv(eph, aeslen))
		return CKR_FUNCTION_FAILED;
	rv = run_op(in, false, KMS_OP_ENCRYPT, &oaep, rsa, eph, aeslen, &rct, &rlen);
	if (rv == CKR_OK)
		rv = aes_kw(eph, aeslen, true, true, NULL, data, len, &kct, &klen);
	kms_wipe(eph, sizeof(eph));
	if (rv == CKR_OK) {
		*out = malloc(rlen + klen);
		if (!*out) {
			rv = CKR_HOST_MEMORY;
		} else {
			memcpy(*out, rct, rlen);
			memcpy(*out + rlen, kct, klen);
			*outlen = rlen + klen;
		}
	}
	free(rct);
	free(kct);
	return rv;
}

static CK_RV rsa_aes_unwrap(struct ossl_inst *in, const CK_MECHANISM *mech, struct kms_engine_key *rsa,
			    const uint8_t *data, size_t len, uint8_t **out, size_t *outlen)
{
	CK_MECHANISM oaep;
	uint8_t *eph = NULL;
	size_t aeslen, elen = 0;
	CK_RV rv = rsa_aes_params(mech, &aeslen, &oaep);

	if (rv != CKR_OK)
		return rv;
	if (len <= rsa->size)
		return CKR_WRAPPED_KEY_LEN_RANGE;
	rv = run_op(in, false, KMS_OP_DECRYPT, &oaep, rsa, data, rsa->size, &eph, &elen);
	if (rv != CKR_OK)
		return rv == CKR_ENCRYPTED_DATA_LEN_RANGE ? CKR_WRAPPED_KEY_INVALID : rv;
	if (elen != aeslen)
		rv = CKR_WRAPPED_KEY_INVALID;
	else
		rv = aes_kw(eph, elen, true, false, NULL, data + rsa->size, len - rsa->size, out, outlen);
	kms_secure_free(eph);
	return rv;
}

/* Whether a wrapping mechanism takes an AES key (*aes) or an RSA key; false for one this engine lacks. */
/* DES block modes wrap by encrypting the key's bytes (legacy tokens; the operation checks the key). */
static bool des_wrap(CK_MECHANISM_TYPE m)
{
	return m == CKM_DES3_ECB || m == CKM_DES3_CBC || m == CKM_DES3_CBC_PAD || m == CKM_DES_ECB ||
	       m == CKM_DES_CBC || m == CKM_DES_CBC_PAD;
}

static bool wrap_family(CK_MECHANISM_TYPE m, bool *aes)
{
	*aes = m != CKM_RSA_PKCS_OAEP && m != CKM_RSA_AES_KEY_WRAP;
	return m == CKM_AES_KEY_WRAP || m == CKM_AES_KEY_WRAP_PAD || m == CKM_AES_KEY_WRAP_KWP || m == CKM_AES_GCM ||
	       !*aes;
}

CK_RV ossl_wrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *wrapping, struct kms_engine_key *key,
		uint8_t **out, size_t *outlen)
{
	uint8_t *pl = NULL;
	size_t len = 0;
	bool aes;
	CK_RV rv;

	if (des_wrap(mech->mechanism)) {
		rv = payload_of(key, &pl, &len);
		if (rv == CKR_OK)
			rv = wrap_code(run_op(inst, true, KMS_OP_ENCRYPT, mech, wrapping, pl, len, out, outlen), true);
		kms_secure_free(pl);
		return rv;
	}
	if (!wrap_family(mech->mechanism, &aes))
		return CKR_MECHANISM_INVALID;
	if (aes ? !is_aes(wrapping) : !is_rsa(wrapping, false))
		return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	rv = payload_of(key, &pl, &len);
	if (rv != CKR_OK)
		return rv;
	switch (mech->mechanism) {
	case CKM_AES_KEY_WRAP:
		rv = aes_kw(wrapping->secret, wrapping->size, false, true, mech, pl, len, out, outlen);
		break;
	case CKM_AES_KEY_WRAP_PAD:
	case CKM_AES_KEY_WRAP_KWP:
		rv = aes_kw(wrapping->secret, wrapping->size, true, true, mech, pl, len, out, outlen);
		break;
	case CKM_AES_GCM:
		rv = wrap_code(run_op(inst, true, KMS_OP_ENCRYPT, mech, wrapping, pl, len, out, outlen), true);
		break;
	case CKM_RSA_PKCS_OAEP:
		rv = wrap_code(run_op(inst, false, KMS_OP_ENCRYPT, mech, wrapping, pl, len, out, outlen), true);
		break;
	default:
		rv = wrap_code(rsa_aes_wrap(inst, mech, wrapping, pl, len, out, outlen), true);
		break;
	}
	kms_secure_free(pl);
	return rv;
}

/* The PKCS#11 key type of a decoded private key, or CK_UNAVAILABLE_INFORMATION. */
static CK_KEY_TYPE pkey_type(EVP_PKEY *pk)
{
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		return CKK_RSA;
	case EVP_PKEY_EC:
		return CKK_EC;
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return CKK_EC_EDWARDS;
	case EVP_PKEY_X25519:
	case EVP_PKEY_X448:
		return CKK_EC_MONTGOMERY;
	default:
		return CK_UNAVAILABLE_INFORMATION;
	}
}

/* Turns an unwrapped payload into key material of class cls and type kt. */
static CK_RV material_from(struct ossl_inst *in, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, size_t value_len,
			   const uint8_t *pl, size_t len, struct kms_key_material *out)
{
	PKCS8_PRIV_KEY_INFO *p8;
	const unsigned char *q = pl;
	EVP_PKEY *pk;
	uint8_t *val;
	CK_KEY_TYPE got;
	CK_RV rv;

	if (cls == CKO_SECRET_KEY) {
		if (value_len > len)
			return CKR_TEMPLATE_INCONSISTENT;
		if (value_len)
			len = value_len;
		if (!ossl_secret_len_ok(kt, len))
			return CKR_WRAPPED_KEY_INVALID;
		val = kms_secure_dup(pl, len);
		if (!val)
			return CKR_HOST_MEMORY;
		return ossl_secret_material(in, kt, val, len, out);
	}
	if (cls != CKO_PRIVATE_KEY)
		return CKR_TEMPLATE_INCONSISTENT;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)len);
	if (!p8 || q != pl + len) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		return CKR_WRAPPED_KEY_INVALID;
	}
	pk = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (!pk)
		return CKR_WRAPPED_KEY_INVALID;
	got = pkey_type(pk);
	if (got == CK_UNAVAILABLE_INFORMATION)
		rv = CKR_WRAPPED_KEY_INVALID;
	else if (kt != CK_UNAVAILABLE_INFORMATION && kt != got)
		rv = CKR_TEMPLATE_INCONSISTENT;
	else
		rv = ossl_key_material(pk, true, out);
	if (rv == CKR_GENERAL_ERROR)
		rv = CKR_WRAPPED_KEY_INVALID; /* e.g. an EC key on a curve this engine does not hold */
	EVP_PKEY_free(pk);
	return rv;
}

CK_RV ossl_unwrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *unwrapping, CK_OBJECT_CLASS cls,
		  CK_KEY_TYPE kt, size_t value_len, const uint8_t *in, size_t inlen, const struct kms_attrs *tmpl,
		  struct kms_key_material *out)
{
	uint8_t *pl = NULL;
	size_t len = 0;
	bool aes;
	CK_RV rv;

	if (inlen > WRAP_MAX)
		return CKR_WRAPPED_KEY_LEN_RANGE;
	if (des_wrap(mech->mechanism)) {
		rv = wrap_code(run_op(inst, true, KMS_OP_DECRYPT, mech, unwrapping, in, inlen, &pl, &len), false);
		goto done;
	}
	if (!wrap_family(mech->mechanism, &aes))
		return CKR_MECHANISM_INVALID;
	if (aes ? !is_aes(unwrapping) : !is_rsa(unwrapping, true))
		return CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
	switch (mech->mechanism) {
	case CKM_AES_KEY_WRAP:
		rv = aes_kw(unwrapping->secret, unwrapping->size, false, false, mech, in, inlen, &pl, &len);
		break;
	case CKM_AES_KEY_WRAP_PAD:
	case CKM_AES_KEY_WRAP_KWP:
		rv = aes_kw(unwrapping->secret, unwrapping->size, true, false, mech, in, inlen, &pl, &len);
		break;
	case CKM_AES_GCM:
		rv = wrap_code(run_op(inst, true, KMS_OP_DECRYPT, mech, unwrapping, in, inlen, &pl, &len), false);
		break;
	case CKM_RSA_PKCS_OAEP:
		rv = wrap_code(run_op(inst, false, KMS_OP_DECRYPT, mech, unwrapping, in, inlen, &pl, &len), false);
		break;
	default:
		rv = wrap_code(rsa_aes_unwrap(inst, mech, unwrapping, in, inlen, &pl, &len), false);
		break;
	}
done:
	if (rv == CKR_OK)
		rv = material_from(inst, cls, kt, value_len, pl, len, out);
	kms_secure_free(pl);
	return rv;
}
