/* SPDX-License-Identifier: Apache-2.0 */
/* Keys that leave or enter in wrapped form, derived keys and digested keys: C_WrapKey, C_UnwrapKey, C_DeriveKey, C_DigestKey. */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "module/core/core.h"
#include "module/core/template.h"

/* True when every attribute of the encoded template tmpl is present in a with the same value. */
static bool matches_template(const struct kms_attrs *a, const struct kms_attr *tmpl)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	bool ok = true;

	if (!tmpl || !tmpl->len)
		return true;
	if (kms_attrs_decode(tmpl->val, tmpl->len, &t) != 0)
		return false;
	for (size_t i = 0; i < t.n && ok; i++) {
		const struct kms_attr *have = kms_attrs_get(a, t.v[i].type);

		ok = have && have->len == t.v[i].len && (!have->len || memcmp(have->val, t.v[i].val, have->len) == 0);
	}
	kms_attrs_free(&t);
	return ok;
}

/* Looks up a key object for a wrap-family call; an unknown handle gives bad_handle. */
static CK_RV key_object(struct kms_session *s, CK_OBJECT_HANDLE h, CK_RV bad_handle, struct kms_obj **o,
			unsigned long *cls)
{
	CK_RV rv = kms_obj_get(s, h, o);

	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return bad_handle;
	if (rv != CKR_OK)
		return rv;
	*cls = CK_UNAVAILABLE_INFORMATION;
	kms_attrs_get_ulong(&(*o)->attrs, CKA_CLASS, cls);
	return CKR_OK;
}

/* CKR_OK when the engine has the function (have) and offers mech with flag: else CKR_FUNCTION_NOT_SUPPORTED
 * or CKR_MECHANISM_INVALID. */
static CK_RV mech_with(struct kms_session *s, const CK_MECHANISM *mech, CK_FLAGS flag, bool have)
{
	const struct kms_engine_mech *em = kms_mech_find(s->tok, mech->mechanism);

	if (!have)
		return CKR_FUNCTION_NOT_SUPPORTED;
	return em && (em->flags & flag) ? CKR_OK : CKR_MECHANISM_INVALID;
}

/* The key an operation acts with (wrapping, unwrapping or base key): it must exist (else bad_handle), be of
 * class c1 or c2 (else bad_class), have its usage attribute set and allow the mechanism. */
static CK_RV acting_key(struct kms_session *s, CK_OBJECT_HANDLE h, CK_RV bad_handle, CK_OBJECT_CLASS c1,
			CK_OBJECT_CLASS c2, CK_RV bad_class, CK_ATTRIBUTE_TYPE usage, CK_MECHANISM_TYPE mech,
			struct kms_obj **o)
{
	unsigned long cls;
	CK_RV rv = key_object(s, h, bad_handle, o, &cls);

	if (rv != CKR_OK)
		return rv;
	if (cls != c1 && cls != c2)
		rv = bad_class;
	else if (!kms_attrs_get_bool(&(*o)->attrs, usage, false))
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
	else if (!kms_mech_allowed(&(*o)->attrs, mech))
		rv = CKR_MECHANISM_INVALID;
	if (rv != CKR_OK) {
		kms_obj_put(*o);
		*o = NULL;
	}
	return rv;
}

