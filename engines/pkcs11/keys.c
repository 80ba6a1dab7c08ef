/* SPDX-License-Identifier: Apache-2.0 */
/* The pkcs11 engine's keys: generated or imported in the backend token (sensitive and non-extractable unless
 * asked otherwise), referenced by a blob that holds the backend objects' CKA_ID, never key material. Public keys
 * and the canonical public attributes come from the openssl engine, in kms11's own library context. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/osslctx.h"
#include "common/util.h"
#include "engines/pkcs11/p11.h"

/* Blob: "KP11", version 1, class (u32 BE), key type (u32 BE), flags (1 byte: 1 when the backend key is
 * CKA_PRIVATE), the length of the backend objects' CKA_ID (1 byte, 1 to P11_ID_MAX) and that CKA_ID. */
#define BLOB_MAGIC "KP11"
#define BLOB_HEAD (4 + 1 + 4 + 4 + 1 + 1)
#define BLOB_PRIVATE 1

CK_RV p11_blob_make(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, bool priv, const uint8_t *id, size_t idlen,
		    struct kms_key_material *out)
{
	uint8_t *b;

	if (idlen == 0 || idlen > P11_ID_MAX)
		return CKR_GENERAL_ERROR;
	b = kms_secure_alloc(BLOB_HEAD + idlen);
	if (!b)
		return CKR_HOST_MEMORY;
	memcpy(b, BLOB_MAGIC, 4);
	b[4] = 1;
	kms_be32_put(b + 5, (uint32_t)cls);
	kms_be32_put(b + 9, (uint32_t)kt);
	b[13] = priv ? BLOB_PRIVATE : 0;
	b[14] = (uint8_t)idlen;
	memcpy(b + BLOB_HEAD, id, idlen);
	out->blob = b;
	out->blob_len = BLOB_HEAD + idlen;
	return CKR_OK;
}

static CK_RV blob_read(const uint8_t *b, size_t len, CK_OBJECT_CLASS *cls, CK_KEY_TYPE *kt, bool *priv, uint8_t *id,
		       size_t *idlen)
{
	if (!b || len <= BLOB_HEAD || memcmp(b, BLOB_MAGIC, 4) != 0 || b[4] != 1 || b[14] == 0 || b[14] > P11_ID_MAX ||
	    len != BLOB_HEAD + (size_t)b[14])
		return CKR_GENERAL_ERROR;
	*cls = kms_be32_get(b + 5);
	*kt = kms_be32_get(b + 9);
	*priv = (b[13] & BLOB_PRIVATE) != 0;
	*idlen = b[14];
	memcpy(id, b + BLOB_HEAD, *idlen);
	return CKR_OK;
}

/* The backend label of a key: "kms11-" and its CKA_ID in hex. */
static void backend_label(const uint8_t *id, char *label, size_t len)
{
	size_t o = (size_t)snprintf(label, len, "kms11-");

	for (size_t i = 0; i < P11_ID_LEN && o + 2 < len; i++)
		o += (size_t)snprintf(label + o, len - o, "%02x", id[i]);
}

CK_RV p11_key_head(struct p11_key_head *h, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, bool tok, bool priv, bool sens,
		   bool extr, CK_ATTRIBUTE *a)
{
	*h = (struct p11_key_head){cls, kt, tok ? CK_TRUE : CK_FALSE, priv ? CK_TRUE : CK_FALSE,
			       sens ? CK_TRUE : CK_FALSE, extr ? CK_TRUE : CK_FALSE, {0}, {0}};
	if (!kms_rand(h->id, sizeof(h->id)))
		return CKR_FUNCTION_FAILED;
	backend_label(h->id, h->label, sizeof(h->label));
	a[0] = (CK_ATTRIBUTE){CKA_CLASS, &h->cls, sizeof(h->cls)};
	a[1] = (CK_ATTRIBUTE){CKA_TOKEN, &h->tok, 1};
	a[2] = (CK_ATTRIBUTE){CKA_PRIVATE, &h->priv, 1};
	a[3] = (CK_ATTRIBUTE){CKA_SENSITIVE, &h->sens, 1};
	a[4] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &h->extr, 1};
	a[5] = (CK_ATTRIBUTE){CKA_ID, h->id, sizeof(h->id)};
	a[6] = (CK_ATTRIBUTE){CKA_LABEL, h->label, strlen(h->label)};
	a[7] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &h->kt, sizeof(h->kt)};
	return CKR_OK;
}

