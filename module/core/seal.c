/* SPDX-License-Identifier: Apache-2.0 */
/* The seal of token objects: engine blobs and private data values under the token key, bound to the object's
 * id, its token and every attribute that guards them; resealing when those change; migration of old seals. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "module/core/core.h"

/*
 * The associated data of a seal (version 4) is "kms11-seal-v4" || object id (8, BE) || token number (4, BE)
 * || the attributes below that the object has, in this order, in the record encoding (common/attrs.h): those
 * that guard the material, then the lifecycle facts (state, expiration and deletion dates, primary version).
 * Changing any of them in the store without the token key (CKA_SENSITIVE flipped to false, a usage flag turned
 * on, a disabled key enabled again, an expiration date moved, the object moved to another token) makes the seal
 * fail to open: the object is refused with CKR_DEVICE_ERROR and a log line, never used.
 *
 * Older seals, opened once to be sealed again at the first login after an upgrade: version 3 is "kms11-seal-v2"
 * with the guards only; version 2 is version 3 with every object under the token key; version 1 bound only the
 * id: "kms11-obj" || id.
 *
 * The key is the token key (under the PINs) for private objects, and the token's public seal key (in the
 * token record in clear) for objects with CKA_PRIVATE false, which PKCS#11 lets any session use.
 */
static const CK_ATTRIBUTE_TYPE guarded[] = {
	CKA_CLASS,	     CKA_KEY_TYPE,	   CKA_TOKEN,		  CKA_PRIVATE,	     CKA_SENSITIVE,
	CKA_EXTRACTABLE,     CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, CKA_TRUSTED,
	CKA_ENCRYPT,	     CKA_DECRYPT,	   CKA_SIGN,		  CKA_SIGN_RECOVER,  CKA_VERIFY,
	CKA_VERIFY_RECOVER,  CKA_WRAP,		   CKA_UNWRAP,		  CKA_DERIVE,	     CKA_ALWAYS_AUTHENTICATE,
	CKA_ALLOWED_MECHANISMS, CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE,	  CKA_DERIVE_TEMPLATE, CKA_MODIFIABLE,
	CKA_COPYABLE,	     CKA_DESTROYABLE,
	/* version 4 on */
	CKA_KMS11_STATE,     CKA_KMS11_EXPIRATION_DATE, CKA_KMS11_DELETION_DATE, CKA_KMS11_PRIMARY,
};
#define N_GUARDED (sizeof(guarded) / sizeof(guarded[0]))
#define N_GUARDED_V3 (N_GUARDED - 4)

static const char aad_v4[] = "kms11-seal-v4", aad_v2[] = "kms11-seal-v2";
#define AAD_V1_LEN 17

bool kms_seal_guards_equal(const struct kms_attrs *a, const struct kms_attrs *b)
{
	for (size_t i = 0; i < N_GUARDED; i++) {
		const struct kms_attr *x = kms_attrs_get(a, guarded[i]), *y = kms_attrs_get(b, guarded[i]);

		if (!x != !y || (x && (x->len != y->len || (x->len && memcmp(x->val, y->val, x->len) != 0))))
			return false;
	}
	return true;
}

/* The associated data of object id of token no with attributes a (malloc'd): version 4, or with old the one of
 * versions 2 and 3. */
static CK_RV aad_build(uint64_t id, uint32_t no, const struct kms_attrs *a, bool old, uint8_t **out, size_t *outlen)
{
	const char *tag = old ? aad_v2 : aad_v4;
	struct kms_attrs sub = KMS_ATTRS_INIT;
	uint8_t *enc = NULL, *buf = NULL;
	size_t enclen = 0, taglen = strlen(tag), head = taglen + 12;
	CK_RV rv = CKR_HOST_MEMORY;

	for (size_t i = 0; i < (old ? N_GUARDED_V3 : N_GUARDED); i++) {
		const struct kms_attr *x = kms_attrs_get(a, guarded[i]);

		if (x && kms_attrs_set(&sub, x->type, x->val, x->len) != 0)
			goto out;
	}
	if (kms_attrs_encode(&sub, &enc, &enclen) != 0 || enclen > SIZE_MAX - head)
		goto out;
	buf = malloc(head + enclen);
	if (!buf)
		goto out;
	memcpy(buf, tag, taglen);
	kms_be64_put(buf + taglen, id);
	kms_be32_put(buf + taglen + 8, no);
	memcpy(buf + head, enc, enclen);
	*out = buf;
	*outlen = head + enclen;
	rv = CKR_OK;
out:
	free(enc);
	kms_attrs_free(&sub);
	return rv;
}

