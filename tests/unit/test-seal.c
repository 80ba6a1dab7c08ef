/* SPDX-License-Identifier: Apache-2.0 */
/* The seal binds the attributes that guard key material: records changed in the store without the token key
 * are refused; legitimate changes reseal; private data values are sealed; public objects (CKA_PRIVATE false) work
 * without a login; old stores migrate on first login. */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "storage/store.h"
#include "tests/unit/modfixture.h"

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static CK_OBJECT_HANDLE find_label(CK_SESSION_HANDLE s, const char *label)
{
	CK_ATTRIBUTE t = {CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;

	ck_assert_rv(f->C_FindObjectsInit(s, &t, 1), CKR_OK);
	ck_assert_rv(f->C_FindObjects(s, h, 2, &n), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
	ck_assert_msg(n == 1, "%lu objects labelled %s", (unsigned long)n, label);
	return h[0];
}

static CK_OBJECT_HANDLE aes_key(CK_SESSION_HANDLE s, const char *label, const CK_BYTE *val)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_TOKEN, &yes, 1},
			    {CKA_SENSITIVE, &yes, 1},	    {CKA_EXTRACTABLE, &no, 1},	      {CKA_ENCRYPT, &yes, 1},
			    {CKA_DECRYPT, &no, 1},	    {CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)},
			    {CKA_VALUE, (void *)val, 16}};
	CK_OBJECT_HANDLE h;

	ck_assert_rv(f->C_CreateObject(s, t, 9, &h), CKR_OK);
	return h;
}

static CK_OBJECT_HANDLE private_data(CK_SESSION_HANDLE s, const char *label, const char *value)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_TOKEN, &yes, 1},
			    {CKA_PRIVATE, &yes, 1},
			    {CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)},
			    {CKA_VALUE, (void *)value, (CK_ULONG)strlen(value)}};
	CK_OBJECT_HANDLE h;

	ck_assert_rv(f->C_CreateObject(s, t, 5, &h), CKR_OK);
	return h;
}

/* True when the file holds the bytes. */
static bool file_has(const char *path, const void *needle, size_t len)
{
	FILE *fp = fopen(path, "rb");
	static uint8_t buf[4 << 20];
	size_t n;

	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	return memmem(buf, n, needle, len) != NULL;
}

struct tamper {
	const char *label;
	CK_ATTRIBUTE_TYPE type;
	CK_BBOOL value;
};

/* In a child process (the module is not used there): opens the store with the storage library and sets
 * boolean attributes in the records, as someone with write access to data.mdb and no PIN could. */
static void tamper_store(const struct tamper *t, size_t n)
{
	pid_t pid = fork();
	int st = 0;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kms_store *st_ = NULL;
		int bad = 0;

		if (kms_store_open(store, &st_) != CKR_OK)
			_exit(2);
		for (size_t i = 0; i < n; i++) {
			struct kms_attrs q = KMS_ATTRS_INIT, a = KMS_ATTRS_INIT;
			uint64_t *ids = NULL;
			size_t nids = 0;
			uint32_t tno = 0;

			kms_attrs_set(&q, CKA_LABEL, t[i].label, strlen(t[i].label));
			if (kms_store_obj_find(st_, 1, &q, true, &ids, &nids) != CKR_OK || nids == 0)
				bad++;
			for (size_t j = 0; j < nids; j++) {
				unsigned long cls = 0;

				if (kms_store_obj_get(st_, ids[j], &tno, &a) != CKR_OK)
					bad++;
				kms_attrs_get_ulong(&a, CKA_CLASS, &cls);
				if (cls != CKO_PUBLIC_KEY && (kms_attrs_set(&a, t[i].type, &t[i].value, 1) != 0 ||
							      kms_store_obj_put(st_, tno, ids[j], &a, false) != CKR_OK))
					bad++;
				kms_attrs_free(&a);
			}
			free(ids);
			kms_attrs_free(&q);
		}
		kms_store_close(st_);
		_exit(bad ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tampering failed");
}

/* CKA_SENSITIVE and CKA_EXTRACTABLE flipped in the store: the key is refused, never given out, in a new
 * process and in a process that had the key decoded already. */
START_TEST(test_flipped_sensitive_refused)
{
	static const CK_BYTE val[16] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18,
					0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x90};
	static const struct tamper t[] = {{"aes", CKA_SENSITIVE, CK_FALSE}, {"aes", CKA_EXTRACTABLE, CK_TRUE}};
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	CK_BYTE out[32], buf[16];
	CK_ULONG n = sizeof(out);
	CK_ATTRIBUTE q = {CKA_VALUE, buf, sizeof(buf)};
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;

	setup_token();
	s = user_session();
	h = aes_key(s, "aes", val);
	/* the key is decoded and cached in this process */
	ck_assert_rv(f->C_EncryptInit(s, &ecb, h), CKR_OK);
	ck_assert_rv(f->C_Encrypt(s, (CK_BYTE_PTR) "0123456789abcdef", 16, out, &n), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, h, &q, 1), CKR_ATTRIBUTE_SENSITIVE);
	tamper_store(t, 2);
	q.ulValueLen = sizeof(buf);
	ck_assert_rv(f->C_GetAttributeValue(s, h, &q, 1), CKR_DEVICE_ERROR);
	ck_assert_rv(f->C_EncryptInit(s, &ecb, h), CKR_DEVICE_ERROR);
	/* and in a process of its own */
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	h = find_label(s, "aes");
	q.ulValueLen = sizeof(buf);
	ck_assert_rv(f->C_GetAttributeValue(s, h, &q, 1), CKR_DEVICE_ERROR);
	ck_assert(memcmp(buf, val, 16) != 0);
	teardown_store();
}
END_TEST

