/* SPDX-License-Identifier: Apache-2.0 */
/* kms11-bench: signing and symmetric throughput of libkms11.so against raw OpenSSL on the same keys, and store scale. */
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>

#include "tests/bench/bench.h"

#define KMS_BENCH_SO_PIN "12345678"
#define KMS_BENCH_PIN "1234"
#define KMS_BENCH_FIND_SAMPLES 2000

/* Targets printed next to the figures. */
#define KMS_TARGET_RATIO 0.90
#define KMS_TARGET_SCALING 1.8
#define KMS_TARGET_FIND_US 50.0
#define KMS_TARGET_OPEN_MS 100.0

static const unsigned char kms_oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const unsigned char kms_oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const unsigned char kms_name_ed25519[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
						  '2', '5', '5', '1', '9' };

CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static int errors;
static char store_root[256];

/* One benchmarked case: a mechanism and the same key in the module and in OpenSSL. */
struct kms_case {
	const char *name;
	CK_MECHANISM_TYPE mech;
	int pss;		/* RSA-PSS parameters (SHA-256, MGF1-SHA-256, salt 32) */
	const char *md;		/* digest for EVP_DigestSignInit_ex, NULL for Ed25519 */
	EVP_PKEY *pkey;		/* the OpenSSL key (raw path) */
	CK_OBJECT_HANDLE key;	/* the same key imported into the module */
	double kms[KMS_BENCH_MAX_THREADS + 1], raw[KMS_BENCH_MAX_THREADS + 1];
};

void kms_bench_error(const char *fmt, ...)
{
	va_list ap;

	errors++;
	fprintf(stderr, "bench error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

double kms_bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int kms_bench_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void kms_bench_cleanup(void)
{
	if (store_root[0] != '\0')
		nftw(store_root, kms_bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Loads the module; returns 0 or -1. */
static int kms_bench_load(const char *path)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		kms_bench_error("dlopen %s: %s", path, dlerror());
		return -1;
	}
	*(void **)&get = dlsym(h, "C_GetFunctionList");
	if (get == NULL || get(&p11) != CKR_OK) {
		kms_bench_error("C_GetFunctionList of %s", path);
		return -1;
	}
	return 0;
}

#define KMS_TRY(call)                                                                          \
	do {                                                                                   \
		rv = (call);                                                                   \
		if (rv != CKR_OK) {                                                            \
			kms_bench_error("%s: 0x%lx", #call, (unsigned long)rv);                \
			goto out;                                                              \
		}                                                                              \
	} while (0)

/* C_Initialize, token init, user login in session *s. Returns CKR_OK or the failing CKR. */
static CK_RV kms_bench_token_setup(CK_SESSION_HANDLE *s)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_UTF8CHAR label[32];
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	CK_RV rv;

	memset(label, ' ', sizeof(label));
	memcpy(label, "kms11", 5);
	KMS_TRY(p11->C_Initialize(&args));
	KMS_TRY(p11->C_GetSlotList(CK_TRUE, slots, &n));
	if (n == 0) {
		rv = CKR_SLOT_ID_INVALID;
		kms_bench_error("no slot");
		goto out;
	}
	slot = slots[0];
	KMS_TRY(p11->C_InitToken(slot, (CK_UTF8CHAR_PTR)KMS_BENCH_SO_PIN, 8, label));
	KMS_TRY(p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s));
	KMS_TRY(p11->C_Login(*s, CKU_SO, (CK_UTF8CHAR_PTR)KMS_BENCH_SO_PIN, 8));
	KMS_TRY(p11->C_InitPIN(*s, (CK_UTF8CHAR_PTR)KMS_BENCH_PIN, 4));
	KMS_TRY(p11->C_Logout(*s));
	KMS_TRY(p11->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)KMS_BENCH_PIN, 4));
out:
	return rv;
}

/* A big number of the key as big-endian bytes in a fresh buffer; NULL on failure. */
static unsigned char *kms_bench_bn(EVP_PKEY *pk, const char *param, CK_ULONG *len)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;

	if (!EVP_PKEY_get_bn_param(pk, param, &bn))
		return NULL;
	*len = (CK_ULONG)BN_num_bytes(bn);
	buf = malloc(*len ? *len : 1);
	if (buf)
		BN_bn2bin(bn, buf);
	BN_clear_free(bn);
	return buf;
}

