/* SPDX-License-Identifier: Apache-2.0 */
/* RSA-OAEP decryption a backend cannot do itself (SoftHSMv2 2.6 has OAEP with SHA-1 only): the backend's raw
 * RSA (CKM_RSA_X_509) and OpenSSL's constant-time OAEP decoding in kms11's library context. */

/* RSA_padding_check_PKCS1_OAEP_mgf1 is deprecated in OpenSSL 3 but is its only OAEP decoder that takes a
 * decrypted block; this file alone uses it. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <limits.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/osslctx.h"
#include "engines/pkcs11/p11.h"

bool p11_oaep_params_ok(const CK_RSA_PKCS_OAEP_PARAMS *p)
{
	return p11_hash_of(P11_BY_HASH, p->hashAlg) && p11_hash_of(P11_BY_MGF, p->mgf) &&
	       (p->source == 0 || p->source == CKZ_DATA_SPECIFIED) && (p->pSourceData || !p->ulSourceDataLen);
}

CK_RV p11_oaep_unpad(const CK_RSA_PKCS_OAEP_PARAMS *p, const uint8_t *em, size_t k, uint8_t *out, size_t *outlen)
{
	const EVP_MD *md = p11_hash_md(p11_hash_of(P11_BY_HASH, p->hashAlg));
	const EVP_MD *mgf = p11_hash_md(p11_hash_of(P11_BY_MGF, p->mgf));
	int n = -1;

	if (md && mgf && k <= INT_MAX && *outlen <= INT_MAX && p->ulSourceDataLen <= INT_MAX)
		n = RSA_padding_check_PKCS1_OAEP_mgf1(out, (int)*outlen, em, (int)k, (int)k, p->pSourceData,
						      (int)p->ulSourceDataLen, md, mgf);
	if (n < 0)
		return CKR_ENCRYPTED_DATA_INVALID;
	*outlen = (size_t)n;
	return CKR_OK;
}
