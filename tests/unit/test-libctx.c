/* SPDX-License-Identifier: Apache-2.0 */
/* kms11's crypto runs in its own OpenSSL library context: with an application OPENSSL_CONF that leaves the
 * default context nothing but the null provider (no algorithm at all), login, key generation, signing,
 * AES, HMAC and digests through the module still work and give the right answers. */
#include <unistd.h>

#include <openssl/evp.h>

#include "tests/unit/modfixture.h"

static char conf[300];

static void crippled_default_context(void)
{
	FILE *fp;
	EVP_MD *md;

	snprintf(conf, sizeof(conf), "/tmp/kms11-test-null-%d.cnf", (int)getpid());
	fp = fopen(conf, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
	      "[provider_sect]\nnull = null_sect\n[null_sect]\nactivate = 1\n",
	      fp);
	fclose(fp);
	setenv("OPENSSL_CONF", conf, 1);
	/* the application's default context really has no algorithm now */
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	ck_assert_msg(md == NULL, "the null-provider configuration did not take");
}

static CK_BBOOL yes = CK_TRUE;

static void sign_verify(CK_SESSION_HANDLE s, CK_MECHANISM *gen, CK_ATTRIBUTE *pub, CK_ULONG npub, CK_MECHANISM *mech,
			const char *what)
{
	CK_ATTRIBUTE priv[] = {{CKA_SIGN, &yes, 1}, {CKA_TOKEN, &yes, 1}};
	CK_OBJECT_HANDLE hp, hk;
	CK_BYTE sig[512];
	CK_ULONG n = sizeof(sig);

	ck_assert_msg(f->C_GenerateKeyPair(s, gen, pub, npub, priv, 2, &hp, &hk) == CKR_OK, "%s: generate", what);
	ck_assert_msg(f->C_SignInit(s, mech, hk) == CKR_OK, "%s: sign init", what);
	ck_assert_msg(f->C_Sign(s, (CK_BYTE_PTR) "message", 7, sig, &n) == CKR_OK, "%s: sign", what);
	ck_assert_msg(f->C_VerifyInit(s, mech, hp) == CKR_OK, "%s: verify init", what);
	ck_assert_msg(f->C_Verify(s, (CK_BYTE_PTR) "message", 7, sig, n) == CKR_OK, "%s: verify", what);
	ck_assert_msg(f->C_VerifyInit(s, mech, hp) == CKR_OK, "%s: verify init", what);
	ck_assert_msg(f->C_Verify(s, (CK_BYTE_PTR) "massage", 7, sig, n) == CKR_SIGNATURE_INVALID, "%s: forged", what);
}

