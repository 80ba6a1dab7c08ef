/* SPDX-License-Identifier: Apache-2.0 */
/* X.509 certificate objects (placeholder until written). */
#include "module/core/cert.h"

CK_RV kms_cert_complete(struct kms_attrs *a)
{
	(void)a;
	return CKR_FUNCTION_NOT_SUPPORTED;
}
