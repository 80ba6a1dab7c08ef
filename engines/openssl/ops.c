/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine operations: RSA, ECDSA and EdDSA sign and verify, RSA encrypt and decrypt. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "common/osslctx.h"
#include "common/mem.h"
#include "engines/openssl/ossl.h"

#define RAW_MAX (1u << 20) /* data buffered for single-part mechanisms used in parts */

enum mech_form { M_RAW, M_HASH };

struct kms_engine_op {
	struct ossl_op_head head; /* sym false: calloc leaves it so */
	enum kms_op_kind kind;
	CK_MECHANISM_TYPE mech;
	struct kms_engine_key *key;
	enum mech_form form;
	int padding;           /* RSA padding mode */
	const EVP_MD *md;      /* hash of a hash-and-sign mechanism, PSS or OAEP hash */
	const EVP_MD *mgf1;    /* PSS / OAEP MGF1 hash */
	int salt;              /* PSS salt length */
	uint8_t *label;        /* OAEP label (OPENSSL_malloc'd) */
	size_t label_len;
	EVP_MD_CTX *mdctx;     /* streaming hash-and-sign */
	uint8_t *buf;          /* buffered data for M_RAW multi-part */
	size_t buf_len, buf_cap;
};

/* Digest length of a CKM_SHA* mechanism (as a hash algorithm parameter), 0 when unknown. */
static CK_MECHANISM_TYPE hash_of(CK_MECHANISM_TYPE mech)
{
	switch (mech) {
	case CKM_SHA1_RSA_PKCS:
	case CKM_SHA1_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA1:
		return CKM_SHA_1;
	case CKM_SHA224_RSA_PKCS:
	case CKM_SHA224_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA224:
		return CKM_SHA224;
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA256:
		return CKM_SHA256;
	case CKM_SHA384_RSA_PKCS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA384:
		return CKM_SHA384;
	case CKM_SHA512_RSA_PKCS:
	case CKM_SHA512_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA512:
		return CKM_SHA512;
	default:
		return 0;
	}
}

static bool is_pss(CK_MECHANISM_TYPE m)
{
	return m == CKM_RSA_PKCS_PSS || m == CKM_SHA1_RSA_PKCS_PSS || m == CKM_SHA224_RSA_PKCS_PSS ||
	       m == CKM_SHA256_RSA_PKCS_PSS || m == CKM_SHA384_RSA_PKCS_PSS || m == CKM_SHA512_RSA_PKCS_PSS;
}

/* The key type a mechanism needs, 0 for an unknown mechanism. */
static CK_KEY_TYPE key_type_of(CK_MECHANISM_TYPE m, enum kms_op_kind kind)
{
	bool sv = kind == KMS_OP_SIGN || kind == KMS_OP_VERIFY;

	switch (m) {
	case CKM_RSA_PKCS:
	case CKM_RSA_X_509:
		return CKK_RSA;
	case CKM_RSA_PKCS_OAEP:
		return sv ? (CK_KEY_TYPE)-1 : CKK_RSA;
	case CKM_ECDSA:
	case CKM_ECDSA_SHA1:
	case CKM_ECDSA_SHA224:
	case CKM_ECDSA_SHA256:
	case CKM_ECDSA_SHA384:
	case CKM_ECDSA_SHA512:
		return sv ? CKK_EC : (CK_KEY_TYPE)-1;
	case CKM_EDDSA:
		return sv ? CKK_EC_EDWARDS : (CK_KEY_TYPE)-1;
	default:
		if (hash_of(m) || is_pss(m))
			return sv ? CKK_RSA : (CK_KEY_TYPE)-1;
		return (CK_KEY_TYPE)-1;
	}
}

