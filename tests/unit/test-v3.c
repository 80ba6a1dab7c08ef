/* SPDX-License-Identifier: Apache-2.0 */
/* The PKCS#11 3.0 surface through the module's 3.0 function list: interfaces, C_LoginUser, C_SessionCancel,
 * operation state, message-based AES-GCM and sign/verify, C_DigestKey and the digests, checked against OpenSSL. */
#include <stdbool.h>
#include <stddef.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/pkcs11x.h"
#include "tests/unit/modfixture.h"
#include "tests/unit/osslcheck.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef CK_RV (*msg_init_fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*msg_final_fn)(CK_SESSION_HANDLE);
typedef CK_RV (*msg_crypt_fn)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
			      CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*msg_crypt_begin_fn)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*msg_crypt_next_fn)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
				   CK_ULONG_PTR, CK_FLAGS);
typedef CK_RV (*msg_sign_fn)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
			     CK_ULONG_PTR);
typedef CK_RV (*msg_verify_fn)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
			       CK_ULONG);
typedef CK_RV (*msg_sv_begin_fn)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG);

/* CK_INTERFACE as the 3.0 specification prints it. */
struct ck_interface {
	CK_CHAR *pInterfaceName;
	void *pFunctionList;
	CK_FLAGS flags;
};

typedef CK_RV (*get_interface_list_fn)(struct ck_interface *, CK_ULONG_PTR);
typedef CK_RV (*get_interface_fn)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, struct ck_interface **, CK_FLAGS);

/* CK_FUNCTION_LIST_3_0: the 2.40 list, then the 3.0 functions in the specification's order. */
struct ck_function_list_3_0 {
	CK_FUNCTION_LIST base;
	get_interface_list_fn C_GetInterfaceList;
	get_interface_fn C_GetInterface;
	CK_RV (*C_LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG);
	CK_RV (*C_SessionCancel)(CK_SESSION_HANDLE, CK_FLAGS);
	msg_init_fn C_MessageEncryptInit;
	msg_crypt_fn C_EncryptMessage;
	msg_crypt_begin_fn C_EncryptMessageBegin;
	msg_crypt_next_fn C_EncryptMessageNext;
	msg_final_fn C_MessageEncryptFinal;
	msg_init_fn C_MessageDecryptInit;
	msg_crypt_fn C_DecryptMessage;
	msg_crypt_begin_fn C_DecryptMessageBegin;
	msg_crypt_next_fn C_DecryptMessageNext;
	msg_final_fn C_MessageDecryptFinal;
	msg_init_fn C_MessageSignInit;
	msg_sign_fn C_SignMessage;
	msg_sv_begin_fn C_SignMessageBegin;
	msg_sign_fn C_SignMessageNext;
	msg_final_fn C_MessageSignFinal;
	msg_init_fn C_MessageVerifyInit;
	msg_verify_fn C_VerifyMessage;
	msg_sv_begin_fn C_VerifyMessageBegin;
	msg_verify_fn C_VerifyMessageNext;
	msg_final_fn C_MessageVerifyFinal;
};

static struct ck_function_list_3_0 *f3;
static CK_SESSION_HANDLE sess;
static CK_BBOOL yes = CK_TRUE;
static CK_OBJECT_CLASS c_secret = CKO_SECRET_KEY;
static CK_BYTE oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

static get_interface_fn get_interface(void)
{
	get_interface_fn get = (get_interface_fn)dlsym(dl, "C_GetInterface");

	ck_assert_ptr_nonnull(get);
	return get;
}

/* The module's 3.0 function list, asked for by name and version. */
static struct ck_function_list_3_0 *list_3_0(void)
{
	CK_VERSION v = {3, 0};
	struct ck_interface *i = NULL;

	ck_assert_rv(get_interface()((CK_UTF8CHAR_PTR) "PKCS 11", &v, &i, 0), CKR_OK);
	ck_assert_ptr_nonnull(i);
	return i->pFunctionList;
}

static void setup(void)
{
	setup_token();
	f3 = list_3_0();
	sess = user_session();
}

static void teardown(void)
{
	teardown_store();
}

static void fill(CK_BYTE *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (CK_BYTE)(seed * 37 + i * 11 + 5);
}

