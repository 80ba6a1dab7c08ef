/* SPDX-License-Identifier: Apache-2.0 */
/* RSA private keys held so that OpenSSL keeps no Montgomery context of p and q in ordinary memory. */

/* RSA_METHOD and the legacy RSA key calls are deprecated in OpenSSL 3 but remain its only way to say
 * "do not cache the private Montgomery contexts"; this file alone uses them. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "engines/openssl/ossl.h"

/*
 * OpenSSL's RSA code keeps, for each key used privately, Montgomery contexts for p and q
 * (RSA_FLAG_CACHE_PRIVATE). Their moduli (and R^2 mod p, from which p follows) are plain copies in
 * heap memory, where a core dump of a process that has signed once carries them; the key's own p, q
 * and d are in the secure heap. A key decoded here is a legacy RSA object (its numbers in the secure
 * heap, as the PKCS#1 decoder puts them) with a copy of OpenSSL's own method that lacks that flag and
 * computes the CRT exponentiation itself (below), with Montgomery contexts that live for one
 * operation and are freed wiped (BN_MONT_CTX_free clears its numbers). OpenSSL still blinds the
 * input around this step. A key with a method of its own is "foreign" to OpenSSL 3, so EVP runs it
 * through the legacy RSA code: the same padding and the same arithmetic as the provider's.
 */
static RSA_METHOD *nocache_meth;
static pthread_once_t meth_once = PTHREAD_ONCE_INIT;

/* r0 = I^d mod n by the CRT: both halves with one dual constant-time exponentiation (its Montgomery
 * contexts made and wiped inside it), then the recombination and a check of the result against the
 * public exponent, so that a faulty half never leaves the module (the Bellcore attack). */
static int crt_mod_exp(BIGNUM *r0, const BIGNUM *I, RSA *rsa, BN_CTX *ctx)
{
	const BIGNUM *p, *q, *dmp1, *dmq1, *iqmp, *n, *e;
	BIGNUM *pc = BN_new(), *qc = BN_new();
	BIGNUM *cp, *cq, *m1, *m2, *h, *v;
	int ok = 0;

	RSA_get0_factors(rsa, &p, &q);
	RSA_get0_crt_params(rsa, &dmp1, &dmq1, &iqmp);
	RSA_get0_key(rsa, &n, &e, NULL);
	BN_CTX_start(ctx);
	cp = BN_CTX_get(ctx);
	cq = BN_CTX_get(ctx);
	m1 = BN_CTX_get(ctx);
	m2 = BN_CTX_get(ctx);
	h = BN_CTX_get(ctx);
	v = BN_CTX_get(ctx);
	if (!v || !pc || !qc || !p || !q || !dmp1 || !dmq1 || !iqmp || !n || !e)
		goto out;
	BN_with_flags(pc, p, BN_FLG_CONSTTIME);
	BN_with_flags(qc, q, BN_FLG_CONSTTIME);
	if (!BN_mod(cp, I, pc, ctx) || !BN_mod(cq, I, qc, ctx) ||
	    !BN_mod_exp_mont_consttime_x2(m1, cp, dmp1, pc, NULL, m2, cq, dmq1, qc, NULL, ctx) ||
	    !BN_mod_sub(h, m1, m2, pc, ctx) || !BN_mod_mul(h, h, iqmp, pc, ctx) || !BN_mul(h, h, qc, ctx) ||
	    !BN_add(r0, h, m2))
		goto out;
	if (!BN_mod_exp(v, r0, e, n, ctx) || BN_cmp(v, I) != 0)
		goto out;
	ok = 1;
out:
	BN_CTX_end(ctx);
	BN_free(pc);
	BN_free(qc);
	return ok;
}

static void meth_make(void)
{
	RSA_METHOD *m = RSA_meth_dup(RSA_PKCS1_OpenSSL());

	if (!m)
		return;
	if (RSA_meth_set1_name(m, "kms11 RSA (no cached private Montgomery contexts)") != 1 ||
	    RSA_meth_set_flags(m, RSA_meth_get_flags(m) & ~RSA_FLAG_CACHE_PRIVATE) != 1 ||
	    RSA_meth_set_mod_exp(m, crt_mod_exp) != 1) {
		RSA_meth_free(m);
		return;
	}
	nocache_meth = m;
}

EVP_PKEY *ossl_rsa_private_load(const uint8_t *der, size_t len)
{
	const unsigned char *p = der, *inner;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const ASN1_OBJECT *alg = NULL;
	EVP_PKEY *pk = NULL;
	RSA *rsa = NULL;
	int inlen = 0;

	pthread_once(&meth_once, meth_make);
	if (!nocache_meth)
		return NULL;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	if (!p8 || PKCS8_pkey_get0(&alg, &inner, &inlen, NULL, p8) != 1 || OBJ_obj2nid(alg) != NID_rsaEncryption)
		goto out;
	rsa = d2i_RSAPrivateKey(NULL, &inner, inlen);
	/* Two primes with their CRT parameters only; anything else goes the ordinary way. */
	if (!rsa || RSA_get_multi_prime_extra_count(rsa) != 0 || !RSA_get0_p(rsa) || !RSA_get0_q(rsa) ||
	    !RSA_get0_dmp1(rsa) || !RSA_get0_dmq1(rsa) || !RSA_get0_iqmp(rsa) || !RSA_get0_e(rsa) ||
	    RSA_set_method(rsa, nocache_meth) != 1)
		goto out;
	RSA_clear_flags(rsa, RSA_FLAG_CACHE_PRIVATE);
	pk = EVP_PKEY_new();
	if (!pk || EVP_PKEY_assign_RSA(pk, rsa) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
		goto out;
	}
	rsa = NULL;
out:
	RSA_free(rsa);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return pk;
}

