/* SPDX-License-Identifier: Apache-2.0 */
/* Keys made, changed and deleted by the management plane; each change is one store transaction over every
 * object of the key. */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/util.h"
#include "module/kms/kms-int.h"

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

/* The algorithms of key create, their sizes (the first is the default). */
static const struct {
	const char *name;
	unsigned long sizes[4];
} algs[] = {
	{"RSA", {2048, 3072, 4096, 0}}, {"ECDSA", {256, 384, 521, 0}}, {"Ed25519", {256, 0, 0, 0}},
	{"AES", {256, 128, 192, 0}},    {"HMAC", {256, 384, 512, 0}},
};

int kms_list_encode(const char *field, const char *const *v, size_t n, uint8_t **out, size_t *len,
		    struct kms_err *e)
{
	size_t total = 0, pos = 0;

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		if (!v[i] || !*v[i])
			return kms_fail(e, KMS_E_INPUT, "%s: an empty value", field);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(v[i], v[j]))
				return kms_fail(e, KMS_E_INPUT, "%s: '%s' given twice", field, v[i]);
		total += strlen(v[i]) + 1;
	}
	if (n == 0)
		return KMS_OK;
	*out = malloc(total);
	if (!*out)
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]) + 1;

		memcpy(*out + pos, v[i], l);
		pos += l;
	}
	*len = total;
	return KMS_OK;
}

/* A JSON object in text: KMS_OK, else KMS_E_INPUT naming field. */
static int check_json_object(const char *field, const char *text, struct kms_err *e)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	bool ok = j && json_is_object(j);

	json_decref(j);
	if (!ok)
		return kms_fail(e, KMS_E_INPUT, "%s: not a JSON object%s%s", field, j ? "" : ": ", j ? "" : je.text);
	return KMS_OK;
}

int kms_create_check(const struct kms_create *c, struct kms_err *e)
{
	size_t a;
	int ret;

	if (!c->algorithm)
		return kms_fail(e, KMS_E_INPUT, "algorithm: one of RSA, ECDSA, Ed25519, AES, HMAC is needed");
	for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++)
		if (!strcasecmp(c->algorithm, algs[a].name))
			break;
	if (a == sizeof(algs) / sizeof(algs[0]))
		return kms_fail(e, KMS_E_INPUT, "algorithm: '%s' is not one of RSA, ECDSA, Ed25519, AES, HMAC",
				c->algorithm);
	if (c->size) {
		size_t i;

		for (i = 0; i < 4 && algs[a].sizes[i] && algs[a].sizes[i] != c->size; i++)
			;
		if (i == 4 || !algs[a].sizes[i])
			return kms_fail(e, KMS_E_INPUT, "size: %lu is not a size of %s keys", c->size, algs[a].name);
	}
	if (!c->name || !*c->name)
		return kms_fail(e, KMS_E_INPUT, "name: a key needs a name");
	if (strlen(c->name) > 255)
		return kms_fail(e, KMS_E_INPUT, "name: at most 255 bytes");
	if (c->metadata && (ret = check_json_object("metadata", c->metadata, e)) != KMS_OK)
		return ret;
	if (c->expiration) {
		time_t t;

		if (kms_time_parse(c->expiration, &t) != 0)
			return kms_fail(e, KMS_E_INPUT, "expiration_date: '%s' is not an ISO 8601 date", c->expiration);
		if (t <= time(NULL))
			return kms_fail(e, KMS_E_INPUT, "expiration_date: '%s' is not in the future", c->expiration);
	}
	for (size_t i = 0; i < c->ntags; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->tags[i], c->tags[j]))
				return kms_fail(e, KMS_E_INPUT, "tags: '%s' given twice", c->tags[i]);
	for (size_t i = 0; i < c->ntags; i++)
		if (!*c->tags[i])
			return kms_fail(e, KMS_E_INPUT, "tags: an empty tag");
	return KMS_OK;
}

/* KMS_E_CONFLICT when a key other than kid (NULL: any key) in tok is named name. */
int kms_name_free(struct kms_token *tok, const char *name, const char *kid, struct kms_err *e)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	uint64_t *ids = NULL;
	size_t n = 0;
	int ret = KMS_OK;
	CK_RV rv;

	if (kms_attrs_set(&t, CKA_LABEL, name, strlen(name)))
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
	kms_attrs_free(&t);
	if (rv != CKR_OK)
		ret = kms_fail_rv(e, "find", rv);
	for (size_t i = 0; ret == KMS_OK && i < n; i++) {
		struct kms_attrs a = KMS_ATTRS_INIT;
		const struct kms_attr *other;
		unsigned long cls = 0;

		if ((ids[i] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[i], &a) != CKR_OK)
			continue;
		kms_attrs_get_ulong(&a, CKA_CLASS, &cls);
		other = kms_attrs_get(&a, CKA_KMS11_KEY_ID);
		if (kms_attr_is_key_class(cls) &&
		    (!kid || !other || other->len != strlen(kid) || memcmp(other->val, kid, other->len) != 0))
			ret = kms_fail(e, KMS_E_CONFLICT, "name: a key named '%s' exists already", name);
		kms_attrs_free(&a);
	}
	free(ids);
	return ret;
}

void kms_new_key_begin(struct kms_login *l, const struct kms_attrs *facts, struct kms_obj_batch *batch)
{
	static const struct kms_store_key_change unique_name = {NULL, 0, NULL, NULL, true};

	l->s->facts = facts;
	l->s->key_change = &unique_name;
	l->s->batch = batch;
}