static CK_RV pss_params(struct ossl_inst *in, const CK_MECHANISM *mech, struct kms_engine_op *op)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = mech->pParameter;
	CK_MECHANISM_TYPE want = hash_of(mech->mechanism);

	if (!p || mech->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	op->md = ossl_md_for_mech(in, p->hashAlg);
	op->mgf1 = ossl_md_for_mgf(in, p->mgf);
	if (!op->md || !op->mgf1 || (want && want != p->hashAlg) || p->sLen > (CK_ULONG)op->key->size)
		return CKR_MECHANISM_PARAM_INVALID;
	op->salt = (int)p->sLen;
	op->padding = RSA_PKCS1_PSS_PADDING;
	return CKR_OK;
}

static CK_RV oaep_params(struct ossl_inst *in, const CK_MECHANISM *mech, struct kms_engine_op *op)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = mech->pParameter;

	if (!p || mech->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	op->md = ossl_md_for_mech(in, p->hashAlg);
	op->mgf1 = ossl_md_for_mgf(in, p->mgf);
	if (!op->md || !op->mgf1)
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->source != CKZ_DATA_SPECIFIED && !(p->source == 0 && !p->ulSourceDataLen))
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulSourceDataLen) {
		if (!p->pSourceData)
			return CKR_MECHANISM_PARAM_INVALID;
		op->label = OPENSSL_memdup(p->pSourceData, p->ulSourceDataLen);
		if (!op->label)
			return CKR_HOST_MEMORY;
		op->label_len = p->ulSourceDataLen;
	}
	op->padding = RSA_PKCS1_OAEP_PADDING;
	return CKR_OK;
}

/* CK_EDDSA_PARAMS: absent, or pure EdDSA (phFlag false, no context): Ed25519, and Ed448 with its empty
 * context. The prehash and context variants (Ed25519ph, Ed25519ctx, Ed448ph, a non-empty context) need
 * OpenSSL 3.2's EdDSA instances and are CKR_MECHANISM_PARAM_INVALID with OpenSSL 3.0. */
static CK_RV eddsa_params(const CK_MECHANISM *mech)
{
	const struct kms_ck_eddsa_params *p = mech->pParameter;

	if (!mech->pParameter && !mech->ulParameterLen)
		return CKR_OK;
	if (!p || mech->ulParameterLen != sizeof(*p) || p->phFlag || p->ulContextDataLen)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

/* Starts a streaming hash-and-sign or verify context. */
static CK_RV start_digest(struct kms_engine_op *op)
{
	EVP_PKEY_CTX *pctx = NULL;
	int rc;

	op->mdctx = EVP_MD_CTX_new();
	if (!op->mdctx)
		return CKR_HOST_MEMORY;
	if (op->key->legacy)
		/* An RSA key of kms11's own method runs through OpenSSL's legacy code, which would look a digest
		 * given by name up in the application's context: hand it the digest fetched from kms11's. */
		rc = op->kind == KMS_OP_SIGN ? EVP_DigestSignInit(op->mdctx, &pctx, op->md, NULL, op->key->pkey)
					     : EVP_DigestVerifyInit(op->mdctx, &pctx, op->md, NULL, op->key->pkey);
	else if (op->kind == KMS_OP_SIGN)
		rc = EVP_DigestSignInit_ex(op->mdctx, &pctx, op->md ? EVP_MD_get0_name(op->md) : NULL, kms_libctx(), NULL,
					    op->key->pkey, NULL);
	else
		rc = EVP_DigestVerifyInit_ex(op->mdctx, &pctx, op->md ? EVP_MD_get0_name(op->md) : NULL, kms_libctx(),
					      NULL, op->key->pkey, NULL);
	if (rc != 1)
		return CKR_GENERAL_ERROR;
	if (op->padding == RSA_PKCS1_PSS_PADDING &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, op->mgf1) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, op->salt) != 1))
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

CK_RV ossl_op_init(void *vinst, enum kms_op_kind kind, const CK_MECHANISM *mech, struct kms_engine_key *key,
		   struct kms_engine_op **out)
{
	struct ossl_inst *in = vinst;
	struct kms_engine_op *op;
	CK_KEY_TYPE kt = key_type_of(mech->mechanism, kind);
	CK_RV rv = CKR_OK;

