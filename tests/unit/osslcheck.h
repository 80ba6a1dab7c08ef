/* SPDX-License-Identifier: Apache-2.0 */
/* Checks of the module's output with OpenSSL, shared by the unit tests. */
#ifndef KMS_TESTS_OSSLCHECK_H
#define KMS_TESTS_OSSLCHECK_H

#include <stdbool.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

/* Whether OpenSSL accepts the module's r||s ECDSA signature over SHA-256 of msg. */
static inline bool ossl_ecdsa_ok(EVP_PKEY *pk, const void *msg, size_t len, const CK_BYTE *sig, size_t siglen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int derlen;
	bool ok;

	ck_assert_int_eq(ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)siglen / 2, NULL),
					BN_bin2bn(sig + siglen / 2, (int)siglen / 2, NULL)),
			 1);
	derlen = i2d_ECDSA_SIG(es, &der);
	ck_assert_int_gt(derlen, 0);
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
	     EVP_DigestVerify(md, der, (size_t)derlen, msg, len) == 1;
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(es);
	return ok;
}

#endif
