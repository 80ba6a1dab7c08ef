/* SPDX-License-Identifier: Apache-2.0 */
/* The pkcs11 engine's operations: each holds one pooled backend session from init to its end and forwards the
 * mechanism and its parameters unchanged; public-key operations run in the openssl engine; ECDSA with a hash
 * hashes in kms11's library context and signs the hash with the backend's CKM_ECDSA. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/osslctx.h"
#include "engines/pkcs11/p11.h"

struct p11_op {
	struct p11_inst *in;
	enum kms_op_kind kind;
	CK_MECHANISM_TYPE mech;
	struct p11_key *key;
	struct kms_engine_op *soft; /* a public-key operation, run by the openssl engine */
	CK_SESSION_HANDLE s;
	bool have_s, active;
	EVP_MD_CTX *md;             /* ECDSA with a hash: the hash kms11 computes */
	bool oaep_raw;              /* OAEP the backend lacks: its raw RSA, then kms11's decoding */
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	uint8_t *label;
	size_t tag;                 /* AES-GCM: the tag's bytes */
	size_t fed, emitted;        /* multi-part encryption and decryption: bytes in and out so far */
	bool multi;
};

/* The hashes kms11 knows, with the mechanisms and MGF named after each. */
static const struct p11_hash p11_hashes[] = {
	{"SHA1", 20, CKM_SHA_1, CKM_ECDSA_SHA1, CKM_SHA_1_HMAC, CKG_MGF1_SHA1},
	{"SHA224", 28, CKM_SHA224, CKM_ECDSA_SHA224, CKM_SHA224_HMAC, CKG_MGF1_SHA224},
	{"SHA256", 32, CKM_SHA256, CKM_ECDSA_SHA256, CKM_SHA256_HMAC, CKG_MGF1_SHA256},
	{"SHA384", 48, CKM_SHA384, CKM_ECDSA_SHA384, CKM_SHA384_HMAC, CKG_MGF1_SHA384},
	{"SHA512", 64, CKM_SHA512, CKM_ECDSA_SHA512, CKM_SHA512_HMAC, CKG_MGF1_SHA512},
};

/* The hashes fetched once from kms11's process-long library context, so that no operation fetches one. */
#define P11_NHASH (sizeof(p11_hashes) / sizeof(p11_hashes[0]))
static EVP_MD *p11_mds[P11_NHASH];
static pthread_once_t p11_mds_once = PTHREAD_ONCE_INIT;

static void p11_mds_fetch(void)
{
	for (size_t i = 0; i < P11_NHASH; i++)
		p11_mds[i] = EVP_MD_fetch(kms_libctx(), p11_hashes[i].name, NULL);
}

const EVP_MD *p11_hash_md(const struct p11_hash *h)
{
	pthread_once(&p11_mds_once, p11_mds_fetch);
	return p11_mds[h - p11_hashes];
}

const struct p11_hash *p11_hash_of(enum p11_hash_by by, CK_ULONG v)
{
	for (size_t i = 0; i < sizeof(p11_hashes) / sizeof(p11_hashes[0]); i++) {
		const struct p11_hash *h = &p11_hashes[i];

		if ((by == P11_BY_HASH && h->hash == v) || (by == P11_BY_ECDSA && h->ecdsa == v) ||
		    (by == P11_BY_HMAC && h->hmac == v) || (by == P11_BY_MGF && h->mgf == v))
			return h;
	}
	return NULL;
}

size_t p11_hash_len(CK_MECHANISM_TYPE m)
{
	const struct p11_hash *h = p11_hash_of(P11_BY_HASH, m);

	return h ? h->len : 0;
}

/* Output size of an HMAC or CMAC signature. */
static size_t mac_len(CK_MECHANISM_TYPE m)
{
	const struct p11_hash *h = p11_hash_of(P11_BY_HMAC, m);

	return m == CKM_AES_CMAC ? 16 : h ? h->len : 64;
}

/* What the caller sees of a backend code: a lost session or device is the device's failure, not a kms11
 * session handle the caller got wrong. */
static CK_RV rv_out(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_TOKEN_NOT_RECOGNIZED:
		return CKR_DEVICE_ERROR;
	case CKR_TOKEN_NOT_PRESENT:
		return CKR_DEVICE_REMOVED;
	case CKR_OBJECT_HANDLE_INVALID:
		return CKR_KEY_HANDLE_INVALID;
	default:
		return rv;
	}
}

