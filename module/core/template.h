/* SPDX-License-Identifier: Apache-2.0 */
/* Attribute rules: which attributes each object class has, their types, defaults and who may set them. */
#ifndef KMS_CORE_TEMPLATE_H
#define KMS_CORE_TEMPLATE_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>

#include "common/attrs.h"

/* Where a template comes from; decides which attributes it may carry. */
enum kms_tmpl_use {
	KMS_TMPL_CREATE,   /* C_CreateObject */
	KMS_TMPL_GENERATE, /* C_GenerateKeyPair */
	KMS_TMPL_COPY,     /* C_CopyObject */
	KMS_TMPL_SET,      /* C_SetAttributeValue */
};

/* Converts a PKCS#11 template into a list: CKR_ARGUMENTS_BAD for a NULL value with a length,
 * CKR_TEMPLATE_INCONSISTENT for one type given twice with different values. */
CK_RV kms_tmpl_from_ck(const CK_ATTRIBUTE *t, CK_ULONG n, struct kms_attrs *out);
/* Checks tmpl for an object of class cls and key type kt (CK_UNAVAILABLE_INFORMATION when not a key):
 * CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID, CKR_ATTRIBUTE_READ_ONLY. For KMS_TMPL_SET and
 * KMS_TMPL_COPY, cur is the object's current attributes (one-way rules) and so is whether the SO is
 * logged in (CKA_TRUSTED). */
CK_RV kms_tmpl_check(const struct kms_attrs *tmpl, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, enum kms_tmpl_use use,
		     const struct kms_attrs *cur, bool so);
/* Adds the defaults of class cls (and key type kt) that a is missing; CKR_HOST_MEMORY. */
CK_RV kms_tmpl_defaults(struct kms_attrs *a, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt);
/* True when type is a private component held only in the sealed blob (CKA_PRIVATE_EXPONENT, ...). */
bool kms_tmpl_is_private_component(CK_ATTRIBUTE_TYPE type, CK_KEY_TYPE kt);
/* True for the attribute-array types (CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE),
 * whose value is kept as an encoded attribute list. */
bool kms_tmpl_is_template_attr(CK_ATTRIBUTE_TYPE type);
/* True for the secret key types (AES, generic secret, the HMAC key types). */
bool kms_tmpl_is_secret_type(CK_KEY_TYPE kt);
/* True when an attribute of this type never leaves the module. */
bool kms_tmpl_is_internal(CK_ATTRIBUTE_TYPE type);

#endif