/* Imports the OpenSSL key into the module as a sensitive token signing key; returns the CKR. */
static CK_RV kms_bench_import(CK_SESSION_HANDLE s, EVP_PKEY *pk, const char *label, CK_OBJECT_HANDLE *out)
{
	static const char *rsa_params[] = { OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
		OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
		OSSL_PKEY_PARAM_RSA_COEFFICIENT1 };
	static const CK_ATTRIBUTE_TYPE rsa_attrs[] = { CKA_MODULUS, CKA_PUBLIC_EXPONENT,
		CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2,
		CKA_COEFFICIENT };
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[20];
	unsigned char *bufs[8] = { NULL };
	unsigned char raw[64];
	size_t rawlen = sizeof(raw), i, n = 0;
	CK_ULONG len;
	CK_RV rv = CKR_GENERAL_ERROR;

	t[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	t[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	t[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if (EVP_PKEY_is_a(pk, "RSA")) {
		kt = CKK_RSA;
		for (i = 0; i < 8; i++) {
			bufs[i] = kms_bench_bn(pk, rsa_params[i], &len);
			if (bufs[i] == NULL)
				goto out;
			t[n++] = (CK_ATTRIBUTE){ rsa_attrs[i], bufs[i], len };
		}
	} else if (EVP_PKEY_is_a(pk, "EC")) {
		BIGNUM *d = NULL;

		kt = CKK_EC;
		if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d))
			goto out;
		BN_bn2binpad(d, raw, 32);
		BN_clear_free(d);
		t[n++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)kms_oid_p256, sizeof(kms_oid_p256) };
		t[n++] = (CK_ATTRIBUTE){ CKA_VALUE, raw, 32 };
	} else {
		kt = CKK_EC_EDWARDS;
		if (!EVP_PKEY_get_raw_private_key(pk, raw, &rawlen))
			goto out;
		t[n++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)kms_oid_ed25519, sizeof(kms_oid_ed25519) };
		t[n++] = (CK_ATTRIBUTE){ CKA_VALUE, raw, rawlen };
	}
	rv = p11->C_CreateObject(s, t, n, out);
	if (rv != CKR_OK && kt == CKK_EC_EDWARDS) {
		/* Some modules name the curve rather than giving RFC 8410's OID. */
		t[n - 2] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)kms_name_ed25519, sizeof(kms_name_ed25519) };
		rv = p11->C_CreateObject(s, t, n, out);
	}
out:
	for (i = 0; i < 8; i++)
		free(bufs[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rv;
}

static void kms_bench_mech(const struct kms_case *c, CK_MECHANISM *m, CK_RSA_PKCS_PSS_PARAMS *pss)
{
	*pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA256, CKG_MGF1_SHA256, 32 };
	*m = (CK_MECHANISM){ c->mech, c->pss ? pss : NULL, c->pss ? sizeof(*pss) : 0 };
}

static const unsigned char kms_msg[] = "kms11 benchmark message: 64 bytes of data, signed again and again";

/* Verifies a module signature with OpenSSL (r||s converted to DER for ECDSA); 1 when it verifies. */
static int kms_bench_verify(const struct kms_case *c, EVP_PKEY *pub, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	int ok = 0, derlen;

	if (ctx == NULL)
		return 0;
	if (EVP_PKEY_is_a(pub, "EC")) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		size_t half = siglen / 2;

		if (es == NULL || !ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)half, NULL),
						  BN_bin2bn(sig + half, (int)half, NULL))) {
			ECDSA_SIG_free(es);
			goto out;
		}
		derlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (derlen <= 0)
			goto out;
		sig = der;
		siglen = (size_t)derlen;
	}
	if (EVP_DigestVerifyInit_ex(ctx, &pctx, c->md, NULL, NULL, pub, NULL) != 1)
		goto out;
	if (c->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
		goto out;
	ok = EVP_DigestVerify(ctx, sig, siglen, kms_msg, sizeof(kms_msg)) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* One module signature; returns the CKR. */
static CK_RV kms_bench_sign_p11(CK_SESSION_HANDLE s, const struct kms_case *c, unsigned char *sig, CK_ULONG *len)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM m;
	CK_RV rv;

	kms_bench_mech(c, &m, &pss);
	rv = p11->C_SignInit(s, &m, c->key);
	if (rv != CKR_OK)
		return rv;
	return p11->C_Sign(s, (CK_BYTE_PTR)kms_msg, sizeof(kms_msg), sig, len);
}