void kms_new_key_end(struct kms_login *l)
{
	if (l->s->batch)
		kms_obj_batch_drop(l->s);
	l->s->facts = NULL;
	l->s->key_change = NULL;
	l->s->batch = NULL;
}

/* The facts a new key gets besides its template: description, metadata, tags, expiration date. */
int kms_create_facts(const struct kms_create *c, struct kms_attrs *f, struct kms_err *e)
{
	uint8_t *tags = NULL;
	size_t tagslen = 0;
	int ret, err = 0;

	ret = kms_list_encode("tags", c->tags, c->ntags, &tags, &tagslen, e);
	if (ret != KMS_OK)
		return ret;
	if (c->description && *c->description)
		err |= kms_attrs_set(f, CKA_KMS11_DESCRIPTION, c->description, strlen(c->description));
	if (c->metadata)
		err |= kms_attrs_set(f, CKA_KMS11_METADATA, c->metadata, strlen(c->metadata));
	if (tagslen)
		err |= kms_attrs_set(f, CKA_KMS11_TAGS, tags, tagslen);
	if (c->expiration) {
		char ts[32];
		time_t t;

		kms_time_parse(c->expiration, &t);
		kms_time_iso8601(t, ts, sizeof(ts));
		err |= kms_attrs_set(f, CKA_KMS11_EXPIRATION_DATE, ts, strlen(ts));
	}
	free(tags);
	return err ? kms_fail(e, KMS_E_INTERNAL, "out of memory") : KMS_OK;
}

/* Makes the objects of a key (a new key, or a new version of one): algorithm alg of bits (0: its default),
 * labelled name, with the session's facts and key change. *kid gets the new key id (malloc'd). A secret key
 * comes from material when it is not NULL (an imported version), else from the engine. */
int kms_make_key(struct kms_login *l, const char *alg, unsigned long bits, const char *name, bool extractable,
		    const uint8_t *material, size_t matlen, char **kid, struct kms_err *e)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, ext = extractable ? CK_TRUE : CK_FALSE;
	CK_BBOOL sens = extractable ? CK_FALSE : CK_TRUE;
	CK_ULONG cbits = bits, bytes;
	CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
	CK_KEY_TYPE kt;
	CK_MECHANISM mech = {0, NULL, 0};
	CK_ATTRIBUTE pub[8], priv[13];
	CK_ULONG npub = 0, npriv = 0;
	CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
	struct kms_attrs a = KMS_ATTRS_INIT;
	const struct kms_attr *k;
	bool secret = false;
	CK_RV rv;

	*kid = NULL;
	pub[npub++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, 1};
	pub[npub++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)name, strlen(name)};
	pub[npub++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, 1};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, 1};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)name, strlen(name)};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, 1};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &sens, 1};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &ext, 1};
	if (!strcasecmp(alg, "RSA")) {
		cbits = cbits ? cbits : 2048;
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &cbits, sizeof(cbits)};
		pub[npub++] = (CK_ATTRIBUTE){CKA_ENCRYPT, &yes, 1};
		pub[npub++] = (CK_ATTRIBUTE){CKA_WRAP, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_DECRYPT, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_UNWRAP, &yes, 1};
	} else if (!strcasecmp(alg, "ECDSA")) {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		pub[npub++] = cbits == 384 ? (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p384, sizeof(oid_p384)}
			      : cbits == 521 ? (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p521, sizeof(oid_p521)}
					     : (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_DERIVE, &no, 1};
	} else if (!strcasecmp(alg, "Ed25519")) {
		mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_ed25519, sizeof(oid_ed25519)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, 1};
	} else if (!strcasecmp(alg, "AES") || !strcasecmp(alg, "HMAC")) {
		bool aes = !strcasecmp(alg, "AES");

		secret = true;
		bytes = material ? matlen : (cbits ? cbits : 256) / 8;
		kt = aes ? CKK_AES : CKK_GENERIC_SECRET;
		mech.mechanism = aes ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN;
		npriv = 0;
		priv[npriv++] = (CK_ATTRIBUTE){CKA_CLASS, &sec, sizeof(sec)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &kt, sizeof(kt)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)name, strlen(name)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &sens, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &ext, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_ENCRYPT, aes ? &yes : &no, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_DECRYPT, aes ? &yes : &no, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, aes ? &no : &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_VERIFY, aes ? &no : &yes, 1};
		if (material)
			priv[npriv++] = (CK_ATTRIBUTE){CKA_VALUE, (void *)material, matlen};
		else
			priv[npriv++] = (CK_ATTRIBUTE){CKA_VALUE_LEN, &bytes, sizeof(bytes)};
	} else {
		return kms_fail(e, KMS_E_INPUT, "algorithm: '%s' cannot be made", alg);
	}
	if (material && !secret)
		return kms_fail(e, KMS_E_INPUT, "key_material: only secret keys (AES, HMAC) take given material");
	rv = material ? kms_obj_create(l->s, priv, npriv, &hpriv)
	     : secret ? kms_obj_generate_secret(l->s, &mech, priv, npriv, &hpriv)
		      : kms_obj_generate_pair(l->s, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	if (rv != CKR_OK)
		return kms_fail_rv(e, material ? "key import" : "key generation", rv);
	rv = kms_obj_read(l->tok, hpriv, &a);
	k = rv == CKR_OK ? kms_attrs_get(&a, CKA_KMS11_KEY_ID) : NULL;
	*kid = k ? strndup((const char *)k->val, k->len) : NULL;
	kms_attrs_free(&a);
	return *kid ? KMS_OK : kms_fail(e, KMS_E_INTERNAL, "the new key cannot be read back");
}