/* A session secret key allowed to encrypt, decrypt, sign and verify (as its type permits). */
static CK_OBJECT_HANDLE secret(CK_KEY_TYPE kt, const CK_BYTE *val, CK_ULONG len)
{
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &c_secret, sizeof(c_secret)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
			    {CKA_VALUE, (void *)val, len},		   {CKA_SIGN, &yes, 1},
			    {CKA_VERIFY, &yes, 1},			   {CKA_ENCRYPT, &yes, 1},
			    {CKA_DECRYPT, &yes, 1}};
	CK_OBJECT_HANDLE h = 0;

	ck_assert_rv(f->C_CreateObject(sess, t, kt == CKK_AES ? 7 : 5, &h), CKR_OK);
	return h;
}

static void gen_p256(CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, oid_p256, sizeof(oid_p256)}, {CKA_VERIFY, &yes, 1}};
	CK_ATTRIBUTE vt[] = {{CKA_SIGN, &yes, 1}};

	ck_assert_rv(f->C_GenerateKeyPair(sess, &m, pt, 2, vt, 1, pub, priv), CKR_OK);
}

/* The module's P-256 public key, from its CKA_EC_POINT, as an OpenSSL key. */
static EVP_PKEY *p256_pub(CK_OBJECT_HANDLE pub)
{
	CK_BYTE pt[80];
	CK_ATTRIBUTE q = {CKA_EC_POINT, pt, sizeof(pt)};
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
			  OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt + 2, 65), OSSL_PARAM_END};
	EVP_PKEY *pk = NULL;

	ck_assert_rv(f->C_GetAttributeValue(sess, pub, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, 67);
	ck_assert_int_eq(EVP_PKEY_fromdata_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, p), 1);
	EVP_PKEY_CTX_free(c);
	return pk;
}

/* AES-256-GCM by plain OpenSSL with a 16-byte tag. */
static void ossl_gcm(const CK_BYTE key[32], const CK_BYTE *iv, size_t ivlen, const CK_BYTE *aad, size_t aadlen,
		     const CK_BYTE *in, size_t len, CK_BYTE *out, CK_BYTE tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	OSSL_PARAM p[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen), OSSL_PARAM_END};
	int l = 0;

	ck_assert_int_eq(EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), key, NULL, p), 1);
	ck_assert_int_eq(EVP_EncryptInit_ex2(c, NULL, NULL, iv, NULL), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, NULL, &l, aad, (int)aadlen), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, out, &l, in, (int)len), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(c, out + l, &l), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(c);
}

