/* SPDX-License-Identifier: Apache-2.0 */
/* Keys of the management plane: starting the core, tokens and logins, loading and resolving keys, and the key
 * as JSON. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/ckr.h"
#include "common/mem.h"
#include "common/util.h"
#include "common/osslctx.h"
#include "module/core/template.h"
#include "module/core/uri.h"
#include "module/kms/kms-int.h"

int kms_fail(struct kms_err *e, enum kms_status code, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

int kms_fail_rv(struct kms_err *e, const char *what, CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
		return kms_fail(e, KMS_E_DENIED, "%s: wrong PIN", what);
	case CKR_PIN_LOCKED:
		return kms_fail(e, KMS_E_DENIED, "%s: the PIN is locked", what);
	case CKR_USER_PIN_NOT_INITIALIZED:
		return kms_fail(e, KMS_E_DENIED, "%s: the token has no user PIN (kms11 token init)", what);
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return kms_fail(e, KMS_E_DENIED, "%s: the key's state or expiration forbids it", what);
	case CKR_USER_NOT_LOGGED_IN:
		return kms_fail(e, KMS_E_DENIED, "%s: the user PIN is needed", what);
	case KMS_STORE_RV_NAME_TAKEN:
		return kms_fail(e, KMS_E_CONFLICT, "name: another key of the token has that name (it was taken meanwhile)");
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
	case CKR_DEVICE_ERROR:
	case CKR_GENERAL_ERROR:
		return kms_fail(e, KMS_E_INTERNAL, "%s: %s (see the module's log)", what, kms_ckr_name(rv));
	default:
		return kms_fail(e, KMS_E_INPUT, "%s: %s", what, kms_ckr_name(rv));
	}
}

int kms_mgr_start(struct kms_err *e)
{
	struct kms_conf conf;
	char why[512];
	CK_RV rv;

	/* The configuration first, to name its problem (file and line) rather than a bare error code. */
	if (kms_conf_load(&conf, why, sizeof(why)) != 0)
		return kms_fail(e, KMS_E_INTERNAL, "configuration: %s", why);
	kms_conf_free(&conf);
	rv = kms_core_initialize(NULL);
	if (rv != CKR_OK)
		return kms_fail(e, KMS_E_INTERNAL, "the module could not start: %s (see KMS11_CONF, KMS11_STORE and the log)",
				kms_ckr_name(rv));
	return KMS_OK;
}

void kms_mgr_stop(void)
{
	kms_core_finalize();
}

int kms_mgr_token(const char *engine_id, struct kms_token **tok, struct kms_err *e)
{
	char label[33];

	if (!engine_id) {
		if (kms_mod.n_tokens == 0)
			return kms_fail(e, KMS_E_NOTFOUND, "no token is configured");
		*tok = &kms_mod.tokens[0];
		return KMS_OK;
	}
	for (size_t i = 0; i < kms_mod.n_tokens; i++) {
		kms_token_label(&kms_mod.tokens[i], label);
		if (!strcmp(label, engine_id) || !strcmp(kms_mod.tokens[i].conf_label, engine_id)) {
			*tok = &kms_mod.tokens[i];
			return KMS_OK;
		}
	}
	return kms_fail(e, KMS_E_NOTFOUND, "engine_id: no token '%s'", engine_id);
}

int kms_mgr_login(struct kms_token *tok, const char *pin, struct kms_login *l, struct kms_err *e)
{
	CK_RV rv;

	memset(l, 0, sizeof(*l));
	l->tok = tok;
	rv = kms_session_open(tok, CKF_SERIAL_SESSION | CKF_RW_SESSION, &l->h);
	if (rv == CKR_OK)
		rv = kms_session_get(l->h, &l->s);
	if (rv != CKR_OK) {
		l->s = NULL;
		if (l->h)
			kms_session_close(l->h);
		l->h = 0;
		return kms_fail_rv(e, "session", rv);
	}
	rv = kms_token_login(l->s, CKU_USER, pin, strlen(pin));
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK) {
		kms_mgr_logout(l);
		return kms_fail_rv(e, "login", rv);
	}
	return KMS_OK;
}

