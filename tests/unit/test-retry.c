/* SPDX-License-Identifier: Apache-2.0 */
/* The size-query convention: a NULL buffer or a short one (CKR_BUFFER_TOO_SMALL) leaves the operation as it
 * was, so the retry gives OpenSSL's output, for every AES mode, single- and multi-part, both directions, and
 * for RSA decryption; and the mode policing between single-part and multi-part calls. */
#include <openssl/evp.h>

#include "tests/unit/modfixture.h"

static CK_SESSION_HANDLE sess;
static const CK_BYTE key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
				0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static CK_BYTE iv[16] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,
			 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff};
static CK_BYTE msg[64];

static void setup(void)
{
	setup_token();
	sess = user_session();
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (CK_BYTE)(i * 7 + 3);
}

static void teardown(void)
{
	teardown_store();
}

static CK_OBJECT_HANDLE aes_key(void)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_ENCRYPT, &yes, 1},
			    {CKA_DECRYPT, &yes, 1},	     {CKA_VALUE, (void *)key, sizeof(key)}};
	CK_OBJECT_HANDLE h;

	ck_assert_rv(f->C_CreateObject(sess, t, 5, &h), CKR_OK);
	return h;
}

struct mode {
	const char *name;
	CK_MECHANISM_TYPE mech;
	const char *cipher; /* OpenSSL's name */
	size_t len;	    /* message length */
	int pad;
};

static const struct mode modes[] = {
	{"ECB", CKM_AES_ECB, "AES-128-ECB", 48, 0},	{"CBC", CKM_AES_CBC, "AES-128-CBC", 48, 0},
	{"CBC-PAD", CKM_AES_CBC_PAD, "AES-128-CBC", 37, 1}, {"CTR", CKM_AES_CTR, "AES-128-CTR", 37, 0},
	{"GCM", CKM_AES_GCM, "AES-128-GCM", 37, 0},
};

static CK_AES_CTR_PARAMS ctrp;
static CK_GCM_PARAMS gcmp;

static void mechanism(const struct mode *m, CK_MECHANISM *mech)
{
	mech->mechanism = m->mech;
	mech->pParameter = NULL;
	mech->ulParameterLen = 0;
	if (m->mech == CKM_AES_CBC || m->mech == CKM_AES_CBC_PAD) {
		mech->pParameter = iv;
		mech->ulParameterLen = 16;
	} else if (m->mech == CKM_AES_CTR) {
		ctrp.ulCounterBits = 128;
		memcpy(ctrp.cb, iv, 16);
		mech->pParameter = &ctrp;
		mech->ulParameterLen = sizeof(ctrp);
	} else if (m->mech == CKM_AES_GCM) {
		gcmp.pIv = iv;
		gcmp.ulIvLen = 12;
		gcmp.ulIvBits = 96;
		gcmp.pAAD = (CK_BYTE_PTR) "aad";
		gcmp.ulAADLen = 3;
		gcmp.ulTagBits = 128;
		mech->pParameter = &gcmp;
		mech->ulParameterLen = sizeof(gcmp);
	}
}

/* OpenSSL's ciphertext (GCM: with the tag). */
static size_t reference(const struct mode *m, CK_BYTE *out)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, m->cipher, NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l = 0, l2 = 0;

	ck_assert_int_eq(EVP_EncryptInit_ex2(ctx, c, key, m->mech == CKM_AES_ECB ? NULL : iv, NULL), 1);
	EVP_CIPHER_CTX_set_padding(ctx, m->pad);
	if (m->mech == CKM_AES_GCM)
		ck_assert_int_eq(EVP_EncryptUpdate(ctx, NULL, &l, (const unsigned char *)"aad", 3), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(ctx, out, &l, msg, (int)m->len), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, out + l, &l2), 1);
	l += l2;
	if (m->mech == CKM_AES_GCM) {
		ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + l), 1);
		l += 16;
	}
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	return (size_t)l;
}

typedef CK_RV (*init_fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*one_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*final_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);

/* One single-part call made three times: a size query, a 1-byte buffer, then a buffer of the size it asked
 * for. Returns the output length. */
