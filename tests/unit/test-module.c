/* SPDX-License-Identifier: Apache-2.0 */
/* The module through its C_* function list: states, argument checks and the spec's return codes. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <p11-kit/pkcs11.h>

#include "common/pkcs11x.h"
#include "tests/unit/modfixture.h"

static void gen_ec(CK_SESSION_HANDLE s, CK_BBOOL token, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof(p256)}, {CKA_TOKEN, &token, 1}, {CKA_LABEL, "ec", 2}};
	CK_ATTRIBUTE vt[] = {{CKA_TOKEN, &token, 1}, {CKA_LABEL, "ec", 2}, {CKA_SIGN, &yes, 1}};

	ck_assert_rv(f->C_GenerateKeyPair(s, &m, pt, 3, vt, 3, pub, priv), CKR_OK);
}

START_TEST(test_initialize_rules)
{
	CK_C_INITIALIZE_ARGS args;
	CK_INFO info;

	setup_store();
	ck_assert_rv(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_rv(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	memset(&args, 0, sizeof(args));
	args.pReserved = &args;
	ck_assert_rv(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
	memset(&args, 0, sizeof(args));
	args.CreateMutex = (CK_CREATEMUTEX)1; /* only one of the four */
	ck_assert_rv(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	ck_assert_rv(f->C_Initialize(&args), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	ck_assert_rv(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
	ck_assert_rv(f->C_GetInfo(&info), CKR_OK);
	ck_assert_int_eq(info.cryptokiVersion.major, 2);
	ck_assert_int_eq(info.cryptokiVersion.minor, 40);
	ck_assert_rv(f->C_Finalize(&args), CKR_ARGUMENTS_BAD);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	f = NULL;
	teardown_store();
}
END_TEST

static int mutexes_made;

static CK_RV app_create(CK_VOID_PTR_PTR m)
{
	*m = calloc(1, sizeof(int));
	mutexes_made++;
	return *m ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV app_destroy(CK_VOID_PTR m)
{
	free(m);
	return CKR_OK;
}

static CK_RV app_lock(CK_VOID_PTR m)
{
	int *v = m;

	ck_assert_int_eq(*v, 0);
	*v = 1;
	return CKR_OK;
}

static CK_RV app_unlock(CK_VOID_PTR m)
{
	int *v = m;

	ck_assert_int_eq(*v, 1);
	*v = 0;
	return CKR_OK;
}

START_TEST(test_app_mutexes)
{
	CK_C_INITIALIZE_ARGS args = {app_create, app_destroy, app_lock, app_unlock, 0, NULL};
	CK_SESSION_HANDLE s;
	CK_TOKEN_INFO ti;

	setup_store();
	ck_assert_rv(f->C_Initialize(&args), CKR_OK);
	ck_assert_int_gt(mutexes_made, 0);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_GetTokenInfo(0, &ti), CKR_OK);
	ck_assert_int_eq(ti.ulSessionCount, 1);
	ck_assert_rv(f->C_CloseSession(s), CKR_OK);
	teardown_store();
}
END_TEST

START_TEST(test_slots_and_token_info)
{
	CK_SLOT_ID slots[4];
	CK_ULONG n = 0;
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	CK_MECHANISM_INFO mi;
	CK_MECHANISM_TYPE mechs[64];

	setup_store();
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_GetSlotList(CK_TRUE, NULL, NULL), CKR_ARGUMENTS_BAD);
	ck_assert_rv(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	ck_assert_int_eq(n, 1);
	n = 0;
	ck_assert_rv(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_BUFFER_TOO_SMALL);
	ck_assert_int_eq(n, 1);
	ck_assert_rv(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	ck_assert_rv(f->C_GetSlotInfo(7, &si), CKR_SLOT_ID_INVALID);
	ck_assert_rv(f->C_GetSlotInfo(slots[0], &si), CKR_OK);
	ck_assert(si.flags & CKF_TOKEN_PRESENT);
	ck_assert_rv(f->C_GetTokenInfo(slots[0], &ti), CKR_OK);
	ck_assert(!(ti.flags & CKF_TOKEN_INITIALIZED));
	ck_assert(ti.flags & CKF_RNG);
	ck_assert_int_eq(memcmp(ti.label, "kms11 ", 6), 0);
	n = 0;
	ck_assert_rv(f->C_GetMechanismList(0, NULL, &n), CKR_OK);
	ck_assert_int_gt(n, 10);
	ck_assert_int_le(n, 64);
	ck_assert_rv(f->C_GetMechanismList(0, mechs, &n), CKR_OK);
	ck_assert_rv(f->C_GetMechanismInfo(0, CKM_RSA_PKCS_KEY_PAIR_GEN, &mi), CKR_OK);
	ck_assert(mi.flags & CKF_GENERATE_KEY_PAIR);
	ck_assert_int_eq(mi.ulMinKeySize, 2048);
	ck_assert_rv(f->C_GetMechanismInfo(0, CKM_ECDSA, &mi), CKR_OK);
	ck_assert(mi.flags & CKF_SIGN);
	ck_assert_int_eq(mi.ulMinKeySize, 256);
	ck_assert_int_eq(mi.ulMaxKeySize, 521);
	ck_assert_rv(f->C_GetMechanismInfo(0, CKM_VENDOR_DEFINED + 5, &mi), CKR_MECHANISM_INVALID);
	teardown_store();
}
END_TEST

START_TEST(test_session_states)
{
	CK_SESSION_HANDLE ro, rw;
	CK_SESSION_INFO si;

	setup_token();
	ck_assert_rv(f->C_OpenSession(0, 0, NULL, NULL, &ro), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
	ck_assert_rv(f->C_OpenSession(3, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_SLOT_ID_INVALID);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw), CKR_OK);
	ck_assert_rv(f->C_GetSessionInfo(ro, &si), CKR_OK);
	ck_assert_int_eq(si.state, CKS_RO_PUBLIC_SESSION);
	ck_assert_rv(f->C_GetSessionInfo(rw, &si), CKR_OK);
	ck_assert_int_eq(si.state, CKS_RW_PUBLIC_SESSION);
	/* SO cannot log in while a read-only session exists. */
	ck_assert_rv(f->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_SESSION_READ_ONLY_EXISTS);
	ck_assert_rv(f->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)"9999", 4), CKR_PIN_INCORRECT);
	ck_assert_rv(f->C_Login(rw, 77, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_USER_TYPE_INVALID);
	ck_assert_rv(f->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	ck_assert_rv(f->C_Login(ro, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_USER_ALREADY_LOGGED_IN);
	ck_assert_rv(f->C_Login(ro, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
	ck_assert_rv(f->C_GetSessionInfo(ro, &si), CKR_OK);
	ck_assert_int_eq(si.state, CKS_RO_USER_FUNCTIONS);
	ck_assert_rv(f->C_GetSessionInfo(rw, &si), CKR_OK);
	ck_assert_int_eq(si.state, CKS_RW_USER_FUNCTIONS);
	ck_assert_rv(f->C_Logout(ro), CKR_OK);
	ck_assert_rv(f->C_Logout(ro), CKR_USER_NOT_LOGGED_IN);
	ck_assert_rv(f->C_CloseSession(ro), CKR_OK);
	ck_assert_rv(f->C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID);
	ck_assert_rv(f->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_OK);
	ck_assert_rv(f->C_GetSessionInfo(rw, &si), CKR_OK);
	ck_assert_int_eq(si.state, CKS_RW_SO_FUNCTIONS);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_SESSION_READ_WRITE_SO_EXISTS);
	ck_assert_rv(f->C_CloseAllSessions(0), CKR_OK);
	ck_assert_rv(f->C_GetSessionInfo(rw, &si), CKR_SESSION_HANDLE_INVALID);
	ck_assert_rv(f->C_GetSessionInfo(0, &si), CKR_SESSION_HANDLE_INVALID);
	teardown_store();
}
END_TEST

START_TEST(test_pin_lockout)
{
	CK_SESSION_HANDLE s;
	CK_TOKEN_INFO ti;

	setup_token();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	for (int i = 0; i < 10; i++) {
		ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"0000", 4), CKR_PIN_INCORRECT);
		ck_assert_rv(f->C_GetTokenInfo(0, &ti), CKR_OK);
		ck_assert(ti.flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED));
		if (i == 8)
			ck_assert(ti.flags & CKF_USER_PIN_FINAL_TRY);
	}
	ck_assert(ti.flags & CKF_USER_PIN_LOCKED);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_PIN_LOCKED);
	/* Only the SO resets it. */
	ck_assert_rv(f->C_InitPIN(s, (CK_UTF8CHAR_PTR)"5678", 4), CKR_USER_NOT_LOGGED_IN);
	ck_assert_rv(f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8), CKR_OK);
	ck_assert_rv(f->C_InitPIN(s, (CK_UTF8CHAR_PTR)"56", 2), CKR_PIN_LEN_RANGE);
	ck_assert_rv(f->C_InitPIN(s, (CK_UTF8CHAR_PTR)"5678", 4), CKR_OK);
	ck_assert_rv(f->C_Logout(s), CKR_OK);
	ck_assert_rv(f->C_GetTokenInfo(0, &ti), CKR_OK);
	ck_assert(!(ti.flags & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW)));
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"5678", 4), CKR_OK);
	/* C_SetPIN rewraps the token key; the new PIN works after. */
	ck_assert_rv(f->C_SetPIN(s, (CK_UTF8CHAR_PTR)"0000", 4, (CK_UTF8CHAR_PTR)"4321", 4), CKR_PIN_INCORRECT);
	ck_assert_rv(f->C_SetPIN(s, (CK_UTF8CHAR_PTR)"5678", 4, (CK_UTF8CHAR_PTR)"4321", 4), CKR_OK);
	ck_assert_rv(f->C_Logout(s), CKR_OK);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"5678", 4), CKR_PIN_INCORRECT);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"4321", 4), CKR_OK);
	teardown_store();
}
END_TEST