/* A usage flag turned on and a private key made extractable in the store: refused too. */
START_TEST(test_flipped_usage_and_private_key_refused)
{
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const CK_BYTE val[16] = {1, 2, 3};
	static const struct tamper t[] = {{"aes", CKA_DECRYPT, CK_TRUE},
					  {"ec", CKA_SENSITIVE, CK_FALSE},
					  {"ec", CKA_EXTRACTABLE, CK_TRUE}};
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ecb = {CKM_AES_ECB, NULL, 0}, ecdsa = {CKM_ECDSA, NULL, 0};
	CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_TOKEN, &yes, 1}, {CKA_LABEL, "ec", 2}};
	CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_LABEL, "ec", 2}};
	CK_BYTE buf[64];
	CK_ATTRIBUTE q = {CKA_VALUE, buf, sizeof(buf)};
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE hp, hk, ha;

	setup_token();
	s = user_session();
	ck_assert_rv(f->C_GenerateKeyPair(s, &gen, pub, 3, priv, 3, &hp, &hk), CKR_OK);
	ha = aes_key(s, "aes", val);
	ck_assert_rv(f->C_DecryptInit(s, &ecb, ha), CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	tamper_store(t, 3);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	ck_assert_rv(f->C_DecryptInit(s, &ecb, find_label(s, "aes")), CKR_DEVICE_ERROR);
	{
		CK_OBJECT_CLASS pk = CKO_PRIVATE_KEY;
		CK_ATTRIBUTE t2[] = {{CKA_LABEL, "ec", 2}, {CKA_CLASS, &pk, sizeof(pk)}};
		CK_ULONG n = 0;

		ck_assert_rv(f->C_FindObjectsInit(s, t2, 2), CKR_OK);
		ck_assert_rv(f->C_FindObjects(s, &hk, 1, &n), CKR_OK);
		ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
		ck_assert_int_eq(n, 1);
	}
	ck_assert_rv(f->C_GetAttributeValue(s, hk, &q, 1), CKR_DEVICE_ERROR);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, hk), CKR_DEVICE_ERROR);
	teardown_store();
}
END_TEST

/* Legitimate changes reseal: a usage flag set through PKCS#11 leaves the key usable here and in a new
 * process; a private data object's value is sealed, changed and read back. */
