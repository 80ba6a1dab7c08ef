/* SPDX-License-Identifier: Apache-2.0 */
/* Attribute rules for keys, certificates and data objects, after the tables of PKCS#11 2.40 section 4. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ckr.h"
#include "common/log.h"
#include "module/core/core.h"
#include "module/core/template.h"

/* Value shapes and permissions. */
#define V_BOOL 0x01u
#define V_ULONG 0x02u
#define V_ANY 0x00u
#define V_LIST 0x04u /* a kms11.h list: NUL-terminated unique elements */
#define V_JSON 0x08u /* a JSON object in UTF-8 */
#define P_CREATE 0x10u  /* may be given to C_CreateObject / generation */
#define P_MODIFY 0x20u  /* may be changed by C_SetAttributeValue and C_CopyObject */
#define P_COPY 0x40u    /* may be given to C_CopyObject only */
#define P_ONEWAY 0x80u  /* SENSITIVE, EXTRACTABLE, WRAP_WITH_TRUSTED: may only move one way */
#define P_SO 0x100u     /* only the SO may set it (CKA_TRUSTED) */
#define P_GENONLY 0x200u /* may be given at generation, not at import */

/* Object kinds a rule applies to. */
#define K_ALL 0x01u
#define K_KEY 0x02u
#define K_PUB 0x04u
#define K_PRIV 0x08u
#define K_DATA 0x10u
#define K_SEC 0x80u  /* secret keys */
#define K_CERT 0x100u /* certificates */
#define K_RSA 0x20u  /* only RSA keys */
#define K_EC 0x40u   /* only EC and Edwards keys */

struct rule {
	CK_ATTRIBUTE_TYPE type;
	unsigned kinds;
	unsigned flags;
};