START_TEST(test_objects_and_attributes)
{
	CK_SESSION_HANDLE s, pub_s;
	CK_OBJECT_HANDLE pub, priv, copy, found[8];
	CK_ULONG n = 0, size = 0;
	CK_BYTE buf[512];
	CK_BBOOL f_ = CK_FALSE, t_ = CK_TRUE;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;

	setup_token();
	s = user_session();
	gen_ec(s, CK_TRUE, &pub, &priv);
	/* length query, short buffer, sensitive, unknown attribute: all processed, each marked */
	{
		CK_ATTRIBUTE t[] = {{CKA_MODULUS, NULL, 0}, {CKA_LABEL, buf, 1}, {CKA_VALUE, buf + 8, 64},
				    {CKA_VENDOR_DEFINED + 77, buf + 100, 8}, {CKA_ID, buf + 200, 64}};

		ck_assert_rv(f->C_GetAttributeValue(s, priv, t, 5), CKR_ATTRIBUTE_SENSITIVE);
		ck_assert_int_eq(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION); /* not on an EC key */
		ck_assert_int_eq(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
		ck_assert_int_eq(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
		ck_assert_int_eq(t[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);
		ck_assert_int_eq(t[4].ulValueLen, 32); /* CKA_ID = SHA-256 of the SPKI */
	}
	{
		CK_ATTRIBUTE t[] = {{CKA_EC_POINT, NULL, 0}};

		ck_assert_rv(f->C_GetAttributeValue(s, pub, t, 1), CKR_OK);
		ck_assert_int_eq(t[0].ulValueLen, 67);
		t[0].pValue = buf;
		t[0].ulValueLen = 10;
		ck_assert_rv(f->C_GetAttributeValue(s, pub, t, 1), CKR_BUFFER_TOO_SMALL);
		t[0].ulValueLen = sizeof(buf);
		ck_assert_rv(f->C_GetAttributeValue(s, pub, t, 1), CKR_OK);
		ck_assert_int_eq(buf[0], 0x04);
		ck_assert_int_eq(buf[1], 65);
		ck_assert_int_eq(buf[2], 0x04);
	}
	ck_assert_rv(f->C_GetAttributeValue(s, 0xdead, NULL, 0), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_rv(f->C_GetObjectSize(s, priv, &size), CKR_OK);
	ck_assert_int_gt(size, 0);
	/* C_SetAttributeValue: label changes; SENSITIVE is one-way; CKA_CLASS is read-only */
	{
		CK_ATTRIBUTE t[] = {{CKA_LABEL, "renamed", 7}};
		CK_ATTRIBUTE u[] = {{CKA_SENSITIVE, &f_, 1}};
		CK_ATTRIBUTE c[] = {{CKA_CLASS, &cls, sizeof(cls)}};
		CK_ATTRIBUTE bad[] = {{CKA_SIGN, buf, 4}};
		CK_ATTRIBUTE r[] = {{CKA_LABEL, buf, sizeof(buf)}};

		ck_assert_rv(f->C_SetAttributeValue(s, priv, t, 1), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(s, priv, r, 1), CKR_OK);
		ck_assert_int_eq(r[0].ulValueLen, 7);
		ck_assert_int_eq(memcmp(buf, "renamed", 7), 0);
		ck_assert_rv(f->C_SetAttributeValue(s, priv, u, 1), CKR_ATTRIBUTE_READ_ONLY);
		ck_assert_rv(f->C_SetAttributeValue(s, priv, c, 1), CKR_ATTRIBUTE_READ_ONLY);
		ck_assert_rv(f->C_SetAttributeValue(s, priv, bad, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	}
	/* C_CopyObject to a session object that is not modifiable */
	{
		CK_ATTRIBUTE t[] = {{CKA_TOKEN, &f_, 1}, {CKA_MODIFIABLE, &f_, 1}};
		CK_ATTRIBUTE l[] = {{CKA_LABEL, "x", 1}};
		CK_ATTRIBUTE back[] = {{CKA_MODIFIABLE, &t_, 1}};

		ck_assert_rv(f->C_CopyObject(s, priv, t, 2, &copy), CKR_OK);
		ck_assert(copy != priv);
		ck_assert_rv(f->C_SetAttributeValue(s, copy, l, 1), CKR_ACTION_PROHIBITED);
		ck_assert_rv(f->C_CopyObject(s, copy, back, 1, &n), CKR_ATTRIBUTE_READ_ONLY);
	}
	/* a session object ends with the session that made it; token objects stay */
	{
		CK_SESSION_HANDLE other;
		CK_OBJECT_HANDLE scopy;
		CK_ATTRIBUTE t[] = {{CKA_TOKEN, &f_, 1}};

		ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &other), CKR_OK);
		ck_assert_rv(f->C_CopyObject(other, pub, t, 1, &scopy), CKR_OK);
		ck_assert_rv(f->C_GetObjectSize(s, scopy, &size), CKR_OK);
		ck_assert_rv(f->C_CloseSession(other), CKR_OK);
		ck_assert_rv(f->C_GetObjectSize(s, scopy, &size), CKR_OBJECT_HANDLE_INVALID);
		ck_assert_rv(f->C_GetObjectSize(s, pub, &size), CKR_OK);
	}
	/* Find: by class, private invisible from a public session */
	{
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}};

		ck_assert_rv(f->C_FindObjectsInit(s, t, 1), CKR_OK);
		ck_assert_rv(f->C_FindObjectsInit(s, t, 1), CKR_OPERATION_ACTIVE);
		ck_assert_rv(f->C_FindObjects(s, found, 8, &n), CKR_OK);
		ck_assert_int_eq(n, 2); /* the token key and its session copy */
		ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
		ck_assert_rv(f->C_FindObjects(s, found, 8, &n), CKR_OPERATION_NOT_INITIALIZED);
		ck_assert_rv(f->C_Logout(s), CKR_OK);
		ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &pub_s), CKR_OK);
		ck_assert_rv(f->C_FindObjectsInit(pub_s, t, 1), CKR_OK);
		ck_assert_rv(f->C_FindObjects(pub_s, found, 8, &n), CKR_OK);
		ck_assert_int_eq(n, 0);
		ck_assert_rv(f->C_FindObjectsFinal(pub_s), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(pub_s, priv, NULL, 0), CKR_OBJECT_HANDLE_INVALID);
	}
	teardown_store();
}
END_TEST

