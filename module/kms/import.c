/* SPDX-License-Identifier: Apache-2.0 */
/* Key import: private keys (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8; PEM or DER), public keys (SPKI) and secret
 * keys, made into PKCS#11 objects through the core like any application's C_CreateObject. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/mem.h"
#include "common/osslctx.h"
#include "common/util.h"
#include "module/kms/kms-int.h"

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

/* Decodes a key (PEM or DER, any of OpenSSL's structures) in kms11's own library context. */
static EVP_PKEY *decode(const uint8_t *in, size_t len, int selection, const char *pass)
{
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *pk = NULL;
	const unsigned char *p = in;
	size_t left = len;

	dctx = OSSL_DECODER_CTX_new_for_pkey(&pk, NULL, NULL, NULL, selection, kms_libctx(), NULL);
	if (!dctx)
		return NULL;
	if (pass)
		OSSL_DECODER_CTX_set_passphrase(dctx, (const unsigned char *)pass, strlen(pass));
	else
		OSSL_DECODER_CTX_set_passphrase(dctx, (const unsigned char *)"", 0);
	if (OSSL_DECODER_from_data(dctx, &p, &left) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	OSSL_DECODER_CTX_free(dctx);
	return pk;
}

/* A BIGNUM parameter of pk as big-endian bytes into a (attribute type t). */
static int add_bn(struct kms_attrs *a, CK_ATTRIBUTE_TYPE t, const EVP_PKEY *pk, const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t *buf;
	int n, ret = -1;

	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
		return -1;
	n = BN_num_bytes(bn);
	buf = kms_secure_alloc(n ? (size_t)n : 1);
	if (buf && BN_bn2bin(bn, buf) == n)
		ret = kms_attrs_set(a, t, buf, (size_t)n);
	kms_secure_free(buf);
	BN_clear_free(bn);
	return ret;
}

/* The PKCS#11 templates of a key pair (priv NULL for a public key only), with the key type and class set.
 * bits and alg get the kind of key for the size checks. */
static int key_attrs(EVP_PKEY *pk, struct kms_attrs *pub, struct kms_attrs *priv, const char **alg, unsigned long *bits,
		     struct kms_err *e)
{
	uint8_t buf[160], point[180];
	size_t len = sizeof(buf);
	int err = 0;

	*bits = (unsigned long)EVP_PKEY_get_bits(pk);
	err |= kms_attrs_set_ulong(pub, CKA_CLASS, CKO_PUBLIC_KEY);
	if (priv)
		err |= kms_attrs_set_ulong(priv, CKA_CLASS, CKO_PRIVATE_KEY);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		*alg = "RSA";
		err |= kms_attrs_set_ulong(pub, CKA_KEY_TYPE, CKK_RSA);
		err |= add_bn(pub, CKA_MODULUS, pk, OSSL_PKEY_PARAM_RSA_N);
		err |= add_bn(pub, CKA_PUBLIC_EXPONENT, pk, OSSL_PKEY_PARAM_RSA_E);
		if (priv) {
			err |= kms_attrs_set_ulong(priv, CKA_KEY_TYPE, CKK_RSA);
			err |= add_bn(priv, CKA_MODULUS, pk, OSSL_PKEY_PARAM_RSA_N);
			err |= add_bn(priv, CKA_PUBLIC_EXPONENT, pk, OSSL_PKEY_PARAM_RSA_E);
			err |= add_bn(priv, CKA_PRIVATE_EXPONENT, pk, OSSL_PKEY_PARAM_RSA_D);
			err |= add_bn(priv, CKA_PRIME_1, pk, OSSL_PKEY_PARAM_RSA_FACTOR1);
			err |= add_bn(priv, CKA_PRIME_2, pk, OSSL_PKEY_PARAM_RSA_FACTOR2);
			err |= add_bn(priv, CKA_EXPONENT_1, pk, OSSL_PKEY_PARAM_RSA_EXPONENT1);
			err |= add_bn(priv, CKA_EXPONENT_2, pk, OSSL_PKEY_PARAM_RSA_EXPONENT2);
			err |= add_bn(priv, CKA_COEFFICIENT, pk, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
		}
	} else if (EVP_PKEY_is_a(pk, "EC")) {
		char group[32];
		const uint8_t *oid;
		size_t oidlen;

		*alg = "ECDSA";
		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1)
			return kms_fail(e, KMS_E_INPUT, "private_key: an EC key without a named curve");
		if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256")) {
			oid = oid_p256;
			oidlen = sizeof(oid_p256);
		} else if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384")) {
			oid = oid_p384;
			oidlen = sizeof(oid_p384);
		} else if (!strcmp(group, "secp521r1") || !strcmp(group, "P-521")) {
			oid = oid_p521;
			oidlen = sizeof(oid_p521);
		} else {
			return kms_fail(e, KMS_E_INPUT, "private_key: curve %s is not P-256, P-384 or P-521", group);
		}
		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof(buf), &len) != 1 ||
		    len > 133)
			return kms_fail(e, KMS_E_INPUT, "the EC key has no public point");
		/* CKA_EC_POINT: the point in a DER OCTET STRING. */
		point[0] = 0x04;
		if (len < 128) {
			point[1] = (uint8_t)len;
			memcpy(point + 2, buf, len);
			len += 2;
		} else {
			point[1] = 0x81;
			point[2] = (uint8_t)len;
			memcpy(point + 3, buf, len);
			len += 3;
		}
		err |= kms_attrs_set_ulong(pub, CKA_KEY_TYPE, CKK_EC);
		err |= kms_attrs_set(pub, CKA_EC_PARAMS, oid, oidlen);
		err |= kms_attrs_set(pub, CKA_EC_POINT, point, len);
		if (priv) {
			err |= kms_attrs_set_ulong(priv, CKA_KEY_TYPE, CKK_EC);
			err |= kms_attrs_set(priv, CKA_EC_PARAMS, oid, oidlen);
			err |= add_bn(priv, CKA_VALUE, pk, OSSL_PKEY_PARAM_PRIV_KEY);
		}
	} else if (EVP_PKEY_is_a(pk, "ED25519")) {
		*alg = "Ed25519";
		*bits = 256;
		len = 32;
		if (EVP_PKEY_get_raw_public_key(pk, buf, &len) != 1)
			return kms_fail(e, KMS_E_INPUT, "the Ed25519 key has no public key");
		point[0] = 0x04;
		point[1] = (uint8_t)len;
		memcpy(point + 2, buf, len);
		err |= kms_attrs_set_ulong(pub, CKA_KEY_TYPE, CKK_EC_EDWARDS);
		err |= kms_attrs_set(pub, CKA_EC_PARAMS, oid_ed25519, sizeof(oid_ed25519));
		err |= kms_attrs_set(pub, CKA_EC_POINT, point, len + 2);
		if (priv) {
			len = 32;
			err |= kms_attrs_set_ulong(priv, CKA_KEY_TYPE, CKK_EC_EDWARDS);
			err |= kms_attrs_set(priv, CKA_EC_PARAMS, oid_ed25519, sizeof(oid_ed25519));
			if (EVP_PKEY_get_raw_private_key(pk, buf, &len) != 1)
				err = -1;
			else
				err |= kms_attrs_set(priv, CKA_VALUE, buf, len);
		}
	} else {
		return kms_fail(e, KMS_E_INPUT, "the key is not RSA, EC or Ed25519");
	}
	kms_wipe(buf, sizeof(buf));
	return err ? kms_fail(e, KMS_E_INPUT, "%s: the key lacks a component PKCS#11 needs (a public key given as a "
				    "private key?)", priv ? "private_key" : "public_key")
		   : KMS_OK;
}

