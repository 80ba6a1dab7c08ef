/* SPDX-License-Identifier: Apache-2.0 */
/* The PKCS#11 3.0 entry points: C_LoginUser, C_SessionCancel and the message-based functions. */
#include <string.h>

#include "module/pkcs11/entry.h"

CK_RV C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
		  CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	/* A token has one user of each type and no user names: a name is an unknown user. */
	if ((!pPin && ulPinLen) || (!pUsername && ulUsernameLen))
		rv = CKR_ARGUMENTS_BAD;
	else if (ulUsernameLen)
		rv = CKR_USER_TYPE_INVALID;
	else
		rv = kms_token_login(s, userType, (const char *)pPin, ulPinLen);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
	static const struct {
		CK_FLAGS flag;
		enum kms_op_kind kind;
	} ops[] = {{CKF_DIGEST, KMS_OP_DIGEST},
		   {CKF_SIGN, KMS_OP_SIGN},
		   {CKF_VERIFY, KMS_OP_VERIFY},
		   {CKF_ENCRYPT, KMS_OP_ENCRYPT},
		   {CKF_DECRYPT, KMS_OP_DECRYPT}};
	static const struct {
		CK_FLAGS flag;
		enum kms_msg_kind kind;
	} msgs[] = {{CKF_MESSAGE_ENCRYPT, KMS_MSG_ENCRYPT},
		    {CKF_MESSAGE_DECRYPT, KMS_MSG_DECRYPT},
		    {CKF_MESSAGE_SIGN, KMS_MSG_SIGN},
		    {CKF_MESSAGE_VERIFY, KMS_MSG_VERIFY}};
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (flags & ops[i].flag)
			kms_session_op_end(s, ops[i].kind);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (flags & msgs[i].flag)
			kms_msg_end(s, msgs[i].kind);
	if ((flags & CKF_FIND_OBJECTS) && s->find.active)
		kms_find_final(s);
	kms_session_put(s);
	return CKR_OK;
}

static CK_RV msg_init(CK_SESSION_HANDLE h, enum kms_msg_kind kind, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	rv = mech ? kms_msg_init(s, kind, mech, key) : CKR_ARGUMENTS_BAD;
	return kms_session_done(s, rv, __func__);
}

static CK_RV msg_final(CK_SESSION_HANDLE h, enum kms_msg_kind kind)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (!s->msg[kind].key)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	kms_msg_end(s, kind);
	return kms_session_done(s, rv, __func__);
}

static CK_RV msg_crypt(CK_SESSION_HANDLE h, enum kms_msg_kind kind, CK_VOID_PTR param, CK_ULONG plen, CK_BYTE_PTR aad,
		       CK_ULONG aadlen, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if ((!aad && aadlen) || (!in && inlen) || !outlen)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = kms_msg_crypt(s, kind, param, plen, aad, aadlen, in, inlen, out, outlen);
	return kms_session_done(s, rv, __func__);
}

static CK_RV msg_begin(CK_SESSION_HANDLE h, enum kms_msg_kind kind, CK_VOID_PTR param, CK_ULONG plen, CK_BYTE_PTR aad,
		       CK_ULONG aadlen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (!aad && aadlen)
		rv = CKR_ARGUMENTS_BAD;
	else if (kind == KMS_MSG_SIGN || kind == KMS_MSG_VERIFY)
		rv = kms_msg_sv_begin(s, kind);
	else
		rv = kms_msg_crypt_begin(s, kind, param, plen, aad, aadlen);
	return kms_session_done(s, rv, __func__);
}

static CK_RV msg_next(CK_SESSION_HANDLE h, enum kms_msg_kind kind, CK_VOID_PTR param, CK_ULONG plen, CK_BYTE_PTR in,
		      CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen, CK_FLAGS flags)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if ((!in && inlen) || !outlen || (flags & ~CKF_END_OF_MESSAGE))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = kms_msg_crypt_next(s, kind, param, plen, in, inlen, out, outlen, flags & CKF_END_OF_MESSAGE);
	return kms_session_done(s, rv, __func__);
}

/* The message-based sign and verify calls: whole messages (next false) or parts (next true). */
static CK_RV msg_sv(CK_SESSION_HANDLE h, enum kms_msg_kind kind, bool next, CK_BYTE_PTR data, CK_ULONG len,
		    CK_BYTE_PTR sig, CK_ULONG_PTR siglen, CK_ULONG vsiglen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if ((!data && len) || (!next && kind == KMS_MSG_SIGN && !siglen) || (!next && kind == KMS_MSG_VERIFY && !sig))
		rv = CKR_ARGUMENTS_BAD;
	else if (kind == KMS_MSG_SIGN)
		rv = next ? kms_msg_sign_next(s, data, len, sig, siglen) : kms_msg_sign(s, data, len, sig, siglen);
	else
		rv = next ? kms_msg_verify_next(s, data, len, sig, vsiglen) : kms_msg_verify(s, data, len, sig, vsiglen);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_MessageEncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return msg_init(hSession, KMS_MSG_ENCRYPT, pMechanism, hKey);
}