START_TEST(test_create_object_templates)
{
	CK_SESSION_HANDLE s, ro;
	CK_OBJECT_HANDLE h;
	CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, bogus = 0x4242;
	CK_KEY_TYPE rsa = CKK_RSA;
	CK_BBOOL t_ = CK_TRUE;
	CK_BYTE mod[256], exp[] = {1, 0, 1};

	memset(mod, 0xc5, sizeof(mod));
	mod[255] |= 1;
	setup_token();
	s = user_session();
	{
		CK_ATTRIBUTE none[] = {{CKA_LABEL, "x", 1}};
		CK_ATTRIBUTE badcls[] = {{CKA_CLASS, &bogus, sizeof(bogus)}};
		CK_ATTRIBUTE nokt[] = {{CKA_CLASS, &pubc, sizeof(pubc)}};
		CK_ATTRIBUTE incons[] = {{CKA_CLASS, &pubc, sizeof(pubc)}, {CKA_KEY_TYPE, &rsa, sizeof(rsa)},
					 {CKA_LABEL, "a", 1}, {CKA_LABEL, "b", 1}};
		CK_ATTRIBUTE ro_attr[] = {{CKA_CLASS, &pubc, sizeof(pubc)}, {CKA_KEY_TYPE, &rsa, sizeof(rsa)},
					  {CKA_LOCAL, &t_, 1}, {CKA_MODULUS, mod, sizeof(mod)},
					  {CKA_PUBLIC_EXPONENT, exp, 3}};
		CK_ATTRIBUTE incomplete[] = {{CKA_CLASS, &pubc, sizeof(pubc)}, {CKA_KEY_TYPE, &rsa, sizeof(rsa)},
					     {CKA_MODULUS, mod, sizeof(mod)}};
		CK_ATTRIBUTE wrongattr[] = {{CKA_CLASS, &pubc, sizeof(pubc)}, {CKA_KEY_TYPE, &rsa, sizeof(rsa)},
					    {CKA_SIGN, &t_, 1}, {CKA_MODULUS, mod, sizeof(mod)},
					    {CKA_PUBLIC_EXPONENT, exp, 3}};
		CK_ATTRIBUTE good[] = {{CKA_CLASS, &pubc, sizeof(pubc)}, {CKA_KEY_TYPE, &rsa, sizeof(rsa)},
				       {CKA_TOKEN, &t_, 1}, {CKA_MODULUS, mod, sizeof(mod)},
				       {CKA_PUBLIC_EXPONENT, exp, 3}};
		CK_ATTRIBUTE nullval[] = {{CKA_CLASS, NULL, sizeof(pubc)}};

		ck_assert_rv(f->C_CreateObject(s, none, 1, &h), CKR_TEMPLATE_INCOMPLETE);
		ck_assert_rv(f->C_CreateObject(s, badcls, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_rv(f->C_CreateObject(s, nokt, 1, &h), CKR_TEMPLATE_INCOMPLETE);
		ck_assert_rv(f->C_CreateObject(s, incons, 4, &h), CKR_TEMPLATE_INCONSISTENT);
		ck_assert_rv(f->C_CreateObject(s, ro_attr, 5, &h), CKR_ATTRIBUTE_READ_ONLY);
		ck_assert_rv(f->C_CreateObject(s, incomplete, 3, &h), CKR_TEMPLATE_INCOMPLETE);
		ck_assert_rv(f->C_CreateObject(s, wrongattr, 5, &h), CKR_ATTRIBUTE_TYPE_INVALID);
		ck_assert_rv(f->C_CreateObject(s, nullval, 1, &h), CKR_ARGUMENTS_BAD);
		ck_assert_rv(f->C_CreateObject(s, good, 5, NULL), CKR_ARGUMENTS_BAD);
		ck_assert_rv(f->C_CreateObject(s, good, 5, &h), CKR_OK);
		ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
		ck_assert_rv(f->C_CreateObject(ro, good, 5, &h), CKR_SESSION_READ_ONLY);
		ck_assert_rv(f->C_DestroyObject(ro, h), CKR_SESSION_READ_ONLY);
		ck_assert_rv(f->C_DestroyObject(s, h), CKR_OK);
		ck_assert_rv(f->C_DestroyObject(s, h), CKR_OBJECT_HANDLE_INVALID);
	}
	teardown_store();
}
END_TEST

START_TEST(test_sign_verify_codes)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
	CK_MECHANISM ecdsa = {CKM_ECDSA_SHA256, NULL, 0}, rsa = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_MECHANISM bogus = {CKM_VENDOR_DEFINED + 1, NULL, 0};
	CK_BYTE data[] = "kms11 test data", sig[256];
	CK_ULONG siglen = 0;
	CK_BBOOL f_ = CK_FALSE;

	setup_token();
	s = user_session();
	gen_ec(s, CK_FALSE, &pub, &priv);
	ck_assert_rv(f->C_Sign(s, data, sizeof(data), sig, &siglen), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f->C_SignInit(s, NULL, priv), CKR_ARGUMENTS_BAD);
	ck_assert_rv(f->C_SignInit(s, &bogus, priv), CKR_MECHANISM_INVALID);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, 0x1234), CKR_KEY_HANDLE_INVALID);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, pub), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_rv(f->C_SignInit(s, &rsa, priv), CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_OK);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_OPERATION_ACTIVE);
	/* size query leaves the operation active; a short buffer too */
	ck_assert_rv(f->C_Sign(s, data, sizeof(data), NULL, &siglen), CKR_OK);
	ck_assert_int_eq(siglen, 64);
	siglen = 10;
	ck_assert_rv(f->C_Sign(s, data, sizeof(data), sig, &siglen), CKR_BUFFER_TOO_SMALL);
	ck_assert_int_eq(siglen, 64);
	ck_assert_rv(f->C_Sign(s, data, sizeof(data), sig, &siglen), CKR_OK);
	ck_assert_int_eq(siglen, 64);
	ck_assert_rv(f->C_Sign(s, data, sizeof(data), sig, &siglen), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(s, data, sizeof(data), sig, siglen), CKR_OK);
	sig[5] ^= 1;
	ck_assert_rv(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(s, data, sizeof(data), sig, siglen), CKR_SIGNATURE_INVALID);
	ck_assert_rv(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(s, data, sizeof(data), sig, 12), CKR_SIGNATURE_LEN_RANGE);
	/* multi-part equals one-shot (verify the multi-part signature one-shot) */
	ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_OK);
	ck_assert_rv(f->C_SignUpdate(s, data, 5), CKR_OK);
	ck_assert_rv(f->C_SignUpdate(s, data + 5, sizeof(data) - 5), CKR_OK);
	siglen = sizeof(sig);
	ck_assert_rv(f->C_SignFinal(s, sig, &siglen), CKR_OK);
	ck_assert_rv(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(s, data, sizeof(data), sig, siglen), CKR_OK);
	/* key usage enforced */
	{
		CK_ATTRIBUTE t[] = {{CKA_SIGN, &f_, 1}};

		ck_assert_rv(f->C_SetAttributeValue(s, priv, t, 1), CKR_OK);
		ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_KEY_FUNCTION_NOT_PERMITTED);
	}
	/* private keys need the user */
	ck_assert_rv(f->C_Logout(s), CKR_OK);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_KEY_HANDLE_INVALID);
	teardown_store();
}
END_TEST