static const struct rule rules[] = {
	{CKA_CLASS, K_ALL, V_ULONG | P_CREATE},
	{CKA_TOKEN, K_ALL, V_BOOL | P_CREATE | P_COPY},
	{CKA_PRIVATE, K_ALL, V_BOOL | P_CREATE | P_COPY},
	{CKA_MODIFIABLE, K_ALL, V_BOOL | P_CREATE | P_COPY},
	{CKA_LABEL, K_ALL, V_ANY | P_CREATE | P_MODIFY},
	{CKA_COPYABLE, K_ALL, V_BOOL | P_CREATE | P_COPY},
	{CKA_UNIQUE_ID, K_ALL, V_ANY},
	{CKA_DESTROYABLE, K_ALL, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_APPLICATION, K_DATA, V_ANY | P_CREATE | P_MODIFY},
	{CKA_OBJECT_ID, K_DATA, V_ANY | P_CREATE | P_MODIFY},
	{CKA_VALUE, K_DATA, V_ANY | P_CREATE | P_MODIFY},
	{CKA_CERTIFICATE_TYPE, K_CERT, V_ULONG | P_CREATE},
	{CKA_TRUSTED, K_CERT, V_BOOL | P_CREATE | P_MODIFY | P_SO},
	{CKA_CERTIFICATE_CATEGORY, K_CERT, V_ULONG | P_CREATE | P_MODIFY},
	{CKA_CHECK_VALUE, K_CERT, V_ANY | P_CREATE},
	{CKA_START_DATE, K_CERT, V_ANY | P_CREATE | P_MODIFY},
	{CKA_END_DATE, K_CERT, V_ANY | P_CREATE | P_MODIFY},
	{CKA_PUBLIC_KEY_INFO, K_CERT, V_ANY | P_CREATE},
	{CKA_SUBJECT, K_CERT, V_ANY | P_CREATE},
	{CKA_ID, K_CERT, V_ANY | P_CREATE | P_MODIFY},
	{CKA_ISSUER, K_CERT, V_ANY | P_CREATE | P_MODIFY},
	{CKA_SERIAL_NUMBER, K_CERT, V_ANY | P_CREATE | P_MODIFY},
	{CKA_VALUE, K_CERT, V_ANY | P_CREATE},
	{CKA_URL, K_CERT, V_ANY | P_CREATE},
	{CKA_HASH_OF_SUBJECT_PUBLIC_KEY, K_CERT, V_ANY | P_CREATE},
	{CKA_HASH_OF_ISSUER_PUBLIC_KEY, K_CERT, V_ANY | P_CREATE},
	{CKA_JAVA_MIDP_SECURITY_DOMAIN, K_CERT, V_ULONG | P_CREATE},
	{CKA_NAME_HASH_ALGORITHM, K_CERT, V_ULONG | P_CREATE},
	{CKA_KEY_TYPE, K_KEY, V_ULONG | P_CREATE},
	{CKA_ID, K_KEY, V_ANY | P_CREATE | P_MODIFY},
	{CKA_START_DATE, K_KEY, V_ANY | P_CREATE | P_MODIFY},
	{CKA_END_DATE, K_KEY, V_ANY | P_CREATE | P_MODIFY},
	{CKA_DERIVE, K_KEY, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_LOCAL, K_KEY, V_BOOL},
	{CKA_KEY_GEN_MECHANISM, K_KEY, V_ULONG},
	{CKA_ALLOWED_MECHANISMS, K_KEY, V_ANY | P_CREATE},
	{CKA_SUBJECT, K_PUB | K_PRIV, V_ANY | P_CREATE | P_MODIFY},
	{CKA_VALUE, K_SEC, V_ANY | P_CREATE},
	{CKA_VALUE_LEN, K_SEC, V_ULONG | P_CREATE | P_GENONLY},
	{CKA_CHECK_VALUE, K_SEC, V_ANY | P_CREATE},
	{CKA_ENCRYPT, K_SEC, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_DECRYPT, K_SEC, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_SIGN, K_SEC, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_VERIFY, K_SEC, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_WRAP, K_SEC, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_UNWRAP, K_SEC, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_TRUSTED, K_SEC, V_BOOL | P_CREATE | P_MODIFY | P_SO},
	{CKA_SENSITIVE, K_SEC, V_BOOL | P_CREATE | P_MODIFY | P_ONEWAY},
	{CKA_EXTRACTABLE, K_SEC, V_BOOL | P_CREATE | P_MODIFY | P_ONEWAY},
	{CKA_WRAP_WITH_TRUSTED, K_SEC, V_BOOL | P_CREATE | P_MODIFY | P_ONEWAY},
	{CKA_ALWAYS_SENSITIVE, K_SEC, V_BOOL},
	{CKA_WRAP_TEMPLATE, K_SEC | K_PUB, V_ANY | P_CREATE},
	{CKA_UNWRAP_TEMPLATE, K_SEC | K_PRIV, V_ANY | P_CREATE},
	{CKA_DERIVE_TEMPLATE, K_SEC | K_PRIV, V_ANY | P_CREATE},
	{CKA_NEVER_EXTRACTABLE, K_SEC, V_BOOL},
	{CKA_PUBLIC_KEY_INFO, K_PUB | K_PRIV, V_ANY | P_CREATE},
	{CKA_ENCRYPT, K_PUB, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_VERIFY, K_PUB, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_VERIFY_RECOVER, K_PUB, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_WRAP, K_PUB, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_TRUSTED, K_PUB, V_BOOL | P_CREATE | P_MODIFY | P_SO},
	{CKA_SENSITIVE, K_PRIV, V_BOOL | P_CREATE | P_MODIFY | P_ONEWAY},
	{CKA_DECRYPT, K_PRIV, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_SIGN, K_PRIV, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_SIGN_RECOVER, K_PRIV, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_UNWRAP, K_PRIV, V_BOOL | P_CREATE | P_MODIFY},
	{CKA_EXTRACTABLE, K_PRIV, V_BOOL | P_CREATE | P_MODIFY | P_ONEWAY},
	{CKA_ALWAYS_SENSITIVE, K_PRIV, V_BOOL},
	{CKA_NEVER_EXTRACTABLE, K_PRIV, V_BOOL},
	{CKA_WRAP_WITH_TRUSTED, K_PRIV, V_BOOL | P_CREATE | P_MODIFY | P_ONEWAY},
	{CKA_ALWAYS_AUTHENTICATE, K_PRIV, V_BOOL | P_CREATE},
	{CKA_MODULUS, (K_PUB | K_PRIV) | K_RSA, V_ANY | P_CREATE},
	{CKA_MODULUS_BITS, K_PUB | K_RSA, V_ULONG | P_CREATE | P_GENONLY},
	{CKA_PUBLIC_EXPONENT, (K_PUB | K_PRIV) | K_RSA, V_ANY | P_CREATE},
	{CKA_PRIVATE_EXPONENT, K_PRIV | K_RSA, V_ANY | P_CREATE},
	{CKA_PRIME_1, K_PRIV | K_RSA, V_ANY | P_CREATE},
	{CKA_PRIME_2, K_PRIV | K_RSA, V_ANY | P_CREATE},
	{CKA_EXPONENT_1, K_PRIV | K_RSA, V_ANY | P_CREATE},
	{CKA_EXPONENT_2, K_PRIV | K_RSA, V_ANY | P_CREATE},
	{CKA_COEFFICIENT, K_PRIV | K_RSA, V_ANY | P_CREATE},
	{CKA_EC_PARAMS, (K_PUB | K_PRIV) | K_EC, V_ANY | P_CREATE},
	{CKA_EC_POINT, K_PUB | K_EC, V_ANY | P_CREATE},
	{CKA_VALUE, K_PRIV | K_EC, V_ANY | P_CREATE},
	/* The management facts of kms11.h: names the application may give, and what only kms11 sets. */
	{CKA_KMS11_ALIASES, K_KEY, V_LIST | P_CREATE | P_MODIFY},
	{CKA_KMS11_TAGS, K_KEY, V_LIST | P_CREATE | P_MODIFY},
	{CKA_KMS11_METADATA, K_KEY, V_JSON | P_CREATE | P_MODIFY},
	{CKA_KMS11_DESCRIPTION, K_KEY, V_ANY | P_CREATE | P_MODIFY},
	{CKA_KMS11_KEY_ID, K_KEY, V_ANY},
	{CKA_KMS11_ENGINE, K_KEY, V_ANY},
	{CKA_KMS11_CREATED, K_KEY, V_ANY},
	{CKA_KMS11_STATE, K_KEY, V_ULONG},
	{CKA_KMS11_VERSION, K_KEY, V_ULONG},
	{CKA_KMS11_ROTATION_DAYS, K_KEY, V_ULONG},
	{CKA_KMS11_NEXT_ROTATION, K_KEY, V_ANY},
	{CKA_KMS11_DELETION_DATE, K_KEY, V_ANY},
	{CKA_KMS11_EXPIRATION_DATE, K_KEY, V_ANY},
	{CKA_KMS11_PRIMARY, K_KEY, V_BOOL},
};