void kms_mgr_logout(struct kms_login *l)
{
	if (l->s) {
		kms_new_key_end(l);
		kms_session_put(l->s);
	}
	if (l->h)
		kms_session_close(l->h);
	memset(l, 0, sizeof(*l));
}

void kms_key_free(struct kms_key *k)
{
	kms_attrs_free(&k->pub);
	kms_attrs_free(&k->priv);
	kms_attrs_free(&k->sec);
	free(k->vers);
	memset(k, 0, sizeof(*k));
}

const struct kms_kver *kms_key_version(const struct kms_key *k, unsigned long n)
{
	for (size_t i = 0; i < k->nvers; i++)
		if (k->vers[i].number == n)
			return &k->vers[i];
	return NULL;
}

static int ver_cmp(const void *a, const void *b)
{
	const struct kms_kver *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

/* The version entry numbered n of k, added when new; NULL when out of memory. */
static struct kms_kver *ver_get(struct kms_key *k, unsigned long n)
{
	struct kms_kver *v;

	for (size_t i = 0; i < k->nvers; i++)
		if (k->vers[i].number == n)
			return &k->vers[i];
	v = realloc(k->vers, (k->nvers + 1) * sizeof(*v));
	if (!v)
		return NULL;
	k->vers = v;
	v = &k->vers[k->nvers++];
	memset(v, 0, sizeof(*v));
	v->number = n;
	return v;
}

int kms_key_load(struct kms_token *tok, const char *kid, struct kms_key *k, struct kms_err *e)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	uint64_t *ids = NULL;
	size_t n = 0;
	unsigned long primary = 0, highest = 0;
	CK_RV rv;
	int ret = KMS_OK;

	memset(k, 0, sizeof(*k));
	if (strlen(kid) >= sizeof(k->kid))
		return kms_fail(e, KMS_E_NOTFOUND, "key '%s' not found", kid);
	if (kms_attrs_set(&t, CKA_KMS11_KEY_ID, kid, strlen(kid)))
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
	kms_attrs_free(&t);
	if (rv != CKR_OK)
		ret = kms_fail_rv(e, "read", rv);
	/* First the versions: which objects each has, and which is primary (the highest that says so). */
	for (size_t i = 0; ret == KMS_OK && i < n; i++) {
		struct kms_attrs a = KMS_ATTRS_INIT;
		const struct kms_attr *c;
		unsigned long cls = 0, ver = 1;
		struct kms_kver *v;

		if ((ids[i] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[i], &a) != CKR_OK)
			continue;
		kms_attrs_get_ulong(&a, CKA_CLASS, &cls);
		kms_attrs_get_ulong(&a, CKA_KMS11_VERSION, &ver);
		if (kms_attr_is_key_class(cls)) {
			v = ver_get(k, ver);
			if (!v) {
				ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
			} else {
				if (cls == CKO_PUBLIC_KEY && !v->id_pub)
					v->id_pub = ids[i];
				else if (cls == CKO_PRIVATE_KEY && !v->id_priv)
					v->id_priv = ids[i];
				else if (cls == CKO_SECRET_KEY && !v->id_sec)
					v->id_sec = ids[i];
				if ((c = kms_attrs_get(&a, CKA_KMS11_CREATED)) && c->len < sizeof(v->created))
					memcpy(v->created, c->val, c->len);
				if (kms_attrs_get_bool(&a, CKA_KMS11_PRIMARY, true) && ver > primary)
					primary = ver;
				if (ver > highest)
					highest = ver;
			}
		}
		kms_attrs_free(&a);
	}
	free(ids);
	if (ret != KMS_OK) {
		kms_key_free(k);
		return ret;
	}
	if (k->nvers == 0) {
		kms_key_free(k);
		return kms_fail(e, KMS_E_NOTFOUND, "key '%s' not found", kid);
	}
	qsort(k->vers, k->nvers, sizeof(*k->vers), ver_cmp);
	{
		const struct kms_kver *p = kms_key_version(k, primary ? primary : highest);

		k->id_pub = p->id_pub;
		k->id_priv = p->id_priv;
		k->id_sec = p->id_sec;
		k->has_pub = p->id_pub && kms_obj_read(tok, p->id_pub, &k->pub) == CKR_OK;
		k->has_priv = p->id_priv && kms_obj_read(tok, p->id_priv, &k->priv) == CKR_OK;
		k->has_sec = p->id_sec && kms_obj_read(tok, p->id_sec, &k->sec) == CKR_OK;
	}
	if (!k->has_pub && !k->has_priv && !k->has_sec) {
		kms_key_free(k);
		return kms_fail(e, KMS_E_NOTFOUND, "key '%s' not found", kid);
	}
	k->tok = tok;
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	return KMS_OK;
}