int kms_key_create(struct kms_login *l, const struct kms_create *c, struct kms_key *out, struct kms_err *e)
{
	struct kms_attrs facts = KMS_ATTRS_INIT;
	char *kid = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = kms_create_check(c, e)) != KMS_OK || (ret = kms_name_free(l->tok, c->name, NULL, e)) != KMS_OK ||
	    (ret = kms_create_facts(c, &facts, e)) != KMS_OK) {
		kms_attrs_free(&facts);
		return ret;
	}
	kms_new_key_begin(l, &facts, NULL);
	ret = kms_make_key(l, c->algorithm, c->size, c->name, c->extractable, NULL, 0, &kid, e);
	kms_new_key_end(l);
	kms_attrs_free(&facts);
	if (ret == KMS_OK)
		ret = kms_key_load(l->tok, kid, out, e);
	free(kid);
	return ret;
}

/* ---- changes of every object of a key, in one transaction ---- */

struct change {
	int (*fn)(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next);
	struct kms_token *tok; /* the key's: its seals are made again when a guarded fact changes */
	struct kms_err *e;
	int ret;               /* a refusal found inside the transaction */
	const char *name;      /* rename */
	const uint8_t *list;   /* tags */
	size_t listlen;
	enum kms_life life;
	unsigned days;
	const char *patch;     /* aliases or metadata patch */
	CK_ATTRIBUTE_TYPE what;
	uint8_t *patched;      /* the patched value, computed from the first object the transaction reads */
	size_t patchedlen;
	bool done;
	unsigned long from_version; /* rotate: the primary version being replaced */
};

static CK_RV change_cb(void *ctx, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	struct change *ch = ctx;
	int ret;

	if (kms_attrs_copy(next, cur) != 0)
		return CKR_HOST_MEMORY;
	ret = ch->fn(ch, id, cur, next);
	if (ret == -1)
		return KMS_STORE_RV_DELETE;
	if (ret != KMS_OK) {
		ch->ret = ret;
		return CKR_CANCEL; /* aborts the transaction; ch->ret says why */
	}
	/* The seal binds the lifecycle facts (state, dates, primary version): a change of them seals again, with the
	 * token key of this logged-in process, in the same transaction. */
	return ch->tok ? kms_seal_update(ch->tok, id, cur, next, false) : CKR_GENERAL_ERROR;
}

static int key_change(struct kms_login *l, struct kms_key *k, struct change *ch, struct kms_err *e)
{
	struct kms_store_key_change chg;
	size_t seen = 0;
	char kid[sizeof(k->kid)];
	CK_RV rv;

	if (l->tok != k->tok)
		return kms_fail(e, KMS_E_INTERNAL, "logged in to another token than the key's");
	ch->e = e;
	ch->tok = k->tok;
	ch->ret = KMS_OK;
	/* A rename is checked against the other keys' names in the transaction that writes it. */
	chg = (struct kms_store_key_change){(const uint8_t *)k->kid, strlen(k->kid), change_cb, ch, ch->name != NULL};
	rv = kms_store_key_change(kms_mod.store, k->tok->no, &chg, &seen);
	if (ch->ret != KMS_OK)
		return ch->ret;
	if (rv != CKR_OK) {
		if (rv == CKR_ATTRIBUTE_VALUE_INVALID)
			return kms_fail(e, KMS_E_CONFLICT, "an alias of the key is held by another key");
		return kms_fail_rv(e, "store", rv);
	}
	if (seen == 0)
		return kms_fail(e, KMS_E_NOTFOUND, "key '%s' not found (deleted meanwhile)", k->kid);
	memcpy(kid, k->kid, sizeof(kid));
	kms_key_free(k);
	return kms_key_load(l->tok, kid, k, e);
}

static int del_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	(void)id;
	(void)next;
	if (!kms_attrs_get_bool(cur, CKA_DESTROYABLE, true))
		return kms_fail(ch->e, KMS_E_DENIED, "the key is not destroyable (CKA_DESTROYABLE false)");
	return -1;
}

/* Before kms11's records of a key go: an engine that holds the key elsewhere (pkcs11) destroys it there. A
 * failure keeps every record, so that the key never points at nothing and a later delete or maintain tries
 * again (destroying what is already gone succeeds). */
