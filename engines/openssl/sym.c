/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine digests, AES modes (ECB, CBC, CBC-PAD, CTR, GCM), legacy DES modes (ECB, CBC, CBC-PAD) and
 * MACs (HMAC, CMAC). */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include "common/osslctx.h"
#include "common/mem.h"
#include "engines/openssl/ossl.h"

#define AES_BLOCK 16
#define GCM_IV_MAX 256
#define GCM_IV_DEFAULT 12 /* OpenSSL's IV length for a new GCM context */
#define GCM_BUF_MAX ((size_t)1 << 30) /* ciphertext a GCM decryption holds until its tag is checked */

enum sym_form { F_DIGEST, F_CIPHER, F_MAC };

struct sym_op {
	struct ossl_op_head head; /* sym = true */
	enum kms_op_kind kind;
	enum sym_form form;
	CK_MECHANISM_TYPE mech;
	EVP_MD_CTX *md;
	EVP_CIPHER_CTX *c;
	EVP_MAC_CTX *mac;
	enum ossl_aes_mode mode;
	bool pad;          /* CBC-PAD */
	size_t block;      /* the cipher's block: 16 (AES), 8 (DES) */
	size_t pending;    /* bytes given to a block mode and not yet returned */
	size_t mac_len;    /* MAC output length */
	size_t mac_full;   /* the MAC's natural length */
	size_t tag_len;    /* GCM */
	uint8_t *gbuf;     /* GCM decryption: the whole ciphertext and tag */
	size_t glen, gcap;
	uint64_t ctr_left; /* CTR: blocks before the counter part wraps (UINT64_MAX: no limit) */
	uint64_t ctr_bytes; /* CTR: bytes processed */
	int enc;
	size_t ivlen;                /* GCM */
	struct kms_engine_key *key;  /* cipher and MAC operations: whose spare context op->c or op->mac becomes */
	enum ossl_mac_slot mac_slot; /* MAC operations */
};

static struct sym_op *S(struct kms_engine_op *op)
{
	return (struct sym_op *)(void *)op;
}

static const char *const aes_names[A__COUNT][3] = {
	{"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"},
	{"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"},
	{"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"},
	{"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"},
};

/* A legacy token's DES ciphers (single DES and MD5 only with the legacy provider). */
static CK_RV legacy_fetch(struct ossl_inst *in)
{
	static const char *const names[D__COUNT][2] = {
		{"DES-ECB", "DES-CBC"}, {"DES-EDE-ECB", "DES-EDE-CBC"}, {"DES-EDE3-ECB", "DES-EDE3-CBC"}};

	for (int d = 0; d < D__COUNT; d++)
		for (int m = 0; m < 2; m++)
			if (d != D_DES || in->legacy_provider)
				if (!(in->des[d][m] = EVP_CIPHER_fetch(kms_libctx(), names[d][m], NULL)))
					return CKR_GENERAL_ERROR;
	if (in->legacy_provider && !(in->md5 = EVP_MD_fetch(kms_libctx(), "MD5", NULL)))
		return CKR_GENERAL_ERROR;
	return CKR_OK;
}

CK_RV ossl_sym_fetch(struct ossl_inst *in)
{
	static const char *const sha3[H3__COUNT] = {"SHA3-256", "SHA3-384", "SHA3-512"};

	for (int i = 0; i < H3__COUNT; i++)
		if (!(in->sha3[i] = EVP_MD_fetch(kms_libctx(), sha3[i], NULL)))
			return CKR_GENERAL_ERROR;
	for (int m = 0; m < A__COUNT; m++)
		for (int k = 0; k < 3; k++)
			if (!(in->aes[m][k] = EVP_CIPHER_fetch(kms_libctx(), aes_names[m][k], NULL)))
				return CKR_GENERAL_ERROR;
	in->hmac = EVP_MAC_fetch(kms_libctx(), "HMAC", NULL);
	in->cmac = EVP_MAC_fetch(kms_libctx(), "CMAC", NULL);
	if (!in->hmac || !in->cmac)
		return CKR_GENERAL_ERROR;
	return in->legacy ? legacy_fetch(in) : CKR_OK;
}

