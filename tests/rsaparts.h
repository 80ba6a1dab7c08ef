/* SPDX-License-Identifier: Apache-2.0 */
/* The eight numbers of an RSA private key: OpenSSL's parameter names and the PKCS#11 attributes, in one order. */
#ifndef KMS_TESTS_RSAPARTS_H
#define KMS_TESTS_RSAPARTS_H

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#define RSA_PARTS 8
static const char *const rsa_part_names[RSA_PARTS] = {
	OSSL_PKEY_PARAM_RSA_N,	       OSSL_PKEY_PARAM_RSA_E,	      OSSL_PKEY_PARAM_RSA_D,
	OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
	OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
static const CK_ATTRIBUTE_TYPE rsa_part_types[RSA_PARTS] = {
	CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
	CKA_PRIME_2, CKA_EXPONENT_1,	  CKA_EXPONENT_2,	CKA_COEFFICIENT};

/* Sets t[0..n) to the first n parts of pk as PKCS#11 attributes (n = 2: the public key; RSA_PARTS: all of
 * it), their values written into buf. 0, or -1 when pk lacks a part. */
static inline int rsa_parts_attrs(EVP_PKEY *pk, size_t n, CK_ATTRIBUTE *t, CK_BYTE (*buf)[512])
{
	for (size_t i = 0; i < n; i++) {
		BIGNUM *bn = NULL;

		if (EVP_PKEY_get_bn_param(pk, rsa_part_names[i], &bn) != 1)
			return -1;
		t[i].type = rsa_part_types[i];
		t[i].pValue = buf[i];
		t[i].ulValueLen = (CK_ULONG)BN_bn2bin(bn, buf[i]);
		BN_clear_free(bn);
	}
	return 0;
}

#endif
