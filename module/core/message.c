/* SPDX-License-Identifier: Apache-2.0 */
/* PKCS#11 3.0 message-based operations: AES-GCM per-message encryption and per-message sign/verify, on the engine's ordinary operations. */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/osslctx.h"
#include "common/mem.h"
#include "module/core/core.h"

#define GCM_IV_MAX 256

/* What each kind needs of the key. */
static const struct {
	CK_ATTRIBUTE_TYPE usage;
	CK_FLAGS flag;
	enum kms_op_kind op;
} msg_needs[KMS_MSG__COUNT] = {
	[KMS_MSG_ENCRYPT] = {CKA_ENCRYPT, CKF_ENCRYPT, KMS_OP_ENCRYPT},
	[KMS_MSG_DECRYPT] = {CKA_DECRYPT, CKF_DECRYPT, KMS_OP_DECRYPT},
	[KMS_MSG_SIGN] = {CKA_SIGN, CKF_SIGN, KMS_OP_SIGN},
	[KMS_MSG_VERIFY] = {CKA_VERIFY, CKF_VERIFY, KMS_OP_VERIFY},
};

void kms_msg_end(struct kms_session *s, enum kms_msg_kind kind)
{
	struct kms_msg *m = &s->msg[kind];

	if (m->eop)
		s->tok->eng->op_free(m->eop);
	if (m->key)
		kms_keyref_put(m->key);
	free(m->param);
	memset(m, 0, sizeof(*m));
}

/* Ends the message in progress (Begin..Next), keeping the operation. */
static void message_done(struct kms_session *s, struct kms_msg *m)
{
	if (m->eop)
		s->tok->eng->op_free(m->eop);
	m->eop = NULL;
}

CK_RV kms_msg_init(struct kms_session *s, enum kms_msg_kind kind, CK_MECHANISM *mech, CK_OBJECT_HANDLE hkey)
{
	struct kms_msg *m = &s->msg[kind];
	const struct kms_engine_mech *em;
	struct kms_obj *o = NULL;
	unsigned long cls = 0, kt = 0;
	bool aead = kind == KMS_MSG_ENCRYPT || kind == KMS_MSG_DECRYPT;
	CK_RV rv;

	if (m->key)
		return CKR_OPERATION_ACTIVE;
	em = kms_mech_find(s->tok, mech->mechanism);
	if (!em || !(em->flags & msg_needs[kind].flag) || (aead && mech->mechanism != CKM_AES_GCM))
		return CKR_MECHANISM_INVALID;
	if (mech->ulParameterLen && !mech->pParameter)
		return CKR_ARGUMENTS_BAD;
	rv = kms_obj_get(s, hkey, &o);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		return rv;
	kms_attrs_get_ulong(&o->attrs, CKA_CLASS, &cls);
	kms_attrs_get_ulong(&o->attrs, CKA_KEY_TYPE, &kt);
	if (cls != CKO_SECRET_KEY && cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY) {
		rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	if (aead && (cls != CKO_SECRET_KEY || kt != CKK_AES)) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (!kms_attrs_get_bool(&o->attrs, msg_needs[kind].usage, false)) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto out;
	}
	if (!aead && mech->ulParameterLen) {
		m->param = malloc(mech->ulParameterLen);
		if (!m->param) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		memcpy(m->param, mech->pParameter, mech->ulParameterLen);
		m->param_len = mech->ulParameterLen;
	}
	rv = kms_obj_key(s, o, kind == KMS_MSG_SIGN || kind == KMS_MSG_ENCRYPT ? KMS_USE_ORIGINATOR : KMS_USE_RECIPIENT,
			 &m->key);
	if (rv != CKR_OK) {
		m->key = NULL;
		free(m->param);
		m->param = NULL;
		m->param_len = 0;
		goto out;
	}
	m->mech = mech->mechanism;
out:
	kms_obj_put(o);
	return rv;
}

