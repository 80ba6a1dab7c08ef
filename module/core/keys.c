/* SPDX-License-Identifier: Apache-2.0 */
/* New objects: C_CreateObject, C_CopyObject and C_GenerateKeyPair, sealed into the store or kept in the session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/osslctx.h"
#include "common/log.h"
#include "common/mem.h"
#include "module/core/cert.h"
#include "module/core/core.h"
#include "module/core/template.h"

/* Adds key identity and management fields: CKA_ID default, key id, engine, creation time, and the facts the
 * management plane gives its session's new keys (kms11-only facts included). */
static CK_RV add_identity(struct kms_session *s, struct kms_attrs *a)
{
	struct kms_token *tok = s->tok;
	const struct kms_attr *spki = kms_attrs_get(a, CKA_PUBLIC_KEY_INFO);
	const struct kms_attr *id = kms_attrs_get(a, CKA_ID);
	uint8_t md[SHA256_DIGEST_LENGTH];
	char ts[32], *hex = NULL;
	int e = 0;

	if (spki && spki->len) {
		if (!kms_sha256() || EVP_Digest(spki->val, spki->len, md, NULL, kms_sha256(), NULL) != 1)
			return CKR_GENERAL_ERROR;
		if (!id || id->len == 0)
			e |= kms_attrs_set(a, CKA_ID, md, sizeof(md));
		hex = kms_hex_encode(md, sizeof(md));
		if (!hex)
			return CKR_HOST_MEMORY;
		if (!kms_attrs_get(a, CKA_KMS11_KEY_ID))
			e |= kms_attrs_set(a, CKA_KMS11_KEY_ID, hex, strlen(hex));
		free(hex);
	}
	if (!spki && !kms_attrs_get(a, CKA_KMS11_KEY_ID)) {
		/* Secret keys: a random 128-bit key id. */
		if (!kms_rand(md, 16))
			return CKR_GENERAL_ERROR;
		hex = kms_hex_encode(md, 16);
		if (!hex)
			return CKR_HOST_MEMORY;
		e |= kms_attrs_set(a, CKA_KMS11_KEY_ID, hex, strlen(hex));
		free(hex);
	}
	if (!kms_attrs_get(a, CKA_KMS11_ENGINE))
		e |= kms_attrs_set(a, CKA_KMS11_ENGINE, tok->eng->name, strlen(tok->eng->name));
	if (!kms_attrs_get(a, CKA_KMS11_CREATED)) {
		kms_time_iso8601(time(NULL), ts, sizeof(ts));
		e |= kms_attrs_set(a, CKA_KMS11_CREATED, ts, strlen(ts));
	}
	if (s->facts)
		e |= kms_attrs_merge(a, s->facts);
	return e ? CKR_HOST_MEMORY : CKR_OK;
}

/* Seals an engine blob for token object id into its attributes. */
static CK_RV seal_into(struct kms_token *tok, uint64_t id, struct kms_attrs *a, const uint8_t *blob, size_t len)
{
	uint8_t *sealed = NULL;
	size_t sealedlen = 0;
	CK_RV rv;

	if (!blob)
		return CKR_OK;
	rv = kms_token_seal(tok, id, a, blob, len, &sealed, &sealedlen);
	if (rv != CKR_OK)
		return rv;
	if (kms_attrs_set(a, CKA_KMS11_SEALED, sealed, sealedlen) != 0)
		rv = CKR_HOST_MEMORY;
	free(sealed);
	return rv;
}

/* CKA_UNIQUE_ID: the object id in decimal, which the store never hands out twice. */
static CK_RV set_unique_id(struct kms_attrs *a, uint64_t id)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)id);

	return kms_attrs_set(a, CKA_UNIQUE_ID, buf, (size_t)n) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

/* Keeps a finished object (taking over attrs) in the session. *blob, the engine blob in kms_secure_alloc memory
 * or NULL, is taken over too: *blob becomes NULL once the object holds it. */
static CK_RV session_commit(struct kms_session *s, struct kms_attrs *attrs, uint8_t **blob, size_t bloblen,
			    CK_OBJECT_HANDLE *h)
{
	struct kms_token *tok = s->tok;
	struct kms_obj *o;
	uint64_t id;
	CK_RV rv;

	id = KMS_SESSION_OBJ_BIT | atomic_fetch_add(&kms_mod.next_sobj, 1);
	if (set_unique_id(attrs, id) != CKR_OK)
		return CKR_HOST_MEMORY;
	o = kms_obj_new(id, attrs);
	if (!o)
		return CKR_HOST_MEMORY;
	o->owner = s->h;
	o->blob = *blob;
	o->blob_len = o->blob ? bloblen : 0;
	*blob = NULL;
	kms_lock_wr(&tok->lock);
	rv = kms_map_put(&tok->sobjs, id, o) == 0 ? CKR_OK : CKR_HOST_MEMORY;
	kms_lock_unlock(&tok->lock);
	if (rv != CKR_OK) {
		kms_obj_put(o);
		return rv;
	}
	*h = id;
	return CKR_OK;
}

