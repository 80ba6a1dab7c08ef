/* SPDX-License-Identifier: Apache-2.0 */
/* Objects: lookup with the per-process cache, decoded keys, and attribute reads and writes. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/mem.h"
#include "module/core/core.h"
#include "module/core/template.h"

void kms_keyref_put(struct kms_keyref *k)
{
	if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
		k->eng->unload(k->k);
		free(k);
	}
}

void kms_obj_free(struct kms_obj *o)
{
	if (o->key)
		kms_keyref_put(o->key);
	kms_secure_free(o->blob);
	kms_attrs_free(&o->attrs);
	kms_lock_destroy(&o->key_lock);
	free(o);
}

void kms_obj_put(struct kms_obj *o)
{
	if (o && atomic_fetch_sub(&o->refs, 1) == 1)
		kms_obj_free(o);
}

/* Reads the lifecycle facts of o from its attributes. A malformed expiration date counts as expired: the
 * module never writes one, so it can only come from a damaged record. */
static void life_read(struct kms_obj *o)
{
	const struct kms_attr *exp = kms_attrs_get(&o->attrs, CKA_KMS11_EXPIRATION_DATE);

	if (kms_attrs_get_ulong(&o->attrs, CKA_KMS11_STATE, &o->state) != 0)
		o->state = kms_attrs_get(&o->attrs, CKA_KMS11_STATE) ? 0 : KMS11_STATE_ENABLED;
	o->old_version = !kms_attrs_get_bool(&o->attrs, CKA_KMS11_PRIMARY, true);
	o->not_after = 0;
	if (exp && exp->len) {
		char buf[40];

		if (exp->len >= sizeof(buf))
			o->not_after = 1;
		else {
			memcpy(buf, exp->val, exp->len);
			buf[exp->len] = 0;
			if (kms_time_parse(buf, &o->not_after) != 0 || o->not_after <= 0)
				o->not_after = 1;
		}
	}
}

/* A new object holding attrs (taken over: attrs is left empty). */
struct kms_obj *kms_obj_new(uint64_t id, struct kms_attrs *attrs)
{
	struct kms_obj *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	if (kms_lock_init(&o->key_lock) != CKR_OK) {
		free(o);
		return NULL;
	}
	atomic_init(&o->refs, 1);
	o->id = id;
	o->attrs = *attrs;
	kms_attrs_init(attrs);
	life_read(o);
	return o;
}

CK_RV kms_obj_may_use(const struct kms_obj *o, bool originator)
{
	if (o->state != KMS11_STATE_ENABLED)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (originator && (o->old_version || (o->not_after && time(NULL) >= o->not_after)))
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	return CKR_OK;
}

/* True when the session may see the object: private ones need the user logged in. */
static bool visible(struct kms_session *s, const struct kms_obj *o)
{
	/* One word read on the hot path: the login state is written under the token lock. */
	return !kms_attrs_get_bool(&o->attrs, CKA_PRIVATE, false) ||
	       __atomic_load_n(&s->tok->login, __ATOMIC_ACQUIRE) == CKU_USER;
}

/* Reads a token object through the cache: a cached copy is current while the store's generation
 * has not moved since it was read; otherwise the object is read again. */
