/* SPDX-License-Identifier: Apache-2.0 */
/* kms11: the management CLI; it links the module's core and takes the same path as every PKCS#11 client. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/ckr.h"
#include "common/mem.h"
#include "module/core/core.h"
#include "module/core/uri.h"

struct opts {
	const char *label, *so_pin, *pin, *algorithm, *name, *token, *size, *store, *arg;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints {"err": "..."} on stdout and returns the exit status 1. */
static int fail(const char *fmt, ...)
{
	char msg[512];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = json_pack("{s:s}", "err", msg);
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
	return 1;
}

static int fail_rv(const char *what, CK_RV rv)
{
	return fail("%s: %s", what, kms_ckr_name(rv));
}

static int print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
	return 0;
}

/* Reads a PIN from a terminal without echo; NULL when there is no terminal. */
static char *prompt_pin(const char *what)
{
	struct termios old, noecho;
	char buf[KMS_MAX_PIN + 2];
	FILE *tty = fopen("/dev/tty", "r+");
	char *pin = NULL;

	if (!tty)
		return NULL;
	fprintf(tty, "%s: ", what);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	}
	if (fgets(buf, sizeof(buf), tty)) {
		buf[strcspn(buf, "\r\n")] = 0;
		pin = strdup(buf);
	}
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	kms_wipe(buf, sizeof(buf));
	return pin;
}

/* The user PIN from --pin, KMS11_PIN or the terminal. */
static char *user_pin(const struct opts *o)
{
	const char *env = getenv("KMS11_PIN");

	if (o->pin)
		return strdup(o->pin);
	if (env && *env)
		return strdup(env);
	return prompt_pin("User PIN");
}

static CK_RV find_token(const struct opts *o, struct kms_token **tok)
{
	char label[33];

	if (!o->token)
		return kms_token_lookup(0, tok);
	for (size_t i = 0; i < kms_mod.n_tokens; i++) {
		kms_token_label(&kms_mod.tokens[i], label);
		if (!strcmp(label, o->token) || !strcmp(kms_mod.tokens[i].conf_label, o->token)) {
			*tok = &kms_mod.tokens[i];
			return CKR_OK;
		}
	}
	return CKR_SLOT_ID_INVALID;
}

static int cmd_token_init(const struct opts *o)
{
	struct kms_token *tok;
	struct kms_session *s = NULL;
	CK_SESSION_HANDLE h = 0;
	json_t *out;
	CK_RV rv;

	if (!o->so_pin || !o->pin)
		return fail("token init needs --so-pin and --pin");
	if (!o->label || !*o->label || strlen(o->label) > 32)
		return fail("token init needs --label of 1 to 32 bytes");
	rv = find_token(o, &tok);
	if (rv != CKR_OK)
		return fail("no such token '%s'", o->token);
	rv = kms_token_init(tok, o->so_pin, strlen(o->so_pin), o->label);
	if (rv != CKR_OK)
		return fail_rv("C_InitToken", rv);
	rv = kms_session_open(tok, CKF_SERIAL_SESSION | CKF_RW_SESSION, &h);
	if (rv == CKR_OK)
		rv = kms_session_get(h, &s);
	if (rv == CKR_OK) {
		rv = kms_token_login(s, CKU_SO, o->so_pin, strlen(o->so_pin));
		if (rv == CKR_OK)
			rv = kms_token_init_pin(s, o->pin, strlen(o->pin));
		kms_session_put(s);
	}
	if (h)
		kms_session_close(h);
	if (rv != CKR_OK)
		return fail_rv("C_InitPIN", rv);
	out = json_pack("{s:s,s:I,s:b}", "token", o->label, "slot", (json_int_t)tok->slot, "initialized", 1);
	return print_json(out);
}