static void aad_v1(uint64_t id, uint8_t aad[AAD_V1_LEN])
{
	memcpy(aad, "kms11-obj", 9);
	kms_be64_put(aad + 9, id);
}

/* Seals or opens with the token key held by any login (user_only: only the user's). */
static CK_RV with_key(struct kms_token *tok, bool user_only, bool open, const uint8_t *aad, size_t aadlen,
		      const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	CK_RV rv;

	kms_lock_rd(&tok->lock);
	if (!tok->token_key || (user_only && tok->login != CKU_USER))
		rv = CKR_USER_NOT_LOGGED_IN;
	else if (open)
		rv = kms_gcm_open(tok->token_key, aad, aadlen, in, len, out, outlen);
	else
		rv = kms_gcm_seal(tok->token_key, aad, aadlen, in, len, out, outlen);
	kms_lock_unlock(&tok->lock);
	return rv;
}

/* Seals or opens with the token's public seal key, which needs no login (created when sealing). Opening a seal
 * of a token whose objects are not yet sealed again as version 4 also tries old_aad (version 3). */
static CK_RV with_public_key(struct kms_token *tok, bool open, const uint8_t *aad, size_t aadlen,
			     const uint8_t *old_aad, size_t old_aadlen, const uint8_t *in, size_t len, uint8_t **out,
			     size_t *outlen)
{
	uint8_t *key = NULL;
	bool current = true;
	CK_RV rv = kms_token_public_key(tok, !open, &key, &current);

	if (rv == CKR_OK)
		rv = open ? kms_gcm_open(key, aad, aadlen, in, len, out, outlen)
			  : kms_gcm_seal(key, aad, aadlen, in, len, out, outlen);
	if (rv == CKR_ENCRYPTED_DATA_INVALID && key && open && !current && old_aad)
		rv = kms_gcm_open(key, old_aad, old_aadlen, in, len, out, outlen);
	kms_secure_free(key);
	/* A public object of a token not yet migrated from version 2 is still under the token key: a login
	 * migrates it. */
	if (rv == CKR_ENCRYPTED_DATA_INVALID && !current)
		rv = CKR_USER_NOT_LOGGED_IN;
	return rv;
}

/* Public objects (CKA_PRIVATE false) are sealed under the public seal key, every other under the token key. */
static bool sealed_public(const struct kms_attrs *a)
{
	return !kms_attrs_get_bool(a, CKA_PRIVATE, true);
}

/* Seals (or opens: CKR_ENCRYPTED_DATA_INVALID when it does not open) with the associated data of token object id
 * with attributes a (version 4; with old, versions 2 and 3), under the key its CKA_PRIVATE chooses; user_only has a
 * private object need the user's login. */
static CK_RV seal_with(struct kms_token *tok, bool user_only, bool open, bool old, uint64_t id,
		       const struct kms_attrs *a, const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *aad = NULL, *aad3 = NULL;
	size_t aadlen = 0, aad3len = 0;
	CK_RV rv = aad_build(id, tok->no, a, old, &aad, &aadlen);

	if (rv == CKR_OK && sealed_public(a)) {
		if (open && !old)
			rv = aad_build(id, tok->no, a, true, &aad3, &aad3len);
		if (rv == CKR_OK)
			rv = with_public_key(tok, open, aad, aadlen, aad3, aad3len, in, len, out, outlen);
	} else if (rv == CKR_OK) {
		rv = with_key(tok, user_only, open, aad, aadlen, in, len, out, outlen);
	}
	free(aad);
	free(aad3);
	return rv;
}

static CK_RV seal_v4(struct kms_token *tok, bool user_only, bool open, uint64_t id, const struct kms_attrs *a,
		     const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	return seal_with(tok, user_only, open, false, id, a, in, len, out, outlen);
}

CK_RV kms_token_seal(struct kms_token *tok, uint64_t id, const struct kms_attrs *a, const uint8_t *blob, size_t len,
		     uint8_t **out, size_t *outlen)
{
	return seal_v4(tok, true, false, id, a, blob, len, out, outlen);
}

