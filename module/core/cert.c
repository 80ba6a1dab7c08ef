/* SPDX-License-Identifier: Apache-2.0 */
/* X.509 certificate objects: the attributes PKCS#11 3.0 (section 4.6.3) derives from the DER, checked against the template. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/osslctx.h"
#include "module/core/cert.h"

/* Sets type to the derived value when the template left it out (or empty); a different value is
 * CKR_TEMPLATE_INCONSISTENT. */
static CK_RV derive_attr(struct kms_attrs *a, CK_ATTRIBUTE_TYPE type, const uint8_t *val, size_t len)
{
	const struct kms_attr *have = kms_attrs_get(a, type);

	if (have && have->len) {
		if (have->len != len || memcmp(have->val, val, len) != 0)
			return CKR_TEMPLATE_INCONSISTENT;
		return CKR_OK;
	}
	return kms_attrs_set(a, type, val, len) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

/* Derives a DER-encoded value with an i2d function. */
#define DERIVE_DER(a, type, i2d, obj)                                                                     \
	({                                                                                                  \
		uint8_t *der_ = NULL;                                                                       \
		int n_ = i2d((obj), &der_);                                                                 \
		CK_RV r_ = n_ > 0 ? derive_attr((a), (type), der_, (size_t)n_) : CKR_ATTRIBUTE_VALUE_INVALID; \
		OPENSSL_free(der_);                                                                         \
		r_;                                                                                         \
	})

/* CK_DATE (YYYYMMDD) of an ASN1_TIME. */
static CK_RV derive_date(struct kms_attrs *a, CK_ATTRIBUTE_TYPE type, const ASN1_TIME *t)
{
	struct tm tm;
	char d[32];

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	snprintf(d, sizeof(d), "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return derive_attr(a, type, (const uint8_t *)d, 8);
}

/* A CK_ULONG attribute with a default and a largest allowed value. */
static CK_RV ulong_in_range(struct kms_attrs *a, CK_ATTRIBUTE_TYPE type, unsigned long dflt, unsigned long max)
{
	unsigned long v;

	if (!kms_attrs_get(a, type))
		return kms_attrs_set_ulong(a, type, dflt) == 0 ? CKR_OK : CKR_HOST_MEMORY;
	if (kms_attrs_get_ulong(a, type, &v) != 0 || v > max)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	return CKR_OK;
}

/* A digest in kms11's own library context; CKR_GENERAL_ERROR when it cannot be made. */
static CK_RV digest(const char *name, const uint8_t *in, size_t len, uint8_t *md)
{
	return EVP_Q_digest(kms_libctx(), name, NULL, in, len, md, NULL) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
}

/* Parses a certificate into an X509 of kms11's library context (its key is decoded there too); with whole,
 * bytes after the certificate make it fail. */
static X509 *x509_parse(const uint8_t *der, size_t len, bool whole)
{
	const unsigned char *p = der;
	X509 *x = X509_new_ex(kms_libctx(), NULL);

	if (x && (!d2i_X509(&x, &p, (long)len) || (whole && p != der + len))) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* The hash of the subject public key (the BIT STRING contents), with the name hash algorithm. */
static CK_RV key_hash(X509 *x, unsigned long alg, uint8_t *md, size_t *len)
{
	const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);

	if (!bits)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*len = alg == CKM_SHA256 ? SHA256_DIGEST_LENGTH : SHA_DIGEST_LENGTH;
	return digest(alg == CKM_SHA256 ? "SHA256" : "SHA1", bits->data, (size_t)bits->length, md);
}

/* The issuer's key hash: the subject's for a self-signed certificate, else the authority key identifier
 * when it is a SHA-1 one; nothing otherwise. */
static CK_RV issuer_hash(struct kms_attrs *a, X509 *x, unsigned long alg, const uint8_t *own, size_t ownlen)
{
	const ASN1_OCTET_STRING *akid;
	EVP_PKEY *pk;
	bool self = false;

	if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0) {
		pk = X509_get0_pubkey(x);
		self = pk && X509_verify(x, pk) == 1;
	}
	if (self)
		return derive_attr(a, CKA_HASH_OF_ISSUER_PUBLIC_KEY, own, ownlen);
	akid = X509_get0_authority_key_id(x);
	if (alg == CKM_SHA_1 && akid && akid->length == SHA_DIGEST_LENGTH)
		return derive_attr(a, CKA_HASH_OF_ISSUER_PUBLIC_KEY, akid->data, (size_t)akid->length);
	if (!kms_attrs_get(a, CKA_HASH_OF_ISSUER_PUBLIC_KEY))
		return kms_attrs_set(a, CKA_HASH_OF_ISSUER_PUBLIC_KEY, NULL, 0) == 0 ? CKR_OK : CKR_HOST_MEMORY;
	return CKR_OK;
}

CK_RV kms_cert_spki(const uint8_t *der, size_t len, uint8_t **spki, size_t *spki_len)
{
	X509 *x = x509_parse(der, len, true);
	uint8_t *out = NULL;
	int n;

	if (!x)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &out);
	X509_free(x);
	if (n <= 0)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*spki = malloc((size_t)n);
	if (*spki)
		memcpy(*spki, out, (size_t)n);
	*spki_len = (size_t)n;
	OPENSSL_free(out);
	return *spki ? CKR_OK : CKR_HOST_MEMORY;
}