static const struct rule *rule_find(CK_ATTRIBUTE_TYPE type, unsigned kind, unsigned alg)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];
		unsigned objkinds = r->kinds & (K_ALL | K_KEY | K_PUB | K_PRIV | K_DATA | K_SEC | K_CERT);
		unsigned algs = r->kinds & (K_RSA | K_EC);

		if (r->type != type)
			continue;
		if (!(objkinds & K_ALL) && !(objkinds & kind))
			continue;
		if (algs && !(algs & alg))
			continue;
		return r;
	}
	return NULL;
}

static unsigned kind_of(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PUBLIC_KEY:
		return K_KEY | K_PUB;
	case CKO_PRIVATE_KEY:
		return K_KEY | K_PRIV;
	case CKO_SECRET_KEY:
		return K_KEY | K_SEC;
	case CKO_DATA:
		return K_DATA;
	case CKO_CERTIFICATE:
		return K_CERT;
	default:
		return 0;
	}
}

static unsigned alg_of(CK_KEY_TYPE kt)
{
	switch (kt) {
	case CKK_RSA:
		return K_RSA;
	case CKK_EC:
	case CKK_EC_EDWARDS:
	case CKK_EC_MONTGOMERY:
		return K_EC;
	default:
		return 0;
	}
}

bool kms_tmpl_is_secret_type(CK_KEY_TYPE kt)
{
	switch (kt) {
	case CKK_AES:
	case CKK_DES:
	case CKK_DES2:
	case CKK_DES3:
	case CKK_HKDF:
	case CKK_GENERIC_SECRET:
	case CKK_SHA_1_HMAC:
	case CKK_SHA224_HMAC:
	case CKK_SHA256_HMAC:
	case CKK_SHA384_HMAC:
	case CKK_SHA512_HMAC:
		return true;
	default:
		return false;
	}
}

