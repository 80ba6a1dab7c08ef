/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine key derivation: ECDH on P-256/384/521, X25519 and X448, with the ANSI X9.63 KDF; HKDF
 * (RFC 5869: extract, expand or both) into a secret key or a data object's value. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "common/osslctx.h"
#include "common/mem.h"
#include "engines/openssl/ossl.h"

#define SHARED_DATA_MAX 1024

/* The peer's public value: a raw point, or one wrapped in a DER OCTET STRING. */
static const uint8_t *peer_point(const uint8_t *p, size_t n, size_t want, size_t *len)
{
	if (n == want || (want == 0 && n > 0 && p[0] == 0x04))
		goto raw;
	if (n >= 2 && p[0] == 0x04) {
		size_t hdr = 2, l = p[1];

		if (p[1] == 0x81 && n >= 3) {
			l = p[2];
			hdr = 3;
		} else if (p[1] & 0x80) {
			goto raw;
		}
		if (hdr + l == n && (want == 0 || l == want)) {
			*len = l;
			return p + hdr;
		}
	}
raw:
	*len = n;
	return p;
}

/* A public key of the base key's kind from the peer's value. */
static EVP_PKEY *peer_key(struct kms_engine_key *base, const uint8_t *pub, size_t len)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx;
	OSSL_PARAM p[3];
	char group[64];
	const uint8_t *pt;
	size_t ptlen;

	if (base->kt == CKK_EC_MONTGOMERY) {
		/* X25519 or X448: the peer's raw u-coordinate, as long as the base key's */
		pt = peer_point(pub, len, base->size, &ptlen);
		return ptlen == base->size ? EVP_PKEY_new_raw_public_key_ex(kms_libctx(), base->size == 32 ? "X25519" : "X448",
									    NULL, pt, ptlen)
					   : NULL;
	}
	pt = peer_point(pub, len, 0, &ptlen);
	if (!ptlen || pt[0] != 0x04 || ptlen != 1 + 2 * base->size)
		return NULL;
	if (EVP_PKEY_get_utf8_string_param(base->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1)
		return NULL;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, ptlen);
	p[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(kms_libctx(), "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, p) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	if (pk) {
		/* the point must be on the curve */
		EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(kms_libctx(), pk, NULL);

		if (!chk || EVP_PKEY_public_check(chk) != 1) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
		EVP_PKEY_CTX_free(chk);
	}
	return pk;
}

/* The hash of a CKD_*_KDF, NULL for CKD_NULL; *ok false for an unknown KDF. */
static const char *kdf_hash(unsigned long kdf, bool *ok)
{
	*ok = true;
	switch (kdf) {
	case CKD_NULL:
		return NULL;
	case CKD_SHA1_KDF:
		return "SHA1";
	case CKD_SHA224_KDF:
		return "SHA224";
	case CKD_SHA256_KDF:
		return "SHA256";
	case CKD_SHA384_KDF:
		return "SHA384";
	case CKD_SHA512_KDF:
		return "SHA512";
	default:
		*ok = false;
		return NULL;
	}
}

/* ANSI X9.63 KDF of z with the shared info into out. */
static CK_RV x963(const char *hash, const uint8_t *z, size_t zlen, const uint8_t *info, size_t infolen, uint8_t *out,
		  size_t len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(kms_libctx(), "X963KDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[4];
	int n = 0;
	CK_RV rv;

	p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)hash, 0);
	p[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen);
	if (infolen)
		p[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	p[n] = OSSL_PARAM_construct_end();
	rv = ctx && EVP_KDF_derive(ctx, out, len, p) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rv;
}

#define HKDF_MAX_BLOCKS 255 /* RFC 5869: L <= 255 * HashLen */

/* The HKDF salt of params (NULL, 0 for CKF_HKDF_SALT_NULL: OpenSSL then uses HashLen zero bytes, as RFC
 * 5869 says); CKR_MECHANISM_PARAM_INVALID for a bad salt. */
static CK_RV hkdf_salt(const struct kms_ck_hkdf_params *hp, const struct kms_secretgen_params *p, const uint8_t **salt,
		       size_t *saltlen)
{
	*salt = NULL;
	*saltlen = 0;
	if (!hp->bExtract)
		return CKR_OK;
	switch (hp->ulSaltType) {
	case CKF_HKDF_SALT_NULL:
		return CKR_OK;
	case CKF_HKDF_SALT_DATA:
		if (!hp->pSalt || !hp->ulSaltLen)
			return CKR_MECHANISM_PARAM_INVALID;
		*salt = hp->pSalt;
		*saltlen = hp->ulSaltLen;
		return CKR_OK;
	case CKF_HKDF_SALT_KEY:
		if (!p->salt_key || !p->salt_key->secret)
			return CKR_MECHANISM_PARAM_INVALID;
		*salt = p->salt_key->secret;
		*saltlen = p->salt_key->size;
		return CKR_OK;
	default:
		return CKR_MECHANISM_PARAM_INVALID;
	}
}

/* CKM_HKDF_DERIVE and CKM_HKDF_DATA from a generic secret or HKDF key. Without expansion the output is the
 * pseudorandom key (HashLen bytes); with it, p->len bytes (required). p->key_type CK_UNAVAILABLE_INFORMATION:
 * the bytes of a data object (out->blob only). */
