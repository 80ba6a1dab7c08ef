/* SPDX-License-Identifier: Apache-2.0 */
/* Object management and search entry points. */
#include "module/pkcs11/entry.h"

CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
		     CK_OBJECT_HANDLE_PTR phObject)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!phObject || (!pTemplate && ulCount)) ? CKR_ARGUMENTS_BAD : kms_obj_create(s, pTemplate, ulCount, phObject);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
		   CK_OBJECT_HANDLE_PTR phNewObject)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!phNewObject || (!pTemplate && ulCount)) ? CKR_ARGUMENTS_BAD
						       : kms_obj_copy(s, hObject, pTemplate, ulCount, phNewObject);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = kms_obj_destroy(s, hObject);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = !pulSize ? CKR_ARGUMENTS_BAD : kms_obj_size(s, hObject, pulSize);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
			  CK_ULONG ulCount)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!pTemplate && ulCount) ? CKR_ARGUMENTS_BAD : kms_obj_get_attrs(s, hObject, pTemplate, ulCount);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
			  CK_ULONG ulCount)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!pTemplate && ulCount) ? CKR_ARGUMENTS_BAD : kms_obj_set_attrs(s, hObject, pTemplate, ulCount);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!pTemplate && ulCount) ? CKR_ARGUMENTS_BAD : kms_find_init(s, pTemplate, ulCount);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
		    CK_ULONG_PTR pulObjectCount)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!phObject && ulMaxObjectCount) || !pulObjectCount
		     ? CKR_ARGUMENTS_BAD
		     : kms_find_next(s, phObject, ulMaxObjectCount, pulObjectCount);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = kms_find_final(s);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pPublicKeyTemplate,
			CK_ULONG ulPublicKeyAttributeCount, CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
			CK_ULONG ulPrivateKeyAttributeCount, CK_OBJECT_HANDLE_PTR phPublicKey,
			CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if (!pMechanism || !phPublicKey || !phPrivateKey || (!pPublicKeyTemplate && ulPublicKeyAttributeCount) ||
	    (!pPrivateKeyTemplate && ulPrivateKeyAttributeCount))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = kms_obj_generate_pair(s, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount,
					   pPrivateKeyTemplate, ulPrivateKeyAttributeCount, phPublicKey, phPrivateKey);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,
		    CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if (!pMechanism || !phKey || (!pTemplate && ulCount))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = kms_obj_generate_secret(s, pMechanism, pTemplate, ulCount, phKey);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
		CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if (!pMechanism || !pulWrappedKeyLen || (!pMechanism->pParameter && pMechanism->ulParameterLen))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = kms_obj_wrap(s, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey,
		  CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
		  CK_OBJECT_HANDLE_PTR phKey)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if (!pMechanism || !phKey || !pWrappedKey || (!pTemplate && ulAttributeCount) ||
	    (!pMechanism->pParameter && pMechanism->ulParameterLen))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = kms_obj_unwrap(s, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate,
				    ulAttributeCount, phKey);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
		  CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if (!pMechanism || !phKey || (!pTemplate && ulAttributeCount) ||
	    (!pMechanism->pParameter && pMechanism->ulParameterLen))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = kms_obj_derive(s, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey);
	return kms_session_done(s, rv, __func__);
}