bool kms_tmpl_is_internal(CK_ATTRIBUTE_TYPE type)
{
	return type >= CKA_KMS11_INTERNAL && type < CKA_KMS11_BASE + 0x10000;
}

bool kms_tmpl_is_private_component(CK_ATTRIBUTE_TYPE type, CK_KEY_TYPE kt)
{
	switch (type) {
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT:
		return kt == CKK_RSA;
	case CKA_VALUE:
		return kt == CKK_EC || kt == CKK_EC_EDWARDS || kt == CKK_EC_MONTGOMERY || kms_tmpl_is_secret_type(kt);
	default:
		return false;
	}
}

bool kms_tmpl_is_template_attr(CK_ATTRIBUTE_TYPE type)
{
	return type == CKA_WRAP_TEMPLATE || type == CKA_UNWRAP_TEMPLATE || type == CKA_DERIVE_TEMPLATE;
}

/* Stores an attribute-array value (CKA_WRAP_TEMPLATE, ...) in its encoded form; nested arrays are refused. */
static CK_RV nested_from_ck(CK_ATTRIBUTE_TYPE type, const void *val, CK_ULONG len, struct kms_attrs *out)
{
	struct kms_attrs inner = KMS_ATTRS_INIT;
	const CK_ATTRIBUTE *arr = val;
	uint8_t *enc = NULL;
	size_t enclen = 0;
	CK_RV rv;

	if (len % sizeof(CK_ATTRIBUTE) != 0)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	for (CK_ULONG i = 0; i < len / sizeof(CK_ATTRIBUTE); i++)
		if (kms_tmpl_is_template_attr(arr[i].type))
			return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = kms_tmpl_from_ck(arr, len / sizeof(CK_ATTRIBUTE), &inner);
	if (rv != CKR_OK)
		return rv == CKR_ARGUMENTS_BAD ? CKR_ATTRIBUTE_VALUE_INVALID : rv;
	if (kms_attrs_encode(&inner, &enc, &enclen) != 0 || kms_attrs_set(out, type, enc, enclen) != 0)
		rv = CKR_HOST_MEMORY;
	free(enc);
	kms_attrs_free(&inner);
	return rv;
}