/* Stores a finished object as a token object (its blob sealed) or a session object, which takes over *blob
 * (see session_commit). The caller frees what is left in *blob. */
static CK_RV obj_commit(struct kms_session *s, struct kms_attrs *attrs, uint8_t **blob, size_t bloblen,
			CK_OBJECT_HANDLE *h)
{
	const struct kms_attrs *one[1] = {attrs};
	uint64_t id = 0;
	CK_RV rv;

	const struct kms_attr *v;
	const uint8_t *sealme = *blob;
	uint8_t *value = NULL;
	size_t valuelen = 0;

	if (!kms_attrs_get_bool(attrs, CKA_TOKEN, false))
		return session_commit(s, attrs, blob, bloblen, h);
	/* A private data object's value is kept sealed like key material. */
	if (!sealme && kms_seal_is_data(attrs) && kms_attrs_get_bool(attrs, CKA_PRIVATE, false) &&
	    (v = kms_attrs_get(attrs, CKA_VALUE)) != NULL) {
		valuelen = v->len;
		value = kms_secure_dup(v->val, valuelen);
		if (!value)
			return CKR_HOST_MEMORY;
		kms_attrs_del(attrs, CKA_VALUE);
		sealme = value;
		bloblen = valuelen;
	}
	/* The first token object makes the store, when it does not exist yet. */
	if (kms_mod_store(true, &rv))
		rv = kms_store_id_alloc(kms_mod.store, &id);
	if (rv == CKR_OK)
		rv = set_unique_id(attrs, id);
	if (rv == CKR_OK)
		rv = seal_into(s->tok, id, attrs, sealme, bloblen);
	if (rv == CKR_OK && s->batch) {
		/* Held for kms_obj_batch_commit: the batch takes the attributes over. */
		if (s->batch->n == KMS_OBJ_BATCH_MAX) {
			rv = CKR_GENERAL_ERROR;
		} else {
			struct kms_obj_batch *b = s->batch;
			unsigned long cls = 0;

			kms_attrs_get_ulong(attrs, CKA_CLASS, &cls);
			b->ids[b->n] = id;
			b->cls[b->n] = cls;
			b->blob[b->n] = NULL;
			b->bloblen[b->n] = 0;
			if (s->tok->eng->destroy && *blob && !value) {
				b->blob[b->n] = *blob;
				b->bloblen[b->n] = bloblen;
				*blob = NULL;
			}
			b->attrs[b->n++] = *attrs;
			*attrs = (struct kms_attrs)KMS_ATTRS_INIT;
			*h = id;
		}
		kms_secure_free(value);
		return rv;
	}
	if (rv == CKR_OK)
		rv = s->key_change ? kms_store_obj_create_key(kms_mod.store, s->tok->no, &id, one, 1, s->key_change)
				   : kms_store_obj_create_many(kms_mod.store, s->tok->no, &id, one, 1);
	if (rv == CKR_OK)
		*h = id;
	kms_secure_free(value);
	return rv;
}

/* Empties the batch; unwritten: the engine destroys the keys it made for its objects. */
static void batch_end(struct kms_session *s, bool written)
{
	struct kms_obj_batch *b = s->batch;

	for (size_t i = 0; b && i < b->n; i++) {
		if (!written && b->blob[i]) {
			CK_RV rv = s->tok->eng->destroy(s->tok->einst, b->cls[i], b->blob[i], b->bloblen[i]);

			if (rv != CKR_OK)
				KMS_WARN("token '%s': a key the %s engine made for an object that was not stored is left there "
					 "(0x%lx)", s->tok->conf_label, s->tok->eng->name, (unsigned long)rv);
		}
		kms_secure_free(b->blob[i]);
		b->blob[i] = NULL;
		kms_attrs_free(&b->attrs[i]);
	}
	if (b)
		b->n = 0;
}

void kms_obj_batch_drop(struct kms_session *s)
{
	batch_end(s, false);
}

CK_RV kms_obj_batch_commit(struct kms_session *s)
{
	const struct kms_attrs *all[KMS_OBJ_BATCH_MAX];
	struct kms_obj_batch *b = s->batch;
	CK_RV rv;

	if (!b)
		return CKR_GENERAL_ERROR;
	for (size_t i = 0; i < b->n; i++)
		all[i] = &b->attrs[i];
	rv = b->n == 0		? CKR_OK
	     : s->key_change ? kms_store_obj_create_key(kms_mod.store, s->tok->no, b->ids, all, b->n, s->key_change)
			     : kms_store_obj_create_many(kms_mod.store, s->tok->no, b->ids, all, b->n);
	batch_end(s, rv == CKR_OK);
	return rv;
}