/* Reads one attribute of a backend object into a malloc'd buffer. */
CK_RV p11_get_attr(struct p11_inst *in, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
		      uint8_t **val, CK_ULONG *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv = in->f->C_GetAttributeValue(s, h, &a, 1);

	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (!a.pValue)
		return CKR_HOST_MEMORY;
	rv = in->f->C_GetAttributeValue(s, h, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

/* The canonical public attributes of the backend public key hpub, through the openssl engine's import. */
CK_RV p11_public_from_backend(struct p11_inst *in, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE hpub, CK_KEY_TYPE kt,
				 struct kms_attrs *pub)
{
	static const CK_ATTRIBUTE_TYPE rsa[] = {CKA_MODULUS, CKA_PUBLIC_EXPONENT};
	static const CK_ATTRIBUTE_TYPE ec[] = {CKA_EC_PARAMS, CKA_EC_POINT};
	const CK_ATTRIBUTE_TYPE *want = kt == CKK_RSA ? rsa : ec;
	struct kms_attrs tmpl = KMS_ATTRS_INIT;
	struct kms_key_material km = {.pub = KMS_ATTRS_INIT};
	CK_RV rv = CKR_OK;

	for (int i = 0; i < 2 && rv == CKR_OK; i++) {
		uint8_t *v = NULL;
		CK_ULONG vl = 0;

		rv = p11_get_attr(in, s, hpub, want[i], &v, &vl);
		if (rv == CKR_OK && kms_attrs_set(&tmpl, want[i], v, vl) != 0)
			rv = CKR_HOST_MEMORY;
		free(v);
	}
	if (rv == CKR_OK)
		rv = kms_engine_openssl.import(in->soft, CKO_PUBLIC_KEY, kt, &tmpl, &km);
	kms_attrs_free(&tmpl);
	if (rv != CKR_OK) {
		KMS_ERR("token '%s': the backend's public key could not be read: %s", in->label, p11_rv_name(rv));
		return rv == CKR_HOST_MEMORY ? rv : CKR_DEVICE_ERROR;
	}
	*pub = km.pub;
	km.pub = (struct kms_attrs)KMS_ATTRS_INIT;
	kms_key_material_free(&km);
	return CKR_OK;
}

#define ADD(t, v, l)                                                \
	do {                                                        \
		a[n].type = (t);                                    \
		a[n].pValue = (void *)(v);                          \
		a[n].ulValueLen = (l);                              \
		n++;                                                \
	} while (0)

CK_RV p11_generate_pair(void *inst, const struct kms_keygen_params *p, struct kms_key_material *out)
{
	static const uint8_t f4[] = {1, 0, 1};
	struct p11_inst *in = inst;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE, tok = p->token ? CK_TRUE : CK_FALSE, rsa;
	CK_MECHANISM mech = {p->mech, NULL, 0};
	CK_ATTRIBUTE pa[10], ka[P11_KEY_HEAD_N + 4], *a;
	CK_ULONG npa, nka, n, bits = p->modulus_bits;
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_SESSION_HANDLE s;
	struct p11_key_head h;
	CK_KEY_TYPE kt;
	CK_RV rv;

	switch (p->mech) {
	case CKM_RSA_PKCS_KEY_PAIR_GEN:
		kt = CKK_RSA;
		break;
	case CKM_EC_KEY_PAIR_GEN:
		kt = CKK_EC;
		break;
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
		kt = CKK_EC_EDWARDS;
		break;
	default:
		return CKR_MECHANISM_INVALID;
	}
	rv = p11_key_head(&h, CKO_PRIVATE_KEY, kt, p->token, p->priv, p->sensitive, p->extractable, ka);
	if (rv != CKR_OK)
		return rv;
	a = pa;
	n = 0;
	ADD(CKA_TOKEN, &tok, 1);
	ADD(CKA_PRIVATE, &no, 1);
	ADD(CKA_ID, h.id, sizeof(h.id));
	ADD(CKA_LABEL, h.label, strlen(h.label));
	/* Each usage set explicitly: a backend's defaults may allow more (SoftHSMv2 lets an EC key "decrypt"). */
	rsa = kt == CKK_RSA ? CK_TRUE : CK_FALSE;
	ADD(CKA_VERIFY, &yes, 1);
	ADD(CKA_ENCRYPT, &rsa, 1);
	ADD(CKA_WRAP, &no, 1);
	if (kt == CKK_RSA) {
		ADD(CKA_MODULUS_BITS, &bits, sizeof(bits));
		ADD(CKA_PUBLIC_EXPONENT, p->pub_exp ? p->pub_exp : f4, p->pub_exp ? p->pub_exp_len : sizeof(f4));
	} else {
		ADD(CKA_EC_PARAMS, p->ec_params, p->ec_params_len);
	}
	npa = n;
	a = ka;
	n = P11_KEY_HEAD_N;
	ADD(CKA_SIGN, &yes, 1);
	ADD(CKA_DECRYPT, &rsa, 1);
	ADD(CKA_UNWRAP, &no, 1);
	ADD(CKA_DERIVE, kt == CKK_EC ? &yes : &no, 1);
	nka = n;

	rv = p11_maker_get(in, p->token, &s);
	if (rv != CKR_OK)
		return rv;
	rv = in->f->C_GenerateKeyPair(s, &mech, pa, npa, ka, nka, &hpub, &hpriv);
	if (rv != CKR_OK) {
		KMS_INFO("token '%s': the backend did not generate the key pair: %s", in->label, p11_rv_name(rv));
		p11_maker_put(in, p->token, s, rv);
		return rv;
	}
	rv = p11_public_from_backend(in, s, hpub, kt, &out->pub);
	if (rv == CKR_OK)
		rv = p11_blob_make(CKO_PRIVATE_KEY, kt, h.priv, h.id, sizeof(h.id), out);
	if (rv != CKR_OK) {
		in->f->C_DestroyObject(s, hpriv);
		in->f->C_DestroyObject(s, hpub);
		kms_key_material_free(out);
	}
	p11_maker_put(in, p->token, s, CKR_OK);
	return rv;
}

CK_RV p11_generate_secret(void *inst, const struct kms_secretgen_params *p, struct kms_key_material *out)
{
	struct p11_inst *in = inst;
	CK_KEY_TYPE kt = p->key_type;
	CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM mech = {p->mech, NULL, 0};
	CK_ULONG vlen = p->len, n = P11_KEY_HEAD_N;
	CK_ATTRIBUTE a[P11_KEY_HEAD_N + 8];
	CK_OBJECT_HANDLE hk;
	CK_SESSION_HANDLE s;
	struct p11_key_head h;
	uint8_t *kcv = NULL;
	CK_ULONG kcvlen = 0;
	bool aes = kt == CKK_AES;
	CK_RV rv;

	if (p->mech != CKM_AES_KEY_GEN && p->mech != CKM_GENERIC_SECRET_KEY_GEN)
		return CKR_MECHANISM_INVALID;
	rv = p11_key_head(&h, CKO_SECRET_KEY, kt, p->token, p->priv, p->sensitive, p->extractable, a);
	if (rv != CKR_OK)
		return rv;
	ADD(CKA_VALUE_LEN, &vlen, sizeof(vlen));
	ADD(CKA_SIGN, &yes, 1);
	ADD(CKA_VERIFY, &yes, 1);
	if (aes) {
		ADD(CKA_ENCRYPT, &yes, 1);
		ADD(CKA_DECRYPT, &yes, 1);
		ADD(CKA_WRAP, &yes, 1);
		ADD(CKA_UNWRAP, &yes, 1);
	}
	rv = p11_maker_get(in, p->token, &s);
	if (rv != CKR_OK)
		return rv;
	rv = in->f->C_GenerateKey(s, &mech, a, n, &hk);
	if (rv != CKR_OK) {
		KMS_INFO("token '%s': the backend did not generate the secret key: %s", in->label, p11_rv_name(rv));
		p11_maker_put(in, p->token, s, rv);
		return rv;
	}
	/* A backend without CKA_CHECK_VALUE leaves the attribute out. */
	(void)p11_get_attr(in, s, hk, CKA_CHECK_VALUE, &kcv, &kcvlen);
	if (kms_attrs_set_ulong(&out->pub, CKA_KEY_TYPE, kt) != 0 ||
	    kms_attrs_set_ulong(&out->pub, CKA_VALUE_LEN, p->len) != 0 ||
	    (kcv && kcvlen && kms_attrs_set(&out->pub, CKA_CHECK_VALUE, kcv, kcvlen) != 0))
		rv = CKR_HOST_MEMORY;
	free(kcv);
	if (rv == CKR_OK)
		rv = p11_blob_make(CKO_SECRET_KEY, kt, h.priv, h.id, sizeof(h.id), out);
	if (rv != CKR_OK) {
		in->f->C_DestroyObject(s, hk);
		kms_key_material_free(out);
	}
	p11_maker_put(in, p->token, s, CKR_OK);
	return rv;
}

/* Private and secret key parts C_CreateObject passes to the backend. */
static const CK_ATTRIBUTE_TYPE key_parts[] = {
	CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1,
	CKA_EXPONENT_2, CKA_COEFFICIENT, CKA_EC_PARAMS, CKA_VALUE,
};

CK_RV p11_import(void *inst, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, const struct kms_attrs *tmpl,
		 struct kms_key_material *out)
{
	struct p11_inst *in = inst;
	struct kms_key_material soft = {.pub = KMS_ATTRS_INIT};
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE a[P11_KEY_HEAD_N + 16];
	CK_ULONG n = P11_KEY_HEAD_N;
	CK_OBJECT_HANDLE hk;
	CK_SESSION_HANDLE s;
	struct p11_key_head h;
	CK_RV rv;

	/* The openssl engine checks the parts and gives the canonical public attributes (and, for a secret key,
	 * its check value); its private blob is wiped unused. */
	rv = kms_engine_openssl.import(in->soft, cls, kt, tmpl, &soft);
	if (rv != CKR_OK || cls == CKO_PUBLIC_KEY) {
		if (rv == CKR_OK)
			*out = soft;
		return rv;
	}
	rv = p11_key_head(&h, cls, kt, true, kms_attrs_get_bool(tmpl, CKA_PRIVATE, true),
			  kms_attrs_get_bool(tmpl, CKA_SENSITIVE, true), kms_attrs_get_bool(tmpl, CKA_EXTRACTABLE, false), a);
	if (rv != CKR_OK) {
		kms_key_material_free(&soft);
		return rv;
	}
	ADD(CKA_SIGN, &yes, 1);
	if (cls == CKO_SECRET_KEY || kt == CKK_RSA)
		ADD(CKA_DECRYPT, &yes, 1);
	if (cls == CKO_SECRET_KEY) {
		ADD(CKA_ENCRYPT, &yes, 1);
		ADD(CKA_VERIFY, &yes, 1);
	}
	for (size_t i = 0; i < sizeof(key_parts) / sizeof(key_parts[0]); i++) {
		const struct kms_attr *p = kms_attrs_get(tmpl, key_parts[i]);

		if (p)
			ADD(p->type, p->val, p->len);
	}
	rv = p11_session_get(in, &s);
	if (rv == CKR_OK) {
		rv = in->f->C_CreateObject(s, a, n, &hk);
		p11_session_put(in, s, rv);
	}
	kms_secure_free(soft.blob);
	soft.blob = NULL;
	soft.blob_len = 0;
	if (rv != CKR_OK) {
		KMS_INFO("token '%s': the backend did not take the key: %s", in->label, p11_rv_name(rv));
		kms_key_material_free(&soft);
		return rv;
	}
	out->pub = soft.pub;
	return p11_blob_make(cls, kt, h.priv, h.id, sizeof(h.id), out);
}

/* Signature length from the public attributes: RSA modulus bytes, or from CKA_EC_POINT's length. */
static size_t sig_len(CK_KEY_TYPE kt, const struct kms_attrs *pub)
{
	const struct kms_attr *a;
	size_t pl;

	if (kt == CKK_RSA) {
		a = kms_attrs_get(pub, CKA_MODULUS);
		return a ? a->len : 0;
	}
	a = kms_attrs_get(pub, CKA_EC_POINT);
	if (!a || a->len < 3)
		return 0;
	/* DER OCTET STRING: 04 len [len bytes] or 04 81 len [...] */
	pl = a->val[1] & 0x80 ? a->len - 2 - (a->val[1] & 0x7f) : a->len - 2;
	if (kt == CKK_EC_EDWARDS)
		return pl == 32 ? 64 : 114;
	return pl - 1; /* 04 || X || Y: r || s is as long as X || Y */
}

CK_RV p11_load(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len, const struct kms_attrs *pub,
	       struct kms_engine_key **key)
{
	struct p11_inst *in = inst;
	struct p11_key *k = calloc(1, sizeof(*k));
	CK_OBJECT_CLASS bcls;
	bool bpriv;
	CK_RV rv;

	if (!k)
		return CKR_HOST_MEMORY;
	k->in = in;
	k->cls = cls;
	if (cls == CKO_PUBLIC_KEY) {
		static const CK_ATTRIBUTE_TYPE parts[] = {CKA_KEY_TYPE, CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS,
							  CKA_EC_POINT};

		rv = kms_engine_openssl.load(in->soft, cls, blob, blob_len, pub, &k->soft);
		for (size_t i = 0; rv == CKR_OK && i < sizeof(parts) / sizeof(parts[0]); i++) {
			const struct kms_attr *a = kms_attrs_get(pub, parts[i]);

			if (a && kms_attrs_set(&k->pub, a->type, a->val, a->len) != 0)
				rv = CKR_HOST_MEMORY;
		}
		if (rv != CKR_OK) {
			p11_unload((struct kms_engine_key *)k);
			return rv;
		}
		*key = (struct kms_engine_key *)k;
		return CKR_OK;
	}
	if (blob_read(blob, blob_len, &bcls, &k->kt, &bpriv, k->id, &k->idlen) != CKR_OK || bcls != cls) {
		KMS_ERR("token '%s': a key's reference is not one of the pkcs11 engine's", in->label);
		free(k);
		return CKR_GENERAL_ERROR;
	}
	if (cls == CKO_PRIVATE_KEY)
		k->siglen = sig_len(k->kt, pub);
	*key = (struct kms_engine_key *)k;
	return CKR_OK;
}

void p11_unload(struct kms_engine_key *key)
{
	struct p11_key *k = (struct p11_key *)key;

	if (!k)
		return;
	if (k->soft)
		kms_engine_openssl.unload(k->soft);
	kms_attrs_free(&k->pub);
	free(k);
}

CK_RV p11_private_attr(struct kms_engine_key *key, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len)
{
	struct p11_key *k = (struct p11_key *)key;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	CK_ULONG vl = 0;
	CK_RV rv;

	if (k->soft)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	rv = p11_session_get(k->in, &s);
	if (rv != CKR_OK)
		return CKR_DEVICE_ERROR;
	rv = p11_key_handle(k->in, s, k, &h);
	if (rv == CKR_OK)
		rv = p11_get_attr(k->in, s, h, type, val, &vl);
	p11_session_put(k->in, s, rv);
	if (rv == CKR_OK)
		*len = vl;
	return p11_rv_lost(rv) ? CKR_DEVICE_ERROR : rv;
}

CK_RV p11_find(struct p11_inst *in, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE by, const void *v,
	       size_t vlen, CK_OBJECT_HANDLE *hs, CK_ULONG max, CK_ULONG *n)
{
	CK_ATTRIBUTE t[2] = {{by, (void *)v, vlen}, {CKA_CLASS, &cls, sizeof(cls)}};
	CK_RV rv = in->f->C_FindObjectsInit(s, t, 2);

	if (rv != CKR_OK)
		return rv;
	rv = in->f->C_FindObjects(s, hs, max, n);
	in->f->C_FindObjectsFinal(s);
	return rv;
}

CK_RV p11_key_handle(struct p11_inst *in, CK_SESSION_HANDLE s, struct p11_key *k, CK_OBJECT_HANDLE *h)
{
	unsigned long epoch = __atomic_load_n(&in->epoch, __ATOMIC_ACQUIRE);
	CK_ULONG n = 0;
	CK_OBJECT_HANDLE found;
	CK_RV rv;

	if (__atomic_load_n(&k->epoch, __ATOMIC_ACQUIRE) == epoch + 1) {
		*h = __atomic_load_n(&k->h, __ATOMIC_RELAXED);
		return CKR_OK;
	}
	rv = p11_find(in, s, k->cls, CKA_ID, k->id, k->idlen, &found, 1, &n);
	if (rv != CKR_OK)
		return rv;
	if (n == 0) {
		KMS_ERR("token '%s': the backend has no key with the reference this key holds (was it deleted in the "
			"backend?)", in->label);
		return CKR_KEY_HANDLE_INVALID;
	}
	__atomic_store_n(&k->h, found, __ATOMIC_RELAXED);
	__atomic_store_n(&k->epoch, epoch + 1, __ATOMIC_RELEASE);
	*h = found;
	return CKR_OK;
}

CK_RV p11_destroy(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY};
	struct p11_inst *in = inst;
	CK_OBJECT_CLASS bcls;
	CK_KEY_TYPE kt;
	bool bpriv;
	uint8_t id[P11_ID_MAX];
	size_t idlen;
	CK_OBJECT_HANDLE hs[8];
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0;
	CK_RV rv;

	if (cls == CKO_PUBLIC_KEY || !blob)
		return CKR_OK;
	if (blob_read(blob, blob_len, &bcls, &kt, &bpriv, id, &idlen) != CKR_OK)
		return CKR_GENERAL_ERROR;
	/* A private backend object is found only by a logged-in backend: without that nothing is destroyed, not even
	 * the public half. With a PIN file the engine logs in by itself (C_InitToken, where only the SO PIN is given). */
	pthread_mutex_lock(&in->lock);
	rv = in->logged_in || !bpriv ? CKR_OK : CKR_USER_NOT_LOGGED_IN;
	pthread_mutex_unlock(&in->lock);
	if (rv != CKR_OK && in->pin_file)
		rv = p11_login(in, NULL, 0);
	if (rv != CKR_OK)
		return rv;
	rv = p11_session_get(in, &s);
	if (rv != CKR_OK)
		return rv;
	/* The key's objects only: a certificate the backend keeps under the same CKA_ID stays. */
	for (size_t c = 0; rv == CKR_OK && c < sizeof(classes) / sizeof(classes[0]); c++) {
		rv = p11_find(in, s, classes[c], CKA_ID, id, idlen, hs, 8, &n);
		for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++)
			rv = in->f->C_DestroyObject(s, hs[i]);
	}
	if (rv != CKR_OK)
		KMS_ERR("token '%s': the backend did not destroy a key's objects: %s", in->label, p11_rv_name(rv));
	p11_session_put(in, s, rv);
	return rv;
}

