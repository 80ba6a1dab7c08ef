/* SPDX-License-Identifier: Apache-2.0 */
/* kms11-bench's symmetric part: AES-256-GCM, HMAC-SHA256 and SHA-256, one message per Init, through the module and raw EVP. */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "tests/bench/bench.h"

enum sym_kind { SYM_GCM, SYM_HMAC, SYM_SHA256 };

struct sym_case {
	const char *name;
	enum sym_kind kind;
	size_t len;    /* message bytes */
	double target; /* smallest acceptable kms11/raw ratio */
	double kms, raw;
};

/* The raw side's state: the same key bytes, with EVP objects fetched once as an application would. */
struct sym_raw {
	unsigned char aes[32], hmac[32];
	EVP_CIPHER *gcm;
	EVP_CIPHER_CTX *cctx;
	EVP_MAC *mac;
	EVP_MAC_CTX *mctx;
	EVP_MD *sha256;
};

static unsigned char msg[4096], out[4096 + 64];

/* One message through the module; CKR_OK or the failing call's code. */
static CK_RV sym_p11(CK_SESSION_HANDLE s, const struct sym_case *c, CK_OBJECT_HANDLE aes, CK_OBJECT_HANDLE hk,
		     unsigned char iv[12])
{
	CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof(gp)}, hm = {CKM_SHA256_HMAC, NULL, 0}, sha = {CKM_SHA256, NULL, 0};
	CK_ULONG n = sizeof(out);
	CK_RV rv;

	switch (c->kind) {
	case SYM_GCM:
		rv = p11->C_EncryptInit(s, &gcm, aes);
		return rv != CKR_OK ? rv : p11->C_Encrypt(s, msg, c->len, out, &n);
	case SYM_HMAC:
		rv = p11->C_SignInit(s, &hm, hk);
		return rv != CKR_OK ? rv : p11->C_Sign(s, msg, c->len, out, &n);
	default:
		rv = p11->C_DigestInit(s, &sha);
		return rv != CKR_OK ? rv : p11->C_Digest(s, msg, c->len, out, &n);
	}
}

/* One message through raw EVP; 1 on success. */
static int sym_raw(struct sym_raw *r, const struct sym_case *c, unsigned char iv[12])
{
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_END};
	unsigned int mdlen;
	size_t maclen;
	int l = 0, l2 = 0;

	switch (c->kind) {
	case SYM_GCM:
		return EVP_EncryptInit_ex2(r->cctx, r->gcm, r->aes, iv, NULL) == 1 &&
		       EVP_EncryptUpdate(r->cctx, out, &l, msg, (int)c->len) == 1 &&
		       EVP_EncryptFinal_ex(r->cctx, out + l, &l2) == 1 &&
		       EVP_CIPHER_CTX_ctrl(r->cctx, EVP_CTRL_AEAD_GET_TAG, 16, out + l + l2) == 1;
	case SYM_HMAC:
		return EVP_MAC_init(r->mctx, r->hmac, sizeof(r->hmac), p) == 1 &&
		       EVP_MAC_update(r->mctx, msg, c->len) == 1 && EVP_MAC_final(r->mctx, out, &maclen, 64) == 1;
	default:
		return EVP_Digest(msg, c->len, out, &mdlen, r->sha256, NULL) == 1;
	}
}

/* Messages per second for `seconds`; 0 after a failure. */
static double sym_run(CK_SESSION_HANDLE s, struct sym_raw *r, const struct sym_case *c, CK_OBJECT_HANDLE aes,
		      CK_OBJECT_HANDLE hk, int raw, double seconds)
{
	unsigned char iv[12] = {0};
	unsigned long ops = 0;
	double end = kms_bench_now() + seconds;
	CK_RV rv;

	while (kms_bench_now() < end) {
		for (int i = 0; i < 64; i++, ops++) {
			memcpy(iv, &ops, sizeof(ops)); /* a fresh IV per message */
			if (raw && !sym_raw(r, c, iv)) {
				kms_bench_error("%s: raw EVP failed", c->name);
				return 0;
			}
			if (!raw && (rv = sym_p11(s, c, aes, hk, iv)) != CKR_OK) {
				kms_bench_error("%s: kms11 failed: 0x%lx", c->name, (unsigned long)rv);
				return 0;
			}
		}
	}
	return (double)ops / seconds;
}

