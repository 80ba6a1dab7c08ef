/* SPDX-License-Identifier: Apache-2.0 */
/* The PKCS#11 3.0 interface: its function list, C_LoginUser, C_SessionCancel, message-based AES-GCM and
 * sign/verify, operation state, C_DigestKey; results checked against plain OpenSSL. */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/pkcs11x.h"
#include "tests/unit/modfixture.h"

typedef CK_RV (*msg_init_fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*msg_final_fn)(CK_SESSION_HANDLE);
typedef CK_RV (*crypt_msg_fn)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
			      CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*crypt_begin_fn)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*crypt_next_fn)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR,
			       CK_FLAGS);
typedef CK_RV (*sign_msg_fn)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*verify_msg_fn)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*sv_begin_fn)(CK_SESSION_HANDLE, void *, CK_ULONG);

/* CK_FUNCTION_LIST_3_0, laid out as the specification prints it. */
struct fl30 {
	CK_FUNCTION_LIST base;
	void *C_GetInterfaceList, *C_GetInterface;
	CK_RV (*C_LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG);
	CK_RV (*C_SessionCancel)(CK_SESSION_HANDLE, CK_FLAGS);
	msg_init_fn C_MessageEncryptInit;
	crypt_msg_fn C_EncryptMessage;
	crypt_begin_fn C_EncryptMessageBegin;
	crypt_next_fn C_EncryptMessageNext;
	msg_final_fn C_MessageEncryptFinal;
	msg_init_fn C_MessageDecryptInit;
	crypt_msg_fn C_DecryptMessage;
	crypt_begin_fn C_DecryptMessageBegin;
	crypt_next_fn C_DecryptMessageNext;
	msg_final_fn C_MessageDecryptFinal;
	msg_init_fn C_MessageSignInit;
	sign_msg_fn C_SignMessage;
	sv_begin_fn C_SignMessageBegin;
	sign_msg_fn C_SignMessageNext;
	msg_final_fn C_MessageSignFinal;
	msg_init_fn C_MessageVerifyInit;
	verify_msg_fn C_VerifyMessage;
	sv_begin_fn C_VerifyMessageBegin;
	verify_msg_fn C_VerifyMessageNext;
	msg_final_fn C_MessageVerifyFinal;
};

struct iface {
	CK_CHAR *name;
	void *fl;
	CK_FLAGS flags;
};

static struct fl30 *f3;
static CK_SESSION_HANDLE sess;

static void setup(void)
{
	CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, struct iface **, CK_FLAGS);
	struct iface *i = NULL;

	setup_token();
	get = (CK_RV(*)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, struct iface **, CK_FLAGS))dlsym(dl, "C_GetInterface");
	ck_assert_ptr_nonnull(get);
	ck_assert_rv(get((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &i, 0), CKR_OK);
	f3 = i->fl;
	ck_assert_int_eq(f3->base.version.major, 3);
	sess = user_session();
}

static void teardown(void)
{
	teardown_store();
}

static CK_OBJECT_HANDLE aes_key(const CK_BYTE *val, CK_ULONG len)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE tm[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
			     {CKA_VALUE, (void *)val, len},	{CKA_ENCRYPT, &t, 1},
			     {CKA_DECRYPT, &t, 1},		{CKA_SIGN, &t, 1},
			     {CKA_VERIFY, &t, 1}};
	CK_OBJECT_HANDLE h = 0;

	ck_assert_rv(f->C_CreateObject(sess, tm, 7, &h), CKR_OK);
	return h;
}

/* AES-256-GCM by plain OpenSSL: ciphertext and tag. */
static void ref_gcm(const CK_BYTE *key, const CK_BYTE *iv, size_t ivlen, const CK_BYTE *aad, size_t aadlen,
		    const CK_BYTE *pt, size_t len, CK_BYTE *ct, CK_BYTE tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0;

	ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)ivlen, NULL), 1);
	ck_assert_int_eq(EVP_EncryptInit_ex(c, NULL, NULL, key, iv), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, NULL, &l, aad, (int)aadlen), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, ct, &l, pt, (int)len), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(c, ct + l, &l), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(c);
}