	if (kt == (CK_KEY_TYPE)-1 || kind == KMS_OP_DIGEST)
		return CKR_MECHANISM_INVALID;
	if (!key || key->kt != kt || key->priv != (kind == KMS_OP_SIGN || kind == KMS_OP_DECRYPT))
		return CKR_KEY_TYPE_INCONSISTENT;
	op = calloc(1, sizeof(*op));
	if (!op)
		return CKR_HOST_MEMORY;
	op->kind = kind;
	op->mech = mech->mechanism;
	op->key = key;
	op->form = hash_of(mech->mechanism) ? M_HASH : M_RAW;
	op->padding = mech->mechanism == CKM_RSA_X_509 ? RSA_NO_PADDING : RSA_PKCS1_PADDING;
	if (op->form == M_HASH)
		op->md = ossl_md_for_mech(in, hash_of(mech->mechanism));
	if (is_pss(mech->mechanism))
		rv = pss_params(in, mech, op);
	else if (mech->mechanism == CKM_RSA_PKCS_OAEP)
		rv = oaep_params(in, mech, op);
	else if (mech->mechanism == CKM_EDDSA)
		rv = eddsa_params(mech);
	else if (mech->pParameter || mech->ulParameterLen)
		rv = CKR_MECHANISM_PARAM_INVALID;
	if (rv == CKR_OK && op->form == M_HASH)
		rv = start_digest(op);
	if (rv != CKR_OK) {
		ossl_op_free(op);
		return rv;
	}
	*out = op;
	return CKR_OK;
}

void ossl_op_free(struct kms_engine_op *op)
{
	if (!op)
		return;
	EVP_MD_CTX_free(op->mdctx);
	OPENSSL_free(op->label);
	kms_free_wiped(op->buf, op->buf_cap);
	free(op);
}

size_t ossl_op_outlen(struct kms_engine_op *op, size_t inlen)
{
	(void)inlen;
	switch (op->key->kt) {
	case CKK_EC:
		return 2 * op->key->size;
	case CKK_EC_EDWARDS:
		return 2 * op->key->size; /* Ed25519: 64, Ed448: 114 */
	default:
		return op->key->size;
	}
}

CK_RV ossl_op_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen)
{
	int rc;

	if (op->kind == KMS_OP_ENCRYPT || op->kind == KMS_OP_DECRYPT)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (op->form == M_HASH) {
		rc = op->kind == KMS_OP_SIGN ? EVP_DigestSignUpdate(op->mdctx, in, inlen)
					     : EVP_DigestVerifyUpdate(op->mdctx, in, inlen);
		return rc == 1 ? CKR_OK : CKR_GENERAL_ERROR;
	}
	if (inlen > RAW_MAX - op->buf_len)
		return CKR_DATA_LEN_RANGE;
	if (op->buf_len + inlen > op->buf_cap) {
		size_t cap = op->buf_len + inlen < 256 ? 256 : 2 * (op->buf_len + inlen);
		uint8_t *nb = malloc(cap);

		if (!nb)
			return CKR_HOST_MEMORY;
		if (op->buf_len)
			memcpy(nb, op->buf, op->buf_len);
		kms_free_wiped(op->buf, op->buf_cap);
		op->buf = nb;
		op->buf_cap = cap;
	}
	if (inlen)
		memcpy(op->buf + op->buf_len, in, inlen);
	op->buf_len += inlen;
	return CKR_OK;
}

/* One DER INTEGER of an ECDSA signature at *p (before end), as a non-negative number of at most half bytes,
 * written right-aligned into out[half]; advances *p. */
static bool der_uint(const uint8_t **p, const uint8_t *end, size_t half, uint8_t *out)
{
	const uint8_t *q = *p;
	size_t len;

	if (end - q < 2 || q[0] != 0x02 || q[1] >= 0x80 || (size_t)(end - q - 2) < q[1] || q[1] == 0)
		return false;
	len = q[1];
	q += 2;
	if (q[0] & 0x80)
		return false; /* negative */
	while (len > 1 && q[0] == 0) {
		q++;
		len--;
	}
	if (len > half)
		return false;
	memset(out, 0, half - len);
	memcpy(out + half - len, q, len);
	*p = q + len;
	return true;
}

