/* SPDX-License-Identifier: Apache-2.0 */
/* The pkcs11 engine's key wrapping, unwrapping and derivation: C_WrapKey, C_UnwrapKey and C_DeriveKey in the
 * backend, the new keys made there with kms11's CKA_ID and the application's sensitivity. A public wrapping key
 * (kms11 keeps public keys itself) becomes a backend session object for the one call. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "engines/pkcs11/p11.h"

/* A backend session object made from a public key's parts, for wrapping with it. */
static CK_RV public_object(struct p11_inst *in, CK_SESSION_HANDLE s, const struct p11_key *k, CK_OBJECT_HANDLE *h)
{
	static const CK_ATTRIBUTE_TYPE parts[] = {CKA_KEY_TYPE, CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS,
						  CKA_EC_POINT};
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE a[10] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &no, 1}, {CKA_WRAP, &yes, 1},
			      {CKA_ENCRYPT, &yes, 1}};
	CK_ULONG n = 4;
	CK_ULONG kt;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		const struct kms_attr *v = kms_attrs_get(&k->pub, parts[i]);

		if (!v)
			continue;
		if (parts[i] == CKA_KEY_TYPE) {
			/* kms11 stores CK_ULONGs as 8 bytes */
			if (kms_attrs_get_ulong(&k->pub, CKA_KEY_TYPE, &kt) != 0)
				return CKR_GENERAL_ERROR;
			a[n++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &kt, sizeof(kt)};
		} else {
			a[n++] = (CK_ATTRIBUTE){parts[i], v->val, v->len};
		}
	}
	return in->f->C_CreateObject(s, a, n, h);
}

CK_RV p11_wrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *wrapping, struct kms_engine_key *key,
	       uint8_t **out, size_t *outlen)
{
	struct p11_inst *in = inst;
	struct p11_key *wk = (struct p11_key *)wrapping, *kk = (struct p11_key *)key;
	CK_OBJECT_HANDLE hw = CK_INVALID_HANDLE, hk = CK_INVALID_HANDLE, tmp = CK_INVALID_HANDLE;
	CK_MECHANISM m = *mech;
	CK_SESSION_HANDLE s;
	CK_ULONG len = 0;
	uint8_t *buf = NULL;
	CK_RV rv;

	if (kk->soft)
		return CKR_KEY_NOT_WRAPPABLE;
	rv = p11_session_get(in, &s);
	if (rv != CKR_OK)
		return CKR_DEVICE_ERROR;
	if (wk->soft) {
		rv = public_object(in, s, wk, &tmp);
		hw = tmp;
	} else {
		rv = p11_key_handle(in, s, wk, &hw);
	}
	if (rv == CKR_OK)
		rv = p11_key_handle(in, s, kk, &hk);
	if (rv == CKR_OK)
		rv = in->f->C_WrapKey(s, &m, hw, hk, NULL, &len);
	if (rv == CKR_OK && !(buf = malloc(len ? len : 1)))
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = in->f->C_WrapKey(s, &m, hw, hk, buf, &len);
	if (tmp != CK_INVALID_HANDLE)
		in->f->C_DestroyObject(s, tmp);
	p11_session_put(in, s, rv);
	if (rv != CKR_OK) {
		free(buf);
		KMS_INFO("token '%s': the backend did not wrap the key: %s", in->label, p11_rv_name(rv));
		return p11_rv_lost(rv) ? CKR_DEVICE_ERROR : rv;
	}
	*out = buf;
	*outlen = len;
	return CKR_OK;
}

/* The public attributes of a key the backend just made: a secret key's type, length and check value, a private
 * key's public parts. */
static CK_RV new_key_pub(struct p11_inst *in, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls,
			 CK_KEY_TYPE *kt, struct kms_key_material *out)
{
	uint8_t *v = NULL;
	CK_ULONG vl = 0, ul = 0;
	CK_RV rv = p11_get_attr(in, s, h, CKA_KEY_TYPE, &v, &vl);

	if (rv == CKR_OK && vl == sizeof(CK_ULONG))
		memcpy(kt, v, sizeof(*kt));
	else if (rv == CKR_OK)
		rv = CKR_GENERAL_ERROR;
	free(v);
	v = NULL;
	if (rv != CKR_OK)
		return rv;
	if (cls == CKO_PRIVATE_KEY) {
		if (*kt != CKK_RSA) {
			/* An EC private key object gives no public point (CKA_EC_POINT), which kms11 must serve. */
			KMS_ERR("token '%s': a private key of type 0x%lx unwrapped in the backend has no public key kms11 "
				"can read; only RSA private keys are unwrapped on this engine", in->label,
				(unsigned long)*kt);
			return CKR_FUNCTION_NOT_SUPPORTED;
		}
		rv = p11_public_from_backend(in, s, h, *kt, &out->pub);
		if (rv == CKR_OK && kms_attrs_set_ulong(&out->pub, CKA_KEY_TYPE, *kt) != 0)
			rv = CKR_HOST_MEMORY;
		return rv;
	}
	rv = p11_get_attr(in, s, h, CKA_VALUE_LEN, &v, &vl);
	if (rv == CKR_OK && vl == sizeof(CK_ULONG))
		memcpy(&ul, v, sizeof(ul));
	free(v);
	v = NULL;
	if (rv != CKR_OK)
		return rv;
	if (kms_attrs_set_ulong(&out->pub, CKA_KEY_TYPE, *kt) != 0 || kms_attrs_set_ulong(&out->pub, CKA_VALUE_LEN, ul) != 0)
		return CKR_HOST_MEMORY;
	if (p11_get_attr(in, s, h, CKA_CHECK_VALUE, &v, &vl) == CKR_OK && vl &&
	    kms_attrs_set(&out->pub, CKA_CHECK_VALUE, v, vl) != 0)
		rv = CKR_HOST_MEMORY;
	free(v);
	return rv;
}