/* The one private or secret key of the backend whose attribute `by` is v: CKR_KEY_HANDLE_INVALID for none,
 * CKR_TEMPLATE_INCONSISTENT for more than one. */
static CK_RV adopt_find(struct p11_inst *in, CK_SESSION_HANDLE s, CK_ATTRIBUTE_TYPE by, const void *v, size_t vlen,
			CK_OBJECT_CLASS *cls, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_HANDLE hp[2], hs[2];
	CK_ULONG np = 0, ns = 0;
	CK_RV rv = p11_find(in, s, CKO_PRIVATE_KEY, by, v, vlen, hp, 2, &np);

	if (rv == CKR_OK)
		rv = p11_find(in, s, CKO_SECRET_KEY, by, v, vlen, hs, 2, &ns);
	if (rv != CKR_OK)
		return rv;
	if (np + ns == 0)
		return CKR_KEY_HANDLE_INVALID;
	if (np + ns > 1)
		return CKR_TEMPLATE_INCONSISTENT;
	*cls = np ? CKO_PRIVATE_KEY : CKO_SECRET_KEY;
	*h = np ? hp[0] : hs[0];
	return CKR_OK;
}

/* A CK_BBOOL attribute of a backend object; dflt when it cannot be read. */
static bool bool_attr(struct p11_inst *in, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, bool dflt)
{
	uint8_t *v = NULL;
	CK_ULONG vl = 0;
	bool r = dflt;

	if (p11_get_attr(in, s, h, type, &v, &vl) == CKR_OK && vl == 1)
		r = v[0] != 0;
	free(v);
	return r;
}

