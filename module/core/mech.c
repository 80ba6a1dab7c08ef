/* SPDX-License-Identifier: Apache-2.0 */
/* Mechanism lists and information, as each token's engine offers them. */
#include <string.h>

#include "module/core/core.h"

const struct kms_engine_mech *kms_mech_find(struct kms_token *tok, CK_MECHANISM_TYPE type)
{
	size_t n = 0;
	const struct kms_engine_mech *m = tok->eng->mechanisms(tok->einst, &n);

	for (size_t i = 0; i < n; i++)
		if (m[i].type == type)
			return &m[i];
	return NULL;
}

CK_RV kms_mech_list(struct kms_token *tok, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	size_t n = 0;
	const struct kms_engine_mech *m = tok->eng->mechanisms(tok->einst, &n);
	CK_RV rv = CKR_OK;

	if (list && *count < n)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list)
		for (size_t i = 0; i < n; i++)
			list[i] = m[i].type;
	*count = kms_ul(n);
	return rv;
}

CK_RV kms_mech_info(struct kms_token *tok, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
	const struct kms_engine_mech *m = kms_mech_find(tok, type);

	if (!m)
		return CKR_MECHANISM_INVALID;
	info->ulMinKeySize = m->min_key;
	info->ulMaxKeySize = m->max_key;
	info->flags = m->flags;
	return CKR_OK;
}

bool kms_mech_allowed(const struct kms_attrs *a, CK_MECHANISM_TYPE mech)
{
	const struct kms_attr *am = kms_attrs_get(a, CKA_ALLOWED_MECHANISMS);
	CK_MECHANISM_TYPE m;

	if (!am || !am->len)
		return true;
	for (size_t off = 0; off + sizeof(m) <= am->len; off += sizeof(m)) {
		memcpy(&m, am->val + off, sizeof(m));
		if (m == mech)
			return true;
	}
	return false;
}
