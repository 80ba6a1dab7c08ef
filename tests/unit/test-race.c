/* SPDX-License-Identifier: Apache-2.0 */
/* Cross-process and cross-thread races on one store: parallel PIN guesses, set against destroy, concurrent
 * updates, C_Finalize with calls in flight, and a token re-initialised under a logged-in process. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/modfixture.h"

#define GUESSERS 50

struct result {
	int i;
	CK_RV rv;
};

/* A step of a child process: returns the CK_RV it reports. */
typedef CK_RV (*child_step)(int i, CK_SESSION_HANDLE s);

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		c += w;
		n -= (size_t)w;
	}
}

/* Forks n children; each initialises the module and opens a read-write session, then waits until all are
 * ready and runs act at once. out[i] gets child i's result. The module must be finalised in the parent. */
static void run_parallel(int n, child_step act, CK_RV *out)
{
	int ready[2], go[2], res[2];
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	char c;

	ck_assert_ptr_nonnull(pids);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(res), 0);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct result r = {.i = i, .rv = CKR_GENERAL_ERROR};
			CK_SESSION_HANDLE s = 0;

			close(ready[0]);
			close(go[1]);
			close(res[0]);
			if (f->C_Initialize(NULL) == CKR_OK)
				r.rv = f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
			write_all(ready[1], "r", 1);
			while (read(go[0], &c, 1) < 0 && errno == EINTR)
				;
			if (r.rv == CKR_OK)
				r.rv = act(i, s);
			else
				r.rv = CKR_GENERAL_ERROR;
			write_all(res[1], &r, sizeof(r));
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	close(res[1]);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(go[1]); /* every child reads EOF at once */
	for (int i = 0; i < n; i++) {
		struct result r;

		ck_assert_int_eq(read(res[0], &r, sizeof(r)), (int)sizeof(r));
		ck_assert(r.i >= 0 && r.i < n);
		out[r.i] = r.rv;
	}
	for (int i = 0; i < n; i++) {
		int st = 0;

		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	close(ready[0]);
	close(res[0]);
	free(pids);
}

static CK_RV guess_user(int i, CK_SESSION_HANDLE s)
{
	char pin[8];

	snprintf(pin, sizeof(pin), "9%03d", i);
	return f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, 4);
}

static CK_RV guess_so(int i, CK_SESSION_HANDLE s)
{
	char pin[9];

	snprintf(pin, sizeof(pin), "9%07d", i);
	return f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)pin, 8);
}

static CK_FLAGS token_flags(void)
{
	CK_TOKEN_INFO ti;

	ck_assert_rv(f->C_GetTokenInfo(0, &ti), CKR_OK);
	return ti.flags;
}

/* Counts the results: how many PINs were checked (CKR_PIN_INCORRECT) and how many were refused unchecked. */
static void count_guesses(const CK_RV *rv, int n, int *checked, int *locked)
{
	*checked = *locked = 0;
	for (int i = 0; i < n; i++) {
		if (rv[i] == CKR_PIN_INCORRECT)
			(*checked)++;
		else if (rv[i] == CKR_PIN_LOCKED)
			(*locked)++;
		else
			ck_abort_msg("guess %d: %s", i, kms_ckr_name(rv[i]));
	}
}

/* 50 processes guessing the user PIN at once get at most 10 PINs checked; then the PIN is locked. */
START_TEST(test_parallel_user_guesses)
{
	CK_RV rv[GUESSERS];
	CK_SESSION_HANDLE s;
	int checked, locked;

	setup_token();
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	run_parallel(GUESSERS, guess_user, rv);
	count_guesses(rv, GUESSERS, &checked, &locked);
	ck_assert_msg(checked == 10, "%d wrong PINs were checked against a limit of 10", checked);
	ck_assert_int_eq(locked, GUESSERS - 10);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert(token_flags() & CKF_USER_PIN_LOCKED);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_PIN_LOCKED);
	/* the SO unlocks it by setting a new PIN */
	ck_assert_rv(f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_OK);
	ck_assert_rv(f->C_InitPIN(s, (CK_UTF8CHAR_PTR)"5678", 4), CKR_OK);
	ck_assert_rv(f->C_Logout(s), CKR_OK);
	ck_assert(!(token_flags() & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW)));
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"5678", 4), CKR_OK);
	teardown_store();
}
END_TEST