static CK_RV backend_init(struct p11_op *op, const CK_MECHANISM *mech, CK_OBJECT_HANDLE h)
{
	CK_FUNCTION_LIST *f = op->in->f;
	CK_MECHANISM m = *mech;

	if (op->md)
		m = (CK_MECHANISM){CKM_ECDSA, NULL, 0};
	if (op->oaep_raw)
		m = (CK_MECHANISM){CKM_RSA_X_509, NULL, 0};
	switch (op->kind) {
	case KMS_OP_SIGN:
		return f->C_SignInit(op->s, &m, h);
	case KMS_OP_VERIFY:
		return f->C_VerifyInit(op->s, &m, h);
	case KMS_OP_ENCRYPT:
		return f->C_EncryptInit(op->s, &m, h);
	case KMS_OP_DECRYPT:
		return f->C_DecryptInit(op->s, &m, h);
	case KMS_OP_DIGEST:
		return f->C_DigestInit(op->s, &m);
	default:
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
}

/* Takes a session and starts the backend's operation; once more on a fresh session when the first was lost. */
static CK_RV start(struct p11_op *op, const CK_MECHANISM *mech)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv = CKR_OK;

	for (int attempt = 0; attempt < 2; attempt++) {
		rv = p11_session_get(op->in, &op->s);
		if (rv != CKR_OK)
			return rv_out(rv);
		if (op->key)
			rv = p11_key_handle(op->in, op->s, op->key, &h);
		if (rv == CKR_OK)
			rv = backend_init(op, mech, h);
		if (rv == CKR_OK) {
			op->have_s = op->active = true;
			return CKR_OK;
		}
		p11_session_put(op->in, op->s, rv);
		if (!p11_rv_lost(rv) && rv != CKR_OBJECT_HANDLE_INVALID && rv != CKR_KEY_HANDLE_INVALID)
			break;
		if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID) {
			if (!op->key)
				break;
			__atomic_store_n(&op->key->epoch, 0, __ATOMIC_RELEASE); /* find it again */
		}
	}
	return rv_out(rv);
}

static CK_RV done(struct p11_op *op, CK_RV rv);

/* OAEP decryption with parameters other than SHA-1 (which every backend has): kms11 decodes it. */
static CK_RV oaep_setup(struct p11_op *op, const CK_MECHANISM *mech)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = mech->pParameter;

	if (!p || mech->ulParameterLen != sizeof(*p) || !p11_oaep_params_ok(p))
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->hashAlg == CKM_SHA_1 && p->mgf == CKG_MGF1_SHA1 && !p->ulSourceDataLen)
		return CKR_OK;
	op->oaep_raw = true;
	op->oaep = *p;
	if (p->ulSourceDataLen) {
		op->label = malloc(p->ulSourceDataLen);
		if (!op->label)
			return CKR_HOST_MEMORY;
		memcpy(op->label, p->pSourceData, p->ulSourceDataLen);
		op->oaep.pSourceData = op->label;
	}
	return CKR_OK;
}

/* The backend's raw RSA of in, then the OAEP decoding into out. */
static CK_RV oaep_decrypt(struct p11_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	size_t k = op->key->siglen ? op->key->siglen : 2048;
	uint8_t *em = kms_secure_alloc(k);
	CK_ULONG el = k;
	CK_RV rv;

	if (!em)
		return done(op, CKR_HOST_MEMORY);
	rv = op->in->f->C_Decrypt(op->s, (CK_BYTE_PTR)in, inlen, em, &el);
	rv = done(op, rv);
	if (rv == CKR_OK)
		rv = p11_oaep_unpad(&op->oaep, em, el, out, outlen);
	kms_secure_free(em);
	return rv;
}

CK_RV p11_op_init(void *inst, enum kms_op_kind kind, const CK_MECHANISM *mech, struct kms_engine_key *key,
		  struct kms_engine_op **out)
{
	struct p11_inst *in = inst;
	struct p11_key *k = (struct p11_key *)key;
	struct p11_op *op;
	const struct p11_hash *hash;
	CK_RV rv;

