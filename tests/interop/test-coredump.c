/* SPDX-License-Identifier: Apache-2.0 */
/* Core dump helper: a logged-in process that has used an RSA, an EC, an Ed25519 and an AES key of known value,
 * then waits to be dumped with gcore. It writes the secrets to look for, in hex, to the file argv[1]:
 * the token key (opened here with the user PIN through the core library, before the module is loaded),
 * RSA p, q and d, the EC scalar, the Ed25519 seed and the AES key. Its own copies are wiped before it
 * says "ready", so whatever the dump holds came from the module. */
#include <signal.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "module/core/core.h"
#include "tests/interop/p11util.h"
#include "tests/rsaparts.h"

static FILE *out;

/* Writes "name hex" and wipes the bytes. */
static void pattern(const char *name, uint8_t *b, size_t n)
{
	fprintf(out, "%s ", name);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%02x", b[i]);
	fputc('\n', out);
	fflush(out);
	OPENSSL_cleanse(b, n);
}

/* The token key, through the core library's own login (its copy is wiped by its finalize). */
static int token_key_pattern(void)
{
	struct kms_token *tok = NULL;
	struct kms_session *s = NULL;
	CK_SESSION_HANDLE h = 0;
	uint8_t key[KMS_TOKEN_KEY_LEN];
	int ok = 0;

	if (kms_core_initialize(NULL) != CKR_OK || kms_token_lookup(0, &tok) != CKR_OK ||
	    kms_session_open(tok, CKF_SERIAL_SESSION | CKF_RW_SESSION, &h) != CKR_OK)
		return 0;
	if (kms_session_get(h, &s) == CKR_OK) {
		if (kms_token_login(s, CKU_USER, P11U_PIN, strlen(P11U_PIN)) == CKR_OK && tok->token_key) {
			memcpy(key, tok->token_key, sizeof(key));
			pattern("token-key", key, sizeof(key));
			ok = 1;
		}
		kms_session_put(s);
	}
	kms_session_close(h);
	kms_core_finalize();
	return ok;
}

/* A big number of pk as big-endian bytes (malloc'd); NULL when absent. */
static uint8_t *bn_bytes(EVP_PKEY *pk, const char *name, size_t *len)
{
	BIGNUM *bn = NULL;
	uint8_t *b;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1)
		return NULL;
	*len = (size_t)BN_num_bytes(bn);
	b = malloc(*len);
	if (b)
		BN_bn2bin(bn, b);
	BN_clear_free(bn);
	return b;
}

static CK_BBOOL yes = CK_TRUE;

static CK_OBJECT_HANDLE import_rsa(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_ATTRIBUTE t[12] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_TOKEN, &yes, 1},
			      {CKA_SIGN, &yes, 1}};
	uint8_t *v[8] = {0};
	size_t l[8] = {0};
	CK_OBJECT_HANDLE h = 0;
	EVP_PKEY *pk = EVP_RSA_gen(2048);

	if (!pk)
		return 0;
	for (int i = 0; i < 8; i++) {
		v[i] = bn_bytes(pk, rsa_part_names[i], &l[i]);
		t[4 + i].type = rsa_part_types[i];
		t[4 + i].pValue = v[i];
		t[4 + i].ulValueLen = (CK_ULONG)l[i];
	}
	EVP_PKEY_free(pk);
	p11u_check(f->C_CreateObject(s, t, 12, &h) == CKR_OK, "import an RSA-2048 key");
	pattern("rsa-d", v[2], l[2]);
	pattern("rsa-p", v[3], l[3]);
	pattern("rsa-q", v[4], l[4]);
	for (int i = 0; i < 8; i++) {
		OPENSSL_cleanse(v[i], l[i]);
		free(v[i]);
	}
	return h;
}

/* An EC (P-256) or Ed25519 private key whose CKA_VALUE is 32 random bytes (a P-256 scalar below the order). */
static CK_OBJECT_HANDLE import_ec(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, bool ed, const char *name)
{
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const CK_BYTE ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = ed ? CKK_EC_EDWARDS : CKK_EC;
	uint8_t val[32];
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_KEY_TYPE, &kt, sizeof(kt)},
			    {CKA_TOKEN, &yes, 1},
			    {CKA_SIGN, &yes, 1},
			    {CKA_EC_PARAMS, ed ? (void *)ed25519 : (void *)p256, ed ? sizeof(ed25519) : sizeof(p256)},
			    {CKA_VALUE, val, sizeof(val)}};
	CK_OBJECT_HANDLE h = 0;

	RAND_bytes(val, sizeof(val));
	val[0] = 0x5a;
	p11u_check(f->C_CreateObject(s, t, 6, &h) == CKR_OK, "import the %s key", name);
	pattern(name, val, sizeof(val));
	return h;
}