/* ECDSA: DER signature to r||s, each padded to the field size. Read here rather than with d2i_ECDSA_SIG,
 * whose BIGNUMs cost a fair part of a signature. */
static CK_RV ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t half, uint8_t *out, size_t *outlen)
{
	const uint8_t *p = der, *end = der + len;
	size_t body;

	if (len < 2 || p[0] != 0x30)
		return CKR_GENERAL_ERROR;
	if (p[1] < 0x80) {
		body = p[1];
		p += 2;
	} else if (p[1] == 0x81 && len >= 3) {
		body = p[2];
		p += 3;
	} else {
		return CKR_GENERAL_ERROR;
	}
	if ((size_t)(end - p) != body || !der_uint(&p, end, half, out) || !der_uint(&p, end, half, out + half) ||
	    p != end)
		return CKR_GENERAL_ERROR;
	*outlen = 2 * half;
	return CKR_OK;
}

/* ECDSA: r||s to DER (malloc'd). */
static CK_RV ecdsa_raw_to_der(const uint8_t *raw, size_t len, size_t half, uint8_t **der, size_t *derlen)
{
	ECDSA_SIG *sig;
	BIGNUM *r, *s;
	int n;

	if (len != 2 * half)
		return CKR_SIGNATURE_LEN_RANGE;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, (int)half, NULL);
	s = BN_bin2bn(raw + half, (int)half, NULL);
	if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		return CKR_HOST_MEMORY;
	}
	*der = NULL;
	n = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return CKR_GENERAL_ERROR;
	*derlen = (size_t)n;
	return CKR_OK;
}

/* Sets up an EVP_PKEY_CTX for the raw mechanisms and RSA encryption. */
static CK_RV raw_ctx(struct kms_engine_op *op, EVP_PKEY_CTX **out)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(kms_libctx(), op->key->pkey, NULL);
	int rc;

	if (!c)
		return CKR_HOST_MEMORY;
	switch (op->kind) {
	case KMS_OP_SIGN:
		rc = EVP_PKEY_sign_init(c);
		break;
	case KMS_OP_VERIFY:
		rc = EVP_PKEY_verify_init(c);
		break;
	case KMS_OP_ENCRYPT:
		rc = EVP_PKEY_encrypt_init(c);
		break;
	default:
		rc = EVP_PKEY_decrypt_init(c);
		break;
	}
	if (rc == 1 && op->key->kt == CKK_RSA) {
		rc = EVP_PKEY_CTX_set_rsa_padding(c, op->padding);
		if (rc == 1 && op->padding == RSA_PKCS1_PSS_PADDING)
			rc = EVP_PKEY_CTX_set_signature_md(c, op->md) == 1 &&
			     EVP_PKEY_CTX_set_rsa_mgf1_md(c, op->mgf1) == 1 &&
			     EVP_PKEY_CTX_set_rsa_pss_saltlen(c, op->salt) == 1;
		if (rc == 1 && op->padding == RSA_PKCS1_OAEP_PADDING) {
			rc = EVP_PKEY_CTX_set_rsa_oaep_md(c, op->md) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(c, op->mgf1) == 1;
			if (rc == 1 && op->label) {
				uint8_t *l = OPENSSL_memdup(op->label, op->label_len);

				rc = l && EVP_PKEY_CTX_set0_rsa_oaep_label(c, l, (int)op->label_len) == 1;
				if (rc != 1)
					OPENSSL_free(l);
			}
		}
	}
	if (rc != 1) {
		EVP_PKEY_CTX_free(c);
		return CKR_GENERAL_ERROR;
	}
	*out = c;
	return CKR_OK;
}

