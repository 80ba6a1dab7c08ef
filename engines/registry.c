/* SPDX-License-Identifier: Apache-2.0 */
/* The registry of engines by name, and the key material they hand to the core. */
#include <string.h>

#include "common/mem.h"
#include "engines/engine.h"

static const struct kms_engine_ops *const engines[] = {
	&kms_engine_openssl,
	&kms_engine_pkcs11,
};

const struct kms_engine_ops *kms_engine_find(const char *name)
{
	if (name && !strcmp(name, "softhsm"))
		name = "pkcs11";
	for (size_t i = 0; name && i < sizeof(engines) / sizeof(engines[0]); i++)
		if (!strcmp(engines[i]->name, name))
			return engines[i];
	return NULL;
}

void kms_key_material_free(struct kms_key_material *km)
{
	kms_attrs_free(&km->pub);
	kms_secure_free(km->blob);
	km->blob = NULL;
	km->blob_len = 0;
}