START_TEST(test_changes_reseal_and_private_data_sealed)
{
	static const CK_BYTE val[16] = {9, 8, 7};
	static const char secret[] = "a private data value 1f2e3d";
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	CK_ATTRIBUTE dec = {CKA_DECRYPT, &yes, 1};
	CK_BYTE ct[16], pt[16];
	CK_ULONG n = sizeof(ct);
	char buf[64], path[300];
	CK_ATTRIBUTE q = {CKA_VALUE, buf, sizeof(buf)};
	CK_ATTRIBUTE newval = {CKA_VALUE, "a second value 77aa", 19};
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h, d, c;
	CK_ATTRIBUTE copy_label = {CKA_LABEL, "copy", 4};

	setup_token();
	snprintf(path, sizeof(path), "%s/data.mdb", store);
	s = user_session();
	h = aes_key(s, "aes", val);
	ck_assert_rv(f->C_SetAttributeValue(s, h, &dec, 1), CKR_OK);
	ck_assert_rv(f->C_EncryptInit(s, &ecb, h), CKR_OK);
	ck_assert_rv(f->C_Encrypt(s, (CK_BYTE_PTR) "0123456789abcdef", 16, ct, &n), CKR_OK);
	d = private_data(s, "pd", secret);
	ck_assert(!file_has(path, secret, strlen(secret)));
	ck_assert_rv(f->C_GetAttributeValue(s, d, &q, 1), CKR_OK);
	ck_assert_int_eq(q.ulValueLen, strlen(secret));
	ck_assert_mem_eq(buf, secret, strlen(secret));
	/* a size query, then a short buffer */
	q.pValue = NULL;
	ck_assert_rv(f->C_GetAttributeValue(s, d, &q, 1), CKR_OK);
	ck_assert_int_eq(q.ulValueLen, strlen(secret));
	q.pValue = buf;
	q.ulValueLen = 4;
	ck_assert_rv(f->C_GetAttributeValue(s, d, &q, 1), CKR_BUFFER_TOO_SMALL);
	ck_assert_rv(f->C_SetAttributeValue(s, d, &newval, 1), CKR_OK);
	ck_assert(!file_has(path, "a second value 77aa", 19));
	ck_assert_rv(f->C_CopyObject(s, d, &copy_label, 1, &c), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	h = find_label(s, "aes");
	ck_assert_rv(f->C_DecryptInit(s, &ecb, h), CKR_OK);
	n = sizeof(pt);
	ck_assert_rv(f->C_Decrypt(s, ct, 16, pt, &n), CKR_OK);
	ck_assert_mem_eq(pt, "0123456789abcdef", 16);
	for (int i = 0; i < 2; i++) {
		q.ulValueLen = sizeof(buf);
		ck_assert_rv(f->C_GetAttributeValue(s, find_label(s, i ? "copy" : "pd"), &q, 1), CKR_OK);
		ck_assert_int_eq(q.ulValueLen, 19);
		ck_assert_mem_eq(buf, "a second value 77aa", 19);
	}
	/* logged out, the private data objects are out of sight */
	ck_assert_rv(f->C_Logout(s), CKR_OK);
	{
		CK_ATTRIBUTE t = {CKA_LABEL, "pd", 2};
		CK_ULONG nf = 1;

		ck_assert_rv(f->C_FindObjectsInit(s, &t, 1), CKR_OK);
		ck_assert_rv(f->C_FindObjects(s, &h, 1, &nf), CKR_OK);
		ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
		ck_assert_int_eq(nf, 0);
	}
	teardown_store();
}
END_TEST

/* A store written before seals were bound to attributes: the first login migrates it, every key works
 * after it, and the private data value leaves the records. */
START_TEST(test_legacy_store_migrates)
{
	const char *dir = getenv("KMS11_TESTDATA");
	char src[512], dst[300], hex[80], want[80];
	CK_BYTE buf[64], sig[128];
	CK_ULONG n = sizeof(sig);
	CK_ATTRIBUTE q = {CKA_VALUE, buf, sizeof(buf)};
	CK_MECHANISM ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
	CK_OBJECT_CLASS pk = CKO_PRIVATE_KEY, pub = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tk[] = {{CKA_LABEL, "legacy-ec", 9}, {CKA_CLASS, &pk, sizeof(pk)}};
	CK_ATTRIBUTE tp[] = {{CKA_LABEL, "legacy-ec", 9}, {CKA_CLASS, &pub, sizeof(pub)}};
	CK_OBJECT_HANDLE hk, hp;
	CK_ULONG nf = 0;
	CK_SESSION_HANDLE s;
	FILE *fp;

	ck_assert_msg(dir != NULL, "KMS11_TESTDATA is not set");
	setup_store();
	snprintf(src, sizeof(src), "%s/legacy-v1.mdb", dir);
	snprintf(dst, sizeof(dst), "%s/data.mdb", store);
	{
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 600 '%s'", src, dst, dst);
		ck_assert_int_eq(system(cmd), 0);
	}
	snprintf(src, sizeof(src), "%s/legacy-v1.aes", dir);
	fp = fopen(src, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(want, sizeof(want), fp));
	fclose(fp);
	want[strcspn(want, "\n")] = 0;
	ck_assert(file_has(dst, "legacy private data value", 25));
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	/* the AES key opens with its value */
	{
		CK_OBJECT_HANDLE ha = find_label(s, "legacy-aes");

		ck_assert_rv(f->C_GetAttributeValue(s, ha, &q, 1), CKR_OK);
		ck_assert_int_eq(q.ulValueLen, 32);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", buf[i]);
		ck_assert_str_eq(hex, want);
	}
	ck_assert_rv(f->C_FindObjectsInit(s, tk, 2), CKR_OK);
	ck_assert_rv(f->C_FindObjects(s, &hk, 1, &nf), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
	ck_assert_rv(f->C_FindObjectsInit(s, tp, 2), CKR_OK);
	ck_assert_rv(f->C_FindObjects(s, &hp, 1, &nf), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, hk), CKR_OK);
	ck_assert_rv(f->C_Sign(s, (CK_BYTE_PTR) "migrated", 8, sig, &n), CKR_OK);
	ck_assert_rv(f->C_VerifyInit(s, &ecdsa, hp), CKR_OK);
	ck_assert_rv(f->C_Verify(s, (CK_BYTE_PTR) "migrated", 8, sig, n), CKR_OK);
	q.ulValueLen = sizeof(buf);
	ck_assert_rv(f->C_GetAttributeValue(s, find_label(s, "legacy-data"), &q, 1), CKR_OK);
	ck_assert_int_eq(q.ulValueLen, 25);
	ck_assert_mem_eq(buf, "legacy private data value", 25);
	/* the RSA key signs too, in a second process that finds the store migrated */
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	{
		CK_MECHANISM rsa = {CKM_SHA256_RSA_PKCS, NULL, 0};
		CK_ATTRIBUTE tr[] = {{CKA_LABEL, "legacy-rsa", 10}, {CKA_CLASS, &pk, sizeof(pk)}};
		CK_BYTE rsig[256];
		CK_ULONG rn = sizeof(rsig);

		ck_assert_rv(f->C_FindObjectsInit(s, tr, 2), CKR_OK);
		ck_assert_rv(f->C_FindObjects(s, &hk, 1, &nf), CKR_OK);
		ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
		ck_assert_int_eq(nf, 1);
		ck_assert_rv(f->C_SignInit(s, &rsa, hk), CKR_OK);
		ck_assert_rv(f->C_Sign(s, (CK_BYTE_PTR) "x", 1, rsig, &rn), CKR_OK);
		ck_assert_int_eq(rn, 256);
	}
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	/* the live records hold no clear private value any more (the store check reads them) */
	{
		struct kms_store *st_ = NULL;
		struct kms_attrs q2 = KMS_ATTRS_INIT, a = KMS_ATTRS_INIT;
		uint64_t *ids = NULL;
		size_t nids = 0;

		ck_assert_rv(kms_store_open(store, &st_), CKR_OK);
		kms_attrs_set(&q2, CKA_LABEL, "legacy-data", 11);
		ck_assert_rv(kms_store_obj_find(st_, 1, &q2, true, &ids, &nids), CKR_OK);
		ck_assert_int_eq(nids, 1);
		ck_assert_rv(kms_store_obj_get(st_, ids[0], NULL, &a), CKR_OK);
		ck_assert_ptr_null(kms_attrs_get(&a, CKA_VALUE));
		kms_attrs_free(&a);
		kms_attrs_free(&q2);
		free(ids);
		kms_store_close(st_);
	}
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	teardown_store();
}
END_TEST

/* AES-ECB of one block under key (klen bytes), by OpenSSL. */
static void ecb_ref(const CK_BYTE *key, size_t klen, const CK_BYTE in[16], CK_BYTE out[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;

	ck_assert_int_eq(EVP_EncryptInit_ex(c, klen == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb(), NULL, key, NULL), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	ck_assert_int_eq(EVP_EncryptUpdate(c, out, &n, in, 16), 1);
	ck_assert_int_eq(n, 16);
	EVP_CIPHER_CTX_free(c);
}

/* The module's AES-ECB of one block with key h, against OpenSSL's under val; rv: what C_EncryptInit answers. */
static void ecb_check(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, const CK_BYTE *val, size_t klen, CK_RV rv)
{
	CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
	CK_BYTE in[16] = "public block 01", out[16], want[16];
	CK_ULONG n = sizeof(out);

	ck_assert_rv(f->C_EncryptInit(s, &m, h), rv);
	if (rv != CKR_OK)
		return;
	ck_assert_rv(f->C_Encrypt(s, in, 16, out, &n), CKR_OK);
	ecb_ref(val, klen, in, want);
	ck_assert_mem_eq(out, want, 16);
}

/* Public token objects: a key pair and a secret key with CKA_PRIVATE false are made and used in a R/W public
 * session, in this process and the next, their material sealed (not in clear in the store) under a key that
 * needs no PIN; keys without CKA_PRIVATE false still need the login; the seal binds CKA_PRIVATE. */
START_TEST(test_public_objects)
{
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const CK_BYTE val[16] = {0x9a, 0x31, 0x0c, 0x77, 0xe2, 0x5b, 0x48, 0x13,
					0xd0, 0x6f, 0xa4, 0x2e, 0x81, 0x55, 0xc9, 0x3b};
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ATTRIBUTE pubt[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_TOKEN, &yes, 1},
			       {CKA_PRIVATE, &no, 1}, {CKA_LABEL, "pub-ec", 6}};
	CK_ATTRIBUTE privt[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &no, 1}, {CKA_SIGN, &yes, 1}, {CKA_LABEL, "pub-ec", 6}};
	CK_ATTRIBUTE sect[] = {{CKA_CLASS, &sk, sizeof(sk)},	  {CKA_KEY_TYPE, &aes, sizeof(aes)},
			       {CKA_TOKEN, &yes, 1},		  {CKA_PRIVATE, &no, 1},
			       {CKA_ENCRYPT, &yes, 1},		  {CKA_LABEL, "pub-aes", 7},
			       {CKA_VALUE, (void *)val, sizeof(val)}};
	CK_OBJECT_HANDLE pub, priv, sec;
	CK_SESSION_HANDLE s;
	CK_BYTE sig[64];
	CK_ULONG n = sizeof(sig);
	char path[300];

	setup_token();
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_rv(f->C_GenerateKeyPair(s, &gen, pubt, 4, privt, 4, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_CreateObject(s, sect, 7, &sec), CKR_OK);
	ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_OK);
	ck_assert_rv(f->C_Sign(s, (CK_BYTE_PTR) "public", 6, sig, &n), CKR_OK);
	ck_assert_rv(f->C_VerifyInit(s, &ecdsa, pub), CKR_OK);
	ck_assert_rv(f->C_Verify(s, (CK_BYTE_PTR) "public", 6, sig, n), CKR_OK);
	ecb_check(s, sec, val, 16, CKR_OK);
	/* without CKA_PRIVATE false a key is private: it needs the login */
	ck_assert_rv(f->C_GenerateKeyPair(s, &gen, pubt, 4, privt, 1, &pub, &priv), CKR_USER_NOT_LOGGED_IN);
	ck_assert_rv(f->C_CreateObject(s, sect, 3, &sec), CKR_USER_NOT_LOGGED_IN);
	snprintf(path, sizeof(path), "%s/data.mdb", store);
	ck_assert(!file_has(path, val, sizeof(val)));
	/* a session key made without CKA_PRIVATE by a session that is not logged in is public (a token one is not) */
	{
		CK_ATTRIBUTE st[] = {{CKA_CLASS, &sk, sizeof(sk)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
				     {CKA_ENCRYPT, &yes, 1}, {CKA_VALUE, (void *)val, sizeof(val)}};
		CK_BBOOL p = CK_TRUE;
		CK_ATTRIBUTE q = {CKA_PRIVATE, &p, 1};
		CK_OBJECT_HANDLE h;

		ck_assert_rv(f->C_CreateObject(s, st, 4, &h), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(s, h, &q, 1), CKR_OK);
		ck_assert(!p);
		ecb_check(s, h, val, 16, CKR_OK);
		ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
		ck_assert_rv(f->C_CreateObject(s, st, 4, &h), CKR_OK);
		ck_assert_rv(f->C_GetAttributeValue(s, h, &q, 1), CKR_OK);
		ck_assert(p);
		ck_assert_rv(f->C_Logout(s), CKR_OK);
	}

	/* the next process: visible and usable without a login, and with one */
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ecb_check(s, find_label(s, "pub-aes"), val, 16, CKR_OK);
	{
		CK_OBJECT_CLASS pk = CKO_PRIVATE_KEY;
		CK_ATTRIBUTE t[] = {{CKA_LABEL, "pub-ec", 6}, {CKA_CLASS, &pk, sizeof(pk)}};
		CK_ULONG nf = 0;

		ck_assert_rv(f->C_FindObjectsInit(s, t, 2), CKR_OK);
		ck_assert_rv(f->C_FindObjects(s, &priv, 1, &nf), CKR_OK);
		ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
		ck_assert_int_eq(nf, 1);
		n = sizeof(sig);
		ck_assert_rv(f->C_SignInit(s, &ecdsa, priv), CKR_OK);
		ck_assert_rv(f->C_Sign(s, (CK_BYTE_PTR) "public", 6, sig, &n), CKR_OK);
	}
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	ecb_check(s, find_label(s, "pub-aes"), val, 16, CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);

	/* CKA_PRIVATE set true in the store without the token key: the seal no longer opens */
	{
		const struct tamper t = {"pub-aes", CKA_PRIVATE, CK_TRUE};

		tamper_store(&t, 1);
	}
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	ecb_check(s, find_label(s, "pub-aes"), val, 16, CKR_DEVICE_ERROR);
	teardown_store();
}
END_TEST

/* A store of the previous seal version holds a public AES key sealed under the token key: before a login it
 * answers CKR_USER_NOT_LOGGED_IN; the first login seals it under the public key; then it works without one. */
START_TEST(test_public_v2_store_migrates)
{
	const char *dir = getenv("KMS11_TESTDATA");
	CK_BYTE val[32];
	char cmd[1200];
	CK_SESSION_HANDLE s;

	for (int i = 0; i < 32; i++)
		val[i] = (CK_BYTE)(0x40 + i);
	ck_assert_msg(dir != NULL, "KMS11_TESTDATA is not set");
	setup_store();
	snprintf(cmd, sizeof(cmd), "cp '%s/public-v2.mdb' '%s/data.mdb' && chmod 600 '%s/data.mdb'", dir, store, store);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	ecb_check(s, find_label(s, "v2-public-aes"), val, 32, CKR_USER_NOT_LOGGED_IN);
	ck_assert_rv(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4), CKR_OK);
	ecb_check(s, find_label(s, "v2-public-aes"), val, 32, CKR_OK);
	ck_assert_rv(f->C_Logout(s), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ecb_check(s, find_label(s, "v2-public-aes"), val, 32, CKR_OK);
	teardown_store();
}
END_TEST

int main(void)
{
	Suite *su = suite_create("seal");
	TCase *tc = tcase_create("seal");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_flipped_sensitive_refused);
	tcase_add_test(tc, test_flipped_usage_and_private_key_refused);
	tcase_add_test(tc, test_changes_reseal_and_private_data_sealed);
	tcase_add_test(tc, test_legacy_store_migrates);
	tcase_add_test(tc, test_public_objects);
	tcase_add_test(tc, test_public_v2_store_migrates);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
