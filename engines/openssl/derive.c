/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine key derivation (placeholder until written). */
#include "engines/openssl/ossl.h"

CK_RV ossl_derive(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *base,
		  const struct kms_secretgen_params *p, struct kms_key_material *out)
{
	(void)inst, (void)mech, (void)base, (void)p, (void)out;
	return CKR_MECHANISM_INVALID;
}