/* KMS_E_CONFLICT when tok holds the key already: its key id is the SHA-256 of its SubjectPublicKeyInfo. */
static int not_there(struct kms_token *tok, EVP_PKEY *pk, struct kms_err *e)
{
	unsigned char *der = NULL, md[32];
	int n = i2d_PUBKEY(pk, &der);
	char *hex = NULL;
	struct kms_key k;
	int ret = KMS_OK;

	if (n <= 0 || !kms_sha256() || EVP_Digest(der, (size_t)n, md, NULL, kms_sha256(), NULL) != 1 ||
	    !(hex = kms_hex_encode(md, sizeof(md))))
		ret = kms_fail(e, KMS_E_INTERNAL, "the public key cannot be encoded");
	else if (kms_key_load(tok, hex, &k, NULL) == KMS_OK) {
		const struct kms_attr *label = kms_attrs_get(kms_key_main(&k), CKA_LABEL);

		ret = kms_fail(e, KMS_E_CONFLICT, "the token holds this key already, as '%.*s' (key id %s)",
			       label ? (int)label->len : 0, label && label->val ? (const char *)label->val : "", hex);
		kms_key_free(&k);
	}
	OPENSSL_free(der);
	free(hex);
	return ret;
}

/* A kms_attrs list as a CK_ATTRIBUTE template (pointing into a). */
static CK_ATTRIBUTE *ck_template(const struct kms_attrs *a)
{
	CK_ATTRIBUTE *t = calloc(a->n ? a->n : 1, sizeof(*t));

	for (size_t i = 0; t && i < a->n; i++)
		t[i] = (CK_ATTRIBUTE){(CK_ATTRIBUTE_TYPE)a->v[i].type, a->v[i].val, (CK_ULONG)a->v[i].len};
	return t;
}

