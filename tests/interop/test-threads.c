/* SPDX-License-Identifier: Apache-2.0 */
/* Interop test: two threads (KMS11_TEST_THREADS: up to 8), each with its own session, sign 1,000 times with one ECDSA key and encrypt
 * 1,000 messages with one AES-GCM key, checked against what one thread computed first. */
#include <pthread.h>

#include "p11util.h"

#define KMS_THREADS_MAX 8
#define KMS_OPS 1000

#define KMS_REFS 16
#define KMS_MSG_LEN 100

/* GCM ciphertexts (with tag) of one message under IVs 0..KMS_REFS-1, made before the threads start. */
static CK_BYTE gcm_ref[KMS_REFS][KMS_MSG_LEN + 16];
static CK_BYTE gcm_msg[KMS_MSG_LEN];

/* One AES-GCM encryption of gcm_msg with the IV numbered n. */
static CK_RV gcm_encrypt(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, int n,
			 CK_BYTE out[KMS_MSG_LEN + 16])
{
	CK_BYTE iv[12] = {0};
	CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 128};
	CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
	CK_ULONG len = KMS_MSG_LEN + 16;
	CK_RV rv;

	iv[11] = (CK_BYTE)n;
	rv = f->C_EncryptInit(s, &m, k);
	if (rv == CKR_OK)
		rv = f->C_Encrypt(s, gcm_msg, sizeof(gcm_msg), out, &len);
	return rv == CKR_OK && len != KMS_MSG_LEN + 16 ? CKR_GENERAL_ERROR : rv;
}

struct worker {
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_OBJECT_HANDLE pub, priv, aes;
	int gcm_errors, gcm_done;
	int errors;
	CK_RV first_error;
	int done;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int i;

	rv = w->f->C_OpenSession(w->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		w->errors = KMS_OPS;
		w->first_error = rv;
		return NULL;
	}
	for (i = 0; i < KMS_OPS; i++) {
		/* Verify every 100th signature, so a wrong one is seen without doubling the time. */
		rv = p11u_sign_verify(w->f, s, w->priv, w->pub, i % 100 == 0);
		if (rv != CKR_OK) {
			if (w->errors++ == 0)
				w->first_error = rv;
		} else {
			w->done++;
		}
	}
	for (i = 0; i < KMS_OPS; i++) {
		CK_BYTE ct[KMS_MSG_LEN + 16];

		if (gcm_encrypt(w->f, s, w->aes, i % KMS_REFS, ct) != CKR_OK ||
		    memcmp(ct, gcm_ref[i % KMS_REFS], sizeof(ct)) != 0)
			w->gcm_errors++;
		else
			w->gcm_done++;
	}
	w->f->C_CloseSession(s);
	return NULL;
}

int main(void)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	struct worker w[KMS_THREADS_MAX];
	pthread_t th[KMS_THREADS_MAX];
	const char *nt = getenv("KMS11_TEST_THREADS");
	int KMS_THREADS = nt ? atoi(nt) : 2;
	CK_FUNCTION_LIST_PTR f = p11u_load();
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv, aes;
	CK_SLOT_ID slot;
	int i;

	if (KMS_THREADS < 1 || KMS_THREADS > KMS_THREADS_MAX) {
		fprintf(stderr, "FAIL: KMS11_TEST_THREADS must be 1 to %d\n", KMS_THREADS_MAX);
		return 1;
	}
	P11U_TRY(f->C_Initialize(&args));
	slot = p11u_init_token(f);
	P11U_TRY(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	P11U_TRY(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11U_PIN, strlen(P11U_PIN)));
	p11u_gen_ec(f, s, "threads-ec", &pub, &priv);
	p11u_check(p11u_sign_verify(f, s, priv, pub, 1) == CKR_OK, "one ECDSA sign and verify");
	{
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = CKK_AES;
		CK_BBOOL yes = CK_TRUE;
		CK_BYTE val[32];
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
				    {CKA_VALUE, val, sizeof(val)}, {CKA_ENCRYPT, &yes, 1}};

		for (i = 0; i < (int)sizeof(val); i++)
			val[i] = (CK_BYTE)(i * 29 + 1);
		for (i = 0; i < KMS_MSG_LEN; i++)
			gcm_msg[i] = (CK_BYTE)i;
		P11U_TRY(f->C_CreateObject(s, t, 4, &aes));
		for (i = 0; i < KMS_REFS; i++)
			P11U_TRY(gcm_encrypt(f, s, aes, i, gcm_ref[i]));
		p11u_check(memcmp(gcm_ref[0], gcm_ref[1], KMS_MSG_LEN) != 0, "GCM ciphertexts differ with the IV");
	}

	for (i = 0; i < KMS_THREADS; i++) {
		w[i] = (struct worker){ .f = f, .slot = slot, .pub = pub, .priv = priv, .aes = aes };
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0) {
			fprintf(stderr, "FAIL: pthread_create\n");
			return 1;
		}
	}
	for (i = 0; i < KMS_THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < KMS_THREADS; i++)
		p11u_check(w[i].errors == 0 && w[i].done == KMS_OPS,
			   "thread %d: %d of %d C_SignInit+C_Sign ok, %d errors (first 0x%lx)", i, w[i].done,
			   KMS_OPS, w[i].errors, (unsigned long)w[i].first_error);
	for (i = 0; i < KMS_THREADS; i++)
		p11u_check(w[i].gcm_errors == 0 && w[i].gcm_done == KMS_OPS,
			   "thread %d: %d of %d AES-GCM encryptions equal the reference, %d wrong", i, w[i].gcm_done,
			   KMS_OPS, w[i].gcm_errors);

	p11u_check(f->C_Logout(s) == CKR_OK, "C_Logout");
	p11u_check(f->C_CloseSession(s) == CKR_OK, "C_CloseSession");
	p11u_check(f->C_Finalize(NULL) == CKR_OK, "C_Finalize");
	printf("# %d failed\n", p11u_failures);
	return p11u_failures ? 1 : 0;
}