CK_RV C_EncryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
		       CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pPlaintext,
		       CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext, CK_ULONG_PTR pulCiphertextLen)
{
	return msg_crypt(hSession, KMS_MSG_ENCRYPT, pParameter, ulParameterLen, pAssociatedData, ulAssociatedDataLen,
			 pPlaintext, ulPlaintextLen, pCiphertext, pulCiphertextLen);
}

CK_RV C_EncryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			    CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen)
{
	return msg_begin(hSession, KMS_MSG_ENCRYPT, pParameter, ulParameterLen, pAssociatedData, ulAssociatedDataLen);
}

CK_RV C_EncryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			   CK_BYTE_PTR pPlaintextPart, CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart,
			   CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags)
{
	return msg_next(hSession, KMS_MSG_ENCRYPT, pParameter, ulParameterLen, pPlaintextPart, ulPlaintextPartLen,
			pCiphertextPart, pulCiphertextPartLen, flags);
}

CK_RV C_MessageEncryptFinal(CK_SESSION_HANDLE hSession)
{
	return msg_final(hSession, KMS_MSG_ENCRYPT);
}

CK_RV C_MessageDecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return msg_init(hSession, KMS_MSG_DECRYPT, pMechanism, hKey);
}

CK_RV C_DecryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
		       CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pCiphertext,
		       CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext, CK_ULONG_PTR pulPlaintextLen)
{
	return msg_crypt(hSession, KMS_MSG_DECRYPT, pParameter, ulParameterLen, pAssociatedData, ulAssociatedDataLen,
			 pCiphertext, ulCiphertextLen, pPlaintext, pulPlaintextLen);
}

CK_RV C_DecryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			    CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen)
{
	return msg_begin(hSession, KMS_MSG_DECRYPT, pParameter, ulParameterLen, pAssociatedData, ulAssociatedDataLen);
}

CK_RV C_DecryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			   CK_BYTE_PTR pCiphertextPart, CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart,
			   CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags)
{
	return msg_next(hSession, KMS_MSG_DECRYPT, pParameter, ulParameterLen, pCiphertextPart, ulCiphertextPartLen,
			pPlaintextPart, pulPlaintextPartLen, flags);
}

CK_RV C_MessageDecryptFinal(CK_SESSION_HANDLE hSession)
{
	return msg_final(hSession, KMS_MSG_DECRYPT);
}

CK_RV C_MessageSignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return msg_init(hSession, KMS_MSG_SIGN, pMechanism, hKey);
}

CK_RV C_SignMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
		    CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	(void)pParameter, (void)ulParameterLen;
	return msg_sv(hSession, KMS_MSG_SIGN, false, pData, ulDataLen, pSignature, pulSignatureLen, 0);
}

CK_RV C_SignMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen)
{
	return msg_begin(hSession, KMS_MSG_SIGN, pParameter, ulParameterLen, NULL, 0);
}

CK_RV C_SignMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	(void)pParameter, (void)ulParameterLen;
	return msg_sv(hSession, KMS_MSG_SIGN, true, pData, ulDataLen, pSignature, pulSignatureLen, 0);
}

CK_RV C_MessageSignFinal(CK_SESSION_HANDLE hSession)
{
	return msg_final(hSession, KMS_MSG_SIGN);
}

CK_RV C_MessageVerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return msg_init(hSession, KMS_MSG_VERIFY, pMechanism, hKey);
}

CK_RV C_VerifyMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
		      CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	(void)pParameter, (void)ulParameterLen;
	return msg_sv(hSession, KMS_MSG_VERIFY, false, pData, ulDataLen, pSignature, NULL, ulSignatureLen);
}

CK_RV C_VerifyMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen)
{
	return msg_begin(hSession, KMS_MSG_VERIFY, pParameter, ulParameterLen, NULL, 0);
}

CK_RV C_VerifyMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			  CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	(void)pParameter, (void)ulParameterLen;
	return msg_sv(hSession, KMS_MSG_VERIFY, true, pData, ulDataLen, pSignature, NULL, ulSignatureLen);
}

CK_RV C_MessageVerifyFinal(CK_SESSION_HANDLE hSession)
{
	return msg_final(hSession, KMS_MSG_VERIFY);
}