START_TEST(test_interface_list_and_login_user)
{
	CK_INFO info;
	CK_SESSION_HANDLE s2;

	ck_assert_rv(f3->base.C_GetInfo(&info), CKR_OK);
	ck_assert_rv(f3->base.C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
	ck_assert_rv(f->C_Logout(sess), CKR_OK);
	ck_assert_rv(f3->C_LoginUser(s2, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4, (CK_UTF8CHAR_PTR) "alice", 5),
		     CKR_USER_TYPE_INVALID);
	ck_assert_rv(f3->C_LoginUser(s2, CKU_USER, (CK_UTF8CHAR_PTR) "9999", 4, NULL, 0), CKR_PIN_INCORRECT);
	ck_assert_rv(f3->C_LoginUser(s2, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_LoginUser(s2, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4, NULL, 0), CKR_USER_ALREADY_LOGGED_IN);
}
END_TEST

START_TEST(test_session_cancel_and_state)
{
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	CK_BYTE key[32] = {1}, out[64], st[64];
	CK_ULONG n = sizeof(out), stlen = sizeof(st);
	CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
	CK_OBJECT_HANDLE k = aes_key(key, 16);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE gt[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &gk, sizeof(gk)}, {CKA_VALUE, key, 32},
			     {CKA_SIGN, &t, 1}};
	CK_OBJECT_HANDLE hk;

	(void)k;
	ck_assert_rv(f->C_GetOperationState(sess, st, &stlen), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f->C_CreateObject(sess, gt, 4, &hk), CKR_OK);
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_SignInit(sess, &hm, hk), CKR_OK);
	ck_assert_rv(f->C_GetOperationState(sess, st, &stlen), CKR_STATE_UNSAVEABLE);
	ck_assert_rv(f->C_SetOperationState(sess, st, 8, 0, 0), CKR_SAVED_STATE_INVALID);
	ck_assert_rv(f3->C_SessionCancel(sess, CKF_SIGN), CKR_OK);
	ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "x", 1, out, &n), CKR_OPERATION_NOT_INITIALIZED);
	n = sizeof(out);
	ck_assert_rv(f->C_Digest(sess, (CK_BYTE_PTR) "x", 1, out, &n), CKR_OK);
	ck_assert_uint_eq(n, 32);
	/* the dual-function calls are not offered */
	n = sizeof(out);
	ck_assert_rv(f->C_DigestEncryptUpdate(sess, key, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_DecryptDigestUpdate(sess, key, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_SignEncryptUpdate(sess, key, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_rv(f->C_DecryptVerifyUpdate(sess, key, 16, out, &n), CKR_FUNCTION_NOT_SUPPORTED);
}
END_TEST

START_TEST(test_digest_key)
{
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0}, gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof(p256)}};
	CK_BYTE key[16], buf[64], want[32];
	CK_ULONG n = sizeof(buf);
	CK_OBJECT_HANDLE k, pub, priv;

	for (int i = 0; i < 16; i++)
		key[i] = (CK_BYTE)(i * 7);
	k = aes_key(key, sizeof(key));
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_DigestUpdate(sess, (CK_BYTE_PTR) "prefix", 6), CKR_OK);
	ck_assert_rv(f->C_DigestKey(sess, k), CKR_OK);
	ck_assert_rv(f->C_DigestFinal(sess, buf, &n), CKR_OK);
	memcpy(buf + 32, "prefix", 6);
	memcpy(buf + 38, key, 16);
	SHA256(buf + 32, 22, want);
	ck_assert_mem_eq(buf, want, 32);
	ck_assert_rv(f->C_DigestKey(sess, k), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, NULL, 0, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_DigestKey(sess, priv), CKR_KEY_INDIGESTIBLE);
}
END_TEST