/* The same for the SO PIN: at most 10 checked, then CKF_SO_PIN_LOCKED; C_InitToken is refused too. */
START_TEST(test_parallel_so_guesses)
{
	CK_RV rv[GUESSERS];
	CK_SESSION_HANDLE s;
	CK_UTF8CHAR label[32];
	int checked, locked;

	setup_token();
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	run_parallel(GUESSERS, guess_so, rv);
	count_guesses(rv, GUESSERS, &checked, &locked);
	ck_assert_msg(checked == 10, "%d wrong SO PINs were checked against a limit of 10", checked);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert(token_flags() & CKF_SO_PIN_LOCKED);
	ck_assert(!(token_flags() & CKF_USER_PIN_LOCKED));
	memset(label, ' ', sizeof(label));
	ck_assert_rv(f->C_InitToken(0, (CK_UTF8CHAR_PTR)SO_PIN, 8, label), CKR_PIN_LOCKED);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_PIN_LOCKED);
	/* the user is not affected */
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	teardown_store();
}
END_TEST

/* A right PIN clears the count; the attempts before it stay counted until then. */
START_TEST(test_right_pin_clears_count)
{
	CK_SESSION_HANDLE s;

	setup_token();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	for (int i = 0; i < 9; i++)
		ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"0000", 4), CKR_PIN_INCORRECT);
	ck_assert(token_flags() & CKF_USER_PIN_FINAL_TRY);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"12", 2), CKR_PIN_INCORRECT);
	ck_assert(token_flags() & CKF_USER_PIN_LOCKED);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_PIN_LOCKED);
	teardown_store();
	setup_token();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	for (int i = 0; i < 9; i++)
		ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"0000", 4), CKR_PIN_INCORRECT);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	ck_assert(!(token_flags() & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY)));
	teardown_store();
}
END_TEST

static CK_OBJECT_HANDLE shared_obj; /* made by the parent before the children fork */

/* A public token data object the children change without logging in. */
static CK_OBJECT_HANDLE data_object(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_TOKEN, &yes, 1},
			    {CKA_PRIVATE, &no, 1},
			    {CKA_LABEL, "a-", 2},
			    {CKA_APPLICATION, "b-", 2},
			    {CKA_VALUE, "value", 5}};
	CK_OBJECT_HANDLE h;

	ck_assert_rv(f->C_CreateObject(s, t, 6, &h), CKR_OK);
	return h;
}

/* Child 0 changes the label until the object is gone; child 1 destroys the object meanwhile. */
static CK_RV set_or_destroy(int i, CK_SESSION_HANDLE s)
{
	char label[16];
	CK_ATTRIBUTE t = {CKA_LABEL, label, 0};
	CK_RV rv = CKR_OK;

	if (i == 1) {
		usleep(3000);
		return f->C_DestroyObject(s, shared_obj);
	}
	for (int n = 0; n < 5000 && rv == CKR_OK; n++) {
		t.ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "a%d", n);
		rv = f->C_SetAttributeValue(s, shared_obj, &t, 1);
	}
	return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_OK : (rv == CKR_OK ? CKR_FUNCTION_FAILED : rv);
}

/* A set that races a destroy never brings the object back. */
START_TEST(test_set_never_resurrects)
{
	CK_SESSION_HANDLE s;
	CK_RV rv[2];
	CK_ATTRIBUTE q = {CKA_LABEL, NULL, 0};
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE byclass = {CKA_CLASS, &cls, sizeof(cls)};
	CK_OBJECT_HANDLE found[4];
	CK_ULONG nfound = 0;

	setup_token();
	for (int round = 0; round < 8; round++) {
		ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
		shared_obj = data_object(s);
		ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
		run_parallel(2, set_or_destroy, rv);
		ck_assert_msg(rv[1] == CKR_OK, "round %d: destroy: %s", round, kms_ckr_name(rv[1]));
		ck_assert_msg(rv[0] == CKR_OK, "round %d: setter ended with %s", round, kms_ckr_name(rv[0]));
		ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
		ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(s, shared_obj, &q, 1), CKR_OBJECT_HANDLE_INVALID);
		ck_assert_rv(f->C_FindObjectsInit(s, &byclass, 1), CKR_OK);
		ck_assert_rv(f->C_FindObjects(s, found, 4, &nfound), CKR_OK);
		ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
		ck_assert_msg(nfound == 0, "round %d: a destroyed object came back", round);
	}
	teardown_store();
}
END_TEST