void ossl_sym_release(struct ossl_inst *in)
{
	for (int i = 0; i < H3__COUNT; i++)
		EVP_MD_free(in->sha3[i]);
	for (int m = 0; m < A__COUNT; m++)
		for (int k = 0; k < 3; k++)
			EVP_CIPHER_free(in->aes[m][k]);
	EVP_MAC_free(in->hmac);
	EVP_MAC_free(in->cmac);
	for (int d = 0; d < D__COUNT; d++)
		for (int m = 0; m < 2; m++)
			EVP_CIPHER_free(in->des[d][m]);
	EVP_MD_free(in->md5);
}

/* The digest of a digest mechanism, or NULL. */
static const EVP_MD *digest_of(struct ossl_inst *in, CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_SHA3_256:
		return in->sha3[H_SHA3_256];
	case CKM_SHA3_384:
		return in->sha3[H_SHA3_384];
	case CKM_SHA3_512:
		return in->sha3[H_SHA3_512];
	case CKM_MD5:
		return in->md5; /* legacy tokens with the legacy provider */
	default:
		return ossl_md_for_mech(in, m);
	}
}

/* HMAC mechanisms: the hash, its MAC slot, the matching key type and whether it is a _GENERAL form. */
static bool hmac_of(CK_MECHANISM_TYPE m, CK_MECHANISM_TYPE *hash, enum ossl_mac_slot *slot, CK_KEY_TYPE *kt,
		    bool *general)
{
	static const struct {
		CK_MECHANISM_TYPE mech, general, hash;
		enum ossl_mac_slot slot;
		CK_KEY_TYPE kt;
	} t[] = {
		{CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, CKM_SHA_1, MS_HMAC_SHA1, CKK_SHA_1_HMAC},
		{CKM_SHA224_HMAC, CKM_SHA224_HMAC_GENERAL, CKM_SHA224, MS_HMAC_SHA224, CKK_SHA224_HMAC},
		{CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, CKM_SHA256, MS_HMAC_SHA256, CKK_SHA256_HMAC},
		{CKM_SHA384_HMAC, CKM_SHA384_HMAC_GENERAL, CKM_SHA384, MS_HMAC_SHA384, CKK_SHA384_HMAC},
		{CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL, CKM_SHA512, MS_HMAC_SHA512, CKK_SHA512_HMAC},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (m == t[i].mech || m == t[i].general) {
			*hash = t[i].hash;
			*slot = t[i].slot;
			*kt = t[i].kt;
			*general = m == t[i].general;
			return true;
		}
	return false;
}

/* DES mechanisms: the key type they take, the mode and CBC-PAD; false for any other mechanism. */
static bool des_mode_of(CK_MECHANISM_TYPE m, CK_KEY_TYPE *kt, enum ossl_aes_mode *mode, bool *pad)
{
	static const struct {
		CK_MECHANISM_TYPE mech;
		CK_KEY_TYPE kt;
		enum ossl_aes_mode mode;
		bool pad;
	} t[] = {
		{CKM_DES_ECB, CKK_DES, A_ECB, false},	 {CKM_DES_CBC, CKK_DES, A_CBC, false},
		{CKM_DES_CBC_PAD, CKK_DES, A_CBC, true}, {CKM_DES3_ECB, CKK_DES3, A_ECB, false},
		{CKM_DES3_CBC, CKK_DES3, A_CBC, false},	 {CKM_DES3_CBC_PAD, CKK_DES3, A_CBC, true},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (m == t[i].mech) {
			*kt = t[i].kt;
			*mode = t[i].mode;
			*pad = t[i].pad;
			return true;
		}
	return false;
}

static bool aes_mode_of(CK_MECHANISM_TYPE m, enum ossl_aes_mode *mode)
{
	switch (m) {
	case CKM_AES_ECB:
		*mode = A_ECB;
		return true;
	case CKM_AES_CBC:
	case CKM_AES_CBC_PAD:
		*mode = A_CBC;
		return true;
	case CKM_AES_CTR:
		*mode = A_CTR;
		return true;
	case CKM_AES_GCM:
		*mode = A_GCM;
		return true;
	default:
		return false;
	}
}

bool ossl_sym_mech(CK_MECHANISM_TYPE m)
{
	enum ossl_aes_mode mode;
	enum ossl_mac_slot slot;
	CK_MECHANISM_TYPE h;
	CK_KEY_TYPE kt;
	bool g;

	return m == CKM_SHA_1 || m == CKM_SHA224 || m == CKM_SHA256 || m == CKM_SHA384 || m == CKM_SHA512 ||
	       m == CKM_SHA3_256 || m == CKM_SHA3_384 || m == CKM_SHA3_512 || m == CKM_AES_CMAC ||
	       m == CKM_AES_CMAC_GENERAL || aes_mode_of(m, &mode) || hmac_of(m, &h, &slot, &kt, &g) ||
	       des_mode_of(m, &kt, &mode, &g) || m == CKM_MD5;
}

static CK_RV digest_init(struct ossl_inst *in, const CK_MECHANISM *mech, struct sym_op *op)
{
	const EVP_MD *md = digest_of(in, mech->mechanism);

	if (!md)
		return CKR_MECHANISM_INVALID;
	if (mech->pParameter || mech->ulParameterLen)
		return CKR_MECHANISM_PARAM_INVALID;
	op->form = F_DIGEST;
	op->md = EVP_MD_CTX_new();
	if (!op->md)
		return CKR_HOST_MEMORY;
	return EVP_DigestInit_ex2(op->md, md, NULL) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
}

/*
 * A key schedule or an HMAC pad state kept between operations in a context of OpenSSL's would sit in
 * ordinary heap memory, where a core dump carries it. So each operation keys its context from the
 * key's value (in secure memory) when it starts, and when it ends the context is keyed again with an
 * all-zero key, which overwrites every byte the real key left in it (AES schedule, GHASH table, CMAC
 * subkeys, HMAC pads), before it waits as the key's spare for the next operation; a context that
 * cannot be wiped that way is freed, and OpenSSL wipes it then. This costs one extra keying per
 * operation and spares an allocation.
 */
static const uint8_t zero_key[32];

static EVP_MAC_CTX *mac_keyed(struct ossl_inst *in, struct kms_engine_key *key, enum ossl_mac_slot slot,
			      const char *digest)
{
	OSSL_PARAM p[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
	EVP_MAC_CTX *t = atomic_exchange((_Atomic(EVP_MAC_CTX *) *)&key->mac_spare[slot], NULL);

	if (t) {
		if (EVP_MAC_init(t, key->secret, key->size, NULL) == 1)
			return t;
		EVP_MAC_CTX_free(t);
	}
	t = EVP_MAC_CTX_new(slot == MS_CMAC ? in->cmac : in->hmac);
	if (!t)
		return NULL;
	if (slot == MS_CMAC)
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
							(char *)EVP_CIPHER_get0_name(in->aes[A_CBC][key->size / 8 - 2]), 0);
	else
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	if (EVP_MAC_init(t, key->secret, key->size, p) != 1) {
		EVP_MAC_CTX_free(t);
		return NULL;
	}
	return t;
}

/* Wipes a MAC context of key (slot) and keeps it as the key's spare, or frees it. */
static void mac_release(struct kms_engine_key *key, enum ossl_mac_slot slot, EVP_MAC_CTX *t)
{
	EVP_MAC_CTX *none = NULL;

	if (t && EVP_MAC_init(t, zero_key, slot == MS_CMAC ? key->size : 1, NULL) == 1 &&
	    atomic_compare_exchange_strong((_Atomic(EVP_MAC_CTX *) *)&key->mac_spare[slot], &none, t))
		return;
	EVP_MAC_CTX_free(t);
}

/* The cipher context of an operation on key, keyed and with its IV (GCM: ivlen bytes): the key's spare
 * keyed again, or a new one. Key and IV go in one call unless a GCM IV length must change first. */
static EVP_CIPHER_CTX *cipher_keyed(struct ossl_inst *in, struct kms_engine_key *key, enum ossl_aes_mode mode,
				    int enc, const uint8_t *iv, size_t ivlen)
{
	EVP_CIPHER_CTX *c = atomic_exchange((_Atomic(EVP_CIPHER_CTX *) *)&key->cipher_spare[mode][enc], NULL);
	const EVP_CIPHER *cipher = NULL;
	OSSL_PARAM p[2] = {OSSL_PARAM_END, OSSL_PARAM_END};

	if (!c) {
		c = EVP_CIPHER_CTX_new();
		if (!c)
			return NULL;
		cipher = in->aes[mode][key->size / 8 - 2];
		if (EVP_CipherInit_ex2(c, cipher, NULL, NULL, enc, NULL) != 1)
			goto fail;
	}
	/* A context is kept as a spare only with GCM's default 12-byte IV length (cipher_release). */
	if (mode == A_GCM && ivlen != GCM_IV_DEFAULT) {
		p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
		if (EVP_CIPHER_CTX_set_params(c, p) != 1)
			goto fail;
	}
	if (EVP_CipherInit_ex2(c, NULL, key->secret, iv, enc, NULL) == 1)
		return c;
fail:
	EVP_CIPHER_CTX_free(c);
	return NULL;
}

/* Wipes a cipher context of key and keeps it as the key's spare, or frees it. */
static void cipher_release(struct kms_engine_key *key, enum ossl_aes_mode mode, int enc, size_t ivlen,
			   EVP_CIPHER_CTX *c)
{
	EVP_CIPHER_CTX *none = NULL;

	if (c && (mode != A_GCM || ivlen == GCM_IV_DEFAULT) && EVP_CipherInit_ex2(c, NULL, zero_key, NULL, enc, NULL) == 1 &&
	    atomic_compare_exchange_strong((_Atomic(EVP_CIPHER_CTX *) *)&key->cipher_spare[mode][enc], &none, c))
		return;
	EVP_CIPHER_CTX_free(c);
}

/* Reads CK_MAC_GENERAL_PARAMS: a length 1..full. */
static CK_RV general_len(const CK_MECHANISM *mech, size_t full, size_t *len)
{
	CK_ULONG l;

	if (!mech->pParameter || mech->ulParameterLen != sizeof(CK_ULONG))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(&l, mech->pParameter, sizeof(l));
	if (l < 1 || l > full)
		return CKR_MECHANISM_PARAM_INVALID;
	*len = l;
	return CKR_OK;
}

static CK_RV mac_init(struct ossl_inst *in, const CK_MECHANISM *mech, struct kms_engine_key *key, struct sym_op *op)
{
	enum ossl_mac_slot slot = MS_CMAC;
	CK_MECHANISM_TYPE hash = 0;
	CK_KEY_TYPE want = CKK_AES;
	bool general = mech->mechanism == CKM_AES_CMAC_GENERAL;
	const char *digest = NULL;
	CK_RV rv;

	if (mech->mechanism != CKM_AES_CMAC && mech->mechanism != CKM_AES_CMAC_GENERAL &&
	    !hmac_of(mech->mechanism, &hash, &slot, &want, &general))
		return CKR_MECHANISM_INVALID;
	if (!key || !key->secret)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (slot == MS_CMAC) {
		if (key->kt != CKK_AES)
			return CKR_KEY_TYPE_INCONSISTENT;
		op->mac_full = AES_BLOCK;
	} else {
		const EVP_MD *md = ossl_md_for_mech(in, hash);

		if (key->kt != CKK_GENERIC_SECRET && key->kt != want)
			return CKR_KEY_TYPE_INCONSISTENT;
		op->mac_full = (size_t)EVP_MD_get_size(md);
		digest = EVP_MD_get0_name(md);
	}
	if (general) {
		rv = general_len(mech, op->mac_full, &op->mac_len);
		if (rv != CKR_OK)
			return rv;
	} else {
		if (mech->pParameter || mech->ulParameterLen)
			return CKR_MECHANISM_PARAM_INVALID;
		op->mac_len = op->mac_full;
	}
	op->form = F_MAC;
	op->key = key;
	op->mac_slot = slot;
	op->mac = mac_keyed(in, key, slot, digest);
	return op->mac ? CKR_OK : CKR_GENERAL_ERROR;
}

/* Reads CK_GCM_PARAMS in either layout into an IV, AAD and tag length. */
static CK_RV gcm_params(const CK_MECHANISM *mech, const uint8_t **iv, size_t *ivlen, const uint8_t **aad,
			size_t *aadlen, size_t *tagbits)
{
	if (mech->pParameter && mech->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
		const CK_GCM_PARAMS *p = mech->pParameter;

		*iv = p->pIv, *ivlen = p->ulIvLen, *aad = p->pAAD, *aadlen = p->ulAADLen, *tagbits = p->ulTagBits;
	} else if (mech->pParameter && mech->ulParameterLen == sizeof(struct kms_ck_gcm_params_240)) {
		const struct kms_ck_gcm_params_240 *p = mech->pParameter;

		*iv = p->pIv, *ivlen = p->ulIvLen, *aad = p->pAAD, *aadlen = p->ulAADLen, *tagbits = p->ulTagBits;
	} else {
		return CKR_MECHANISM_PARAM_INVALID;
	}
	if (!*iv || !*ivlen || *ivlen > GCM_IV_MAX || (!*aad && *aadlen) || *aadlen > INT_MAX || *tagbits % 8 ||
	    *tagbits < 32 || *tagbits > 128)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

/* CK_AES_CTR_PARAMS: the counter block and how many blocks may follow before its counter part wraps. */
static CK_RV ctr_params(const CK_MECHANISM *mech, const uint8_t **iv, uint64_t *left)
{
	const CK_AES_CTR_PARAMS *p = mech->pParameter;
	uint64_t used = 0;

	if (!p || mech->ulParameterLen != sizeof(*p) || p->ulCounterBits < 1 || p->ulCounterBits > 128)
		return CKR_MECHANISM_PARAM_INVALID;
	*iv = p->cb;
	if (p->ulCounterBits >= 64) {
		*left = UINT64_MAX;
		return CKR_OK;
	}
	/* the low ulCounterBits bits of the block are the counter */
	for (int i = 0; i < 8; i++)
		used = used << 8 | p->cb[8 + i];
	used &= ((uint64_t)1 << p->ulCounterBits) - 1;
	*left = ((uint64_t)1 << p->ulCounterBits) - used;
	return CKR_OK;
}

static CK_RV cipher_init(struct ossl_inst *in, enum kms_op_kind kind, const CK_MECHANISM *mech,
			 struct kms_engine_key *key, struct sym_op *op)
{
	const uint8_t *iv = NULL, *aad = NULL;
	size_t ivlen = 0, aadlen = 0, tagbits = 0;
	int enc = kind == KMS_OP_ENCRYPT, outl = 0;
	CK_RV rv = CKR_OK;

	if (kind != KMS_OP_ENCRYPT && kind != KMS_OP_DECRYPT)
		return CKR_MECHANISM_INVALID;
	if (!key || !key->secret || key->kt != CKK_AES)
		return CKR_KEY_TYPE_INCONSISTENT;
	op->form = F_CIPHER;
	op->pad = mech->mechanism == CKM_AES_CBC_PAD;
	op->block = AES_BLOCK;
	op->ctr_left = UINT64_MAX;
	switch (op->mode) {
	case A_ECB:
		if (mech->pParameter || mech->ulParameterLen)
			return CKR_MECHANISM_PARAM_INVALID;
		break;
	case A_CBC:
		if (!mech->pParameter || mech->ulParameterLen != AES_BLOCK)
			return CKR_MECHANISM_PARAM_INVALID;
		iv = mech->pParameter;
		break;
	case A_CTR:
		rv = ctr_params(mech, &iv, &op->ctr_left);
		break;
	case A_GCM:
		rv = gcm_params(mech, &iv, &ivlen, &aad, &aadlen, &tagbits);
		op->tag_len = tagbits / 8;
		break;
	default:
		return CKR_MECHANISM_INVALID;
	}
	if (rv != CKR_OK)
		return rv;
	op->enc = enc;
	op->ivlen = ivlen;
	op->key = key;
	op->c = cipher_keyed(in, key, op->mode, enc, iv, ivlen);
	if (!op->c)
		return CKR_GENERAL_ERROR;
	if ((op->mode == A_ECB || op->mode == A_CBC) && EVP_CIPHER_CTX_set_padding(op->c, op->pad) != 1)
		return CKR_GENERAL_ERROR;
	if (aadlen && EVP_CipherUpdate(op->c, NULL, &outl, aad, (int)aadlen) != 1)
		return CKR_GENERAL_ERROR;
	return CKR_OK;
}

/* A DES operation (legacy tokens): its context is made for it and freed with it, never kept as a spare.
 * CKM_DES3_* take two- and three-key triple DES keys. */
static CK_RV des_init(struct ossl_inst *in, enum kms_op_kind kind, const CK_MECHANISM *mech, struct kms_engine_key *key,
		      struct sym_op *op)
{
	CK_KEY_TYPE want = 0;
	const EVP_CIPHER *cipher;
	const uint8_t *iv = NULL;

	des_mode_of(mech->mechanism, &want, &op->mode, &op->pad);
	if (kind != KMS_OP_ENCRYPT && kind != KMS_OP_DECRYPT)
		return CKR_MECHANISM_INVALID;
	if (!key || !key->secret || (key->kt != want && !(want == CKK_DES3 && key->kt == CKK_DES2)))
		return CKR_KEY_TYPE_INCONSISTENT;
	cipher = ossl_des_cipher(in, key->kt, op->mode == A_CBC);
	if (!cipher)
		return CKR_MECHANISM_INVALID;
	if (op->mode == A_CBC) {
		if (!mech->pParameter || mech->ulParameterLen != 8)
			return CKR_MECHANISM_PARAM_INVALID;
		iv = mech->pParameter;
	} else if (mech->pParameter || mech->ulParameterLen) {
		return CKR_MECHANISM_PARAM_INVALID;
	}
	op->form = F_CIPHER;
	op->block = 8;
	op->ctr_left = UINT64_MAX;
	op->enc = kind == KMS_OP_ENCRYPT;
	op->c = EVP_CIPHER_CTX_new();
	if (!op->c || EVP_CipherInit_ex2(op->c, cipher, key->secret, iv, op->enc, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(op->c, op->pad) != 1)
		return CKR_GENERAL_ERROR;
	return CKR_OK;
}

CK_RV ossl_sym_init(struct ossl_inst *in, enum kms_op_kind kind, const CK_MECHANISM *mech,
		    struct kms_engine_key *key, struct kms_engine_op **out)
{
	struct sym_op *op = calloc(1, sizeof(*op));
	CK_RV rv;

	if (!op)
		return CKR_HOST_MEMORY;
	op->head.sym = true;
	op->kind = kind;
	op->mech = mech->mechanism;
	if (kind == KMS_OP_DIGEST)
		rv = digest_init(in, mech, op);
	else if (aes_mode_of(mech->mechanism, &op->mode))
		rv = cipher_init(in, kind, mech, key, op);
	else if (des_mode_of(mech->mechanism, &(CK_KEY_TYPE){0}, &op->mode, &op->pad))
		rv = des_init(in, kind, mech, key, op);
	else if (kind == KMS_OP_SIGN || kind == KMS_OP_VERIFY)
		rv = mac_init(in, mech, key, op);
	else
		rv = CKR_MECHANISM_INVALID;
	if (rv != CKR_OK) {
		ossl_sym_free((struct kms_engine_op *)(void *)op);
		return rv;
	}
	*out = (struct kms_engine_op *)(void *)op;
	return CKR_OK;
}

void ossl_sym_free(struct kms_engine_op *eop)
{
	struct sym_op *op = S(eop);

	if (!op)
		return;
	EVP_MD_CTX_free(op->md);
	if (op->key) {
		if (op->c)
			cipher_release(op->key, op->mode, op->enc, op->ivlen, op->c);
		if (op->mac)
			mac_release(op->key, op->mac_slot, op->mac);
	} else {
		EVP_CIPHER_CTX_free(op->c);
		EVP_MAC_CTX_free(op->mac);
	}
	if (op->gbuf)
		kms_secure_free(op->gbuf);
	free(op);
}

/* Bytes a block mode gives back for inlen more bytes (an upper bound for CBC-PAD decryption). */
static size_t block_out(const struct sym_op *op, size_t inlen)
{
	size_t total = op->pending + inlen;

	if (op->mode == A_CTR)
		return inlen;
	return total - total % op->block;
}

size_t ossl_sym_outlen(struct kms_engine_op *eop, size_t inlen)
{
	struct sym_op *op = S(eop);
	bool enc = op->kind == KMS_OP_ENCRYPT;

	switch (op->form) {
	case F_DIGEST:
		return (size_t)EVP_MD_CTX_get_size(op->md);
	case F_MAC:
		return op->mac_len;
	case F_CIPHER:
		break;
	}
	if (op->mode == A_GCM) {
		size_t have = op->glen + inlen;

		return enc ? inlen + op->tag_len : (have > op->tag_len ? have - op->tag_len : 0);
	}
	if (op->mode == A_CTR)
		return inlen;
	if (op->pad && enc)
		return (op->pending + inlen) / op->block * op->block + op->block;
	return op->pending + inlen;
}

size_t ossl_sym_update_outlen(struct kms_engine_op *eop, size_t inlen)
{
	struct sym_op *op = S(eop);

	if (op->form != F_CIPHER)
		return 0;
	if (op->mode == A_GCM)
		return op->kind == KMS_OP_ENCRYPT ? inlen : 0;
	return block_out(op, inlen);
}

CK_RV ossl_sym_update(struct kms_engine_op *eop, const uint8_t *in, size_t inlen)
{
	struct sym_op *op = S(eop);

	if (op->form == F_DIGEST)
		return EVP_DigestUpdate(op->md, in, inlen) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
	if (op->form == F_MAC)
		return EVP_MAC_update(op->mac, in, inlen) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV ossl_sym_digest_key(struct kms_engine_op *eop, struct kms_engine_key *key)
{
	struct sym_op *op = S(eop);

	if (!op->head.sym || op->form != F_DIGEST)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (!key || !key->secret)
		return CKR_KEY_INDIGESTIBLE;
	return EVP_DigestUpdate(op->md, key->secret, key->size) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
}

/* The code for a block-mode length that is not whole blocks. */
static CK_RV len_code(const struct sym_op *op)
{
	return op->kind == KMS_OP_ENCRYPT ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
}

/* Counts CTR blocks against the counter's room. */
static CK_RV ctr_take(struct sym_op *op, size_t inlen)
{
	uint64_t blocks;

	if (op->mode != A_CTR || op->ctr_left == UINT64_MAX)
		return CKR_OK;
	blocks = (op->ctr_bytes + inlen + AES_BLOCK - 1) / AES_BLOCK;
	if (blocks > op->ctr_left)
		return len_code(op);
	op->ctr_bytes += inlen;
	return CKR_OK;
}

CK_RV ossl_sym_cipher_update(struct kms_engine_op *eop, const uint8_t *in, size_t inlen, uint8_t *out,
			     size_t *outlen)
{
	struct sym_op *op = S(eop);
	int outl = 0;
	CK_RV rv;

	if (op->form != F_CIPHER)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (inlen > INT_MAX - op->block)
		return len_code(op);
	if (op->mode == A_GCM && op->kind == KMS_OP_DECRYPT) {
		/* Nothing comes out before the tag is checked: keep the ciphertext. */
		if (op->glen + inlen > GCM_BUF_MAX)
			return CKR_ENCRYPTED_DATA_LEN_RANGE;
		if (op->glen + inlen > op->gcap) {
			size_t cap = (op->glen + inlen) * 2;
			uint8_t *nb = kms_secure_alloc(cap);

			if (!nb)
				return CKR_HOST_MEMORY;
			if (op->glen)
				memcpy(nb, op->gbuf, op->glen);
			if (op->gbuf)
				kms_secure_free(op->gbuf);
			op->gbuf = nb;
			op->gcap = cap;
		}
		if (inlen)
			memcpy(op->gbuf + op->glen, in, inlen);
		op->glen += inlen;
		*outlen = 0;
		return CKR_OK;
	}
	rv = ctr_take(op, inlen);
	if (rv != CKR_OK)
		return rv;
	if (EVP_CipherUpdate(op->c, out, &outl, in, (int)inlen) != 1)
		return CKR_GENERAL_ERROR;
	op->pending = op->pending + inlen - (size_t)outl;
	*outlen = (size_t)outl;
	return CKR_OK;
}

/* Ends a GCM decryption: the buffered ciphertext and tag are checked, then released. */
static CK_RV gcm_decrypt_final(struct sym_op *op, uint8_t *out, size_t *outlen)
{
	size_t ctlen;
	int outl = 0, fin = 0;

	if (op->glen < op->tag_len)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	ctlen = op->glen - op->tag_len;
	if (EVP_CIPHER_CTX_ctrl(op->c, EVP_CTRL_AEAD_SET_TAG, (int)op->tag_len, op->gbuf + ctlen) != 1)
		return CKR_GENERAL_ERROR;
	if (EVP_DecryptUpdate(op->c, out, &outl, op->gbuf, (int)ctlen) != 1)
		return CKR_GENERAL_ERROR;
	if (EVP_DecryptFinal_ex(op->c, out + outl, &fin) != 1) {
		OPENSSL_cleanse(out, ctlen);
		return CKR_ENCRYPTED_DATA_INVALID;
	}
	*outlen = (size_t)(outl + fin);
	return CKR_OK;
}

static CK_RV cipher_final(struct sym_op *op, uint8_t *out, size_t *outlen)
{
	int outl = 0;

	if (op->mode == A_GCM && op->kind == KMS_OP_DECRYPT)
		return gcm_decrypt_final(op, out, outlen);
	if (!op->pad && op->mode != A_CTR && op->mode != A_GCM && op->pending)
		return len_code(op);
	if (EVP_CipherFinal_ex(op->c, out, &outl) != 1)
		return op->pad && op->kind == KMS_OP_DECRYPT ? (op->pending % op->block ? CKR_ENCRYPTED_DATA_LEN_RANGE
										  : CKR_ENCRYPTED_DATA_INVALID)
							     : CKR_GENERAL_ERROR;
	if (op->mode == A_GCM) {
		if (EVP_CIPHER_CTX_ctrl(op->c, EVP_CTRL_AEAD_GET_TAG, (int)op->tag_len, out + outl) != 1)
			return CKR_GENERAL_ERROR;
		outl += (int)op->tag_len;
	}
	*outlen = (size_t)outl;
	return CKR_OK;
}

CK_RV ossl_sym_final(struct kms_engine_op *eop, uint8_t *out, size_t *outlen)
{
	struct sym_op *op = S(eop);
	unsigned int mdlen = 0;
	uint8_t full[EVP_MAX_MD_SIZE];
	size_t got = 0;

	switch (op->form) {
	case F_DIGEST:
		if (EVP_DigestFinal_ex(op->md, out, &mdlen) != 1)
			return CKR_GENERAL_ERROR;
		*outlen = mdlen;
		return CKR_OK;
	case F_MAC:
		if (EVP_MAC_final(op->mac, full, &got, sizeof(full)) != 1)
			return CKR_GENERAL_ERROR;
		memcpy(out, full, op->mac_len);
		*outlen = op->mac_len;
		return CKR_OK;
	case F_CIPHER:
		break;
	}
	return cipher_final(op, out, outlen);
}

CK_RV ossl_sym_oneshot(struct kms_engine_op *eop, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	struct sym_op *op = S(eop);
	size_t a = 0, b = 0;
	CK_RV rv;

	if (op->form != F_CIPHER) {
		rv = ossl_sym_update(eop, in, inlen);
		return rv == CKR_OK ? ossl_sym_final(eop, out, outlen) : rv;
	}
	if (op->mode != A_CTR && op->mode != A_GCM && inlen % op->block &&
	    !(op->pad && op->kind == KMS_OP_ENCRYPT))
		return len_code(op);
	if (op->pad && op->kind == KMS_OP_DECRYPT && inlen == 0)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	rv = ossl_sym_cipher_update(eop, in, inlen, out, &a);
	if (rv == CKR_OK)
		rv = cipher_final(op, out + a, &b);
	if (rv == CKR_OK)
		*outlen = a + b;
	return rv;
}

/* Computes the MAC of a verify operation and compares it in constant time. */
static CK_RV mac_check(struct sym_op *op, const uint8_t *sig, size_t siglen)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t got = 0;
	CK_RV rv;

	if (siglen != op->mac_len)
		return CKR_SIGNATURE_LEN_RANGE;
	rv = ossl_sym_final((struct kms_engine_op *)(void *)op, mac, &got);
	if (rv != CKR_OK)
		return rv;
	rv = CRYPTO_memcmp(mac, sig, siglen) == 0 ? CKR_OK : CKR_SIGNATURE_INVALID;
	OPENSSL_cleanse(mac, sizeof(mac));
	return rv;
}

CK_RV ossl_sym_verify(struct kms_engine_op *eop, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
	struct sym_op *op = S(eop);
	CK_RV rv;

	if (op->form != F_MAC)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = ossl_sym_update(eop, data, len);
	return rv == CKR_OK ? mac_check(op, sig, siglen) : rv;
}

CK_RV ossl_sym_verify_final(struct kms_engine_op *eop, const uint8_t *sig, size_t siglen)
{
	struct sym_op *op = S(eop);

	if (op->form != F_MAC)
		return CKR_FUNCTION_NOT_SUPPORTED;
	return mac_check(op, sig, siglen);
}
