/* SPDX-License-Identifier: Apache-2.0 */
/* Object search: C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal over the store's indexes and session objects. */
#include <stdlib.h>
#include <string.h>

#include "module/core/core.h"
#include "module/core/template.h"

struct sfind_ctx {
	const struct kms_attrs *tmpl;
	bool priv;
	uint64_t *ids;
	size_t n, cap;
	bool oom;
};

static bool matches(const struct kms_attrs *obj, const struct kms_attrs *tmpl)
{
	for (size_t i = 0; i < tmpl->n; i++) {
		const struct kms_attr *t = &tmpl->v[i];
		const struct kms_attr *a = kms_attrs_get(obj, t->type);
		unsigned long cls = (unsigned long)-1;

		/* The class matters only for a missing attribute, which a key object answers with its default. */
		if (!a)
			kms_attrs_get_ulong(obj, CKA_CLASS, &cls);
		if (!kms_attr_matches(t->type, kms_attr_is_key_class(cls), a ? a->val : NULL, a ? a->len : 0, t->val,
				      t->len))
			return false;
	}
	return true;
}

static void sfind_cb(uint64_t id, void *val, void *vctx)
{
	struct sfind_ctx *c = vctx;
	struct kms_obj *o = val;

	if (!c->priv && kms_attrs_get_bool(&o->attrs, CKA_PRIVATE, false))
		return;
	if (!matches(&o->attrs, c->tmpl))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		uint64_t *ids = realloc(c->ids, cap * sizeof(*ids));

		if (!ids) {
			c->oom = true;
			return;
		}
		c->ids = ids;
		c->cap = cap;
	}
	c->ids[c->n++] = id;
}

CK_RV kms_find_ids(struct kms_token *tok, CK_SESSION_HANDLE owner, const struct kms_attrs *tmpl, bool priv,
		   uint64_t **ids, size_t *n)
{
	struct sfind_ctx c = {.tmpl = tmpl, .priv = priv};
	uint64_t *tids = NULL, *all;
	size_t tn = 0;
	CK_RV rv;

	(void)owner;
	/* Internal attributes are never matched, so that nothing can be learnt from them. */
	for (size_t i = 0; i < tmpl->n; i++)
		if (kms_tmpl_is_internal(tmpl->v[i].type)) {
			*ids = NULL;
			*n = 0;
			return CKR_OK;
		}
	/* No store yet: session objects only. */
	if (kms_mod_store(false, &rv))
		rv = kms_store_obj_find(kms_mod.store, tok->no, tmpl, priv, &tids, &tn);
	if (rv != CKR_OK)
		return rv;
	kms_lock_rd(&tok->lock);
	kms_map_each(&tok->sobjs, sfind_cb, &c);
	kms_lock_unlock(&tok->lock);
	if (c.oom) {
		free(tids);
		free(c.ids);
		return CKR_HOST_MEMORY;
	}
	if (!c.n) {
		*ids = tids;
		*n = tn;
		return CKR_OK;
	}
	all = realloc(tids, (tn + c.n) * sizeof(*all));
	if (!all) {
		free(tids);
		free(c.ids);
		return CKR_HOST_MEMORY;
	}
	memcpy(all + tn, c.ids, c.n * sizeof(*all));
	free(c.ids);
	*ids = all;
	*n = tn + c.n;
	return CKR_OK;
}

CK_RV kms_find_init(struct kms_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	CK_STATE st;
	CK_RV rv;

	if (s->find.active)
		return CKR_OPERATION_ACTIVE;
	rv = kms_tmpl_from_ck(tmpl, n, &t);
	if (rv == CKR_TEMPLATE_INCONSISTENT) {
		/* One type asked with two values matches nothing. */
		s->find.active = true;
		s->find.ids = NULL;
		s->find.n = s->find.pos = 0;
		return CKR_OK;
	}
	if (rv != CKR_OK)
		return rv;
	st = kms_session_state(s);
	rv = kms_find_ids(s->tok, s->h, &t, st == CKS_RO_USER_FUNCTIONS || st == CKS_RW_USER_FUNCTIONS, &s->find.ids,
			  &s->find.n);
	kms_attrs_free(&t);
	if (rv != CKR_OK)
		return rv;
	s->find.pos = 0;
	s->find.active = true;
	return CKR_OK;
}

CK_RV kms_find_next(struct kms_session *s, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *count)
{
	CK_ULONG k = 0;

	if (!s->find.active)
		return CKR_OPERATION_NOT_INITIALIZED;
	while (k < max && s->find.pos < s->find.n)
		out[k++] = s->find.ids[s->find.pos++];
	*count = k;
	return CKR_OK;
}

CK_RV kms_find_final(struct kms_session *s)
{
	if (!s->find.active)
		return CKR_OPERATION_NOT_INITIALIZED;
	free(s->find.ids);
	memset(&s->find, 0, sizeof(s->find));
	return CKR_OK;
}

CK_RV kms_obj_read(struct kms_token *tok, uint64_t id, struct kms_attrs *out)
{
	uint32_t no = 0;
	CK_RV rv = kms_mod_store_now() ? kms_store_obj_get(kms_mod.store, id, &no, out) : CKR_OBJECT_HANDLE_INVALID;

	if (rv == CKR_OK && no != tok->no) {
		kms_attrs_free(out);
		rv = CKR_OBJECT_HANDLE_INVALID;
	}
	return rv;
}