static CK_RV token_obj_get(struct kms_token *tok, uint64_t id, struct kms_obj **out)
{
	struct kms_attrs attrs = KMS_ATTRS_INIT;
	struct kms_obj *o, *old;
	struct kms_store *st = kms_mod_store_now();
	uint64_t gen = kms_store_generation(st);
	uint32_t no = 0;
	CK_RV rv;

	kms_lock_rd(&tok->lock);
	o = kms_map_get(&tok->cache, id);
	if (o && o->gen == gen)
		atomic_fetch_add(&o->refs, 1);
	else
		o = NULL;
	kms_lock_unlock(&tok->lock);
	if (o) {
		*out = o;
		return CKR_OK;
	}

	if (!st)
		return CKR_OBJECT_HANDLE_INVALID;
	rv = kms_store_obj_get_gen(st, id, &no, &attrs, &gen);
	if (rv == CKR_OBJECT_HANDLE_INVALID) {
		kms_lock_wr(&tok->lock);
		old = kms_map_del(&tok->cache, id);
		kms_lock_unlock(&tok->lock);
		kms_obj_put(old);
	}
	if (rv != CKR_OK)
		return rv;
	if (no != tok->no) {
		kms_attrs_free(&attrs);
		return CKR_OBJECT_HANDLE_INVALID;
	}
	o = kms_obj_new(id, &attrs);
	if (!o) {
		kms_attrs_free(&attrs);
		return CKR_HOST_MEMORY;
	}
	o->gen = gen;
	o->is_token = true;
	kms_lock_wr(&tok->lock);
	old = kms_map_get(&tok->cache, id);
	if (old && kms_seal_guards_equal(&old->attrs, &o->attrs)) {
		/* Key material never changes for an id: keep the decoded key, unless an attribute bound into
		 * its seal changed (then the seal is opened again under the new attributes). */
		kms_lock_rd(&old->key_lock);
		if (old->key) {
			atomic_fetch_add(&old->key->refs, 1);
			o->key = old->key;
		}
		kms_lock_unlock(&old->key_lock);
	}
	if (kms_map_put(&tok->cache, id, o) != 0) {
		kms_lock_unlock(&tok->lock);
		kms_obj_put(o);
		return CKR_HOST_MEMORY;
	}
	atomic_fetch_add(&o->refs, 1); /* the cache's reference and the caller's */
	kms_lock_unlock(&tok->lock);
	kms_obj_put(old);
	*out = o;
	return CKR_OK;
}

CK_RV kms_obj_get(struct kms_session *s, CK_OBJECT_HANDLE h, struct kms_obj **out)
{
	struct kms_token *tok = s->tok;
	struct kms_obj *o = NULL;
	CK_RV rv;

	if (h == CK_INVALID_HANDLE)
		return CKR_OBJECT_HANDLE_INVALID;
	if (h & KMS_SESSION_OBJ_BIT) {
		kms_lock_rd(&tok->lock);
		o = kms_map_get(&tok->sobjs, h);
		if (o)
			atomic_fetch_add(&o->refs, 1);
		kms_lock_unlock(&tok->lock);
		if (!o)
			return CKR_OBJECT_HANDLE_INVALID;
	} else {
		rv = token_obj_get(tok, h, &o);
		if (rv != CKR_OK)
			return rv;
	}
	if (!visible(s, o)) {
		kms_obj_put(o);
		return CKR_OBJECT_HANDLE_INVALID;
	}
	*out = o;
	return CKR_OK;
}

CK_RV kms_obj_key(struct kms_session *s, struct kms_obj *o, enum kms_use use, struct kms_keyref **out)
{
	struct kms_token *tok = s->tok;
	struct kms_keyref *k = NULL;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	unsigned long cls = CK_UNAVAILABLE_INFORMATION;
	CK_RV rv = kms_obj_may_use(o, use == KMS_USE_ORIGINATOR);

	if (rv != CKR_OK)
		return rv;
	kms_lock_rd(&o->key_lock);
	if (o->key) {
		k = o->key;
		atomic_fetch_add(&k->refs, 1);
	}
	kms_lock_unlock(&o->key_lock);
	if (k) {
		*out = k;
		return CKR_OK;
	}

	kms_attrs_get_ulong(&o->attrs, CKA_CLASS, &cls);
	if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY && cls != CKO_SECRET_KEY)
		return CKR_KEY_TYPE_INCONSISTENT;
	k = calloc(1, sizeof(*k));
	if (!k)
		return CKR_HOST_MEMORY;
	atomic_init(&k->refs, 1);
	k->eng = tok->eng;
	if (cls != CKO_PUBLIC_KEY && o->is_token) {
		rv = kms_token_unseal(tok, o->id, &o->attrs, &blob, &bloblen);
		if (rv != CKR_OK)
			goto out;
		rv = tok->eng->load(tok->einst, cls, blob, bloblen, &o->attrs, &k->k);
	} else if (cls != CKO_PUBLIC_KEY) {
		rv = tok->eng->load(tok->einst, cls, o->blob, o->blob_len, &o->attrs, &k->k);
	} else {
		rv = tok->eng->load(tok->einst, cls, NULL, 0, &o->attrs, &k->k);
	}
	if (rv != CKR_OK)
		goto out;
	kms_lock_wr(&o->key_lock);
	if (o->key) {
		/* Another thread loaded it first: use that one. */
		kms_keyref_put(k);
		k = o->key;
	} else {
		o->key = k;
	}
	atomic_fetch_add(&k->refs, 1);
	kms_lock_unlock(&o->key_lock);
	*out = k;
	k = NULL;
