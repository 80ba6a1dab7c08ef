/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: PKCS#11 templates as applications pass them (module/core/template.c): conversion, the checks
 * of every use for the classes and key types kms11 knows, and defaults. The input is read as a list of
 * attributes (type: 4 bytes, length: 1 byte, value); a template attribute (CKA_WRAP_TEMPLATE, ...) takes the
 * next attributes of the input as its nested array. */
#include <stdlib.h>
#include <string.h>

#include "module/core/core.h"
#include "module/core/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ATTRS 32

/* Reads up to max attributes from *p into t (values point into the input); returns how many. */
static CK_ULONG read_attrs(const uint8_t **p, const uint8_t *end, CK_ATTRIBUTE *t, CK_ULONG max, int depth)
{
	CK_ULONG n = 0;

	while (n < max && end - *p >= 5) {
		uint32_t type;
		uint8_t len;

		memcpy(&type, *p, 4);
		len = (*p)[4];
		*p += 5;
		t[n].type = type % 2 ? type : (type & 0x1ff) | (type & 0x80000000u ? CKA_VENDOR_DEFINED : 0);
		if (kms_tmpl_is_template_attr(t[n].type) && depth < 2) {
			CK_ATTRIBUTE *inner = calloc(4, sizeof(*inner));
			CK_ULONG k = inner ? read_attrs(p, end, inner, len % 4, depth + 1) : 0;

			t[n].pValue = inner;
			t[n].ulValueLen = k * sizeof(CK_ATTRIBUTE);
		} else {
			if (len > end - *p)
				len = (uint8_t)(end - *p);
			t[n].pValue = len ? (void *)*p : NULL;
			t[n].ulValueLen = len;
			*p += len;
			if (kms_tmpl_is_template_attr(t[n].type))
				t[n].pValue = NULL, t[n].ulValueLen = 0;
		}
		n++;
	}
	return n;
}

static void free_nested(CK_ATTRIBUTE *t, CK_ULONG n, int depth)
{
	for (CK_ULONG i = 0; i < n; i++)
		if (kms_tmpl_is_template_attr(t[i].type) && depth < 2 && t[i].pValue) {
			free_nested(t[i].pValue, t[i].ulValueLen / sizeof(CK_ATTRIBUTE), depth + 1);
			free(t[i].pValue);
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_DATA, CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY,
						  CKO_SECRET_KEY};
	static const CK_KEY_TYPE types[] = {CKK_RSA, CKK_EC, CKK_EC_EDWARDS, CKK_EC_MONTGOMERY, CKK_AES,
					    CKK_GENERIC_SECRET, CKK_SHA256_HMAC, CK_UNAVAILABLE_INFORMATION};
	CK_ATTRIBUTE t[MAX_ATTRS];
	const uint8_t *p = data;
	struct kms_attrs a = KMS_ATTRS_INIT, cur = KMS_ATTRS_INIT;
	CK_ULONG n;
	uint8_t sel = size ? data[0] : 0;

	if (size)
		p++;
	memset(t, 0, sizeof(t));
	n = read_attrs(&p, data + size, t, MAX_ATTRS, 0);
	if (kms_tmpl_from_ck(t, n, &a) == CKR_OK) {
		CK_OBJECT_CLASS cls = classes[sel % 5];
		CK_KEY_TYPE kt = types[(sel / 5) % 8];

		kms_attrs_set_ulong(&cur, CKA_CLASS, cls);
		kms_attrs_set_bool(&cur, CKA_SENSITIVE, sel & 0x40);
		kms_attrs_set_bool(&cur, CKA_EXTRACTABLE, sel & 0x80);
		for (int use = KMS_TMPL_CREATE; use <= KMS_TMPL_SET; use++)
			kms_tmpl_check(&a, cls, kt, (enum kms_tmpl_use)use, &cur, sel & 1);
		kms_tmpl_defaults(&a, cls, kt);
	}
	kms_attrs_free(&a);
	kms_attrs_free(&cur);
	free_nested(t, n, 0);
	return 0;
}