/* Checks the input length of a raw mechanism. */
static CK_RV raw_len_ok(struct kms_engine_op *op, size_t inlen)
{
	size_t k = op->key->size;

	if (op->key->kt != CKK_RSA)
		return CKR_OK;
	if (op->kind == KMS_OP_DECRYPT)
		return inlen == k ? CKR_OK : CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (op->padding == RSA_PKCS1_PSS_PADDING)
		return inlen == (size_t)EVP_MD_get_size(op->md) ? CKR_OK : CKR_DATA_LEN_RANGE;
	if (op->padding == RSA_PKCS1_OAEP_PADDING)
		return inlen + 2 * (size_t)EVP_MD_get_size(op->md) + 2 <= k ? CKR_OK : CKR_DATA_LEN_RANGE;
	if (op->padding == RSA_NO_PADDING)
		return inlen <= k ? CKR_OK : CKR_DATA_LEN_RANGE;
	return inlen + 11 <= k ? CKR_OK : CKR_DATA_LEN_RANGE;
}

/* CKM_RSA_X_509 works on whole blocks: data shorter than the modulus is taken with zero bytes in
 * front (PKCS#11 2.40 §2.1.9). blk has room for the modulus length; returns the block length. */
static size_t raw_block(const struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *blk)
{
	size_t k = op->key->size;

	memset(blk, 0, k - inlen);
	memcpy(blk + (k - inlen), in, inlen);
	return k;
}

/* CKM_RSA_X_509 verification: the signature's public-key image, a whole block, against the data
 * taken as a block. CKR_SIGNATURE_INVALID also for a signature not below the modulus. */
static CK_RV raw_x509_verify(struct kms_engine_op *op, EVP_PKEY_CTX *c, const uint8_t *data, size_t len,
			     const uint8_t *sig, size_t siglen)
{
	size_t k = op->key->size, n = k;
	uint8_t *img = malloc(k), *blk = malloc(k);
	CK_RV rv = CKR_HOST_MEMORY;

	if (img && blk) {
		raw_block(op, data, len, blk);
		rv = EVP_PKEY_verify_recover_init(c) == 1 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING) == 1 &&
				     EVP_PKEY_verify_recover(c, img, &n, sig, siglen) == 1 && n == k &&
				     CRYPTO_memcmp(img, blk, k) == 0
			     ? CKR_OK
			     : CKR_SIGNATURE_INVALID;
	}
	free(img);
	free(blk);
	return rv;
}

/* The slot of op's key whose kept signing context op may use: 0 or 1, -1 when it keeps none (verification,
 * encryption, PSS and OAEP, whose contexts carry parameters). */
static int spare_slot(const struct kms_engine_op *op)
{
	if (op->kind != KMS_OP_SIGN)
		return -1;
	if (op->key->kt == CKK_EC)
		return 0;
	if (op->key->kt == CKK_RSA && op->padding == RSA_PKCS1_PADDING)
		return 0;
	if (op->key->kt == CKK_RSA && op->padding == RSA_NO_PADDING)
		return 1;
	return -1;
}

/* A context for op's raw operation: the key's kept one when it has one, else a new one. */
static CK_RV ctx_take(struct kms_engine_op *op, EVP_PKEY_CTX **c)
{
	int slot = spare_slot(op);

	*c = slot < 0 ? NULL : atomic_exchange((_Atomic(EVP_PKEY_CTX *) *)&op->key->sign_spare[slot], NULL);
	return *c ? CKR_OK : raw_ctx(op, c);
}

/* Keeps c for the key's next signature when op's kind allows it and the slot is free; frees it otherwise. */
static void ctx_give(struct kms_engine_op *op, EVP_PKEY_CTX *c)
{
	int slot = spare_slot(op);
	EVP_PKEY_CTX *none = NULL;

	if (c && slot >= 0 &&
	    atomic_compare_exchange_strong((_Atomic(EVP_PKEY_CTX *) *)&op->key->sign_spare[slot], &none, c))
		return;
	EVP_PKEY_CTX_free(c);
}

