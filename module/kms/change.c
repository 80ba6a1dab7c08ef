/* SPDX-License-Identifier: Apache-2.0 */
/* Keys made, changed and deleted by the management plane; each change is one store transaction over every
 * object of the key. */
#include <stdlib.h>
#include <string.h>

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
static int name_free(struct kms_token *tok, const char *name, const char *kid, struct kms_err *e)
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

/* The facts a new key gets besides its template: description, metadata, tags, expiration date. */
static int create_facts(const struct kms_create *c, struct kms_attrs *f, struct kms_err *e)
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

int kms_key_create(struct kms_login *l, const struct kms_create *c, struct kms_key *out, struct kms_err *e)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, ext = c->extractable ? CK_TRUE : CK_FALSE;
	CK_BBOOL sens = c->extractable ? CK_FALSE : CK_TRUE;
	CK_ULONG bits = c->size, bytes;
	CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
	CK_KEY_TYPE kt;
	CK_MECHANISM mech = {0, NULL, 0};
	CK_ATTRIBUTE pub[8], priv[12];
	CK_ULONG npub = 0, npriv = 0;
	CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
	struct kms_attrs facts = KMS_ATTRS_INIT, a = KMS_ATTRS_INIT;
	const struct kms_attr *kid;
	bool secret = false;
	char *kidstr;
	CK_RV rv;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = kms_create_check(c, e)) != KMS_OK || (ret = name_free(l->tok, c->name, NULL, e)) != KMS_OK ||
	    (ret = create_facts(c, &facts, e)) != KMS_OK) {
		kms_attrs_free(&facts);
		return ret;
	}
	pub[npub++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, 1};
	pub[npub++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)c->name, strlen(c->name)};
	pub[npub++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, 1};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, 1};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)c->name, strlen(c->name)};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, 1};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &sens, 1};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &ext, 1};
	if (!strcasecmp(c->algorithm, "RSA")) {
		bits = bits ? bits : 2048;
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		pub[npub++] = (CK_ATTRIBUTE){CKA_ENCRYPT, &yes, 1};
		pub[npub++] = (CK_ATTRIBUTE){CKA_WRAP, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_DECRYPT, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_UNWRAP, &yes, 1};
	} else if (!strcasecmp(c->algorithm, "ECDSA")) {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		pub[npub++] = bits == 384 ? (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p384, sizeof(oid_p384)}
			      : bits == 521 ? (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p521, sizeof(oid_p521)}
					    : (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_DERIVE, &no, 1};
	} else if (!strcasecmp(c->algorithm, "Ed25519")) {
		mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_ed25519, sizeof(oid_ed25519)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, 1};
	} else {
		bool aes = !strcasecmp(c->algorithm, "AES");

		secret = true;
		bytes = (bits ? bits : 256) / 8;
		kt = aes ? CKK_AES : CKK_GENERIC_SECRET;
		mech.mechanism = aes ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN;
		npriv = 0;
		priv[npriv++] = (CK_ATTRIBUTE){CKA_CLASS, &sec, sizeof(sec)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &kt, sizeof(kt)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)c->name, strlen(c->name)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &sens, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &ext, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_VALUE_LEN, &bytes, sizeof(bytes)};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_ENCRYPT, aes ? &yes : &no, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_DECRYPT, aes ? &yes : &no, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, aes ? &no : &yes, 1};
		priv[npriv++] = (CK_ATTRIBUTE){CKA_VERIFY, aes ? &no : &yes, 1};
	}
	l->s->facts = &facts;
	rv = secret ? kms_obj_generate_secret(l->s, &mech, priv, npriv, &hpriv)
		    : kms_obj_generate_pair(l->s, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	l->s->facts = NULL;
	kms_attrs_free(&facts);
	if (rv != CKR_OK)
		return kms_fail_rv(e, "key generation", rv);
	rv = kms_obj_read(l->tok, hpriv, &a);
	kid = rv == CKR_OK ? kms_attrs_get(&a, CKA_KMS11_KEY_ID) : NULL;
	kidstr = kid ? strndup((const char *)kid->val, kid->len) : NULL;
	kms_attrs_free(&a);
	if (!kidstr)
		return kms_fail(e, KMS_E_INTERNAL, "the new key cannot be read back");
	ret = kms_key_load(l->tok, kidstr, out, e);
	free(kidstr);
	return ret;
}

/* ---- changes of every object of a key, in one transaction ---- */

struct change {
	int (*fn)(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next);
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
	return CKR_OK;
}

static int key_change(struct kms_login *l, struct kms_key *k, struct change *ch, struct kms_err *e)
{
	size_t seen = 0;
	char kid[sizeof(k->kid)];
	CK_RV rv;

	if (l->tok != k->tok)
		return kms_fail(e, KMS_E_INTERNAL, "logged in to another token than the key's");
	ch->e = e;
	ch->ret = KMS_OK;
	rv = kms_store_key_update(kms_mod.store, k->tok->no, (const uint8_t *)k->kid, strlen(k->kid), change_cb, ch,
				  &seen);
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

int kms_key_delete(struct kms_login *l, struct kms_key *k, struct kms_err *e)
{
	struct change ch = {.fn = del_fn};
	size_t seen = 0;
	CK_RV rv;

	if (l->tok != k->tok)
		return kms_fail(e, KMS_E_INTERNAL, "logged in to another token than the key's");
	ch.e = e;
	rv = kms_store_key_update(kms_mod.store, k->tok->no, (const uint8_t *)k->kid, strlen(k->kid), change_cb, &ch,
				  &seen);
	if (ch.ret != KMS_OK)
		return ch.ret;
	if (rv != CKR_OK)
		return kms_fail_rv(e, "store", rv);
	return seen ? KMS_OK : kms_fail(e, KMS_E_NOTFOUND, "key '%s' not found (deleted meanwhile)", k->kid);
}

static int rename_fn(struct change *ch, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next)
{
	(void)id;
	(void)cur;
	return kms_attrs_set(next, CKA_LABEL, ch->name, strlen(ch->name)) ? kms_fail(ch->e, KMS_E_INTERNAL, "out of memory")
									     : KMS_OK;
}

int kms_key_rename(struct kms_login *l, struct kms_key *k, const char *name, struct kms_err *e)
{
	struct change ch = {.fn = rename_fn, .name = name};
	int ret;

	if (!name || !*name || strlen(name) > 255)
		return kms_fail(e, KMS_E_INPUT, "name: 1 to 255 bytes");
	if ((ret = name_free(k->tok, name, k->kid, e)) != KMS_OK)
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

int kms_maintain(const char *engine_id, const char *pin, json_t **out, struct kms_err *e)
{
	struct kms_token *only = NULL;
	json_t *deleted = json_array(), *errors = json_array();
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
			struct change ch = {.fn = purge_fn};
			struct kms_err ke = {0};
			size_t seen = 0;

			ch.e = &ke;
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
		kms_mgr_logout(&l);
		json_decref(due);
	}
	*out = json_pack("{s:O,s:O}", "deleted", deleted, "errors", errors);
	if (denied)
		ret = KMS_E_DENIED;
out:
	json_decref(deleted);
	json_decref(errors);
	return ret;
}