/* Opens the seal of a record, any login: CKR_DEVICE_ERROR (logged) when it does not open. */
static CK_RV unseal_record(struct kms_token *tok, bool user_only, uint64_t id, const struct kms_attrs *a,
			   uint8_t **blob, size_t *bloblen)
{
	const struct kms_attr *sealed = kms_attrs_get(a, CKA_KMS11_SEALED);
	CK_RV rv;

	if (!sealed) {
		KMS_ERR("object %llu: its sealed value is missing", (unsigned long long)id);
		return CKR_DEVICE_ERROR;
	}
	rv = seal_v4(tok, user_only, true, id, a, sealed->val, sealed->len, blob, bloblen);
	if (rv == CKR_ENCRYPTED_DATA_INVALID) {
		KMS_ERR("object %llu: the seal does not open: its record was changed outside kms11 or is damaged",
			(unsigned long long)id);
		rv = CKR_DEVICE_ERROR;
	}
	return rv;
}

CK_RV kms_token_unseal(struct kms_token *tok, uint64_t id, const struct kms_attrs *a, uint8_t **blob, size_t *bloblen)
{
	return unseal_record(tok, true, id, a, blob, bloblen);
}

CK_RV kms_token_unseal_any(struct kms_token *tok, uint64_t id, const struct kms_attrs *a, uint8_t **blob,
			   size_t *bloblen)
{
	return unseal_record(tok, false, id, a, blob, bloblen);
}

/* Seals value into next under its own attributes (the clear CKA_VALUE removed). */
static CK_RV seal_into_record(struct kms_token *tok, uint64_t id, struct kms_attrs *next, const uint8_t *val,
			      size_t len)
{
	uint8_t *sealed = NULL;
	size_t sealedlen = 0;
	CK_RV rv;

	kms_attrs_del(next, CKA_VALUE);
	kms_attrs_del(next, CKA_KMS11_SEALED);
	rv = seal_v4(tok, false, false, id, next, val, len, &sealed, &sealedlen);
	if (rv == CKR_OK && kms_attrs_set(next, CKA_KMS11_SEALED, sealed, sealedlen) != 0)
		rv = CKR_HOST_MEMORY;
	free(sealed);
	return rv;
}

CK_RV kms_seal_public_ready(struct kms_token *tok)
{
	uint8_t *key = NULL;
	CK_RV rv = kms_token_public_key(tok, true, &key, NULL);

	kms_secure_free(key);
	return rv;
}

bool kms_seal_is_data(const struct kms_attrs *a)
{
	unsigned long cls = CK_UNAVAILABLE_INFORMATION;

	kms_attrs_get_ulong(a, CKA_CLASS, &cls);
	return cls == CKO_DATA;
}

CK_RV kms_seal_update(struct kms_token *tok, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next,
		      bool value_set)
{
	bool was_sealed = kms_attrs_get(cur, CKA_KMS11_SEALED) != NULL;
	bool data = kms_seal_is_data(cur);
	bool want_sealed = data ? kms_attrs_get_bool(next, CKA_PRIVATE, false) : was_sealed;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	const struct kms_attr *v;
	CK_RV rv = CKR_OK;

	if (!was_sealed && !want_sealed)
		return CKR_OK;
	if (!value_set && was_sealed == want_sealed && kms_seal_guards_equal(cur, next))
		return CKR_OK; /* the seal still opens under the new attributes */
	if (data && (value_set || !was_sealed)) {
		/* The value is in clear in next: it came with the template, or the object was public until now. */
		v = kms_attrs_get(next, CKA_VALUE);
		bloblen = v ? v->len : 0;
		blob = kms_secure_dup(v ? v->val : NULL, bloblen);
		if (!blob)
			return CKR_HOST_MEMORY;
	} else {
		rv = unseal_record(tok, false, id, cur, &blob, &bloblen);
		if (rv != CKR_OK)
			return rv;
	}
	if (want_sealed) {
		rv = seal_into_record(tok, id, next, blob, bloblen);
	} else {
		/* A data object made public: its value goes back in clear. */
		kms_attrs_del(next, CKA_KMS11_SEALED);
		if (kms_attrs_set(next, CKA_VALUE, blob, bloblen) != 0)
			rv = CKR_HOST_MEMORY;
	}
	kms_secure_free(blob);
	return rv;
}