/* Creates one object from a; *h its handle. */
static CK_RV create(struct kms_login *l, const struct kms_attrs *a, CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE *t = ck_template(a);
	CK_RV rv;

	if (!t)
		return CKR_HOST_MEMORY;
	rv = kms_obj_create(l->s, t, (CK_ULONG)a->n, h);
	free(t);
	return rv;
}

/* The common attributes of an imported key's objects: token, name, privacy and extractability. */
static int common_attrs(struct kms_attrs *a, const struct kms_import *in, bool secret_half)
{
	int err = 0;

	err |= kms_attrs_set_bool(a, CKA_TOKEN, true);
	err |= kms_attrs_set(a, CKA_LABEL, in->c.name, strlen(in->c.name));
	if (secret_half) {
		err |= kms_attrs_set_bool(a, CKA_PRIVATE, true);
		err |= kms_attrs_set_bool(a, CKA_SENSITIVE, !in->c.extractable);
		err |= kms_attrs_set_bool(a, CKA_EXTRACTABLE, in->c.extractable);
	}
	return err;
}

int kms_import_check(const struct kms_import *in, struct kms_err *e)
{
	int given = (in->private_key != NULL) + (in->public_key != NULL) + (in->secret != NULL);

	if (given != 1)
		return kms_fail(e, KMS_E_INPUT, "import: give exactly one of private_key, public_key and secret");
	if (!in->c.name || !*in->c.name || strlen(in->c.name) > 255)
		return kms_fail(e, KMS_E_INPUT, "name: a key needs a name of 1 to 255 bytes");
	if (in->secret) {
		if (!in->c.algorithm || (strcasecmp(in->c.algorithm, "AES") && strcasecmp(in->c.algorithm, "HMAC")))
			return kms_fail(e, KMS_E_INPUT, "algorithm: a secret is imported as AES or HMAC");
		if (!strcasecmp(in->c.algorithm, "AES") ? (in->secret_len != 16 && in->secret_len != 24 && in->secret_len != 32)
							 : (in->secret_len < 32 || in->secret_len > 64))
			return kms_fail(e, KMS_E_INPUT, "secret: %zu bytes do not make an %s key (AES 16, 24 or 32; HMAC 32 to 64)",
					in->secret_len, in->c.algorithm);
	} else if (in->c.algorithm) {
		return kms_fail(e, KMS_E_INPUT, "algorithm: only a secret takes --algorithm (a key file says its own)");
	}
	if (in->passphrase && !in->private_key)
		return kms_fail(e, KMS_E_INPUT, "passphrase: only an encrypted private key takes one");
	{
		struct kms_create c = in->c;

		c.algorithm = "AES"; /* the naming facts only */
		c.size = 0;
		return kms_create_check(&c, e);
	}
}

/* *out gets the key whose new object h (key pair half or secret key) the call just made. */
static int load_made(struct kms_token *tok, CK_OBJECT_HANDLE h, struct kms_key *out, struct kms_err *e)
{
	struct kms_attrs r = KMS_ATTRS_INIT;
	const struct kms_attr *kid = kms_obj_read(tok, h, &r) == CKR_OK ? kms_attrs_get(&r, CKA_KMS11_KEY_ID) : NULL;
	char *kidstr = kid ? strndup((const char *)kid->val, kid->len) : NULL;
	int ret = kidstr ? kms_key_load(tok, kidstr, out, e) : kms_fail(e, KMS_E_INTERNAL, "the new key cannot be read back");

	free(kidstr);
	kms_attrs_free(&r);
	return ret;
}

