/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the C_* entry points, and the PKCS#11 3.0 types p11-kit's 2.40 header lacks. */
#ifndef KMS_PKCS11_ENTRY_H
#define KMS_PKCS11_ENTRY_H

#include "module/core/core.h"

#define KMS_EXPORT __attribute__((visibility("default")))

/* CK_INTERFACE. */
typedef struct kms_ck_interface {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} KMS_CK_INTERFACE;

/* C_GetInfo of the 3.0 function list: cryptokiVersion 3.0. */
CK_RV C_GetInfo30(CK_INFO_PTR pInfo);
/* The 3.0 functions, with the spec's argument lists. */
KMS_EXPORT CK_RV C_GetInterfaceList(KMS_CK_INTERFACE *pInterfacesList, CK_ULONG_PTR pulCount);
KMS_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
				KMS_CK_INTERFACE **ppInterface, CK_FLAGS flags);
CK_RV C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
		  CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen);
CK_RV C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags);
CK_RV C_MessageEncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey);
CK_RV C_EncryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
		       CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pPlaintext,
		       CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext, CK_ULONG_PTR pulCiphertextLen);
CK_RV C_EncryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			    CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen);
CK_RV C_EncryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			   CK_BYTE_PTR pPlaintextPart, CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart,
			   CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags);
CK_RV C_MessageEncryptFinal(CK_SESSION_HANDLE hSession);
CK_RV C_MessageDecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey);
CK_RV C_DecryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
		       CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pCiphertext,
		       CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext, CK_ULONG_PTR pulPlaintextLen);
CK_RV C_DecryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			    CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen);
CK_RV C_DecryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			   CK_BYTE_PTR pCiphertextPart, CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart,
			   CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags);
CK_RV C_MessageDecryptFinal(CK_SESSION_HANDLE hSession);
CK_RV C_MessageSignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey);
CK_RV C_SignMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
		    CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen);
CK_RV C_SignMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen);
CK_RV C_SignMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen);
CK_RV C_MessageSignFinal(CK_SESSION_HANDLE hSession);
CK_RV C_MessageVerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey);
CK_RV C_VerifyMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
		      CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen);
CK_RV C_VerifyMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen);
CK_RV C_VerifyMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
			  CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen);
CK_RV C_MessageVerifyFinal(CK_SESSION_HANDLE hSession);

/* CK_FUNCTION_LIST_3_0: the 2.40 list followed by the 3.0 functions (same layout as the spec's struct). */
struct kms_function_list_3_0 {
	CK_FUNCTION_LIST base;
	__typeof__(&C_GetInterfaceList) C_GetInterfaceList;
	__typeof__(&C_GetInterface) C_GetInterface;
	__typeof__(&C_LoginUser) C_LoginUser;
	__typeof__(&C_SessionCancel) C_SessionCancel;
	__typeof__(&C_MessageEncryptInit) C_MessageEncryptInit;
	__typeof__(&C_EncryptMessage) C_EncryptMessage;
	__typeof__(&C_EncryptMessageBegin) C_EncryptMessageBegin;
	__typeof__(&C_EncryptMessageNext) C_EncryptMessageNext;
	__typeof__(&C_MessageEncryptFinal) C_MessageEncryptFinal;
	__typeof__(&C_MessageDecryptInit) C_MessageDecryptInit;
	__typeof__(&C_DecryptMessage) C_DecryptMessage;
	__typeof__(&C_DecryptMessageBegin) C_DecryptMessageBegin;
	__typeof__(&C_DecryptMessageNext) C_DecryptMessageNext;
	__typeof__(&C_MessageDecryptFinal) C_MessageDecryptFinal;
	__typeof__(&C_MessageSignInit) C_MessageSignInit;
	__typeof__(&C_SignMessage) C_SignMessage;
	__typeof__(&C_SignMessageBegin) C_SignMessageBegin;
	__typeof__(&C_SignMessageNext) C_SignMessageNext;
	__typeof__(&C_MessageSignFinal) C_MessageSignFinal;
	__typeof__(&C_MessageVerifyInit) C_MessageVerifyInit;
	__typeof__(&C_VerifyMessage) C_VerifyMessage;
	__typeof__(&C_VerifyMessageBegin) C_VerifyMessageBegin;
	__typeof__(&C_VerifyMessageNext) C_VerifyMessageNext;
	__typeof__(&C_MessageVerifyFinal) C_MessageVerifyFinal;
};

/* The 2.40 function list (filled in pkcs11.c). */
extern CK_FUNCTION_LIST kms_function_list;

#endif
