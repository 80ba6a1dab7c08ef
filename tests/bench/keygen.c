/* SPDX-License-Identifier: Apache-2.0 */
/* kms11-bench's key generation part: C_GenerateKeyPair (session and token objects) against raw EVP_PKEY_keygen
 * with a context made once per thread, as an application that generates many keys would use it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "tests/bench/bench.h"

#define KG_THREADS KMS_BENCH_MAX_THREADS

struct kg_case {
	const char *name;
	CK_MECHANISM_TYPE mech;
	const unsigned char *params; /* CKA_EC_PARAMS, NULL for RSA */
	size_t params_len;
	const char *alg, *group; /* raw side: EVP_PKEY_CTX_new_from_name, and the EC group */
	int token;               /* kms11 side: token objects */
	double target;           /* 0: no target (reported only) */
	double kms[KG_THREADS + 1], raw[KG_THREADS + 1];
};

/* One key pair through the module, destroyed again (the raw side frees its EVP_PKEY). */
static CK_RV kg_p11(CK_SESSION_HANDLE s, const struct kg_case *c)
{
	CK_MECHANISM m = {c->mech, NULL, 0};
	CK_ULONG bits = 2048;
	CK_BBOOL tok = c->token ? CK_TRUE : CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &tok, 1},
			     {c->params ? CKA_EC_PARAMS : CKA_MODULUS_BITS, c->params ? (void *)c->params : &bits,
			      c->params ? c->params_len : sizeof(bits)},
			     {CKA_VERIFY, &yes, 1}};
	CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &tok, 1}, {CKA_SIGN, &yes, 1}};
	CK_OBJECT_HANDLE pub, priv;
	CK_RV rv = p11->C_GenerateKeyPair(s, &m, pt, 3, kt, 2, &pub, &priv);

	if (rv != CKR_OK)
		return rv;
	rv = p11->C_DestroyObject(s, priv);
	return rv != CKR_OK ? rv : p11->C_DestroyObject(s, pub);
}

static CK_RV kg_one_p11(void *arg, void *state)
{
	return kg_p11((CK_SESSION_HANDLE)(uintptr_t)state, arg);
}

/* The raw side: an EVP_PKEY_CTX made once per thread, as an application generating many keys would. */
static CK_RV kg_raw_start(void *arg, void **state)
{
	const struct kg_case *c = arg;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, c->alg, NULL);

	*state = ctx;
	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || (c->group && EVP_PKEY_CTX_set_group_name(ctx, c->group) != 1) ||
	    (!c->params && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1))
		return CKR_GENERAL_ERROR;
	return CKR_OK;
}

static CK_RV kg_raw_one(void *arg, void *state)
{
	EVP_PKEY *pk = NULL;
	CK_RV rv = EVP_PKEY_keygen(state, &pk) == 1 ? CKR_OK : CKR_GENERAL_ERROR;

	(void)arg;
	EVP_PKEY_free(pk);
	return rv;
}

static void kg_raw_stop(void *arg, void *state)
{
	(void)arg;
	EVP_PKEY_CTX_free(state);
}

static double kg_run(struct kg_case *c, int raw, int threads, double seconds)
{
	const struct kms_bench_loop l = {.start = raw ? kg_raw_start : kms_bench_session_start,
					 .one = raw ? kg_raw_one : kg_one_p11,
					 .stop = raw ? kg_raw_stop : kms_bench_session_stop,
					 .arg = c};
	CK_RV failed;
	double r = kms_bench_loop_run(&l, threads, seconds, &failed);

	if (failed != CKR_OK)
		kms_bench_error("key generation %s %s with %d threads failed (0x%lx)", c->name, raw ? "raw" : "kms11",
				threads, (unsigned long)failed);
	return r;
}

void kms_bench_keygen_table(double seconds)
{
	static const unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const unsigned char ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
	struct kg_case cases[] = {
		{"P-256 (session)", CKM_EC_KEY_PAIR_GEN, p256, sizeof(p256), "EC", "P-256", 0, 0.8, {0}, {0}},
		{"Ed25519 (session)", CKM_EC_EDWARDS_KEY_PAIR_GEN, ed25519, sizeof(ed25519), "ED25519", NULL, 0, 0.8, {0}, {0}},
		{"RSA-2048 (session)", CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, "RSA", NULL, 0, 0.95, {0}, {0}},
		{"P-256 (token)", CKM_EC_KEY_PAIR_GEN, p256, sizeof(p256), "EC", "P-256", 1, 0, {0}, {0}},
	};
	const size_t n = sizeof(cases) / sizeof(cases[0]);

	for (size_t i = 0; i < n; i++) {
		struct kg_case *c = &cases[i];
		/* RSA key generation varies a lot from key to key: give it more time. */
		double secs = c->params ? seconds : 4 * seconds;

		for (int t = 1; t <= KG_THREADS; t++)
			for (int r = 0; r < KMS_BENCH_ROUNDS; r++) {
				c->kms[t] += kg_run(c, 0, t, secs / KMS_BENCH_ROUNDS) / KMS_BENCH_ROUNDS;
				c->raw[t] += kg_run(c, 1, t, secs / KMS_BENCH_ROUNDS) / KMS_BENCH_ROUNDS;
			}
	}
	printf("\nKey pair generation (pairs/s), kms11 C_GenerateKeyPair + 2x C_DestroyObject against raw EVP_PKEY_keygen\n");
	printf("%-26s %3s %11s %11s %7s\n", "operation", "thr", "kms11", "raw", "ratio");
	for (size_t i = 0; i < n; i++) {
		struct kg_case *c = &cases[i];

		for (int t = 1; t <= KG_THREADS; t++) {
			printf("%-26s %3d %11.0f %11.0f %7.3f", t == 1 ? c->name : "", t, c->kms[t], c->raw[t],
			       c->raw[t] > 0 ? c->kms[t] / c->raw[t] : 0.0);
			if (c->target > 0)
				printf("  (target >= %.2f)", c->target);
			printf("\n");
		}
	}
	printf("\nKey generation scaling 2 threads / 1 thread (target >= 1.8)\n");
	printf("%-26s %11s %11s\n", "operation", "kms11", "raw");
	for (size_t i = 0; i < n; i++)
		printf("%-26s %11.2f %11.2f\n", cases[i].name, cases[i].kms[1] > 0 ? cases[i].kms[2] / cases[i].kms[1] : 0.0,
		       cases[i].raw[1] > 0 ? cases[i].raw[2] / cases[i].raw[1] : 0.0);
}