START_TEST(test_message_gcm)
{
	CK_BYTE key[32], iv[12], iv2[12], aad[] = "associated", pt[100], ct[128], back[128], tag[16], rtag[16],
							      rct[128];
	struct kms_ck_gcm_message_params p = {iv, sizeof(iv), 0, KMS_CKG_NO_GENERATE, tag, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, NULL, 0};
	CK_ULONG n, total, part;
	CK_OBJECT_HANDLE k;

	for (int i = 0; i < 32; i++)
		key[i] = (CK_BYTE)(0xa0 + i);
	for (int i = 0; i < 100; i++)
		pt[i] = (CK_BYTE)i;
	memset(iv, 0x42, sizeof(iv));
	k = aes_key(key, sizeof(key));
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 10, pt, 100, ct, &n), CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_rv(f3->C_MessageEncryptInit(sess, &gcm, k), CKR_OK);
	ck_assert_rv(f3->C_MessageEncryptInit(sess, &gcm, k), CKR_OPERATION_ACTIVE);
	/* a given IV: same as OpenSSL */
	n = 0;
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 10, pt, 100, NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 100);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 10, pt, 100, ct, &n), CKR_OK);
	ref_gcm(key, iv, 12, aad, 10, pt, 100, rct, rtag);
	ck_assert_mem_eq(ct, rct, 100);
	ck_assert_mem_eq(tag, rtag, 16);
	/* a random IV after 4 fixed bytes, fresh per message */
	p.ivGenerator = KMS_CKG_GENERATE_RANDOM;
	p.ulIvFixedBits = 32;
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 10, pt, 100, ct, &n), CKR_OK);
	memcpy(iv2, iv, 12);
	ck_assert_mem_eq(iv2, "\x42\x42\x42\x42", 4);
	ref_gcm(key, iv2, 12, aad, 10, pt, 100, rct, rtag);
	ck_assert_mem_eq(ct, rct, 100);
	ck_assert_mem_eq(tag, rtag, 16);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 10, pt, 100, ct, &n), CKR_OK);
	ck_assert(memcmp(iv, iv2, 12) != 0);
	ck_assert_mem_eq(iv, "\x42\x42\x42\x42", 4);
	/* in parts: Begin, Next..., Next with the end flag */
	p.ivGenerator = KMS_CKG_NO_GENERATE;
	ck_assert_rv(f3->C_EncryptMessageBegin(sess, &p, sizeof(p), aad, 10), CKR_OK);
	total = 0;
	for (int off = 0; off < 100; off += 30) {
		CK_ULONG chunk = 100 - off < 30 ? (CK_ULONG)(100 - off) : 30;

		part = sizeof(ct) - total;
		ck_assert_rv(f3->C_EncryptMessageNext(sess, &p, sizeof(p), pt + off, chunk, ct + total, &part,
						      off + 30 >= 100 ? CKF_END_OF_MESSAGE : 0),
			     CKR_OK);
		total += part;
	}
	ck_assert_uint_eq(total, 100);
	ref_gcm(key, iv, 12, aad, 10, pt, 100, rct, rtag);
	ck_assert_mem_eq(ct, rct, 100);
	ck_assert_mem_eq(tag, rtag, 16);
	ck_assert_rv(f3->C_MessageEncryptFinal(sess), CKR_OK);
	ck_assert_rv(f3->C_EncryptMessage(sess, &p, sizeof(p), aad, 10, pt, 100, ct, &n), CKR_OPERATION_NOT_INITIALIZED);

	/* decryption, single and in parts; a flipped tag fails */
	ck_assert_rv(f3->C_MessageDecryptInit(sess, &gcm, k), CKR_OK);
	n = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessage(sess, &p, sizeof(p), aad, 10, ct, 100, back, &n), CKR_OK);
	ck_assert_uint_eq(n, 100);
	ck_assert_mem_eq(back, pt, 100);
	ck_assert_rv(f3->C_DecryptMessageBegin(sess, &p, sizeof(p), aad, 10), CKR_OK);
	total = 0;
	part = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessageNext(sess, &p, sizeof(p), ct, 50, back, &part, 0), CKR_OK);
	total += part;
	part = sizeof(back) - total;
	ck_assert_rv(f3->C_DecryptMessageNext(sess, &p, sizeof(p), ct + 50, 50, back + total, &part, CKF_END_OF_MESSAGE),
		     CKR_OK);
	total += part;
	ck_assert_uint_eq(total, 100);
	ck_assert_mem_eq(back, pt, 100);
	tag[3] ^= 1;
	n = sizeof(back);
	ck_assert_rv(f3->C_DecryptMessage(sess, &p, sizeof(p), aad, 10, ct, 100, back, &n), CKR_AEAD_DECRYPT_FAILED);
	ck_assert_rv(f3->C_MessageDecryptFinal(sess), CKR_OK);
}
END_TEST

