/* SPDX-License-Identifier: Apache-2.0 */
/* kms11-bench's hsm part: signing through a kms11 token of the pkcs11 engine against SoftHSMv2 used directly on
 * the same key (the backend object kms11 made), 1 and 2 threads, in one process and one SoftHSMv2 instance. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/bench/bench.h"

#define HSM_LIB "/usr/lib/softhsm/libsofthsm2.so"
#define HSM_PIN "1234"
#define HSM_SO_PIN "12345678"
#define HSM_TARGET_RATIO 0.97

struct hsm_side {
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_OBJECT_HANDLE key;
	CK_MECHANISM_TYPE mech;
	const CK_BYTE *data;
	CK_ULONG len;
};

static CK_FUNCTION_LIST_PTR hsm_load(const char *path)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_FUNCTION_LIST_PTR f = NULL;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		kms_bench_error("hsm: dlopen %s: %s", path, dlerror());
		return NULL;
	}
	*(void **)&get = dlsym(h, "C_GetFunctionList");
	if (!get || get(&f) != CKR_OK) {
		kms_bench_error("hsm: C_GetFunctionList of %s", path);
		return NULL;
	}
	return f;
}

/* The slot whose token has this label (blank-padded), or a free one when label is NULL. */
static int hsm_slot(CK_FUNCTION_LIST_PTR f, const char *label, CK_SLOT_ID *out)
{
	CK_SLOT_ID ids[16];
	CK_ULONG n = 16;

	if (f->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
		return -1;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		size_t l = label ? strlen(label) : 0;

		if (f->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		if (label ? (memcmp(ti.label, label, l) == 0 && ti.label[l] == ' ')
			  : !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			*out = ids[i];
			return 0;
		}
	}
	return -1;
}

/* C_InitToken, then the user PIN, on slot. */
static CK_RV hsm_init_token(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, const char *label)
{
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE s;
	CK_RV rv;

	memset(lab, ' ', sizeof(lab));
	memcpy(lab, label, strlen(label));
	rv = f->C_InitToken(slot, (CK_UTF8CHAR_PTR)HSM_SO_PIN, 8, lab);
	if (rv == CKR_OK)
		rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return rv;
	rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)HSM_SO_PIN, 8);
	if (rv == CKR_OK)
		rv = f->C_InitPIN(s, (CK_UTF8CHAR_PTR)HSM_PIN, 4);
	f->C_CloseSession(s);
	return rv;
}

static CK_RV hsm_start(void *arg, void **state)
{
	struct hsm_side *h = arg;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);

	*state = (void *)(uintptr_t)s;
	return rv;
}

static void hsm_stop(void *arg, void *state)
{
	struct hsm_side *h = arg;

	h->f->C_CloseSession((CK_SESSION_HANDLE)(uintptr_t)state);
}

static CK_RV hsm_one(void *arg, void *state)
{
	struct hsm_side *h = arg;
	CK_SESSION_HANDLE s = (CK_SESSION_HANDLE)(uintptr_t)state;
	CK_MECHANISM m = {h->mech, NULL, 0};
	CK_BYTE sig[512];
	CK_ULONG sl = sizeof(sig);
	CK_RV rv = h->f->C_SignInit(s, &m, h->key);

	return rv == CKR_OK ? h->f->C_Sign(s, (CK_BYTE_PTR)h->data, h->len, sig, &sl) : rv;
}

/* The backend object holding the same CKA_ID as kms11's reference: found by the label kms11 gave it. */
static CK_RV hsm_backend_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_KEY_TYPE kt, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}};
	CK_ULONG n = 0;
	CK_RV rv = f->C_FindObjectsInit(s, t, 2);

	if (rv == CKR_OK)
		rv = f->C_FindObjects(s, out, 1, &n);
	f->C_FindObjectsFinal(s);
	return rv == CKR_OK && n != 1 ? CKR_OBJECT_HANDLE_INVALID : rv;
}