/* Opens a read-write session logged in as the user. */
static int open_user(const struct opts *o, struct kms_token **tok, CK_SESSION_HANDLE *h, struct kms_session **s)
{
	char *pin;
	CK_RV rv;

	rv = find_token(o, tok);
	if (rv != CKR_OK)
		return fail("no such token '%s'", o->token);
	pin = user_pin(o);
	if (!pin)
		return fail("a user PIN is needed: --pin, KMS11_PIN or a terminal");
	rv = kms_session_open(*tok, CKF_SERIAL_SESSION | CKF_RW_SESSION, h);
	if (rv == CKR_OK)
		rv = kms_session_get(*h, s);
	if (rv == CKR_OK) {
		rv = kms_token_login(*s, CKU_USER, pin, strlen(pin));
		if (rv != CKR_OK)
			kms_session_put(*s);
	}
	kms_wipe(pin, strlen(pin));
	free(pin);
	if (rv != CKR_OK)
		return fail_rv("login", rv);
	return 0;
}

static json_t *attr_str(const struct kms_attrs *a, CK_ATTRIBUTE_TYPE t)
{
	const struct kms_attr *v = kms_attrs_get(a, t);

	return json_stringn(v && v->val ? (const char *)v->val : "", v ? v->len : 0);
}

/* Base64 of the PEM form of a DER SubjectPublicKeyInfo. */
static char *public_pem_b64(const struct kms_attr *spki)
{
	const unsigned char *p;
	EVP_PKEY *pk;
	BIO *bio;
	char *pem = NULL, *b64 = NULL;
	long n;

	if (!spki || !spki->len)
		return strdup("");
	p = spki->val;
	pk = d2i_PUBKEY(NULL, &p, (long)spki->len);
	bio = BIO_new(BIO_s_mem());
	if (pk && bio && PEM_write_bio_PUBKEY(bio, pk) == 1) {
		n = BIO_get_mem_data(bio, &pem);
		b64 = kms_base64_encode((const uint8_t *)pem, (size_t)n);
	}
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return b64 ? b64 : strdup("");
}

/* Algorithm name and size in bits of a key from its attributes. */
static void key_kind(const struct kms_attrs *a, const char **alg, long *bits)
{
	unsigned long kt = 0, mb = 0;
	const struct kms_attr *p = kms_attrs_get(a, CKA_EC_PARAMS);
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
	static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

	kms_attrs_get_ulong(a, CKA_KEY_TYPE, &kt);
	*alg = "UNKNOWN";
	*bits = 0;
	if (kt == CKK_RSA) {
		const struct kms_attr *m = kms_attrs_get(a, CKA_MODULUS);

		*alg = "RSA";
		if (kms_attrs_get_ulong(a, CKA_MODULUS_BITS, &mb) == 0)
			*bits = (long)mb;
		else if (m)
			*bits = (long)m->len * 8;
	} else if (kt == CKK_EC) {
		*alg = "ECDSA";
		if (p && p->len == sizeof(p256) && !memcmp(p->val, p256, sizeof(p256)))
			*bits = 256;
		else if (p && p->len == sizeof(p384) && !memcmp(p->val, p384, sizeof(p384)))
			*bits = 384;
		else if (p && p->len == sizeof(p521) && !memcmp(p->val, p521, sizeof(p521)))
			*bits = 521;
	} else if (kt == CKK_EC_EDWARDS) {
		*alg = "Ed25519";
		*bits = 256;
	}
}

struct keyset {
	struct kms_attrs pub, priv;
	bool has_pub, has_priv;
};

static void keyset_free(struct keyset *k)
{
	kms_attrs_free(&k->pub);
	kms_attrs_free(&k->priv);
}

