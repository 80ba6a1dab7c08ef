/* SPDX-License-Identifier: Apache-2.0 */
/* The function list, the interface getters (the only exported symbols) and the functions not yet offered. */
#include <string.h>

#include "module/pkcs11/entry.h"

/* PKCS#11 3.0 interface types; p11-kit's pkcs11.h is 2.40. */
typedef struct kms_ck_interface {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} KMS_CK_INTERFACE;

/* Functions this version does not offer: CKR_FUNCTION_NOT_SUPPORTED (README lists them). */
#define NOT_SUPPORTED return CKR_FUNCTION_NOT_SUPPORTED

CK_RV C_GetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR st, CK_ULONG_PTR len)
{
	(void)h, (void)st, (void)len;
	NOT_SUPPORTED;
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR st, CK_ULONG len, CK_OBJECT_HANDLE ek,
				 CK_OBJECT_HANDLE ak)
{
	(void)h, (void)st, (void)len, (void)ek, (void)ak;
	NOT_SUPPORTED;
}

CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{
	(void)h, (void)m;
	NOT_SUPPORTED;
}

CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)d, (void)dl, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG pl)
{
	(void)h, (void)p, (void)pl;
	NOT_SUPPORTED;
}

CK_RV C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
{
	(void)h, (void)k;
	NOT_SUPPORTED;
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	(void)h, (void)m, (void)k;
	NOT_SUPPORTED;
}

CK_RV C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)d, (void)dl, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	(void)h, (void)m, (void)k;
	NOT_SUPPORTED;
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)d, (void)dl, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)d, (void)dl, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)d, (void)dl, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)d, (void)dl, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)d, (void)dl, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
			   CK_OBJECT_HANDLE_PTR k)
{
	(void)h, (void)m, (void)t, (void)n, (void)k;
	NOT_SUPPORTED;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wk, CK_OBJECT_HANDLE k,
		       CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h, (void)m, (void)wk, (void)k, (void)o, (void)ol;
	NOT_SUPPORTED;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE uk, CK_BYTE_PTR w, CK_ULONG wl,
			 CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k)
{
	(void)h, (void)m, (void)uk, (void)w, (void)wl, (void)t, (void)n, (void)k;
	NOT_SUPPORTED;
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE bk, CK_ATTRIBUTE_PTR t, CK_ULONG n,
			 CK_OBJECT_HANDLE_PTR k)
{
	(void)h, (void)m, (void)bk, (void)t, (void)n, (void)k;
	NOT_SUPPORTED;
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
	CK_RV rv = kms_core_check();

	(void)h;
	return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE h)
{
	CK_RV rv = kms_core_check();

	(void)h;
	return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	(void)flags, (void)slot, (void)reserved;
	NOT_SUPPORTED;
}

KMS_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);