CK_RV kms_tmpl_from_ck(const CK_ATTRIBUTE *t, CK_ULONG n, struct kms_attrs *out)
{
	kms_attrs_init(out);
	if (n && !t)
		return CKR_ARGUMENTS_BAD;
	for (CK_ULONG i = 0; i < n; i++) {
		const struct kms_attr *prev;

		if (t[i].ulValueLen && !t[i].pValue) {
			kms_attrs_free(out);
			return CKR_ARGUMENTS_BAD;
		}
		if (t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION) {
			kms_attrs_free(out);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		prev = kms_attrs_get(out, t[i].type);
		if (prev && (prev->len != t[i].ulValueLen ||
			     (prev->len && memcmp(prev->val, t[i].pValue, prev->len) != 0))) {
			kms_attrs_free(out);
			return CKR_TEMPLATE_INCONSISTENT;
		}
		if (kms_tmpl_is_template_attr(t[i].type)) {
			CK_RV rv = nested_from_ck(t[i].type, t[i].pValue, t[i].ulValueLen, out);

			if (rv != CKR_OK) {
				kms_attrs_free(out);
				return rv;
			}
			continue;
		}
		if (kms_attrs_set(out, t[i].type, t[i].pValue, t[i].ulValueLen) != 0) {
			kms_attrs_free(out);
			return CKR_HOST_MEMORY;
		}
	}
	return CKR_OK;
}

/* True when val holds one JSON object (UTF-8, no NUL). */
static bool json_object_valid(const uint8_t *val, size_t len)
{
	json_t *j;
	bool ok;

	if (len == 0 || memchr(val, 0, len))
		return false;
	j = json_loadb((const char *)val, len, JSON_REJECT_DUPLICATES, NULL);
	ok = j && json_is_object(j);
	json_decref(j);
	return ok;
}

static CK_RV check_one(const struct kms_attr *a, const struct rule *r, enum kms_tmpl_use use,
		       const struct kms_attrs *cur, bool so)
{
	if ((r->flags & V_BOOL) && (a->len != sizeof(CK_BBOOL) || a->val[0] > 1))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if ((r->flags & V_ULONG) && a->len != sizeof(CK_ULONG))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if ((r->flags & V_LIST) && !kms_attr_list_valid(a->val, a->len))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if ((r->flags & V_JSON) && !json_object_valid(a->val, a->len))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	switch (use) {
	case KMS_TMPL_CREATE:
	case KMS_TMPL_GENERATE:
		if (!(r->flags & P_CREATE) || ((r->flags & P_GENONLY) && use == KMS_TMPL_CREATE))
			return CKR_ATTRIBUTE_READ_ONLY;
		/* CKA_TRUSTED may be made true only by the SO. */
		if ((r->flags & P_SO) && a->val[0] && !so)
			return CKR_ATTRIBUTE_READ_ONLY;
		break;
	case KMS_TMPL_COPY:
	case KMS_TMPL_SET:
		if (!(r->flags & P_MODIFY) && !(use == KMS_TMPL_COPY && (r->flags & P_COPY)))
			return CKR_ATTRIBUTE_READ_ONLY;
		if ((r->flags & P_SO) && !so)
			return CKR_ATTRIBUTE_READ_ONLY;
		if (r->flags & P_ONEWAY) {
			bool now = kms_attrs_get_bool(cur, r->type, false), want = a->val[0];
			/* SENSITIVE and WRAP_WITH_TRUSTED only become true; EXTRACTABLE only false. */
			if (r->type == CKA_EXTRACTABLE ? (want && !now) : (!want && now))
				return CKR_ATTRIBUTE_READ_ONLY;
		}
		if (use == KMS_TMPL_COPY && r->type == CKA_MODIFIABLE && a->val[0] &&
		    !kms_attrs_get_bool(cur, CKA_MODIFIABLE, true))
			return CKR_ATTRIBUTE_READ_ONLY;
		if (use == KMS_TMPL_COPY && r->type == CKA_COPYABLE && a->val[0] &&
		    !kms_attrs_get_bool(cur, CKA_COPYABLE, true))
			return CKR_ATTRIBUTE_READ_ONLY;
		break;
	}
	return CKR_OK;
}

CK_RV kms_tmpl_check(const struct kms_attrs *tmpl, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, enum kms_tmpl_use use,
		     const struct kms_attrs *cur, bool so)
{
	unsigned kind = kind_of(cls), alg = alg_of(kt);
	CK_RV rv;

	for (size_t i = 0; i < tmpl->n; i++) {
		const struct kms_attr *a = &tmpl->v[i];
		const struct rule *r = rule_find(a->type, kind, alg);

		rv = r ? check_one(a, r, use, cur, so) : CKR_ATTRIBUTE_TYPE_INVALID;
		if (rv != CKR_OK) {
			/* Which attribute of the template, and why (KMS11_DEBUG=3). */
			KMS_DBG("template: attribute 0x%lx (%lu bytes) of a %s object: %s", (unsigned long)a->type,
				(unsigned long)a->len, cls == CKO_PRIVATE_KEY ? "private key" : cls == CKO_PUBLIC_KEY ? "public key"
						       : cls == CKO_SECRET_KEY ? "secret key" : cls == CKO_CERTIFICATE ? "certificate"
									       : "data",
				kms_ckr_name(rv));
			return rv;
		}
	}
	return CKR_OK;
}

static int def_bool(struct kms_attrs *a, CK_ATTRIBUTE_TYPE t, bool v)
{
	return kms_attrs_get(a, t) ? 0 : kms_attrs_set_bool(a, t, v);
}

static int def_empty(struct kms_attrs *a, CK_ATTRIBUTE_TYPE t)
{
	return kms_attrs_get(a, t) ? 0 : kms_attrs_set(a, t, NULL, 0);
}

CK_RV kms_tmpl_defaults(struct kms_attrs *a, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt)
{
	int e = 0;

	e |= kms_attrs_get(a, CKA_CLASS) ? 0 : kms_attrs_set_ulong(a, CKA_CLASS, cls);
	e |= def_bool(a, CKA_TOKEN, false);
	e |= def_bool(a, CKA_PRIVATE, cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY);
	e |= def_bool(a, CKA_MODIFIABLE, true);
	e |= def_bool(a, CKA_COPYABLE, true);
	e |= def_bool(a, CKA_DESTROYABLE, true);
	e |= def_empty(a, CKA_LABEL);
	if (cls == CKO_CERTIFICATE)
		return e ? CKR_HOST_MEMORY : CKR_OK;
	if (cls == CKO_DATA) {
		e |= def_empty(a, CKA_APPLICATION);
		e |= def_empty(a, CKA_OBJECT_ID);
		e |= def_empty(a, CKA_VALUE);
		return e ? CKR_HOST_MEMORY : CKR_OK;
	}
	e |= kms_attrs_get(a, CKA_KEY_TYPE) ? 0 : kms_attrs_set_ulong(a, CKA_KEY_TYPE, kt);
	e |= def_empty(a, CKA_ID);
	e |= def_empty(a, CKA_START_DATE);
	e |= def_empty(a, CKA_END_DATE);
	e |= def_bool(a, CKA_DERIVE, false);
	e |= def_bool(a, CKA_LOCAL, false);
	e |= kms_attrs_get(a, CKA_KEY_GEN_MECHANISM)
		     ? 0
		     : kms_attrs_set_ulong(a, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
	if (cls != CKO_SECRET_KEY)
		e |= def_empty(a, CKA_SUBJECT);
	if (cls == CKO_PUBLIC_KEY) {
		e |= def_bool(a, CKA_ENCRYPT, kt == CKK_RSA);
		e |= def_bool(a, CKA_VERIFY, true);
		e |= def_bool(a, CKA_VERIFY_RECOVER, false);
		e |= def_bool(a, CKA_WRAP, false);
		e |= def_bool(a, CKA_TRUSTED, false);
	} else if (cls == CKO_SECRET_KEY) {
		e |= def_bool(a, CKA_SENSITIVE, true);
		e |= def_bool(a, CKA_ENCRYPT, true);
		e |= def_bool(a, CKA_DECRYPT, true);
		e |= def_bool(a, CKA_SIGN, true);
		e |= def_bool(a, CKA_VERIFY, true);
		e |= def_bool(a, CKA_WRAP, false);
		e |= def_bool(a, CKA_UNWRAP, false);
		e |= def_bool(a, CKA_TRUSTED, false);
		e |= def_bool(a, CKA_EXTRACTABLE, false);
		e |= def_bool(a, CKA_ALWAYS_SENSITIVE, false);
		e |= def_bool(a, CKA_NEVER_EXTRACTABLE, false);
		e |= def_bool(a, CKA_WRAP_WITH_TRUSTED, false);
	} else if (cls == CKO_PRIVATE_KEY) {
		e |= def_bool(a, CKA_SENSITIVE, true);
		e |= def_bool(a, CKA_DECRYPT, kt == CKK_RSA);
		e |= def_bool(a, CKA_SIGN, true);
		e |= def_bool(a, CKA_SIGN_RECOVER, false);
		e |= def_bool(a, CKA_UNWRAP, false);
		e |= def_bool(a, CKA_EXTRACTABLE, false);
		e |= def_bool(a, CKA_ALWAYS_SENSITIVE, false);
		e |= def_bool(a, CKA_NEVER_EXTRACTABLE, false);
		e |= def_bool(a, CKA_WRAP_WITH_TRUSTED, false);
		e |= def_bool(a, CKA_ALWAYS_AUTHENTICATE, false);
	}
	return e ? CKR_HOST_MEMORY : CKR_OK;
}