/* C_GetInterfaceList and C_GetInterface, before and after C_Initialize. */
START_TEST(test_interfaces)
{
	get_interface_list_fn list;
	get_interface_fn get;
	struct ck_interface ifs[4], *i = NULL;
	CK_VERSION v240 = {2, 40}, v30 = {3, 0}, v99 = {9, 9};
	CK_ULONG n = 0, small = 1;
	bool have30 = false, have240 = false;
	CK_INFO info;
	CK_SLOT_ID slot = 0;
	CK_FUNCTION_LIST *fl;

	setup_store();
	list = (get_interface_list_fn)dlsym(dl, "C_GetInterfaceList");
	ck_assert_ptr_nonnull(list);
	get = get_interface();
	/* both work before C_Initialize */
	ck_assert_rv(list(NULL, NULL), CKR_ARGUMENTS_BAD);
	ck_assert_rv(list(NULL, &n), CKR_OK);
	ck_assert_uint_ge(n, 2);
	ck_assert_uint_le(n, N(ifs));
	ck_assert_rv(list(ifs, &small), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(small, n);
	ck_assert_rv(list(ifs, &n), CKR_OK);
	for (CK_ULONG k = 0; k < n; k++) {
		fl = ifs[k].pFunctionList;
		ck_assert_ptr_nonnull(fl);
		if (strcmp((const char *)ifs[k].pInterfaceName, "PKCS 11") != 0)
			continue;
		have30 |= fl->version.major == 3 && fl->version.minor == 0;
		have240 |= fl->version.major == 2 && fl->version.minor == 40;
	}
	ck_assert(have30);
	ck_assert(have240);
	/* no name, no version: the 3.0 list */
	ck_assert_rv(get(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
	ck_assert_rv(get(NULL, NULL, &i, 0), CKR_OK);
	ck_assert_str_eq((const char *)i->pInterfaceName, "PKCS 11");
	fl = i->pFunctionList;
	ck_assert_int_eq(fl->version.major, 3);
	ck_assert_int_eq(fl->version.minor, 0);
	ck_assert_rv(get((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &i, 0), CKR_OK);
	fl = i->pFunctionList;
	ck_assert_int_eq(fl->version.major, 2);
	ck_assert_int_eq(fl->version.minor, 40);
	ck_assert_ptr_nonnull(fl->C_GetInfo);
	ck_assert_rv(get((CK_UTF8CHAR_PTR) "PKCS 11", &v30, &i, 0), CKR_OK);
	f3 = i->pFunctionList;
	ck_assert_int_eq(f3->base.version.major, 3);
	ck_assert_int_eq(f3->base.version.minor, 0);
	ck_assert_rv(get((CK_UTF8CHAR_PTR) "Vendor kms11", NULL, &i, 0), CKR_ARGUMENTS_BAD);
	ck_assert_rv(get((CK_UTF8CHAR_PTR) "PKCS 11", &v99, &i, 0), CKR_ARGUMENTS_BAD);
	/* every 3.0 entry point is there, and the list drives the module */
	for (void (**fn)(void) = (void (**)(void))&f3->C_GetInterfaceList;
	     fn <= (void (**)(void))&f3->C_MessageVerifyFinal; fn++)
		ck_assert_ptr_nonnull(*fn);
	ck_assert_ptr_eq(f3->C_GetInterface, get);
	ck_assert_ptr_eq(f3->C_GetInterfaceList, list);
	ck_assert_rv(f3->base.C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_rv(f3->base.C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_rv(f3->base.C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f3->base.C_GetInfo(&info), CKR_OK);
	/* each list reports its own version */
	ck_assert_int_eq(info.cryptokiVersion.major, 3);
	ck_assert_int_eq(info.cryptokiVersion.minor, 0);
	ck_assert_rv(fl->C_GetInfo(&info), CKR_OK);
	ck_assert_int_eq(info.cryptokiVersion.major, 2);
	ck_assert_int_eq(info.cryptokiVersion.minor, 40);
	ck_assert_rv(f3->base.C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	/* after C_Initialize too */
	ck_assert_rv(list(NULL, &n), CKR_OK);
	ck_assert_rv(get(NULL, NULL, &i, 0), CKR_OK);
	teardown_store();
}
END_TEST

/* C_LoginUser: a NULL user name is the ordinary login; the token has no named users. */
START_TEST(test_login_user)
{
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO si;

	ck_assert_rv(f->C_Logout(sess), CKR_OK);
	ck_assert_rv(f3->base.C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4, (CK_UTF8CHAR_PTR) "alice", 5),
		     CKR_USER_TYPE_INVALID);
	ck_assert_rv(f->C_GetSessionInfo(s, &si), CKR_OK);
	ck_assert_uint_eq(si.state, CKS_RW_PUBLIC_SESSION);
	ck_assert_rv(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR) "0000", 4, NULL, 0), CKR_PIN_INCORRECT);
	ck_assert_rv(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4, NULL, 0), CKR_OK);
	ck_assert_rv(f->C_GetSessionInfo(s, &si), CKR_OK);
	ck_assert_uint_eq(si.state, CKS_RW_USER_FUNCTIONS);
	ck_assert_rv(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4, NULL, 0), CKR_USER_ALREADY_LOGGED_IN);
	ck_assert_rv(f->C_Logout(s), CKR_OK);
	ck_assert_rv(f3->C_LoginUser(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, 8, NULL, 0), CKR_OK);
	ck_assert_rv(f->C_GetSessionInfo(s, &si), CKR_OK);
	ck_assert_uint_eq(si.state, CKS_RW_SO_FUNCTIONS);
}
END_TEST

/* C_SessionCancel ends the operations named by its flags and leaves the others. */
START_TEST(test_session_cancel)
{
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0}, hm = {CKM_SHA256_HMAC, NULL, 0}, gcm = {CKM_AES_GCM, NULL, 0};
	CK_BYTE key[32], out[64], want[32], msg[] = "digest goes on";
	CK_ULONG n = sizeof(out);
	CK_OBJECT_HANDLE hk, ak;

	fill(key, sizeof(key), 1);
	hk = secret(CKK_GENERIC_SECRET, key, 32);
	ak = secret(CKK_AES, key, 32);
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_DigestUpdate(sess, msg, 6), CKR_OK);
	ck_assert_rv(f->C_SignInit(sess, &hm, hk), CKR_OK);
	ck_assert_rv(f->C_SignUpdate(sess, msg, 3), CKR_OK);
	ck_assert_rv(f3->C_SessionCancel(sess, CKF_SIGN), CKR_OK);
	ck_assert_rv(f->C_Sign(sess, msg, 3, out, &n), CKR_OPERATION_NOT_INITIALIZED);
	n = sizeof(out);
	ck_assert_rv(f->C_SignFinal(sess, out, &n), CKR_OPERATION_NOT_INITIALIZED);
	/* the digest is untouched */
	ck_assert_rv(f->C_DigestUpdate(sess, msg + 6, sizeof(msg) - 7), CKR_OK);
	n = sizeof(out);
	ck_assert_rv(f->C_DigestFinal(sess, out, &n), CKR_OK);
	ck_assert_uint_eq(n, 32);
	SHA256(msg, sizeof(msg) - 1, want);
	ck_assert_mem_eq(out, want, 32);
	/* a cancelled sign can start again; a message operation is cancelled by its own flag */
	ck_assert_rv(f->C_SignInit(sess, &hm, hk), CKR_OK);
	ck_assert_rv(f3->C_MessageEncryptInit(sess, &gcm, ak), CKR_OK);
	ck_assert_rv(f3->C_SessionCancel(sess, CKF_MESSAGE_ENCRYPT), CKR_OK);
	ck_assert_rv(f3->C_MessageEncryptFinal(sess), CKR_OPERATION_NOT_INITIALIZED);
	n = sizeof(out);
	ck_assert_rv(f->C_Sign(sess, msg, 3, out, &n), CKR_OK);
	ck_assert_uint_eq(n, 32);
}
END_TEST

