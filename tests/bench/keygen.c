/* SPDX-License-Identifier: Apache-2.0 */
/* kms11-bench's key generation part: C_GenerateKeyPair (session and token objects) against raw EVP_PKEY_keygen
 * with a context made once per thread, as an application that generates many keys would use it. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "tests/bench/bench.h"

#define KG_THREADS 2

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

struct kg_worker {
	struct kg_case *c;
	CK_SLOT_ID slot;
	int raw;
	double seconds;
	pthread_barrier_t *start;
	unsigned long ops;
	CK_RV failed;
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

static void *kg_worker_run(void *arg)
{
	struct kg_worker *w = arg;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	EVP_PKEY_CTX *ctx = NULL;
	double end;

	if (w->raw) {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, w->c->alg, NULL);
		if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
		    (w->c->group && EVP_PKEY_CTX_set_group_name(ctx, w->c->group) != 1) ||
		    (!w->c->params && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1))
			w->failed = CKR_GENERAL_ERROR;
	} else if (p11->C_OpenSession(w->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK) {
		w->failed = CKR_GENERAL_ERROR;
	}
	pthread_barrier_wait(w->start);
	end = kms_bench_now() + w->seconds;
	while (!w->failed && kms_bench_now() < end) {
		if (w->raw) {
			EVP_PKEY *pk = NULL;

			if (EVP_PKEY_keygen(ctx, &pk) != 1)
				w->failed = CKR_GENERAL_ERROR;
			EVP_PKEY_free(pk);
		} else {
			w->failed = kg_p11(s, w->c);
		}
		w->ops++;
	}
	EVP_PKEY_CTX_free(ctx);
	if (s != CK_INVALID_HANDLE)
		p11->C_CloseSession(s);
	return NULL;
}

static double kg_run(struct kg_case *c, CK_SLOT_ID slot, int raw, int threads, double seconds)
{
	struct kg_worker w[KG_THREADS];
	pthread_t th[KG_THREADS];
	pthread_barrier_t start;
	unsigned long total = 0;
	CK_RV failed = CKR_OK;

	pthread_barrier_init(&start, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		w[i] = (struct kg_worker){.c = c, .slot = slot, .raw = raw, .seconds = seconds, .start = &start};
		pthread_create(&th[i], NULL, kg_worker_run, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ops;
		if (w[i].failed)
			failed = w[i].failed;
	}
	pthread_barrier_destroy(&start);
	if (failed) {
		kms_bench_error("key generation %s %s with %d threads failed (0x%lx)", c->name, raw ? "raw" : "kms11",
				threads, (unsigned long)failed);
		return 0;
	}
	return (double)total / seconds;
}

void kms_bench_keygen_table(CK_SLOT_ID slot, double seconds)
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
				c->kms[t] += kg_run(c, slot, 0, t, secs / KMS_BENCH_ROUNDS) / KMS_BENCH_ROUNDS;
				c->raw[t] += kg_run(c, slot, 1, t, secs / KMS_BENCH_ROUNDS) / KMS_BENCH_ROUNDS;
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