static int engine_purge(struct kms_token *tok, const char *kid, struct kms_err *e)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	uint64_t *ids = NULL;
	size_t n = 0;
	int ret = KMS_OK;
	CK_RV rv;

	if (!tok->eng->destroy)
		return KMS_OK;
	if (kms_attrs_set(&t, CKA_KMS11_KEY_ID, kid, strlen(kid)) != 0) {
		kms_attrs_free(&t);
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	}
	rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
	kms_attrs_free(&t);
	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		struct kms_attrs a = KMS_ATTRS_INIT;
		unsigned long cls = 0;
		uint8_t *blob = NULL;
		size_t bl = 0;

		if ((ids[i] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[i], &a) != CKR_OK)
			continue;
		kms_attrs_get_ulong(&a, CKA_CLASS, &cls);
		if (!kms_attrs_get_bool(&a, CKA_DESTROYABLE, true)) {
			kms_attrs_free(&a);
			ret = kms_fail(e, KMS_E_DENIED, "the key is not destroyable (CKA_DESTROYABLE false)");
			break;
		}
		if (cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY) {
			rv = kms_token_unseal(tok, ids[i], &a, &blob, &bl);
			if (rv == CKR_OK)
				rv = tok->eng->destroy(tok->einst, cls, blob, bl);
			kms_secure_free(blob);
		}
		kms_attrs_free(&a);
	}
	free(ids);
	if (ret == KMS_OK && rv != CKR_OK)
		ret = kms_fail(e, KMS_E_INTERNAL, "the %s engine did not destroy the key's objects (0x%lx)",
			       tok->eng->name, (unsigned long)rv);
	return ret;
}

/* Marks every object of a key for deletion now (pending_deletion, due at once), in one transaction. */
static int mark_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	char ts[32];

	(void)id;
	if (!kms_attrs_get_bool(cur, CKA_DESTROYABLE, true))
		return kms_fail(ch->e, KMS_E_DENIED, "the key is not destroyable (CKA_DESTROYABLE false)");
	kms_time_iso8601(time(NULL), ts, sizeof(ts));
	if (kms_attrs_set_ulong(next, CKA_KMS11_STATE, KMS11_STATE_PENDING_DELETION) ||
	    kms_attrs_set(next, CKA_KMS11_DELETION_DATE, ts, strlen(ts)))
		return kms_fail(ch->e, KMS_E_INTERNAL, "out of memory");
	return KMS_OK;
}

/* Runs one change over every object of key k; KMS_E_NOTFOUND when it has none. */
static int key_run(struct kms_token *tok, const char *kid, struct change *ch, struct kms_err *e)
{
	size_t seen = 0;
	CK_RV rv;

	ch->e = e;
	ch->tok = tok;
	ch->ret = KMS_OK;
	rv = kms_store_key_update(kms_mod.store, tok->no, (const uint8_t *)kid, strlen(kid), change_cb, ch, &seen);
	if (ch->ret != KMS_OK)
		return ch->ret;
	if (rv != CKR_OK)
		return kms_fail_rv(e, "store", rv);
	return seen ? KMS_OK : kms_fail(e, KMS_E_NOTFOUND, "key '%s' not found (deleted meanwhile)", kid);
}

int kms_key_delete(struct kms_login *l, struct kms_key *k, struct kms_err *e)
{
	struct change mark = {.fn = mark_fn}, del = {.fn = del_fn};
	bool elsewhere = k->tok->eng->destroy != NULL;
	int ret;

	if (l->tok != k->tok)
		return kms_fail(e, KMS_E_INTERNAL, "logged in to another token than the key's");
	/* A key held by another engine (pkcs11) is first marked for deletion now, then destroyed there, then its
	 * records go: a failure after the mark leaves a key that refuses every use and that kms11 maintain finishes,
	 * never records that point at nothing. */
	if (elsewhere && (ret = key_run(k->tok, k->kid, &mark, e)) != KMS_OK)
		return ret;
	ret = engine_purge(k->tok, k->kid, e);
	if (ret == KMS_OK)
		ret = key_run(k->tok, k->kid, &del, e);
	if (ret != KMS_OK && elsewhere) {
		char why[sizeof(e->msg)];

		memcpy(why, e->msg, sizeof(why));
		return kms_fail(e, ret, "%s; the key is marked for deletion (pending_deletion, due now), refuses every use, "
			       "and kms11 maintain finishes its deletion", why);
	}
	return ret;
}

/* The label of a key's object: the name for the primary version, "<name>#v<version>" for an older one. */
static int set_version_label(struct change *ch, const struct kms_attrs *cur, struct kms_attrs *next, bool primary)
{
	unsigned long ver = 1;
	char label[300];

	kms_attrs_get_ulong(cur, CKA_KMS11_VERSION, &ver);
	if (primary)
		snprintf(label, sizeof(label), "%s", ch->name);
	else
		snprintf(label, sizeof(label), "%s#v%lu", ch->name, ver);
	return kms_attrs_set(next, CKA_LABEL, label, strlen(label)) ? kms_fail(ch->e, KMS_E_INTERNAL, "out of memory")
								     : KMS_OK;
}

static int rename_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	(void)id;
	return set_version_label(ch, cur, next, kms_attrs_get_bool(cur, CKA_KMS11_PRIMARY, true));
}

int kms_key_rename(struct kms_login *l, struct kms_key *k, const char *name, struct kms_err *e)
{
	struct change ch = {.fn = rename_fn, .name = name};
	int ret;

	if (!name || !*name || strlen(name) > 255)
		return kms_fail(e, KMS_E_INPUT, "name: 1 to 255 bytes");
	if ((ret = kms_name_free(k->tok, name, k->kid, e)) != KMS_OK)
		return ret;
	return key_change(l, k, &ch, e);
}

static int tags_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	(void)id;
	(void)cur;
	return kms_attrs_set(next, CKA_KMS11_TAGS, ch->list, ch->listlen) ? kms_fail(ch->e, KMS_E_INTERNAL, "out of memory")
									     : KMS_OK;
}