CK_RV kms_obj_wrap(struct kms_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE hwrap, CK_OBJECT_HANDLE hkey,
		   uint8_t *out, CK_ULONG *outlen)
{
	struct kms_obj *w = NULL, *k = NULL;
	struct kms_keyref *wk = NULL, *kk = NULL;
	unsigned long kcls;
	uint8_t *buf = NULL;
	size_t len = 0;
	CK_RV rv;

	/* What may never leave the token is refused first, whatever mechanism is asked for. */
	rv = key_object(s, hkey, CKR_KEY_HANDLE_INVALID, &k, &kcls);
	if (rv != CKR_OK)
		return rv;
	if (kcls != CKO_SECRET_KEY && kcls != CKO_PRIVATE_KEY) {
		rv = CKR_KEY_NOT_WRAPPABLE;
		goto out;
	}
	if (!kms_attrs_get_bool(&k->attrs, CKA_EXTRACTABLE, false)) {
		rv = CKR_KEY_UNEXTRACTABLE;
		goto out;
	}
	rv = mech_with(s, mech, CKF_WRAP, s->tok->eng->wrap != NULL);
	if (rv != CKR_OK)
		goto out;
	rv = acting_key(s, hwrap, CKR_WRAPPING_KEY_HANDLE_INVALID, CKO_SECRET_KEY, CKO_PUBLIC_KEY,
			CKR_WRAPPING_KEY_TYPE_INCONSISTENT, CKA_WRAP, mech->mechanism, &w);
	if (rv != CKR_OK)
		goto out;
	if ((kms_attrs_get_bool(&k->attrs, CKA_WRAP_WITH_TRUSTED, false) &&
	     !kms_attrs_get_bool(&w->attrs, CKA_TRUSTED, false)) ||
	    !matches_template(&k->attrs, kms_attrs_get(&w->attrs, CKA_WRAP_TEMPLATE))) {
		rv = CKR_KEY_NOT_WRAPPABLE;
		goto out;
	}
	rv = kms_obj_key(s, w, KMS_USE_ORIGINATOR, &wk);
	if (rv == CKR_OK)
		rv = kms_obj_key(s, k, KMS_USE_RECIPIENT, &kk);
	if (rv == CKR_OK)
		rv = s->tok->eng->wrap(s->tok->einst, mech, wk->k, kk->k, &buf, &len);
	if (rv != CKR_OK)
		goto out;
	if (out && *outlen < len)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (out)
		memcpy(out, buf, len);
	*outlen = kms_ul(len);
out:
	free(buf);
	if (kk)
		kms_keyref_put(kk);
	if (wk)
		kms_keyref_put(wk);
	kms_obj_put(k);
	kms_obj_put(w);
	return rv;
}

/* Reads class and key type of a new key's template; kt stays CK_UNAVAILABLE_INFORMATION when absent. */
static CK_RV new_key_kind(const struct kms_attrs *a, unsigned long *cls, unsigned long *kt)
{
	*kt = CK_UNAVAILABLE_INFORMATION;
	if (kms_attrs_get(a, CKA_KEY_TYPE) && kms_attrs_get_ulong(a, CKA_KEY_TYPE, kt) != 0)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (kms_attrs_get(a, CKA_CLASS) && kms_attrs_get_ulong(a, CKA_CLASS, cls) != 0)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	return CKR_OK;
}

/* Adds the attributes of an encoded CKA_UNWRAP_TEMPLATE / CKA_DERIVE_TEMPLATE to a; a value the caller
 * gave differently is CKR_TEMPLATE_INCONSISTENT. */
static CK_RV apply_template(struct kms_attrs *a, const struct kms_attr *tmpl)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	CK_RV rv = CKR_OK;

	if (!tmpl || !tmpl->len)
		return CKR_OK;
	if (kms_attrs_decode(tmpl->val, tmpl->len, &t) != 0)
		return CKR_GENERAL_ERROR;
	for (size_t i = 0; i < t.n && rv == CKR_OK; i++) {
		const struct kms_attr *have = kms_attrs_get(a, t.v[i].type);

		if (have && (have->len != t.v[i].len || (have->len && memcmp(have->val, t.v[i].val, have->len) != 0)))
			rv = CKR_TEMPLATE_INCONSISTENT;
		else if (!have && kms_attrs_set(a, t.v[i].type, t.v[i].val, t.v[i].len) != 0)
			rv = CKR_HOST_MEMORY;
	}
	kms_attrs_free(&t);
	return rv;
}

/* Checks a new key's template: private values and derived values never come from it. */
static CK_RV new_key_template(struct kms_session *s, struct kms_attrs *a, unsigned long cls, unsigned long kt)
{
	CK_RV rv = kms_tmpl_check(a, cls, kt, KMS_TMPL_GENERATE, NULL, kms_session_state(s) == CKS_RW_SO_FUNCTIONS);

	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < a->n; i++)
		if (kms_tmpl_is_private_component(a->v[i].type, kt) || a->v[i].type == CKA_EC_POINT ||
		    a->v[i].type == CKA_MODULUS)
			return CKR_TEMPLATE_INCONSISTENT;
	if (kms_obj_private_default(s, a) != 0)
		return CKR_HOST_MEMORY;
	return kms_obj_may_write(s, kms_attrs_get_bool(a, CKA_TOKEN, false), kms_attrs_get_bool(a, CKA_PRIVATE, true));
}

