/* SPDX-License-Identifier: Apache-2.0 */
/* Cryptographic operations: key and mechanism checks, the size-query convention, and dispatch to the engine. */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "module/core/core.h"

/* The key usage attribute and mechanism flag each kind of operation needs. */
static const struct {
	CK_ATTRIBUTE_TYPE usage;
	CK_FLAGS flag;
	CK_OBJECT_CLASS cls;
} op_needs[KMS_OP__COUNT] = {
	[KMS_OP_DIGEST] = {0, CKF_DIGEST, 0},
	[KMS_OP_SIGN] = {CKA_SIGN, CKF_SIGN, CKO_PRIVATE_KEY},
	[KMS_OP_VERIFY] = {CKA_VERIFY, CKF_VERIFY, CKO_PUBLIC_KEY},
	[KMS_OP_ENCRYPT] = {CKA_ENCRYPT, CKF_ENCRYPT, CKO_PUBLIC_KEY},
	[KMS_OP_DECRYPT] = {CKA_DECRYPT, CKF_DECRYPT, CKO_PRIVATE_KEY},
};

CK_RV kms_op_init(struct kms_session *s, enum kms_op_kind kind, CK_MECHANISM *mech, CK_OBJECT_HANDLE hkey)
{
	struct kms_active *a = &s->op[kind];
	const struct kms_engine_mech *em;
	struct kms_obj *o = NULL;
	struct kms_keyref *k = NULL;
	unsigned long cls = 0;
	CK_RV rv;

	if (a->eop)
		return CKR_OPERATION_ACTIVE;
	em = kms_mech_find(s->tok, mech->mechanism);
	if (!em || !(em->flags & op_needs[kind].flag))
		return CKR_MECHANISM_INVALID;
	rv = kms_obj_get(s, hkey, &o);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		return rv;
	kms_attrs_get_ulong(&o->attrs, CKA_CLASS, &cls);
	if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY && cls != CKO_SECRET_KEY) {
		rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	if (cls != op_needs[kind].cls && cls != CKO_SECRET_KEY) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if (!kms_attrs_get_bool(&o->attrs, op_needs[kind].usage, false)) {
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto out;
	}
	if (!kms_mech_allowed(&o->attrs, mech->mechanism)) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	rv = kms_obj_key(s, o, kind == KMS_OP_SIGN || kind == KMS_OP_ENCRYPT ? KMS_USE_ORIGINATOR : KMS_USE_RECIPIENT, &k);
	if (rv != CKR_OK)
		goto out;
	rv = s->tok->eng->op_init(s->tok->einst, kind, mech, k->k, &a->eop);
	if (rv != CKR_OK) {
		a->eop = NULL;
		kms_keyref_put(k);
		goto out;
	}
	a->key = k;
	a->mech = mech->mechanism;
	a->multipart = false;
	a->needs_auth = cls == CKO_PRIVATE_KEY && kms_attrs_get_bool(&o->attrs, CKA_ALWAYS_AUTHENTICATE, false);
out:
	kms_obj_put(o);
	return rv;
}

CK_RV kms_op_context_login(struct kms_session *s, const char *pin, size_t len)
{
	struct kms_active *a = NULL;
	CK_RV rv;

	for (int k = 0; k < KMS_OP__COUNT; k++)
		if (s->op[k].eop && s->op[k].needs_auth && !s->op[k].authed)
			a = &s->op[k];
	if (!a)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (__atomic_load_n(&s->tok->login, __ATOMIC_ACQUIRE) != CKU_USER)
		return CKR_USER_NOT_LOGGED_IN;
	rv = kms_token_check_user_pin(s->tok, pin, len);
	if (rv == CKR_OK)
		a->authed = true;
	return rv;
}

/* A single-part call during a multi-part operation or the reverse: CKR_OPERATION_ACTIVE, and like any
 * failed call of either kind it ends the operation (PKCS#11 2.40 §5.2). */
static CK_RV op_refused(struct kms_session *s, enum kms_op_kind kind)
{
	kms_session_op_end(s, kind);
	return CKR_OPERATION_ACTIVE;
}

/* CKR_USER_NOT_LOGGED_IN while an operation on a CKA_ALWAYS_AUTHENTICATE key waits for its context-specific
 * login; the operation stays active, so the login can still come. */
