/* SPDX-License-Identifier: Apache-2.0 */
/* kms11-bench's comparison with `openssl speed`: C_SignInit + C_Sign on what `openssl speed` signs (a PKCS#1
 * DigestInfo, a SHA-256-sized hash, a short message), against the figures `openssl speed -mr` prints in the same
 * run, one process and two. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/bench.h"

#define SP_THREADS KMS_BENCH_MAX_THREADS

struct sp_case {
	const char *name, *speed_arg; /* `openssl speed` algorithm */
	const char *tag;              /* its -mr line: "+F2" (RSA), "+F4" (ECDSA), "+F6" (EdDSA) */
	CK_MECHANISM_TYPE mech;
	CK_OBJECT_HANDLE key;
	size_t inlen;
	double kms[SP_THREADS + 1], speed[SP_THREADS + 1];
};

/* One C_SignInit + C_Sign on what `openssl speed` signs: a SHA-256 DigestInfo for RSA, its first bytes otherwise. */
static CK_RV sp_one(void *arg, void *state)
{
	static const unsigned char in[64] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
					     0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20, 7};
	const struct sp_case *c = arg;
	CK_SESSION_HANDLE s = (CK_SESSION_HANDLE)(uintptr_t)state;
	CK_MECHANISM m = {c->mech, NULL, 0};
	unsigned char sig[512];
	CK_ULONG n = sizeof(sig);
	CK_RV rv = p11->C_SignInit(s, &m, c->key);

	return rv != CKR_OK ? rv : p11->C_Sign(s, (CK_BYTE_PTR)in, (CK_ULONG)c->inlen, sig, &n);
}

static double sp_run(struct sp_case *c, int threads, double seconds)
{
	const struct kms_bench_loop l = {
		.start = kms_bench_session_start, .one = sp_one, .stop = kms_bench_session_stop, .arg = c};
	CK_RV failed;
	double r = kms_bench_loop_run(&l, threads, seconds, &failed);

	if (failed != CKR_OK)
		kms_bench_error("%s: C_Sign with %d threads failed (0x%lx)", c->name, threads, (unsigned long)failed);
	return r;
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

void kms_bench_speed_table(CK_OBJECT_HANDLE rsa, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE ed,
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
			cases[i].kms[t] = sp_run(&cases[i], t, secs);
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