CK_FUNCTION_LIST kms_function_list = {
	.version = {2, 40},
	.C_Initialize = C_Initialize,
	.C_Finalize = C_Finalize,
	.C_GetInfo = C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = C_GetSlotList,
	.C_GetSlotInfo = C_GetSlotInfo,
	.C_GetTokenInfo = C_GetTokenInfo,
	.C_GetMechanismList = C_GetMechanismList,
	.C_GetMechanismInfo = C_GetMechanismInfo,
	.C_InitToken = C_InitToken,
	.C_InitPIN = C_InitPIN,
	.C_SetPIN = C_SetPIN,
	.C_OpenSession = C_OpenSession,
	.C_CloseSession = C_CloseSession,
	.C_CloseAllSessions = C_CloseAllSessions,
	.C_GetSessionInfo = C_GetSessionInfo,
	.C_GetOperationState = C_GetOperationState,
	.C_SetOperationState = C_SetOperationState,
	.C_Login = C_Login,
	.C_Logout = C_Logout,
	.C_CreateObject = C_CreateObject,
	.C_CopyObject = C_CopyObject,
	.C_DestroyObject = C_DestroyObject,
	.C_GetObjectSize = C_GetObjectSize,
	.C_GetAttributeValue = C_GetAttributeValue,
	.C_SetAttributeValue = C_SetAttributeValue,
	.C_FindObjectsInit = C_FindObjectsInit,
	.C_FindObjects = C_FindObjects,
	.C_FindObjectsFinal = C_FindObjectsFinal,
	.C_EncryptInit = C_EncryptInit,
	.C_Encrypt = C_Encrypt,
	.C_EncryptUpdate = C_EncryptUpdate,
	.C_EncryptFinal = C_EncryptFinal,
	.C_DecryptInit = C_DecryptInit,
	.C_Decrypt = C_Decrypt,
	.C_DecryptUpdate = C_DecryptUpdate,
	.C_DecryptFinal = C_DecryptFinal,
	.C_DigestInit = C_DigestInit,
	.C_Digest = C_Digest,
	.C_DigestUpdate = C_DigestUpdate,
	.C_DigestKey = C_DigestKey,
	.C_DigestFinal = C_DigestFinal,
	.C_SignInit = C_SignInit,
	.C_Sign = C_Sign,
	.C_SignUpdate = C_SignUpdate,
	.C_SignFinal = C_SignFinal,
	.C_SignRecoverInit = C_SignRecoverInit,
	.C_SignRecover = C_SignRecover,
	.C_VerifyInit = C_VerifyInit,
	.C_Verify = C_Verify,
	.C_VerifyUpdate = C_VerifyUpdate,
	.C_VerifyFinal = C_VerifyFinal,
	.C_VerifyRecoverInit = C_VerifyRecoverInit,
	.C_VerifyRecover = C_VerifyRecover,
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
	.C_GenerateKey = C_GenerateKey,
	.C_GenerateKeyPair = C_GenerateKeyPair,
	.C_WrapKey = C_WrapKey,
	.C_UnwrapKey = C_UnwrapKey,
	.C_DeriveKey = C_DeriveKey,
	.C_SeedRandom = C_SeedRandom,
	.C_GenerateRandom = C_GenerateRandom,
	.C_GetFunctionStatus = C_GetFunctionStatus,
	.C_CancelFunction = C_CancelFunction,
	.C_WaitForSlotEvent = C_WaitForSlotEvent,
};

static CK_CHAR interface_name[] = "PKCS 11";

static KMS_CK_INTERFACE interfaces[] = {
	{interface_name, &kms_function_list, 0},
};

#define N_INTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

KMS_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (!ppFunctionList)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &kms_function_list;
	return CKR_OK;
}

KMS_EXPORT CK_RV C_GetInterfaceList(KMS_CK_INTERFACE *pInterfacesList, CK_ULONG_PTR pulCount);
KMS_EXPORT CK_RV C_GetInterfaceList(KMS_CK_INTERFACE *pInterfacesList, CK_ULONG_PTR pulCount)
{
	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	if (pInterfacesList && *pulCount < N_INTERFACES) {
		*pulCount = N_INTERFACES;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (pInterfacesList)
		memcpy(pInterfacesList, interfaces, sizeof(interfaces));
	*pulCount = N_INTERFACES;
	return CKR_OK;
}

KMS_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
				KMS_CK_INTERFACE **ppInterface, CK_FLAGS flags);
KMS_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
				KMS_CK_INTERFACE **ppInterface, CK_FLAGS flags)
{
	if (!ppInterface)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < N_INTERFACES; i++) {
		const CK_FUNCTION_LIST *fl = interfaces[i].pFunctionList;

		if (pInterfaceName && strcmp((const char *)pInterfaceName, (const char *)interfaces[i].pInterfaceName))
			continue;
		if (pVersion && (pVersion->major != fl->version.major || pVersion->minor != fl->version.minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*ppInterface = &interfaces[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}
