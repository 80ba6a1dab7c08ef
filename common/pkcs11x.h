/* SPDX-License-Identifier: Apache-2.0 */
/* PKCS#11 3.0 constants and types that p11-kit's 2.40 header lacks, shared by the core and engines. */
#ifndef KMS_PKCS11X_H
#define KMS_PKCS11X_H

#include <p11-kit/pkcs11.h>

#ifndef CKK_EC_MONTGOMERY
#define CKK_EC_MONTGOMERY 0x41UL
#endif
#ifndef CKM_EC_MONTGOMERY_KEY_PAIR_GEN
#define CKM_EC_MONTGOMERY_KEY_PAIR_GEN 0x1056UL
#endif
#ifndef CKM_AES_KEY_WRAP_KWP
#define CKM_AES_KEY_WRAP_KWP 0x210BUL
#endif
#ifndef CKM_SHA3_256
#define CKM_SHA3_256 0x2B0UL
#define CKM_SHA3_384 0x2C0UL
#define CKM_SHA3_512 0x2D0UL
#endif
#ifndef CKA_UNIQUE_ID
#define CKA_UNIQUE_ID 0x04UL
#endif
#ifndef CKA_PROFILE_ID
#define CKA_PROFILE_ID 0x601UL
#endif
#ifndef CKO_PROFILE
#define CKO_PROFILE 0x09UL
#endif
#ifndef CKR_OPERATION_CANCEL_FAILED
#define CKR_OPERATION_CANCEL_FAILED 0x202UL
#endif
#ifndef CKR_AEAD_DECRYPT_FAILED
#define CKR_AEAD_DECRYPT_FAILED 0x35UL
#endif
#ifndef CKF_FIND_OBJECTS
#define CKF_FIND_OBJECTS 0x40UL
#endif
#ifndef CKF_INTERFACE_FORK_SAFE
#define CKF_INTERFACE_FORK_SAFE 0x1UL
#endif
#ifndef CKF_END_OF_MESSAGE
#define CKF_END_OF_MESSAGE 0x1UL
#endif
#ifndef CKF_MESSAGE_ENCRYPT
#define CKF_MESSAGE_ENCRYPT 0x2UL
#define CKF_MESSAGE_DECRYPT 0x4UL
#define CKF_MESSAGE_SIGN 0x8UL
#define CKF_MESSAGE_VERIFY 0x10UL
#define CKF_MULTI_MESSAGE 0x20UL
#endif

#ifndef CKM_HKDF_DERIVE
#define CKM_HKDF_DERIVE 0x402AUL
#define CKM_HKDF_DATA 0x402BUL
#define CKM_HKDF_KEY_GEN 0x402CUL
#endif
#ifndef CKK_HKDF
#define CKK_HKDF 0x42UL
#endif
#ifndef CKF_HKDF_SALT_NULL
#define CKF_HKDF_SALT_NULL 0x1UL
#define CKF_HKDF_SALT_DATA 0x2UL
#define CKF_HKDF_SALT_KEY 0x4UL
#endif

/* CK_HKDF_PARAMS (3.0). */
struct kms_ck_hkdf_params {
	CK_BBOOL bExtract;
	CK_BBOOL bExpand;
	CK_MECHANISM_TYPE prfHashMechanism;
	CK_ULONG ulSaltType;
	CK_BYTE_PTR pSalt;
	CK_ULONG ulSaltLen;
	CK_OBJECT_HANDLE hSaltKey;
	CK_BYTE_PTR pInfo;
	CK_ULONG ulInfoLen;
};

/* CK_PROFILE_ID values. */
#define KMS_CKP_BASELINE_PROVIDER 0x1UL

/* CK_GENERATOR_FUNCTION values of CK_GCM_MESSAGE_PARAMS. */
#define KMS_CKG_NO_GENERATE 0x0UL
#define KMS_CKG_GENERATE 0x1UL
#define KMS_CKG_GENERATE_COUNTER 0x2UL
#define KMS_CKG_GENERATE_RANDOM 0x3UL
#define KMS_CKG_GENERATE_COUNTER_XOR 0x4UL

/* CK_GCM_PARAMS as PKCS#11 2.40 printed it (no ulIvBits); some clients still send this layout. */
struct kms_ck_gcm_params_240 {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
};

/* CK_GCM_MESSAGE_PARAMS (3.0, message-based AES-GCM). */
struct kms_ck_gcm_message_params {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_ULONG ulIvFixedBits;
	CK_ULONG ivGenerator;
	CK_BYTE_PTR pTag;
	CK_ULONG ulTagBits;
};

/* CK_RSA_AES_KEY_WRAP_PARAMS. */
struct kms_ck_rsa_aes_key_wrap_params {
	CK_ULONG ulAESKeyBits;
	CK_RSA_PKCS_OAEP_PARAMS *pOAEPParams;
};

/* CK_EDDSA_PARAMS. */
struct kms_ck_eddsa_params {
	CK_BBOOL phFlag;
	CK_ULONG ulContextDataLen;
	CK_BYTE_PTR pContextData;
};

#endif