/* Checks the per-message GCM parameters and, for encryption, makes the IV the generator asks for. */
static CK_RV gcm_message_iv(struct kms_msg *m, enum kms_msg_kind kind, struct kms_ck_gcm_message_params *p,
			    CK_ULONG plen, bool generate)
{
	size_t fixed;

	if (!p || plen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	if (!p->pIv || !p->ulIvLen || p->ulIvLen > GCM_IV_MAX || !p->pTag || p->ulTagBits % 8 ||
	    p->ulTagBits < 32 || p->ulTagBits > 128 || p->ulIvFixedBits % 8 || p->ulIvFixedBits / 8 > p->ulIvLen)
		return CKR_MECHANISM_PARAM_INVALID;
	if (kind == KMS_MSG_DECRYPT || !generate)
		return CKR_OK;
	fixed = p->ulIvFixedBits / 8;
	switch (p->ivGenerator) {
	case KMS_CKG_NO_GENERATE:
		return CKR_OK;
	case KMS_CKG_GENERATE_RANDOM:
		return kms_rand(p->pIv + fixed, p->ulIvLen - fixed) ? CKR_OK : CKR_FUNCTION_FAILED;
	case KMS_CKG_GENERATE:
	case KMS_CKG_GENERATE_COUNTER:
	case KMS_CKG_GENERATE_COUNTER_XOR: {
		uint64_t c = ++m->counter;

		/* The counter fills the IV after the fixed part, big endian; XOR mixes it into the given IV. */
		for (size_t i = p->ulIvLen; i > fixed; i--, c >>= 8) {
			uint8_t b = (uint8_t)(c & 0xff);

			p->pIv[i - 1] = p->ivGenerator == KMS_CKG_GENERATE_COUNTER_XOR ? (uint8_t)(p->pIv[i - 1] ^ b) : b;
		}
		return CKR_OK;
	}
	default:
		return CKR_MECHANISM_PARAM_INVALID;
	}
}

/* Starts an engine GCM operation for one message. */
static CK_RV gcm_start(struct kms_session *s, enum kms_msg_kind kind, const struct kms_ck_gcm_message_params *p,
		       const uint8_t *aad, size_t aadlen, struct kms_engine_op **op)
{
	CK_GCM_PARAMS gp = {
		.pIv = p->pIv,
		.ulIvLen = p->ulIvLen,
		.ulIvBits = p->ulIvLen * 8,
		.pAAD = (CK_BYTE_PTR)aad,
		.ulAADLen = aadlen,
		.ulTagBits = p->ulTagBits,
	};
	CK_MECHANISM mech = {CKM_AES_GCM, &gp, sizeof(gp)};
	CK_RV rv = s->tok->eng->op_init(s->tok->einst, msg_needs[kind].op, &mech, s->msg[kind].key->k, op);

	if (rv != CKR_OK)
		*op = NULL;
	return rv;
}

/* A failed tag check is CKR_AEAD_DECRYPT_FAILED in the message API. */
static CK_RV aead_code(CK_RV rv)
{
	return rv == CKR_ENCRYPTED_DATA_INVALID ? CKR_AEAD_DECRYPT_FAILED : rv;
}

CK_RV kms_msg_crypt(struct kms_session *s, enum kms_msg_kind kind, void *param, CK_ULONG plen, const uint8_t *aad,
		    size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out, CK_ULONG *outlen)
{
	struct kms_msg *m = &s->msg[kind];
	struct kms_ck_gcm_message_params *p = param;
	const struct kms_engine_ops *eng = s->tok->eng;
	struct kms_engine_op *op = NULL;
	uint8_t *buf = NULL;
	size_t tag, buflen, got;
	CK_RV rv;

	if (!m->key || m->eop)
		return m->key ? CKR_OPERATION_ACTIVE : CKR_OPERATION_NOT_INITIALIZED;
	rv = gcm_message_iv(m, kind, p, plen, out != NULL && *outlen >= inlen);
	if (rv != CKR_OK)
		return rv;
	if (!out) {
		*outlen = kms_ul(inlen);
		return CKR_OK;
	}
	if (*outlen < inlen) {
		*outlen = kms_ul(inlen);
		return CKR_BUFFER_TOO_SMALL;
	}
	tag = p->ulTagBits / 8;
	if (inlen > SIZE_MAX - tag)
		return CKR_DATA_LEN_RANGE;
	rv = gcm_start(s, kind, p, aad, aadlen, &op);
	if (rv != CKR_OK)
		return rv;
	buflen = inlen + tag;
	buf = kms_secure_alloc(buflen + 16);
	if (!buf) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	got = buflen + 16;
	if (kind == KMS_MSG_ENCRYPT) {
		rv = eng->op_oneshot(op, in, inlen, buf, &got);
		if (rv == CKR_OK && got != buflen)
			rv = CKR_GENERAL_ERROR;
		if (rv == CKR_OK) {
			memcpy(out, buf, inlen);
			memcpy(p->pTag, buf + inlen, tag);
		}
	} else {
		uint8_t *ct = kms_secure_alloc(buflen);

		if (!ct) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		if (inlen)
			memcpy(ct, in, inlen);
		memcpy(ct + inlen, p->pTag, tag);
		rv = aead_code(eng->op_oneshot(op, ct, buflen, buf, &got));
		kms_secure_free(ct);
		if (rv == CKR_OK && got != inlen)
			rv = CKR_GENERAL_ERROR;
		if (rv == CKR_OK && inlen)
			memcpy(out, buf, inlen);
	}
	if (rv == CKR_OK)
		*outlen = kms_ul(inlen);
out:
	kms_secure_free(buf);
	if (op)
		eng->op_free(op);
	return rv;
}

CK_RV kms_msg_crypt_begin(struct kms_session *s, enum kms_msg_kind kind, void *param, CK_ULONG plen,
			  const uint8_t *aad, size_t aadlen)
{
	struct kms_msg *m = &s->msg[kind];
	CK_RV rv;

	if (!m->key)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (m->eop)
		return CKR_OPERATION_ACTIVE;
	if (!s->tok->eng->op_cipher_update || !s->tok->eng->op_final)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = gcm_message_iv(m, kind, param, plen, true);
	if (rv != CKR_OK)
		return rv;
	return gcm_start(s, kind, param, aad, aadlen, &m->eop);
}

CK_RV kms_msg_crypt_next(struct kms_session *s, enum kms_msg_kind kind, void *param, CK_ULONG plen,
			 const uint8_t *in, size_t inlen, uint8_t *out, CK_ULONG *outlen, bool last)
{
	const struct kms_engine_ops *eng = s->tok->eng;
	struct kms_msg *m = &s->msg[kind];
	struct kms_ck_gcm_message_params *p = param;
	size_t tag, need, got, fin;
	uint8_t *tail = NULL;
	CK_RV rv;

	if (!m->key || !m->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = gcm_message_iv(m, kind, p, plen, false);
	if (rv != CKR_OK)
		goto fail;
	tag = p->ulTagBits / 8;
	/* Decryption releases nothing before the tag is checked, so the whole message comes out at the end. */
	need = eng->op_update_outlen(m->eop, inlen);
	if (last && kind == KMS_MSG_ENCRYPT)
		need += eng->op_outlen(m->eop, 0) - tag; /* the tag goes to the parameters */
	else if (last)
		need = eng->op_outlen(m->eop, inlen + tag);
	if (!out) {
		*outlen = kms_ul(need);
		return CKR_OK;
	}
	if (*outlen < need) {
		*outlen = kms_ul(need);
		return CKR_BUFFER_TOO_SMALL;
	}
	got = *outlen;
	rv = eng->op_cipher_update(m->eop, in, inlen, out, &got);
	if (rv != CKR_OK || !last) {
		if (rv == CKR_OK)
			*outlen = kms_ul(got);
		goto done;
	}
	if (kind == KMS_MSG_DECRYPT) {
		size_t more = *outlen - got;

		rv = eng->op_cipher_update(m->eop, p->pTag, tag, out + got, &more);
		if (rv != CKR_OK)
			goto done;
		got += more;
		fin = *outlen - got;
		rv = aead_code(eng->op_final(m->eop, out + got, &fin));
		if (rv == CKR_OK)
			*outlen = kms_ul(got + fin);
		goto done;
	}
	/* Encryption: the final step gives the tag, which goes to the parameters. */
	fin = eng->op_outlen(m->eop, 0) + tag;
	tail = kms_secure_alloc(fin);
	if (!tail) {
		rv = CKR_HOST_MEMORY;
		goto done;
	}
	rv = eng->op_final(m->eop, tail, &fin);
	if (rv == CKR_OK && (fin < tag || got + fin - tag > *outlen))
		rv = CKR_GENERAL_ERROR;
	if (rv == CKR_OK) {
		memcpy(out + got, tail, fin - tag);
		memcpy(p->pTag, tail + fin - tag, tag);
		*outlen = kms_ul(got + fin - tag);
	}
	kms_secure_free(tail);
done:
	if (rv != CKR_OK || last)
		message_done(s, m);
	return rv;
fail:
	message_done(s, m);
	return rv;
}

/* Starts one engine sign or verify operation with the mechanism given at init. */
static CK_RV sv_start(struct kms_session *s, enum kms_msg_kind kind, struct kms_engine_op **op)
{
	struct kms_msg *m = &s->msg[kind];
	CK_MECHANISM mech = {m->mech, m->param, kms_ul(m->param_len)};
	CK_RV rv = s->tok->eng->op_init(s->tok->einst, msg_needs[kind].op, &mech, m->key->k, op);

	if (rv != CKR_OK)
		*op = NULL;
	return rv;
}

CK_RV kms_msg_sign(struct kms_session *s, const uint8_t *data, size_t len, uint8_t *sig, CK_ULONG *siglen)
{
	const struct kms_engine_ops *eng = s->tok->eng;
	struct kms_msg *m = &s->msg[KMS_MSG_SIGN];
	struct kms_engine_op *op = NULL;
	size_t need, got;
	CK_RV rv;

	if (!m->key)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (m->eop)
		return CKR_OPERATION_ACTIVE;
	rv = sv_start(s, KMS_MSG_SIGN, &op);
	if (rv != CKR_OK)
		return rv;
	need = eng->op_outlen(op, len);
	if (!sig || *siglen < need) {
		rv = sig ? CKR_BUFFER_TOO_SMALL : CKR_OK;
		*siglen = kms_ul(need);
		goto out;
	}
	got = *siglen;
	rv = eng->op_oneshot(op, data, len, sig, &got);
	if (rv == CKR_OK)
		*siglen = kms_ul(got);
out:
	eng->op_free(op);
	return rv;
}

CK_RV kms_msg_verify(struct kms_session *s, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
	const struct kms_engine_ops *eng = s->tok->eng;
	struct kms_msg *m = &s->msg[KMS_MSG_VERIFY];
	struct kms_engine_op *op = NULL;
	CK_RV rv;

	if (!m->key)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (m->eop)
		return CKR_OPERATION_ACTIVE;
	if (!eng->op_verify)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = sv_start(s, KMS_MSG_VERIFY, &op);
	if (rv != CKR_OK)
		return rv;
	rv = eng->op_verify(op, data, len, sig, siglen);
	eng->op_free(op);
	return rv;
}

CK_RV kms_msg_sv_begin(struct kms_session *s, enum kms_msg_kind kind)
{
	struct kms_msg *m = &s->msg[kind];

	if (!m->key)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (m->eop)
		return CKR_OPERATION_ACTIVE;
	if (!s->tok->eng->op_update)
		return CKR_FUNCTION_NOT_SUPPORTED;
	return sv_start(s, kind, &m->eop);
}

CK_RV kms_msg_sign_next(struct kms_session *s, const uint8_t *data, size_t len, uint8_t *sig, CK_ULONG *siglen)
{
	const struct kms_engine_ops *eng = s->tok->eng;
	struct kms_msg *m = &s->msg[KMS_MSG_SIGN];
	size_t need, got;
	CK_RV rv;

	if (!m->key || !m->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (siglen) {
		/* The last part: a size query leaves the data unconsumed, to be given again. */
		need = eng->op_outlen(m->eop, 0);
		if (!sig || *siglen < need) {
			*siglen = kms_ul(need);
			return sig ? CKR_BUFFER_TOO_SMALL : CKR_OK;
		}
	}
	rv = eng->op_update(m->eop, data, len);
	if (rv == CKR_OK && siglen) {
		got = *siglen;
		rv = eng->op_final ? eng->op_final(m->eop, sig, &got) : CKR_FUNCTION_NOT_SUPPORTED;
		if (rv == CKR_OK)
			*siglen = kms_ul(got);
	}
	if (rv != CKR_OK || siglen)
		message_done(s, m);
	return rv;
}

CK_RV kms_msg_verify_next(struct kms_session *s, const uint8_t *data, size_t len, const uint8_t *sig,
			  size_t siglen)
{
	const struct kms_engine_ops *eng = s->tok->eng;
	struct kms_msg *m = &s->msg[KMS_MSG_VERIFY];
	CK_RV rv;

	if (!m->key || !m->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = eng->op_update(m->eop, data, len);
	if (rv == CKR_OK && sig)
		rv = eng->op_verify_final ? eng->op_verify_final(m->eop, sig, siglen) : CKR_FUNCTION_NOT_SUPPORTED;
	if (rv != CKR_OK || sig)
		message_done(s, m);
	return rv;
}
