/* SPDX-License-Identifier: Apache-2.0 */
/* Shared state of the openssl engine: instances, decoded keys and operations. */
#ifndef KMS_ENGINE_OSSL_H
#define KMS_ENGINE_OSSL_H

#include <openssl/evp.h>

#include "engines/engine.h"

enum ossl_hash { H_SHA1, H_SHA224, H_SHA256, H_SHA384, H_SHA512, H__COUNT };

struct ossl_inst {
	EVP_MD *md[H__COUNT]; /* fetched once */
};

struct kms_engine_key {
	EVP_PKEY *pkey;
	CK_KEY_TYPE kt;
	bool priv;
	size_t size; /* RSA: modulus bytes; EC: field bytes; Ed25519: 32 */
};

/* keys.c */
CK_RV ossl_generate_pair(void *inst, const struct kms_keygen_params *p, struct kms_key_material *out);
CK_RV ossl_import(void *inst, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, const struct kms_attrs *tmpl,
		  struct kms_key_material *out);
CK_RV ossl_load(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len, const struct kms_attrs *pub,
		struct kms_engine_key **key);
void ossl_unload(struct kms_engine_key *key);
CK_RV ossl_private_attr(struct kms_engine_key *key, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len);

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

/* The fetched digest for a CKM_SHA* / CKG_MGF1_* value, or NULL. */
const EVP_MD *ossl_md_for_mech(struct ossl_inst *in, CK_MECHANISM_TYPE hash);
const EVP_MD *ossl_md_for_mgf(struct ossl_inst *in, CK_RSA_PKCS_MGF_TYPE mgf);

#endif