out:
	kms_secure_free(blob);
	if (k) {
		free(k);
	}
	return rv;
}

/* Writes the length (or CK_UNAVAILABLE_INFORMATION) and value of one attribute. */
static CK_RV put_value(CK_ATTRIBUTE *t, const uint8_t *val, size_t len)
{
	if (!t->pValue) {
		t->ulValueLen = kms_ul(len);
		return CKR_OK;
	}
	if (t->ulValueLen < len) {
		t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (len)
		memcpy(t->pValue, val, len);
	t->ulValueLen = kms_ul(len);
	return CKR_OK;
}

/* An attribute-array value (CKA_WRAP_TEMPLATE, ...) kept encoded: the length query gives the array's size;
 * otherwise each element's type is filled in and its value copied as put_value does. */
static CK_RV put_template(CK_ATTRIBUTE *t, const struct kms_attr *a)
{
	struct kms_attrs inner = KMS_ATTRS_INIT;
	CK_ATTRIBUTE *arr = t->pValue;
	CK_RV rv = CKR_OK, one;

	if (kms_attrs_decode(a->val, a->len, &inner) != 0)
		return CKR_GENERAL_ERROR;
	if (!arr) {
		t->ulValueLen = kms_ul(inner.n * sizeof(CK_ATTRIBUTE));
		goto out;
	}
	if (t->ulValueLen < inner.n * sizeof(CK_ATTRIBUTE)) {
		t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	for (size_t i = 0; i < inner.n; i++) {
		arr[i].type = inner.v[i].type;
		one = put_value(&arr[i], inner.v[i].val, inner.v[i].len);
		if (one != CKR_OK)
			rv = one;
	}
	t->ulValueLen = kms_ul(inner.n * sizeof(CK_ATTRIBUTE));
out:
	kms_attrs_free(&inner);
	return rv;
}

/* A private component of a key that may be read in clear (not sensitive, extractable). */
static CK_RV private_component(struct kms_session *s, struct kms_obj *o, CK_ATTRIBUTE *t)
{
	struct kms_keyref *k = NULL;
	uint8_t *val = NULL;
	size_t len = 0;
	CK_RV rv;

	if (kms_attrs_get_bool(&o->attrs, CKA_SENSITIVE, true) || !kms_attrs_get_bool(&o->attrs, CKA_EXTRACTABLE, false))
		return CKR_ATTRIBUTE_SENSITIVE;
	if (!s->tok->eng->private_attr)
		return CKR_ATTRIBUTE_SENSITIVE;
	/* A key that may not be used is not exported either. */
	rv = kms_obj_key(s, o, KMS_USE_RECIPIENT, &k);
	if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
		return CKR_ATTRIBUTE_SENSITIVE;
	if (rv != CKR_OK)
		return rv;
	rv = s->tok->eng->private_attr(k->k, t->type, &val, &len);
	kms_keyref_put(k);
	if (rv != CKR_OK)
		return rv;
	rv = put_value(t, val, len);
	kms_free_wiped(val, len);
	return rv;
}

/* The sealed value of a private token data object. */
static CK_RV data_value(struct kms_session *s, struct kms_obj *o, CK_ATTRIBUTE *t)
{
	uint8_t *val = NULL;
	size_t len = 0;
	CK_RV rv = kms_seal_data_value(s, o, &val, &len);

	if (rv != CKR_OK)
		return rv;
	rv = put_value(t, val, len);
	kms_secure_free(val);
	return rv;
}

/* Of the three "not really errors" of C_GetAttributeValue, the one to report when several occur. */
static CK_RV worse(CK_RV a, CK_RV b)
{
	static const CK_RV order[] = {CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID, CKR_BUFFER_TOO_SMALL};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (a == order[i] || b == order[i])
			return order[i];
	return a != CKR_OK ? a : b;
}

CK_RV kms_obj_get_attrs(struct kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	struct kms_obj *o = NULL;
	unsigned long kt = CK_UNAVAILABLE_INFORMATION, cls = CK_UNAVAILABLE_INFORMATION;
	CK_RV rv, result = CKR_OK;

	rv = kms_obj_get(s, h, &o);
	if (rv != CKR_OK)
		return rv;
	kms_attrs_get_ulong(&o->attrs, CKA_KEY_TYPE, &kt);
	kms_attrs_get_ulong(&o->attrs, CKA_CLASS, &cls);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ATTRIBUTE *t = &tmpl[i];
		const struct kms_attr *a = NULL;

		if (cls == CKO_DATA && t->type == CKA_VALUE && o->is_token && kms_attrs_get(&o->attrs, CKA_KMS11_SEALED)) {
			rv = data_value(s, o, t);
			if (rv != CKR_OK) {
				t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
				if (rv != CKR_BUFFER_TOO_SMALL)
					goto fatal;
				result = worse(result, rv);
			}
			continue;
		}
		if ((cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY) && kms_tmpl_is_private_component(t->type, kt)) {
			rv = private_component(s, o, t);
			if (rv != CKR_OK) {
				t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
				result = worse(result, rv);
			}
			continue;
		}
		if (!kms_tmpl_is_internal(t->type))
			a = kms_attrs_get(&o->attrs, t->type);
		if (!a && t->type == CKA_ALLOWED_MECHANISMS && kms_attr_is_key_class(cls)) {
			/* A key that never had the attribute allows every mechanism: an empty list, not an error. */
			rv = put_value(t, NULL, 0);
			if (rv != CKR_OK)
				result = worse(result, rv);
			continue;
		}
		if (!a && kms_attr_is_key_class(cls)) {
			const uint8_t *dv;
			size_t dl;

			/* A management attribute the key never had answers its default (kms11.h). */
			if (kms_attr_default(t->type, &dv, &dl)) {
				rv = put_value(t, dv, dl);
				if (rv != CKR_OK)
					result = worse(result, rv);
				continue;
			}
		}
		if (!a) {
			t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
			result = worse(result, CKR_ATTRIBUTE_TYPE_INVALID);
			continue;
		}
		rv = kms_tmpl_is_template_attr(t->type) ? put_template(t, a) : put_value(t, a->val, a->len);
		if (rv != CKR_OK)
			result = worse(result, rv);
	}
	kms_obj_put(o);
	return result;
fatal:
	kms_obj_put(o);
	return rv;
}

CK_RV kms_obj_size(struct kms_session *s, CK_OBJECT_HANDLE h, CK_ULONG *size)
{
	struct kms_obj *o = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	CK_RV rv;

	rv = kms_obj_get(s, h, &o);
	if (rv != CKR_OK)
		return rv;
	if (kms_attrs_encode(&o->attrs, &buf, &len) != 0)
		rv = CKR_HOST_MEMORY;
	else
		*size = kms_ul(len);
	free(buf);
	kms_obj_put(o);
	return rv;
}

int kms_obj_private_default(struct kms_session *s, struct kms_attrs *a)
{
	CK_STATE st;

	if (kms_attrs_get(a, CKA_PRIVATE))
		return 0;
	st = kms_session_state(s);
	return kms_attrs_set_bool(a, CKA_PRIVATE,
				  kms_attrs_get_bool(a, CKA_TOKEN, false) || st == CKS_RO_USER_FUNCTIONS ||
					  st == CKS_RW_USER_FUNCTIONS);
}

/* Checks that the session may change an object with these attributes. */
CK_RV kms_obj_may_write(struct kms_session *s, bool token, bool priv)
{
	CK_STATE st = kms_session_state(s);

	if (token && !(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (priv && st != CKS_RO_USER_FUNCTIONS && st != CKS_RW_USER_FUNCTIONS)
		return CKR_USER_NOT_LOGGED_IN;
	return CKR_OK;
}

/* Replaces a session object by a copy with new attributes (taken over), keeping its key:
 * readers holding the old copy keep a consistent view. */
static CK_RV replace_session_obj(struct kms_token *tok, struct kms_obj *o, struct kms_attrs *attrs)
{
	struct kms_obj *n = kms_obj_new(o->id, attrs), *old;

	if (!n)
		return CKR_HOST_MEMORY;
	n->owner = o->owner;
	if (o->blob) {
		n->blob = kms_secure_dup(o->blob, o->blob_len);
		n->blob_len = o->blob_len;
		if (!n->blob) {
			kms_obj_put(n);
			return CKR_HOST_MEMORY;
		}
	}
	kms_lock_rd(&o->key_lock);
	if (o->key) {
		atomic_fetch_add(&o->key->refs, 1);
		n->key = o->key;
	}
	kms_lock_unlock(&o->key_lock);
	kms_lock_wr(&tok->lock);
	old = kms_map_get(&tok->sobjs, o->id);
	if (old != o || kms_map_put(&tok->sobjs, o->id, n) != 0) {
		kms_lock_unlock(&tok->lock);
		kms_obj_put(n);
		return old != o ? CKR_OBJECT_HANDLE_INVALID : CKR_HOST_MEMORY;
	}
	kms_lock_unlock(&tok->lock);
	kms_obj_put(old);
	return CKR_OK;
}

struct set_ctx {
	const struct kms_attrs *t; /* the template */
	bool so;
	struct kms_token *tok; /* token objects: their seal follows the new attributes */
	uint64_t id;
};

/* Checks the template against the object's attributes as they are now and merges it into next. */
static CK_RV set_merge(void *vctx, const struct kms_attrs *cur, struct kms_attrs *next)
{
	const struct set_ctx *c = vctx;
	unsigned long cls = 0, kt = CK_UNAVAILABLE_INFORMATION;
	CK_RV rv;

	if (!kms_attrs_get_bool(cur, CKA_MODIFIABLE, true))
		return CKR_ACTION_PROHIBITED;
	kms_attrs_get_ulong(cur, CKA_CLASS, &cls);
	kms_attrs_get_ulong(cur, CKA_KEY_TYPE, &kt);
	rv = kms_tmpl_check(c->t, cls, kt, KMS_TMPL_SET, cur, c->so);
	if (rv != CKR_OK)
		return rv;
	if (kms_attrs_copy(next, cur) != 0 || kms_attrs_merge(next, c->t) != 0)
		return CKR_HOST_MEMORY;
	if (!c->tok)
		return CKR_OK;
	return kms_seal_update(c->tok, c->id, cur, next, kms_attrs_get(c->t, CKA_VALUE) != NULL);
}

/* The management facts an application may set (kms11.h); they belong to the key, so to all its objects. */
static const CK_ATTRIBUTE_TYPE key_facts[] = {CKA_KMS11_ALIASES, CKA_KMS11_TAGS, CKA_KMS11_METADATA,
					      CKA_KMS11_DESCRIPTION};

static bool has_key_fact(const struct kms_attrs *t)
{
	for (size_t i = 0; i < sizeof(key_facts) / sizeof(key_facts[0]); i++)
		if (kms_attrs_get(t, key_facts[i]))
			return true;
	return false;
}

/* kms_store_key_update callback: the object set_merge changes as asked; the key's other objects take the
 * template's key facts. */
static CK_RV set_key_merge(void *vctx, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	const struct set_ctx *c = vctx;

	if (id == c->id)
		return set_merge(vctx, cur, next);
	if (!kms_attrs_get_bool(cur, CKA_MODIFIABLE, true))
		return CKR_ACTION_PROHIBITED;
	if (kms_attrs_copy(next, cur) != 0)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < sizeof(key_facts) / sizeof(key_facts[0]); i++) {
		const struct kms_attr *a = kms_attrs_get(c->t, key_facts[i]);

		if (a && kms_attrs_set(next, a->type, a->val, a->len) != 0)
			return CKR_HOST_MEMORY;
	}
	return CKR_OK;
}

CK_RV kms_obj_set_attrs(struct kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	struct kms_attrs t = KMS_ATTRS_INIT, next = KMS_ATTRS_INIT;
	struct kms_obj *o = NULL;
	struct set_ctx c = {.t = &t};
	const struct kms_attr *kid;
	CK_RV rv;

	rv = kms_obj_get(s, h, &o);
	if (rv != CKR_OK)
		return rv;
	rv = kms_obj_may_write(s, o->is_token, false);
	if (rv != CKR_OK)
		goto out;
	rv = kms_tmpl_from_ck(tmpl, n, &t);
	if (rv != CKR_OK)
		goto out;
	c.so = kms_session_state(s) == CKS_RW_SO_FUNCTIONS;
	if (o->is_token) {
		/* Read, check and write in one store transaction: no update is lost to another writer, and an
		 * object destroyed meanwhile stays destroyed (CKR_OBJECT_HANDLE_INVALID). */
		c.tok = s->tok;
		c.id = o->id;
		if (o->blob || kms_attrs_get(&o->attrs, CKA_KMS11_SEALED))
			rv = kms_seal_public_ready(s->tok);
		if (rv == CKR_OK && has_key_fact(&t) && (kid = kms_attrs_get(&o->attrs, CKA_KMS11_KEY_ID)) != NULL) {
			size_t seen = 0;

			rv = kms_store_key_update(kms_mod.store, s->tok->no, kid->val, kid->len, set_key_merge, &c, &seen);
			if (rv == CKR_OK && seen == 0)
				rv = CKR_OBJECT_HANDLE_INVALID;
		} else if (rv == CKR_OK) {
			rv = kms_store_obj_update(kms_mod.store, s->tok->no, o->id, set_merge, &c);
		}
	} else {
		/* Another thread may replace the object first: merge into its copy then, until one wins or
		 * the object is gone. */
		for (int tries = 0; tries < 1000; tries++) {
			rv = set_merge(&c, &o->attrs, &next);
			if (rv == CKR_OK)
				rv = replace_session_obj(s->tok, o, &next);
			kms_attrs_free(&next);
			if (rv != CKR_OBJECT_HANDLE_INVALID)
				break;
			kms_obj_put(o);
			o = NULL;
			rv = kms_obj_get(s, h, &o);
			if (rv != CKR_OK)
				break;
			rv = CKR_OBJECT_HANDLE_INVALID;
		}
	}
out:
	kms_attrs_free(&next);
	kms_attrs_free(&t);
	kms_obj_put(o);
	return rv;
}

/* An engine that holds keys elsewhere (pkcs11) destroys them there first; its error keeps kms11's object. */
static CK_RV engine_destroy(struct kms_token *tok, struct kms_obj *o)
{
	unsigned long cls = CK_UNAVAILABLE_INFORMATION;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	CK_RV rv;

	kms_attrs_get_ulong(&o->attrs, CKA_CLASS, &cls);
	if (!tok->eng->destroy || (cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY))
		return CKR_OK;
	if (!o->is_token)
		return tok->eng->destroy(tok->einst, cls, o->blob, o->blob_len);
	rv = kms_token_unseal(tok, o->id, &o->attrs, &blob, &bloblen);
	if (rv == CKR_OK)
		rv = tok->eng->destroy(tok->einst, cls, blob, bloblen);
	kms_secure_free(blob);
	return rv;
}

CK_RV kms_obj_destroy(struct kms_session *s, CK_OBJECT_HANDLE h)
{
	struct kms_obj *o = NULL, *gone = NULL;
	CK_RV rv;

	rv = kms_obj_get(s, h, &o);
	if (rv != CKR_OK)
		return rv;
	rv = kms_obj_may_write(s, o->is_token, kms_attrs_get_bool(&o->attrs, CKA_PRIVATE, false));
	if (rv != CKR_OK)
		goto out;
	if (!kms_attrs_get_bool(&o->attrs, CKA_DESTROYABLE, true)) {
		rv = CKR_ACTION_PROHIBITED;
		goto out;
	}
	rv = engine_destroy(s->tok, o);
	if (rv == CKR_OK && o->is_token)
		rv = kms_store_obj_del(kms_mod.store, o->id);
	if (rv != CKR_OK)
		goto out;
	kms_lock_wr(&s->tok->lock);
	gone = kms_map_del(o->is_token ? &s->tok->cache : &s->tok->sobjs, o->id);
	kms_lock_unlock(&s->tok->lock);
	kms_obj_put(gone);
out:
	kms_obj_put(o);
	return rv;
}

struct drop_ctx {
	CK_SESSION_HANDLE owner;
	bool private_only;
	uint64_t *ids;
	size_t n;
};

static void drop_collect(uint64_t id, void *val, void *vctx)
{
	struct drop_ctx *c = vctx;
	struct kms_obj *o = val;

	if (c->private_only && (id == KMS_PROFILE_OBJ_ID || !kms_attrs_get_bool(&o->attrs, CKA_PRIVATE, false)))
		return;
	if (!c->owner || o->owner == c->owner)
		c->ids[c->n++] = id;
}

/* Frees the session objects that c selects (token lock held). */
static void drop_locked(struct kms_token *tok, struct drop_ctx *c)
{
	c->ids = calloc(tok->sobjs.n + 1, sizeof(*c->ids));
	if (c->ids) {
		kms_map_each(&tok->sobjs, drop_collect, c);
		for (size_t i = 0; i < c->n; i++) {
			struct kms_obj *o = kms_map_del(&tok->sobjs, c->ids[i]);

			/* a session key an engine holds elsewhere goes there too (pkcs11: a backend session object) */
			if (o && engine_destroy(tok, o) != CKR_OK)
				KMS_WARN("token '%s': a session key's %s engine object was not destroyed", tok->conf_label,
					 tok->eng->name);
			kms_obj_put(o);
		}
	}
	free(c->ids);
}

void kms_obj_drop_session_objects(struct kms_token *tok, CK_SESSION_HANDLE h)
{
	struct drop_ctx c = {.owner = h};

	kms_lock_wr(&tok->lock);
	drop_locked(tok, &c);
	kms_lock_unlock(&tok->lock);
}

void kms_obj_drop_private_session_objects_locked(struct kms_token *tok)
{
	struct drop_ctx c = {.private_only = true};

	drop_locked(tok, &c);
}

static void cache_put_cb(uint64_t id, void *val, void *ctx)
{
	(void)id;
	(void)ctx;
	kms_obj_put(val);
}

void kms_obj_cache_clear_locked(struct kms_token *tok)
{
	kms_map_each(&tok->cache, cache_put_cb, NULL);
	kms_map_free(&tok->cache);
}
