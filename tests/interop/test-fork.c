/* SPDX-License-Identifier: Apache-2.0 */
/* Interop test: a forked child must call C_Initialize before anything else, and then works. */
#include <sys/wait.h>
#include <unistd.h>

#include "p11util.h"

/* Child 1: no C_Initialize; every call must say CKR_CRYPTOKI_NOT_INITIALIZED. */
static int child_uninitialised(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE parent_session)
{
	CK_ULONG n = 0;
	CK_SESSION_INFO si;
	CK_RV rv1, rv2;

	rv1 = f->C_GetSlotList(CK_FALSE, NULL, &n);
	rv2 = f->C_GetSessionInfo(parent_session, &si);
	p11u_check(rv1 == CKR_CRYPTOKI_NOT_INITIALIZED,
		   "child without C_Initialize: C_GetSlotList gives CKR_CRYPTOKI_NOT_INITIALIZED (0x%lx)",
		   (unsigned long)rv1);
	p11u_check(rv2 == CKR_CRYPTOKI_NOT_INITIALIZED,
		   "child without C_Initialize: the parent's session gives CKR_CRYPTOKI_NOT_INITIALIZED (0x%lx)",
		   (unsigned long)rv2);
	return p11u_failures ? 1 : 0;
}

/* Child 2: C_Initialize, open a session, log in, find the key and sign. */
static int child_initialised(CK_FUNCTION_LIST_PTR f)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
	CK_SLOT_ID slot;
	CK_RV rv;

	rv = f->C_Initialize(NULL);
	p11u_check(rv == CKR_OK, "child: C_Initialize (0x%lx)", (unsigned long)rv);
	if (rv != CKR_OK)
		return 1;
	slot = p11u_slot(f);
	rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	p11u_check(rv == CKR_OK, "child: C_OpenSession (0x%lx)", (unsigned long)rv);
	if (rv != CKR_OK)
		return 1;
	rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11U_PIN, strlen(P11U_PIN));
	p11u_check(rv == CKR_OK, "child: C_Login (0x%lx)", (unsigned long)rv);
	priv = p11u_find(f, s, CKO_PRIVATE_KEY, "fork-ec");
	pub = p11u_find(f, s, CKO_PUBLIC_KEY, "fork-ec");
	p11u_check(priv != CK_INVALID_HANDLE && pub != CK_INVALID_HANDLE, "child: finds the key pair");
	rv = p11u_sign_verify(f, s, priv, pub, 1);
	p11u_check(rv == CKR_OK, "child: ECDSA sign and verify (0x%lx)", (unsigned long)rv);
	rv = f->C_Finalize(NULL);
	p11u_check(rv == CKR_OK, "child: C_Finalize (0x%lx)", (unsigned long)rv);
	return p11u_failures ? 1 : 0;
}

static int run_child(int which, CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "FAIL: fork\n");
		exit(1);
	}
	if (pid == 0)
		_exit(which == 1 ? child_uninitialised(f, s) : child_initialised(f));
	if (waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
	CK_FUNCTION_LIST_PTR f = p11u_load();
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
	CK_SLOT_ID slot;
	CK_RV rv;

	P11U_TRY(f->C_Initialize(NULL));
	slot = p11u_init_token(f);
	P11U_TRY(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	P11U_TRY(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11U_PIN, strlen(P11U_PIN)));
	p11u_gen_ec(f, s, "fork-ec", &pub, &priv);

	p11u_check(run_child(1, f, s), "child without C_Initialize exits cleanly");
	p11u_check(run_child(2, f, s), "child with C_Initialize exits cleanly");

	rv = p11u_sign_verify(f, s, priv, pub, 1);
	p11u_check(rv == CKR_OK, "parent still signs after the children (0x%lx)", (unsigned long)rv);
	p11u_check(f->C_Finalize(NULL) == CKR_OK, "parent: C_Finalize");
	printf("# %d failed\n", p11u_failures);
	return p11u_failures ? 1 : 0;
}