/* A secret key generated in the module, extractable so that the raw side gets the same bytes. */
static CK_RV sym_key(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE gen, CK_KEY_TYPE kt, unsigned char val[32],
		     CK_OBJECT_HANDLE *h)
{
	CK_MECHANISM m = {gen, NULL, 0};
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {{CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_VALUE_LEN, &len, sizeof(len)},
			    {CKA_EXTRACTABLE, &yes, 1},     {CKA_SENSITIVE, &no, 1},
			    {CKA_ENCRYPT, &yes, 1},	    {CKA_SIGN, &yes, 1}};
	CK_ATTRIBUTE q = {CKA_VALUE, val, 32};
	CK_RV rv = p11->C_GenerateKey(s, &m, t, sizeof(t) / sizeof(t[0]), h);

	return rv != CKR_OK ? rv : p11->C_GetAttributeValue(s, *h, &q, 1);
}

void kms_bench_sym_table(CK_SESSION_HANDLE s, double seconds)
{
	struct sym_case cases[] = {
		{"AES-256-GCM encrypt 64 B", SYM_GCM, 64, 0.60, 0, 0},
		{"AES-256-GCM encrypt 4 KiB", SYM_GCM, 4096, 0.90, 0, 0},
		{"HMAC-SHA256 64 B", SYM_HMAC, 64, 0.60, 0, 0},
		{"SHA-256 digest 4 KiB", SYM_SHA256, 4096, 0.90, 0, 0},
	};
	struct sym_raw r = {0};
	CK_OBJECT_HANDLE aes, hk;
	CK_RV rv;

	memset(msg, 0x5a, sizeof(msg));
	if ((rv = sym_key(s, CKM_AES_KEY_GEN, CKK_AES, r.aes, &aes)) != CKR_OK ||
	    (rv = sym_key(s, CKM_GENERIC_SECRET_KEY_GEN, CKK_GENERIC_SECRET, r.hmac, &hk)) != CKR_OK) {
		kms_bench_error("secret key generation: 0x%lx", (unsigned long)rv);
		return;
	}
	r.gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	r.cctx = EVP_CIPHER_CTX_new();
	r.mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	r.mctx = r.mac ? EVP_MAC_CTX_new(r.mac) : NULL;
	r.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!r.gcm || !r.cctx || !r.mctx || !r.sha256) {
		kms_bench_error("OpenSSL fetches for the symmetric cases");
		goto out;
	}
	/* Both sides must agree before they are timed: the same ciphertext and MAC for the same input. */
	{
		unsigned char iv[12] = {1}, a[4200], b[4200];

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			size_t n = cases[i].kind == SYM_GCM ? cases[i].len + 16 : 32;

			if (sym_p11(s, &cases[i], aes, hk, iv) != CKR_OK)
				kms_bench_error("%s: kms11 failed", cases[i].name);
			memcpy(a, out, n);
			if (!sym_raw(&r, &cases[i], iv))
				kms_bench_error("%s: raw EVP failed", cases[i].name);
			memcpy(b, out, n);
			if (memcmp(a, b, n) != 0)
				kms_bench_error("%s: kms11 and raw EVP disagree", cases[i].name);
		}
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int k = 0; k < KMS_BENCH_ROUNDS; k++) {
			cases[i].kms += sym_run(s, &r, &cases[i], aes, hk, 0, seconds / KMS_BENCH_ROUNDS) / KMS_BENCH_ROUNDS;
			cases[i].raw += sym_run(s, &r, &cases[i], aes, hk, 1, seconds / KMS_BENCH_ROUNDS) / KMS_BENCH_ROUNDS;
		}
	printf("\nSymmetric throughput (messages/s, 1 thread): kms11 is Init + one-shot call per message,\n"
	       "raw is EVP with the cipher/MAC/digest fetched once and a context reused, keyed per message\n");
	printf("%-26s %11s %11s %7s\n", "operation", "kms11", "raw", "ratio");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		printf("%-26s %11.0f %11.0f %7.3f  (target >= %.2f)\n", cases[i].name, cases[i].kms, cases[i].raw,
		       cases[i].raw > 0 ? cases[i].kms / cases[i].raw : 0.0, cases[i].target);
out:
	EVP_MD_free(r.sha256);
	EVP_MAC_CTX_free(r.mctx);
	EVP_MAC_free(r.mac);
	EVP_CIPHER_CTX_free(r.cctx);
	EVP_CIPHER_free(r.gcm);
}
