/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine digests, AES modes and MACs (placeholder until written). */
#include "engines/openssl/ossl.h"

CK_RV ossl_sym_fetch(struct ossl_inst *in) { (void)in; return CKR_OK; }
void ossl_sym_release(struct ossl_inst *in) { (void)in; }
bool ossl_sym_mech(CK_MECHANISM_TYPE mech) { (void)mech; return false; }
CK_RV ossl_sym_init(struct ossl_inst *in, enum kms_op_kind kind, const CK_MECHANISM *mech,
		    struct kms_engine_key *key, struct kms_engine_op **op) { (void)in, (void)kind, (void)mech, (void)key, (void)op; return CKR_MECHANISM_INVALID; }
size_t ossl_sym_outlen(struct kms_engine_op *op, size_t inlen) { (void)op, (void)inlen; return 0; }
CK_RV ossl_sym_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen) { (void)op, (void)in, (void)inlen; return CKR_GENERAL_ERROR; }
CK_RV ossl_sym_final(struct kms_engine_op *op, uint8_t *out, size_t *outlen) { (void)op, (void)out, (void)outlen; return CKR_GENERAL_ERROR; }
CK_RV ossl_sym_oneshot(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen) { (void)op, (void)in, (void)inlen, (void)out, (void)outlen; return CKR_GENERAL_ERROR; }
CK_RV ossl_sym_verify(struct kms_engine_op *op, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen) { (void)op, (void)data, (void)len, (void)sig, (void)siglen; return CKR_GENERAL_ERROR; }
CK_RV ossl_sym_verify_final(struct kms_engine_op *op, const uint8_t *sig, size_t siglen) { (void)op, (void)sig, (void)siglen; return CKR_GENERAL_ERROR; }
CK_RV ossl_sym_cipher_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen) { (void)op, (void)in, (void)inlen, (void)out, (void)outlen; return CKR_GENERAL_ERROR; }
size_t ossl_sym_update_outlen(struct kms_engine_op *op, size_t inlen) { (void)op, (void)inlen; return 0; }
void ossl_sym_free(struct kms_engine_op *op) { (void)op; }
CK_RV ossl_sym_digest_key(struct kms_engine_op *op, struct kms_engine_key *key) { (void)op, (void)key; return CKR_KEY_INDIGESTIBLE; }