/* Loads both halves of the key with that key id. */
static CK_RV keyset_load(struct kms_token *tok, const struct kms_attr *kid, struct keyset *k)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	uint64_t *ids = NULL;
	size_t n = 0;
	CK_RV rv;

	memset(k, 0, sizeof(*k));
	if (kms_attrs_set(&t, CKA_KMS11_KEY_ID, kid->val, kid->len))
		return CKR_HOST_MEMORY;
	rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		struct kms_attrs a = KMS_ATTRS_INIT;
		unsigned long cls = 0;

		if (ids[i] & KMS_SESSION_OBJ_BIT)
			continue;
		rv = kms_obj_read(tok, ids[i], &a);
		if (rv != CKR_OK)
			break;
		kms_attrs_get_ulong(&a, CKA_CLASS, &cls);
		if (cls == CKO_PUBLIC_KEY && !k->has_pub) {
			k->pub = a;
			k->has_pub = true;
		} else if (cls == CKO_PRIVATE_KEY && !k->has_priv) {
			k->priv = a;
			k->has_priv = true;
		} else {
			kms_attrs_free(&a);
		}
	}
	free(ids);
	kms_attrs_free(&t);
	return rv;
}

static json_t *key_json(struct kms_token *tok, const struct keyset *k)
{
	const struct kms_attrs *a = k->has_pub ? &k->pub : &k->priv;
	const struct kms_attr *label = kms_attrs_get(a, CKA_LABEL), *id = kms_attrs_get(a, CKA_ID);
	char toklabel[33], *name = NULL, *uri, *pem;
	const char *alg;
	long bits;
	json_t *o;

	kms_token_label(tok, toklabel);
	name = strndup(label && label->val ? (const char *)label->val : "", label ? label->len : 0);
	uri = kms_uri_format_key(toklabel, name, id ? id->val : NULL, id ? id->len : 0,
				 k->has_priv ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY);
	pem = public_pem_b64(kms_attrs_get(a, CKA_PUBLIC_KEY_INFO));
	key_kind(a, &alg, &bits);
	o = json_object();
	json_object_set_new(o, "key_id", attr_str(a, CKA_KMS11_KEY_ID));
	json_object_set_new(o, "pkcs11_uri", json_string(uri ? uri : ""));
	json_object_set_new(o, "name", json_string(name ? name : ""));
	json_object_set_new(o, "engine_id", attr_str(a, CKA_KMS11_ENGINE));
	json_object_set_new(o, "has_private_key", json_boolean(k->has_priv));
	json_object_set_new(o, "algorithm", json_string(alg));
	json_object_set_new(o, "size", json_integer(bits));
	json_object_set_new(o, "public_key", json_string(pem));
	json_object_set_new(o, "creation_ts", attr_str(a, CKA_KMS11_CREATED));
	free(name);
	free(uri);
	free(pem);
	return o;
}

/* Resolves ID|NAME|URI to a key id attribute value (hex string); 0 or an exit status. */
static int resolve(struct kms_token *tok, const char *arg, char **kid)
{
	struct kms_attrs t = KMS_ATTRS_INIT, a = KMS_ATTRS_INIT;
	struct kms_uri u;
	uint64_t *ids = NULL;
	size_t n = 0;
	int ret = 0;
	CK_RV rv;

	*kid = NULL;
	if (!strncmp(arg, "pkcs11:", 7)) {
		const char *err = NULL;

		if (kms_uri_parse(arg, &u, &err) != CKR_OK)
			return fail("invalid pkcs11 URI: %s", err ? err : "malformed");
		if (u.object)
			kms_attrs_set(&t, CKA_LABEL, u.object, strlen(u.object));
		if (u.has_id)
			kms_attrs_set(&t, CKA_ID, u.id, u.id_len);
		if (u.has_type)
			kms_attrs_set_ulong(&t, CKA_CLASS, u.type);
		kms_uri_clear(&u);
	} else if (strlen(arg) == 64 && strspn(arg, "0123456789abcdef") == 64) {
		kms_attrs_set(&t, CKA_KMS11_KEY_ID, arg, 64);
	} else {
		kms_attrs_set(&t, CKA_LABEL, arg, strlen(arg));
	}
	rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
	if (rv != CKR_OK) {
		ret = fail_rv("find", rv);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct kms_attr *v;

		kms_attrs_free(&a);
		if (kms_obj_read(tok, ids[i], &a) != CKR_OK)
			continue;
		v = kms_attrs_get(&a, CKA_KMS11_KEY_ID);
		if (!v)
			continue;
		if (*kid && (strlen(*kid) != v->len || memcmp(*kid, v->val, v->len))) {
			ret = fail("'%s' names more than one key", arg);
			goto out;
		}
		if (!*kid)
			*kid = strndup((const char *)v->val, v->len);
	}
	if (!*kid)
		ret = fail("key '%s' not found", arg);
out:
	if (ret) {
		free(*kid);
		*kid = NULL;
	}
	free(ids);
	kms_attrs_free(&a);
	kms_attrs_free(&t);
	return ret;
}