static CK_RV adopt_in(struct p11_inst *in, CK_SESSION_HANDLE s, const char *label, const uint8_t *id, size_t idlen,
		      struct kms_adopt *out)
{
	CK_OBJECT_HANDLE h, hpub[2];
	CK_ULONG npub = 0;
	uint8_t *v = NULL, *bid = NULL;
	CK_ULONG vl = 0, bidlen = 0;
	CK_OBJECT_CLASS c2;
	CK_RV rv;

	rv = label ? adopt_find(in, s, CKA_LABEL, label, strlen(label), &out->cls, &h)
		   : adopt_find(in, s, CKA_ID, id, idlen, &out->cls, &h);
	if (rv != CKR_OK)
		return rv;
	/* The reference is the key's CKA_ID: it must name this key alone. */
	rv = p11_get_attr(in, s, h, CKA_ID, &bid, &bidlen);
	if (rv == CKR_OK && (bidlen == 0 || bidlen > P11_ID_MAX))
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK && adopt_find(in, s, CKA_ID, bid, bidlen, &c2, &h) != CKR_OK)
		rv = CKR_TEMPLATE_INCONSISTENT;
	if (rv == CKR_OK && p11_get_attr(in, s, h, CKA_LABEL, &v, &vl) == CKR_OK && vl >= 6 && !memcmp(v, "kms11-", 6))
		rv = CKR_ACTION_PROHIBITED; /* made by kms11: a key of kms11 already */
	free(v);
	v = NULL;
	if (rv == CKR_OK)
		rv = p11_get_attr(in, s, h, CKA_KEY_TYPE, &v, &vl);
	if (rv == CKR_OK && vl == sizeof(CK_ULONG))
		memcpy(&out->kt, v, sizeof(out->kt));
	else if (rv == CKR_OK)
		rv = CKR_GENERAL_ERROR;
	free(v);
	v = NULL;
	if (rv != CKR_OK) {
		free(bid);
		return rv;
	}
	out->sensitive = bool_attr(in, s, h, CKA_SENSITIVE, true);
	out->extractable = bool_attr(in, s, h, CKA_EXTRACTABLE, false);
	if (out->cls == CKO_SECRET_KEY) {
		CK_ULONG len = 0;

		if (p11_get_attr(in, s, h, CKA_VALUE_LEN, &v, &vl) == CKR_OK && vl == sizeof(CK_ULONG))
			memcpy(&len, v, sizeof(len));
		free(v);
		v = NULL;
		if (kms_attrs_set_ulong(&out->km.pub, CKA_KEY_TYPE, out->kt) != 0 ||
		    kms_attrs_set_ulong(&out->km.pub, CKA_VALUE_LEN, len) != 0)
			rv = CKR_HOST_MEMORY;
		if (rv == CKR_OK && p11_get_attr(in, s, h, CKA_CHECK_VALUE, &v, &vl) == CKR_OK && vl &&
		    kms_attrs_set(&out->km.pub, CKA_CHECK_VALUE, v, vl) != 0)
			rv = CKR_HOST_MEMORY;
		free(v);
	} else {
		/* The public parts: from the public key of the same CKA_ID, else (RSA) from the private key itself. */
		rv = p11_find(in, s, CKO_PUBLIC_KEY, CKA_ID, bid, bidlen, hpub, 2, &npub);
		if (rv == CKR_OK && npub == 1)
			rv = p11_public_from_backend(in, s, hpub[0], out->kt, &out->km.pub);
		else if (rv == CKR_OK && out->kt == CKK_RSA)
			rv = p11_public_from_backend(in, s, h, out->kt, &out->km.pub);
		else if (rv == CKR_OK)
			rv = CKR_TEMPLATE_INCOMPLETE; /* no public key to serve */
		if (rv == CKR_OK && out->kt == CKK_RSA) {
			const struct kms_attr *m = kms_attrs_get(&out->km.pub, CKA_MODULUS);

			if (m && (kms_attrs_set_ulong(&out->km.pub, CKA_MODULUS_BITS, m->len * 8) != 0))
				rv = CKR_HOST_MEMORY;
		}
	}
	if (rv == CKR_OK)
		rv = p11_blob_make(out->cls, out->kt, bool_attr(in, s, h, CKA_PRIVATE, true), bid, bidlen, &out->km);
	free(bid);
	return rv;
}

CK_RV p11_adopt(void *inst, const char *label, const uint8_t *id, size_t idlen, struct kms_adopt *out)
{
	struct p11_inst *in = inst;
	CK_SESSION_HANDLE s;
	CK_RV rv = p11_session_get(in, &s);

	if (rv != CKR_OK)
		return CKR_DEVICE_ERROR;
	rv = adopt_in(in, s, label, id, idlen, out);
	p11_session_put(in, s, rv);
	if (rv != CKR_OK)
		kms_key_material_free(&out->km);
	return p11_rv_lost(rv) ? CKR_DEVICE_ERROR : rv;
}