#define UPDATES 300

/* Two processes change two attributes of one object; each checks before every change that its attribute
 * still holds its last value (a lost update shows as an older value). */
static CK_RV update_own(int i, CK_SESSION_HANDLE s)
{
	CK_ATTRIBUTE_TYPE type = i == 0 ? CKA_LABEL : CKA_APPLICATION;
	char want[16], got[16];
	CK_ATTRIBUTE t = {type, want, 0}, q = {type, got, sizeof(got)};

	snprintf(want, sizeof(want), "%c-", 'a' + i);
	for (int n = 0; n < UPDATES; n++) {
		CK_ULONG wl = (CK_ULONG)strlen(want);

		q.ulValueLen = sizeof(got);
		if (f->C_GetAttributeValue(s, shared_obj, &q, 1) != CKR_OK)
			return CKR_FUNCTION_FAILED;
		if (q.ulValueLen != wl || memcmp(got, want, wl) != 0)
			return CKR_DATA_INVALID; /* the other process wrote back an old value */
		t.ulValueLen = (CK_ULONG)snprintf(want, sizeof(want), "%c%d", 'a' + i, n);
		if (f->C_SetAttributeValue(s, shared_obj, &t, 1) != CKR_OK)
			return CKR_FUNCTION_FAILED;
	}
	return CKR_OK;
}

START_TEST(test_no_lost_updates)
{
	CK_SESSION_HANDLE s;
	CK_RV rv[2];
	char buf[16];
	CK_ATTRIBUTE q[] = {{CKA_LABEL, buf, 8}, {CKA_APPLICATION, buf + 8, 8}};

	setup_token();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	shared_obj = data_object(s);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	run_parallel(2, update_own, rv);
	ck_assert_msg(rv[0] == CKR_OK && rv[1] == CKR_OK, "lost updates: %s / %s", kms_ckr_name(rv[0]),
		      kms_ckr_name(rv[1]));
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, shared_obj, q, 2), CKR_OK);
	ck_assert_int_eq(q[0].ulValueLen, 4);
	ck_assert_mem_eq(buf, "a299", 4);
	ck_assert_int_eq(q[1].ulValueLen, 4);
	ck_assert_mem_eq(buf + 8, "b299", 4);
	teardown_store();
}
END_TEST

#define CALLERS 3
#define FINALIZE_ROUNDS 60

struct caller {
	pthread_t th;
	int kind;
	CK_RV bad; /* the first unexpected code, or CKR_OK */
	atomic_long calls;
};

/* One public call of kind k on a session of its own; returns its code. */
static CK_RV public_call(int k, CK_SESSION_HANDLE *s)
{
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof(cls)};
	CK_OBJECT_HANDLE found[8];
	CK_TOKEN_INFO ti;
	CK_BYTE out[32];
	CK_ULONG n = sizeof(out);
	CK_RV rv;

	switch (k) {
	case 0:
		rv = f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, s);
		if (rv == CKR_OK)
			rv = f->C_CloseSession(*s);
		return rv;
	case 1:
		rv = f->C_GetTokenInfo(0, &ti);
		if (rv == CKR_OK)
			rv = f->C_FindObjectsInit(*s, &t, 1);
		if (rv == CKR_OK)
			rv = f->C_FindObjects(*s, found, 8, &n);
		if (rv == CKR_OK)
			rv = f->C_FindObjectsFinal(*s);
		return rv;
	default:
		rv = f->C_DigestInit(*s, &sha);
		if (rv == CKR_OK)
			rv = f->C_Digest(*s, (CK_BYTE_PTR)"abc", 3, out, &n);
		if (rv == CKR_OK)
			rv = f->C_GenerateRandom(*s, out, 16);
		return rv;
	}
}

/* Calls the module until it answers CKR_CRYPTOKI_NOT_INITIALIZED; any code but CKR_OK before is recorded. */
static void *caller_main(void *arg)
{
	struct caller *c = arg;
	CK_SESSION_HANDLE s = 0;
	CK_RV rv;

	rv = f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s);
	for (;;) {
		if (rv == CKR_CRYPTOKI_NOT_INITIALIZED)
			break;
		if (rv != CKR_OK && c->bad == CKR_OK)
			c->bad = rv;
		atomic_fetch_add(&c->calls, 1);
		if (s == 0)
			break;
		rv = public_call(c->kind, c->kind == 0 ? &(CK_SESSION_HANDLE){0} : &s);
	}
	return NULL;
}