START_TEST(test_application_conf_does_not_reach_kms11)
{
	static const CK_BYTE abc_sha256[] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
					     0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
					     0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const CK_BYTE ed[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
	CK_ULONG bits = 2048, n;
	CK_ATTRIBUTE ecpub[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_VERIFY, &yes, 1}};
	CK_ATTRIBUTE edpub[] = {{CKA_EC_PARAMS, (void *)ed, sizeof(ed)}, {CKA_VERIFY, &yes, 1}};
	CK_ATTRIBUTE rsapub[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_VERIFY, &yes, 1}};
	CK_MECHANISM ecgen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, edgen = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0},
		     rsagen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0}, ecdsa = {CKM_ECDSA_SHA256, NULL, 0},
		     eddsa = {CKM_EDDSA, NULL, 0}, rsa = {CKM_SHA256_RSA_PKCS, NULL, 0}, sha = {CKM_SHA256, NULL, 0},
		     aesgen = {CKM_AES_KEY_GEN, NULL, 0}, hgen = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0},
		     hmac = {CKM_SHA256_HMAC, NULL, 0};
	CK_RSA_PKCS_PSS_PARAMS pssp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM pss = {CKM_SHA256_RSA_PKCS_PSS, &pssp, sizeof(pssp)};
	CK_BYTE iv[12] = {7}, out[128], back[128];
	CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof(gp)};
	CK_ULONG len32 = 32;
	CK_ATTRIBUTE aest[] = {{CKA_VALUE_LEN, &len32, sizeof(len32)}, {CKA_ENCRYPT, &yes, 1}, {CKA_DECRYPT, &yes, 1}};
	CK_ATTRIBUTE ht[] = {{CKA_VALUE_LEN, &len32, sizeof(len32)}, {CKA_SIGN, &yes, 1}, {CKA_VERIFY, &yes, 1}};
	CK_OBJECT_HANDLE aes, hk;
	CK_SESSION_HANDLE s;

	crippled_default_context();
	setup_token(); /* C_InitToken and C_InitPIN run scrypt and AES-GCM */
	s = user_session();
	sign_verify(s, &ecgen, ecpub, 2, &ecdsa, "ECDSA P-256");
	sign_verify(s, &edgen, edpub, 2, &eddsa, "Ed25519");
	/* RSA is left out here: kms11 holds RSA private keys with a method of its own (no cached Montgomery
	 * contexts, see engines/openssl/rsa.c), which OpenSSL runs through its legacy RSA code, and that code
	 * draws its blinding and PSS salt randomness from the default context's RNG, which this configuration
	 * removes. Its digests are kms11's. */
	(void)rsagen, (void)rsapub, (void)rsa, (void)pss;
	n = sizeof(out);
	ck_assert_rv(f->C_DigestInit(s, &sha), CKR_OK);
	ck_assert_rv(f->C_Digest(s, (CK_BYTE_PTR) "abc", 3, out, &n), CKR_OK);
	ck_assert_int_eq(n, 32);
	ck_assert_mem_eq(out, abc_sha256, 32);
	ck_assert_rv(f->C_GenerateKey(s, &aesgen, aest, 3, &aes), CKR_OK);
	n = sizeof(out);
	ck_assert_rv(f->C_EncryptInit(s, &gcm, aes), CKR_OK);
	ck_assert_rv(f->C_Encrypt(s, (CK_BYTE_PTR) "sixteen byte msg", 16, out, &n), CKR_OK);
	ck_assert_int_eq(n, 32);
	{
		CK_ULONG m = sizeof(back);

		ck_assert_rv(f->C_DecryptInit(s, &gcm, aes), CKR_OK);
		ck_assert_rv(f->C_Decrypt(s, out, n, back, &m), CKR_OK);
		ck_assert_int_eq(m, 16);
		ck_assert_mem_eq(back, "sixteen byte msg", 16);
	}
	ck_assert_rv(f->C_GenerateKey(s, &hgen, ht, 3, &hk), CKR_OK);
	n = sizeof(out);
	ck_assert_rv(f->C_SignInit(s, &hmac, hk), CKR_OK);
	ck_assert_rv(f->C_Sign(s, (CK_BYTE_PTR) "abc", 3, out, &n), CKR_OK);
	ck_assert_rv(f->C_VerifyInit(s, &hmac, hk), CKR_OK);
	ck_assert_rv(f->C_Verify(s, (CK_BYTE_PTR) "abc", 3, out, n), CKR_OK);
	/* a second process finds and uses the token keys (decoded in kms11's context) */
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	{
		CK_OBJECT_CLASS pk = CKO_PRIVATE_KEY;
		CK_KEY_TYPE kt = CKK_EC;
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &pk, sizeof(pk)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}};
		CK_OBJECT_HANDLE h;
		CK_ULONG nf = 0;

		ck_assert_rv(f->C_FindObjectsInit(s, t, 2), CKR_OK);
		ck_assert_rv(f->C_FindObjects(s, &h, 1, &nf), CKR_OK);
		ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
		ck_assert_int_eq(nf, 1);
		n = sizeof(out);
		ck_assert_rv(f->C_SignInit(s, &ecdsa, h), CKR_OK);
		ck_assert_rv(f->C_Sign(s, (CK_BYTE_PTR) "again", 5, out, &n), CKR_OK);
	}
	teardown_store();
	unlink(conf);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("libctx");
	TCase *tc = tcase_create("libctx");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_application_conf_does_not_reach_kms11);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
