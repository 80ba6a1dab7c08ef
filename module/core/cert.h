/* SPDX-License-Identifier: Apache-2.0 */
/* X.509 certificate objects: the attributes PKCS#11 derives from the DER. */
#ifndef KMS_CERT_H
#define KMS_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/attrs.h"

/* Completes a CKO_CERTIFICATE template from its DER CKA_VALUE; CKR_TEMPLATE_INCOMPLETE,
 * CKR_ATTRIBUTE_VALUE_INVALID, CKR_TEMPLATE_INCONSISTENT, CKR_HOST_MEMORY. */
CK_RV kms_cert_complete(struct kms_attrs *a);
/* The DER SubjectPublicKeyInfo of a DER certificate, malloc'd; CKR_ATTRIBUTE_VALUE_INVALID, CKR_HOST_MEMORY. */
CK_RV kms_cert_spki(const uint8_t *der, size_t len, uint8_t **spki, size_t *spki_len);

#endif