/* EdDSA signing of in: the key's kept digest-sign context (one-shot EVP_DigestSign may be repeated on it),
 * or a new one, kept afterwards when the slot is free. */
static CK_RV eddsa_sign(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	_Atomic(EVP_MD_CTX *) *slot = (_Atomic(EVP_MD_CTX *) *)&op->key->eddsa_spare;
	EVP_MD_CTX *m = atomic_exchange(slot, NULL), *none = NULL;
	size_t n = *outlen;
	int rc = 1;

	if (!m) {
		m = EVP_MD_CTX_new();
		rc = m && EVP_DigestSignInit_ex(m, NULL, NULL, kms_libctx(), NULL, op->key->pkey, NULL) == 1;
	}
	rc = rc && EVP_DigestSign(m, out, &n, in, inlen) == 1;
	if (!rc || !atomic_compare_exchange_strong(slot, &none, m))
		EVP_MD_CTX_free(m);
	if (!rc)
		return CKR_FUNCTION_FAILED;
	*outlen = n;
	return CKR_OK;
}

/* Signs, encrypts or decrypts in one step with the raw mechanisms. */
static CK_RV raw_run(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	EVP_PKEY_CTX *c = NULL;
	uint8_t der[160];
	size_t n;
	int rc;
	CK_RV rv;

	rv = raw_len_ok(op, inlen);
	if (rv != CKR_OK)
		return rv;
	if (op->key->kt == CKK_EC_EDWARDS)
		return eddsa_sign(op, in, inlen, out, outlen);
	rv = ctx_take(op, &c);
	if (rv != CKR_OK)
		return rv;
	if (op->kind == KMS_OP_SIGN && op->key->kt == CKK_EC) {
		n = sizeof(der);
		rc = EVP_PKEY_sign(c, der, &n, in, inlen);
		rv = rc == 1 ? ecdsa_der_to_raw(der, n, op->key->size, out, outlen) : CKR_FUNCTION_FAILED;
	} else {
		uint8_t *blk = NULL;

		if (op->padding == RSA_NO_PADDING && op->kind != KMS_OP_DECRYPT) {
			blk = kms_secure_alloc(op->key->size);
			if (!blk) {
				EVP_PKEY_CTX_free(c);
				return CKR_HOST_MEMORY;
			}
			inlen = raw_block(op, in, inlen, blk);
			in = blk;
		}
		n = *outlen;
		if (op->kind == KMS_OP_SIGN)
			rc = EVP_PKEY_sign(c, out, &n, in, inlen);
		else if (op->kind == KMS_OP_ENCRYPT)
			rc = EVP_PKEY_encrypt(c, out, &n, in, inlen);
		else
			rc = EVP_PKEY_decrypt(c, out, &n, in, inlen);
		if (rc == 1)
			*outlen = n;
		kms_secure_free(blk);
		if (rc != 1 && op->padding == RSA_NO_PADDING && op->kind != KMS_OP_DECRYPT)
			rv = CKR_DATA_INVALID; /* the only way a bare RSA operation fails: a block not below n */
		else
			rv = rc == 1 ? CKR_OK : op->kind == KMS_OP_DECRYPT ? CKR_ENCRYPTED_DATA_INVALID : CKR_FUNCTION_FAILED;
	}
	if (rv == CKR_OK)
		ctx_give(op, c);
	else
		EVP_PKEY_CTX_free(c); /* a context that failed is not kept */
	return rv;
}

/* Ends a hash-and-sign: the signature in the PKCS#11 form. */
static CK_RV hash_sign_final(struct kms_engine_op *op, uint8_t *out, size_t *outlen)
{
	uint8_t der[160];
	size_t n;

	if (op->key->kt == CKK_EC) {
		n = sizeof(der);
		if (EVP_DigestSignFinal(op->mdctx, der, &n) != 1)
			return CKR_FUNCTION_FAILED;
		return ecdsa_der_to_raw(der, n, op->key->size, out, outlen);
	}
	n = *outlen;
	if (EVP_DigestSignFinal(op->mdctx, out, &n) != 1)
		return CKR_FUNCTION_FAILED;
	*outlen = n;
	return CKR_OK;
}

