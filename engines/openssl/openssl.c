/* SPDX-License-Identifier: Apache-2.0 */
/* The openssl engine: its operation table, instances, mechanism list and random numbers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "common/osslctx.h"
#include "common/log.h"
#include "engines/openssl/ossl.h"

#define RSA_OPS (CKF_SIGN | CKF_VERIFY)
/* Default size of the secure heap: a power of two (KMS11_SECURE_HEAP overrides; 0 turns it off). */
#define OSSL_SECURE_HEAP ((size_t)32 << 20)
#define EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

static const struct kms_engine_mech ossl_mechs[] = {
	{CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 16384, CKF_GENERATE_KEY_PAIR},
	{CKM_RSA_PKCS, 1024, 16384, CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT},
	{CKM_RSA_X_509, 1024, 16384, CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT},
	{CKM_SHA1_RSA_PKCS, 1024, 16384, RSA_OPS},
	{CKM_SHA224_RSA_PKCS, 1024, 16384, RSA_OPS},
	{CKM_SHA256_RSA_PKCS, 1024, 16384, RSA_OPS},
	{CKM_SHA384_RSA_PKCS, 1024, 16384, RSA_OPS},
	{CKM_SHA512_RSA_PKCS, 1024, 16384, RSA_OPS},
	{CKM_RSA_PKCS_PSS, 1024, 16384, RSA_OPS},
	{CKM_SHA1_RSA_PKCS_PSS, 1024, 16384, RSA_OPS},
	{CKM_SHA224_RSA_PKCS_PSS, 1024, 16384, RSA_OPS},
	{CKM_SHA256_RSA_PKCS_PSS, 1024, 16384, RSA_OPS},
	{CKM_SHA384_RSA_PKCS_PSS, 1024, 16384, RSA_OPS},
	{CKM_SHA512_RSA_PKCS_PSS, 1024, 16384, RSA_OPS},
	{CKM_RSA_PKCS_OAEP, 1024, 16384, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP},
	{CKM_RSA_AES_KEY_WRAP, 2048, 16384, CKF_WRAP | CKF_UNWRAP},
	{CKM_EC_KEY_PAIR_GEN, 256, 521, CKF_GENERATE_KEY_PAIR | EC_FLAGS},
	{CKM_ECDSA, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA1, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA224, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA256, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA384, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA512, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 448, CKF_GENERATE_KEY_PAIR},
	{CKM_EDDSA, 255, 448, CKF_SIGN | CKF_VERIFY},
	{CKM_EC_MONTGOMERY_KEY_PAIR_GEN, 255, 448, CKF_GENERATE_KEY_PAIR},
	{CKM_ECDH1_DERIVE, 255, 521, CKF_DERIVE | EC_FLAGS},
	/* Secret keys: AES sizes in bytes (as the spec gives them), generic secret generation in bits
	 * (as the spec says for that mechanism: 1..512 bytes), HMAC key sizes in bytes. */
	{CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE},
	{CKM_GENERIC_SECRET_KEY_GEN, 8, 4096, CKF_GENERATE},
	{CKM_HKDF_KEY_GEN, 1, 512, CKF_GENERATE},
	{CKM_HKDF_DERIVE, 1, 512, CKF_DERIVE},
	{CKM_HKDF_DATA, 1, 512, CKF_DERIVE},
	{CKM_SHA_1, 0, 0, CKF_DIGEST},
	{CKM_SHA224, 0, 0, CKF_DIGEST},
	{CKM_SHA256, 0, 0, CKF_DIGEST},
	{CKM_SHA384, 0, 0, CKF_DIGEST},
	{CKM_SHA512, 0, 0, CKF_DIGEST},
	{CKM_SHA3_256, 0, 0, CKF_DIGEST},
	{CKM_SHA3_384, 0, 0, CKF_DIGEST},
	{CKM_SHA3_512, 0, 0, CKF_DIGEST},
	{CKM_AES_ECB, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
	{CKM_AES_CBC, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
	{CKM_AES_CBC_PAD, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
	{CKM_AES_CTR, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
	{CKM_AES_GCM, 16, 32, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP | CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT},
	{CKM_AES_KEY_WRAP, 16, 32, CKF_WRAP | CKF_UNWRAP},
	{CKM_AES_KEY_WRAP_PAD, 16, 32, CKF_WRAP | CKF_UNWRAP},
	{CKM_AES_KEY_WRAP_KWP, 16, 32, CKF_WRAP | CKF_UNWRAP},
	{CKM_AES_CMAC, 16, 32, CKF_SIGN | CKF_VERIFY},
	{CKM_AES_CMAC_GENERAL, 16, 32, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA_1_HMAC, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA_1_HMAC_GENERAL, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA224_HMAC, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA224_HMAC_GENERAL, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA256_HMAC, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA256_HMAC_GENERAL, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA384_HMAC, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA384_HMAC_GENERAL, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA512_HMAC, 1, 512, CKF_SIGN | CKF_VERIFY},
	{CKM_SHA512_HMAC_GENERAL, 1, 512, CKF_SIGN | CKF_VERIFY},
};

#define DES_OPS (CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP)

/* Legacy mechanisms, only on a token configured with legacy = true (keys migrated from older HSMs): RSA
 * from 1024 bits, two- and three-key triple DES; single DES and MD5 need OpenSSL's legacy provider too. */
static const struct kms_engine_mech legacy_mechs[] = {
	{CKM_DES2_KEY_GEN, 0, 0, CKF_GENERATE},
	{CKM_DES3_KEY_GEN, 0, 0, CKF_GENERATE},
	{CKM_DES3_ECB, 0, 0, DES_OPS},
	{CKM_DES3_CBC, 0, 0, DES_OPS},
	{CKM_DES3_CBC_PAD, 0, 0, DES_OPS},
};
static const struct kms_engine_mech legacy_provider_mechs[] = {
	{CKM_DES_KEY_GEN, 0, 0, CKF_GENERATE},
	{CKM_DES_ECB, 0, 0, DES_OPS},
	{CKM_DES_CBC, 0, 0, DES_OPS},
	{CKM_DES_CBC_PAD, 0, 0, DES_OPS},
	{CKM_MD5, 0, 0, CKF_DIGEST},
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const md_names[H__COUNT] = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"};

static void ossl_shutdown(void *vinst)
{
	struct ossl_inst *in = vinst;

	if (!in)
		return;
	for (int i = 0; i < H__COUNT; i++)
		EVP_MD_free(in->md[i]);
	ossl_sym_release(in);
	ossl_gen_release(in);
	free(in->mechs);
	free(in);
}

/* Private key components that OpenSSL decodes (RSA CBIGNUMs, EC and Ed25519 private keys) are
 * allocated from its secure heap when one exists: locked, excluded from core dumps, and wiped on
 * free. Set one up unless the application already has. */
static void secure_heap(void)
{
	const char *env = getenv("KMS11_SECURE_HEAP");
	size_t size = OSSL_SECURE_HEAP;

	if (CRYPTO_secure_malloc_initialized())
		return;
	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);

		if (*end == 0 && v == 0)
			return;
		if (*end == 0 && v >= 4096 && v <= (1ULL << 32) && !(v & (v - 1)))
			size = (size_t)v;
	}
	if (CRYPTO_secure_malloc_init(size, 16) == 0)
		KMS_WARN("openssl engine: no secure heap; decoded keys are in ordinary memory");
}

/* OpenSSL's legacy provider in kms11's own context, loaded once; false when it is not installed. */
static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;
static bool legacy_loaded;

static void legacy_load(void)
{
	legacy_loaded = kms_libctx() && OSSL_PROVIDER_load(kms_libctx(), "legacy") != NULL;
}

/* Reads the engine settings: legacy = true|false. */
static CK_RV settings(const struct kms_engine_conf *conf, bool *legacy)
{
	*legacy = false;
	for (size_t i = 0; conf && i < conf->n_settings; i++) {
		const char *k = conf->settings[i].key, *v = conf->settings[i].value;

		if (strcmp(k, "legacy") != 0) {
			KMS_ERR("token '%s': the openssl engine has no setting '%s' (it knows: legacy)", conf->token_label, k);
			return CKR_GENERAL_ERROR;
		}
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
			*legacy = true;
		} else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
			*legacy = false;
		} else {
			KMS_ERR("token '%s': legacy = '%s': expected true or false", conf->token_label, v);
			return CKR_GENERAL_ERROR;
		}
	}
	return CKR_OK;
}

/* The mechanism list of a legacy token: the ordinary one with RSA from 1024 bits, then the legacy mechanisms. */
static CK_RV legacy_list(struct ossl_inst *in)
{
	size_t n = N_OF(ossl_mechs), extra = N_OF(legacy_mechs) + (in->legacy_provider ? N_OF(legacy_provider_mechs) : 0);
	struct kms_engine_mech *m = calloc(n + extra, sizeof(*m));

	if (!m)
		return CKR_HOST_MEMORY;
	memcpy(m, ossl_mechs, sizeof(ossl_mechs));
	for (size_t i = 0; i < n; i++)
		if (m[i].type == CKM_RSA_PKCS_KEY_PAIR_GEN)
			m[i].min_key = 1024;
	memcpy(m + n, legacy_mechs, sizeof(legacy_mechs));
	if (in->legacy_provider)
		memcpy(m + n + N_OF(legacy_mechs), legacy_provider_mechs, sizeof(legacy_provider_mechs));
	in->mechs = m;
	in->n_mechs = n + extra;
	return CKR_OK;
}

static CK_RV ossl_init(const struct kms_engine_conf *conf, void **out)
{
	struct ossl_inst *in;
	bool legacy;

	if (settings(conf, &legacy) != CKR_OK)
		return CKR_GENERAL_ERROR;
	secure_heap();
	in = calloc(1, sizeof(*in));
	if (!in)
		return CKR_HOST_MEMORY;
	in->legacy = legacy;
	if (legacy) {
		pthread_once(&legacy_once, legacy_load);
		in->legacy_provider = legacy_loaded;
		if (!legacy_loaded)
			KMS_WARN("token '%s': OpenSSL's legacy provider is not available: no single DES or MD5",
				 conf->token_label);
		if (legacy_list(in) != CKR_OK) {
			ossl_shutdown(in);
			return CKR_HOST_MEMORY;
		}
	}
	for (int i = 0; i < H__COUNT; i++) {
		in->md[i] = EVP_MD_fetch(kms_libctx(), md_names[i], NULL);
		if (!in->md[i]) {
			ossl_shutdown(in);
			return CKR_GENERAL_ERROR;
		}
	}
	if (ossl_sym_fetch(in) != CKR_OK) {
		ossl_shutdown(in);
		return CKR_GENERAL_ERROR;
	}
	*out = in;
	return CKR_OK;
}

static void ossl_fork_child(void *inst)
{
	(void)inst;
	/* OpenSSL 3 reseeds its DRBGs in a child by itself; nothing to drop. */
}

static const struct kms_engine_mech *ossl_mechanisms(void *inst, size_t *n)
{
	struct ossl_inst *in = inst;

	if (in && in->mechs) {
		*n = in->n_mechs;
		return in->mechs;
	}
	*n = N_OF(ossl_mechs);
	return ossl_mechs;
}

static CK_RV ossl_random(void *inst, uint8_t *buf, size_t len)
{
	(void)inst;
	if (len > INT32_MAX)
		return CKR_ARGUMENTS_BAD;
	return kms_rand(buf, len) ? CKR_OK : CKR_FUNCTION_FAILED;
}

static CK_RV ossl_seed(void *inst, const uint8_t *buf, size_t len)
{
	(void)inst;
	if (len > INT32_MAX)
		return CKR_ARGUMENTS_BAD;
	RAND_add(buf, (int)len, 0.0);
	return CKR_OK;
}

const EVP_MD *ossl_md_for_mech(struct ossl_inst *in, CK_MECHANISM_TYPE hash)
{
	switch (hash) {
	case CKM_SHA_1:
		return in->md[H_SHA1];
	case CKM_SHA224:
		return in->md[H_SHA224];
	case CKM_SHA256:
		return in->md[H_SHA256];
	case CKM_SHA384:
		return in->md[H_SHA384];
	case CKM_SHA512:
		return in->md[H_SHA512];
	default:
		return NULL;
	}
}

const EVP_MD *ossl_md_for_mgf(struct ossl_inst *in, CK_RSA_PKCS_MGF_TYPE mgf)
{
	switch (mgf) {
	case CKG_MGF1_SHA1:
		return in->md[H_SHA1];
	case CKG_MGF1_SHA224:
		return in->md[H_SHA224];
	case CKG_MGF1_SHA256:
		return in->md[H_SHA256];
	case CKG_MGF1_SHA384:
		return in->md[H_SHA384];
	case CKG_MGF1_SHA512:
		return in->md[H_SHA512];
	default:
		return NULL;
	}
}

/* Operations go to ops.c (asymmetric keys) or sym.c (digests, secret keys), by mechanism at the
 * start and by the operation's head afterwards. */
static CK_RV any_op_init(void *inst, enum kms_op_kind kind, const CK_MECHANISM *mech, struct kms_engine_key *key,
			 struct kms_engine_op **op)
{
	if (ossl_sym_mech(mech->mechanism))
		return ossl_sym_init(inst, kind, mech, key, op);
	return ossl_op_init(inst, kind, mech, key, op);
}

static size_t any_op_outlen(struct kms_engine_op *op, size_t inlen)
{
	return ossl_op_is_sym(op) ? ossl_sym_outlen(op, inlen) : ossl_op_outlen(op, inlen);
}

static CK_RV any_op_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen)
{
	return ossl_op_is_sym(op) ? ossl_sym_update(op, in, inlen) : ossl_op_update(op, in, inlen);
}