int kms_key_set_tags(struct kms_login *l, struct kms_key *k, const char *const *tags, size_t n, struct kms_err *e)
{
	struct change ch = {.fn = tags_fn};
	uint8_t *list = NULL;
	int ret = kms_list_encode("tags", tags, n, &list, &ch.listlen, e);

	if (ret != KMS_OK)
		return ret;
	ch.list = list;
	ret = key_change(l, k, &ch, e);
	free(list);
	return ret;
}

static int life_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	unsigned long st = kms_key_state(cur), to = st;
	char ts[32];
	int err = 0;

	(void)id;
	switch (ch->life) {
	case KMS_LIFE_ENABLE:
	case KMS_LIFE_DISABLE:
		if (st == KMS11_STATE_PENDING_DELETION)
			return kms_fail(ch->e, KMS_E_CONFLICT, "the key is pending deletion: cancel the deletion first");
		to = ch->life == KMS_LIFE_ENABLE ? KMS11_STATE_ENABLED : KMS11_STATE_DISABLED;
		break;
	case KMS_LIFE_SCHEDULE_DELETION:
		if (st == KMS11_STATE_PENDING_DELETION)
			return kms_fail(ch->e, KMS_E_CONFLICT, "the key is pending deletion already");
		to = KMS11_STATE_PENDING_DELETION;
		kms_time_iso8601(time(NULL) + (time_t)ch->days * 86400, ts, sizeof(ts));
		err |= kms_attrs_set(next, CKA_KMS11_DELETION_DATE, ts, strlen(ts));
		break;
	case KMS_LIFE_CANCEL_DELETION:
		if (st != KMS11_STATE_PENDING_DELETION)
			return kms_fail(ch->e, KMS_E_CONFLICT, "the key is not pending deletion");
		/* As AWS KMS and Thalassa do: a key whose deletion is cancelled stays disabled until enabled. */
		to = KMS11_STATE_DISABLED;
		kms_attrs_del(next, CKA_KMS11_DELETION_DATE);
		break;
	}
	err |= kms_attrs_set_ulong(next, CKA_KMS11_STATE, to);
	return err ? kms_fail(ch->e, KMS_E_INTERNAL, "out of memory") : KMS_OK;
}

int kms_key_life(struct kms_login *l, struct kms_key *k, enum kms_life what, unsigned days, struct kms_err *e)
{
	struct change ch = {.fn = life_fn, .life = what, .days = days};

	if (what == KMS_LIFE_SCHEDULE_DELETION && (days < 7 || days > 30))
		return kms_fail(e, KMS_E_INPUT, "days: %u is outside 7..30", days);
	return key_change(l, k, &ch, e);
}

/* The patched aliases: an array of unique strings of 1 to 255 bytes without NUL. */
static int aliases_value(json_t *arr, uint8_t **out, size_t *len, struct kms_err *e)
{
	const char *v[256];
	json_t *x;
	size_t i;

	if (!json_is_array(arr))
		return kms_fail(e, KMS_E_INPUT, "aliases: the result is not an array");
	if (json_array_size(arr) > 256)
		return kms_fail(e, KMS_E_INPUT, "aliases: at most 256");
	json_array_foreach(arr, i, x)
	{
		if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > 255 ||
		    strlen(json_string_value(x)) != json_string_length(x))
			return kms_fail(e, KMS_E_INPUT, "aliases: element %zu is not a string of 1 to 255 bytes", i);
		v[i] = json_string_value(x);
	}
	return kms_list_encode("aliases", v, json_array_size(arr), out, len, e);
}

static int patch_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	(void)id;
	if (!ch->done) {
		const struct kms_attr *v = kms_attrs_get(cur, ch->what);
		json_t *doc, *res = NULL;
		int ret;

		if (ch->what == CKA_KMS11_ALIASES)
			doc = kms_list_json(v);
		else
			doc = v && v->len ? json_loadb((const char *)v->val, v->len, 0, NULL) : json_object();
		if (!doc)
			return kms_fail(ch->e, KMS_E_INTERNAL, "the stored metadata is not JSON");
		ret = kms_json_patch(doc, ch->patch, ch->what == CKA_KMS11_ALIASES ? "aliases" : "metadata", &res, ch->e);
		json_decref(doc);
		if (ret == KMS_OK && ch->what == CKA_KMS11_ALIASES) {
			ret = aliases_value(res, &ch->patched, &ch->patchedlen, ch->e);
		} else if (ret == KMS_OK) {
			char *text = json_is_object(res) ? json_dumps(res, JSON_COMPACT) : NULL;

			if (!text)
				ret = kms_fail(ch->e, KMS_E_INPUT, "metadata: the result is not a JSON object");
			else {
				ch->patched = (uint8_t *)text;
				ch->patchedlen = strlen(text);
			}
		}
		json_decref(res);
		if (ret != KMS_OK)
			return ret;
		ch->done = true;
	}
	return kms_attrs_set(next, ch->what, ch->patched, ch->patchedlen) ? kms_fail(ch->e, KMS_E_INTERNAL, "out of memory")
									       : KMS_OK;
}

static int key_patch(struct kms_login *l, struct kms_key *k, CK_ATTRIBUTE_TYPE what, const char *patch,
		     struct kms_err *e)
{
	struct change ch = {.fn = patch_fn, .patch = patch, .what = what};
	int ret;

	if (!patch)
		return kms_fail(e, KMS_E_INPUT, "patch: a JSON Patch is needed");
	ret = key_change(l, k, &ch, e);
	free(ch.patched);
	return ret;
}