CK_RV kms_obj_unwrap(struct kms_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE hunwrap, const uint8_t *in,
		     size_t inlen, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	struct kms_key_material km = {.pub = KMS_ATTRS_INIT};
	struct kms_obj *u = NULL;
	struct kms_keyref *uk = NULL;
	unsigned long cls = CK_UNAVAILABLE_INFORMATION, kt, vlen = 0;
	CK_RV rv;

	rv = mech_with(s, mech, CKF_UNWRAP, s->tok->eng->unwrap != NULL);
	if (rv != CKR_OK)
		return rv;
	rv = acting_key(s, hunwrap, CKR_UNWRAPPING_KEY_HANDLE_INVALID, CKO_SECRET_KEY, CKO_PRIVATE_KEY,
			CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, CKA_UNWRAP, mech->mechanism, &u);
	if (rv != CKR_OK)
		return rv;
	rv = kms_tmpl_from_ck(tmpl, n, &a);
	if (rv == CKR_OK)
		rv = apply_template(&a, kms_attrs_get(&u->attrs, CKA_UNWRAP_TEMPLATE));
	if (rv == CKR_OK)
		rv = new_key_kind(&a, &cls, &kt);
	if (rv != CKR_OK)
		goto out;
	if (cls == CK_UNAVAILABLE_INFORMATION || (cls == CKO_SECRET_KEY && kt == CK_UNAVAILABLE_INFORMATION)) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if ((cls != CKO_SECRET_KEY && cls != CKO_PRIVATE_KEY) ||
	    (cls == CKO_SECRET_KEY && !kms_tmpl_is_secret_type(kt))) {
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	rv = new_key_template(s, &a, cls, kt);
	if (rv == CKR_OK && kms_attrs_get(&a, CKA_VALUE_LEN) && kms_attrs_get_ulong(&a, CKA_VALUE_LEN, &vlen) != 0)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK)
		rv = kms_obj_key(s, u, KMS_USE_RECIPIENT, &uk);
	if (rv == CKR_OK)
		rv = s->tok->eng->unwrap(s->tok->einst, mech, uk->k, cls, kt, vlen, in, inlen, &a, &km);
	if (rv != CKR_OK)
		goto out;
	if (kt == CK_UNAVAILABLE_INFORMATION && kms_attrs_get_ulong(&km.pub, CKA_KEY_TYPE, &kt) != 0) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	kms_attrs_del(&a, CKA_VALUE_LEN);
	/* An unwrapped key has been outside: never "always sensitive" nor "never extractable". */
	rv = kms_obj_store_key(s, &a, cls, kt, &km, CK_UNAVAILABLE_INFORMATION, false, false, h);
out:
	kms_key_material_free(&km);
	kms_attrs_free(&a);
	if (uk)
		kms_keyref_put(uk);
	kms_obj_put(u);
	return rv;
}

/* CKM_HKDF_* with CKF_HKDF_SALT_KEY: the salt key, a secret key the session can see (its engine key held in
 * *ref); nothing for other mechanisms and salt types. */
static CK_RV hkdf_salt_key(struct kms_session *s, const CK_MECHANISM *mech, struct kms_keyref **ref)
{
	const struct kms_ck_hkdf_params *hp = mech->pParameter;
	struct kms_obj *o = NULL;
	unsigned long cls;
	CK_RV rv;

	*ref = NULL;
	if (mech->mechanism != CKM_HKDF_DERIVE && mech->mechanism != CKM_HKDF_DATA)
		return CKR_OK;
	if (!hp || mech->ulParameterLen != sizeof(*hp))
		return CKR_MECHANISM_PARAM_INVALID;
	if (!hp->bExtract || hp->ulSaltType != CKF_HKDF_SALT_KEY)
		return CKR_OK;
	rv = key_object(s, hp->hSaltKey, CKR_MECHANISM_PARAM_INVALID, &o, &cls);
	if (rv != CKR_OK)
		return rv;
	rv = cls == CKO_SECRET_KEY ? kms_obj_key(s, o, KMS_USE_RECIPIENT, ref) : CKR_MECHANISM_PARAM_INVALID;
	kms_obj_put(o);
	return rv;
}