int kms_key_import(struct kms_login *l, const struct kms_import *in, struct kms_key *out, struct kms_err *e)
{
	struct kms_attrs pub = KMS_ATTRS_INIT, priv = KMS_ATTRS_INIT, facts = KMS_ATTRS_INIT;
	struct kms_obj_batch batch = {.n = 0};
	CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
	EVP_PKEY *pk = NULL;
	const char *alg = NULL;
	unsigned long bits = 0;
	CK_RV rv;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = kms_import_check(in, e)) != KMS_OK || (ret = kms_name_free(l->tok, in->c.name, NULL, e)) != KMS_OK ||
	    (ret = kms_create_facts(&in->c, &facts, e)) != KMS_OK)
		goto out;
	if (in->secret) {
		bool aes = !strcasecmp(in->c.algorithm, "AES");
		int err = kms_attrs_set_ulong(&priv, CKA_CLASS, CKO_SECRET_KEY);

		err |= kms_attrs_set_ulong(&priv, CKA_KEY_TYPE, aes ? CKK_AES : CKK_GENERIC_SECRET);
		err |= common_attrs(&priv, in, true);
		err |= kms_attrs_set(&priv, CKA_VALUE, in->secret, in->secret_len);
		err |= kms_attrs_set_bool(&priv, CKA_ENCRYPT, aes);
		err |= kms_attrs_set_bool(&priv, CKA_DECRYPT, aes);
		err |= kms_attrs_set_bool(&priv, CKA_SIGN, !aes);
		err |= kms_attrs_set_bool(&priv, CKA_VERIFY, !aes);
		if (err) {
			ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
			goto out;
		}
	} else {
		pk = in->private_key ? decode(in->private_key, in->private_key_len, EVP_PKEY_KEYPAIR, in->passphrase)
				     : decode(in->public_key, in->public_key_len, EVP_PKEY_PUBLIC_KEY, NULL);
		if (!pk) {
			ret = kms_fail(e, KMS_E_INPUT, "%s: not a key in PEM or DER (PKCS#8, PKCS#1, SEC1%s)%s",
				       in->private_key ? "private_key" : "public_key", in->private_key ? ", encrypted PKCS#8" : ", SPKI",
				       in->private_key && !in->passphrase ? ", or encrypted without --passphrase" : "");
			goto out;
		}
		ret = key_attrs(pk, &pub, in->private_key ? &priv : NULL, &alg, &bits, e);
		if (ret == KMS_OK)
			ret = not_there(l->tok, pk, e);
		if (ret != KMS_OK)
			goto out;
		if (!strcmp(alg, "RSA") && (bits < 2048 || bits > 16384)) {
			ret = kms_fail(e, KMS_E_INPUT, "private_key: RSA keys of %lu bits are not taken (2048 to 16384)", bits);
			goto out;
		}
		if (common_attrs(&pub, in, false) || kms_attrs_set_bool(&pub, CKA_VERIFY, true) ||
		    (!strcmp(alg, "RSA") && kms_attrs_set_bool(&pub, CKA_ENCRYPT, true)) ||
		    (in->private_key && (common_attrs(&priv, in, true) || kms_attrs_set_bool(&priv, CKA_SIGN, true) ||
					 (!strcmp(alg, "RSA") && kms_attrs_set_bool(&priv, CKA_DECRYPT, true))))) {
			ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	/* Both halves of a pair are written in one store transaction, or neither. */
	kms_new_key_begin(l, &facts, &batch);
	rv = in->public_key ? CKR_OK : create(l, &priv, &hpriv);
	if (rv == CKR_OK && !in->secret)
		rv = create(l, &pub, &hpub);
	if (rv == CKR_OK)
		rv = kms_obj_batch_commit(l->s);
	kms_new_key_end(l);
	if (rv != CKR_OK) {
		ret = kms_fail_rv(e, "import", rv);
		goto out;
	}
	ret = load_made(l->tok, hpriv ? hpriv : hpub, out, e);
out:
	EVP_PKEY_free(pk);
	kms_attrs_free(&pub);
	kms_attrs_free(&priv);
	kms_attrs_free(&facts);
	return ret;
}

/* ---- bring your own key, and export ---- */

#define WRAPPING_KEY_NAME "kms11-wrapping-key"

/* CKM_RSA_AES_KEY_WRAP with a 256-bit AES key and OAEP SHA-256 (MGF1 SHA-256, no label). */
struct rsa_aes {
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	struct kms_ck_rsa_aes_key_wrap_params p;
	CK_MECHANISM m;
};

static void rsa_aes_mech(struct rsa_aes *r)
{
	r->oaep = (CK_RSA_PKCS_OAEP_PARAMS){CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
	r->p = (struct kms_ck_rsa_aes_key_wrap_params){256, &r->oaep};
	r->m = (CK_MECHANISM){CKM_RSA_AES_KEY_WRAP, &r->p, sizeof(r->p)};
}

int kms_wrapping_key(struct kms_login *l, struct kms_key *out, struct kms_err *e)
{
	struct kms_attrs t = KMS_ATTRS_INIT, facts = KMS_ATTRS_INIT;
	uint64_t *ids = NULL;
	size_t n = 0;
	char *kid = NULL;
	int ret = KMS_OK;
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	if (kms_attrs_set(&t, CKA_LABEL, WRAPPING_KEY_NAME, strlen(WRAPPING_KEY_NAME)) ||
	    kms_attrs_set_ulong(&t, CKA_CLASS, CKO_PRIVATE_KEY))
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	rv = kms_find_ids(l->tok, 0, &t, true, &ids, &n);
	kms_attrs_free(&t);
	if (rv == CKR_OK && n) {
		struct kms_attrs a = KMS_ATTRS_INIT;
		const struct kms_attr *k;

		if (kms_obj_read(l->tok, ids[0], &a) == CKR_OK && (k = kms_attrs_get(&a, CKA_KMS11_KEY_ID)) != NULL)
			kid = strndup((const char *)k->val, k->len);
		kms_attrs_free(&a);
	}
	free(ids);
	if (rv != CKR_OK)
		return kms_fail_rv(e, "find", rv);
	if (!kid) {
		/* The first call makes it: RSA-3072, tagged kms11-wrapping-key. */
		static const char tag[] = "kms11-wrapping-key";

		if (kms_attrs_set(&facts, CKA_KMS11_TAGS, tag, sizeof(tag)) ||
		    kms_attrs_set(&facts, CKA_KMS11_DESCRIPTION, "wraps keys brought into this token (kms11 key import --wrapped)",
				  strlen("wraps keys brought into this token (kms11 key import --wrapped)")))
			ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
		if (ret == KMS_OK) {
			kms_new_key_begin(l, &facts, NULL);
			ret = kms_make_key(l, "RSA", 3072, WRAPPING_KEY_NAME, false, NULL, 0, &kid, e);
			kms_new_key_end(l);
		}
		kms_attrs_free(&facts);
		if (ret != KMS_OK)
			return ret;
	}
	ret = kms_key_load(l->tok, kid, out, e);
	free(kid);
	return ret;
}

/* KMS_E_INPUT saying so when the token does not offer mechanism m for use (CKF_WRAP, CKF_UNWRAP): a pkcs11-engine
 * token offers only what its backend has. */
static int need_mech(struct kms_token *tok, CK_MECHANISM_TYPE m, const char *mname, CK_FLAGS use, const char *what,
		     struct kms_err *e)
{
	const struct kms_engine_mech *em = kms_mech_find(tok, m);
	char label[33];

	if (em && (em->flags & use))
		return KMS_OK;
	kms_token_label(tok, label);
	return kms_fail(e, KMS_E_INPUT, "%s: the token '%s' (%s engine) does not offer %s, which it needs", what, label,
			tok->eng->name, mname);
}

int kms_key_import_wrapped(struct kms_login *l, const struct kms_import *in, const uint8_t *wrapped, size_t len,
			   struct kms_key *out, struct kms_err *e)
{
	static const struct {
		const char *alg;
		CK_OBJECT_CLASS cls;
		CK_KEY_TYPE kt;
	} kinds[] = {{"AES", CKO_SECRET_KEY, CKK_AES},	       {"HMAC", CKO_SECRET_KEY, CKK_GENERIC_SECRET},
		     {"RSA", CKO_PRIVATE_KEY, CKK_RSA},	       {"ECDSA", CKO_PRIVATE_KEY, CKK_EC},
		     {"Ed25519", CKO_PRIVATE_KEY, CKK_EC_EDWARDS}};
	struct kms_attrs t = KMS_ATTRS_INIT, facts = KMS_ATTRS_INIT, pub = KMS_ATTRS_INIT;
	struct kms_obj_batch batch = {.n = 0};
	struct kms_key wk;
	struct rsa_aes ra;
	CK_ATTRIBUTE *ck = NULL;
	CK_OBJECT_HANDLE h = 0, hpub = 0;
	const struct kms_attr *spki;
	size_t i;
	int ret, err = 0;
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	for (i = 0; in->c.algorithm && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcasecmp(in->c.algorithm, kinds[i].alg))
			break;
	if (!in->c.algorithm || i == sizeof(kinds) / sizeof(kinds[0]))
		return kms_fail(e, KMS_E_INPUT, "algorithm: a wrapped key is AES, HMAC, RSA, ECDSA or Ed25519");
	if ((ret = need_mech(l->tok, CKM_RSA_AES_KEY_WRAP, "CKM_RSA_AES_KEY_WRAP", CKF_UNWRAP, "wrapped", e)) != KMS_OK)
		return ret;
	if ((ret = kms_name_free(l->tok, in->c.name, NULL, e)) != KMS_OK || (ret = kms_create_facts(&in->c, &facts, e)) != KMS_OK ||
	    (ret = kms_wrapping_key(l, &wk, e)) != KMS_OK) {
		kms_attrs_free(&facts);
		return ret;
	}
	err |= kms_attrs_set_ulong(&t, CKA_CLASS, kinds[i].cls);
	err |= kms_attrs_set_ulong(&t, CKA_KEY_TYPE, kinds[i].kt);
	err |= common_attrs(&t, in, true);
	if (kinds[i].cls == CKO_SECRET_KEY) {
		bool aes = kinds[i].kt == CKK_AES;

		err |= kms_attrs_set_bool(&t, CKA_ENCRYPT, aes);
		err |= kms_attrs_set_bool(&t, CKA_DECRYPT, aes);
		err |= kms_attrs_set_bool(&t, CKA_SIGN, !aes);
		err |= kms_attrs_set_bool(&t, CKA_VERIFY, !aes);
	} else {
		err |= kms_attrs_set_bool(&t, CKA_SIGN, true);
		err |= kms_attrs_set_bool(&t, CKA_DECRYPT, kinds[i].kt == CKK_RSA);
	}
	ck = err ? NULL : ck_template(&t);
	if (!ck) {
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
		goto out;
	}
	rsa_aes_mech(&ra);
	/* A private key and its public half are written in one store transaction, or neither. */
	kms_new_key_begin(l, &facts, &batch);
	rv = kms_obj_unwrap(l->s, &ra.m, wk.id_priv, wrapped, len, ck, (CK_ULONG)t.n, &h);
	if (rv == CKR_OK && kinds[i].cls == CKO_PRIVATE_KEY) {
		/* The public half, from the private key's SubjectPublicKeyInfo (held in the batch, not yet stored). */
		EVP_PKEY *pk = NULL;
		const char *alg;
		unsigned long bits;

		spki = batch.n == 1 ? kms_attrs_get(&batch.attrs[0], CKA_PUBLIC_KEY_INFO) : NULL;
		pk = spki ? decode(spki->val, spki->len, EVP_PKEY_PUBLIC_KEY, NULL) : NULL;
		if (!pk || key_attrs(pk, &pub, NULL, &alg, &bits, e) != KMS_OK || common_attrs(&pub, in, false) ||
		    kms_attrs_set_bool(&pub, CKA_VERIFY, true))
			rv = CKR_GENERAL_ERROR;
		else
			rv = create(l, &pub, &hpub);
		EVP_PKEY_free(pk);
	}
	if (rv == CKR_OK)
		rv = kms_obj_batch_commit(l->s);
	kms_new_key_end(l);
	if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_INVALID ||
	    rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_KEY_TYPE_INCONSISTENT) {
		ret = kms_fail(e, KMS_E_INPUT, "wrapped: it does not unwrap under this token's wrapping key as a %s key "
			       "(RSA-OAEP-SHA-256 of an AES-256 key, then RFC 5649)", kinds[i].alg);
		goto out;
	}
	if (rv != CKR_OK) {
		ret = kms_fail_rv(e, "unwrap", rv);
		goto out;
	}
	ret = load_made(l->tok, h, out, e);
out:
	free(ck);
	kms_key_free(&wk);
	kms_attrs_free(&t);
	kms_attrs_free(&facts);
	kms_attrs_free(&pub);
	return ret;
}

/* AES key unwrap with padding (RFC 5649) of in under key, in kms11's library context; *out secure memory. */
static int kwp_open(const uint8_t *key, const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(kms_libctx(), "AES-256-WRAP-PAD", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, ok = 0;

	*out = kms_secure_alloc(len ? len : 1);
	if (c && ctx && *out && EVP_DecryptInit_ex2(ctx, c, key, NULL, NULL) == 1 &&
	    EVP_DecryptUpdate(ctx, *out, &n, in, (int)len) == 1 && EVP_DecryptFinal_ex(ctx, *out + n, &m) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	if (!ok) {
		kms_secure_free(*out);
		*out = NULL;
		return -1;
	}
	*outlen = (size_t)(n + m);
	return 0;
}

int kms_key_export(struct kms_login *l, struct kms_key *k, const uint8_t *wrap_pub, size_t wrap_len, uint8_t **out,
		   size_t *outlen, struct kms_err *e)
{
	struct kms_attrs t = KMS_ATTRS_INIT, wp = KMS_ATTRS_INIT;
	const struct kms_attrs *secret = k->has_sec ? &k->sec : k->has_priv ? &k->priv : NULL;
	uint64_t target = k->has_sec ? k->id_sec : k->id_priv;
	CK_OBJECT_HANDLE tmp = 0;
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0};
	struct rsa_aes ra;
	uint8_t key[32], *wrapped = NULL;
	CK_ULONG wlen = 0;
	EVP_PKEY *pk = NULL;
	CK_RV rv;
	int ret = KMS_OK, err = 0;

	*out = NULL;
	if (!secret)
		return kms_fail(e, KMS_E_INPUT, "the key has no private or secret part to export (a public key)");
	if (!kms_attrs_get_bool(secret, CKA_EXTRACTABLE, false))
		return kms_fail(e, KMS_E_DENIED, "the key was not made extractable: it never leaves the token");
	ret = wrap_pub ? need_mech(l->tok, CKM_RSA_AES_KEY_WRAP, "CKM_RSA_AES_KEY_WRAP", CKF_WRAP, "export", e)
		       : need_mech(l->tok, CKM_AES_KEY_WRAP_KWP, "CKM_AES_KEY_WRAP_KWP", CKF_WRAP, "export", e);
	if (ret != KMS_OK)
		return ret;
	/* A session key to wrap under: the receiver's RSA public key, or a fresh AES key kms11 then opens itself. */
	if (wrap_pub) {
		const char *alg;
		unsigned long bits;

		pk = decode(wrap_pub, wrap_len, EVP_PKEY_PUBLIC_KEY, NULL);
		if (!pk || !EVP_PKEY_is_a(pk, "RSA")) {
			EVP_PKEY_free(pk);
			return kms_fail(e, KMS_E_INPUT, "wrapping_key: not an RSA public key in PEM or DER");
		}
		ret = key_attrs(pk, &wp, NULL, &alg, &bits, e);
		EVP_PKEY_free(pk);
		err |= kms_attrs_set_bool(&wp, CKA_TOKEN, false);
		err |= kms_attrs_set_bool(&wp, CKA_WRAP, true);
	} else {
		rv = kms_random(l->s, key, sizeof(key));
		if (rv != CKR_OK)
			return kms_fail_rv(e, "random", rv);
		err |= kms_attrs_set_ulong(&wp, CKA_CLASS, CKO_SECRET_KEY);
		err |= kms_attrs_set_ulong(&wp, CKA_KEY_TYPE, CKK_AES);
		err |= kms_attrs_set_bool(&wp, CKA_TOKEN, false);
		err |= kms_attrs_set_bool(&wp, CKA_WRAP, true);
		err |= kms_attrs_set(&wp, CKA_VALUE, key, sizeof(key));
	}
	if (ret == KMS_OK && err)
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
	if (ret == KMS_OK && (rv = create(l, &wp, &tmp)) != CKR_OK)
		ret = kms_fail_rv(e, "wrapping key", rv);
	if (ret == KMS_OK) {
		CK_MECHANISM *m = &kwp;

		if (wrap_pub) {
			rsa_aes_mech(&ra);
			m = &ra.m;
		}
		rv = kms_obj_wrap(l->s, m, tmp, target, NULL, &wlen);
		if (rv == CKR_OK && !(wrapped = malloc(wlen ? wlen : 1)))
			rv = CKR_HOST_MEMORY;
		if (rv == CKR_OK)
			rv = kms_obj_wrap(l->s, m, tmp, target, wrapped, &wlen);
		if (rv == CKR_KEY_UNEXTRACTABLE)
			ret = kms_fail(e, KMS_E_DENIED, "the key was not made extractable: it never leaves the token");
		else if (rv != CKR_OK)
			ret = kms_fail_rv(e, "export", rv);
	}
	if (ret == KMS_OK && wrap_pub) {
		*out = kms_secure_dup(wrapped, wlen);
		*outlen = wlen;
		if (!*out)
			ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
	} else if (ret == KMS_OK && kwp_open(key, wrapped, wlen, out, outlen) != 0) {
		ret = kms_fail(e, KMS_E_INTERNAL, "the exported key cannot be opened");
	}
	if (tmp)
		kms_obj_destroy(l->s, tmp);
	kms_wipe(key, sizeof(key));
	free(wrapped);
	kms_attrs_free(&t);
	kms_attrs_free(&wp);
	return ret;
}

/* ---- adopting a key the engine holds already ---- */

int kms_key_adopt(struct kms_login *l, const struct kms_create *c, const char *blabel, const uint8_t *bid, size_t bidlen,
		  struct kms_key *out, struct kms_err *e)
{
	struct kms_attrs priv = KMS_ATTRS_INIT, pub = KMS_ATTRS_INIT, facts = KMS_ATTRS_INIT;
	CK_OBJECT_HANDLE hpub = 0, hkey = 0;
	char label[33];
	CK_RV rv;
	int ret, err = 0;

	memset(out, 0, sizeof(*out));
	if (!l->tok->eng->adopt) {
		kms_token_label(l->tok, label);
		return kms_fail(e, KMS_E_INPUT, "engine_id: the token '%s' (%s engine) holds no keys it did not make",
				label, l->tok->eng->name);
	}
	if ((ret = kms_name_free(l->tok, c->name, NULL, e)) != KMS_OK || (ret = kms_create_facts(c, &facts, e)) != KMS_OK)
		goto out;
	err |= kms_attrs_set_bool(&priv, CKA_TOKEN, true);
	err |= kms_attrs_set(&priv, CKA_LABEL, c->name, strlen(c->name));
	err |= kms_attrs_set_bool(&priv, CKA_PRIVATE, true);
	err |= kms_attrs_set_bool(&pub, CKA_TOKEN, true);
	err |= kms_attrs_set(&pub, CKA_LABEL, c->name, strlen(c->name));
	if (err) {
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
		goto out;
	}
	kms_new_key_begin(l, &facts, NULL);
	rv = kms_obj_adopt(l->s, blabel, bid, bidlen, &priv, &pub, &hpub, &hkey);
	kms_new_key_end(l);
	switch (rv) {
	case CKR_OK:
		break;
	case CKR_KEY_HANDLE_INVALID:
		ret = kms_fail(e, KMS_E_NOTFOUND, "the backend holds no private or secret key with that %s",
			       blabel ? "label" : "CKA_ID");
		goto out;
	case CKR_TEMPLATE_INCONSISTENT:
		ret = kms_fail(e, KMS_E_INPUT, "%s: more than one backend key answers to it (or to its CKA_ID); name it by "
			       "a CKA_ID no other key has", blabel ? "backend_label" : "backend_id");
		goto out;
	case CKR_TEMPLATE_INCOMPLETE:
		ret = kms_fail(e, KMS_E_INPUT, "the backend private key has no public key of the same CKA_ID to serve");
		goto out;
	case CKR_ACTION_PROHIBITED:
		ret = kms_fail(e, KMS_E_CONFLICT, "the backend key is a kms11 key already (made or adopted before)");
		goto out;
	default:
		ret = kms_fail_rv(e, "adopt", rv);
		goto out;
	}
	ret = load_made(l->tok, hkey, out, e);
out:
	kms_attrs_free(&priv);
	kms_attrs_free(&pub);
	kms_attrs_free(&facts);
	return ret;
}