START_TEST(test_operation_state)
{
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	CK_BYTE st[256] = {0};
	CK_ULONG n = sizeof(st);

	ck_assert_rv(f->C_GetOperationState(sess, st, &n), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_DigestUpdate(sess, st, 10), CKR_OK);
	n = 0;
	ck_assert_rv(f->C_GetOperationState(sess, NULL, &n), CKR_STATE_UNSAVEABLE);
	n = sizeof(st);
	ck_assert_rv(f->C_GetOperationState(sess, st, &n), CKR_STATE_UNSAVEABLE);
	ck_assert_rv(f->C_SetOperationState(sess, st, 16, CK_INVALID_HANDLE, CK_INVALID_HANDLE),
		     CKR_SAVED_STATE_INVALID);
}
END_TEST

/* The dual-function calls are not offered, with or without the operations they would combine. */
START_TEST(test_dual_function)
{
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0}, ecb = {CKM_AES_ECB, NULL, 0};
	CK_BYTE key[16], in[16], out[64];
	CK_ULONG n = sizeof(out);
	CK_OBJECT_HANDLE k;

	fill(key, sizeof(key), 2);
	fill(in, sizeof(in), 3);
	k = secret(CKK_AES, key, 16);
	ck_assert_rv(f->C_DigestEncryptUpdate(sess, in, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_DecryptDigestUpdate(sess, in, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_SignEncryptUpdate(sess, in, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_DecryptVerifyUpdate(sess, in, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_EncryptInit(sess, &ecb, k), CKR_OK);
	ck_assert_rv(f3->base.C_DigestEncryptUpdate(sess, in, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f3->base.C_SignEncryptUpdate(sess, in, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
}
END_TEST

/* Message-based AES-GCM encryption: given and generated IVs, one-shot and in parts, against OpenSSL. */
START_TEST(test_message_encrypt)
{
	CK_BYTE key[32], iv[12], first_iv[12], aad[20], pt[100], ct[128], tag[16], rct[128], rtag[16];
	struct kms_ck_gcm_message_params p = {iv, sizeof(iv), 0, KMS_CKG_NO_GENERATE, tag, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, NULL, 0};
	CK_ULONG n, total;
	CK_OBJECT_HANDLE k;

	fill(key, sizeof(key), 4);
	fill(iv, sizeof(iv), 5);
	fill(aad, sizeof(aad), 6);
	fill(pt, sizeof(pt), 7);
	k = secret(CKK_AES, key, sizeof(key));
	n = sizeof(ct);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 20, pt, 100, ct, &n),
		     CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f3->C_MessageEncryptInit(sess, &gcm, k), CKR_OK);
	ck_assert_rv(f3->C_MessageEncryptInit(sess, &gcm, k), CKR_OPERATION_ACTIVE);
	/* an IV the caller gives: size query, then OpenSSL's bytes */
	n = 0;
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 20, pt, 100, NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 100);
	n = 99;
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 20, pt, 100, ct, &n), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(n, 100);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 20, pt, 100, ct, &n), CKR_OK);
	ck_assert_uint_eq(n, 100);
	ossl_gcm(key, iv, 12, aad, 20, pt, 100, rct, rtag);
	ck_assert_mem_eq(ct, rct, 100);
	ck_assert_mem_eq(tag, rtag, 16);
	/* the module's random IV after 32 fixed bits: the first 4 bytes stay, the rest differ per message */
	p.ivGenerator = KMS_CKG_GENERATE_RANDOM;
	p.ulIvFixedBits = 32;
	memcpy(iv, "\xa1\xb2\xc3\xd4", 4);
	memset(iv + 4, 0, 8);
	n = sizeof(ct);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 20, pt, 100, ct, &n), CKR_OK);
	ck_assert_mem_eq(iv, "\xa1\xb2\xc3\xd4", 4);
	memcpy(first_iv, iv, 12);
	ossl_gcm(key, iv, 12, aad, 20, pt, 100, rct, rtag);
	ck_assert_mem_eq(ct, rct, 100);
	ck_assert_mem_eq(tag, rtag, 16);
	n = sizeof(ct);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 20, pt, 100, ct, &n), CKR_OK);
	ck_assert_mem_eq(iv, "\xa1\xb2\xc3\xd4", 4);
	ck_assert(memcmp(iv + 4, first_iv + 4, 8) != 0);
	ossl_gcm(key, iv, 12, aad, 20, pt, 100, rct, rtag);
	ck_assert_mem_eq(ct, rct, 100);
	ck_assert_mem_eq(tag, rtag, 16);
	/* in parts with a given IV: Begin, Next for 1, 33, 50 and the last 16 bytes, equal to the one-shot */
	p.ivGenerator = KMS_CKG_NO_GENERATE;
	p.ulIvFixedBits = 0;
	fill(iv, sizeof(iv), 8);
	memset(tag, 0, sizeof(tag));
	ck_assert_rv(f3->C_EncryptMessageBegin(sess, &p, sizeof(p), aad, 20), CKR_OK);
	{
		static const CK_ULONG parts[] = {1, 33, 50, 16};
		CK_ULONG off = 0;

		total = 0;
		for (size_t i = 0; i < N(parts); i++) {
			CK_ULONG part = sizeof(ct) - total;
			CK_FLAGS fl = i + 1 == N(parts) ? CKF_END_OF_MESSAGE : 0;

			ck_assert_rv(f3->C_EncryptMessageNext(sess, &p, sizeof(p), pt + off, parts[i], ct + total,
							      &part, fl),
				     CKR_OK);
			off += parts[i];
			total += part;
		}
		ck_assert_uint_eq(off, 100);
	}
	ck_assert_uint_eq(total, 100);
	ossl_gcm(key, iv, 12, aad, 20, pt, 100, rct, rtag);
	ck_assert_mem_eq(ct, rct, 100);
	ck_assert_mem_eq(tag, rtag, 16);
	/* a 96-bit tag is the first 12 bytes of the full one */
	p.ulTagBits = 96;
	memset(tag, 0, sizeof(tag));
	n = sizeof(ct);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 20, pt, 100, ct, &n), CKR_OK);
	ck_assert_mem_eq(ct, rct, 100);
	ck_assert_mem_eq(tag, rtag, 12);
	ck_assert_mem_eq(tag + 12, "\0\0\0\0", 4);
	p.ulTagBits = 128;
	/* still active for more messages until C_MessageEncryptFinal */
	n = sizeof(ct);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), NULL, 0, pt, 10, ct, &n), CKR_OK);
	ck_assert_rv(f3->C_MessageEncryptFinal(sess), CKR_OK);
	n = sizeof(ct);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 20, pt, 100, ct, &n),
		     CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f3->C_MessageEncryptFinal(sess), CKR_OPERATION_NOT_INITIALIZED);
}
END_TEST