CK_RV ossl_op_oneshot(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	if (op->form == M_RAW)
		return raw_run(op, in, inlen, out, outlen);
	if (op->key->kt == CKK_RSA) {
		size_t n = *outlen;

		/* One call, as a raw EVP_DigestSign user would make it. */
		if (EVP_DigestSign(op->mdctx, out, &n, in, inlen) != 1)
			return CKR_FUNCTION_FAILED;
		*outlen = n;
		return CKR_OK;
	}
	if (EVP_DigestSignUpdate(op->mdctx, in, inlen) != 1)
		return CKR_FUNCTION_FAILED;
	return hash_sign_final(op, out, outlen);
}

CK_RV ossl_op_final(struct kms_engine_op *op, uint8_t *out, size_t *outlen)
{
	if (op->kind != KMS_OP_SIGN)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (op->form == M_RAW)
		return raw_run(op, op->buf, op->buf_len, out, outlen);
	return hash_sign_final(op, out, outlen);
}

/* Checks a signature in the PKCS#11 form against data (raw) or the streamed digest (hash). */
static CK_RV verify(struct kms_engine_op *op, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
	uint8_t *der = NULL;
	size_t derlen = siglen;
	const uint8_t *s = sig;
	EVP_PKEY_CTX *c = NULL;
	int rc;
	CK_RV rv;

	if (siglen != ossl_op_outlen(op, len))
		return CKR_SIGNATURE_LEN_RANGE;
	if (op->key->kt == CKK_EC) {
		rv = ecdsa_raw_to_der(sig, siglen, op->key->size, &der, &derlen);
		if (rv != CKR_OK)
			return rv;
		s = der;
	}
	if (op->form == M_HASH) {
		rc = EVP_DigestVerifyFinal(op->mdctx, s, derlen);
	} else if (op->key->kt == CKK_EC_EDWARDS) {
		EVP_MD_CTX *m = EVP_MD_CTX_new();

		rc = m && EVP_DigestVerifyInit_ex(m, NULL, NULL, kms_libctx(), NULL, op->key->pkey, NULL) == 1 ?
			     EVP_DigestVerify(m, s, derlen, data, len) : -1;
		EVP_MD_CTX_free(m);
	} else {
		rv = op->key->kt == CKK_RSA && op->padding == RSA_PKCS1_PSS_PADDING ? raw_len_ok(op, len) : CKR_OK;
		if (rv != CKR_OK) {
			OPENSSL_free(der);
			return rv;
		}
		if (op->key->kt == CKK_RSA && op->padding == RSA_NO_PADDING && len > op->key->size)
			return CKR_DATA_LEN_RANGE;
		rv = raw_ctx(op, &c);
		if (rv != CKR_OK) {
			OPENSSL_free(der);
			return rv;
		}
		if (op->padding == RSA_NO_PADDING && op->key->kt == CKK_RSA) {
			rv = raw_x509_verify(op, c, data, len, s, derlen);
			EVP_PKEY_CTX_free(c);
			return rv;
		}
		rc = EVP_PKEY_verify(c, s, derlen, data, len);
		EVP_PKEY_CTX_free(c);
	}
	OPENSSL_free(der);
	return rc == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
}

CK_RV ossl_op_verify(struct kms_engine_op *op, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
	if (op->form == M_HASH && EVP_DigestVerifyUpdate(op->mdctx, data, len) != 1)
		return CKR_FUNCTION_FAILED;
	return verify(op, data, len, sig, siglen);
}

CK_RV ossl_op_verify_final(struct kms_engine_op *op, const uint8_t *sig, size_t siglen)
{
	return verify(op, op->buf, op->buf_len, sig, siglen);
}
