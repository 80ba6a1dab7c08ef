/* SPDX-License-Identifier: Apache-2.0 */
/* kms11-bench's comparison with `openssl speed`: C_SignInit + C_Sign on what `openssl speed` signs (a PKCS#1
 * DigestInfo, a SHA-256-sized hash, a short message), against the figures `openssl speed -mr` prints in the same
 * run, one process and two. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/bench.h"

#define SP_THREADS 2

struct sp_case {
	const char *name, *speed_arg; /* `openssl speed` algorithm */
	const char *tag;              /* its -mr line: "+F2" (RSA), "+F4" (ECDSA), "+F6" (EdDSA) */
	CK_MECHANISM_TYPE mech;
	CK_OBJECT_HANDLE key;
	size_t inlen;
	double kms[SP_THREADS + 1], speed[SP_THREADS + 1];
};

struct sp_worker {
	struct sp_case *c;
	CK_SLOT_ID slot;
	double seconds;
	pthread_barrier_t *start;
	unsigned long ops;
	CK_RV failed;
};

static void *sp_worker_run(void *arg)
{
	struct sp_worker *w = arg;
	CK_SESSION_HANDLE s;
	CK_MECHANISM m = {w->c->mech, NULL, 0};
	unsigned char in[64] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
				0x02, 0x01, 0x05, 0x00, 0x04, 0x20, 7}, sig[512];
	double end;

	if (p11->C_OpenSession(w->slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) {
		w->failed = CKR_GENERAL_ERROR;
		return NULL;
	}
	pthread_barrier_wait(w->start);
	end = kms_bench_now() + w->seconds;
	while (!w->failed && kms_bench_now() < end) {
		CK_ULONG n = sizeof(sig);

		w->failed = p11->C_SignInit(s, &m, w->c->key);
		if (!w->failed)
			w->failed = p11->C_Sign(s, in, (CK_ULONG)w->c->inlen, sig, &n);
		w->ops++;
	}
	p11->C_CloseSession(s);
	return NULL;
}

static double sp_run(struct sp_case *c, CK_SLOT_ID slot, int threads, double seconds)
{
	struct sp_worker w[SP_THREADS];
	pthread_t th[SP_THREADS];
	pthread_barrier_t start;
	unsigned long total = 0;
	CK_RV failed = CKR_OK;

	pthread_barrier_init(&start, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		w[i] = (struct sp_worker){.c = c, .slot = slot, .seconds = seconds, .start = &start};
		pthread_create(&th[i], NULL, sp_worker_run, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ops;
		if (w[i].failed)
			failed = w[i].failed;
	}
	pthread_barrier_destroy(&start);
	if (failed) {
		kms_bench_error("%s: C_Sign with %d threads failed (0x%lx)", c->name, threads, (unsigned long)failed);
		return 0;
	}
	return (double)total / seconds;
}

/* Signatures per second `openssl speed -mr` reports for c with `procs` processes (-multi), 0 when it cannot
 * be run or read. */
static double speed_of(const struct sp_case *c, int procs, double seconds)
{
	char cmd[256], line[512];
	double total = 0;
	FILE *p;

	if (procs > 1)
		snprintf(cmd, sizeof(cmd), "openssl speed -mr -seconds %d -multi %d %s 2>/dev/null", (int)(seconds + 0.5),
			 procs, c->speed_arg);
	else
		snprintf(cmd, sizeof(cmd), "openssl speed -mr -seconds %d %s 2>/dev/null", (int)(seconds + 0.5),
			 c->speed_arg);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		char *f[8] = {0}, *save = NULL, *tok;
		int nf = 0;

		if (strncmp(line, c->tag, strlen(c->tag)) != 0 || line[strlen(c->tag)] != ':')
			continue;
		for (tok = strtok_r(line, ":", &save); tok && nf < 8; tok = strtok_r(NULL, ":", &save))
			f[nf++] = tok;
		/* +F2:n:bits:sign/s:verify/s and +F4 alike; +F6:n:bits:name:sign/s:verify/s */
		if (!strcmp(c->tag, "+F6") && nf >= 5)
			total = strtod(f[4], NULL);
		else if (nf >= 4)
			total = strtod(f[3], NULL);
	}
	pclose(p);
	return total;
}

void kms_bench_speed_table(CK_SLOT_ID slot, CK_OBJECT_HANDLE rsa, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE ed,
			   double seconds)
{
	struct sp_case cases[] = {
		{"RSA-2048 PKCS#1 (DigestInfo)", "rsa2048", "+F2", CKM_RSA_PKCS, rsa, 51, {0}, {0}},
		{"ECDSA P-256 (hash)", "ecdsap256", "+F4", CKM_ECDSA, ec, 32, {0}, {0}},
		{"Ed25519", "ed25519", "+F6", CKM_EDDSA, ed, 32, {0}, {0}},
	};
	const size_t n = sizeof(cases) / sizeof(cases[0]);
	double secs = seconds < 1 ? 1 : seconds;

	for (size_t i = 0; i < n; i++)
		for (int t = 1; t <= SP_THREADS; t++) {
			cases[i].kms[t] = sp_run(&cases[i], slot, t, secs);
			cases[i].speed[t] = speed_of(&cases[i], t, secs);
			if (cases[i].speed[t] <= 0)
				kms_bench_error("openssl speed %s gave no figure", cases[i].speed_arg);
		}
	printf("\nSigning against `openssl speed -mr` in the same run (signatures/s; kms11 is C_SignInit + C_Sign,\n"
	       "speed's figure for 2 is -multi 2)\n");
	printf("%-30s %3s %11s %11s %7s\n", "operation", "thr", "kms11", "speed", "ratio");
	for (size_t i = 0; i < n; i++)
		for (int t = 1; t <= SP_THREADS; t++)
			printf("%-30s %3d %11.0f %11.0f %7.3f  (target >= 0.97)\n", t == 1 ? cases[i].name : "", t,
			       cases[i].kms[t], cases[i].speed[t],
			       cases[i].speed[t] > 0 ? cases[i].kms[t] / cases[i].speed[t] : 0.0);
	printf("\nSigning scaling 2 threads / 1 thread (target >= 1.9)\n");
	for (size_t i = 0; i < n; i++)
		printf("%-30s %11.2f\n", cases[i].name, cases[i].kms[1] > 0 ? cases[i].kms[2] / cases[i].kms[1] : 0.0);
}