int kms_bench_hsm(const char *module, const char *dir, double seconds)
{
	static const CK_BYTE hash[32] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const char msg[] = "kms11 benchmark message: 64 bytes of data, signed again and again";
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_FUNCTION_LIST_PTR sh, km;
	CK_SLOT_ID sslot, kslot;
	CK_SESSION_HANDLE ss, ks;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_BYTE e[] = {1, 0, 1};
	CK_OBJECT_HANDLE kpub, kpriv[2], spriv[2];
	char path[512];
	FILE *fp;
	CK_RV rv;
	struct {
		const char *name;
		CK_MECHANISM_TYPE mech;
		const CK_BYTE *data;
		CK_ULONG len;
		double k[3], s[3];
	} cases[2] = {
		{"RSA-2048 PKCS#1 SHA-256", CKM_SHA256_RSA_PKCS, (const CK_BYTE *)msg, sizeof(msg) - 1, {0}, {0}},
		{"ECDSA P-256 (hash given)", CKM_ECDSA, hash, sizeof(hash), {0}, {0}},
	};

	if (access(HSM_LIB, R_OK) != 0) {
		kms_bench_error("hsm: SoftHSMv2 (%s) is not installed (package softhsm2)", HSM_LIB);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/softhsm", dir);
	if (mkdir(path, 0700) != 0) {
		kms_bench_error("hsm: mkdir %s", path);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	fp = fopen(path, "w");
	if (!fp)
		return -1;
	fprintf(fp, "directories.tokendir = %s/softhsm\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
	fclose(fp);
	setenv("SOFTHSM2_CONF", path, 1);
	snprintf(path, sizeof(path), "%s/kms11.conf", dir);
	fp = fopen(path, "w");
	if (!fp)
		return -1;
	fprintf(fp, "[token:hsm]\nengine = pkcs11\nlibrary = %s\nbackend-token = bench-backend\n", HSM_LIB);
	fclose(fp);
	setenv("KMS11_CONF", path, 1);
	snprintf(path, sizeof(path), "%s/store", dir);
	setenv("KMS11_STORE", path, 1);

	/* SoftHSMv2 first, as an application of its own: the backend token. kms11 then shares the library. */
	sh = hsm_load(HSM_LIB);
	km = hsm_load(module);
	if (!sh || !km)
		return -1;
	if ((rv = sh->C_Initialize(&args)) != CKR_OK || hsm_slot(sh, NULL, &sslot) != 0 ||
	    (rv = hsm_init_token(sh, sslot, "bench-backend")) != CKR_OK || hsm_slot(sh, "bench-backend", &sslot) != 0) {
		kms_bench_error("hsm: SoftHSMv2 token setup: 0x%lx", (unsigned long)rv);
		return -1;
	}
	if ((rv = km->C_Initialize(&args)) != CKR_OK || hsm_slot(km, NULL, &kslot) != 0 ||
	    (rv = hsm_init_token(km, kslot, "hsm")) != CKR_OK) {
		kms_bench_error("hsm: kms11 token setup: 0x%lx", (unsigned long)rv);
		return -1;
	}
	rv = km->C_OpenSession(kslot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &ks);
	if (rv == CKR_OK)
		rv = km->C_Login(ks, CKU_USER, (CK_UTF8CHAR_PTR)HSM_PIN, 4);
	if (rv == CKR_OK) {
		CK_MECHANISM g = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
		CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, 1}, {CKA_MODULUS_BITS, &bits, sizeof(bits)},
				     {CKA_PUBLIC_EXPONENT, e, sizeof(e)}};
		CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}};

		rv = km->C_GenerateKeyPair(ks, &g, pt, 3, kt, 2, &kpub, &kpriv[0]);
	}
	if (rv == CKR_OK) {
		CK_MECHANISM g = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
		CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, 1}, {CKA_EC_PARAMS, (void *)p256, sizeof(p256)}};
		CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}};

		rv = km->C_GenerateKeyPair(ks, &g, pt, 2, kt, 2, &kpub, &kpriv[1]);
	}
	if (rv != CKR_OK) {
		kms_bench_error("hsm: key generation through kms11: 0x%lx", (unsigned long)rv);
		return -1;
	}
	/* The same keys, seen by SoftHSMv2's own application (logged in: PKCS#11 logins are per application). */
	rv = sh->C_OpenSession(sslot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &ss);
	if (rv == CKR_OK) {
		rv = sh->C_Login(ss, CKU_USER, (CK_UTF8CHAR_PTR)HSM_PIN, 4);
		if (rv == CKR_USER_ALREADY_LOGGED_IN)
			rv = CKR_OK;
	}
	if (rv == CKR_OK)
		rv = hsm_backend_key(sh, ss, CKK_RSA, &spriv[0]);
	if (rv == CKR_OK)
		rv = hsm_backend_key(sh, ss, CKK_EC, &spriv[1]);
	if (rv != CKR_OK) {
		kms_bench_error("hsm: the keys in SoftHSMv2: 0x%lx", (unsigned long)rv);
		return -1;
	}
	for (int c = 0; c < 2; c++) {
		struct hsm_side kside = {km, kslot, kpriv[c], cases[c].mech, cases[c].data, cases[c].len};
		struct hsm_side sside = {sh, sslot, spriv[c], cases[c].mech, cases[c].data, cases[c].len};
		const struct kms_bench_loop kl = {hsm_start, hsm_one, hsm_stop, &kside};
		const struct kms_bench_loop sl = {hsm_start, hsm_one, hsm_stop, &sside};

		for (int t = 1; t <= KMS_BENCH_MAX_THREADS; t++) {
			for (int r = 0; r < KMS_BENCH_ROUNDS; r++) {
				CK_RV f1, f2;

				cases[c].k[t] += kms_bench_loop_run(&kl, t, seconds / KMS_BENCH_ROUNDS, &f1) / KMS_BENCH_ROUNDS;
				cases[c].s[t] += kms_bench_loop_run(&sl, t, seconds / KMS_BENCH_ROUNDS, &f2) / KMS_BENCH_ROUNDS;
				if (f1 != CKR_OK || f2 != CKR_OK) {
					kms_bench_error("hsm: %s with %d threads failed: kms11 0x%lx, SoftHSMv2 0x%lx",
							cases[c].name, t, (unsigned long)f1, (unsigned long)f2);
					return -1;
				}
			}
		}
	}
	printf("\nSigning through the pkcs11 engine (ops/s): kms11 on a SoftHSMv2 token against SoftHSMv2 used directly"
	       " on the same key, %.1f s per figure (%d alternating rounds)\n", seconds, KMS_BENCH_ROUNDS);
	printf("%-26s %3s %11s %11s %7s\n", "operation", "thr", "kms11", "SoftHSMv2", "ratio");
	for (int c = 0; c < 2; c++)
		for (int t = 1; t <= KMS_BENCH_MAX_THREADS; t++)
			printf("%-26s %3d %11.0f %11.0f %7.3f  (target >= %.2f)\n", t == 1 ? cases[c].name : "", t,
			       cases[c].k[t], cases[c].s[t], cases[c].s[t] > 0 ? cases[c].k[t] / cases[c].s[t] : 0.0,
			       HSM_TARGET_RATIO);
	sh->C_CloseSession(ss);
	km->C_Logout(ks);
	km->C_Finalize(NULL);
	sh->C_Finalize(NULL);
	return 0;
}