int kms_key_patch_aliases(struct kms_login *l, struct kms_key *k, const char *patch, struct kms_err *e)
{
	return key_patch(l, k, CKA_KMS11_ALIASES, patch, e);
}

int kms_key_patch_metadata(struct kms_login *l, struct kms_key *k, const char *patch, struct kms_err *e)
{
	return key_patch(l, k, CKA_KMS11_METADATA, patch, e);
}

/* ---- versions and rotation ---- */

/* Rotation's change of the existing objects: the primary version's become an older version (labelled
 * "<name>#v<version>", not primary, no rotation date); a primary version other than the one rotated means a
 * rotation happened meanwhile. */
static int demote_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	unsigned long ver = 1;
	int ret;

	(void)id;
	if (!kms_attrs_get_bool(cur, CKA_KMS11_PRIMARY, true))
		return KMS_OK;
	kms_attrs_get_ulong(cur, CKA_KMS11_VERSION, &ver);
	if (ver != ch->from_version)
		return kms_fail(ch->e, KMS_E_CONFLICT, "the key was rotated meanwhile (version %lu)", ver);
	if ((ret = set_version_label(ch, cur, next, false)) != KMS_OK)
		return ret;
	kms_attrs_del(next, CKA_KMS11_NEXT_ROTATION);
	return kms_attrs_set_bool(next, CKA_KMS11_PRIMARY, false) ? kms_fail(ch->e, KMS_E_INTERNAL, "out of memory")
								   : KMS_OK;
}

/* The facts a key's new version carries over from the current one. */
static int version_facts(const struct kms_key *k, unsigned long version, struct kms_attrs *f, struct kms_err *e)
{
	static const CK_ATTRIBUTE_TYPE carried[] = {CKA_KMS11_TAGS,	      CKA_KMS11_ALIASES,	 CKA_KMS11_METADATA,
						    CKA_KMS11_DESCRIPTION,    CKA_KMS11_EXPIRATION_DATE, CKA_KMS11_STATE,
						    CKA_KMS11_ROTATION_DAYS};
	const struct kms_attrs *a = kms_key_main(k);
	unsigned long days = 0;
	int err = 0;

	for (size_t i = 0; i < sizeof(carried) / sizeof(carried[0]); i++) {
		const struct kms_attr *v = kms_attrs_get(a, carried[i]);

		if (v)
			err |= kms_attrs_set(f, v->type, v->val, v->len);
	}
	err |= kms_attrs_set(f, CKA_KMS11_KEY_ID, k->kid, strlen(k->kid));
	err |= kms_attrs_set_ulong(f, CKA_KMS11_VERSION, version);
	err |= kms_attrs_set_bool(f, CKA_KMS11_PRIMARY, true);
	if (kms_attrs_get_ulong(a, CKA_KMS11_ROTATION_DAYS, &days) == 0 && days) {
		char ts[32];

		kms_time_iso8601(time(NULL) + (time_t)days * 86400, ts, sizeof(ts));
		err |= kms_attrs_set(f, CKA_KMS11_NEXT_ROTATION, ts, strlen(ts));
	}
	return err ? kms_fail(e, KMS_E_INTERNAL, "out of memory") : KMS_OK;
}

int kms_key_rotate(struct kms_login *l, struct kms_key *k, const uint8_t *material, size_t matlen, struct kms_err *e)
{
	const struct kms_attrs *a = kms_key_main(k);
	const struct kms_attr *label = kms_attrs_get(a, CKA_LABEL);
	struct change ch = {.fn = demote_fn, .tok = k->tok};
	struct kms_store_key_change chg = {(const uint8_t *)k->kid, strlen(k->kid), change_cb, &ch, false};
	struct kms_attrs facts = KMS_ATTRS_INIT;
	struct kms_err inner = {0};
	unsigned long version = 1, bits;
	const char *alg;
	char *name, *kid = NULL, kidcopy[sizeof(k->kid)];
	bool extractable;
	int ret;

	if (l->tok != k->tok)
		return kms_fail(e, KMS_E_INTERNAL, "logged in to another token than the key's");
	if (kms_key_state(a) != KMS11_STATE_ENABLED)
		return kms_fail(e, KMS_E_CONFLICT, "the key is %s: only an enabled key rotates", kms_state_name(kms_key_state(a)));
	kms_key_kind(a, &alg, &bits);
	if (material) {
		if (!k->has_sec)
			return kms_fail(e, KMS_E_INPUT, "key_material: only secret keys (AES, HMAC) take given material");
		if (!strcmp(alg, "AES") ? (matlen != 16 && matlen != 24 && matlen != 32) : (matlen < 32 || matlen > 64))
			return kms_fail(e, KMS_E_INPUT, "key_material: %zu bytes do not make an %s key", matlen, alg);
	}
	kms_attrs_get_ulong(a, CKA_KMS11_VERSION, &version);
	extractable = kms_attrs_get_bool(k->has_sec ? &k->sec : &k->priv, CKA_EXTRACTABLE, false);
	name = strndup(label && label->val ? (const char *)label->val : "", label ? label->len : 0);
	if (!name)
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	ch.e = &inner;
	ch.name = name;
	ch.from_version = version;
	ret = version_facts(k, version + 1, &facts, e);
	if (ret == KMS_OK) {
		l->s->facts = &facts;
		l->s->key_change = &chg;
		ret = kms_make_key(l, alg, bits, name, extractable, material, matlen, &kid, e);
		l->s->facts = NULL;
		l->s->key_change = NULL;
		if (ch.ret != KMS_OK) {
			*e = inner; /* the refusal found inside the transaction, rather than its CKR */
			ret = ch.ret;
		}
	}
	kms_attrs_free(&facts);
	free(name);
	free(kid);
	if (ret != KMS_OK)
		return ret;
	memcpy(kidcopy, k->kid, sizeof(kidcopy));
	kms_key_free(k);
	return kms_key_load(l->tok, kidcopy, k, e);
}

