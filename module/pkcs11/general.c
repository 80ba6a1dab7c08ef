/* SPDX-License-Identifier: Apache-2.0 */
/* General, slot, token, session and login entry points. */
#include <stdio.h>
#include <string.h>

#include "module/pkcs11/entry.h"

/* Enters the module and finds the token of a slot: CKR_CRYPTOKI_NOT_INITIALIZED, CKR_SLOT_ID_INVALID.
 * On CKR_OK the caller leaves with kms_leave(). */
static CK_RV slot_enter(CK_SLOT_ID slot, struct kms_token **tok)
{
	CK_RV rv = kms_enter();

	if (rv != CKR_OK)
		return rv;
	rv = kms_token_lookup(slot, tok);
	if (rv != CKR_OK)
		kms_leave();
	return rv;
}

/* Leaves the module, passing rv through. */
static CK_RV leave(CK_RV rv)
{
	kms_leave();
	return rv;
}

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
	return kms_core_initialize(pInitArgs);
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
	if (pReserved)
		return CKR_ARGUMENTS_BAD;
	return kms_core_finalize();
}

/* C_GetInfo of the list of version major.minor. */
static CK_RV get_info(CK_INFO_PTR pInfo, CK_BYTE major, CK_BYTE minor)
{
	CK_RV rv = kms_core_check();

	if (rv != CKR_OK)
		return rv;
	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = major;
	pInfo->cryptokiVersion.minor = minor;
	kms_pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "kms11");
	kms_pad_copy(pInfo->libraryDescription, sizeof(pInfo->libraryDescription), "kms11 PKCS#11 key manager");
	pInfo->libraryVersion.major = 0;
	pInfo->libraryVersion.minor = 1;
	return CKR_OK;
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
	return get_info(pInfo, 2, 40);
}

CK_RV C_GetInfo30(CK_INFO_PTR pInfo)
{
	return get_info(pInfo, 3, 0);
}

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_RV rv = kms_enter();

	size_t n = 0;

	if (rv != CKR_OK)
		return rv;
	if (!pulCount)
		return leave(CKR_ARGUMENTS_BAD);
	/* With tokenPresent, a slot whose engine cannot reach its token (pkcs11 backend absent) is left out. */
	for (size_t i = 0; i < kms_mod.n_tokens; i++)
		if (!tokenPresent || kms_token_present(&kms_mod.tokens[i]))
			n++;
	if (pSlotList && *pulCount < n) {
		*pulCount = kms_ul(n);
		return leave(CKR_BUFFER_TOO_SMALL);
	}
	if (pSlotList) {
		size_t k = 0;

		for (size_t i = 0; i < kms_mod.n_tokens && k < n; i++)
			if (!tokenPresent || kms_token_present(&kms_mod.tokens[i]))
				pSlotList[k++] = kms_mod.tokens[i].slot;
		n = k;
	}
	*pulCount = kms_ul(n);
	return leave(CKR_OK);
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	struct kms_token *tok;
	char desc[80];
	CK_RV rv = slot_enter(slotID, &tok);

	if (rv != CKR_OK)
		return rv;
	if (!pInfo)
		return leave(CKR_ARGUMENTS_BAD);
	memset(pInfo, 0, sizeof(*pInfo));
	snprintf(desc, sizeof(desc), "kms11 %s (%s engine)", tok->conf_label, tok->eng->name);
	kms_pad_copy(pInfo->slotDescription, sizeof(pInfo->slotDescription), desc);
	kms_pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "kms11");
	pInfo->flags = kms_token_present(tok) ? CKF_TOKEN_PRESENT : 0;
	if (tok->eng->present)
		pInfo->flags |= CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
	pInfo->hardwareVersion.minor = 1;
	pInfo->firmwareVersion.minor = 1;
	return leave(CKR_OK);
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	struct kms_token *tok;
	CK_RV rv = slot_enter(slotID, &tok);

	if (rv != CKR_OK)
		return rv;
	if (!pInfo)
		return leave(CKR_ARGUMENTS_BAD);
	if (!kms_token_present(tok))
		return leave(CKR_TOKEN_NOT_PRESENT);
	return leave(kms_token_info(tok, pInfo));
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount)
{
	struct kms_token *tok;
	CK_RV rv = slot_enter(slotID, &tok);

	if (rv != CKR_OK)
		return rv;
	if (!pulCount)
		return leave(CKR_ARGUMENTS_BAD);
	return leave(kms_mech_list(tok, pMechanismList, pulCount));
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
	struct kms_token *tok;
	CK_RV rv = slot_enter(slotID, &tok);

	if (rv != CKR_OK)
		return rv;
	if (!pInfo)
		return leave(CKR_ARGUMENTS_BAD);
	return leave(kms_mech_info(tok, type, pInfo));
}

CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
	struct kms_token *tok;
	char label[33];
	size_t n = 32;
	CK_RV rv = slot_enter(slotID, &tok);

	if (rv != CKR_OK)
		return rv;
	if (!pLabel || (!pPin && ulPinLen))
		return leave(CKR_ARGUMENTS_BAD);
	/* The label is 32 blank-padded bytes; some callers (PyKCS11) pass a shorter NUL-terminated string,
	 * so nothing past a NUL is read. */
	n = strnlen((const char *)pLabel, 32);
	memcpy(label, pLabel, n);
	while (n > 0 && (label[n - 1] == ' ' || label[n - 1] == 0))
		n--;
	label[n] = 0;
	if (n == 0)
		snprintf(label, sizeof(label), "%s", tok->conf_label);
	return leave(kms_token_init(tok, (const char *)pPin, ulPinLen, label, NULL, 0));
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!pPin && ulPinLen) ? CKR_ARGUMENTS_BAD : kms_token_init_pin(s, (const char *)pPin, ulPinLen);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin,
	       CK_ULONG ulNewLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if ((!pOldPin && ulOldLen) || (!pNewPin && ulNewLen))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = kms_token_set_pin(s, (const char *)pOldPin, ulOldLen, (const char *)pNewPin, ulNewLen);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
		    CK_SESSION_HANDLE_PTR phSession)
{
	struct kms_token *tok;
	CK_RV rv = slot_enter(slotID, &tok);

	(void)pApplication;
	(void)Notify;
	if (rv != CKR_OK)
		return rv;
	if (!phSession)
		return leave(CKR_ARGUMENTS_BAD);
	if (!kms_token_present(tok))
		return leave(CKR_TOKEN_NOT_PRESENT);
	return leave(kms_session_open(tok, flags, phSession));
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
	CK_RV rv = kms_enter();

	if (rv != CKR_OK)
		return rv;
	return leave(kms_session_close(hSession));
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
	struct kms_token *tok;
	CK_RV rv = slot_enter(slotID, &tok);

	if (rv != CKR_OK)
		return rv;
	return leave(kms_session_close_all(tok));
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if (!pInfo) {
		rv = CKR_ARGUMENTS_BAD;
	} else {
		pInfo->slotID = s->tok->slot;
		pInfo->state = kms_session_state(s);
		pInfo->flags = s->flags;
		pInfo->ulDeviceError = 0;
	}
	return kms_session_done(s, rv, __func__);
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = (!pPin && ulPinLen) ? CKR_ARGUMENTS_BAD : kms_token_login(s, userType, (const char *)pPin, ulPinLen);
	return kms_session_done(s, rv, __func__);
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
	struct kms_session *s;
	CK_RV rv = kms_session_get(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = kms_token_logout(s->tok);
	return kms_session_done(s, rv, __func__);
}