/* The attributes that speak for the key: the secret key, else the public key, else the private key. */
const struct kms_attrs *kms_key_main(const struct kms_key *k)
{
	return k->has_sec ? &k->sec : k->has_pub ? &k->pub : &k->priv;
}

/* Candidate keys of a resolution: (token, key id) pairs, each once. */
struct cands {
	struct {
		struct kms_token *tok;
		char kid[80];
	} v[8];
	size_t n; /* may exceed 8: only the first are kept, to name them */
};

static void cands_add(struct cands *c, struct kms_token *tok, const struct kms_attr *kid)
{
	char buf[80];

	if (!kid || kid->len == 0 || kid->len >= sizeof(buf))
		return;
	memcpy(buf, kid->val, kid->len);
	buf[kid->len] = 0;
	for (size_t i = 0; i < c->n && i < 8; i++)
		if (c->v[i].tok == tok && !strcmp(c->v[i].kid, buf))
			return;
	if (c->n < 8) {
		c->v[c->n].tok = tok;
		memcpy(c->v[c->n].kid, buf, sizeof(buf));
	}
	c->n++;
}

/* Adds the keys of tok's objects matching t. */
static CK_RV cands_find(struct cands *c, struct kms_token *tok, const struct kms_attrs *t)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	CK_RV rv = kms_find_ids(tok, 0, t, true, &ids, &n);

	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		struct kms_attrs a = KMS_ATTRS_INIT;
		unsigned long cls = 0;

		if ((ids[i] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[i], &a) != CKR_OK)
			continue;
		kms_attrs_get_ulong(&a, CKA_CLASS, &cls);
		if (kms_attr_is_key_class(cls))
			cands_add(c, tok, kms_attrs_get(&a, CKA_KMS11_KEY_ID));
		kms_attrs_free(&a);
	}
	free(ids);
	return rv;
}

/* Lamassu's pkcs11:token-id=<engine>;id=<key id>;type=<type> form: true with its engine and key id. */
static bool lamassu_uri(const char *arg, char *engine, size_t elen, char *kid, size_t klen)
{
	const char *p = arg + 7;

	if (strncmp(arg, "pkcs11:", 7) != 0 || !strstr(arg, "token-id="))
		return false;
	*engine = *kid = 0;
	while (*p) {
		size_t n = strcspn(p, ";");

		if (!strncmp(p, "token-id=", 9) && n - 9 < elen)
			snprintf(engine, elen, "%.*s", (int)(n - 9), p + 9);
		else if (!strncmp(p, "id=", 3) && n - 3 < klen)
			snprintf(kid, klen, "%.*s", (int)(n - 3), p + 3);
		p += n + (p[n] == ';');
	}
	return *engine && *kid;
}

static bool is_key_id(const char *s)
{
	size_t n = strlen(s);

	return (n == 64 || n == 32) && strspn(s, "0123456789abcdef") == n;
}