static int rotation_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	char ts[32];
	int err = 0;

	(void)id;
	if (!ch->days) {
		kms_attrs_del(next, CKA_KMS11_ROTATION_DAYS);
		kms_attrs_del(next, CKA_KMS11_NEXT_ROTATION);
		return KMS_OK;
	}
	err |= kms_attrs_set_ulong(next, CKA_KMS11_ROTATION_DAYS, ch->days);
	if (kms_attrs_get_bool(cur, CKA_KMS11_PRIMARY, true)) {
		kms_time_iso8601(time(NULL) + (time_t)ch->days * 86400, ts, sizeof(ts));
		err |= kms_attrs_set(next, CKA_KMS11_NEXT_ROTATION, ts, strlen(ts));
	}
	return err ? kms_fail(ch->e, KMS_E_INTERNAL, "out of memory") : KMS_OK;
}

int kms_key_rotation(struct kms_login *l, struct kms_key *k, unsigned days, struct kms_err *e)
{
	struct change ch = {.fn = rotation_fn, .days = days};

	if (days > 36500)
		return kms_fail(e, KMS_E_INPUT, "period_days: %u is more than 100 years", days);
	return key_change(l, k, &ch, e);
}

/* ---- maintenance: scheduled deletions that are due ---- */

/* Deletes the key's objects when it is pending deletion and its date has come; KMS_E_CONFLICT (nothing
 * changed) when not, checked inside the transaction so that a cancellation meanwhile wins. */
static int purge_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	const struct kms_attr *d = kms_attrs_get(cur, CKA_KMS11_DELETION_DATE);
	char buf[40];
	time_t when;

	(void)id;
	(void)next;
	if (kms_key_state(cur) != KMS11_STATE_PENDING_DELETION || !d || d->len == 0 || d->len >= sizeof(buf))
		return kms_fail(ch->e, KMS_E_CONFLICT, "not pending deletion");
	memcpy(buf, d->val, d->len);
	buf[d->len] = 0;
	if (kms_time_parse(buf, &when) != 0 || when > time(NULL))
		return kms_fail(ch->e, KMS_E_CONFLICT, "deletion not due");
	return -1;
}

/* True when some object of key kid is pending deletion with its date come (purge_fn checks again inside the
 * transaction; this first check keeps an engine from destroying a key whose deletion is not due). */
static bool purge_due(struct kms_token *tok, const char *kid)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	struct kms_err ke = {0};
	struct change ch = {.e = &ke};
	uint64_t *ids = NULL;
	size_t n = 0;
	bool due = false;

	if (!tok->eng->destroy)
		return true;
	if (kms_attrs_set(&t, CKA_KMS11_KEY_ID, kid, strlen(kid)) == 0 &&
	    kms_find_ids(tok, 0, &t, true, &ids, &n) == CKR_OK) {
		for (size_t i = 0; i < n && !due; i++) {
			struct kms_attrs a = KMS_ATTRS_INIT;

			if (!(ids[i] & KMS_SESSION_OBJ_BIT) && kms_obj_read(tok, ids[i], &a) == CKR_OK)
				due = purge_fn(&ch, ids[i], &a, NULL) == -1;
			kms_attrs_free(&a);
		}
	}
	free(ids);
	kms_attrs_free(&t);
	return due;
}

/* True when the primary-version object a has automatic rotation due now. */
static bool rotation_due(const struct kms_attrs *a)
{
	const struct kms_attr *next = kms_attrs_get(a, CKA_KMS11_NEXT_ROTATION);
	unsigned long days = 0;
	char buf[40];
	time_t when;

	if (kms_attrs_get_ulong(a, CKA_KMS11_ROTATION_DAYS, &days) != 0 || !days || !next || !next->len ||
	    next->len >= sizeof(buf) || !kms_attrs_get_bool(a, CKA_KMS11_PRIMARY, true) ||
	    kms_key_state(a) != KMS11_STATE_ENABLED)
		return false;
	memcpy(buf, next->val, next->len);
	buf[next->len] = 0;
	return kms_time_parse(buf, &when) == 0 && when <= time(NULL);
}

