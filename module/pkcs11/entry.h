/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the C_* entry points. */
#ifndef KMS_PKCS11_ENTRY_H
#define KMS_PKCS11_ENTRY_H

#include "module/core/core.h"

#define KMS_EXPORT __attribute__((visibility("default")))

/* The 2.40 function list (filled in pkcs11.c). */
extern CK_FUNCTION_LIST kms_function_list;

#endif