/* One raw OpenSSL signature with a fresh EVP_MD_CTX; returns 1 on success. */
static int kms_bench_sign_raw(const struct kms_case *c, unsigned char *sig, size_t *len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	if (ctx == NULL)
		return 0;
	if (EVP_DigestSignInit_ex(ctx, &pctx, c->md, NULL, NULL, c->pkey, NULL) != 1)
		goto out;
	if (c->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
		goto out;
	ok = EVP_DigestSign(ctx, sig, len, kms_msg, sizeof(kms_msg)) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return ok;
}

struct kms_bench_thread {
	const struct kms_bench_loop *l;
	double seconds;
	pthread_barrier_t *start;
	unsigned long ops;
	CK_RV failed;
};

static void *kms_bench_thread_run(void *arg)
{
	struct kms_bench_thread *t = arg;
	void *state = NULL;
	double end;

	t->failed = t->l->start ? t->l->start(t->l->arg, &state) : CKR_OK;
	pthread_barrier_wait(t->start);
	end = kms_bench_now() + t->seconds;
	while (t->failed == CKR_OK && kms_bench_now() < end) {
		t->failed = t->l->one(t->l->arg, state);
		t->ops++;
	}
	if (t->l->stop)
		t->l->stop(t->l->arg, state);
	return NULL;
}

double kms_bench_loop_run(const struct kms_bench_loop *l, int threads, double seconds, CK_RV *failed)
{
	struct kms_bench_thread t[KMS_BENCH_MAX_THREADS];
	pthread_t th[KMS_BENCH_MAX_THREADS];
	pthread_barrier_t start;
	unsigned long total = 0;
	int i;

	*failed = CKR_OK;
	pthread_barrier_init(&start, NULL, (unsigned)threads);
	for (i = 0; i < threads; i++) {
		t[i] = (struct kms_bench_thread){ .l = l, .seconds = seconds, .start = &start };
		pthread_create(&th[i], NULL, kms_bench_thread_run, &t[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += t[i].ops;
		if (t[i].failed != CKR_OK && *failed == CKR_OK)
			*failed = t[i].failed;
	}
	pthread_barrier_destroy(&start);
	return *failed == CKR_OK ? (double)total / seconds : 0;
}

CK_RV kms_bench_session_start(void *arg, void **state)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);

	(void)arg;
	*state = (void *)(uintptr_t)s;
	return rv;
}

void kms_bench_session_stop(void *arg, void *state)
{
	(void)arg;
	if ((CK_SESSION_HANDLE)(uintptr_t)state != CK_INVALID_HANDLE)
		p11->C_CloseSession((CK_SESSION_HANDLE)(uintptr_t)state);
}

static CK_RV kms_bench_one_p11(void *arg, void *state)
{
	unsigned char sig[1024];
	CK_ULONG len = sizeof(sig);

	return kms_bench_sign_p11((CK_SESSION_HANDLE)(uintptr_t)state, arg, sig, &len);
}

static CK_RV kms_bench_one_raw(void *arg, void *state)
{
	unsigned char sig[1024];
	size_t len = sizeof(sig);

	(void)state;
	return kms_bench_sign_raw(arg, sig, &len) ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* Runs `threads` workers for `seconds`; returns the total ops/s, or 0 on a failure. */
static double kms_bench_run(struct kms_case *c, int raw, int threads, double seconds)
{
	const struct kms_bench_loop l = { .start = raw ? NULL : kms_bench_session_start,
					  .one = raw ? kms_bench_one_raw : kms_bench_one_p11,
					  .stop = raw ? NULL : kms_bench_session_stop,
					  .arg = c };
	CK_RV failed;
	double r = kms_bench_loop_run(&l, threads, seconds, &failed);

	if (failed != CKR_OK)
		kms_bench_error("%s %s with %d threads failed (0x%lx)", c->name, raw ? "raw" : "kms11", threads,
				(unsigned long)failed);
	return r;
}

/* Generates a key pair in the module, reads CKA_PUBLIC_KEY_INFO, checks a module signature with it. */
static void kms_bench_check_generated(CK_SESSION_HANDLE s, struct kms_case *c)
{
	CK_MECHANISM gen = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_BYTE e[] = { 1, 0, 1 };
	CK_ATTRIBUTE pt[4] = { { CKA_TOKEN, &yes, sizeof(yes) }, { CKA_VERIFY, &yes, sizeof(yes) } };
	CK_ATTRIBUTE kt[] = { { CKA_TOKEN, &yes, sizeof(yes) }, { CKA_PRIVATE, &yes, sizeof(yes) },
			      { CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_SIGN, &yes, sizeof(yes) } };
	CK_ATTRIBUTE info = { CKA_PUBLIC_KEY_INFO, NULL, 0 };
	CK_OBJECT_HANDLE pub, priv, saved = c->key;
	CK_ULONG npt = 2, siglen;
	unsigned char *spki = NULL, sig[1024];
	const unsigned char *p;
	EVP_PKEY *pk = NULL;
	CK_RV rv;

	if (c->mech == CKM_ECDSA_SHA256) {
		gen.mechanism = CKM_EC_KEY_PAIR_GEN;
		pt[npt++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)kms_oid_p256, sizeof(kms_oid_p256) };
	} else if (c->mech == CKM_EDDSA) {
		gen.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		pt[npt++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)kms_oid_ed25519, sizeof(kms_oid_ed25519) };
	} else {
		pt[npt++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		pt[npt++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, e, sizeof(e) };
	}
	KMS_TRY(p11->C_GenerateKeyPair(s, &gen, pt, npt, kt, 4, &pub, &priv));
	KMS_TRY(p11->C_GetAttributeValue(s, pub, &info, 1));
	spki = malloc(info.ulValueLen ? info.ulValueLen : 1);
	if (spki == NULL)
		goto out;
	info.pValue = spki;
	KMS_TRY(p11->C_GetAttributeValue(s, pub, &info, 1));
	p = spki;
	pk = d2i_PUBKEY(NULL, &p, (long)info.ulValueLen);
	if (pk == NULL) {
		kms_bench_error("%s: CKA_PUBLIC_KEY_INFO does not parse as SubjectPublicKeyInfo", c->name);
		goto out;
	}
	c->key = priv;
	siglen = sizeof(sig);
	rv = kms_bench_sign_p11(s, c, sig, &siglen);
	c->key = saved;
	if (rv != CKR_OK) {
		kms_bench_error("%s: sign with the generated key: 0x%lx", c->name, (unsigned long)rv);
		goto out;
	}
	if (!kms_bench_verify(c, pk, sig, siglen))
		kms_bench_error("%s: OpenSSL rejects the generated key's signature", c->name);
out:
	EVP_PKEY_free(pk);
	free(spki);
}

/* Creates `n` EC public-key token objects labelled bench-%07zu, with distinct points. */
static int kms_bench_create_many(CK_SESSION_HANDLE s, size_t n, double *secs)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
	BN_CTX *bnc = BN_CTX_new();
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_BBOOL yes = CK_TRUE;
	unsigned char point[2 + 65];
	char label[32];
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, (void *)kms_oid_p256, sizeof(kms_oid_p256) },
		{ CKA_EC_POINT, point, sizeof(point) },
		{ CKA_LABEL, label, 0 },
	};
	CK_OBJECT_HANDLE h;
	double t0 = kms_bench_now();
	size_t i;
	int ret = -1;
	CK_RV rv;

	if (pt == NULL || bnc == NULL || !EC_POINT_copy(pt, EC_GROUP_get0_generator(g)))
		goto out;
	point[0] = 0x04; /* DER OCTET STRING around the uncompressed point */
	point[1] = 65;
	for (i = 0; i < n; i++) {
		if (!EC_POINT_add(g, pt, pt, EC_GROUP_get0_generator(g), bnc) ||
		    EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, point + 2, 65, bnc) != 65)
			goto out;
		t[6].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "bench-%07zu", i);
		rv = p11->C_CreateObject(s, t, sizeof(t) / sizeof(t[0]), &h);
		if (rv != CKR_OK) {
			kms_bench_error("C_CreateObject of public key %zu: 0x%lx", i, (unsigned long)rv);
			goto out;
		}
		if (i > 0 && i % 20000 == 0)
			fprintf(stderr, "  ... %zu objects, %.1f s\n", i, kms_bench_now() - t0);
	}
	ret = 0;