START_TEST(test_token_objects_persist)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv, found[4];
	CK_ULONG n = 0;
	CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
	CK_BYTE hash[32] = {1, 2, 3}, sig[128];
	CK_ULONG siglen = sizeof(sig);

	setup_token();
	s = user_session();
	gen_ec(s, CK_TRUE, &pub, &priv);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	{
		CK_ATTRIBUTE t[] = {{CKA_LABEL, "ec", 2}};

		ck_assert_rv(f->C_FindObjectsInit(s, t, 1), CKR_OK);
		ck_assert_rv(f->C_FindObjects(s, found, 4, &n), CKR_OK);
		ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
	}
	ck_assert_int_eq(n, 2);
	ck_assert(found[0] == pub || found[1] == pub);
	ck_assert(found[0] == priv || found[1] == priv);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_OK);
	ck_assert_rv(f->C_Sign(s, hash, sizeof(hash), sig, &siglen), CKR_OK);
	ck_assert_rv(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(s, hash, sizeof(hash), sig, siglen), CKR_OK);
	/* C_InitToken wipes the token's objects */
	ck_assert_rv(f->C_CloseAllSessions(0), CKR_OK);
	{
		CK_UTF8CHAR label[32];

		memset(label, ' ', sizeof(label));
		ck_assert_rv(f->C_InitToken(0, (CK_UTF8CHAR_PTR)"bad-pin!", 8, label), CKR_PIN_INCORRECT);
		ck_assert_rv(f->C_InitToken(0, (CK_UTF8CHAR_PTR)SO_PIN, 8, label), CKR_OK);
	}
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, pub, NULL, 0), CKR_OBJECT_HANDLE_INVALID);
	teardown_store();
}
END_TEST