CK_RV kms_seal_data_value(struct kms_session *s, const struct kms_obj *o, uint8_t **val, size_t *len)
{
	if (!kms_attrs_get_bool(&o->attrs, CKA_PRIVATE, false)) {
		KMS_ERR("object %llu: a sealed value on a public object", (unsigned long long)o->id);
		return CKR_DEVICE_ERROR;
	}
	return unseal_record(s->tok, true, o->id, &o->attrs, val, len);
}

struct migrate_ctx {
	struct kms_token *tok;
	size_t resealed, failed;
};

/* One object of the migration: a seal of version 1 to 4 opened and sealed again as version 4; a private data
 * object's clear value sealed. Objects without either are left alone (next stays empty). */
static CK_RV migrate_one(void *vctx, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	struct migrate_ctx *c = vctx;
	const struct kms_attr *sealed = kms_attrs_get(cur, CKA_KMS11_SEALED), *v;
	uint8_t aad[AAD_V1_LEN], *blob = NULL;
	size_t bloblen = 0;
	CK_RV rv;

	if (!sealed) {
		v = kms_attrs_get(cur, CKA_VALUE);
		if (!kms_seal_is_data(cur) || !kms_attrs_get_bool(cur, CKA_PRIVATE, false) || !v)
			return CKR_OK;
		if (kms_attrs_copy(next, cur) != 0)
			return CKR_HOST_MEMORY;
		blob = kms_secure_dup(v->val, v->len);
		bloblen = v->len;
		rv = blob ? seal_into_record(c->tok, id, next, blob, bloblen) : CKR_HOST_MEMORY;
		goto out;
	}
	rv = seal_v4(c->tok, false, true, id, cur, sealed->val, sealed->len, &blob, &bloblen);
	if (rv == CKR_OK)
		goto reseal; /* the migration runs once, at an upgrade: every seal is made again as version 4 */
	if (rv != CKR_ENCRYPTED_DATA_INVALID && !(rv == CKR_USER_NOT_LOGGED_IN && sealed_public(cur)))
		return rv;
	/* Version 3: the guards without the lifecycle facts, under the key CKA_PRIVATE chooses. */
	rv = seal_with(c->tok, false, true, true, id, cur, sealed->val, sealed->len, &blob, &bloblen);
	if (rv != CKR_ENCRYPTED_DATA_INVALID && !(rv == CKR_USER_NOT_LOGGED_IN && sealed_public(cur)))
		goto reseal;
	if (sealed_public(cur)) {
		/* Version 2 sealed public objects under the token key too. */
		uint8_t *aad2 = NULL;
		size_t aad2len = 0;

		rv = aad_build(id, c->tok->no, cur, true, &aad2, &aad2len);
		if (rv == CKR_OK)
			rv = with_key(c->tok, false, true, aad2, aad2len, sealed->val, sealed->len, &blob, &bloblen);
		free(aad2);
		if (rv != CKR_ENCRYPTED_DATA_INVALID)
			goto reseal;
	}
	aad_v1(id, aad);
	rv = with_key(c->tok, false, true, aad, sizeof(aad), sealed->val, sealed->len, &blob, &bloblen);
reseal:
	if (rv == CKR_ENCRYPTED_DATA_INVALID) {
		KMS_ERR("object %llu: the seal does not open (version 1 to 4): left as it is", (unsigned long long)id);
		c->failed++;
		return CKR_OK;
	}
	if (rv == CKR_OK && kms_attrs_copy(next, cur) != 0)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = seal_into_record(c->tok, id, next, blob, bloblen);
out:
	if (rv == CKR_OK && next->n)
		c->resealed++;
	kms_secure_free(blob);
	return rv;
}

CK_RV kms_seal_migrate(struct kms_token *tok)
{
	struct migrate_ctx c = {.tok = tok};
	CK_RV rv = kms_seal_public_ready(tok);

	if (rv != CKR_OK)
		return rv;

	rv = kms_store_objs_update(kms_mod.store, tok->no, migrate_one, &c);
	if (rv == CKR_OK && c.resealed)
		KMS_INFO("token '%s': %zu objects sealed again with their attributes bound", tok->conf_label,
			 c.resealed);
	return rv;
}