int kms_key_resolve(const char *arg, const char *engine_id, struct kms_key *k, struct kms_err *e)
{
	struct kms_token *only = NULL;
	struct cands c = {.n = 0};
	struct kms_uri u;
	char engine[64], kid[80];
	int ret;

	memset(k, 0, sizeof(*k));
	memset(&u, 0, sizeof(u));
	if (!arg || !*arg)
		return kms_fail(e, KMS_E_INPUT, "KEY: a key id, name, alias or pkcs11: URI is needed");
	if (engine_id && (ret = kms_mgr_token(engine_id, &only, e)) != KMS_OK)
		return ret;
	if (lamassu_uri(arg, engine, sizeof(engine), kid, sizeof(kid))) {
		if ((ret = kms_mgr_token(engine, &only, e)) != KMS_OK)
			return ret;
		return kms_key_load(only, kid, k, e);
	}
	if (!strncmp(arg, "pkcs11:", 7)) {
		const char *why = NULL;

		if (kms_uri_parse(arg, &u, &why) != CKR_OK)
			return kms_fail(e, KMS_E_INPUT, "KEY: invalid pkcs11: URI: %s", why ? why : "malformed");
		if (!u.object && !u.has_id) {
			kms_uri_clear(&u);
			return kms_fail(e, KMS_E_INPUT, "KEY: the pkcs11: URI names no object (object= or id=)");
		}
	}
	for (size_t i = 0; i < kms_mod.n_tokens; i++) {
		struct kms_token *tok = &kms_mod.tokens[i];
		struct kms_attrs t = KMS_ATTRS_INIT;
		char label[33];
		CK_RV rv = CKR_OK;
		int err = 0;

		if (only && tok != only)
			continue;
		kms_token_label(tok, label);
		if (u.token && strcmp(u.token, label) != 0)
			continue;
		if (!strncmp(arg, "pkcs11:", 7)) {
			if (u.object)
				err |= kms_attrs_set(&t, CKA_LABEL, u.object, strlen(u.object));
			if (u.has_id)
				err |= kms_attrs_set(&t, CKA_ID, u.id, u.id_len);
			if (u.has_type)
				err |= kms_attrs_set_ulong(&t, CKA_CLASS, u.type);
			if (!err)
				rv = cands_find(&c, tok, &t);
		} else {
			if (is_key_id(arg)) {
				err |= kms_attrs_set(&t, CKA_KMS11_KEY_ID, arg, strlen(arg));
				if (!err)
					rv = cands_find(&c, tok, &t);
				kms_attrs_free(&t);
			}
			err |= kms_attrs_set(&t, CKA_KMS11_ALIASES, arg, strlen(arg));
			if (!err && rv == CKR_OK)
				rv = cands_find(&c, tok, &t);
			kms_attrs_free(&t);
			err |= kms_attrs_set(&t, CKA_LABEL, arg, strlen(arg));
			if (!err && rv == CKR_OK)
				rv = cands_find(&c, tok, &t);
		}
		kms_attrs_free(&t);
		if (err || rv != CKR_OK) {
			kms_uri_clear(&u);
			return err ? kms_fail(e, KMS_E_INTERNAL, "out of memory") : kms_fail_rv(e, "find", rv);
		}
	}
	kms_uri_clear(&u);
	if (c.n == 0)
		return kms_fail(e, KMS_E_NOTFOUND, "key '%s' not found", arg);
	if (c.n > 1) {
		char list[400] = "";
		size_t used = 0;

		for (size_t i = 0; i < c.n && i < 8 && used < sizeof(list); i++) {
			char label[33];
			int w;

			kms_token_label(c.v[i].tok, label);
			w = snprintf(list + used, sizeof(list) - used, "%s%s/%s", i ? ", " : "", label, c.v[i].kid);
			used += w > 0 ? (size_t)w : 0;
		}
		return kms_fail(e, KMS_E_INPUT, "KEY: '%s' names %zu keys (engine/key id): %s%s", arg, c.n, list,
				c.n > 8 ? ", ..." : "");
	}
	return kms_key_load(c.v[0].tok, c.v[0].kid, k, e);
}

/* ---- the key as JSON ---- */

static json_t *attr_string(const struct kms_attrs *a, CK_ATTRIBUTE_TYPE t)
{
	const struct kms_attr *v = kms_attrs_get(a, t);

	return json_stringn(v && v->val ? (const char *)v->val : "", v ? v->len : 0);
}

json_t *kms_list_json(const struct kms_attr *v)
{
	json_t *arr = json_array();

	for (size_t pos = 0; v && pos < v->len;) {
		size_t el = strnlen((const char *)v->val + pos, v->len - pos);

		json_array_append_new(arr, json_stringn((const char *)v->val + pos, el));
		pos += el + 1;
	}
	return arr;
}

