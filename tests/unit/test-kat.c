/* SPDX-License-Identifier: Apache-2.0 */
/* Known-answer vectors from the standards, run through the module: SHA-2/SHA-3, HMAC (RFC 4231), AES-CMAC
 * (RFC 4493), AES ECB/CBC/CTR (SP 800-38A), AES-GCM (the GCM specification's test cases), AES key wrap
 * (RFC 3394, RFC 5649), X25519 and X448 (RFC 7748), Ed25519 and Ed448 (RFC 8032), HKDF (RFC 5869). */
#include <stdbool.h>

#include <check.h>

#include "common/pkcs11x.h"
#include "tests/unit/modfixture.h"

/* Hex to bytes into a static-sized buffer. */
static size_t unhex(const char *h, CK_BYTE *out, size_t cap)
{
	size_t n = strlen(h) / 2;

	ck_assert_uint_le(n, cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (CK_BYTE)v;
	}
	return n;
}

static void assert_hex(const CK_BYTE *got, size_t len, const char *want)
{
	CK_BYTE w[512];
	size_t n = unhex(want, w, sizeof(w));

	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(got, w, n);
}

static CK_SESSION_HANDLE sess;

static void setup(void)
{
	setup_token();
	sess = user_session();
}

static void teardown(void)
{
	teardown_store();
}

/* A session secret key of type kt with the given hex value, usable for everything. */
static CK_OBJECT_HANDLE secret(CK_KEY_TYPE kt, const char *hex)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL t = CK_TRUE;
	CK_BYTE v[64];
	CK_ULONG n = unhex(hex, v, sizeof(v));
	CK_ATTRIBUTE tm[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_VALUE, v, n},
			     {CKA_ENCRYPT, &t, 1},		{CKA_DECRYPT, &t, 1},	       {CKA_SIGN, &t, 1},
			     {CKA_VERIFY, &t, 1},		{CKA_WRAP, &t, 1},	       {CKA_UNWRAP, &t, 1},
			     {CKA_EXTRACTABLE, &t, 1}};
	CK_OBJECT_HANDLE h = 0;

	ck_assert_rv(f->C_CreateObject(sess, tm, sizeof(tm) / sizeof(tm[0]), &h), CKR_OK);
	return h;
}

static const char abc_hex[] = "616263";

START_TEST(test_digests)
{
	static const struct {
		CK_MECHANISM_TYPE m;
		const char *md;
	} v[] = {
		{CKM_SHA_1, "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{CKM_SHA224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"},
		{CKM_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{CKM_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"},
		{CKM_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
			     "454d4423643ce80e2a9ac94fa54ca49f"},
		{CKM_SHA3_256, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
		{CKM_SHA3_384, "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25"},
		{CKM_SHA3_512, "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e39340"
			       "57340b4cf408d5a56592f8274eec53f0"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CK_MECHANISM m = {v[i].m, NULL, 0};
		CK_BYTE out[64];
		CK_ULONG n = sizeof(out), need = 0;

		ck_assert_rv(f->C_DigestInit(sess, &m), CKR_OK);
		ck_assert_rv(f->C_Digest(sess, (CK_BYTE_PTR) "abc", 3, NULL, &need), CKR_OK);
		ck_assert_rv(f->C_Digest(sess, (CK_BYTE_PTR) "abc", 3, out, &n), CKR_OK);
		ck_assert_uint_eq(need, n);
		assert_hex(out, n, v[i].md);
		/* in parts, the same */
		n = sizeof(out);
		ck_assert_rv(f->C_DigestInit(sess, &m), CKR_OK);
		ck_assert_rv(f->C_DigestUpdate(sess, (CK_BYTE_PTR) "a", 1), CKR_OK);
		ck_assert_rv(f->C_DigestUpdate(sess, (CK_BYTE_PTR) "bc", 2), CKR_OK);
		ck_assert_rv(f->C_DigestFinal(sess, out, &n), CKR_OK);
		assert_hex(out, n, v[i].md);
	}
	(void)abc_hex;
}
END_TEST

/* Signs data with mech under key and checks the MAC; then verifies it, a flipped byte and a short MAC. */
static void mac_case(CK_OBJECT_HANDLE k, CK_MECHANISM *m, const CK_BYTE *data, CK_ULONG len, const char *want)
{
	CK_BYTE out[64];
	CK_ULONG n = sizeof(out);

	ck_assert_rv(f->C_SignInit(sess, m, k), CKR_OK);
	ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR)data, len, out, &n), CKR_OK);
	assert_hex(out, n, want);
	ck_assert_rv(f->C_VerifyInit(sess, m, k), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, (CK_BYTE_PTR)data, len, out, n), CKR_OK);
	out[0] ^= 1;
	ck_assert_rv(f->C_VerifyInit(sess, m, k), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, (CK_BYTE_PTR)data, len, out, n), CKR_SIGNATURE_INVALID);
	ck_assert_rv(f->C_VerifyInit(sess, m, k), CKR_OK);
	ck_assert_rv(f->C_Verify(sess, (CK_BYTE_PTR)data, len, out, n - 1), CKR_SIGNATURE_LEN_RANGE);
}