static CK_RV auth_check(const struct kms_active *a)
{
	return a->needs_auth && !a->authed ? CKR_USER_NOT_LOGGED_IN : CKR_OK;
}

CK_RV kms_op_digest_init(struct kms_session *s, CK_MECHANISM *mech)
{
	struct kms_active *a = &s->op[KMS_OP_DIGEST];
	const struct kms_engine_mech *em;
	CK_RV rv;

	if (a->eop)
		return CKR_OPERATION_ACTIVE;
	em = kms_mech_find(s->tok, mech->mechanism);
	if (!em || !(em->flags & CKF_DIGEST))
		return CKR_MECHANISM_INVALID;
	rv = s->tok->eng->op_init(s->tok->einst, KMS_OP_DIGEST, mech, NULL, &a->eop);
	if (rv != CKR_OK) {
		a->eop = NULL;
		return rv;
	}
	a->key = NULL;
	a->mech = mech->mechanism;
	a->multipart = false;
	return CKR_OK;
}

/* Answers from output held back by an earlier call whose buffer was too short: the length, CKR_BUFFER_TOO_SMALL
 * again, or the output (which ends the operation). */
static CK_RV held_output(struct kms_session *s, enum kms_op_kind kind, uint8_t *out, CK_ULONG *outlen)
{
	struct kms_active *a = &s->op[kind];

	if (!out) {
		*outlen = kms_ul(a->held_len);
		return CKR_OK;
	}
	if (*outlen < a->held_len) {
		*outlen = kms_ul(a->held_len);
		return CKR_BUFFER_TOO_SMALL;
	}
	if (a->held_len)
		memcpy(out, a->held, a->held_len);
	*outlen = kms_ul(a->held_len);
	kms_session_op_end(s, kind);
	return CKR_OK;
}

/* Runs a one-shot or final step under the size-query convention: NULL out asks for the length and a short
 * buffer gets CKR_BUFFER_TOO_SMALL with the length needed; both leave the operation exactly as it was, so
 * the call can be made again. A decryption's output may be shorter than its bound: when the caller's
 * buffer is below the bound, it runs into scratch memory, and output that does not fit is held for the
 * retry instead of being computed twice. */
static CK_RV sized_call(struct kms_session *s, enum kms_op_kind kind, const uint8_t *in, size_t inlen, bool final,
			uint8_t *out, CK_ULONG *outlen)
{
	const struct kms_engine_ops *eng = s->tok->eng;
	struct kms_active *a = &s->op[kind];
	size_t need, got;
	uint8_t *tmp = NULL;
	CK_RV rv;

	if (a->held)
		return held_output(s, kind, out, outlen);
	need = eng->op_outlen(a->eop, inlen);
	if (!out) {
		*outlen = kms_ul(need);
		return CKR_OK;
	}
	if (*outlen >= need) {
		got = *outlen;
		rv = final ? eng->op_final(a->eop, out, &got) : eng->op_oneshot(a->eop, in, inlen, out, &got);
		if (rv == CKR_OK)
			*outlen = kms_ul(got);
		goto done;
	}
	if (kind != KMS_OP_DECRYPT) {
		*outlen = kms_ul(need);
		return CKR_BUFFER_TOO_SMALL;
	}
	tmp = kms_secure_alloc(need ? need : 1);
	if (!tmp)
		return CKR_HOST_MEMORY;
	got = need;
	rv = final ? eng->op_final(a->eop, tmp, &got) : eng->op_oneshot(a->eop, in, inlen, tmp, &got);
	if (rv == CKR_OK && got > *outlen) {
		a->held = tmp;
		a->held_len = got;
		*outlen = kms_ul(got);
		return CKR_BUFFER_TOO_SMALL;
	}
	if (rv == CKR_OK) {
		memcpy(out, tmp, got);
		*outlen = kms_ul(got);
	}
	kms_secure_free(tmp);
done:
	if (rv != CKR_BUFFER_TOO_SMALL)
		kms_session_op_end(s, kind);
	return rv;
}

