/* SPDX-License-Identifier: Apache-2.0 */
/* Names of CK_RV codes. */
#ifndef KMS_COMMON_CKR_H
#define KMS_COMMON_CKR_H

/* Returns "CKR_..." for a known code, else "CKR_0x<hex>" (a per-thread buffer). */
const char *kms_ckr_name(unsigned long rv);

#endif