static CK_RV hkdf(struct ossl_inst *in, const CK_MECHANISM *mech, struct kms_engine_key *base,
		  const struct kms_secretgen_params *p, struct kms_key_material *out)
{
	const struct kms_ck_hkdf_params *hp = mech->pParameter;
	bool data = p->key_type == CK_UNAVAILABLE_INFORMATION;
	const uint8_t *salt;
	size_t saltlen, mdlen, len = p->len;
	const EVP_MD *md;
	OSSL_PARAM prm[6], *q = prm;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	uint8_t *key = NULL;
	int mode;
	CK_RV rv;

	if (!hp || mech->ulParameterLen != sizeof(*hp) || (!hp->bExtract && !hp->bExpand) ||
	    (hp->ulInfoLen && !hp->pInfo))
		return CKR_MECHANISM_PARAM_INVALID;
	if (!base || !base->secret || (base->kt != CKK_GENERIC_SECRET && base->kt != CKK_HKDF))
		return CKR_KEY_TYPE_INCONSISTENT;
	md = ossl_md_for_mech(in, hp->prfHashMechanism);
	if (!md)
		return CKR_MECHANISM_PARAM_INVALID;
	rv = hkdf_salt(hp, p, &salt, &saltlen);
	if (rv != CKR_OK)
		return rv;
	mdlen = (size_t)EVP_MD_get_size(md);
	if (!hp->bExpand) {
		if (len && len != mdlen)
			return CKR_TEMPLATE_INCONSISTENT;
		len = mdlen;
	} else if (!len) {
		return CKR_TEMPLATE_INCOMPLETE;
	} else if (len > HKDF_MAX_BLOCKS * mdlen) {
		return CKR_TEMPLATE_INCONSISTENT;
	}
	if (!data && !ossl_secret_len_ok(p->key_type, len))
		return CKR_TEMPLATE_INCONSISTENT;
	mode = hp->bExtract && hp->bExpand ? EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND
	       : hp->bExtract		   ? EVP_KDF_HKDF_MODE_EXTRACT_ONLY
					   : EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	*q++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, base->secret, base->size);
	if (salt)
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	if (hp->bExpand && hp->ulInfoLen)
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, hp->pInfo, hp->ulInfoLen);
	*q = OSSL_PARAM_construct_end();
	key = kms_secure_alloc(len);
	kdf = EVP_KDF_fetch(kms_libctx(), "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (!key || !kctx)
		rv = CKR_HOST_MEMORY;
	else if (EVP_KDF_derive(kctx, key, len, prm) != 1)
		rv = CKR_FUNCTION_FAILED;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	if (rv != CKR_OK) {
		kms_secure_free(key);
		return rv;
	}
	if (data) {
		memset(out, 0, sizeof(*out));
		out->blob = key;
		out->blob_len = len;
		return CKR_OK;
	}
	return ossl_secret_material(in, p->key_type, key, len, out);
}

CK_RV ossl_derive(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *base,
		  const struct kms_secretgen_params *p, struct kms_key_material *out)
{
	const CK_ECDH1_DERIVE_PARAMS *dp = mech->pParameter;
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *z = NULL, *key = NULL;
	size_t zlen = 0, len = p->len;
	const char *hash;
	bool ok;
	CK_RV rv;

	if (mech->mechanism == CKM_HKDF_DERIVE || mech->mechanism == CKM_HKDF_DATA)
		return hkdf(inst, mech, base, p, out);
	if (mech->mechanism != CKM_ECDH1_DERIVE)
		return CKR_MECHANISM_INVALID;
	if (!base || !base->pkey || !base->priv || (base->kt != CKK_EC && base->kt != CKK_EC_MONTGOMERY))
		return CKR_KEY_TYPE_INCONSISTENT;
	if (!dp || mech->ulParameterLen != sizeof(*dp) || !dp->public_data || !dp->public_data_len ||
	    (!dp->shared_data && dp->shared_data_len) || dp->shared_data_len > SHARED_DATA_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	hash = kdf_hash(dp->kdf, &ok);
	if (!ok || (!hash && dp->shared_data_len))
		return CKR_MECHANISM_PARAM_INVALID;
	peer = peer_key(base, dp->public_data, dp->public_data_len);
	if (!peer)
		return CKR_MECHANISM_PARAM_INVALID;
	ctx = EVP_PKEY_CTX_new_from_pkey(kms_libctx(), base->pkey, NULL);
	rv = CKR_GENERAL_ERROR;
	if (!ctx || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
	    EVP_PKEY_derive(ctx, NULL, &zlen) != 1)
		goto out;
	z = kms_secure_alloc(zlen);
	if (!z) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (EVP_PKEY_derive(ctx, z, &zlen) != 1) {
		rv = CKR_MECHANISM_PARAM_INVALID; /* e.g. an X25519 point of small order */
		goto out;
	}
	if (!len) {
		/* Without CKA_VALUE_LEN: the shared secret's length (AES takes the longest size that fits). */
		len = zlen;
		if (p->key_type == CKK_AES)
			len = zlen >= 32 ? 32 : zlen >= 24 ? 24 : 16;
		else if (hash)
			len = zlen > 512 ? 512 : zlen;
	}
	if (!hash && len > zlen) {
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	if (!ossl_secret_len_ok(p->key_type, len)) {
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	key = kms_secure_alloc(len);
	if (!key) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (hash) {
		rv = x963(hash, z, zlen, dp->shared_data, dp->shared_data_len, key, len);
	} else {
		memcpy(key, z, len); /* the leftmost bytes of the shared secret */
		rv = CKR_OK;
	}
	if (rv == CKR_OK) {
		rv = ossl_secret_material(inst, p->key_type, key, len, out);
		key = NULL; /* taken over */
	}
out:
	kms_secure_free(key);
	kms_secure_free(z);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return rv;
}