START_TEST(test_random_and_unsupported)
{
	CK_SESSION_HANDLE s;
	CK_BYTE a[32] = {0}, b[32] = {0};
	CK_MECHANISM rsa = {CKM_RSA_PKCS, NULL, 0};
	CK_BYTE out[8];
	CK_ULONG outlen = sizeof(out);

	setup_token();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_GenerateRandom(s, a, sizeof(a)), CKR_OK);
	ck_assert_rv(f->C_GenerateRandom(s, b, sizeof(b)), CKR_OK);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert_rv(f->C_GenerateRandom(s, NULL, 4), CKR_ARGUMENTS_BAD);
	ck_assert_rv(f->C_SeedRandom(s, a, sizeof(a)), CKR_OK);
	ck_assert_rv(f->C_SignRecoverInit(s, &rsa, 1), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_DigestEncryptUpdate(s, a, 4, out, &outlen), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_WaitForSlotEvent(0, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_GetFunctionStatus(s), CKR_FUNCTION_NOT_PARALLEL);
	teardown_store();
}
END_TEST


START_TEST(test_keygen_attributes)
{
	static CK_BYTE printable[] = {0x13, 0x0a, 'p', 'r', 'i', 'm', 'e', '2', '5', '6', 'v', '1'};
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ecdsa = {CKM_ECDSA, NULL, 0};
	CK_BBOOL t_ = CK_TRUE, local = 0, as = 0, ne = 0, sens = 0;
	CK_MECHANISM_TYPE genmech = 0;
	CK_BYTE params[32], id1[64], id2[64], hash[32] = {9}, sig[80];
	CK_ULONG siglen = sizeof(sig);
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, printable, sizeof(printable)}, {CKA_TOKEN, &t_, 1}};
	CK_ATTRIBUTE vt[] = {{CKA_TOKEN, &t_, 1}};
	CK_OBJECT_HANDLE pub, priv;
	CK_SESSION_HANDLE s;

	setup_token();
	s = user_session();
	ck_assert_rv(f->C_GenerateKeyPair(s, &m, pt, 2, vt, 1, &pub, &priv), CKR_OK);
	{
		CK_ATTRIBUTE q[] = {{CKA_EC_PARAMS, params, sizeof(params)}, {CKA_LOCAL, &local, 1},
				    {CKA_ALWAYS_SENSITIVE, &as, 1}, {CKA_NEVER_EXTRACTABLE, &ne, 1},
				    {CKA_SENSITIVE, &sens, 1}, {CKA_KEY_GEN_MECHANISM, &genmech, sizeof(genmech)},
				    {CKA_ID, id1, sizeof(id1)}};
		CK_ATTRIBUTE r[] = {{CKA_ID, id2, sizeof(id2)}};

		ck_assert_rv(f->C_GetAttributeValue(s, priv, q, 7), CKR_OK);
		ck_assert_int_eq(q[0].ulValueLen, sizeof(p256)); /* stored as the OID */
		ck_assert_mem_eq(params, p256, sizeof(p256));
		ck_assert(local && as && ne && sens);
		ck_assert_int_eq(genmech, CKM_EC_KEY_PAIR_GEN);
		ck_assert_rv(f->C_GetAttributeValue(s, pub, r, 1), CKR_OK);
		ck_assert_int_eq(q[6].ulValueLen, 32);
		ck_assert_int_eq(r[0].ulValueLen, 32);
		ck_assert_mem_eq(id1, id2, 32); /* both halves share CKA_ID */
	}
	/* C_SetPIN rewraps the token key: keys made before still sign after a new login */
	ck_assert_rv(f->C_SetPIN(s, (CK_UTF8CHAR_PTR)USER_PIN, 4, (CK_UTF8CHAR_PTR)"7777", 4), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"7777", 4), CKR_OK);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_OK);
	ck_assert_rv(f->C_Sign(s, hash, sizeof(hash), sig, &siglen), CKR_OK);
	ck_assert_rv(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(s, hash, sizeof(hash), sig, siglen), CKR_OK);
	/* an unknown curve and a malformed parameter */
	{
		CK_BYTE secp256k1[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}, junk[] = {0x30, 0x01, 0x00};
		CK_ATTRIBUTE a[] = {{CKA_EC_PARAMS, secp256k1, sizeof(secp256k1)}};
		CK_ATTRIBUTE b[] = {{CKA_EC_PARAMS, junk, sizeof(junk)}};
		CK_ATTRIBUTE none[] = {{CKA_TOKEN, &t_, 1}};

		ck_assert_rv(f->C_GenerateKeyPair(s, &m, a, 1, NULL, 0, &pub, &priv), CKR_CURVE_NOT_SUPPORTED);
		ck_assert_rv(f->C_GenerateKeyPair(s, &m, b, 1, NULL, 0, &pub, &priv), CKR_DOMAIN_PARAMS_INVALID);
		ck_assert_rv(f->C_GenerateKeyPair(s, &m, none, 1, NULL, 0, &pub, &priv), CKR_TEMPLATE_INCOMPLETE);
	}
	teardown_store();
}
END_TEST

