/* SPDX-License-Identifier: Apache-2.0 */
/* Shared state of the openssl engine: instances, decoded keys and operations. */
#ifndef KMS_ENGINE_OSSL_H
#define KMS_ENGINE_OSSL_H

#include <openssl/evp.h>

#include "common/pkcs11x.h"
#include "engines/engine.h"

enum ossl_hash { H_SHA1, H_SHA224, H_SHA256, H_SHA384, H_SHA512, H__COUNT };


/* Digests only the digest mechanisms use (sym.c), AES modes and key sizes, MAC slots of a key. */
enum ossl_sha3 { H_SHA3_256, H_SHA3_384, H_SHA3_512, H3__COUNT };
enum ossl_aes_mode { A_ECB, A_CBC, A_CTR, A_GCM, A__COUNT };
enum ossl_mac_slot { MS_HMAC_SHA1, MS_HMAC_SHA224, MS_HMAC_SHA256, MS_HMAC_SHA384, MS_HMAC_SHA512, MS_CMAC, MS__COUNT };

/* Triple DES (two and three keys) and, with OpenSSL's legacy provider, single DES: ECB and CBC. */
enum ossl_des_kind { D_DES, D_DES2, D_DES3, D__COUNT };

/* Key generation contexts kept for reuse, per curve: P-256, P-384, P-521, Ed25519, X25519, Ed448, X448. */
enum ossl_gen_kind { G_P256, G_P384, G_P521, G_ED25519, G_X25519, G_ED448, G_X448, G__COUNT };
#define OSSL_GEN_SPARES 4

struct ossl_inst {
	EVP_PKEY_CTX *gen_spare[G__COUNT][OSSL_GEN_SPARES]; /* taken and given back atomically */
	bool legacy;          /* legacy = true in the token's section */
	bool legacy_provider; /* ... and OpenSSL's legacy provider is loaded in kms11's context */
	struct kms_engine_mech *mechs; /* a legacy token's mechanism list (NULL: the ordinary one) */
	size_t n_mechs;
	EVP_CIPHER *des[D__COUNT][2]; /* [kind][0: ECB, 1: CBC], legacy tokens only */
	EVP_MD *md5;                  /* legacy provider only */
	EVP_MD *md[H__COUNT]; /* fetched once */
	EVP_MD *sha3[H3__COUNT];
	EVP_CIPHER *aes[A__COUNT][3]; /* [mode][0: 128, 1: 192, 2: 256 bits] */
	EVP_MAC *hmac, *cmac;
};

struct kms_engine_key {
	EVP_PKEY *pkey;
	CK_KEY_TYPE kt;
	bool priv;
	bool legacy; /* an RSA key of kms11's own method (rsa.c): OpenSSL's legacy code runs it */
	size_t size; /* RSA: modulus bytes; EC: field bytes; Ed25519: 32; secret key: its length */
	uint8_t *secret; /* secret key bytes (kms_secure_alloc); NULL for RSA, EC and Edwards keys */
	/* Contexts an ended operation left for the next one, keyed again with an all-zero key first, so
	 * that no key schedule or MAC pad state of the key stays in ordinary memory between operations
	 * (taken and given back atomically). */
	EVP_MAC_CTX *mac_spare[MS__COUNT];
	EVP_CIPHER_CTX *cipher_spare[A__COUNT][2];
	/* Signing contexts an ended operation left for the next one (no fetch, no init), taken and given back
	 * atomically: [0] ECDSA or RSA PKCS#1 v1.5, [1] bare RSA; EdDSA's digest-sign context. They hold no
	 * more of the key than the key itself. */
	EVP_PKEY_CTX *sign_spare[2];
	EVP_MD_CTX *eddsa_spare;
};

/* The first member of every operation, whichever file owns it (ops.c: asymmetric, sym.c: secret
 * keys and digests). */
struct ossl_op_head {
	bool sym;
};

/* keys.c */
CK_RV ossl_generate_pair(void *inst, const struct kms_keygen_params *p, struct kms_key_material *out);
CK_RV ossl_import(void *inst, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, const struct kms_attrs *tmpl,
		  struct kms_key_material *out);
CK_RV ossl_load(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len, const struct kms_attrs *pub,
		struct kms_engine_key **key);
void ossl_unload(struct kms_engine_key *key);
CK_RV ossl_private_attr(struct kms_engine_key *key, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len);

/* Frees the kept key generation contexts. */
void ossl_gen_release(struct ossl_inst *in);

/* rsa.c */
/* An RSA private key from its PKCS#8 DER, held so that no Montgomery context of p or q is cached in
 * ordinary memory; NULL when it is not an RSA key or does not decode. */
EVP_PKEY *ossl_rsa_private_load(const uint8_t *der, size_t len);

/* ops.c */
CK_RV ossl_op_init(void *inst, enum kms_op_kind kind, const CK_MECHANISM *mech, struct kms_engine_key *key,
		   struct kms_engine_op **op);
size_t ossl_op_outlen(struct kms_engine_op *op, size_t inlen);
CK_RV ossl_op_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen);
CK_RV ossl_op_final(struct kms_engine_op *op, uint8_t *out, size_t *outlen);
CK_RV ossl_op_oneshot(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);
CK_RV ossl_op_verify(struct kms_engine_op *op, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen);
CK_RV ossl_op_verify_final(struct kms_engine_op *op, const uint8_t *sig, size_t siglen);
void ossl_op_free(struct kms_engine_op *op);