CK_RV kms_op_oneshot(struct kms_session *s, enum kms_op_kind kind, const uint8_t *in, size_t inlen, uint8_t *out,
		     CK_ULONG *outlen)
{
	struct kms_active *a = &s->op[kind];

	if (!a->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (a->multipart)
		return op_refused(s, kind);
	if (auth_check(a) != CKR_OK)
		return CKR_USER_NOT_LOGGED_IN;
	a->singlepart = true;
	return sized_call(s, kind, in, inlen, false, out, outlen);
}

CK_RV kms_op_update(struct kms_session *s, enum kms_op_kind kind, const uint8_t *in, size_t inlen)
{
	struct kms_active *a = &s->op[kind];
	CK_RV rv;

	if (!a->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (a->singlepart)
		return op_refused(s, kind);
	if (auth_check(a) != CKR_OK)
		return CKR_USER_NOT_LOGGED_IN;
	if (!s->tok->eng->op_update) {
		kms_session_op_end(s, kind);
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	rv = s->tok->eng->op_update(a->eop, in, inlen);
	if (rv != CKR_OK)
		kms_session_op_end(s, kind);
	else
		a->multipart = true;
	return rv;
}

CK_RV kms_op_cipher_update(struct kms_session *s, enum kms_op_kind kind, const uint8_t *in, size_t inlen, uint8_t *out,
			   CK_ULONG *outlen)
{
	const struct kms_engine_ops *eng = s->tok->eng;
	struct kms_active *a = &s->op[kind];
	size_t need, got;
	CK_RV rv;

	if (!a->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (a->singlepart)
		return op_refused(s, kind);
	if (auth_check(a) != CKR_OK)
		return CKR_USER_NOT_LOGGED_IN;
	if (!eng->op_cipher_update || !eng->op_update_outlen) {
		kms_session_op_end(s, kind);
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	need = eng->op_update_outlen(a->eop, inlen);
	if (!out) {
		*outlen = kms_ul(need);
		return CKR_OK;
	}
	if (*outlen < need) {
		*outlen = kms_ul(need);
		return CKR_BUFFER_TOO_SMALL;
	}
	got = *outlen;
	rv = eng->op_cipher_update(a->eop, in, inlen, out, &got);
	if (rv != CKR_OK) {
		kms_session_op_end(s, kind);
		return rv;
	}
	a->multipart = true;
	*outlen = kms_ul(got);
	return CKR_OK;
}

CK_RV kms_op_final(struct kms_session *s, enum kms_op_kind kind, uint8_t *out, CK_ULONG *outlen)
{
	struct kms_active *a = &s->op[kind];

	if (!a->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (a->singlepart)
		return op_refused(s, kind);
	if (auth_check(a) != CKR_OK)
		return CKR_USER_NOT_LOGGED_IN;
	if (!s->tok->eng->op_final) {
		kms_session_op_end(s, kind);
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	return sized_call(s, kind, NULL, 0, true, out, outlen);
}

CK_RV kms_op_verify(struct kms_session *s, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen)
{
	struct kms_active *a = &s->op[KMS_OP_VERIFY];
	CK_RV rv;

	if (!a->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (a->multipart)
		return op_refused(s, KMS_OP_VERIFY);
	rv = s->tok->eng->op_verify ? s->tok->eng->op_verify(a->eop, data, len, sig, siglen)
				    : CKR_FUNCTION_NOT_SUPPORTED;
	kms_session_op_end(s, KMS_OP_VERIFY);
	return rv;
}

CK_RV kms_op_verify_final(struct kms_session *s, const uint8_t *sig, size_t siglen)
{
	struct kms_active *a = &s->op[KMS_OP_VERIFY];
	CK_RV rv;

	if (!a->eop)
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = s->tok->eng->op_verify_final ? s->tok->eng->op_verify_final(a->eop, sig, siglen)
					  : CKR_FUNCTION_NOT_SUPPORTED;
	kms_session_op_end(s, KMS_OP_VERIFY);
	return rv;
}

CK_RV kms_random(struct kms_session *s, uint8_t *buf, size_t len)
{
	if (!s->tok->eng->random)
		return CKR_RANDOM_NO_RNG;
	return s->tok->eng->random(s->tok->einst, buf, len);
}

CK_RV kms_seed(struct kms_session *s, const uint8_t *buf, size_t len)
{
	if (!s->tok->eng->seed)
		return CKR_RANDOM_SEED_NOT_SUPPORTED;
	return s->tok->eng->seed(s->tok->einst, buf, len);
}