/* C_Finalize while other threads call the module: every call before it succeeds, every call after it
 * answers CKR_CRYPTOKI_NOT_INITIALIZED, and nothing is used after it is freed (ASan in CI). */
START_TEST(test_finalize_with_calls_in_flight)
{
	setup_token();
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	for (int round = 0; round < FINALIZE_ROUNDS; round++) {
		struct caller c[CALLERS];

		ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
		memset(c, 0, sizeof(c));
		for (int i = 0; i < CALLERS; i++) {
			c[i].kind = i;
			ck_assert_int_eq(pthread_create(&c[i].th, NULL, caller_main, &c[i]), 0);
		}
		for (int i = 0; i < CALLERS; i++)
			while (atomic_load(&c[i].calls) < 2)
				usleep(100);
		usleep(100 * (unsigned)round);
		ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
		ck_assert_rv(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
		for (int i = 0; i < CALLERS; i++) {
			ck_assert_int_eq(pthread_join(c[i].th, NULL), 0);
			ck_assert_msg(c[i].bad == CKR_OK, "round %d, thread %d: %s (neither CKR_OK nor CKR_CRYPTOKI_NOT_INITIALIZED)", round, i,
				      kms_ckr_name(c[i].bad));
		}
	}
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	teardown_store();
}
END_TEST

/* Runs fn in a child process (the module initialised there afresh) and returns the CK_RV it reports. */
static CK_RV in_child(CK_RV (*fn)(void))
{
	int res[2], st = 0;
	CK_RV rv = CKR_GENERAL_ERROR;
	pid_t pid;

	ck_assert_int_eq(pipe(res), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(res[0]);
		rv = f->C_Initialize(NULL);
		if (rv == CKR_OK)
			rv = fn();
		write_all(res[1], &rv, sizeof(rv));
		_exit(0);
	}
	close(res[1]);
	ck_assert_int_eq(read(res[0], &rv, sizeof(rv)), (int)sizeof(rv));
	close(res[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return rv;
}

/* Initialises the token again with the same SO PIN and a new user PIN, and stores a private data object. */
static CK_RV reinit_token(void)
{
	CK_UTF8CHAR label[32];
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_TOKEN, &yes, 1},
			    {CKA_PRIVATE, &yes, 1},
			    {CKA_LABEL, "new-owner", 9},
			    {CKA_VALUE, "new owner's secret", 18}};
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	memset(label, ' ', sizeof(label));
	memcpy(label, "kms11", 5);
	rv = f->C_InitToken(0, (CK_UTF8CHAR_PTR)SO_PIN, 8, label);
	if (rv != CKR_OK)
		return rv;
	if ((rv = f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK ||
	    (rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8)) != CKR_OK ||
	    (rv = f->C_InitPIN(s, (CK_UTF8CHAR_PTR)"5678", 4)) != CKR_OK || (rv = f->C_Logout(s)) != CKR_OK ||
	    (rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"5678", 4)) != CKR_OK)
		return rv;
	return f->C_CreateObject(s, t, 5, &h);
}

static char lock_path[300];

/* As reinit_token, after removing the token's lock file, as a careless cleanup would: the shared locks
 * of other processes stay on the removed file, so only the token epoch can tell them. */
static CK_RV reinit_without_lock_file(void)
{
	if (unlink(lock_path) != 0)
		return CKR_FUNCTION_FAILED;
	return reinit_token();
}

