/* SPDX-License-Identifier: Apache-2.0 */
/* Sign, verify, encrypt, decrypt and random entry points. */
#include "module/pkcs11/entry.h"

static CK_RV op_init(CK_SESSION_HANDLE h, enum kms_op_kind kind, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	rv = !mech ? CKR_ARGUMENTS_BAD : kms_op_init(s, kind, mech, key);
	return kms_session_done(s, rv, __func__);
}

/* A single-part call (C_Sign, C_Encrypt, ...) or, with update, a multi-part call with output (C_EncryptUpdate). */
static CK_RV op_sized(CK_SESSION_HANDLE h, enum kms_op_kind kind, bool update, CK_BYTE_PTR in, CK_ULONG inlen,
		      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if ((!in && inlen) || !outlen) {
		rv = CKR_ARGUMENTS_BAD;
		kms_session_op_end(s, kind);
	} else {
		rv = update ? kms_op_cipher_update(s, kind, in, inlen, out, outlen)
			    : kms_op_oneshot(s, kind, in, inlen, out, outlen);
	}
	return kms_session_done(s, rv, __func__);
}

static CK_RV op_update(CK_SESSION_HANDLE h, enum kms_op_kind kind, CK_BYTE_PTR in, CK_ULONG inlen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (!in && inlen) {
		rv = CKR_ARGUMENTS_BAD;
		kms_session_op_end(s, kind);
	} else {
		rv = kms_op_update(s, kind, in, inlen);
	}
	return kms_session_done(s, rv, __func__);
}

static CK_RV op_final(CK_SESSION_HANDLE h, enum kms_op_kind kind, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (!outlen) {
		rv = CKR_ARGUMENTS_BAD;
		kms_session_op_end(s, kind);
	} else {
		rv = kms_op_final(s, kind, out, outlen);
	}
	return kms_session_done(s, rv, __func__);
}

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(hSession, KMS_OP_SIGN, pMechanism, hKey);
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
	     CK_ULONG_PTR pulSignatureLen)
{
	return op_sized(hSession, KMS_OP_SIGN, false, pData, ulDataLen, pSignature, pulSignatureLen);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_update(hSession, KMS_OP_SIGN, pPart, ulPartLen);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	return op_final(hSession, KMS_OP_SIGN, pSignature, pulSignatureLen);
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(hSession, KMS_OP_VERIFY, pMechanism, hKey);
}

CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
	       CK_ULONG ulSignatureLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if ((!pData && ulDataLen) || !pSignature) {
		rv = CKR_ARGUMENTS_BAD;
		kms_session_op_end(s, KMS_OP_VERIFY);
	} else {
		rv = kms_op_verify(s, pData, ulDataLen, pSignature, ulSignatureLen);
	}
	return kms_session_done(s, rv, __func__);
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_update(hSession, KMS_OP_VERIFY, pPart, ulPartLen);
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if (!pSignature) {
		rv = CKR_ARGUMENTS_BAD;
		kms_session_op_end(s, KMS_OP_VERIFY);
	} else {
		rv = kms_op_verify_final(s, pSignature, ulSignatureLen);
	}
	return kms_session_done(s, rv, __func__);
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(hSession, KMS_OP_ENCRYPT, pMechanism, hKey);
}

CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData,
		CK_ULONG_PTR pulEncryptedDataLen)
{
	return op_sized(hSession, KMS_OP_ENCRYPT, false, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
		      CK_ULONG_PTR pulEncryptedPartLen)
{
	return op_sized(hSession, KMS_OP_ENCRYPT, true, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart, CK_ULONG_PTR pulLastEncryptedPartLen)
{
	return op_final(hSession, KMS_OP_ENCRYPT, pLastEncryptedPart, pulLastEncryptedPartLen);
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(hSession, KMS_OP_DECRYPT, pMechanism, hKey);
}

CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData,
		CK_ULONG_PTR pulDataLen)
{
	return op_sized(hSession, KMS_OP_DECRYPT, false, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,
		      CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	return op_sized(hSession, KMS_OP_DECRYPT, true, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
	return op_final(hSession, KMS_OP_DECRYPT, pLastPart, pulLastPartLen);
}

CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = !pMechanism ? CKR_ARGUMENTS_BAD : kms_op_digest_init(s, pMechanism);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
	       CK_ULONG_PTR pulDigestLen)
{
	return op_sized(hSession, KMS_OP_DIGEST, false, pData, ulDataLen, pDigest, pulDigestLen);
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_update(hSession, KMS_OP_DIGEST, pPart, ulPartLen);
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	return op_final(hSession, KMS_OP_DIGEST, pDigest, pulDigestLen);
}

CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = kms_op_digest_key(s, hKey);
	return kms_session_done(s, rv, __func__);
}

/* No operation state is ever saved: an active operation is CKR_STATE_UNSAVEABLE. */
CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, CK_ULONG_PTR pulOperationStateLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	(void)pOperationState;
	if (rv != CKR_OK)
		return rv;
	rv = CKR_OPERATION_NOT_INITIALIZED;
	if (!pulOperationStateLen)
		rv = CKR_ARGUMENTS_BAD;
	for (int k = 0; k < KMS_OP__COUNT && rv == CKR_OPERATION_NOT_INITIALIZED; k++)
		if (s->op[k].eop)
			rv = CKR_STATE_UNSAVEABLE;
	return kms_session_done(s, rv, __func__);
}

/* C_GetOperationState never hands out a state, so none can be given back. */
CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, CK_ULONG ulOperationStateLen,
			  CK_OBJECT_HANDLE hEncryptionKey, CK_OBJECT_HANDLE hAuthenticationKey)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	(void)hEncryptionKey, (void)hAuthenticationKey;
	if (rv != CKR_OK)
		return rv;
	rv = (!pOperationState || !ulOperationStateLen) ? CKR_ARGUMENTS_BAD : CKR_SAVED_STATE_INVALID;
	return kms_session_done(s, rv, __func__);
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!RandomData && ulRandomLen) ? CKR_ARGUMENTS_BAD : kms_random(s, RandomData, ulRandomLen);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!pSeed && ulSeedLen) ? CKR_ARGUMENTS_BAD : kms_seed(s, pSeed, ulSeedLen);
	return kms_session_done(s, rv, __func__);
}