START_TEST(test_message_sign_verify)
{
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ecdsa = {CKM_ECDSA_SHA256, NULL, 0},
		     hm = {CKM_SHA256_HMAC, NULL, 0};
	CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, p256, sizeof(p256)}};
	CK_OBJECT_HANDLE pub, priv, k;
	CK_BYTE sig[80], sig2[80], key[32] = {9}, ref[32];
	CK_ULONG n = sizeof(sig), n2 = sizeof(sig2);
	unsigned int rl = 0;

	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pt, 1, NULL, 0, &pub, &priv), CKR_OK);
	ck_assert_rv(f3->C_MessageSignInit(sess, &ecdsa, priv), CKR_OK);
	ck_assert_rv(f3->C_SignMessage(sess, NULL, 0, (CK_BYTE_PTR) "first", 5, sig, &n), CKR_OK);
	ck_assert_rv(f3->C_SignMessageBegin(sess, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_SignMessageNext(sess, NULL, 0, (CK_BYTE_PTR) "sec", 3, NULL, NULL), CKR_OK);
	ck_assert_rv(f3->C_SignMessageNext(sess, NULL, 0, (CK_BYTE_PTR) "ond", 3, sig2, &n2), CKR_OK);
	ck_assert_rv(f3->C_MessageSignFinal(sess), CKR_OK);
	ck_assert_rv(f3->C_MessageVerifyInit(sess, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, (CK_BYTE_PTR) "first", 5, sig, n), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, (CK_BYTE_PTR) "second", 6, sig2, n2), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessage(sess, NULL, 0, (CK_BYTE_PTR) "First", 5, sig, n), CKR_SIGNATURE_INVALID);
	ck_assert_rv(f3->C_VerifyMessageBegin(sess, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessageNext(sess, NULL, 0, (CK_BYTE_PTR) "seco", 4, NULL, 0), CKR_OK);
	ck_assert_rv(f3->C_VerifyMessageNext(sess, NULL, 0, (CK_BYTE_PTR) "nd", 2, sig2, n2), CKR_OK);
	ck_assert_rv(f3->C_MessageVerifyFinal(sess), CKR_OK);

	/* HMAC as message signing equals HMAC() */
	{
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
		CK_BBOOL t = CK_TRUE;
		CK_ATTRIBUTE tm[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
				     {CKA_VALUE, key, 32},		{CKA_SIGN, &t, 1}};

		ck_assert_rv(f->C_CreateObject(sess, tm, 4, &k), CKR_OK);
	}
	n = sizeof(sig);
	ck_assert_rv(f3->C_MessageSignInit(sess, &hm, k), CKR_OK);
	ck_assert_rv(f3->C_SignMessage(sess, NULL, 0, (CK_BYTE_PTR) "data", 4, sig, &n), CKR_OK);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, 32, (const unsigned char *)"data", 4, ref, &rl));
	ck_assert_uint_eq(n, 32);
	ck_assert_mem_eq(sig, ref, 32);
	ck_assert_rv(f3->C_MessageSignFinal(sess), CKR_OK);
	ck_assert_rv(f3->C_MessageSignFinal(sess), CKR_OPERATION_NOT_INITIALIZED);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("v3");
	TCase *tc = tcase_create("interface");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_interface_list_and_login_user);
	tcase_add_test(tc, test_session_cancel_and_state);
	tcase_add_test(tc, test_digest_key);
	tcase_add_test(tc, test_message_gcm);
	tcase_add_test(tc, test_message_sign_verify);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