/* The template of a key the backend makes from another: the head, its length, every usage (kms11 enforces its own
 * usage attributes; the backend's only keep it from refusing what kms11 allows). */
static CK_ULONG new_key_template(CK_ATTRIBUTE *a, bool have_kt, CK_ULONG *vlen, CK_BBOOL *yes, CK_OBJECT_CLASS cls)
{
	CK_ULONG n = have_kt ? P11_KEY_HEAD_N : P11_KEY_HEAD_N - 1;

	if (*vlen)
		a[n++] = (CK_ATTRIBUTE){CKA_VALUE_LEN, vlen, sizeof(*vlen)};
	a[n++] = (CK_ATTRIBUTE){CKA_SIGN, yes, 1};
	a[n++] = (CK_ATTRIBUTE){CKA_DECRYPT, yes, 1};
	if (cls == CKO_SECRET_KEY) {
		a[n++] = (CK_ATTRIBUTE){CKA_VERIFY, yes, 1};
		a[n++] = (CK_ATTRIBUTE){CKA_ENCRYPT, yes, 1};
	}
	return n;
}

/* The end of a call that made backend key hk (rv its result so far): its public attributes and blob, or, on a
 * failure, the backend object destroyed again; returns the session and gives the caller's code. */
static CK_RV new_key_done(struct p11_inst *in, CK_SESSION_HANDLE s, CK_RV rv, CK_OBJECT_HANDLE hk, CK_OBJECT_CLASS cls,
			  CK_KEY_TYPE kt, const struct p11_key_head *h, const char *what, struct kms_key_material *out)
{
	if (rv == CKR_OK)
		rv = new_key_pub(in, s, hk, cls, &kt, out);
	if (rv == CKR_OK)
		rv = p11_blob_make(cls, kt, h->priv, h->id, sizeof(h->id), out);
	if (rv != CKR_OK) {
		if (hk != CK_INVALID_HANDLE)
			in->f->C_DestroyObject(s, hk);
		kms_key_material_free(out);
		KMS_INFO("token '%s': the backend did not %s the key: %s", in->label, what, p11_rv_name(rv));
	}
	p11_maker_put(in, h->tok == CK_TRUE, s, rv);
	return p11_rv_lost(rv) ? CKR_DEVICE_ERROR : rv;
}

CK_RV p11_unwrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *unwrapping, CK_OBJECT_CLASS cls,
		 CK_KEY_TYPE kt, size_t value_len, const uint8_t *wrapped, size_t wlen, const struct kms_attrs *tmpl,
		 struct kms_key_material *out)
{
	struct p11_inst *in = inst;
	struct p11_key *uk = (struct p11_key *)unwrapping;
	CK_ATTRIBUTE a[P11_KEY_HEAD_N + 6];
	CK_ULONG n, vlen;
	CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM m = *mech;
	CK_OBJECT_HANDLE hu, hk = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	struct p11_key_head h;
	CK_RV rv;

	if (uk->soft)
		return CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
	rv = p11_key_head(&h, cls, kt, kms_attrs_get_bool(tmpl, CKA_TOKEN, false),
			  kms_attrs_get_bool(tmpl, CKA_PRIVATE, true), kms_attrs_get_bool(tmpl, CKA_SENSITIVE, true),
			  kms_attrs_get_bool(tmpl, CKA_EXTRACTABLE, false), a);
	if (rv != CKR_OK)
		return rv;
	/* The unwrapped value gives the length; SoftHSMv2 refuses CKA_VALUE_LEN here (CKR_ATTRIBUTE_READ_ONLY). */
	vlen = 0;
	n = new_key_template(a, kt != CK_UNAVAILABLE_INFORMATION, &vlen, &yes, cls);
	rv = p11_maker_get(in, h.tok == CK_TRUE, &s);
	if (rv != CKR_OK)
		return CKR_DEVICE_ERROR;
	rv = p11_key_handle(in, s, uk, &hu);
	if (rv == CKR_OK)
		rv = in->f->C_UnwrapKey(s, &m, hu, (CK_BYTE_PTR)wrapped, wlen, a, n, &hk);
	return new_key_done(in, s, rv, hk, cls, kt, &h, "unwrap", out);
}

CK_RV p11_derive(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *base,
		 const struct kms_secretgen_params *p, struct kms_key_material *out)
{
	struct p11_inst *in = inst;
	struct p11_key *bk = (struct p11_key *)base;
	CK_ATTRIBUTE a[P11_KEY_HEAD_N + 6];
	CK_ULONG n, vlen = p->len;
	CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM m = *mech;
	CK_OBJECT_HANDLE hb, hk = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	CK_KEY_TYPE kt = p->key_type;
	struct p11_key_head h;
	CK_RV rv;

	if (bk->soft)
		return CKR_KEY_TYPE_INCONSISTENT;
	rv = p11_key_head(&h, CKO_SECRET_KEY, kt, p->token, p->priv, p->sensitive, p->extractable, a);
	if (rv != CKR_OK)
		return rv;
	n = new_key_template(a, true, &vlen, &yes, CKO_SECRET_KEY);
	rv = p11_maker_get(in, h.tok == CK_TRUE, &s);
	if (rv != CKR_OK)
		return CKR_DEVICE_ERROR;
	rv = p11_key_handle(in, s, bk, &hb);
	if (rv == CKR_OK)
		rv = in->f->C_DeriveKey(s, &m, hb, a, n, &hk);
	return new_key_done(in, s, rv, hk, CKO_SECRET_KEY, kt, &h, "derive", out);
}
