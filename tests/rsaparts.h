/* SPDX-License-Identifier: Apache-2.0 */
/* The eight numbers of an RSA private key: OpenSSL's parameter names and the PKCS#11 attributes, in one order. */
#ifndef KMS_TESTS_RSAPARTS_H
#define KMS_TESTS_RSAPARTS_H

#include <openssl/core_names.h>
#include <p11-kit/pkcs11.h>

#define RSA_PARTS 8
static const char *const rsa_part_names[RSA_PARTS] = {
	OSSL_PKEY_PARAM_RSA_N,	       OSSL_PKEY_PARAM_RSA_E,	      OSSL_PKEY_PARAM_RSA_D,
	OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
	OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
static const CK_ATTRIBUTE_TYPE rsa_part_types[RSA_PARTS] = {
	CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
	CKA_PRIME_2, CKA_EXPONENT_1,	  CKA_EXPONENT_2,	CKA_COEFFICIENT};

#endif