START_TEST(test_interfaces)
{
	CK_RV (*list)(void *, CK_ULONG_PTR);
	CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, void **, CK_FLAGS);
	struct {
		CK_CHAR *name;
		CK_FUNCTION_LIST *fl;
		CK_FLAGS flags;
	} ifs[4], *one = NULL;
	CK_ULONG n = 0;
	CK_VERSION v = {2, 40}, bad = {9, 9};

	setup_store();
	list = (CK_RV(*)(void *, CK_ULONG_PTR))dlsym(dl, "C_GetInterfaceList");
	get = (CK_RV(*)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, void **, CK_FLAGS))dlsym(dl, "C_GetInterface");
	ck_assert_ptr_nonnull(list);
	ck_assert_ptr_nonnull(get);
	ck_assert_rv(list(NULL, NULL), CKR_ARGUMENTS_BAD);
	ck_assert_rv(list(NULL, &n), CKR_OK);
	ck_assert_int_eq(n, 2);
	n = 1;
	ck_assert_rv(list(ifs, &n), CKR_BUFFER_TOO_SMALL);
	ck_assert_int_eq(n, 2);
	ck_assert_rv(list(ifs, &n), CKR_OK);
	/* 3.0 first, then the 2.40 list that C_GetFunctionList gives */
	ck_assert_str_eq((char *)ifs[0].name, "PKCS 11");
	ck_assert_int_eq(ifs[0].fl->version.major, 3);
	ck_assert_int_eq(ifs[0].fl->version.minor, 0);
	ck_assert_str_eq((char *)ifs[1].name, "PKCS 11");
	ck_assert_ptr_eq(ifs[1].fl, f);
	ck_assert_rv(get((CK_UTF8CHAR_PTR) "PKCS 11", &v, (void **)&one, 0), CKR_OK);
	ck_assert_ptr_eq(one->fl, f);
	ck_assert_rv(get(NULL, NULL, (void **)&one, 0), CKR_OK);
	ck_assert_ptr_eq(one->fl, ifs[0].fl);
	/* the 3.0 list: the 2.40 functions and 24 more, every slot filled */
	{
		const size_t first = offsetof(CK_FUNCTION_LIST, C_Initialize);
		void *slot;

		for (size_t i = 0; i < 68 + 24; i++) {
			memcpy(&slot, (const char *)ifs[0].fl + first + i * sizeof(void *), sizeof(slot));
			ck_assert_msg(slot != NULL, "3.0 function list slot %zu is empty", i);
		}
	}
	ck_assert_rv(get((CK_UTF8CHAR_PTR) "Vendor X", NULL, (void **)&one, 0), CKR_ARGUMENTS_BAD);
	ck_assert_rv(get(NULL, &bad, (void **)&one, 0), CKR_ARGUMENTS_BAD);
	/* every slot of the function list is filled */
	{
		const size_t first = offsetof(CK_FUNCTION_LIST, C_Initialize);
		const size_t count = (sizeof(*f) - first) / sizeof(void *);
		void *slot;

		ck_assert_int_eq(count, 68);
		for (size_t i = 0; i < count; i++) {
			memcpy(&slot, (const char *)f + first + i * sizeof(void *), sizeof(slot));
			ck_assert_msg(slot != NULL, "function list slot %zu is empty", i);
		}
	}
	f = NULL;
	teardown_store();
}
END_TEST

