/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the store's record decoder (common/attrs.c): a record that decodes encodes back to bytes that
 * decode to the same list, and kms_record_find agrees with the decoded list. */
#include <stdlib.h>
#include <string.h>

#include "common/attrs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_attrs a = KMS_ATTRS_INIT, b = KMS_ATTRS_INIT;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (kms_attrs_decode(data, size, &a) != 0)
		return 0;
	for (size_t i = 0; i < a.n; i++) {
		const uint8_t *v = NULL;
		size_t vl = 0;

		if (kms_record_find(data, size, a.v[i].type, &v, &vl) != 0 || vl != a.v[i].len ||
		    (vl && memcmp(v, a.v[i].val, vl) != 0))
			abort();
	}
	if (kms_attrs_encode(&a, &enc, &len) != 0 || kms_attrs_decode(enc, len, &b) != 0 || a.n != b.n)
		abort();
	for (size_t i = 0; i < a.n; i++)
		if (a.v[i].type != b.v[i].type || a.v[i].len != b.v[i].len ||
		    (a.v[i].len && memcmp(a.v[i].val, b.v[i].val, a.v[i].len) != 0))
			abort();
	free(enc);
	kms_attrs_free(&a);
	kms_attrs_free(&b);
	return 0;
}