static CK_OBJECT_HANDLE import_aes(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	uint8_t val[32];
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_TOKEN, &yes, 1},
			    {CKA_ENCRYPT, &yes, 1},	     {CKA_SIGN, &yes, 1},	      {CKA_VALUE, val, sizeof(val)}};
	CK_OBJECT_HANDLE h = 0;

	RAND_bytes(val, sizeof(val));
	p11u_check(f->C_CreateObject(s, t, 6, &h) == CKR_OK, "import the AES key");
	pattern("aes", val, sizeof(val));
	return h;
}

/* A message on the heap: the search must find it in the dump, which shows that it can find what is there. */
static char *marker;

static void sign_with(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_MECHANISM_TYPE m, CK_OBJECT_HANDLE k,
		      const char *what)
{
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM mech = {m, NULL, 0};
	CK_BYTE sig[512];
	CK_ULONG n;
	int ok = 1;

	if (m == CKM_SHA256_RSA_PKCS_PSS) {
		mech.pParameter = &pss;
		mech.ulParameterLen = sizeof(pss);
	}
	for (int i = 0; i < 3; i++) {
		n = sizeof(sig);
		ok &= f->C_SignInit(s, &mech, k) == CKR_OK &&
		      f->C_Sign(s, (CK_BYTE_PTR)marker, strlen(marker), sig, &n) == CKR_OK;
	}
	p11u_check(ok, "sign three times with %s", what);
}

int main(int argc, char **argv)
{
	CK_FUNCTION_LIST_PTR f;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE rsa, ec, ed, aes;
	CK_BYTE iv[12] = {1}, ct[128];
	CK_GCM_PARAMS gp = {iv, sizeof(iv), sizeof(iv) * 8, NULL, 0, 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof(gp)}, cbc = {CKM_AES_CBC, iv, 16};
	CK_BYTE civ[16] = {2};
	CK_ULONG n;

	if (argc != 2 || !(out = fopen(argv[1], "w")))
		return 2;
	marker = malloc(32);
	if (!marker)
		return 2;
	snprintf(marker, 32, "kms11-dump-marker-%d", 4242);
	p11u_check(token_key_pattern(), "the token key opens with the user PIN");
	f = p11u_load();
	if (f->C_Initialize(NULL) != CKR_OK ||
	    f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11U_PIN, strlen(P11U_PIN)) != CKR_OK) {
		fprintf(stderr, "FAIL: cannot log in\n");
		return 1;
	}
	rsa = import_rsa(f, s);
	ec = import_ec(f, s, false, "ec-scalar");
	ed = import_ec(f, s, true, "ed25519-seed");
	aes = import_aes(f, s);
	fclose(out);
	sign_with(f, s, CKM_SHA256_RSA_PKCS, rsa, "RSA PKCS#1");
	sign_with(f, s, CKM_SHA256_RSA_PKCS_PSS, rsa, "RSA-PSS");
	sign_with(f, s, CKM_ECDSA_SHA256, ec, "ECDSA");
	sign_with(f, s, CKM_EDDSA, ed, "Ed25519");
	sign_with(f, s, CKM_AES_CMAC, aes, "AES-CMAC");
	n = sizeof(ct);
	p11u_check(f->C_EncryptInit(s, &gcm, aes) == CKR_OK &&
			   f->C_Encrypt(s, (CK_BYTE_PTR) "0123456789abcdef", 16, ct, &n) == CKR_OK,
		   "encrypt with AES-GCM");
	cbc.pParameter = civ;
	n = sizeof(ct);
	p11u_check(f->C_EncryptInit(s, &cbc, aes) == CKR_OK &&
			   f->C_Encrypt(s, (CK_BYTE_PTR) "0123456789abcdef", 16, ct, &n) == CKR_OK,
		   "encrypt with AES-CBC");
	printf("ready %d\n", p11u_failures);
	fflush(stdout);
	for (;;)
		pause();
}