static CK_RV any_op_final(struct kms_engine_op *op, uint8_t *out, size_t *outlen)
{
	return ossl_op_is_sym(op) ? ossl_sym_final(op, out, outlen) : ossl_op_final(op, out, outlen);
}

static CK_RV any_op_oneshot(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	return ossl_op_is_sym(op) ? ossl_sym_oneshot(op, in, inlen, out, outlen)
				  : ossl_op_oneshot(op, in, inlen, out, outlen);
}

static CK_RV any_op_verify(struct kms_engine_op *op, const uint8_t *data, size_t len, const uint8_t *sig,
			   size_t siglen)
{
	return ossl_op_is_sym(op) ? ossl_sym_verify(op, data, len, sig, siglen)
				  : ossl_op_verify(op, data, len, sig, siglen);
}

static CK_RV any_op_verify_final(struct kms_engine_op *op, const uint8_t *sig, size_t siglen)
{
	return ossl_op_is_sym(op) ? ossl_sym_verify_final(op, sig, siglen) : ossl_op_verify_final(op, sig, siglen);
}

static CK_RV any_op_cipher_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out,
				  size_t *outlen)
{
	return ossl_op_is_sym(op) ? ossl_sym_cipher_update(op, in, inlen, out, outlen) : CKR_FUNCTION_NOT_SUPPORTED;
}