/* C_InitToken in another process is refused while this process has a session on the token. */
START_TEST(test_init_token_refused_while_another_process_has_sessions)
{
	CK_SESSION_HANDLE s, s2;

	setup_token();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
	ck_assert_rv(in_child(reinit_token), CKR_SESSION_EXISTS);
	ck_assert_rv(f->C_CloseSession(s), CKR_OK);
	ck_assert_rv(in_child(reinit_token), CKR_SESSION_EXISTS);
	ck_assert_rv(f->C_CloseSession(s2), CKR_OK);
	ck_assert_rv(in_child(reinit_token), CKR_OK);
	/* and a killed process leaves no presence behind */
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	{
		pid_t pid = fork();
		int st;

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			CK_SESSION_HANDLE cs;

			if (f->C_Initialize(NULL) == CKR_OK &&
			    f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &cs) == CKR_OK)
				kill(getpid(), SIGKILL);
			_exit(1);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	ck_assert_rv(in_child(reinit_token), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	teardown_store();
}
END_TEST

/* A process logged in when another one initialises the token again loses its login and its sessions, and
 * never reads, changes or destroys the new owner's objects. */
START_TEST(test_stale_login_dropped)
{
	CK_SESSION_HANDLE s, s2;
	CK_SESSION_INFO si;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE byclass = {CKA_CLASS, &cls, sizeof(cls)};
	CK_ATTRIBUTE lbl = {CKA_LABEL, "new-owner", 9};
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n = 0;
	char val[32];
	CK_ATTRIBUTE q = {CKA_VALUE, val, sizeof(val)};

	setup_token();
	snprintf(lock_path, sizeof(lock_path), "%s/token-1.lock", store);
	s = user_session();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
	ck_assert_rv(in_child(reinit_without_lock_file), CKR_OK);
	/* the first call that uses the session finds the login stale */
	ck_assert_rv(f->C_FindObjectsInit(s, &byclass, 1), CKR_USER_NOT_LOGGED_IN);
	/* then every session of the token has ended */
	ck_assert_rv(f->C_GetSessionInfo(s, &si), CKR_SESSION_HANDLE_INVALID);
	ck_assert_rv(f->C_GetSessionInfo(s2, &si), CKR_SESSION_HANDLE_INVALID);
	ck_assert_rv(f->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
	/* a new session is public, and the new owner's private object is out of reach */
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_GetSessionInfo(s, &si), CKR_OK);
	ck_assert_int_eq(si.state, CKS_RW_PUBLIC_SESSION);
	ck_assert_rv(f->C_FindObjectsInit(s, &lbl, 1), CKR_OK);
	ck_assert_rv(f->C_FindObjects(s, found, 4, &n), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
	ck_assert_int_eq(n, 0);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_PIN_INCORRECT);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"5678", 4), CKR_OK);
	ck_assert_rv(f->C_FindObjectsInit(s, &lbl, 1), CKR_OK);
	ck_assert_rv(f->C_FindObjects(s, found, 4, &n), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_rv(f->C_GetAttributeValue(s, found[0], &q, 1), CKR_OK);
	ck_assert_int_eq(q.ulValueLen, 18);
	ck_assert_mem_eq(val, "new owner's secret", 18);
	teardown_store();
}
END_TEST

/* A process that stays logged in after the re-initialisation is refused on the object paths too. */
START_TEST(test_stale_login_cannot_touch_new_objects)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1},
			    {CKA_VALUE, "old", 3}};

	setup_token();
	snprintf(lock_path, sizeof(lock_path), "%s/token-1.lock", store);
	s = user_session();
	ck_assert_rv(in_child(reinit_without_lock_file), CKR_OK);
	ck_assert_rv(f->C_CreateObject(s, t, 4, &h), CKR_USER_NOT_LOGGED_IN);
	ck_assert_rv(f->C_CreateObject(s, t, 4, &h), CKR_SESSION_HANDLE_INVALID);
	teardown_store();
}
END_TEST

int main(void)
{
	Suite *su = suite_create("race");
	TCase *pin = tcase_create("pin");
	TCase *objs = tcase_create("objects");
	TCase *fin = tcase_create("finalize");
	TCase *reinit = tcase_create("reinit");

	tcase_set_timeout(pin, 120);
	tcase_add_test(pin, test_parallel_user_guesses);
	tcase_add_test(pin, test_parallel_so_guesses);
	tcase_add_test(pin, test_right_pin_clears_count);
	suite_add_tcase(su, pin);
	tcase_set_timeout(objs, 120);
	tcase_add_test(objs, test_set_never_resurrects);
	tcase_add_test(objs, test_no_lost_updates);
	suite_add_tcase(su, objs);
	tcase_set_timeout(fin, 120);
	tcase_add_test(fin, test_finalize_with_calls_in_flight);
	suite_add_tcase(su, fin);
	tcase_set_timeout(reinit, 120);
	tcase_add_test(reinit, test_init_token_refused_while_another_process_has_sessions);
	tcase_add_test(reinit, test_stale_login_dropped);
	tcase_add_test(reinit, test_stale_login_cannot_touch_new_objects);
	suite_add_tcase(su, reinit);
	return kms_test_run(su);
}
