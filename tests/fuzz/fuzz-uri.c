/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the pkcs11: URI parser, and formatting what it parsed back into a URI that parses again. */
#include <stdlib.h>
#include <string.h>

#include "module/core/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_uri u, again;
	const char *err = NULL;
	char *s = malloc(size + 1), *out;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	memset(&u, 0, sizeof(u));
	if (kms_uri_parse(s, &u, &err) == CKR_OK) {
		out = kms_uri_format(&u);
		if (out) {
			memset(&again, 0, sizeof(again));
			/* what the module writes, it reads */
			if (kms_uri_parse(out, &again, &err) != CKR_OK)
				abort();
			kms_uri_clear(&again);
			free(out);
		}
		kms_uri_clear(&u);
	}
	free(s);
	return 0;
}
