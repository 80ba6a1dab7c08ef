/* SPDX-License-Identifier: Apache-2.0 */
/* The openssl engine: its operation table, instances, mechanism list and random numbers. */
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "engines/openssl/ossl.h"

#define RSA_OPS (CKF_SIGN | CKF_VERIFY)
/* Default size of the secure heap: a power of two (KMS11_SECURE_HEAP overrides; 0 turns it off). */
#define OSSL_SECURE_HEAP ((size_t)32 << 20)
#define EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

static const struct kms_engine_mech ossl_mechs[] = {
	{CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 16384, CKF_GENERATE_KEY_PAIR},
	{CKM_RSA_PKCS, 1024, 16384, CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT},
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
	{CKM_RSA_PKCS_OAEP, 1024, 16384, CKF_ENCRYPT | CKF_DECRYPT},
	{CKM_EC_KEY_PAIR_GEN, 256, 521, CKF_GENERATE_KEY_PAIR | EC_FLAGS},
	{CKM_ECDSA, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA1, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA224, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA256, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA384, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_ECDSA_SHA512, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
	{CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 255, CKF_GENERATE_KEY_PAIR},
	{CKM_EDDSA, 255, 255, CKF_SIGN | CKF_VERIFY},
};

static const char *const md_names[H__COUNT] = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"};

static void ossl_shutdown(void *vinst)
{
	struct ossl_inst *in = vinst;

	if (!in)
		return;
	for (int i = 0; i < H__COUNT; i++)
		EVP_MD_free(in->md[i]);
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

static CK_RV ossl_init(const struct kms_engine_conf *conf, void **out)
{
	struct ossl_inst *in;

	if (conf && conf->n_settings) {
		KMS_ERR("token '%s': the openssl engine takes no settings ('%s')", conf->token_label,
			conf->settings[0].key);
		return CKR_GENERAL_ERROR;
	}
	secure_heap();
	in = calloc(1, sizeof(*in));
	if (!in)
		return CKR_HOST_MEMORY;
	for (int i = 0; i < H__COUNT; i++) {
		in->md[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
		if (!in->md[i]) {
			ossl_shutdown(in);
			return CKR_GENERAL_ERROR;
		}
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
	(void)inst;
	*n = sizeof(ossl_mechs) / sizeof(ossl_mechs[0]);
	return ossl_mechs;
}

static CK_RV ossl_random(void *inst, uint8_t *buf, size_t len)
{
	(void)inst;
	if (len > INT32_MAX)
		return CKR_ARGUMENTS_BAD;
	return RAND_bytes(buf, (int)len) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
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
	.op_init = ossl_op_init,
	.op_outlen = ossl_op_outlen,
	.op_update = ossl_op_update,
	.op_final = ossl_op_final,
	.op_oneshot = ossl_op_oneshot,
	.op_verify = ossl_op_verify,
	.op_verify_final = ossl_op_verify_final,
	.op_free = ossl_op_free,
	.random = ossl_random,
	.seed = ossl_seed,
};