/* Rotates the keys of tok whose automatic rotation is due. */
static void rotate_due(struct kms_token *tok, struct kms_login *l, const char *label, json_t *rotated, json_t *errors)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_SECRET_KEY};
	json_t *due = json_object(), *x;
	const char *kid;

	for (size_t c = 0; c < 2; c++) {
		struct kms_attrs t = KMS_ATTRS_INIT;
		uint64_t *ids = NULL;
		size_t n = 0;

		kms_attrs_set_ulong(&t, CKA_CLASS, classes[c]);
		if (kms_find_ids(tok, 0, &t, true, &ids, &n) == CKR_OK) {
			for (size_t j = 0; j < n; j++) {
				struct kms_attrs a = KMS_ATTRS_INIT;
				const struct kms_attr *k;

				if ((ids[j] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[j], &a) != CKR_OK)
					continue;
				if (rotation_due(&a) && (k = kms_attrs_get(&a, CKA_KMS11_KEY_ID)) != NULL) {
					char buf[80];

					snprintf(buf, sizeof(buf), "%.*s", (int)(k->len < 79 ? k->len : 79), (const char *)k->val);
					json_object_set_new(due, buf, json_true());
				}
				kms_attrs_free(&a);
			}
		}
		free(ids);
		kms_attrs_free(&t);
	}
	json_object_foreach(due, kid, x)
	{
		struct kms_err ke = {0};
		struct kms_key k;

		if (kms_key_load(tok, kid, &k, &ke) != KMS_OK)
			continue;
		if (kms_key_rotate(l, &k, NULL, 0, &ke) == KMS_OK)
			json_array_append_new(rotated, json_pack("{s:s,s:s,s:I}", "engine_id", label, "key_id", kid, "version",
								 (json_int_t)k.vers[k.nvers - 1].number));
		else if (ke.code != KMS_E_CONFLICT)
			json_array_append_new(errors, json_pack("{s:s,s:s,s:s}", "engine_id", label, "key_id", kid, "err", ke.msg));
		kms_key_free(&k);
	}
	json_decref(due);
}

int kms_maintain(const char *engine_id, const char *pin, json_t **out, struct kms_err *e)
{
	struct kms_token *only = NULL;
	json_t *deleted = json_array(), *errors = json_array(), *rotated = json_array();
	bool denied = false;
	int ret = KMS_OK;

	*out = NULL;
	if (engine_id && (ret = kms_mgr_token(engine_id, &only, e)) != KMS_OK)
		goto out;
	for (size_t i = 0; i < kms_mod.n_tokens; i++) {
		struct kms_token *tok = &kms_mod.tokens[i];
		struct kms_attrs t = KMS_ATTRS_INIT;
		struct kms_login l = {0};
		struct kms_err ke0 = {0};
		json_t *due = json_array(), *kid;
		uint64_t *ids = NULL;
		size_t n = 0, j;
		char label[33];
		CK_RV rv;

		if (only && tok != only) {
			json_decref(due);
			continue;
		}
		kms_token_label(tok, label);
		/* The PIN is checked on every token, due work or not: a wrong one shows the first day, not the day a
		 * deletion falls due. */
		if (kms_mgr_login(tok, pin, &l, &ke0) != KMS_OK) {
			json_array_append_new(errors, json_pack("{s:s,s:s}", "engine_id", label, "err", ke0.msg));
			denied = true;
			json_decref(due);
			continue;
		}
		kms_attrs_set_ulong(&t, CKA_KMS11_STATE, KMS11_STATE_PENDING_DELETION);
		rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
		kms_attrs_free(&t);
		for (j = 0; rv == CKR_OK && j < n; j++) {
			struct kms_attrs a = KMS_ATTRS_INIT;
			const struct kms_attr *k;

			if ((ids[j] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[j], &a) != CKR_OK)
				continue;
			k = kms_attrs_get(&a, CKA_KMS11_KEY_ID);
			if (k) {
				json_t *s = json_stringn((const char *)k->val, k->len);
				json_t *x;
				size_t q;
				bool have = false;

				json_array_foreach(due, q, x) have = have || json_equal(x, s);
				if (!have)
					json_array_append(due, s);
				json_decref(s);
			}
			kms_attrs_free(&a);
		}
		free(ids);
		json_array_foreach(due, j, kid)
		{
			struct change ch = {.fn = purge_fn, .tok = tok};
			struct kms_err ke = {0};
			size_t seen = 0;

			ch.e = &ke;
			if (!purge_due(tok, json_string_value(kid)))
				continue;
			if (engine_purge(tok, json_string_value(kid), &ke) != KMS_OK) {
				json_array_append_new(errors, json_pack("{s:s,s:O,s:s}", "engine_id", label, "key_id", kid,
									"err", ke.msg));
				continue;
			}
			rv = kms_store_key_update(kms_mod.store, tok->no, (const uint8_t *)json_string_value(kid),
						  json_string_length(kid), change_cb, &ch, &seen);
			if (ch.ret == KMS_OK && rv == CKR_OK && seen)
				json_array_append_new(deleted, json_pack("{s:s,s:O}", "engine_id", label, "key_id", kid));
			else if (ch.ret != KMS_E_CONFLICT && ch.ret != KMS_OK)
				json_array_append_new(errors, json_pack("{s:s,s:O,s:s}", "engine_id", label, "key_id", kid,
									"err", ke.msg));
			else if (rv != CKR_OK && ch.ret == KMS_OK)
				json_array_append_new(errors, json_pack("{s:s,s:O,s:s}", "engine_id", label, "key_id", kid,
									"err", "the store refused the deletion"));
		}
		rotate_due(tok, &l, label, rotated, errors);
		kms_mgr_logout(&l);
		json_decref(due);
	}
	*out = json_pack("{s:O,s:O,s:O}", "deleted", deleted, "rotated", rotated, "errors", errors);
	if (denied)
		ret = KMS_E_DENIED;
out:
	json_decref(deleted);
	json_decref(errors);
	json_decref(rotated);
	return ret;
}