static int cmd_key_create(const struct opts *o, struct kms_token *tok, struct kms_session *s)
{
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
	static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
	static const uint8_t ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 0;
	CK_MECHANISM mech = {0, NULL, 0};
	CK_ATTRIBUTE pub[4], priv[7];
	CK_ULONG npub = 0, npriv = 0;
	CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
	struct kms_attrs a = KMS_ATTRS_INIT;
	struct keyset k;
	long size = o->size ? strtol(o->size, NULL, 10) : 0;
	uint64_t *ids = NULL;
	size_t n = 0;
	CK_RV rv;

	if (!o->algorithm)
		return fail("key create needs --algorithm RSA|ECDSA|Ed25519");
	if (!o->name || !*o->name)
		return fail("key create needs --name");
	kms_attrs_set(&a, CKA_LABEL, o->name, strlen(o->name));
	rv = kms_find_ids(tok, 0, &a, true, &ids, &n);
	free(ids);
	kms_attrs_free(&a);
	if (rv == CKR_OK && n)
		return fail("a key named '%s' already exists", o->name);
	pub[npub++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	pub[npub++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)o->name, strlen(o->name)};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)o->name, strlen(o->name)};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, sizeof(yes)};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &yes, sizeof(yes)};
	priv[npriv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &no, sizeof(no)};
	if (!strcasecmp(o->algorithm, "RSA")) {
		bits = size ? (CK_ULONG)size : 2048;
		if (bits != 2048 && bits != 3072 && bits != 4096)
			return fail("invalid --size %lu for RSA: use 2048, 3072 or 4096", bits);
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
	} else if (!strcasecmp(o->algorithm, "ECDSA") || !strcasecmp(o->algorithm, "EC")) {
		const uint8_t *oid = size == 384 ? p384 : size == 521 ? p521 : p256;
		size_t oidlen = size == 384 ? sizeof(p384) : size == 521 ? sizeof(p521) : sizeof(p256);

		if (size && size != 256 && size != 384 && size != 521)
			return fail("invalid --size %ld for ECDSA: use 256, 384 or 521", size);
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid, oidlen};
	} else if (!strcasecmp(o->algorithm, "Ed25519")) {
		if (size && size != 256 && size != 255)
			return fail("invalid --size %ld for Ed25519", size);
		mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)ed25519, sizeof(ed25519)};
	} else {
		return fail("invalid --algorithm '%s': use RSA, ECDSA or Ed25519", o->algorithm);
	}
	rv = kms_obj_generate_pair(s, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	if (rv != CKR_OK)
		return fail_rv("C_GenerateKeyPair", rv);
	if (kms_obj_read(tok, hpub, &a) != CKR_OK)
		return fail("the new key cannot be read back");
	rv = keyset_load(tok, kms_attrs_get(&a, CKA_KMS11_KEY_ID), &k);
	kms_attrs_free(&a);
	if (rv != CKR_OK)
		return fail_rv("read back", rv);
	print_json(key_json(tok, &k));
	keyset_free(&k);
	return 0;
}