CK_RV kms_cert_complete(struct kms_attrs *a)
{
	const struct kms_attr *val = kms_attrs_get(a, CKA_VALUE);
	const struct kms_attr *tr = kms_attrs_get(a, CKA_TRUSTED);
	bool has_trusted = tr != NULL;
	const uint8_t *der;
	size_t derlen;
	unsigned long ct, alg;
	uint8_t md[SHA256_DIGEST_LENGTH], *spki = NULL;
	size_t mdlen = 0;
	X509 *x = NULL;
	int n;
	CK_RV rv;

	if (!kms_attrs_get(a, CKA_CERTIFICATE_TYPE))
		return CKR_TEMPLATE_INCOMPLETE;
	if (kms_attrs_get_ulong(a, CKA_CERTIFICATE_TYPE, &ct) != 0 || ct != CKC_X_509)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (!val || !val->len)
		return CKR_TEMPLATE_INCOMPLETE;
	/* the list's entries move as attributes are added; the value buffers do not */
	der = val->val;
	derlen = val->len;
	if (tr && tr->len != sizeof(CK_BBOOL))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	rv = ulong_in_range(a, CKA_CERTIFICATE_CATEGORY, 0, 3);
	if (rv == CKR_OK)
		rv = ulong_in_range(a, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0, 3);
	if (rv == CKR_OK)
		rv = ulong_in_range(a, CKA_NAME_HASH_ALGORITHM, CKM_SHA_1, CKM_SHA256);
	if (rv != CKR_OK)
		return rv;
	kms_attrs_get_ulong(a, CKA_NAME_HASH_ALGORITHM, &alg);
	if (alg != CKM_SHA_1 && alg != CKM_SHA256)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	x = x509_parse(der, derlen, true);
	if (!x) {
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	rv = DERIVE_DER(a, CKA_SUBJECT, i2d_X509_NAME, X509_get_subject_name(x));
	if (rv == CKR_OK)
		rv = DERIVE_DER(a, CKA_ISSUER, i2d_X509_NAME, X509_get_issuer_name(x));
	if (rv == CKR_OK)
		rv = DERIVE_DER(a, CKA_SERIAL_NUMBER, i2d_ASN1_INTEGER, X509_get_serialNumber(x));
	if (rv == CKR_OK)
		rv = derive_date(a, CKA_START_DATE, X509_get0_notBefore(x));
	if (rv == CKR_OK)
		rv = derive_date(a, CKA_END_DATE, X509_get0_notAfter(x));
	if (rv == CKR_OK) {
		n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
		rv = n > 0 ? derive_attr(a, CKA_PUBLIC_KEY_INFO, spki, (size_t)n) : CKR_ATTRIBUTE_VALUE_INVALID;
		/* CKA_ID: as for key pairs, the SHA-256 of the SubjectPublicKeyInfo */
		if (rv == CKR_OK && (!kms_attrs_get(a, CKA_ID) || !kms_attrs_get(a, CKA_ID)->len)) {
			rv = digest("SHA256", spki, (size_t)n, md);
			if (rv == CKR_OK)
				rv = kms_attrs_set(a, CKA_ID, md, SHA256_DIGEST_LENGTH) == 0 ? CKR_OK : CKR_HOST_MEMORY;
		}
		OPENSSL_free(spki);
	}
	if (rv == CKR_OK)
		rv = key_hash(x, alg, md, &mdlen);
	if (rv == CKR_OK)
		rv = derive_attr(a, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, md, mdlen);
	if (rv == CKR_OK)
		rv = issuer_hash(a, x, alg, md, mdlen);
	if (rv == CKR_OK)
		rv = digest("SHA1", der, derlen, md);
	if (rv == CKR_OK)
		rv = derive_attr(a, CKA_CHECK_VALUE, md, 3);
	if (rv == CKR_OK && !has_trusted && kms_attrs_set_bool(a, CKA_TRUSTED, false) != 0)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK && !kms_attrs_get(a, CKA_URL) && kms_attrs_set(a, CKA_URL, NULL, 0) != 0)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK && !kms_attrs_get(a, CKA_LABEL) && kms_attrs_set(a, CKA_LABEL, NULL, 0) != 0)
		rv = CKR_HOST_MEMORY;
	X509_free(x);
	return rv;
}