static size_t any_op_update_outlen(struct kms_engine_op *op, size_t inlen)
{
	return ossl_op_is_sym(op) ? ossl_sym_update_outlen(op, inlen) : 0;
}

static void any_op_free(struct kms_engine_op *op)
{
	if (op && ossl_op_is_sym(op))
		ossl_sym_free(op);
	else
		ossl_op_free(op);
}

const struct kms_engine_ops kms_engine_openssl = {
	.name = "openssl",
	.init = ossl_init,
	.shutdown = ossl_shutdown,
	.fork_child = ossl_fork_child,
	.mechanisms = ossl_mechanisms,
	.generate_pair = ossl_generate_pair,
	.import = ossl_import,
	.load = ossl_load,
	.unload = ossl_unload,
	.private_attr = ossl_private_attr,
	.op_init = any_op_init,
	.op_outlen = any_op_outlen,
	.op_update = any_op_update,
	.op_final = any_op_final,
	.op_oneshot = any_op_oneshot,
	.op_verify = any_op_verify,
	.op_verify_final = any_op_verify_final,
	.op_free = any_op_free,
	.generate_secret = ossl_generate_secret,
	.op_cipher_update = any_op_cipher_update,
	.op_update_outlen = any_op_update_outlen,
	.op_digest_key = ossl_sym_digest_key,
	.wrap = ossl_wrap,
	.unwrap = ossl_unwrap,
	.derive = ossl_derive,
	.random = ossl_random,
	.seed = ossl_seed,
};