static int cmd_key_list(struct kms_token *tok)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	json_t *list = json_array(), *seen = json_object();
	uint64_t *ids = NULL;
	size_t n = 0;
	CK_RV rv;

	kms_attrs_set_ulong(&t, CKA_CLASS, CKO_PUBLIC_KEY);
	rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
	kms_attrs_set_ulong(&t, CKA_CLASS, CKO_PRIVATE_KEY);
	for (int pass = 0; rv == CKR_OK && pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			struct kms_attrs a = KMS_ATTRS_INIT;
			const struct kms_attr *kid;
			struct keyset k;
			char *key;

			if ((ids[i] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[i], &a) != CKR_OK)
				continue;
			kid = kms_attrs_get(&a, CKA_KMS11_KEY_ID);
			key = kid ? strndup((const char *)kid->val, kid->len) : NULL;
			if (key && !json_object_get(seen, key) && keyset_load(tok, kid, &k) == CKR_OK) {
				json_object_set_new(seen, key, json_true());
				json_array_append_new(list, key_json(tok, &k));
				keyset_free(&k);
			}
			free(key);
			kms_attrs_free(&a);
		}
		free(ids);
		ids = NULL;
		if (pass == 0)
			rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
	}
	kms_attrs_free(&t);
	json_decref(seen);
	if (rv != CKR_OK) {
		json_decref(list);
		return fail_rv("list", rv);
	}
	return print_json(json_pack("{s:o,s:s}", "list", list, "next", ""));
}

static int cmd_key_get_delete(struct kms_token *tok, struct kms_session *s, const char *arg, bool del)
{
	struct kms_attr kid;
	struct keyset k;
	char *key = NULL;
	json_t *out;
	int ret;
	CK_RV rv;

	if (!arg)
		return fail("key %s needs ID, NAME or URI", del ? "delete" : "get");
	ret = resolve(tok, arg, &key);
	if (ret)
		return ret;
	kid.type = CKA_KMS11_KEY_ID;
	kid.val = (uint8_t *)key;
	kid.len = strlen(key);
	rv = keyset_load(tok, &kid, &k);
	if (rv != CKR_OK) {
		free(key);
		return fail_rv("read", rv);
	}
	out = key_json(tok, &k);
	if (del) {
		struct kms_attrs t = KMS_ATTRS_INIT;
		uint64_t *ids = NULL;
		size_t n = 0;

		kms_attrs_set(&t, CKA_KMS11_KEY_ID, key, strlen(key));
		rv = kms_find_ids(tok, 0, &t, true, &ids, &n);
		for (size_t i = 0; rv == CKR_OK && i < n; i++)
			rv = kms_obj_destroy(s, ids[i]);
		free(ids);
		kms_attrs_free(&t);
	}
	keyset_free(&k);
	free(key);
	if (rv != CKR_OK) {
		json_decref(out);
		return fail_rv("C_DestroyObject", rv);
	}
	return print_json(out);
}

/* kms11 store check: verifies the store offline, in a child process, since LMDB may fault on a damaged
 * page. Exit status 0 when the store is sound, 1 when it is damaged or cannot be read. */
