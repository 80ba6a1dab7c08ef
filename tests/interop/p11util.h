/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers of the C interop tests: load a PKCS#11 module with dlopen, init its token, make an EC key. */
#ifndef KMS_TESTS_P11UTIL_H
#define KMS_TESTS_P11UTIL_H

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#define P11U_SO_PIN "12345678"
#define P11U_PIN "1234"
#define P11U_LABEL "kms11"

static int p11u_failures;

static inline void p11u_check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "ok - ..." or "not ok - ..." and counts the failures. */
static inline void p11u_check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", cond ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		p11u_failures++;
}

/* Loads the module named by KMS11_MODULE; exits 1 when it cannot. */
static inline CK_FUNCTION_LIST_PTR p11u_load(void)
{
	const char *path = getenv("KMS11_MODULE");
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_FUNCTION_LIST_PTR f = NULL;
	void *h;

	if (path == NULL || *path == '\0') {
		fprintf(stderr, "FAIL: KMS11_MODULE is not set\n");
		exit(1);
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "FAIL: dlopen %s: %s\n", path, dlerror());
		exit(1);
	}
	*(void **)&get = dlsym(h, "C_GetFunctionList");
	if (get == NULL || get(&f) != CKR_OK || f == NULL) {
		fprintf(stderr, "FAIL: C_GetFunctionList of %s\n", path);
		exit(1);
	}
	return f;
}

/* Returns the slot whose token has label P11U_LABEL (or the first slot); exits 1 on failure. */
static inline CK_SLOT_ID p11u_slot(CK_FUNCTION_LIST_PTR f)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO ti;

	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || n == 0) {
		fprintf(stderr, "FAIL: C_GetSlotList found no slot\n");
		exit(1);
	}
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, P11U_LABEL, strlen(P11U_LABEL)) == 0 &&
		    ti.label[strlen(P11U_LABEL)] == ' ')
			return slots[i];
	}
	return slots[0];
}

#define P11U_TRY(call)                                                                         \
	do {                                                                                   \
		CK_RV rv_ = (call);                                                            \
		if (rv_ != CKR_OK) {                                                           \
			fprintf(stderr, "FAIL: %s: 0x%lx (line %d)\n", #call, (unsigned long)rv_, \
				__LINE__);                                                     \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

/* C_InitToken, SO login and C_InitPIN; returns the token's slot. Exits 1 on failure. */
static inline CK_SLOT_ID p11u_init_token(CK_FUNCTION_LIST_PTR f)
{
	CK_UTF8CHAR label[32];
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot = p11u_slot(f);

	memset(label, ' ', sizeof(label));
	memcpy(label, P11U_LABEL, strlen(P11U_LABEL));
	P11U_TRY(f->C_InitToken(slot, (CK_UTF8CHAR_PTR)P11U_SO_PIN, strlen(P11U_SO_PIN), label));
	slot = p11u_slot(f);
	P11U_TRY(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	P11U_TRY(f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)P11U_SO_PIN, strlen(P11U_SO_PIN)));
	P11U_TRY(f->C_InitPIN(s, (CK_UTF8CHAR_PTR)P11U_PIN, strlen(P11U_PIN)));
	P11U_TRY(f->C_Logout(s));
	P11U_TRY(f->C_CloseSession(s));
	return slot;
}

/* Generates a P-256 token key pair labelled `label` in session s (logged in). */
static inline void p11u_gen_ec(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, const char *label,
			CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, p256, sizeof(p256) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ATTRIBUTE kt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};

	P11U_TRY(f->C_GenerateKeyPair(s, &m, pt, 4, kt, 5, pub, priv));
}

/* Finds the one object of class cls with label `label`; returns CK_INVALID_HANDLE if not exactly one. */
static inline CK_OBJECT_HANDLE p11u_find(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
				  const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;

	if (f->C_FindObjectsInit(s, t, 2) != CKR_OK)
		return CK_INVALID_HANDLE;
	if (f->C_FindObjects(s, h, 2, &n) != CKR_OK)
		n = 0;
	f->C_FindObjectsFinal(s);
	return n == 1 ? h[0] : CK_INVALID_HANDLE;
}

/* One ECDSA sign (C_SignInit + C_Sign) of a 32-byte digest and a C_Verify of it; returns the first
 * CKR that is not CKR_OK, or CKR_SIGNATURE_LEN_RANGE when the signature is not 64 bytes. */
static inline CK_RV p11u_sign_verify(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
			      CK_OBJECT_HANDLE pub, int verify)
{
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_BYTE digest[32], sig[132];
	CK_ULONG siglen = sizeof(sig);
	CK_RV rv;

	memset(digest, 0x5a, sizeof(digest));
	rv = f->C_SignInit(s, &m, priv);
	if (rv != CKR_OK)
		return rv;
	rv = f->C_Sign(s, digest, sizeof(digest), sig, &siglen);
	if (rv != CKR_OK)
		return rv;
	if (siglen != 64)
		return CKR_SIGNATURE_LEN_RANGE;
	if (!verify)
		return CKR_OK;
	rv = f->C_VerifyInit(s, &m, pub);
	if (rv != CKR_OK)
		return rv;
	return f->C_Verify(s, digest, sizeof(digest), sig, siglen);
}

#endif