/* Message-based AES-GCM decryption of OpenSSL's ciphertext: one-shot, in parts, and a changed tag. */
START_TEST(test_message_decrypt)
{
	CK_BYTE key[32], iv[12], aad[13], pt[100], ct[100], tag[16], back[128];
	struct kms_ck_gcm_message_params p = {iv, sizeof(iv), 0, KMS_CKG_NO_GENERATE, tag, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, NULL, 0};
	CK_ULONG n, total, part;
	CK_OBJECT_HANDLE k;

	fill(key, sizeof(key), 9);
	fill(iv, sizeof(iv), 10);
	fill(aad, sizeof(aad), 11);
	fill(pt, sizeof(pt), 12);
	k = secret(CKK_AES, key, sizeof(key));
	ossl_gcm(key, iv, 12, aad, 13, pt, 100, ct, tag);
	ck_assert_rv(f3->C_MessageDecryptInit(sess, &gcm, k), CKR_OK);
	n = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessage(sess, &p, sizeof(p), aad, 13, ct, 100, back, &n), CKR_OK);
	ck_assert_uint_eq(n, 100);
	ck_assert_mem_eq(back, pt, 100);
	/* in parts */
	ck_assert_rv(f3->C_DecryptMessageBegin(sess, &p, sizeof(p), aad, 13), CKR_OK);
	total = 0;
	part = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessageNext(sess, &p, sizeof(p), ct, 37, back, &part, 0), CKR_OK);
	total += part;
	part = sizeof(back) - total;
	ck_assert_rv(f3->C_DecryptMessageNext(sess, &p, sizeof(p), ct + 37, 63, back + total, &part,
					      CKF_END_OF_MESSAGE),
		     CKR_OK);
	total += part;
	ck_assert_uint_eq(total, 100);
	ck_assert_mem_eq(back, pt, 100);
	/* a changed tag or associated data fails the message */
	tag[15] ^= 0x80;
	n = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessage(sess, &p, sizeof(p), aad, 13, ct, 100, back, &n), CKR_AEAD_DECRYPT_FAILED);
	ck_assert_rv(f3->C_DecryptMessageBegin(sess, &p, sizeof(p), aad, 13), CKR_OK);
	part = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessageNext(sess, &p, sizeof(p), ct, 100, back, &part, CKF_END_OF_MESSAGE),
		     CKR_AEAD_DECRYPT_FAILED);
	tag[15] ^= 0x80;
	aad[0] ^= 1;
	n = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessage(sess, &p, sizeof(p), aad, 13, ct, 100, back, &n), CKR_AEAD_DECRYPT_FAILED);
	aad[0] ^= 1;
	ck_assert_rv(f3->C_MessageDecryptFinal(sess), CKR_OK);
	n = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessage(sess, &p, sizeof(p), aad, 13, ct, 100, back, &n),
		     CKR_OPERATION_NOT_INITIALIZED);
}
END_TEST