/* Key material (public attributes, PKCS#8 blob for a private key) of pk; CKR_HOST_MEMORY. */
CK_RV ossl_key_material(EVP_PKEY *pk, bool priv, struct kms_key_material *out);

/* secret.c: secret keys (CKO_SECRET_KEY). */
/* Key material of a secret key of type kt whose len bytes are in secure memory at key (taken
 * over, freed on failure): CKA_KEY_TYPE, CKA_VALUE_LEN, CKA_CHECK_VALUE and the blob. */
CK_RV ossl_secret_material(struct ossl_inst *in, CK_KEY_TYPE kt, uint8_t *key, size_t len,
			   struct kms_key_material *out);
/* The DES cipher (ECB or CBC) for a DES key type; NULL when the token does not offer it. */
const EVP_CIPHER *ossl_des_cipher(struct ossl_inst *in, CK_KEY_TYPE kt, bool cbc);
/* True when len bytes are a valid value for a secret key of type kt (and kt is one). */
bool ossl_secret_len_ok(CK_KEY_TYPE kt, size_t len);
CK_RV ossl_generate_secret(void *inst, const struct kms_secretgen_params *p, struct kms_key_material *out);
/* CKR_TEMPLATE_INCOMPLETE without CKA_VALUE, CKR_ATTRIBUTE_VALUE_INVALID for a bad type or length. */
CK_RV ossl_secret_import(struct ossl_inst *in, CK_KEY_TYPE kt, const struct kms_attrs *tmpl,
			 struct kms_key_material *out);
/* CKR_GENERAL_ERROR when pub has no CKA_KEY_TYPE or the blob does not fit it. */
CK_RV ossl_secret_load(const uint8_t *blob, size_t blob_len, const struct kms_attrs *pub,
		       struct kms_engine_key **key);
/* Frees what a secret key holds (not the key itself); nothing for other keys. */
void ossl_secret_clear(struct kms_engine_key *key);
/* CKA_VALUE of a secret key; CKR_ATTRIBUTE_TYPE_INVALID for any other attribute. */
CK_RV ossl_secret_attr(struct kms_engine_key *key, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len);
/* Fetches the digests, ciphers and MACs of sym.c into in; CKR_GENERAL_ERROR when one is missing. */
CK_RV ossl_sym_fetch(struct ossl_inst *in);
void ossl_sym_release(struct ossl_inst *in);

/* sym.c: digests, AES modes and MACs; every ossl_op_* call on a sym.c operation lands here. */
bool ossl_sym_mech(CK_MECHANISM_TYPE mech);
CK_RV ossl_sym_init(struct ossl_inst *in, enum kms_op_kind kind, const CK_MECHANISM *mech,
		    struct kms_engine_key *key, struct kms_engine_op **op);
size_t ossl_sym_outlen(struct kms_engine_op *op, size_t inlen);
CK_RV ossl_sym_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen);
CK_RV ossl_sym_final(struct kms_engine_op *op, uint8_t *out, size_t *outlen);
CK_RV ossl_sym_oneshot(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);
CK_RV ossl_sym_verify(struct kms_engine_op *op, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen);
CK_RV ossl_sym_verify_final(struct kms_engine_op *op, const uint8_t *sig, size_t siglen);
CK_RV ossl_sym_cipher_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out,
			     size_t *outlen);
size_t ossl_sym_update_outlen(struct kms_engine_op *op, size_t inlen);
void ossl_sym_free(struct kms_engine_op *op);
/* C_DigestKey: feeds a secret key's bytes into a digest operation; CKR_KEY_INDIGESTIBLE for a
 * key that is not a secret key, CKR_OPERATION_NOT_INITIALIZED for an operation that is not a digest. */
CK_RV ossl_sym_digest_key(struct kms_engine_op *op, struct kms_engine_key *key);
/* True when op belongs to sym.c. */
static inline bool ossl_op_is_sym(const struct kms_engine_op *op)
{
	return ((const struct ossl_op_head *)(const void *)op)->sym;
}

/* wrap.c: C_WrapKey and C_UnwrapKey (AES-KW, AES-KWP, AES-GCM, RSA-OAEP, RSA-AES-KW). */
CK_RV ossl_wrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *wrapping, struct kms_engine_key *key,
		uint8_t **out, size_t *outlen);
CK_RV ossl_unwrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *unwrapping, CK_OBJECT_CLASS cls,
		  CK_KEY_TYPE kt, size_t value_len, const uint8_t *in, size_t inlen, const struct kms_attrs *tmpl,
		  struct kms_key_material *out);
/* derive.c: C_DeriveKey with ECDH (NIST curves and X25519). */
CK_RV ossl_derive(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *base,
		  const struct kms_secretgen_params *p, struct kms_key_material *out);

/* The fetched digest for a CKM_SHA* / CKG_MGF1_* value, or NULL. */
const EVP_MD *ossl_md_for_mech(struct ossl_inst *in, CK_MECHANISM_TYPE hash);
const EVP_MD *ossl_md_for_mgf(struct ossl_inst *in, CK_RSA_PKCS_MGF_TYPE mgf);

#endif
