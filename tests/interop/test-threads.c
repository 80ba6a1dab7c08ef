/* SPDX-License-Identifier: Apache-2.0 */
/* Interop test: two threads, each with its own session, sign 1,000 times with one ECDSA key. */
#include <pthread.h>

#include "p11util.h"

#define KMS_THREADS 2
#define KMS_OPS 1000

struct worker {
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_OBJECT_HANDLE pub, priv;
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
	w->f->C_CloseSession(s);
	return NULL;
}

int main(void)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	struct worker w[KMS_THREADS];
	pthread_t th[KMS_THREADS];
	CK_FUNCTION_LIST_PTR f = p11u_load();
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
	CK_SLOT_ID slot;
	int i;

	P11U_TRY(f->C_Initialize(&args));
	slot = p11u_init_token(f);
	P11U_TRY(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	P11U_TRY(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11U_PIN, strlen(P11U_PIN)));
	p11u_gen_ec(f, s, "threads-ec", &pub, &priv);
	p11u_check(p11u_sign_verify(f, s, priv, pub, 1) == CKR_OK, "one ECDSA sign and verify");

	for (i = 0; i < KMS_THREADS; i++) {
		w[i] = (struct worker){ .f = f, .slot = slot, .pub = pub, .priv = priv };
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

	p11u_check(f->C_Logout(s) == CKR_OK, "C_Logout");
	p11u_check(f->C_CloseSession(s) == CKR_OK, "C_CloseSession");
	p11u_check(f->C_Finalize(NULL) == CKR_OK, "C_Finalize");
	printf("# %d failed\n", p11u_failures);
	return p11u_failures ? 1 : 0;
}