/* Message-based ECDSA-SHA256: each message signed verifies with OpenSSL; the module verifies them too. */
START_TEST(test_message_sign_ecdsa)
{
	CK_MECHANISM ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
	CK_BYTE m1[] = "first message", m2[] = "second message, signed in parts", s1[80], s2[80], s3[80];
	CK_ULONG l1 = 0, l2 = sizeof(s2), l3 = sizeof(s3);
	CK_OBJECT_HANDLE pub, priv;
	EVP_PKEY *pk;

	gen_p256(&pub, &priv);
	pk = p256_pub(pub);
	ck_assert_rv(f3->C_MessageSignInit(sess, &ecdsa, priv), CKR_OK);
	ck_assert_rv(f3->C_SignMessage(sess, NULL, 0, m1, sizeof(m1), NULL, &l1), CKR_OK);
	ck_assert_uint_eq(l1, 64);
	ck_assert_rv(f3->C_SignMessage(sess, NULL, 0, m1, sizeof(m1), s1, &l1), CKR_OK);
	ck_assert_uint_eq(l1, 64);
	ck_assert_rv(f3->C_SignMessage(sess, NULL, 0, m2, sizeof(m2), s2, &l2), CKR_OK);
	ck_assert_uint_eq(l2, 64);
	ck_assert(ossl_ecdsa_ok(pk, m1, sizeof(m1), s1, l1));
	ck_assert(ossl_ecdsa_ok(pk, m2, sizeof(m2), s2, l2));
	ck_assert(!ossl_ecdsa_ok(pk, m2, sizeof(m2), s1, l1));
	/* in parts: no signature until the part with a length pointer */
	ck_assert_rv(f3->C_SignMessageBegin(sess, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_SignMessageNext(sess, NULL, 0, m2, 7, NULL, NULL), CKR_OK);
	ck_assert_rv(f3->C_SignMessageNext(sess, NULL, 0, m2 + 7, 10, NULL, NULL), CKR_OK);
	ck_assert_rv(f3->C_SignMessageNext(sess, NULL, 0, m2 + 17, sizeof(m2) - 17, s3, &l3), CKR_OK);
	ck_assert_uint_eq(l3, 64);
	ck_assert(ossl_ecdsa_ok(pk, m2, sizeof(m2), s3, l3));
	ck_assert_rv(f3->C_MessageSignFinal(sess), CKR_OK);
	ck_assert_rv(f3->C_SignMessage(sess, NULL, 0, m1, sizeof(m1), s1, &l1), CKR_OPERATION_NOT_INITIALIZED);
	/* verification, whole and in parts */
	ck_assert_rv(f3->C_MessageVerifyInit(sess, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, m1, sizeof(m1), s1, l1), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, m2, sizeof(m2), s2, l2), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, m2, sizeof(m2), s1, l1), CKR_SIGNATURE_INVALID);
	s2[10] ^= 1;
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, m2, sizeof(m2), s2, l2), CKR_SIGNATURE_INVALID);
	ck_assert_rv(f3->C_VerifyMessageBegin(sess, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessageNext(sess, NULL, 0, m2, 20, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessageNext(sess, NULL, 0, m2 + 20, sizeof(m2) - 20, s3, l3), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessageBegin(sess, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessageNext(sess, NULL, 0, m1, sizeof(m1), s3, l3), CKR_SIGNATURE_INVALID);
	ck_assert_rv(f3->C_MessageVerifyFinal(sess), CKR_OK);
	ck_assert_rv(f3->C_MessageVerifyFinal(sess), CKR_OPERATION_NOT_INITIALIZED);
	EVP_PKEY_free(pk);
}
END_TEST

/* Message-based HMAC-SHA256 equals HMAC(), and verifies. */
START_TEST(test_message_sign_hmac)
{
	CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
	CK_BYTE key[32], mac[64], ref[32], m1[] = "hmac one", m2[] = "hmac two";
	CK_ULONG n = sizeof(mac);
	unsigned int rl = 0;
	CK_OBJECT_HANDLE k;

	fill(key, sizeof(key), 13);
	k = secret(CKK_GENERIC_SECRET, key, sizeof(key));
	ck_assert_rv(f3->C_MessageSignInit(sess, &hm, k), CKR_OK);
	ck_assert_rv(f3->C_SignMessage(sess, NULL, 0, m1, sizeof(m1), mac, &n), CKR_OK);
	ck_assert_uint_eq(n, 32);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, 32, m1, sizeof(m1), ref, &rl));
	ck_assert_mem_eq(mac, ref, 32);
	n = sizeof(mac);
	ck_assert_rv(f3->C_SignMessage(sess, NULL, 0, m2, sizeof(m2), mac, &n), CKR_OK);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, 32, m2, sizeof(m2), ref, &rl));
	ck_assert_mem_eq(mac, ref, 32);
	ck_assert_rv(f3->C_SignMessageBegin(sess, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_SignMessageNext(sess, NULL, 0, m2, 3, NULL, NULL), CKR_OK);
	n = sizeof(mac);
	ck_assert_rv(f3->C_SignMessageNext(sess, NULL, 0, m2 + 3, sizeof(m2) - 3, mac, &n), CKR_OK);
	ck_assert_uint_eq(n, 32);
	ck_assert_mem_eq(mac, ref, 32);
	ck_assert_rv(f3->C_MessageSignFinal(sess), CKR_OK);
	ck_assert_rv(f3->C_MessageVerifyInit(sess, &hm, k), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, m2, sizeof(m2), ref, 32), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, m1, sizeof(m1), ref, 32), CKR_SIGNATURE_INVALID);
	ck_assert_rv(f3->C_MessageVerifyFinal(sess), CKR_OK);
}
END_TEST