CK_RV kms_obj_derive(struct kms_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE hbase, CK_ATTRIBUTE *tmpl,
		     CK_ULONG n, CK_OBJECT_HANDLE *h)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	struct kms_key_material km = {.pub = KMS_ATTRS_INIT};
	struct kms_secretgen_params p = {.mech = mech->mechanism};
	struct kms_obj *b = NULL;
	struct kms_keyref *bk = NULL, *sk = NULL;
	bool data = mech->mechanism == CKM_HKDF_DATA;
	unsigned long cls = data ? CKO_DATA : CKO_SECRET_KEY, kt, vlen = 0;
	CK_RV rv;

	rv = mech_with(s, mech, CKF_DERIVE, s->tok->eng->derive != NULL);
	if (rv != CKR_OK)
		return rv;
	rv = acting_key(s, hbase, CKR_KEY_HANDLE_INVALID, CKO_PRIVATE_KEY, CKO_SECRET_KEY, CKR_KEY_TYPE_INCONSISTENT,
			CKA_DERIVE, mech->mechanism, &b);
	if (rv != CKR_OK)
		return rv;
	rv = kms_tmpl_from_ck(tmpl, n, &a);
	if (rv == CKR_OK)
		rv = apply_template(&a, kms_attrs_get(&b->attrs, CKA_DERIVE_TEMPLATE));
	if (rv == CKR_OK)
		rv = new_key_kind(&a, &cls, &kt);
	if (rv == CKR_OK && kms_attrs_get(&a, CKA_VALUE_LEN) && kms_attrs_get_ulong(&a, CKA_VALUE_LEN, &vlen) != 0)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv != CKR_OK)
		goto out;
	if (data) {
		/* A data object gets the derived bytes as its CKA_VALUE: a template of a data object, and a length. */
		if (cls != CKO_DATA || kt != CK_UNAVAILABLE_INFORMATION) {
			rv = CKR_TEMPLATE_INCONSISTENT;
			goto out;
		}
		kms_attrs_del(&a, CKA_VALUE_LEN);
		kt = CK_UNAVAILABLE_INFORMATION;
	} else {
		if (kt == CK_UNAVAILABLE_INFORMATION)
			kt = CKK_GENERIC_SECRET;
		if (cls != CKO_SECRET_KEY || !kms_tmpl_is_secret_type(kt)) {
			rv = CKR_TEMPLATE_INCONSISTENT;
			goto out;
		}
		rv = new_key_template(s, &a, cls, kt);
	}
	if (rv == CKR_OK)
		rv = hkdf_salt_key(s, mech, &sk);
	if (rv == CKR_OK)
		rv = kms_obj_key(s, b, KMS_USE_ORIGINATOR, &bk);
	if (rv != CKR_OK)
		goto out;
	p.key_type = kt;
	p.len = vlen;
	p.salt_key = sk ? sk->k : NULL;
	p.token = kms_attrs_get_bool(&a, CKA_TOKEN, false);
	p.priv = kms_attrs_get_bool(&a, CKA_PRIVATE, true);
	p.sensitive = kms_attrs_get_bool(&a, CKA_SENSITIVE, true);
	p.extractable = kms_attrs_get_bool(&a, CKA_EXTRACTABLE, false);
	rv = s->tok->eng->derive(s->tok->einst, mech, bk->k, &p, &km);
	if (rv != CKR_OK)
		goto out;
	if (data) {
		rv = kms_attrs_set(&a, CKA_VALUE, km.blob, km.blob_len) == 0 ? kms_obj_create_data(s, &a, h)
									      : CKR_HOST_MEMORY;
		goto out;
	}
	kms_attrs_del(&a, CKA_VALUE_LEN);
	/* A derived key is as sensitive as its base has always been. */
	rv = kms_obj_store_key(s, &a, cls, kt, &km, CK_UNAVAILABLE_INFORMATION,
			       kms_attrs_get_bool(&b->attrs, CKA_ALWAYS_SENSITIVE, false),
			       kms_attrs_get_bool(&b->attrs, CKA_NEVER_EXTRACTABLE, false), h);
out:
	kms_key_material_free(&km);
	kms_attrs_free(&a);
	if (bk)
		kms_keyref_put(bk);
	if (sk)
		kms_keyref_put(sk);
	kms_obj_put(b);
	return rv;
}

CK_RV kms_op_digest_key(struct kms_session *s, CK_OBJECT_HANDLE hkey)
{
	struct kms_active *act = &s->op[KMS_OP_DIGEST];
	struct kms_obj *o = NULL;
	struct kms_keyref *k = NULL;
	unsigned long cls;
	CK_RV rv;

	if (!act->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = key_object(s, hkey, CKR_KEY_HANDLE_INVALID, &o, &cls);
	if (rv != CKR_OK)
		goto out;
	if (cls != CKO_SECRET_KEY || !s->tok->eng->op_digest_key) {
		rv = CKR_KEY_INDIGESTIBLE;
		goto out;
	}
	rv = kms_obj_key(s, o, KMS_USE_RECIPIENT, &k);
	if (rv == CKR_OK)
		rv = s->tok->eng->op_digest_key(act->eop, k->k);
	if (rv == CKR_OK)
		act->multipart = true;
out:
	if (k)
		kms_keyref_put(k);
	kms_obj_put(o);
	if (rv != CKR_OK && rv != CKR_OPERATION_NOT_INITIALIZED)
		kms_session_op_end(s, KMS_OP_DIGEST);
	return rv;
}