	op = calloc(1, sizeof(*op));
	if (!op)
		return CKR_HOST_MEMORY;
	op->in = in;
	op->kind = kind;
	op->mech = mech->mechanism;
	op->key = k;
	if (k && k->soft) {
		rv = kms_engine_openssl.op_init(in->soft, kind, mech, k->soft, &op->soft);
		if (rv != CKR_OK) {
			free(op);
			return rv;
		}
		*out = (struct kms_engine_op *)op;
		return CKR_OK;
	}
	hash = p11_hash_of(P11_BY_ECDSA, mech->mechanism);
	if (hash && kind == KMS_OP_SIGN) {
		const EVP_MD *md = p11_hash_md(hash);

		op->md = EVP_MD_CTX_new();
		if (!md || !op->md || !EVP_DigestInit_ex(op->md, md, NULL)) {
			p11_op_free((struct kms_engine_op *)op);
			return CKR_HOST_MEMORY;
		}
	}
	if (mech->mechanism == CKM_AES_GCM) {
		const CK_GCM_PARAMS *gp = mech->pParameter;

		if (!gp || mech->ulParameterLen != sizeof(*gp)) {
			p11_op_free((struct kms_engine_op *)op);
			return CKR_MECHANISM_PARAM_INVALID;
		}
		op->tag = gp->ulTagBits / 8;
	}
	if (mech->mechanism == CKM_RSA_PKCS_OAEP && kind == KMS_OP_DECRYPT && k && k->cls == CKO_PRIVATE_KEY) {
		rv = oaep_setup(op, mech);
		if (rv != CKR_OK) {
			p11_op_free((struct kms_engine_op *)op);
			return rv;
		}
	}
	rv = start(op, mech);
	if (rv != CKR_OK) {
		p11_op_free((struct kms_engine_op *)op);
		return rv;
	}
	*out = (struct kms_engine_op *)op;
	return CKR_OK;
}

/* Output of a secret-key encryption (enc) or decryption of n bytes: exact for a whole message, an upper bound
 * for the end of a multi-part one. */
static size_t cipher_len(const struct p11_op *op, bool enc, size_t n)
{
	if (op->multi)
		n = op->fed - op->emitted + n;
	switch (op->mech) {
	case CKM_AES_GCM:
		return enc ? n + op->tag : (n >= op->tag ? n - op->tag : 0);
	case CKM_AES_CBC_PAD:
		return enc ? (n / 16 + 1) * 16 : n;
	default:
		return n;
	}
}

size_t p11_op_outlen(struct kms_engine_op *vop, size_t inlen)
{
	struct p11_op *op = (struct p11_op *)vop;

	if (op->soft)
		return kms_engine_openssl.op_outlen(op->soft, inlen);
	switch (op->kind) {
	case KMS_OP_SIGN:
		if (op->key && op->key->cls == CKO_PRIVATE_KEY)
			return op->key->siglen;
		return mac_len(op->mech);
	case KMS_OP_DIGEST:
		return p11_hash_len(op->mech);
	case KMS_OP_DECRYPT:
		if (op->key && op->key->cls == CKO_PRIVATE_KEY)
			return op->key->siglen;
		return cipher_len(op, false, inlen);
	default:
		return cipher_len(op, true, inlen);
	}
}

/* Ends the backend's operation state after a final call (anything but a too-small buffer ends it). */
static CK_RV done(struct p11_op *op, CK_RV rv)
{
	if (rv != CKR_BUFFER_TOO_SMALL)
		op->active = false;
	/* A failed GCM tag check is CKR_ENCRYPTED_DATA_INVALID; some backends (SoftHSMv2 2.6) answer it with
	 * CKR_GENERAL_ERROR. Either way nothing is released, and the caller sees the same code on every engine. */
	if (op->kind == KMS_OP_DECRYPT && op->mech == CKM_AES_GCM &&
	    (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED)) {
		KMS_INFO("token '%s': the backend answered %s to a GCM decryption: taken as a failed tag check",
			 op->in->label, p11_rv_name(rv));
		rv = CKR_ENCRYPTED_DATA_INVALID;
	}
	if (p11_rv_lost(rv)) {
		KMS_ERR("token '%s': the backend failed during an operation: %s", op->in->label, p11_rv_name(rv));
		p11_session_put(op->in, op->s, rv);
		op->have_s = false;
	}
	return rv_out(rv);
}

