/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine key wrapping (placeholder until written). */
#include "engines/openssl/ossl.h"

CK_RV ossl_wrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *wrapping, struct kms_engine_key *key,
		uint8_t **out, size_t *outlen)
{
	(void)inst, (void)mech, (void)wrapping, (void)key, (void)out, (void)outlen;
	return CKR_MECHANISM_INVALID;
}

CK_RV ossl_unwrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *unwrapping, CK_OBJECT_CLASS cls,
		  CK_KEY_TYPE kt, size_t value_len, const uint8_t *in, size_t inlen, struct kms_key_material *out)
{
	(void)inst, (void)mech, (void)unwrapping, (void)cls, (void)kt, (void)value_len, (void)in, (void)inlen, (void)out;
	return CKR_MECHANISM_INVALID;
}