out:
	*secs = kms_bench_now() - t0;
	BN_CTX_free(bnc);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return ret;
}

/* Finds the objects labelled `label`; returns the count, or -1 on an error. */
static long kms_bench_find(CK_SESSION_HANDLE s, const char *label)
{
	CK_ATTRIBUTE t = { CKA_LABEL, (void *)label, strlen(label) };
	CK_OBJECT_HANDLE h[4];
	CK_ULONG n = 0;

	if (p11->C_FindObjectsInit(s, &t, 1) != CKR_OK)
		return -1;
	if (p11->C_FindObjects(s, h, 4, &n) != CKR_OK)
		n = (CK_ULONG)-1;
	if (p11->C_FindObjectsFinal(s) != CKR_OK)
		return -1;
	return (long)n;
}

static int kms_bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The child: times C_Initialize + C_OpenSession + the first find by label, prints the figures. */
static int kms_bench_child_open(const char *module, const char *label)
{
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	double t0, t1, t2;
	long found;

	t0 = kms_bench_now();
	if (kms_bench_load(module))
		return 1;
	t1 = kms_bench_now();
	if (p11->C_Initialize(NULL) != CKR_OK || p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || n == 0 ||
	    p11->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
		return 1;
	found = kms_bench_find(s, label);
	t2 = kms_bench_now();
	printf("%.3f %.3f %ld\n", (t1 - t0) * 1e3, (t2 - t1) * 1e3, found);
	p11->C_Finalize(NULL);
	return found == 1 ? 0 : 1;
}

/* Runs the child in a new process; returns 0 and its times in ms, or -1. */
static int kms_bench_spawn_open(const char *module, const char *label, double *dl_ms, double *open_ms)
{
	char buf[128] = "";
	int fd[2], status;
	long found = 0;
	ssize_t got;
	pid_t pid;

	if (pipe(fd) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		close(fd[0]);
		close(fd[1]);
		execl("/proc/self/exe", "kms11-bench", "--child-open", label, "--module", module, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	got = read(fd[0], buf, sizeof(buf) - 1);
	close(fd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || got <= 0)
		return -1;
	buf[got] = '\0';
	if (sscanf(buf, "%lf %lf %ld", dl_ms, open_ms, &found) != 3 || found != 1)
		return -1;
	return 0;
}

/* The module of the build tree this program is in (<build>/tests/bench/ -> <build>/module/pkcs11/),
 * or NULL when there is none. */
static const char *kms_bench_default_module(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash == NULL)
		return NULL;
	*slash = '\0';
	if ((size_t)snprintf(slash, len - (size_t)(slash - buf), "/../../module/pkcs11/libkms11.so") >=
	    len - (size_t)(slash - buf))
		return NULL;
	return access(buf, R_OK) == 0 ? buf : NULL;
}

static void kms_bench_usage(void)
{
	fprintf(stderr, "usage: kms11-bench [--module PATH] [--keys N] [--seconds S] [--no-store] [--only PART]\n"
			"  --module   the PKCS#11 module (default: $KMS11_MODULE, else the build tree's)\n"
			"  --keys     public-key objects for the store-scale part (default 100000)\n"
			"  --seconds  time per throughput figure (default 1.5)\n"
			"  --only     run only these parts, comma-separated: sign, speed, sym, keygen, store, hsm\n"
			"             (hsm: the pkcs11 engine on a SoftHSMv2 token against SoftHSMv2 itself, in a process\n"
			"             of its own)\n");
}

static void kms_bench_sign_table(CK_SESSION_HANDLE s, struct kms_case *cases, size_t ncases, double seconds)
{
	size_t i;
	int t;

	for (i = 0; i < ncases; i++) {
		struct kms_case *c = &cases[i];
		unsigned char sig[1024];
		CK_ULONG siglen = sizeof(sig);
		CK_RV rv;

		kms_bench_check_generated(s, c);
		rv = kms_bench_sign_p11(s, c, sig, &siglen);
		if (rv != CKR_OK) {
			kms_bench_error("%s: C_Sign with the imported key: 0x%lx", c->name, (unsigned long)rv);
			continue;
		}
		if (!kms_bench_verify(c, c->pkey, sig, siglen)) {
			kms_bench_error("%s: the imported key's signature does not verify with the OpenSSL key",
					c->name);
			continue;
		}
		/* kms11 and raw alternate in rounds, so drift in the machine's load hits both alike. */
		for (t = 1; t <= KMS_BENCH_MAX_THREADS; t++) {
			int r;

			c->kms[t] = c->raw[t] = 0;
			for (r = 0; r < KMS_BENCH_ROUNDS; r++) {
				c->kms[t] += kms_bench_run(c, 0, t, seconds / KMS_BENCH_ROUNDS) / KMS_BENCH_ROUNDS;
				c->raw[t] += kms_bench_run(c, 1, t, seconds / KMS_BENCH_ROUNDS) / KMS_BENCH_ROUNDS;
			}
		}
	}
	printf("\nSigning throughput (ops/s), same key in kms11 and raw OpenSSL, %.1f s per figure"
	       " (%d alternating rounds)\n", seconds, KMS_BENCH_ROUNDS);
	printf("%-26s %3s %11s %11s %7s\n", "operation", "thr", "kms11", "raw", "ratio");
	for (i = 0; i < ncases; i++) {
		struct kms_case *c = &cases[i];

		for (t = 1; t <= KMS_BENCH_MAX_THREADS; t++)
			printf("%-26s %3d %11.0f %11.0f %7.3f  (target >= %.2f)\n", t == 1 ? c->name : "", t,
			       c->kms[t], c->raw[t], c->raw[t] > 0 ? c->kms[t] / c->raw[t] : 0.0,
			       KMS_TARGET_RATIO);
	}
	printf("\nScaling 2 threads / 1 thread (target >= %.1f)\n", KMS_TARGET_SCALING);
	printf("%-26s %11s %11s\n", "operation", "kms11", "raw");
	for (i = 0; i < ncases; i++) {
		struct kms_case *c = &cases[i];

		printf("%-26s %11.2f %11.2f\n", c->name, c->kms[1] > 0 ? c->kms[2] / c->kms[1] : 0.0,
		       c->raw[1] > 0 ? c->raw[2] / c->raw[1] : 0.0);
	}
}

static void kms_bench_store_scale(CK_SESSION_HANDLE s, const char *module, size_t nkeys)
{
	double secs, *samples = NULL, dl_ms, open_ms, opens[3];
	size_t i, nsamp = nkeys < KMS_BENCH_FIND_SAMPLES ? nkeys : KMS_BENCH_FIND_SAMPLES;
	char label[32];
	int runs = 0;

	if (nkeys == 0)
		return;
	printf("\nStore scale: creating %zu EC public-key token objects...\n", nkeys);
	fflush(stdout);
	if (kms_bench_create_many(s, nkeys, &secs)) {
		printf("  creation failed after %.1f s\n", secs);
		return;
	}
	printf("  created in %.1f s (%.0f objects/s)\n", secs, (double)nkeys / secs);
	samples = calloc(nsamp, sizeof(*samples));
	if (samples == NULL)
		return;
	srand(11);
	for (i = 0; i < nsamp; i++) {
		double t0;
		long n;

		snprintf(label, sizeof(label), "bench-%07zu", (size_t)rand() % nkeys);
		t0 = kms_bench_now();
		n = kms_bench_find(s, label);
		samples[i] = (kms_bench_now() - t0) * 1e6;
		if (n != 1) {
			kms_bench_error("find by label %s found %ld objects", label, n);
			break;
		}
	}
	qsort(samples, nsamp, sizeof(*samples), kms_bench_cmp_double);
	printf("  find by CKA_LABEL (Init+Find+Final), %zu lookups among %zu objects:\n", nsamp, nkeys);
	printf("    median %8.1f us   (target <= %.0f us)\n", samples[nsamp / 2], KMS_TARGET_FIND_US);
	printf("    p99    %8.1f us\n", samples[(nsamp * 99) / 100]);
	free(samples);

	snprintf(label, sizeof(label), "bench-%07zu", nkeys / 2);
	for (i = 0; i < 3; i++) {
		if (kms_bench_spawn_open(module, label, &dl_ms, &open_ms) != 0) {
			kms_bench_error("the child process could not open the store and find %s", label);
			break;
		}
		opens[runs++] = open_ms;
		printf("  new process %zu: dlopen %.1f ms; C_Initialize+C_OpenSession+first find %.1f ms"
		       "   (target <= %.0f ms)\n", i + 1, dl_ms, open_ms, KMS_TARGET_OPEN_MS);
	}
	if (runs == 3) {
		qsort(opens, 3, sizeof(opens[0]), kms_bench_cmp_double);
		printf("  open median of 3: %.1f ms   (target <= %.0f ms)\n", opens[1], KMS_TARGET_OPEN_MS);
	}
}

static const char *const kms_bench_parts[] = { "sign", "speed", "sym", "keygen", "store", "hsm" };

/* Parses --only's comma-separated part names into a bit mask (bit i: kms_bench_parts[i]); 0 when one is unknown. */
static unsigned kms_bench_parts_mask(const char *list)
{
	const size_t nparts = sizeof(kms_bench_parts) / sizeof(kms_bench_parts[0]);
	unsigned mask = 0;

	while (*list) {
		size_t len = strcspn(list, ","), i;

		for (i = 0; i < nparts; i++)
			if (strlen(kms_bench_parts[i]) == len && !strncmp(list, kms_bench_parts[i], len))
				break;
		if (i == nparts)
			return 0;
		mask |= 1u << i;
		list += len + (list[len] == ',');
	}
	return mask;
}

/* Runs the hsm part in a fresh process of this program (its configuration must come before the module loads). */
static void kms_bench_hsm_child(const char *module, double seconds)
{
	char self[4096], secs[32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;
	int st = 0;

	if (n <= 0) {
		kms_bench_error("hsm: cannot find this program (/proc/self/exe)");
		return;
	}
	self[n] = 0;
	snprintf(secs, sizeof(secs), "%g", seconds);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		unsetenv("KMS11_STORE");
		execl(self, self, "--module", module, "--seconds", secs, "--only", "hsm", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		kms_bench_error("hsm: the hsm part failed (status 0x%x)", st);
}

/* True when part number i (in kms_bench_parts) runs. */
#define PART(i) (parts & (1u << (i)))

int main(int argc, char **argv)
{
	const char *module = getenv("KMS11_MODULE"), *child_label = NULL;
	double seconds = 1.5;
	size_t nkeys = 100000, i;
	unsigned parts = ~0u;
	struct kms_case cases[] = {
		{ .name = "RSA-2048 PKCS#1 SHA-256", .mech = CKM_SHA256_RSA_PKCS, .md = "SHA256" },
		{ .name = "RSA-2048 PSS SHA-256", .mech = CKM_SHA256_RSA_PKCS_PSS, .pss = 1, .md = "SHA256" },
		{ .name = "ECDSA P-256 SHA-256", .mech = CKM_ECDSA_SHA256, .md = "SHA256" },
		{ .name = "Ed25519", .mech = CKM_EDDSA, .md = NULL },
	};
	const size_t ncases = sizeof(cases) / sizeof(cases[0]);
	CK_SESSION_HANDLE s;
	char dir[] = "/dev/shm/kms11-bench.XXXXXX", store[300], default_module[4096];
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--module") && a + 1 < argc)
			module = argv[++a];
		else if (!strcmp(argv[a], "--keys") && a + 1 < argc)
			nkeys = strtoul(argv[++a], NULL, 10);
		else if (!strcmp(argv[a], "--seconds") && a + 1 < argc)
			seconds = strtod(argv[++a], NULL);
		else if (!strcmp(argv[a], "--no-store"))
			nkeys = 0;
		else if (!strcmp(argv[a], "--only") && a + 1 < argc && (parts = kms_bench_parts_mask(argv[a + 1])) != 0)
			a++;
		else if (!strcmp(argv[a], "--child-open") && a + 1 < argc)
			child_label = argv[++a];
		else {
			kms_bench_usage();
			return 2;
		}
	}
	if (module == NULL || *module == '\0')
		module = kms_bench_default_module(default_module, sizeof(default_module));
	if (module == NULL) {
		kms_bench_usage();
		return 2;
	}
	if (child_label)
		return kms_bench_child_open(module, child_label);
	if (seconds <= 0)
		seconds = 1.5;

	if (mkdtemp(dir) == NULL) {
		memcpy(dir, "/tmp/kms11-bench.XXXXXX", sizeof("/tmp/kms11-bench.XXXXXX"));
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
	}
	snprintf(store_root, sizeof(store_root), "%s", dir);
	atexit(kms_bench_cleanup);
	snprintf(store, sizeof(store), "%s/store", dir);
	setenv("KMS11_STORE", store, 1);

	/* The hsm part configures kms11 and SoftHSMv2 before either is loaded: alone, it runs here; with other parts,
	 * in a process of its own at the end. */
	if (parts == 1u << 5) {
		printf("kms11-bench: module %s, hsm part, %ld CPUs online\n", module, sysconf(_SC_NPROCESSORS_ONLN));
		if (kms_bench_hsm(module, dir, seconds) != 0)
			errors++;
		printf("\n%s\n", errors ? "kms11-bench: finished WITH ERRORS (see stderr)" : "kms11-bench: done");
		return errors ? 1 : 0;
	}
	printf("kms11-bench: module %s\n  store %s, %ld CPUs online\n", module, store, sysconf(_SC_NPROCESSORS_ONLN));
	if (kms_bench_load(module) || kms_bench_token_setup(&s) != CKR_OK)
		return 1;

	cases[0].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	cases[1].pkey = cases[0].pkey;
	EVP_PKEY_up_ref(cases[0].pkey);
	cases[2].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cases[3].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	for (i = 0; i < ncases; i++) {
		CK_RV rv;

		if (cases[i].pkey == NULL) {
			kms_bench_error("OpenSSL key generation for %s", cases[i].name);
			goto out;
		}
		if (i == 1) {
			cases[1].key = cases[0].key;
			continue;
		}
		rv = kms_bench_import(s, cases[i].pkey, cases[i].name, &cases[i].key);
		if (rv != CKR_OK) {
			kms_bench_error("C_CreateObject import of the %s key: 0x%lx", cases[i].name, (unsigned long)rv);
			goto out;
		}
	}
	if (PART(0))
		kms_bench_sign_table(s, cases, ncases, seconds);
	if (PART(1))
		kms_bench_speed_table(cases[0].key, cases[2].key, cases[3].key, seconds);
	if (PART(2))
		kms_bench_sym_table(s, seconds);
	if (PART(3) && !getenv("KMS11_BENCH_SKIP_KEYGEN"))
		kms_bench_keygen_table(seconds);
	if (PART(4))
		kms_bench_store_scale(s, module, nkeys);
	if (PART(5))
		kms_bench_hsm_child(module, seconds);
out:
	for (i = 0; i < ncases; i++)
		EVP_PKEY_free(cases[i].pkey);
	p11->C_Logout(s);
	p11->C_Finalize(NULL);
	printf("\n%s\n", errors ? "kms11-bench: finished WITH ERRORS (see stderr)" : "kms11-bench: done");
	return errors ? 1 : 0;
}