CK_RV p11_op_update(struct kms_engine_op *vop, const uint8_t *data, size_t len)
{
	struct p11_op *op = (struct p11_op *)vop;
	CK_FUNCTION_LIST *f = op->in->f;
	CK_RV rv;

	if (op->soft)
		return kms_engine_openssl.op_update(op->soft, data, len);
	if (op->md)
		return EVP_DigestUpdate(op->md, data, len) ? CKR_OK : CKR_FUNCTION_FAILED;
	if (!op->have_s)
		return CKR_DEVICE_ERROR;
	switch (op->kind) {
	case KMS_OP_SIGN:
		rv = f->C_SignUpdate(op->s, (CK_BYTE_PTR)data, len);
		break;
	case KMS_OP_VERIFY:
		rv = f->C_VerifyUpdate(op->s, (CK_BYTE_PTR)data, len);
		break;
	case KMS_OP_DIGEST:
		rv = f->C_DigestUpdate(op->s, (CK_BYTE_PTR)data, len);
		break;
	default:
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	return rv == CKR_OK ? CKR_OK : done(op, rv);
}

/* Signs the hash kms11 computed with the backend's CKM_ECDSA. */
static CK_RV sign_hash(struct p11_op *op, uint8_t *out, size_t *outlen)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	CK_ULONG ol = *outlen;
	CK_RV rv;

	if (!EVP_DigestFinal_ex(op->md, h, &hl))
		return CKR_FUNCTION_FAILED;
	rv = op->in->f->C_Sign(op->s, h, hl, out, &ol);
	*outlen = ol;
	return done(op, rv);
}