/* The token's profile object (PKCS#11 3.0 section 4.13): found by class, read-only, never destroyed. */
START_TEST(test_profile_object)
{
	CK_OBJECT_CLASS cls = CKO_PROFILE;
	CK_ULONG pid = 0, n = 0;
	CK_OBJECT_HANDLE h[4], h2[4];
	CK_BYTE uid[32];
	CK_BBOOL tok = 0;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}};
	CK_ATTRIBUTE q[] = {{CKA_PROFILE_ID, &pid, sizeof(pid)}, {CKA_TOKEN, &tok, 1}, {CKA_UNIQUE_ID, uid, sizeof(uid)}};
	CK_ATTRIBUTE lbl[] = {{CKA_LABEL, "x", 1}};
	CK_SESSION_HANDLE s;

	setup_token();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_FindObjectsInit(s, t, 1), CKR_OK);
	ck_assert_rv(f->C_FindObjects(s, h, 4, &n), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_rv(f->C_GetAttributeValue(s, h[0], q, 3), CKR_OK);
	ck_assert_int_eq(pid, KMS_CKP_BASELINE_PROVIDER);
	ck_assert(tok);
	ck_assert_rv(f->C_DestroyObject(s, h[0]), CKR_ACTION_PROHIBITED);
	ck_assert_rv(f->C_SetAttributeValue(s, h[0], lbl, 1), CKR_ACTION_PROHIBITED);
	ck_assert_rv(f->C_CopyObject(s, h[0], NULL, 0, &h2[0]), CKR_ACTION_PROHIBITED);
	/* it outlives sessions */
	ck_assert_rv(f->C_CloseSession(s), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_FindObjectsInit(s, t, 1), CKR_OK);
	ck_assert_rv(f->C_FindObjects(s, h2, 4, &n), CKR_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(h2[0], h[0]);
	teardown_store();
}
END_TEST

START_TEST(test_config_tokens)
{
	CK_SLOT_ID slots[4];
	CK_ULONG n = 4;
	CK_TOKEN_INFO ti;
	char log[300], line[512] = "";
	FILE *fp;

	setup_store();
	write_conf("[token:signing]\nengine = openssl\n\n[token:backup]\nengine = openssl\n");
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_rv(f->C_GetTokenInfo(slots[0], &ti), CKR_OK);
	ck_assert_int_eq(memcmp(ti.label, "signing ", 8), 0);
	ck_assert_rv(f->C_GetTokenInfo(slots[1], &ti), CKR_OK);
	ck_assert_int_eq(memcmp(ti.label, "backup ", 7), 0);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	/* a bad file: CKR_GENERAL_ERROR and a line in the log naming the line and the problem */
	snprintf(log, sizeof(log), "%s/kms11.log", store);
	setenv("KMS11_LOG", log, 1);
	write_conf("[token:x]\nengine = nosuch\n");
	ck_assert_rv(f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	ck_assert_rv(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
	fp = fopen(log, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
	fclose(fp);
	ck_assert_msg(strstr(line, "kms11.conf:2") && strstr(line, "nosuch"), "log line: %s", line);
	write_conf("\x01\x02 garbage [[[\n");
	ck_assert_rv(f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	unsetenv("KMS11_LOG");
	unsetenv("KMS11_CONF");
	f = NULL;
	teardown_store();
}
END_TEST

/* True when the file holds the bytes. */
static bool file_has(const char *path, const CK_BYTE *needle, size_t n)
{
	FILE *fp = fopen(path, "rb");
	static CK_BYTE buf[64 << 20];
	size_t len;

	ck_assert_ptr_nonnull(fp);
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	return memmem(buf, len, needle, n) != NULL;
}

START_TEST(test_no_plaintext_key_in_store)
{
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_BBOOL t_ = CK_TRUE, f_ = CK_FALSE;
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof(p256)}, {CKA_TOKEN, &t_, 1}};
	CK_ATTRIBUTE vt[] = {{CKA_TOKEN, &t_, 1}, {CKA_SENSITIVE, &f_, 1}, {CKA_EXTRACTABLE, &t_, 1}};
	CK_OBJECT_HANDLE pub, priv;
	CK_BYTE d[32], point[80];
	CK_ATTRIBUTE q[] = {{CKA_VALUE, d, sizeof(d)}};
	CK_ATTRIBUTE pq[] = {{CKA_EC_POINT, point, sizeof(point)}};
	CK_SESSION_HANDLE s;
	char path[300];
	/* a generated AES key and an imported HMAC key, both token objects */
	CK_MECHANISM aesgen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG len32 = 32;
	CK_ATTRIBUTE at[] = {{CKA_TOKEN, &t_, 1}, {CKA_VALUE_LEN, &len32, sizeof(len32)}, {CKA_SENSITIVE, &f_, 1},
			     {CKA_EXTRACTABLE, &t_, 1}};
	CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
	CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
	CK_BYTE aes[32], hkey[32];
	CK_ATTRIBUTE ht[] = {{CKA_CLASS, &sec, sizeof(sec)}, {CKA_KEY_TYPE, &gk, sizeof(gk)},
			     {CKA_VALUE, hkey, sizeof(hkey)}, {CKA_TOKEN, &t_, 1}};
	CK_ATTRIBUTE aq[] = {{CKA_VALUE, aes, sizeof(aes)}};
	CK_OBJECT_HANDLE ak, hk;

	for (size_t i = 0; i < sizeof(hkey); i++)
		hkey[i] = (CK_BYTE)(0x80 ^ (i * 13));
	setup_token();
	s = user_session();
	ck_assert_rv(f->C_GenerateKey(s, &aesgen, at, 4, &ak), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, ak, aq, 1), CKR_OK);
	ck_assert_rv(f->C_CreateObject(s, ht, 4, &hk), CKR_OK);
	ck_assert_rv(f->C_GenerateKeyPair(s, &m, pt, 2, vt, 3, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, priv, q, 1), CKR_OK);
	ck_assert_int_eq(q[0].ulValueLen, 32);
	ck_assert_rv(f->C_GetAttributeValue(s, pub, pq, 1), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	f = NULL;
	snprintf(path, sizeof(path), "%s/data.mdb", store);
	/* the public point is there in clear (so the search works), the private scalar is not */
	ck_assert(file_has(path, point + 3, 32));
	ck_assert(!file_has(path, d, sizeof(d)));
	/* nor the secret keys' values, nor any 8 bytes of them */
	for (size_t off = 0; off + 8 <= 32; off += 8) {
		ck_assert(!file_has(path, aes + off, 8));
		ck_assert(!file_has(path, hkey + off, 8));
	}
	teardown_store();
}
END_TEST

static Suite *module_suite(void)
{
	Suite *su = suite_create("module");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_initialize_rules);
	tcase_add_test(tc, test_app_mutexes);
	tcase_add_test(tc, test_slots_and_token_info);
	tcase_add_test(tc, test_session_states);
	tcase_add_test(tc, test_pin_lockout);
	tcase_add_test(tc, test_objects_and_attributes);
	tcase_add_test(tc, test_create_object_templates);
	tcase_add_test(tc, test_sign_verify_codes);
	tcase_add_test(tc, test_token_objects_persist);
	tcase_add_test(tc, test_random_and_unsupported);
	tcase_add_test(tc, test_keygen_attributes);
	tcase_add_test(tc, test_interfaces);
	tcase_add_test(tc, test_profile_object);
	tcase_add_test(tc, test_config_tokens);
	tcase_add_test(tc, test_no_plaintext_key_in_store);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return kms_test_run(module_suite());
}
