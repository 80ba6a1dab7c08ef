/* SPDX-License-Identifier: Apache-2.0 */
/* The pkcs11 engine ("softhsm" is a synonym): its settings, instances, mechanism list, random numbers and
 * operation table. Keys live in a token of another PKCS#11 library; kms11 keeps the reference. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "engines/pkcs11/p11.h"

#define P11_DEFAULT_LIBRARY "/usr/lib/softhsm/libsofthsm2.so"

static void p11_shutdown(void *vinst)
{
	struct p11_inst *in = vinst;

	if (!in)
		return;
	p11_backend_close(in);
	if (in->soft)
		kms_engine_openssl.shutdown(in->soft);
	pthread_mutex_destroy(&in->lock);
	pthread_mutex_destroy(&in->keeper_lock);
	free(in->pool);
	free(in->mechs);
	free(in->library);
	free(in->backend_label);
	free(in->backend_serial);
	free(in->pin_file);
	free(in);
}

static CK_RV set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? CKR_OK : CKR_HOST_MEMORY;
}

/* Reads the settings: library, backend-token or backend-serial, backend-pin-file. */
static CK_RV settings(struct p11_inst *in, const struct kms_engine_conf *conf)
{
	struct stat st;
	CK_RV rv = CKR_OK;

	for (size_t i = 0; conf && i < conf->n_settings && rv == CKR_OK; i++) {
		const char *k = conf->settings[i].key, *v = conf->settings[i].value;

		if (!strcmp(k, "library"))
			rv = set_str(&in->library, v);
		else if (!strcmp(k, "backend-token"))
			rv = set_str(&in->backend_label, v);
		else if (!strcmp(k, "backend-serial"))
			rv = set_str(&in->backend_serial, v);
		else if (!strcmp(k, "backend-pin-file"))
			rv = set_str(&in->pin_file, v);
		else {
			KMS_ERR("token '%s': the pkcs11 engine has no setting '%s' (it knows: library, backend-token, "
				"backend-serial, backend-pin-file)", in->label, k);
			return CKR_GENERAL_ERROR;
		}
	}
	if (rv != CKR_OK)
		return rv;
	if (!in->library && set_str(&in->library, P11_DEFAULT_LIBRARY) != CKR_OK)
		return CKR_HOST_MEMORY;
	if (!in->backend_label == !in->backend_serial) {
		KMS_ERR("token '%s': the pkcs11 engine needs exactly one of backend-token and backend-serial", in->label);
		return CKR_GENERAL_ERROR;
	}
	if (in->backend_label && strlen(in->backend_label) > 32) {
		KMS_ERR("token '%s': backend-token is longer than a token label (32 bytes)", in->label);
		return CKR_GENERAL_ERROR;
	}
	if (in->backend_serial && strlen(in->backend_serial) > 16) {
		KMS_ERR("token '%s': backend-serial is longer than a serial number (16 bytes)", in->label);
		return CKR_GENERAL_ERROR;
	}
	if (in->pin_file) {
		if (stat(in->pin_file, &st) != 0) {
			KMS_ERR("token '%s': backend-pin-file %s: %s", in->label, in->pin_file, strerror(errno));
			return CKR_GENERAL_ERROR;
		}
		if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
			KMS_ERR("token '%s': backend-pin-file %s must be a regular file of this user with mode 0600 (it "
				"has mode %04o)", in->label, in->pin_file, (unsigned int)(st.st_mode & 07777));
			return CKR_GENERAL_ERROR;
		}
	}
	return CKR_OK;
}

static CK_RV p11_init(const struct kms_engine_conf *conf, void **out)
{
	struct p11_inst *in = calloc(1, sizeof(*in));
	CK_RV rv;

	if (!in)
		return CKR_HOST_MEMORY;
	if (pthread_mutex_init(&in->lock, NULL) != 0) {
		free(in);
		return CKR_CANT_LOCK;
	}
	if (pthread_mutex_init(&in->keeper_lock, NULL) != 0) {
		pthread_mutex_destroy(&in->lock);
		free(in);
		return CKR_CANT_LOCK;
	}
	snprintf(in->label, sizeof(in->label), "%s", conf && conf->token_label ? conf->token_label : "?");
	rv = settings(in, conf);
	if (rv == CKR_OK)
		rv = kms_engine_openssl.init(NULL, &in->soft);
	if (rv == CKR_OK) {
		rv = p11_backend_open(in);
		/* A backend token that is absent now may come back: the slot stays, without mechanisms meanwhile. */
		if (rv == CKR_TOKEN_NOT_PRESENT)
			rv = CKR_OK;
	}
	if (rv != CKR_OK) {
		p11_shutdown(in);
		return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
	}
	*out = in;
	return CKR_OK;
}

static void p11_fork_child(void *inst)
{
	struct p11_inst *in = inst;

	if (in)
		p11_backend_forget(in);
	if (in && in->soft && kms_engine_openssl.fork_child)
		kms_engine_openssl.fork_child(in->soft);
}

static const struct kms_engine_mech *p11_mechanisms(void *inst, size_t *n)
{
	struct p11_inst *in = inst;

	*n = in->n_mechs;
	return in->mechs;
}

static CK_RV p11_random(void *inst, uint8_t *buf, size_t len)
{
	struct p11_inst *in = inst;
	CK_SESSION_HANDLE s;
	CK_RV rv = p11_session_get(in, &s);

	if (rv != CKR_OK)
		return rv == CKR_TOKEN_NOT_PRESENT ? CKR_DEVICE_REMOVED : CKR_DEVICE_ERROR;
	rv = in->f->C_GenerateRandom(s, buf, len);
	p11_session_put(in, s, rv);
	return rv;
}

static bool p11_present(void *inst)
{
	return p11_backend_probe(inst);
}

const struct kms_engine_ops kms_engine_pkcs11 = {
	.name = "pkcs11",
	.init = p11_init,
	.shutdown = p11_shutdown,
	.fork_child = p11_fork_child,
	.mechanisms = p11_mechanisms,
	.generate_pair = p11_generate_pair,
	.import = p11_import,
	.load = p11_load,
	.unload = p11_unload,
	.private_attr = p11_private_attr,
	.op_init = p11_op_init,
	.op_outlen = p11_op_outlen,
	.op_update = p11_op_update,
	.op_final = p11_op_final,
	.op_oneshot = p11_op_oneshot,
	.op_verify = p11_op_verify,
	.op_verify_final = p11_op_verify_final,
	.op_free = p11_op_free,
	.generate_secret = p11_generate_secret,
	.op_cipher_update = p11_op_cipher_update,
	.op_update_outlen = p11_op_update_outlen,
	.wrap = p11_wrap,
	.unwrap = p11_unwrap,
	.derive = p11_derive,
	.random = p11_random,
	.login = p11_login,
	.logout = p11_logout,
	.set_pin = p11_set_pin,
	.destroy = p11_destroy,
	.present = p11_present,
	.adopt = p11_adopt,
};