static int cmd_store_check(const struct opts *o)
{
	struct kms_store_report r;
	struct kms_conf conf;
	char err[512];
	const char *dir = o->store;
	json_t *out, *list;
	int fds[2], st = 0;
	ssize_t got = 0, n;
	pid_t pid;

	if (!dir) {
		if (kms_conf_load(&conf, err, sizeof(err)) != 0)
			return fail("configuration: %s", err);
		dir = conf.store_dir;
	}
	if (pipe(fds) != 0)
		return fail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		kms_store_verify(dir, &r);
		for (size_t off = 0; off < sizeof(r); off += (size_t)n)
			if ((n = write(fds[1], (char *)&r + off, sizeof(r) - off)) <= 0)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	memset(&r, 0, sizeof(r));
	while ((size_t)got < sizeof(r) && (n = read(fds[0], (char *)&r + got, sizeof(r) - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st) || (size_t)got != sizeof(r)) {
		memset(&r, 0, sizeof(r));
		snprintf(r.problems[0], sizeof(r.problems[0]), "reading the store faulted (signal %d): pages are damaged",
			 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
		r.n_problems = 1;
	}
	out = json_pack("{s:s, s:b, s:I, s:I}", "store", dir, "ok", r.n_problems == 0, "objects", (json_int_t)r.objects,
			"index_entries", (json_int_t)r.index_entries);
	list = json_array();
	for (uint64_t i = 0; i < r.n_problems && i < KMS_STORE_REPORT_MAX; i++)
		json_array_append_new(list, json_string(r.problems[i]));
	json_object_set_new(out, "problems", list);
	if (r.n_problems) {
		snprintf(err, sizeof(err), "store %s is damaged: %s", dir, r.problems[0]);
		json_object_set_new(out, "err", json_string(err));
	}
	print_json(out);
	if (!o->store)
		kms_conf_free(&conf);
	return r.n_problems ? 1 : 0;
}

static void usage(void)
{
	fputs("usage:\n"
	      "  kms11 token init --label L --so-pin P --pin P [--token T]\n"
	      "  kms11 key create --algorithm RSA|ECDSA|Ed25519 [--size N] --name NAME [--pin P]\n"
	      "  kms11 key list [--pin P]\n"
	      "  kms11 key get ID|NAME|URI [--pin P]\n"
	      "  kms11 key delete ID|NAME|URI [--pin P]\n"
	      "  kms11 store check [--store DIR]\n"
	      "The user PIN comes from --pin, KMS11_PIN or a prompt on the terminal.\n",
	      stderr);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char **dst = NULL;

		if (!strcmp(argv[i], "--label"))
			dst = &o->label;
		else if (!strcmp(argv[i], "--so-pin"))
			dst = &o->so_pin;
		else if (!strcmp(argv[i], "--pin"))
			dst = &o->pin;
		else if (!strcmp(argv[i], "--algorithm"))
			dst = &o->algorithm;
		else if (!strcmp(argv[i], "--name"))
			dst = &o->name;
		else if (!strcmp(argv[i], "--size"))
			dst = &o->size;
		else if (!strcmp(argv[i], "--token"))
			dst = &o->token;
		else if (!strcmp(argv[i], "--store"))
			dst = &o->store;
		else if (!strncmp(argv[i], "--", 2))
			return fail("unknown option '%s'", argv[i]);
		else if (!o->arg) {
			o->arg = argv[i];
			continue;
		} else
			return fail("unexpected argument '%s'", argv[i]);
		if (i + 1 >= argc)
			return fail("option '%s' needs a value", argv[i]);
		*dst = argv[++i];
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct kms_token *tok = NULL;
	struct kms_session *s = NULL;
	CK_SESSION_HANDLE h = 0;
	CK_RV rv;
	int ret;

	if (argc < 3) {
		usage();
		return 2;
	}
	ret = parse_opts(argc - 3, argv + 3, &o);
	if (ret)
		return ret;
	/* The store check never initialises the module: it must work on a store the module refuses. */
	if (!strcmp(argv[1], "store"))
		return !strcmp(argv[2], "check") ? cmd_store_check(&o) : fail("unknown command 'store %s'", argv[2]);
	rv = kms_core_initialize(NULL);
	if (rv != CKR_OK)
		return fail_rv("initialise (see KMS11_CONF, KMS11_STORE)", rv);
	if (!strcmp(argv[1], "token") && !strcmp(argv[2], "init")) {
		ret = cmd_token_init(&o);
	} else if (!strcmp(argv[1], "key")) {
		ret = open_user(&o, &tok, &h, &s);
		if (ret == 0) {
			if (!strcmp(argv[2], "create"))
				ret = cmd_key_create(&o, tok, s);
			else if (!strcmp(argv[2], "list"))
				ret = cmd_key_list(tok);
			else if (!strcmp(argv[2], "get"))
				ret = cmd_key_get_delete(tok, s, o.arg, false);
			else if (!strcmp(argv[2], "delete"))
				ret = cmd_key_get_delete(tok, s, o.arg, true);
			else
				ret = fail("unknown command 'key %s'", argv[2]);
			kms_session_put(s);
		}
	} else {
		ret = fail("unknown command '%s %s'", argv[1], argv[2]);
	}
	kms_core_finalize();
	return ret;
}