/* Base64 of the PEM form of a DER SubjectPublicKeyInfo; NULL when there is none. */
static char *public_pem_b64(const struct kms_attr *spki)
{
	const unsigned char *p;
	EVP_PKEY *pk;
	BIO *bio;
	char *pem = NULL, *b64 = NULL;
	long n;

	if (!spki || !spki->len)
		return NULL;
	p = spki->val;
	pk = d2i_PUBKEY_ex(NULL, &p, (long)spki->len, kms_libctx(), NULL);
	bio = BIO_new(BIO_s_mem());
	if (pk && bio && PEM_write_bio_PUBKEY(bio, pk) == 1) {
		n = BIO_get_mem_data(bio, &pem);
		b64 = kms_base64_encode((const uint8_t *)pem, (size_t)n);
	}
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return b64;
}

/* Algorithm name (the seed APIs' words) and size in bits. */
void kms_key_kind(const struct kms_attrs *a, const char **alg, unsigned long *bits)
{
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
	static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
	static const uint8_t ed448[] = {0x06, 0x03, 0x2b, 0x65, 0x71};
	const struct kms_attr *p = kms_attrs_get(a, CKA_EC_PARAMS), *m;
	unsigned long kt = 0, v = 0;

	kms_attrs_get_ulong(a, CKA_KEY_TYPE, &kt);
	*alg = "UNKNOWN";
	*bits = 0;
	switch (kt) {
	case CKK_RSA:
		*alg = "RSA";
		m = kms_attrs_get(a, CKA_MODULUS);
		if (kms_attrs_get_ulong(a, CKA_MODULUS_BITS, &v) == 0)
			*bits = v;
		else if (m)
			*bits = m->len * 8;
		break;
	case CKK_EC:
		*alg = "ECDSA";
		if (p && p->len == sizeof(p256) && !memcmp(p->val, p256, sizeof(p256)))
			*bits = 256;
		else if (p && p->len == sizeof(p384) && !memcmp(p->val, p384, sizeof(p384)))
			*bits = 384;
		else if (p && p->len == sizeof(p521) && !memcmp(p->val, p521, sizeof(p521)))
			*bits = 521;
		break;
	case CKK_EC_EDWARDS:
		if (p && p->len == sizeof(ed448) && !memcmp(p->val, ed448, sizeof(ed448))) {
			*alg = "Ed448";
			*bits = 456;
		} else {
			*alg = "Ed25519";
			*bits = 256;
		}
		break;
	case CKK_AES:
		*alg = "AES";
		break;
	case CKK_GENERIC_SECRET:
	case CKK_SHA256_HMAC:
	case CKK_SHA384_HMAC:
	case CKK_SHA512_HMAC:
		*alg = "HMAC";
		break;
	default:
		break;
	}
	if (kms_tmpl_is_secret_type(kt) && kms_attrs_get_ulong(a, CKA_VALUE_LEN, &v) == 0)
		*bits = v * 8;
}

const char *kms_state_name(unsigned long state)
{
	switch (state) {
	case KMS11_STATE_ENABLED:
		return "enabled";
	case KMS11_STATE_DISABLED:
		return "disabled";
	case KMS11_STATE_PENDING_DELETION:
		return "pending_deletion";
	default:
		return "unknown";
	}
}

unsigned long kms_key_state(const struct kms_attrs *a)
{
	unsigned long st;

	return kms_attrs_get_ulong(a, CKA_KMS11_STATE, &st) == 0 ? st : KMS11_STATE_ENABLED;
}