static size_t single(one_fn fn, const CK_BYTE *in, size_t inlen, CK_BYTE *out, const char *what)
{
	CK_ULONG n = 0, asked;

	ck_assert_msg(fn(sess, (CK_BYTE_PTR)in, inlen, NULL, &n) == CKR_OK, "%s: size query", what);
	ck_assert_msg(n > 0, "%s: a length", what);
	asked = n;
	n = 1;
	ck_assert_msg(fn(sess, (CK_BYTE_PTR)in, inlen, out, &n) == CKR_BUFFER_TOO_SMALL, "%s: short buffer", what);
	ck_assert_msg(n > 1 && n <= asked, "%s: the length after CKR_BUFFER_TOO_SMALL (%lu)", what, (unsigned long)n);
	ck_assert_msg(fn(sess, (CK_BYTE_PTR)in, inlen, out, &n) == CKR_OK, "%s: the retry", what);
	return n;
}

/* A multi-part run in uneven parts, each Update and the Final asked for their size and given a short buffer
 * first. Returns the output length. */
static size_t multi(one_fn update, final_fn final, const CK_BYTE *in, size_t inlen, CK_BYTE *out, const char *what)
{
	static const size_t parts[] = {5, 17, 1, 100};
	size_t done = 0, total = 0;
	CK_ULONG n;

	for (size_t i = 0; done < inlen; i++) {
		size_t len = parts[i % 4] < inlen - done ? parts[i % 4] : inlen - done;

		n = 0;
		ck_assert_msg(update(sess, (CK_BYTE_PTR)in + done, len, NULL, &n) == CKR_OK, "%s: update size", what);
		if (n > 0) {
			CK_ULONG want = n;

			n = 0;
			ck_assert_msg(update(sess, (CK_BYTE_PTR)in + done, len, out + total, &n) == CKR_BUFFER_TOO_SMALL,
				      "%s: update with no room", what);
			n = want;
		}
		ck_assert_msg(update(sess, (CK_BYTE_PTR)in + done, len, out + total, &n) == CKR_OK, "%s: update", what);
		total += n;
		done += len;
	}
	n = 0;
	ck_assert_msg(final(sess, NULL, &n) == CKR_OK, "%s: final size", what);
	if (n > 0) {
		CK_ULONG want = n;

		n = 0;
		ck_assert_msg(final(sess, out + total, &n) == CKR_BUFFER_TOO_SMALL, "%s: final with no room", what);
		ck_assert_msg(n > 0 && n <= want, "%s: final length", what);
		n = want;
	}
	ck_assert_msg(final(sess, out + total, &n) == CKR_OK, "%s: final", what);
	return total + n;
}

START_TEST(test_aes_retries_match_openssl)
{
	CK_OBJECT_HANDLE k = aes_key();

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const struct mode *m = &modes[i];
		CK_MECHANISM mech;
		CK_BYTE ref[128], out[128];
		size_t rl = reference(m, ref), n;
		char what[64];

		mechanism(m, &mech);
		snprintf(what, sizeof(what), "%s encrypt", m->name);
		ck_assert_rv(f->C_EncryptInit(sess, &mech, k), CKR_OK);
		n = single(f->C_Encrypt, msg, m->len, out, what);
		ck_assert_msg(n == rl && memcmp(out, ref, rl) == 0, "%s: not OpenSSL's ciphertext", what);

		snprintf(what, sizeof(what), "%s decrypt", m->name);
		ck_assert_rv(f->C_DecryptInit(sess, &mech, k), CKR_OK);
		n = single(f->C_Decrypt, ref, rl, out, what);
		ck_assert_msg(n == m->len && memcmp(out, msg, n) == 0, "%s: wrong plaintext", what);

		snprintf(what, sizeof(what), "%s multi-part encrypt", m->name);
		ck_assert_rv(f->C_EncryptInit(sess, &mech, k), CKR_OK);
		n = multi(f->C_EncryptUpdate, f->C_EncryptFinal, msg, m->len, out, what);
		ck_assert_msg(n == rl && memcmp(out, ref, rl) == 0, "%s: not OpenSSL's ciphertext", what);

		snprintf(what, sizeof(what), "%s multi-part decrypt", m->name);
		ck_assert_rv(f->C_DecryptInit(sess, &mech, k), CKR_OK);
		n = multi(f->C_DecryptUpdate, f->C_DecryptFinal, ref, rl, out, what);
		ck_assert_msg(n == m->len && memcmp(out, msg, n) == 0, "%s: wrong plaintext", what);
	}
}
END_TEST