START_TEST(test_digest_key)
{
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0}, gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_ULONG bits = 2048;
	CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
	CK_BYTE key[24], buf[64], joined[40], want[32];
	CK_ULONG n = sizeof(buf);
	CK_OBJECT_HANDLE k, pub, priv;

	fill(key, sizeof(key), 14);
	k = secret(CKK_AES, key, sizeof(key));
	ck_assert_rv(f->C_DigestKey(sess, k), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_DigestUpdate(sess, (CK_BYTE_PTR) "prefix", 6), CKR_OK);
	ck_assert_rv(f->C_DigestKey(sess, k), CKR_OK);
	ck_assert_rv(f->C_DigestFinal(sess, buf, &n), CKR_OK);
	ck_assert_uint_eq(n, 32);
	memcpy(joined, "prefix", 6);
	memcpy(joined + 6, key, sizeof(key));
	SHA256(joined, 6 + sizeof(key), want);
	ck_assert_mem_eq(buf, want, 32);
	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, NULL, 0, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_DigestKey(sess, priv), CKR_KEY_INDIGESTIBLE);
}
END_TEST

/* Every digest, single-part (with size query) and in parts, equals OpenSSL's. */
START_TEST(test_digests)
{
	static const struct {
		CK_MECHANISM_TYPE mech;
		const char *name;
		size_t len;
	} d[] = {
		{CKM_SHA_1, "SHA1", 20},	 {CKM_SHA224, "SHA224", 28},	   {CKM_SHA256, "SHA256", 32},
		{CKM_SHA384, "SHA384", 48},	 {CKM_SHA512, "SHA512", 64},	   {CKM_SHA3_256, "SHA3-256", 32},
		{CKM_SHA3_384, "SHA3-384", 48}, {CKM_SHA3_512, "SHA3-512", 64},
	};
	CK_BYTE msg[300];

	fill(msg, sizeof(msg), 15);
	for (size_t i = 0; i < N(d); i++) {
		CK_MECHANISM m = {d[i].mech, NULL, 0};
		CK_BYTE out[64], want[64];
		CK_ULONG n = 0;
		unsigned int wl = 0;
		EVP_MD *md = EVP_MD_fetch(NULL, d[i].name, NULL);

		ck_assert_ptr_nonnull(md);
		ck_assert_int_eq(EVP_Digest(msg, sizeof(msg), want, &wl, md, NULL), 1);
		ck_assert_uint_eq(wl, d[i].len);
		EVP_MD_free(md);
		ck_assert_rv(f->C_DigestInit(sess, &m), CKR_OK);
		ck_assert_rv(f->C_Digest(sess, msg, sizeof(msg), NULL, &n), CKR_OK);
		ck_assert_uint_eq(n, d[i].len);
		n = (CK_ULONG)d[i].len - 1;
		ck_assert_rv(f->C_Digest(sess, msg, sizeof(msg), out, &n), CKR_BUFFER_TOO_SMALL);
		ck_assert_uint_eq(n, d[i].len);
		ck_assert_rv(f->C_Digest(sess, msg, sizeof(msg), out, &n), CKR_OK);
		ck_assert_uint_eq(n, d[i].len);
		ck_assert_mem_eq(out, want, d[i].len);
		/* in parts, one of them empty */
		memset(out, 0, sizeof(out));
		ck_assert_rv(f->C_DigestInit(sess, &m), CKR_OK);
		ck_assert_rv(f->C_DigestUpdate(sess, msg, 1), CKR_OK);
		ck_assert_rv(f->C_DigestUpdate(sess, msg + 1, 0), CKR_OK);
		ck_assert_rv(f->C_DigestUpdate(sess, msg + 1, 150), CKR_OK);
		ck_assert_rv(f->C_DigestUpdate(sess, msg + 151, sizeof(msg) - 151), CKR_OK);
		n = 0;
		ck_assert_rv(f->C_DigestFinal(sess, NULL, &n), CKR_OK);
		ck_assert_uint_eq(n, d[i].len);
		ck_assert_rv(f->C_DigestFinal(sess, out, &n), CKR_OK);
		ck_assert_uint_eq(n, d[i].len);
		ck_assert_mem_eq(out, want, d[i].len);
		ck_assert_rv(f->C_DigestFinal(sess, out, &n), CKR_OPERATION_NOT_INITIALIZED);
	}
}
END_TEST

int main(void)
{
	Suite *su = suite_create("v3");
	TCase *iface = tcase_create("interface");
	TCase *ops = tcase_create("operations");
	TCase *msg = tcase_create("messages");

	tcase_set_timeout(iface, 60);
	tcase_add_test(iface, test_interfaces);
	suite_add_tcase(su, iface);
	tcase_add_checked_fixture(ops, setup, teardown);
	tcase_set_timeout(ops, 120);
	tcase_add_test(ops, test_login_user);
	tcase_add_test(ops, test_session_cancel);
	tcase_add_test(ops, test_operation_state);
	tcase_add_test(ops, test_dual_function);
	tcase_add_test(ops, test_digest_key);
	tcase_add_test(ops, test_digests);
	suite_add_tcase(su, ops);
	tcase_add_checked_fixture(msg, setup, teardown);
	tcase_set_timeout(msg, 60);
	tcase_add_test(msg, test_message_encrypt);
	tcase_add_test(msg, test_message_decrypt);
	tcase_add_test(msg, test_message_sign_ecdsa);
	tcase_add_test(msg, test_message_sign_hmac);
	suite_add_tcase(su, msg);
	return kms_test_run(su);
}