/* Stores both halves of a key pair; two token objects are written in one transaction. *blob as for obj_commit. */
static CK_RV pair_commit(struct kms_session *s, struct kms_attrs *pub, struct kms_attrs *priv, uint8_t **blob,
			 size_t bloblen, CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv)
{
	const struct kms_attrs *both[2] = {priv, pub};
	uint8_t *none = NULL;
	uint64_t ids[2];
	CK_RV rv;

	if (!kms_attrs_get_bool(pub, CKA_TOKEN, false) || !kms_attrs_get_bool(priv, CKA_TOKEN, false)) {
		rv = obj_commit(s, priv, blob, bloblen, hpriv);
		if (rv != CKR_OK)
			return rv;
		rv = obj_commit(s, pub, &none, 0, hpub);
		if (rv != CKR_OK)
			kms_obj_destroy(s, *hpriv);
		return rv;
	}
	if (kms_mod_store(true, &rv))
		rv = kms_store_id_alloc_many(kms_mod.store, 2, ids);
	if (rv == CKR_OK)
		rv = set_unique_id(priv, ids[0]);
	if (rv == CKR_OK)
		rv = set_unique_id(pub, ids[1]);
	if (rv == CKR_OK)
		rv = seal_into(s->tok, ids[0], priv, *blob, bloblen);
	if (rv == CKR_OK)
		rv = s->key_change ? kms_store_obj_create_key(kms_mod.store, s->tok->no, ids, both, 2, s->key_change)
				   : kms_store_obj_create_many(kms_mod.store, s->tok->no, ids, both, 2);
	if (rv == CKR_OK) {
		*hpriv = ids[0];
		*hpub = ids[1];
	}
	return rv;
}

/* Drops private components from a template (they live only in the engine blob). */
static void strip_private(struct kms_attrs *a, CK_KEY_TYPE kt)
{
	static const CK_ATTRIBUTE_TYPE comps[] = {CKA_PRIVATE_EXPONENT, CKA_PRIME_1,	 CKA_PRIME_2,
						  CKA_EXPONENT_1,	CKA_EXPONENT_2, CKA_COEFFICIENT,
						  CKA_VALUE};

	for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++)
		if (kms_tmpl_is_private_component(comps[i], kt))
			kms_attrs_del(a, comps[i]);
}

/* Merges the engine's canonical public attributes; a template value that contradicts the key's
 * SubjectPublicKeyInfo or check value is CKR_TEMPLATE_INCONSISTENT. */
static CK_RV merge_public(struct kms_attrs *a, const struct kms_key_material *km, CK_OBJECT_CLASS cls)
{
	static const CK_ATTRIBUTE_TYPE derived[] = {CKA_PUBLIC_KEY_INFO, CKA_CHECK_VALUE};

	for (size_t i = 0; i < sizeof(derived) / sizeof(derived[0]); i++) {
		const struct kms_attr *want = kms_attrs_get(a, derived[i]);
		const struct kms_attr *have = kms_attrs_get(&km->pub, derived[i]);

		if (want && want->len && have &&
		    (want->len != have->len || memcmp(want->val, have->val, have->len) != 0))
			return CKR_TEMPLATE_INCONSISTENT;
	}
	if (kms_attrs_merge(a, &km->pub) != 0)
		return CKR_HOST_MEMORY;
	if (cls == CKO_PRIVATE_KEY)
		kms_attrs_del(a, CKA_MODULUS_BITS);
	return CKR_OK;
}

static bool is_supported_key_type(unsigned long cls, unsigned long kt)
{
	if (cls == CKO_SECRET_KEY)
		return kms_tmpl_is_secret_type(kt);
	return kt == CKK_RSA || kt == CKK_EC || kt == CKK_EC_EDWARDS || kt == CKK_EC_MONTGOMERY;
}