json_t *kms_key_json(const struct kms_key *k)
{
	const struct kms_attrs *a = kms_key_main(k), *secret = k->has_sec ? &k->sec : k->has_priv ? &k->priv : NULL;
	const struct kms_attr *label = kms_attrs_get(a, CKA_LABEL), *id = kms_attrs_get(a, CKA_ID), *v;
	char toklabel[33], *name, *uri, *pem;
	unsigned long bits, version = 1, days = 0;
	const char *alg;
	json_t *o, *meta, *versions;

	kms_token_label(k->tok, toklabel);
	name = strndup(label && label->val ? (const char *)label->val : "", label ? label->len : 0);
	uri = kms_uri_format_key(toklabel, name, id ? id->val : NULL, id ? id->len : 0,
				 k->has_sec ? CKO_SECRET_KEY : k->has_priv ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY);
	kms_key_kind(a, &alg, &bits);
	kms_attrs_get_ulong(a, CKA_KMS11_VERSION, &version);
	kms_attrs_get_ulong(a, CKA_KMS11_ROTATION_DAYS, &days);
	o = json_object();
	json_object_set_new(o, "key_id", json_string(k->kid));
	json_object_set_new(o, "pkcs11_uri", json_string(uri ? uri : ""));
	json_object_set_new(o, "name", json_string(name ? name : ""));
	json_object_set_new(o, "aliases", kms_list_json(kms_attrs_get(a, CKA_KMS11_ALIASES)));
	json_object_set_new(o, "engine_id", json_string(toklabel));
	json_object_set_new(o, "has_private_key", json_boolean(k->has_priv));
	json_object_set_new(o, "algorithm", json_string(alg));
	json_object_set_new(o, "size", json_integer((json_int_t)bits));
	if (!k->has_sec && (pem = public_pem_b64(kms_attrs_get(a, CKA_PUBLIC_KEY_INFO))) != NULL) {
		json_object_set_new(o, "public_key", json_string(pem));
		free(pem);
	}
	/* The key was created with its first version. */
	json_object_set_new(o, "creation_ts", k->nvers ? json_string(k->vers[0].created) : attr_string(a, CKA_KMS11_CREATED));
	json_object_set_new(o, "tags", kms_list_json(kms_attrs_get(a, CKA_KMS11_TAGS)));
	v = kms_attrs_get(a, CKA_KMS11_METADATA);
	meta = v && v->len ? json_loadb((const char *)v->val, v->len, 0, NULL) : NULL;
	json_object_set_new(o, "metadata", meta ? meta : json_object());
	json_object_set_new(o, "description", attr_string(a, CKA_KMS11_DESCRIPTION));
	json_object_set_new(o, "state", json_string(kms_state_name(kms_key_state(a))));
	json_object_set_new(o, "version", json_integer((json_int_t)version));
	versions = json_array();
	for (size_t i = 0; i < k->nvers; i++)
		json_array_append_new(versions, json_pack("{s:I,s:s,s:s,s:b}", "number", (json_int_t)k->vers[i].number,
							  "creation_ts", k->vers[i].created, "state",
							  kms_state_name(kms_key_state(a)), "primary",
							  k->vers[i].number == version));
	json_object_set_new(o, "versions", versions);
	if (days)
		json_object_set_new(o, "rotation", json_pack("{s:I,s:o}", "period_days", (json_int_t)days, "next_ts",
							     attr_string(a, CKA_KMS11_NEXT_ROTATION)));
	if ((v = kms_attrs_get(a, CKA_KMS11_DELETION_DATE)) && v->len)
		json_object_set_new(o, "deletion_date", attr_string(a, CKA_KMS11_DELETION_DATE));
	if ((v = kms_attrs_get(a, CKA_KMS11_EXPIRATION_DATE)) && v->len)
		json_object_set_new(o, "expiration_date", attr_string(a, CKA_KMS11_EXPIRATION_DATE));
	json_object_set_new(o, "extractable",
			    json_boolean(secret ? kms_attrs_get_bool(secret, CKA_EXTRACTABLE, false) : false));
	free(name);
	free(uri);
	return o;
}

int kms_key_public_pem(const struct kms_key *k, unsigned long n, char **b64, unsigned long *version, struct kms_err *e)
{
	unsigned long primary = 1;
	const struct kms_kver *v;
	struct kms_attrs a = KMS_ATTRS_INIT;

	*b64 = NULL;
	kms_attrs_get_ulong(kms_key_main(k), CKA_KMS11_VERSION, &primary);
	n = n ? n : primary;
	if (k->has_sec)
		return kms_fail(e, KMS_E_INPUT, "the key has no public key (a secret key)");
	v = kms_key_version(k, n);
	if (!v)
		return kms_fail(e, KMS_E_NOTFOUND, "version: the key has no version %lu", n);
	if (!v->id_pub || kms_obj_read(k->tok, v->id_pub, &a) != CKR_OK)
		return kms_fail(e, KMS_E_NOTFOUND, "version %lu has no public key object", n);
	*b64 = public_pem_b64(kms_attrs_get(&a, CKA_PUBLIC_KEY_INFO));
	kms_attrs_free(&a);
	*version = n;
	return *b64 ? KMS_OK : kms_fail(e, KMS_E_INTERNAL, "the public key cannot be encoded");
}