CK_RV p11_op_final(struct kms_engine_op *vop, uint8_t *out, size_t *outlen)
{
	struct p11_op *op = (struct p11_op *)vop;
	CK_FUNCTION_LIST *f = op->in->f;
	CK_ULONG ol = *outlen;
	CK_RV rv;

	if (op->soft)
		return kms_engine_openssl.op_final(op->soft, out, outlen);
	if (!op->have_s)
		return CKR_DEVICE_ERROR;
	if (op->md)
		return sign_hash(op, out, outlen);
	switch (op->kind) {
	case KMS_OP_SIGN:
		rv = f->C_SignFinal(op->s, out, &ol);
		break;
	case KMS_OP_DIGEST:
		rv = f->C_DigestFinal(op->s, out, &ol);
		break;
	case KMS_OP_ENCRYPT:
		rv = f->C_EncryptFinal(op->s, out, &ol);
		break;
	case KMS_OP_DECRYPT:
		rv = f->C_DecryptFinal(op->s, out, &ol);
		break;
	default:
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	*outlen = ol;
	return done(op, rv);
}

/* A backend may ask for room for the whole ciphertext before it decrypts (SoftHSMv2 does, for GCM): decrypt into
 * a buffer that large, then hand over what fits (the core gave room for the plaintext). */
static CK_RV decrypt_via(struct p11_op *op, const uint8_t *data, size_t len, uint8_t *out, size_t *outlen)
{
	CK_ULONG tl = len + 16;
	uint8_t *tmp = kms_secure_alloc(tl);
	CK_RV rv;

	if (!tmp)
		return done(op, CKR_HOST_MEMORY);
	rv = done(op, op->in->f->C_Decrypt(op->s, (CK_BYTE_PTR)data, len, tmp, &tl));
	if (rv == CKR_OK && tl > *outlen)
		rv = CKR_GENERAL_ERROR; /* more plaintext than the mechanism allows: the backend misbehaved */
	if (rv == CKR_OK) {
		memcpy(out, tmp, tl);
		*outlen = tl;
	}
	kms_wipe(tmp, len + 16);
	kms_secure_free(tmp);
	return rv;
}

CK_RV p11_op_oneshot(struct kms_engine_op *vop, const uint8_t *data, size_t len, uint8_t *out, size_t *outlen)
{
	struct p11_op *op = (struct p11_op *)vop;
	CK_FUNCTION_LIST *f = op->in->f;
	CK_ULONG ol = *outlen;
	CK_RV rv;

	if (op->soft)
		return kms_engine_openssl.op_oneshot(op->soft, data, len, out, outlen);
	if (!op->have_s)
		return CKR_DEVICE_ERROR;
	if (op->md) {
		if (!EVP_DigestUpdate(op->md, data, len))
			return CKR_FUNCTION_FAILED;
		return sign_hash(op, out, outlen);
	}
	if (op->oaep_raw)
		return oaep_decrypt(op, data, len, out, outlen);
	switch (op->kind) {
	case KMS_OP_SIGN:
		rv = f->C_Sign(op->s, (CK_BYTE_PTR)data, len, out, &ol);
		break;
	case KMS_OP_ENCRYPT:
		rv = f->C_Encrypt(op->s, (CK_BYTE_PTR)data, len, out, &ol);
		break;
	case KMS_OP_DECRYPT:
		if (ol < len + 16 && op->key && op->key->cls == CKO_SECRET_KEY)
			return decrypt_via(op, data, len, out, outlen);
		rv = f->C_Decrypt(op->s, (CK_BYTE_PTR)data, len, out, &ol);
		break;
	case KMS_OP_DIGEST:
		rv = f->C_Digest(op->s, (CK_BYTE_PTR)data, len, out, &ol);
		break;
	default:
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	*outlen = ol;
	return done(op, rv);
}

CK_RV p11_op_verify(struct kms_engine_op *vop, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
	struct p11_op *op = (struct p11_op *)vop;

	if (op->soft)
		return kms_engine_openssl.op_verify(op->soft, data, len, sig, siglen);
	if (!op->have_s)
		return CKR_DEVICE_ERROR;
	return done(op, op->in->f->C_Verify(op->s, (CK_BYTE_PTR)data, len, (CK_BYTE_PTR)sig, siglen));
}

CK_RV p11_op_verify_final(struct kms_engine_op *vop, const uint8_t *sig, size_t siglen)
{
	struct p11_op *op = (struct p11_op *)vop;

	if (op->soft)
		return kms_engine_openssl.op_verify_final(op->soft, sig, siglen);
	if (!op->have_s)
		return CKR_DEVICE_ERROR;
	return done(op, op->in->f->C_VerifyFinal(op->s, (CK_BYTE_PTR)sig, siglen));
}

CK_RV p11_op_cipher_update(struct kms_engine_op *vop, const uint8_t *data, size_t len, uint8_t *out,
			   size_t *outlen)
{
	struct p11_op *op = (struct p11_op *)vop;
	CK_ULONG ol = *outlen;
	CK_RV rv;

	if (op->soft)
		return kms_engine_openssl.op_cipher_update ? kms_engine_openssl.op_cipher_update(op->soft, data, len, out,
												 outlen)
							   : CKR_FUNCTION_NOT_SUPPORTED;
	if (!op->have_s)
		return CKR_DEVICE_ERROR;
	if (op->kind == KMS_OP_ENCRYPT)
		rv = op->in->f->C_EncryptUpdate(op->s, (CK_BYTE_PTR)data, len, out, &ol);
	else if (op->kind == KMS_OP_DECRYPT)
		rv = op->in->f->C_DecryptUpdate(op->s, (CK_BYTE_PTR)data, len, out, &ol);
	else
		return CKR_FUNCTION_NOT_SUPPORTED;
	*outlen = ol;
	if (rv == CKR_OK) {
		op->multi = true;
		op->fed += len;
		op->emitted += ol;
	}
	return rv == CKR_OK ? CKR_OK : done(op, rv);
}

size_t p11_op_update_outlen(struct kms_engine_op *vop, size_t inlen)
{
	struct p11_op *op = (struct p11_op *)vop;

	if (op->soft)
		return kms_engine_openssl.op_update_outlen ? kms_engine_openssl.op_update_outlen(op->soft, inlen) : 0;
	/* what is buffered plus the new bytes, in whole blocks at most */
	return op->fed - op->emitted + inlen;
}

void p11_op_free(struct kms_engine_op *vop)
{
	struct p11_op *op = (struct p11_op *)vop;

	if (!op)
		return;
	if (op->soft)
		kms_engine_openssl.op_free(op->soft);
	if (op->have_s) {
		if (op->active) {
			/* PKCS#11 2.40 has no way to end an operation half-way but closing its session. */
			op->in->f->C_CloseSession(op->s);
		} else {
			p11_session_put(op->in, op->s, CKR_OK);
		}
	}
	EVP_MD_CTX_free(op->md);
	free(op->label);
	free(op);
}