START_TEST(test_hmac_rfc4231)
{
	CK_OBJECT_HANDLE k1 = secret(CKK_GENERIC_SECRET, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
	CK_OBJECT_HANDLE k2 = secret(CKK_GENERIC_SECRET, "4a656665"); /* "Jefe" */
	CK_OBJECT_HANDLE k256 = secret(CKK_SHA256_HMAC, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
	const CK_BYTE *hi = (const CK_BYTE *)"Hi There", *jefe = (const CK_BYTE *)"what do ya want for nothing?";
	CK_MECHANISM h224 = {CKM_SHA224_HMAC, NULL, 0}, h256 = {CKM_SHA256_HMAC, NULL, 0},
		     h384 = {CKM_SHA384_HMAC, NULL, 0}, h512 = {CKM_SHA512_HMAC, NULL, 0};
	CK_ULONG sixteen = 16;
	CK_MECHANISM g256 = {CKM_SHA256_HMAC_GENERAL, &sixteen, sizeof(sixteen)};

	/* test case 1 */
	mac_case(k1, &h224, hi, 8, "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22");
	mac_case(k1, &h256, hi, 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	mac_case(k1, &h384, hi, 8,
		 "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6");
	mac_case(k1, &h512, hi, 8,
		 "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4"
		 "be9d914eeb61f1702e696c203a126854");
	/* test case 2 */
	mac_case(k2, &h256, jefe, 28, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* a CKK_SHA256_HMAC key with its own mechanism, the _GENERAL form truncating */
	mac_case(k256, &h256, hi, 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	mac_case(k1, &g256, hi, 8, "b0344c61d8db38535ca8afceaf0bf12b");
	/* ... and refused with another hash */
	ck_assert_rv(f->C_SignInit(sess, &h512, k256), CKR_KEY_TYPE_INCONSISTENT);
}
END_TEST

START_TEST(test_cmac_rfc4493)
{
	CK_OBJECT_HANDLE k = secret(CKK_AES, "2b7e151628aed2a6abf7158809cf4f3c");
	CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0};
	CK_ULONG four = 4;
	CK_MECHANISM g = {CKM_AES_CMAC_GENERAL, &four, sizeof(four)};
	CK_BYTE msg[64];

	unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
	      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
	      msg, sizeof(msg));
	mac_case(k, &m, msg, 0, "bb1d6929e95937287fa37d129b756746");
	mac_case(k, &m, msg, 16, "070a16b46b4d4144f79bdd9dd04a287c");
	mac_case(k, &m, msg, 40, "dfa66747de9ae63030ca32611497c827");
	mac_case(k, &m, msg, 64, "51f0bebf7e3b9d92fc49741779363cfe");
	mac_case(k, &g, msg, 64, "51f0bebf");
}
END_TEST

/* Encrypts in one part and in uneven parts, checks both, then decrypts back. */
static void cipher_case(CK_OBJECT_HANDLE k, CK_MECHANISM *m, const char *pt_hex, const char *ct_hex)
{
	CK_BYTE pt[128], out[160], back[160];
	CK_ULONG ptlen = unhex(pt_hex, pt, sizeof(pt)), n = sizeof(out), total = 0, part;

	ck_assert_rv(f->C_EncryptInit(sess, m, k), CKR_OK);
	ck_assert_rv(f->C_Encrypt(sess, pt, ptlen, out, &n), CKR_OK);
	assert_hex(out, n, ct_hex);
	ck_assert_rv(f->C_EncryptInit(sess, m, k), CKR_OK);
	for (CK_ULONG off = 0; off < ptlen; off += 7) {
		CK_ULONG chunk = ptlen - off < 7 ? ptlen - off : 7;

		part = sizeof(out) - total;
		ck_assert_rv(f->C_EncryptUpdate(sess, pt + off, chunk, out + total, &part), CKR_OK);
		total += part;
	}
	part = sizeof(out) - total;
	ck_assert_rv(f->C_EncryptFinal(sess, out + total, &part), CKR_OK);
	total += part;
	assert_hex(out, total, ct_hex);
	n = sizeof(back);
	ck_assert_rv(f->C_DecryptInit(sess, m, k), CKR_OK);
	ck_assert_rv(f->C_Decrypt(sess, out, total, back, &n), CKR_OK);
	ck_assert_uint_eq(n, ptlen);
	ck_assert_mem_eq(back, pt, ptlen);
	/* decryption in uneven parts, with a size query before the final part */
	n = 0;
	ck_assert_rv(f->C_DecryptInit(sess, m, k), CKR_OK);
	for (CK_ULONG off = 0; off < total; off += 5) {
		CK_ULONG chunk = total - off < 5 ? total - off : 5;

		part = sizeof(back) - n;
		ck_assert_rv(f->C_DecryptUpdate(sess, out + off, chunk, back + n, &part), CKR_OK);
		n += part;
	}
	ck_assert_rv(f->C_DecryptFinal(sess, NULL, &part), CKR_OK);
	ck_assert_uint_le(n + part, sizeof(back));
	part = sizeof(back) - n;
	ck_assert_rv(f->C_DecryptFinal(sess, back + n, &part), CKR_OK);
	n += part;
	ck_assert_uint_eq(n, ptlen);
	ck_assert_mem_eq(back, pt, ptlen);
}

#define SP_PT                                                                                                      \
	"6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52ef"     \
	"f69f2445df4f9b17ad2b417be66c3710"

START_TEST(test_aes_sp800_38a)
{
	CK_OBJECT_HANDLE k = secret(CKK_AES, "2b7e151628aed2a6abf7158809cf4f3c");
	CK_BYTE iv[16];
	CK_AES_CTR_PARAMS ctr = {128, {0}};
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, cbc = {CKM_AES_CBC, iv, sizeof(iv)},
		     ctrm = {CKM_AES_CTR, &ctr, sizeof(ctr)};
	CK_BYTE out[80];
	CK_ULONG n = sizeof(out);

	unhex("000102030405060708090a0b0c0d0e0f", iv, sizeof(iv));
	unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", ctr.cb, sizeof(ctr.cb));
	cipher_case(k, &ecb, SP_PT,
		    "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf43b1cd7f598ece23881b00e3ed030688"
		    "7b0c785e27e8ad3f8223207104725dd4");
	cipher_case(k, &cbc, SP_PT,
		    "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e22229516"
		    "3ff1caa1681fac09120eca307586e1a7");
	cipher_case(k, &ctrm, SP_PT,
		    "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab"
		    "1e031dda2fbe03d1792170a0f3009cee");
	/* CBC without padding refuses a partial block; a bad IV length is a parameter error */
	ck_assert_rv(f->C_EncryptInit(sess, &cbc, k), CKR_OK);
	ck_assert_rv(f->C_Encrypt(sess, iv, 15, out, &n), CKR_DATA_LEN_RANGE);
	cbc.ulParameterLen = 8;
	ck_assert_rv(f->C_EncryptInit(sess, &cbc, k), CKR_MECHANISM_PARAM_INVALID);
	/* a 4-bit counter at 15 allows one block, not two */
	ctr.ulCounterBits = 4;
	memset(ctr.cb, 0, sizeof(ctr.cb));
	ctr.cb[15] = 0x0f;
	n = sizeof(out);
	ck_assert_rv(f->C_EncryptInit(sess, &ctrm, k), CKR_OK);
	ck_assert_rv(f->C_Encrypt(sess, out, 32, out, &n), CKR_DATA_LEN_RANGE);
	n = sizeof(out);
	ck_assert_rv(f->C_EncryptInit(sess, &ctrm, k), CKR_OK);
	ck_assert_rv(f->C_Encrypt(sess, out, 16, out, &n), CKR_OK);
}
END_TEST

/* One GCM test case, in both parameter layouts, with decryption and a tampered tag. */
static void gcm_case(const char *key, const char *iv_hex, const char *aad_hex, const char *pt, const char *ct_tag)
{
	CK_OBJECT_HANDLE k = secret(CKK_AES, key);
	CK_BYTE iv[16], aad[32], out[128], back[128], ctb[128];
	CK_ULONG ivlen = unhex(iv_hex, iv, sizeof(iv)), aadlen = unhex(aad_hex, aad, sizeof(aad));
	CK_GCM_PARAMS p3 = {iv, ivlen, ivlen * 8, aadlen ? aad : NULL, aadlen, 128};
	struct kms_ck_gcm_params_240 p2 = {iv, ivlen, aadlen ? aad : NULL, aadlen, 128};
	CK_MECHANISM m3 = {CKM_AES_GCM, &p3, sizeof(p3)}, m2 = {CKM_AES_GCM, &p2, sizeof(p2)};
	CK_ULONG ctlen = unhex(ct_tag, ctb, sizeof(ctb)), n;

	cipher_case(k, &m3, pt, ct_tag);
	cipher_case(k, &m2, pt, ct_tag);
	ctb[ctlen - 1] ^= 0x80;
	n = sizeof(back);
	ck_assert_rv(f->C_DecryptInit(sess, &m3, k), CKR_OK);
	ck_assert_rv(f->C_Decrypt(sess, ctb, ctlen, back, &n), CKR_ENCRYPTED_DATA_INVALID);
	n = sizeof(back);
	ck_assert_rv(f->C_DecryptInit(sess, &m3, k), CKR_OK);
	ck_assert_rv(f->C_Decrypt(sess, ctb, 8, back, &n), CKR_ENCRYPTED_DATA_LEN_RANGE);
	/* after the failed tag the key's contexts still work */
	ctb[ctlen - 1] ^= 0x80;
	n = sizeof(back);
	ck_assert_rv(f->C_DecryptInit(sess, &m3, k), CKR_OK);
	ck_assert_rv(f->C_Decrypt(sess, ctb, ctlen, back, &n), CKR_OK);
	ck_assert_uint_eq(n, ctlen - 16);
	/* an operation abandoned halfway leaves nothing behind for the next one */
	n = sizeof(out);
	ck_assert_rv(f->C_EncryptInit(sess, &m3, k), CKR_OK);
	ck_assert_rv(f->C_EncryptUpdate(sess, ctb, 3, out, &n), CKR_OK);
	ck_assert_rv(f->C_EncryptInit(sess, &m3, k), CKR_OPERATION_ACTIVE);
	ck_assert_rv(f->C_EncryptUpdate(sess, ctb, 3, out, NULL), CKR_ARGUMENTS_BAD); /* ends it */
	ck_assert_rv(f->C_EncryptFinal(sess, out, &n), CKR_OPERATION_NOT_INITIALIZED);
	cipher_case(k, &m3, pt, ct_tag);
}

#define GCM_K3 "feffe9928665731c6d6a8f9467308308"
#define GCM_IV "cafebabefacedbaddecaf888"
#define GCM_P                                                                                                      \
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5"     \
	"aa0de657ba637b39"
#define GCM_A "feedfacedeadbeeffeedfacedeadbeefabaddad2"

START_TEST(test_gcm_vectors)
{
	gcm_case("00000000000000000000000000000000", "000000000000000000000000", "", "",
		 "58e2fccefa7e3061367f1d57a4e7455a");
	gcm_case("00000000000000000000000000000000", "000000000000000000000000", "", "00000000000000000000000000000000",
		 "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf");
	gcm_case(GCM_K3, GCM_IV, "", GCM_P "1aafd255",
		 "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b39"
		 "6a0aac973d58e091473f59854d5c2af327cd64a62cf35abd2ba6fab4");
	gcm_case(GCM_K3, GCM_IV, GCM_A, GCM_P,
		 "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b39"
		 "6a0aac973d58e0915bc94fbc3221a5db94fae95ae7121a47");
	gcm_case("0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "",
		 "00000000000000000000000000000000",
		 "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
	gcm_case(GCM_K3 GCM_K3, GCM_IV, GCM_A, GCM_P,
		 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e63"
		 "93ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b");
}
END_TEST

/* Wraps a secret key of the given value under kek with mech, checks the vector, unwraps it back. */
static void wrap_case(CK_MECHANISM_TYPE mt, const char *kek, const char *key, const char *want)
{
	CK_OBJECT_HANDLE w = secret(CKK_AES, kek), t = secret(CKK_GENERIC_SECRET, key), u = 0;
	CK_MECHANISM m = {mt, NULL, 0};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL fa = CK_FALSE, tr = CK_TRUE;
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof(cls)},
			     {CKA_KEY_TYPE, &kt, sizeof(kt)},
			     {CKA_SENSITIVE, &fa, 1},
			     {CKA_EXTRACTABLE, &tr, 1}};
	CK_BYTE out[128], val[64], ref[64];
	CK_ULONG n = 0, reflen = unhex(key, ref, sizeof(ref));
	CK_ATTRIBUTE q = {CKA_VALUE, val, sizeof(val)};

	ck_assert_rv(f->C_WrapKey(sess, &m, w, t, NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, strlen(want) / 2);
	n = 4;
	ck_assert_rv(f->C_WrapKey(sess, &m, w, t, out, &n), CKR_BUFFER_TOO_SMALL);
	n = sizeof(out);
	ck_assert_rv(f->C_WrapKey(sess, &m, w, t, out, &n), CKR_OK);
	assert_hex(out, n, want);
	ck_assert_rv(f->C_UnwrapKey(sess, &m, w, out, n, ut, 4, &u), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(sess, u, &q, 1), CKR_OK);
	ck_assert_uint_eq(q.ulValueLen, reflen);
	ck_assert_mem_eq(val, ref, reflen);
	out[n - 1] ^= 1;
	ck_assert_rv(f->C_UnwrapKey(sess, &m, w, out, n, ut, 4, &u), CKR_WRAPPED_KEY_INVALID);
}

START_TEST(test_key_wrap_rfc3394_rfc5649)
{
	wrap_case(CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
		  "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
	wrap_case(CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		  "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
		  "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
	wrap_case(CKM_AES_KEY_WRAP_KWP, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
		  "c37b7e6492584340bed12207808941155068f738",
		  "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
	wrap_case(CKM_AES_KEY_WRAP_PAD, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369",
		  "afbeb0f07dfbf5419200f2ccb50bb24f");
}
END_TEST

/* ECDH on a Montgomery curve (oid): our private key a, the peer's public key, the shared secret. */
static void xdh_case(const CK_BYTE *oid, size_t oidlen, const char *a_hex, const char *peer_hex, const char *z_hex)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, sec = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_EC_MONTGOMERY, gk = CKK_GENERIC_SECRET;
	CK_BBOOL tr = CK_TRUE, fa = CK_FALSE;
	CK_BYTE a[64], bpub[64], z[64];
	CK_ULONG alen = unhex(a_hex, a, sizeof(a));
	CK_ATTRIBUTE it[] = {{CKA_CLASS, &priv, sizeof(priv)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
			     {CKA_EC_PARAMS, (void *)oid, oidlen}, {CKA_VALUE, a, alen},
			     {CKA_DERIVE, &tr, 1}};
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &sec, sizeof(sec)}, {CKA_KEY_TYPE, &gk, sizeof(gk)},
			     {CKA_SENSITIVE, &fa, 1}, {CKA_EXTRACTABLE, &tr, 1}};
	CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, 0, bpub};
	CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof(p)};
	CK_ATTRIBUTE q = {CKA_VALUE, z, sizeof(z)};
	CK_OBJECT_HANDLE h, d;

	p.ulPublicDataLen = unhex(peer_hex, bpub, sizeof(bpub));
	ck_assert_rv(f->C_CreateObject(sess, it, 5, &h), CKR_OK);
	ck_assert_rv(f->C_DeriveKey(sess, &m, h, dt, 4, &d), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(sess, d, &q, 1), CKR_OK);
	assert_hex(z, q.ulValueLen, z_hex);
	/* a peer key of the other curve's length is refused */
	p.ulPublicDataLen = alen == 32 ? 56 : 32;
	ck_assert_rv(f->C_DeriveKey(sess, &m, h, dt, 4, &d), CKR_MECHANISM_PARAM_INVALID);
}

START_TEST(test_x25519_x448_rfc7748)
{
	static const CK_BYTE x25519[] = {0x06, 0x03, 0x2b, 0x65, 0x6e}, x448[] = {0x06, 0x03, 0x2b, 0x65, 0x6f};

	xdh_case(x25519, sizeof(x25519), "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
		 "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
		 "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	xdh_case(x448, sizeof(x448),
		 "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
		 "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609",
		 "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d");
}
END_TEST

/* EdDSA (RFC 8032 section 7): the key pair imported, the signature of the empty message as the RFC gives it
 * (with no parameters and with CK_EDDSA_PARAMS for pure EdDSA), verified; prehash and context refused. */
static void eddsa_case(const CK_BYTE *oid, size_t oidlen, const char *sk_hex, const char *pk_hex, const char *sig_hex)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, pub = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_EC_EDWARDS;
	CK_BBOOL tr = CK_TRUE;
	CK_BYTE sk[64], pk[64], pt[66], sig[128];
	CK_ULONG sklen = unhex(sk_hex, sk, sizeof(sk)), pklen = unhex(pk_hex, pk, sizeof(pk)), n;
	CK_ATTRIBUTE it[] = {{CKA_CLASS, &priv, sizeof(priv)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
			     {CKA_EC_PARAMS, (void *)oid, oidlen}, {CKA_VALUE, sk, sklen}, {CKA_SIGN, &tr, 1}};
	CK_ATTRIBUTE pt_[] = {{CKA_CLASS, &pub, sizeof(pub)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
			      {CKA_EC_PARAMS, (void *)oid, oidlen}, {CKA_EC_POINT, pt, pklen + 2}, {CKA_VERIFY, &tr, 1}};
	struct kms_ck_eddsa_params pure = {CK_FALSE, 0, NULL}, ph = {CK_TRUE, 0, NULL}, ctx = {CK_FALSE, 3, (CK_BYTE_PTR) "foo"};
	CK_MECHANISM plain = {CKM_EDDSA, NULL, 0}, withp = {CKM_EDDSA, &pure, sizeof(pure)},
		     mph = {CKM_EDDSA, &ph, sizeof(ph)}, mctx = {CKM_EDDSA, &ctx, sizeof(ctx)};
	CK_MECHANISM *ok[] = {&plain, &withp};
	CK_OBJECT_HANDLE hs, hv;

	pt[0] = 0x04;
	pt[1] = (CK_BYTE)pklen;
	memcpy(pt + 2, pk, pklen);
	ck_assert_rv(f->C_CreateObject(sess, it, 5, &hs), CKR_OK);
	ck_assert_rv(f->C_CreateObject(sess, pt_, 5, &hv), CKR_OK);
	for (size_t i = 0; i < 2; i++) {
		n = 0;
		ck_assert_rv(f->C_SignInit(sess, ok[i], hs), CKR_OK);
		ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "", 0, NULL, &n), CKR_OK);
		ck_assert_uint_eq(n, 2 * pklen);
		ck_assert_rv(f->C_Sign(sess, (CK_BYTE_PTR) "", 0, sig, &n), CKR_OK);
		assert_hex(sig, n, sig_hex);
		ck_assert_rv(f->C_VerifyInit(sess, ok[i], hv), CKR_OK);
		ck_assert_rv(f->C_Verify(sess, (CK_BYTE_PTR) "", 0, sig, n), CKR_OK);
		sig[3] ^= 1;
		ck_assert_rv(f->C_VerifyInit(sess, ok[i], hv), CKR_OK);
		ck_assert_rv(f->C_Verify(sess, (CK_BYTE_PTR) "", 0, sig, n), CKR_SIGNATURE_INVALID);
	}
	ck_assert_rv(f->C_SignInit(sess, &mph, hs), CKR_MECHANISM_PARAM_INVALID);
	ck_assert_rv(f->C_SignInit(sess, &mctx, hs), CKR_MECHANISM_PARAM_INVALID);
}

START_TEST(test_eddsa_rfc8032)
{
	static const CK_BYTE ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70}, ed448[] = {0x06, 0x03, 0x2b, 0x65, 0x71};

	eddsa_case(ed25519, sizeof(ed25519), "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
		   "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
	eddsa_case(ed448, sizeof(ed448),
		   "6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b",
		   "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180",
		   "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600");
}
END_TEST

/* HKDF (RFC 5869 test cases 1 and 3, SHA-256) through CKM_HKDF_DERIVE and CKM_HKDF_DATA: extract and expand
 * with the salt as data, as a key and absent; extract only (the PRK); expand only from the PRK; the errors. */
static CK_OBJECT_HANDLE hkdf_run(CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE base, struct kms_ck_hkdf_params *hp,
				 CK_ULONG len, CK_RV want, CK_BYTE *out, CK_ULONG *outlen)
{
	CK_OBJECT_CLASS sec = CKO_SECRET_KEY, dat = CKO_DATA;
	CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
	CK_BBOOL fa = CK_FALSE, tr = CK_TRUE;
	CK_ATTRIBUTE kt_[] = {{CKA_CLASS, &sec, sizeof(sec)}, {CKA_KEY_TYPE, &gk, sizeof(gk)}, {CKA_SENSITIVE, &fa, 1},
			      {CKA_EXTRACTABLE, &tr, 1}, {CKA_VALUE_LEN, &len, sizeof(len)}};
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &dat, sizeof(dat)}, {CKA_TOKEN, &fa, 1}, {CKA_VALUE_LEN, &len, sizeof(len)}};
	CK_MECHANISM m = {mech, hp, sizeof(*hp)};
	CK_ATTRIBUTE q = {CKA_VALUE, out, *outlen};
	CK_OBJECT_HANDLE h = 0;
	bool data = mech == CKM_HKDF_DATA;

	ck_assert_rv(f->C_DeriveKey(sess, &m, base, data ? dt : kt_, data ? 3 : (len ? 5 : 4), &h), want);
	if (want != CKR_OK)
		return 0;
	ck_assert_rv(f->C_GetAttributeValue(sess, h, &q, 1), CKR_OK);
	*outlen = q.ulValueLen;
	return h;
}