/* RSA decryption (OAEP and PKCS#1 v1.5): its plaintext is shorter than the bound; a short buffer and the
 * retry give the message. */
START_TEST(test_rsa_decrypt_retry)
{
	CK_MECHANISM gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_ULONG bits = 2048;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pub[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_ENCRYPT, &yes, 1}};
	CK_ATTRIBUTE priv[] = {{CKA_DECRYPT, &yes, 1}};
	CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
	CK_MECHANISM mechs[] = {{CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)}, {CKM_RSA_PKCS, NULL, 0}};
	CK_OBJECT_HANDLE hp, hk;
	CK_BYTE ct[256], out[256];
	CK_ULONG n;

	ck_assert_rv(f->C_GenerateKeyPair(sess, &gen, pub, 2, priv, 1, &hp, &hk), CKR_OK);
	for (int i = 0; i < 2; i++) {
		n = sizeof(ct);
		ck_assert_rv(f->C_EncryptInit(sess, &mechs[i], hp), CKR_OK);
		ck_assert_rv(f->C_Encrypt(sess, msg, 20, ct, &n), CKR_OK);
		ck_assert_rv(f->C_DecryptInit(sess, &mechs[i], hk), CKR_OK);
		ck_assert_int_eq(single(f->C_Decrypt, ct, n, out, "RSA decrypt"), 20);
		ck_assert_mem_eq(out, msg, 20);
		/* a buffer of the exact length works at once */
		ck_assert_rv(f->C_DecryptInit(sess, &mechs[i], hk), CKR_OK);
		{
			CK_ULONG m = 20;

			ck_assert_rv(f->C_Decrypt(sess, ct, n, out, &m), CKR_OK);
			ck_assert_int_eq(m, 20);
		}
	}
}
END_TEST

/* After a single-part call (a size query included) Update and Final answer CKR_OPERATION_ACTIVE; after an
 * Update the single-part call does; each such refusal ends the operation, as any failed call does but a short
 * buffer (pkcs11test's DigestIntersperse). */
START_TEST(test_mode_policing)
{
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	CK_BYTE out[64];
	CK_ULONG n = 0;

	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_Digest(sess, msg, 10, NULL, &n), CKR_OK);
	ck_assert_int_eq(n, 32);
	ck_assert_rv(f->C_DigestUpdate(sess, msg, 10), CKR_OPERATION_ACTIVE);
	ck_assert_rv(f->C_Digest(sess, msg, 10, out, &n), CKR_OPERATION_NOT_INITIALIZED);

	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_Digest(sess, msg, 10, NULL, &n), CKR_OK);
	ck_assert_rv(f->C_DigestFinal(sess, out, &n), CKR_OPERATION_ACTIVE);
	ck_assert_rv(f->C_Digest(sess, msg, 10, out, &n), CKR_OPERATION_NOT_INITIALIZED);

	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_Digest(sess, msg, 10, NULL, &n), CKR_OK);
	ck_assert_rv(f->C_Digest(sess, msg, 10, out, &n), CKR_OK);
	ck_assert_rv(f->C_DigestUpdate(sess, msg, 10), CKR_OPERATION_NOT_INITIALIZED);

	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_DigestUpdate(sess, msg, 10), CKR_OK);
	n = sizeof(out);
	ck_assert_rv(f->C_Digest(sess, msg, 10, out, &n), CKR_OPERATION_ACTIVE);
	ck_assert_rv(f->C_DigestFinal(sess, out, &n), CKR_OPERATION_NOT_INITIALIZED);

	/* a failure other than a short buffer ends the operation */
	ck_assert_rv(f->C_DigestInit(sess, &sha), CKR_OK);
	ck_assert_rv(f->C_Digest(sess, NULL, 10, out, &n), CKR_ARGUMENTS_BAD);
	ck_assert_rv(f->C_Digest(sess, msg, 10, out, &n), CKR_OPERATION_NOT_INITIALIZED);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("retry");
	TCase *tc = tcase_create("retry");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_aes_retries_match_openssl);
	tcase_add_test(tc, test_rsa_decrypt_retry);
	tcase_add_test(tc, test_mode_policing);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