CK_RV kms_obj_create(struct kms_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	struct kms_key_material km = {.pub = KMS_ATTRS_INIT};
	unsigned long cls = 0, kt = CK_UNAVAILABLE_INFORMATION;
	CK_RV rv;

	rv = kms_tmpl_from_ck(tmpl, n, &a);
	if (rv != CKR_OK)
		return rv;
	if (kms_attrs_get_ulong(&a, CKA_CLASS, &cls) != 0) {
		rv = kms_attrs_get(&a, CKA_CLASS) ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY && cls != CKO_DATA &&
	    cls != CKO_CERTIFICATE) {
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		goto out;
	}
	if (cls != CKO_DATA && cls != CKO_CERTIFICATE) {
		if (kms_attrs_get_ulong(&a, CKA_KEY_TYPE, &kt) != 0) {
			rv = kms_attrs_get(&a, CKA_KEY_TYPE) ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
		if (!is_supported_key_type(cls, kt)) {
			rv = CKR_ATTRIBUTE_VALUE_INVALID;
			goto out;
		}
	}
	rv = kms_tmpl_check(&a, cls, kt, KMS_TMPL_CREATE, NULL, kms_session_state(s) == CKS_RW_SO_FUNCTIONS);
	if (rv != CKR_OK)
		goto out;
	if ((cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY) && kms_obj_private_default(s, &a) != 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = kms_obj_may_write(s, kms_attrs_get_bool(&a, CKA_TOKEN, false),
			       kms_attrs_get_bool(&a, CKA_PRIVATE, cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY));
	if (rv != CKR_OK)
		goto out;
	if (cls == CKO_CERTIFICATE) {
		rv = kms_cert_complete(&a);
		if (rv != CKR_OK)
			goto out;
	} else if (cls != CKO_DATA) {
		if (!s->tok->eng->import) {
			rv = CKR_FUNCTION_NOT_SUPPORTED;
			goto out;
		}
		rv = s->tok->eng->import(s->tok->einst, cls, kt, &a, &km);
		if (rv != CKR_OK)
			goto out;
		strip_private(&a, kt);
		rv = merge_public(&a, &km, cls);
		if (rv != CKR_OK)
			goto out;
	}
	rv = kms_tmpl_defaults(&a, cls, kt);
	if (rv == CKR_OK && cls != CKO_DATA && cls != CKO_CERTIFICATE)
		rv = add_identity(s, &a);
	if (rv == CKR_OK)
		rv = obj_commit(s, &a, &km.blob, km.blob_len, h);
out:
	kms_key_material_free(&km);
	kms_attrs_free(&a);
	return rv;
}

CK_RV kms_obj_copy(struct kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
	struct kms_attrs t = KMS_ATTRS_INIT, a = KMS_ATTRS_INIT;
	struct kms_obj *o = NULL;
	unsigned long cls = 0, kt = CK_UNAVAILABLE_INFORMATION;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	CK_RV rv;

	rv = kms_obj_get(s, h, &o);
	if (rv != CKR_OK)
		return rv;
	if (!kms_attrs_get_bool(&o->attrs, CKA_COPYABLE, true)) {
		rv = CKR_ACTION_PROHIBITED;
		goto out;
	}
	rv = kms_tmpl_from_ck(tmpl, n, &t);
	if (rv != CKR_OK)
		goto out;
	kms_attrs_get_ulong(&o->attrs, CKA_CLASS, &cls);
	kms_attrs_get_ulong(&o->attrs, CKA_KEY_TYPE, &kt);
	rv = kms_tmpl_check(&t, cls, kt, KMS_TMPL_COPY, &o->attrs, kms_session_state(s) == CKS_RW_SO_FUNCTIONS);
	if (rv != CKR_OK)
		goto out;
	if (kms_attrs_copy(&a, &o->attrs) != 0 || kms_attrs_merge(&a, &t) != 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	kms_attrs_del(&a, CKA_KMS11_SEALED);
	kms_attrs_del(&a, CKA_KMS11_CREATED);
	kms_attrs_del(&a, CKA_UNIQUE_ID);
	rv = kms_obj_may_write(s, kms_attrs_get_bool(&a, CKA_TOKEN, false), kms_attrs_get_bool(&a, CKA_PRIVATE, false));
	if (rv != CKR_OK)
		goto out;
	if (o->is_token && (cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY ||
			    (cls == CKO_DATA && kms_attrs_get(&o->attrs, CKA_KMS11_SEALED)))) {
		rv = kms_token_unseal(s->tok, o->id, &o->attrs, &blob, &bloblen);
		if (rv != CKR_OK)
			goto out;
		if (cls == CKO_DATA) {
			/* The copy's value: the template's, else the original's (sealed again if private). */
			if (!kms_attrs_get(&a, CKA_VALUE) && kms_attrs_set(&a, CKA_VALUE, blob, bloblen) != 0)
				rv = CKR_HOST_MEMORY;
			kms_secure_free(blob);
			blob = NULL;
			bloblen = 0;
			if (rv != CKR_OK)
				goto out;
		}
	} else if ((cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY) && o->blob) {
		blob = kms_secure_dup(o->blob, o->blob_len);
		bloblen = o->blob_len;
		if (!blob) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
	rv = add_identity(s, &a);
	if (rv == CKR_OK)
		rv = obj_commit(s, &a, &blob, bloblen, out);
out:
	kms_secure_free(blob);
	kms_attrs_free(&a);
	kms_attrs_free(&t);
	kms_obj_put(o);
	return rv;
}

/* Reads the generation parameters from the public template. */
static CK_RV keygen_params(const CK_MECHANISM *mech, const struct kms_attrs *pub, struct kms_keygen_params *p,
			   CK_KEY_TYPE *kt)
{
	const struct kms_attr *a;

	memset(p, 0, sizeof(*p));
	p->mech = mech->mechanism;
	if (mech->pParameter || mech->ulParameterLen)
		return CKR_MECHANISM_PARAM_INVALID;
	switch (mech->mechanism) {
	case CKM_RSA_PKCS_KEY_PAIR_GEN:
		*kt = CKK_RSA;
		if (kms_attrs_get_ulong(pub, CKA_MODULUS_BITS, &p->modulus_bits) != 0)
			return kms_attrs_get(pub, CKA_MODULUS_BITS) ? CKR_ATTRIBUTE_VALUE_INVALID
								  : CKR_TEMPLATE_INCOMPLETE;
		a = kms_attrs_get(pub, CKA_PUBLIC_EXPONENT);
		if (a && a->len) {
			p->pub_exp = a->val;
			p->pub_exp_len = a->len;
		}
		return CKR_OK;
	case CKM_EC_KEY_PAIR_GEN:
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
	case CKM_EC_MONTGOMERY_KEY_PAIR_GEN:
		*kt = mech->mechanism == CKM_EC_KEY_PAIR_GEN	      ? CKK_EC
		      : mech->mechanism == CKM_EC_EDWARDS_KEY_PAIR_GEN ? CKK_EC_EDWARDS
								      : CKK_EC_MONTGOMERY;
		a = kms_attrs_get(pub, CKA_EC_PARAMS);
		if (!a || !a->len)
			return CKR_TEMPLATE_INCOMPLETE;
		p->ec_params = a->val;
		p->ec_params_len = a->len;
		return CKR_OK;
	default:
		return CKR_MECHANISM_INVALID;
	}
}

/* Checks class and key type given in a generation template against what is generated. */
static CK_RV check_kind(const struct kms_attrs *a, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt)
{
	unsigned long v;

	if (kms_attrs_get(a, CKA_CLASS) && (kms_attrs_get_ulong(a, CKA_CLASS, &v) != 0 || v != cls))
		return CKR_TEMPLATE_INCONSISTENT;
	if (kms_attrs_get(a, CKA_KEY_TYPE) && (kms_attrs_get_ulong(a, CKA_KEY_TYPE, &v) != 0 || v != kt))
		return CKR_TEMPLATE_INCONSISTENT;
	return CKR_OK;
}

CK_RV kms_obj_generate_pair(struct kms_session *s, CK_MECHANISM *mech, CK_ATTRIBUTE *pubt, CK_ULONG npub,
			    CK_ATTRIBUTE *privt, CK_ULONG npriv, CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv)
{
	struct kms_attrs pub = KMS_ATTRS_INIT, priv = KMS_ATTRS_INIT;
	struct kms_key_material km = {.pub = KMS_ATTRS_INIT};
	const struct kms_engine_mech *em;
	struct kms_keygen_params p;
	CK_KEY_TYPE kt = 0;
	CK_RV rv;

	em = kms_mech_find(s->tok, mech->mechanism);
	if (!em || !(em->flags & CKF_GENERATE_KEY_PAIR) || !s->tok->eng->generate_pair)
		return CKR_MECHANISM_INVALID;
	rv = kms_tmpl_from_ck(pubt, npub, &pub);
	if (rv == CKR_OK)
		rv = kms_tmpl_from_ck(privt, npriv, &priv);
	if (rv == CKR_OK)
		rv = keygen_params(mech, &pub, &p, &kt);
	if (rv == CKR_OK)
		rv = check_kind(&pub, CKO_PUBLIC_KEY, kt);
	if (rv == CKR_OK)
		rv = check_kind(&priv, CKO_PRIVATE_KEY, kt);
	if (rv == CKR_OK)
		rv = kms_tmpl_check(&pub, CKO_PUBLIC_KEY, kt, KMS_TMPL_GENERATE, NULL, false);
	if (rv == CKR_OK)
		rv = kms_tmpl_check(&priv, CKO_PRIVATE_KEY, kt, KMS_TMPL_GENERATE, NULL, false);
	if (rv != CKR_OK)
		goto out;
	/* The private key's value never comes from the template. */
	if (kms_attrs_get(&priv, CKA_VALUE) || kms_attrs_get(&priv, CKA_PRIVATE_EXPONENT) ||
	    kms_attrs_get(&pub, CKA_EC_POINT) || kms_attrs_get(&pub, CKA_MODULUS)) {
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	rv = kms_obj_private_default(s, &priv) == 0 ? CKR_OK : CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = kms_obj_may_write(s, kms_attrs_get_bool(&pub, CKA_TOKEN, false),
				       kms_attrs_get_bool(&pub, CKA_PRIVATE, false));
	if (rv == CKR_OK)
		rv = kms_obj_may_write(s, kms_attrs_get_bool(&priv, CKA_TOKEN, false),
				       kms_attrs_get_bool(&priv, CKA_PRIVATE, true));
	if (rv != CKR_OK)
		goto out;

	p.token = kms_attrs_get_bool(&priv, CKA_TOKEN, false);
	p.priv = kms_attrs_get_bool(&priv, CKA_PRIVATE, true);
	p.sensitive = kms_attrs_get_bool(&priv, CKA_SENSITIVE, true);
	p.extractable = kms_attrs_get_bool(&priv, CKA_EXTRACTABLE, false);
	rv = s->tok->eng->generate_pair(s->tok->einst, &p, &km);
	if (rv != CKR_OK)
		goto out;
	kms_attrs_del(&pub, CKA_PUBLIC_EXPONENT);
	rv = merge_public(&pub, &km, CKO_PUBLIC_KEY);
	if (rv == CKR_OK)
		rv = merge_public(&priv, &km, CKO_PRIVATE_KEY);
	if (rv != CKR_OK)
		goto out;
	if (kms_attrs_set_bool(&pub, CKA_LOCAL, true) || kms_attrs_set_bool(&priv, CKA_LOCAL, true) ||
	    kms_attrs_set_ulong(&pub, CKA_KEY_GEN_MECHANISM, mech->mechanism) ||
	    kms_attrs_set_ulong(&priv, CKA_KEY_GEN_MECHANISM, mech->mechanism)) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	/* Both halves share CKA_ID: the private template's, else the public one's, else the SPKI digest. */
	if (!kms_attrs_get(&priv, CKA_ID) && kms_attrs_get(&pub, CKA_ID)) {
		const struct kms_attr *id = kms_attrs_get(&pub, CKA_ID);

		if (kms_attrs_set(&priv, CKA_ID, id->val, id->len)) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	} else if (kms_attrs_get(&priv, CKA_ID) && !kms_attrs_get(&pub, CKA_ID)) {
		const struct kms_attr *id = kms_attrs_get(&priv, CKA_ID);

		if (kms_attrs_set(&pub, CKA_ID, id->val, id->len)) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
	rv = kms_tmpl_defaults(&pub, CKO_PUBLIC_KEY, kt);
	if (rv == CKR_OK)
		rv = kms_tmpl_defaults(&priv, CKO_PRIVATE_KEY, kt);
	if (rv != CKR_OK)
		goto out;
	if (kms_attrs_set_bool(&priv, CKA_ALWAYS_SENSITIVE, kms_attrs_get_bool(&priv, CKA_SENSITIVE, true)) ||
	    kms_attrs_set_bool(&priv, CKA_NEVER_EXTRACTABLE, !kms_attrs_get_bool(&priv, CKA_EXTRACTABLE, false))) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = add_identity(s, &pub);
	if (rv == CKR_OK)
		rv = add_identity(s, &priv);
	if (rv == CKR_OK)
		rv = pair_commit(s, &pub, &priv, &km.blob, km.blob_len, hpub, hpriv);
out:
	kms_key_material_free(&km);
	kms_attrs_free(&pub);
	kms_attrs_free(&priv);
	return rv;
}

CK_RV kms_obj_add_profile(struct kms_token *tok)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	uint64_t id = KMS_PROFILE_OBJ_ID;
	struct kms_obj *o;
	int e = 0;

	e |= kms_attrs_set_ulong(&a, CKA_CLASS, CKO_PROFILE);
	e |= kms_attrs_set_ulong(&a, CKA_PROFILE_ID, KMS_CKP_BASELINE_PROVIDER);
	e |= kms_attrs_set_bool(&a, CKA_TOKEN, true);
	e |= kms_attrs_set_bool(&a, CKA_PRIVATE, false);
	e |= kms_attrs_set_bool(&a, CKA_MODIFIABLE, false);
	e |= kms_attrs_set_bool(&a, CKA_COPYABLE, false);
	e |= kms_attrs_set_bool(&a, CKA_DESTROYABLE, false);
	e |= kms_attrs_set(&a, CKA_LABEL, NULL, 0);
	if (e || set_unique_id(&a, id) != CKR_OK) {
		kms_attrs_free(&a);
		return CKR_HOST_MEMORY;
	}
	o = kms_obj_new(id, &a);
	kms_attrs_free(&a);
	if (!o)
		return CKR_HOST_MEMORY;
	if (kms_map_put(&tok->sobjs, id, o) != 0) {
		kms_obj_put(o);
		return CKR_HOST_MEMORY;
	}
	return CKR_OK;
}

CK_RV kms_obj_create_data(struct kms_session *s, struct kms_attrs *a, CK_OBJECT_HANDLE *h)
{
	uint8_t *none = NULL;
	CK_RV rv;

	if (kms_attrs_set_ulong(a, CKA_CLASS, CKO_DATA) != 0)
		return CKR_HOST_MEMORY;
	rv = kms_tmpl_check(a, CKO_DATA, CK_UNAVAILABLE_INFORMATION, KMS_TMPL_CREATE, NULL,
			    kms_session_state(s) == CKS_RW_SO_FUNCTIONS);
	if (rv == CKR_OK)
		rv = kms_obj_may_write(s, kms_attrs_get_bool(a, CKA_TOKEN, false), kms_attrs_get_bool(a, CKA_PRIVATE, false));
	if (rv == CKR_OK)
		rv = kms_tmpl_defaults(a, CKO_DATA, CK_UNAVAILABLE_INFORMATION);
	if (rv == CKR_OK)
		rv = obj_commit(s, a, &none, 0, h);
	return rv;
}

CK_RV kms_obj_store_key(struct kms_session *s, struct kms_attrs *a, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt,
			struct kms_key_material *km, CK_MECHANISM_TYPE genmech, bool was_sensitive, bool was_unextractable,
			CK_OBJECT_HANDLE *h)
{
	bool local = genmech != CK_UNAVAILABLE_INFORMATION;
	CK_RV rv;

	strip_private(a, kt);
	rv = merge_public(a, km, cls);
	if (rv == CKR_OK && (kms_attrs_set_bool(a, CKA_LOCAL, local) ||
			     kms_attrs_set_ulong(a, CKA_KEY_GEN_MECHANISM, genmech) ||
			     kms_attrs_set_ulong(a, CKA_CLASS, cls) || kms_attrs_set_ulong(a, CKA_KEY_TYPE, kt)))
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = kms_tmpl_defaults(a, cls, kt);
	if (rv == CKR_OK &&
	    (kms_attrs_set_bool(a, CKA_ALWAYS_SENSITIVE, was_sensitive && kms_attrs_get_bool(a, CKA_SENSITIVE, true)) ||
	     kms_attrs_set_bool(a, CKA_NEVER_EXTRACTABLE,
				was_unextractable && !kms_attrs_get_bool(a, CKA_EXTRACTABLE, false))))
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = add_identity(s, a);
	if (rv == CKR_OK)
		rv = obj_commit(s, a, &km->blob, km->blob_len, h);
	return rv;
}

/* The one length of a DES key type, 0 for any other type. */
static unsigned long des_len(CK_KEY_TYPE kt)
{
	return kt == CKK_DES ? 8 : kt == CKK_DES2 ? 16 : kt == CKK_DES3 ? 24 : 0;
}

CK_RV kms_obj_generate_secret(struct kms_session *s, CK_MECHANISM *mech, CK_ATTRIBUTE *tmpl, CK_ULONG n,
			      CK_OBJECT_HANDLE *h)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	struct kms_key_material km = {.pub = KMS_ATTRS_INIT};
	struct kms_secretgen_params p = {.mech = mech->mechanism};
	const struct kms_engine_mech *em = kms_mech_find(s->tok, mech->mechanism);
	CK_KEY_TYPE fixed = mech->mechanism == CKM_AES_KEY_GEN    ? CKK_AES
			    : mech->mechanism == CKM_DES_KEY_GEN  ? CKK_DES
			    : mech->mechanism == CKM_DES2_KEY_GEN ? CKK_DES2
			    : mech->mechanism == CKM_DES3_KEY_GEN ? CKK_DES3
			    : mech->mechanism == CKM_HKDF_KEY_GEN ? CKK_HKDF
								  : 0;
	unsigned long kt = CK_UNAVAILABLE_INFORMATION, len = 0;
	CK_RV rv;

	if (!em || !(em->flags & CKF_GENERATE) || !s->tok->eng->generate_secret)
		return CKR_MECHANISM_INVALID;
	if (mech->pParameter || mech->ulParameterLen)
		return CKR_MECHANISM_PARAM_INVALID;
	rv = kms_tmpl_from_ck(tmpl, n, &a);
	if (rv != CKR_OK)
		return rv;
	/* The key type comes from the template, else from the mechanism; they must agree. */
	if (!kms_attrs_get(&a, CKA_KEY_TYPE))
		kt = fixed ? fixed : CKK_GENERIC_SECRET;
	else if (kms_attrs_get_ulong(&a, CKA_KEY_TYPE, &kt) != 0)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK)
		rv = check_kind(&a, CKO_SECRET_KEY, kt);
	if (rv == CKR_OK && (!kms_tmpl_is_secret_type(kt) || (fixed && kt != fixed) ||
			     (!fixed && (kt == CKK_AES || des_len(kt)))))
		rv = CKR_TEMPLATE_INCONSISTENT;
	if (rv == CKR_OK)
		rv = kms_tmpl_check(&a, CKO_SECRET_KEY, kt, KMS_TMPL_GENERATE, NULL, false);
	if (rv == CKR_OK && kms_attrs_get(&a, CKA_VALUE))
		rv = CKR_TEMPLATE_INCONSISTENT;
	/* DES keys have one length, which CKA_VALUE_LEN may only repeat; every other type needs it. */
	if (rv == CKR_OK && kms_attrs_get_ulong(&a, CKA_VALUE_LEN, &len) != 0)
		rv = des_len(kt) ? CKR_OK : CKR_TEMPLATE_INCOMPLETE;
	if (rv == CKR_OK && des_len(kt) && kms_attrs_get(&a, CKA_VALUE_LEN) && len != des_len(kt))
		rv = CKR_TEMPLATE_INCONSISTENT;
	if (rv == CKR_OK && des_len(kt))
		len = des_len(kt);
	if (rv == CKR_OK && kms_obj_private_default(s, &a) != 0)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = kms_obj_may_write(s, kms_attrs_get_bool(&a, CKA_TOKEN, false), kms_attrs_get_bool(&a, CKA_PRIVATE, true));
	if (rv != CKR_OK)
		goto out;
	p.key_type = kt;
	p.len = len;
	p.token = kms_attrs_get_bool(&a, CKA_TOKEN, false);
	p.priv = kms_attrs_get_bool(&a, CKA_PRIVATE, true);
	p.sensitive = kms_attrs_get_bool(&a, CKA_SENSITIVE, true);
	p.extractable = kms_attrs_get_bool(&a, CKA_EXTRACTABLE, false);
	rv = s->tok->eng->generate_secret(s->tok->einst, &p, &km);
	if (rv == CKR_OK)
		rv = kms_obj_store_key(s, &a, CKO_SECRET_KEY, kt, &km, mech->mechanism, true, true, h);
out:
	kms_key_material_free(&km);
	kms_attrs_free(&a);
	return rv;
}

struct taken_ctx {
	const uint8_t *blob;
	size_t len;
};

static CK_RV taken_cb(void *vctx, uint64_t id, const uint8_t *blob, size_t len)
{
	const struct taken_ctx *c = vctx;

	(void)id;
	return len == c->len && !memcmp(blob, c->blob, len) ? CKR_ACTION_PROHIBITED : CKR_OK;
}

CK_RV kms_token_each_blob(struct kms_token *tok, CK_OBJECT_CLASS cls,
			  CK_RV (*fn)(void *ctx, uint64_t id, const uint8_t *blob, size_t len), void *ctx)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	uint64_t *ids = NULL;
	size_t n = 0;
	CK_RV rv = kms_attrs_set_ulong(&t, CKA_CLASS, cls) ? CKR_HOST_MEMORY : CKR_OK;

	if (rv == CKR_OK)
		rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		struct kms_attrs a = KMS_ATTRS_INIT;
		uint8_t *b = NULL;
		size_t bl = 0;

		if ((ids[i] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[i], &a) != CKR_OK)
			continue;
		rv = kms_token_unseal_any(tok, ids[i], &a, &b, &bl);
		if (rv == CKR_OK)
			rv = fn(ctx, ids[i], b, bl);
		kms_secure_free(b);
		kms_attrs_free(&a);
	}
	free(ids);
	kms_attrs_free(&t);
	return rv;
}

CK_RV kms_obj_adopt(struct kms_session *s, const char *label, const uint8_t *id, size_t idlen,
		    const struct kms_attrs *common_priv, const struct kms_attrs *common_pub, CK_OBJECT_HANDLE *hpub,
		    CK_OBJECT_HANDLE *hkey)
{
	struct kms_adopt ad = {.km = {.pub = KMS_ATTRS_INIT}};
	struct kms_attrs pub = KMS_ATTRS_INIT, priv = KMS_ATTRS_INIT;
	CK_RV rv;
	int e = 0;

	*hpub = *hkey = CK_INVALID_HANDLE;
	if (!s->tok->eng->adopt)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = kms_obj_may_write(s, true, true);
	if (rv != CKR_OK)
		return rv;
	rv = s->tok->eng->adopt(s->tok->einst, label, id, idlen, &ad);
	if (rv != CKR_OK)
		return rv;
	/* A key adopted twice would have its material destroyed with either: each such object's seal is opened
	 * (adoption is rare). */
	rv = kms_token_each_blob(s->tok, ad.cls, taken_cb, &(struct taken_ctx){ad.km.blob, ad.km.blob_len});
	if (rv != CKR_OK)
		goto out;
	e |= kms_attrs_copy(&priv, common_priv);
	e |= kms_attrs_set_bool(&priv, CKA_SENSITIVE, ad.sensitive);
	e |= kms_attrs_set_bool(&priv, CKA_EXTRACTABLE, ad.extractable);
	if (e) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	/* Where the key has been before kms11 is not known: never "always sensitive" nor "never extractable". */
	if (ad.cls == CKO_SECRET_KEY) {
		rv = kms_obj_store_key(s, &priv, CKO_SECRET_KEY, ad.kt, &ad.km, CK_UNAVAILABLE_INFORMATION, false, false,
				       hkey);
		goto out;
	}
	e |= kms_attrs_copy(&pub, common_pub);
	e |= kms_attrs_set_ulong(&pub, CKA_CLASS, CKO_PUBLIC_KEY);
	e |= kms_attrs_set_ulong(&priv, CKA_CLASS, CKO_PRIVATE_KEY);
	e |= kms_attrs_set_ulong(&pub, CKA_KEY_TYPE, ad.kt);
	e |= kms_attrs_set_ulong(&priv, CKA_KEY_TYPE, ad.kt);
	e |= kms_attrs_set_bool(&pub, CKA_LOCAL, false) || kms_attrs_set_bool(&priv, CKA_LOCAL, false);
	e |= kms_attrs_set_ulong(&pub, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
	e |= kms_attrs_set_ulong(&priv, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
	if (e) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = merge_public(&pub, &ad.km, CKO_PUBLIC_KEY);
	if (rv == CKR_OK)
		rv = merge_public(&priv, &ad.km, CKO_PRIVATE_KEY);
	if (rv == CKR_OK)
		rv = kms_tmpl_defaults(&pub, CKO_PUBLIC_KEY, ad.kt);
	if (rv == CKR_OK)
		rv = kms_tmpl_defaults(&priv, CKO_PRIVATE_KEY, ad.kt);
	if (rv == CKR_OK && (kms_attrs_set_bool(&priv, CKA_ALWAYS_SENSITIVE, false) ||
			     kms_attrs_set_bool(&priv, CKA_NEVER_EXTRACTABLE, false)))
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = add_identity(s, &pub);
	if (rv == CKR_OK)
		rv = add_identity(s, &priv);
	if (rv == CKR_OK)
		rv = pair_commit(s, &pub, &priv, &ad.km.blob, ad.km.blob_len, hpub, hkey);
out:
	kms_key_material_free(&ad.km);
	kms_attrs_free(&pub);
	kms_attrs_free(&priv);
	return rv;
}
