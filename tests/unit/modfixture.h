/* SPDX-License-Identifier: Apache-2.0 */
/* The fixture of the tests that drive libkms11.so through its function list: a fresh store per test. */
#ifndef KMS_MODFIXTURE_H
#define KMS_MODFIXTURE_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <p11-kit/pkcs11.h>

#include "tests/unit/testutil.h"

#define SO_PIN "12345678"
#define USER_PIN "1234"

static CK_FUNCTION_LIST *f;
static void *dl;
static char store[256];


static inline void load(void)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	const char *path = getenv("KMS11_MODULE");

	ck_assert_msg(path != NULL, "KMS11_MODULE is not set");
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(dl != NULL, "dlopen: %s", dlerror());
	get = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(dl, "C_GetFunctionList");
	ck_assert_ptr_nonnull(get);
	ck_assert_rv(get(&f), CKR_OK);
}

/* Writes a config file into the test's store directory and points KMS11_CONF at it. */
static inline void write_conf(const char *text)
{
	kms_test_conf(store, text);
}

/* A fresh store, with a configuration of the built-in default's one token: written out, so that a system
 * configuration on the machine (read when KMS11_CONF is unset) plays no part in a test. */
static inline void setup_store(void)
{
	snprintf(store, sizeof(store), "/tmp/kms11-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(store));
	setenv("KMS11_STORE", store, 1);
	write_conf("[token:kms11]\nengine = openssl\n");
	load();
}

static inline void teardown_store(void)
{
	char cmd[300];

	if (f)
		f->C_Finalize(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store);
	ck_assert_int_eq(system(cmd), 0);
}

/* Initialises the module and the first token with its PINs, in the store set up already. */
static inline void init_token(void)
{
	CK_UTF8CHAR label[32];
	CK_SESSION_HANDLE s;

	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	memset(label, ' ', sizeof(label));
	memcpy(label, "kms11", 5);
	ck_assert_rv(f->C_InitToken(0, (CK_UTF8CHAR_PTR)SO_PIN, 8, label), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_OK);
	ck_assert_rv(f->C_InitPIN(s, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	ck_assert_rv(f->C_CloseSession(s), CKR_OK);
}

/* A fresh store, the module initialised and the token with its PINs. */
static inline void setup_token(void)
{
	setup_store();
	init_token();
}

static inline CK_SESSION_HANDLE user_session(void)
{
	CK_SESSION_HANDLE s;

	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	return s;
}

#endif