START_TEST(test_hkdf_rfc5869)
{
	static const char okm1[] = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865";
	static const char prk1[] = "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5";
	static const char okm3[] = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8";
	CK_BYTE salt[13], info[10], out[64], ikm[22];
	CK_ULONG n;
	CK_OBJECT_HANDLE base, skey, prk, d;
	struct kms_ck_hkdf_params hp = {CK_TRUE, CK_TRUE, CKM_SHA256, CKF_HKDF_SALT_DATA, salt, 13, 0, info, 10};

	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (CK_BYTE)i;
	for (int i = 0; i < 10; i++)
		info[i] = (CK_BYTE)(0xf0 + i);
	{
		CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
		CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
		CK_BBOOL tr = CK_TRUE;
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &sec, sizeof(sec)}, {CKA_KEY_TYPE, &gk, sizeof(gk)},
				    {CKA_VALUE, ikm, sizeof(ikm)}, {CKA_DERIVE, &tr, 1}};
		CK_ATTRIBUTE ts[] = {{CKA_CLASS, &sec, sizeof(sec)}, {CKA_KEY_TYPE, &gk, sizeof(gk)},
				     {CKA_VALUE, salt, sizeof(salt)}};

		ck_assert_rv(f->C_CreateObject(sess, t, 4, &base), CKR_OK);
		ck_assert_rv(f->C_CreateObject(sess, ts, 3, &skey), CKR_OK);
	}
	/* test case 1: a key, a data object, the salt as a key */
	n = sizeof(out);
	hkdf_run(CKM_HKDF_DERIVE, base, &hp, 42, CKR_OK, out, &n);
	assert_hex(out, n, okm1);
	n = sizeof(out);
	hkdf_run(CKM_HKDF_DATA, base, &hp, 42, CKR_OK, out, &n);
	assert_hex(out, n, okm1);
	hp.ulSaltType = CKF_HKDF_SALT_KEY;
	hp.hSaltKey = skey;
	n = sizeof(out);
	hkdf_run(CKM_HKDF_DERIVE, base, &hp, 42, CKR_OK, out, &n);
	assert_hex(out, n, okm1);
	hp.hSaltKey = 0x7ffffff0UL;
	hkdf_run(CKM_HKDF_DERIVE, base, &hp, 42, CKR_MECHANISM_PARAM_INVALID, out, &n);
	/* extract only: the PRK, HashLen bytes; then expand only from it */
	hp.ulSaltType = CKF_HKDF_SALT_DATA;
	hp.bExpand = CK_FALSE;
	n = sizeof(out);
	prk = hkdf_run(CKM_HKDF_DERIVE, base, &hp, 0, CKR_OK, out, &n);
	assert_hex(out, n, prk1);
	hkdf_run(CKM_HKDF_DERIVE, base, &hp, 20, CKR_TEMPLATE_INCONSISTENT, out, &n);
	{
		CK_BBOOL tr = CK_TRUE;
		CK_ATTRIBUTE dv = {CKA_DERIVE, &tr, 1};

		ck_assert_rv(f->C_SetAttributeValue(sess, prk, &dv, 1), CKR_OK);
	}
	hp.bExtract = CK_FALSE;
	hp.bExpand = CK_TRUE;
	n = sizeof(out);
	hkdf_run(CKM_HKDF_DERIVE, prk, &hp, 42, CKR_OK, out, &n);
	assert_hex(out, n, okm1);
	/* test case 3: no salt, no info */
	hp.bExtract = CK_TRUE;
	hp.ulSaltType = CKF_HKDF_SALT_NULL;
	hp.pInfo = NULL;
	hp.ulInfoLen = 0;
	n = sizeof(out);
	hkdf_run(CKM_HKDF_DATA, base, &hp, 42, CKR_OK, out, &n);
	assert_hex(out, n, okm3);
	/* errors: neither step, an unknown hash, a bad salt type, a missing or too large length */
	hp.ulSaltType = 0x80;
	hkdf_run(CKM_HKDF_DERIVE, base, &hp, 42, CKR_MECHANISM_PARAM_INVALID, out, &n);
	hp.ulSaltType = CKF_HKDF_SALT_NULL;
	hp.prfHashMechanism = CKM_MD5;
	hkdf_run(CKM_HKDF_DERIVE, base, &hp, 42, CKR_MECHANISM_PARAM_INVALID, out, &n);
	hp.prfHashMechanism = CKM_SHA256;
	hkdf_run(CKM_HKDF_DERIVE, base, &hp, 0, CKR_TEMPLATE_INCOMPLETE, out, &n);
	hkdf_run(CKM_HKDF_DATA, base, &hp, 255 * 32 + 1, CKR_TEMPLATE_INCONSISTENT, out, &n);
	hp.bExtract = hp.bExpand = CK_FALSE;
	hkdf_run(CKM_HKDF_DERIVE, base, &hp, 42, CKR_MECHANISM_PARAM_INVALID, out, &n);
	/* an AES key is not an HKDF base; CKM_HKDF_KEY_GEN makes one that is */
	{
		CK_MECHANISM kg = {CKM_HKDF_KEY_GEN, NULL, 0};
		CK_ULONG l = 32;
		CK_KEY_TYPE kt = 0;
		CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &l, sizeof(l)}};
		CK_ATTRIBUTE q = {CKA_KEY_TYPE, &kt, sizeof(kt)};

		ck_assert_rv(f->C_GenerateKey(sess, &kg, t, 1, &d), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(sess, d, &q, 1), CKR_OK);
		ck_assert_uint_eq(kt, CKK_HKDF);
		hp.bExtract = hp.bExpand = CK_TRUE;
		n = sizeof(out);
		ck_assert_rv(f->C_SetAttributeValue(sess, d, &(CK_ATTRIBUTE){CKA_DERIVE, &(CK_BBOOL){CK_TRUE}, 1}, 1), CKR_OK);
		hkdf_run(CKM_HKDF_DERIVE, d, &hp, 16, CKR_OK, out, &n);
		ck_assert_uint_eq(n, 16);
	}
}
END_TEST

int main(void)
{
	Suite *su = suite_create("kat");
	TCase *tc = tcase_create("vectors");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_digests);
	tcase_add_test(tc, test_hmac_rfc4231);
	tcase_add_test(tc, test_cmac_rfc4493);
	tcase_add_test(tc, test_aes_sp800_38a);
	tcase_add_test(tc, test_gcm_vectors);
	tcase_add_test(tc, test_key_wrap_rfc3394_rfc5649);
	tcase_add_test(tc, test_x25519_x448_rfc7748);
	tcase_add_test(tc, test_eddsa_rfc8032);
	tcase_add_test(tc, test_hkdf_rfc5869);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
