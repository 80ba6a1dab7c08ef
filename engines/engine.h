/* SPDX-License-Identifier: Apache-2.0 */
/* The engine interface: what the core asks of a key backend (OpenSSL keystore, SoftHSMv2, remote). */
#ifndef KMS_ENGINE_H
#define KMS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/attrs.h"

/*
 * Engines never see the store or PKCS#11 sessions. The core validates handles,
 * session state, key usage attributes (CKA_SIGN, ...), lifecycle, and the
 * size-query convention; the engine validates the mechanism, its parameters and
 * whether the key type fits (CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID,
 * CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_SIZE_RANGE, CKR_DATA_LEN_RANGE, ...).
 *
 * A member set to NULL means "not supported"; the core checks that in one place
 * (kms_engine_has) and answers CKR_FUNCTION_NOT_SUPPORTED or CKR_MECHANISM_INVALID.
 */

/* The kinds of operation a session can have active, one of each at a time. */
enum kms_op_kind {
	KMS_OP_DIGEST = 0,
	KMS_OP_SIGN,
	KMS_OP_VERIFY,
	KMS_OP_ENCRYPT,
	KMS_OP_DECRYPT,
	KMS_OP__COUNT
};

/* One engine setting from the config file (a key = value line of its token section). */
struct kms_engine_setting {
	const char *key;
	const char *value;
};

struct kms_engine_conf {
	const char *token_label;
	const struct kms_engine_setting *settings;
	size_t n_settings;
};

/* A mechanism the engine offers, as C_GetMechanismInfo reports it. */
struct kms_engine_mech {
	CK_MECHANISM_TYPE type;
	CK_ULONG min_key; /* bits for RSA and EC, as the spec says for each mechanism */
	CK_ULONG max_key;
	CK_FLAGS flags;   /* CKF_SIGN, CKF_VERIFY, CKF_ENCRYPT, CKF_DECRYPT, CKF_GENERATE_KEY_PAIR, CKF_EC_* ... */
};

/* Parameters of a key-pair generation, parsed from the templates by the core. */
struct kms_keygen_params {
	CK_MECHANISM_TYPE mech;     /* CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_EC_KEY_PAIR_GEN, CKM_EC_EDWARDS_KEY_PAIR_GEN,
				     * CKM_EC_MONTGOMERY_KEY_PAIR_GEN */
	CK_ULONG modulus_bits;      /* RSA */
	const uint8_t *pub_exp;     /* RSA CKA_PUBLIC_EXPONENT (big endian), NULL for 65537 */
	size_t pub_exp_len;
	const uint8_t *ec_params;   /* CKA_EC_PARAMS as given: DER OID, or DER PrintableString curve name */
	size_t ec_params_len;
	/* The private key's CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE and CKA_EXTRACTABLE (an engine that holds keys
	 * elsewhere creates them so; the openssl engine ignores them). */
	bool token, priv, sensitive, extractable;
};

/* Parameters of a secret key generation (C_GenerateKey), parsed by the core. */
struct kms_secretgen_params {
	CK_MECHANISM_TYPE mech; /* CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN */
	CK_KEY_TYPE key_type;   /* CKK_AES, CKK_GENERIC_SECRET, CKK_SHA_1_HMAC, CKK_SHA256_HMAC, ... */
	size_t len;             /* CKA_VALUE_LEN in bytes */
	/* Derivation only: CKM_HKDF_* with CKF_HKDF_SALT_KEY, the salt key the core resolved (else NULL). */
	struct kms_engine_key *salt_key;
	bool token, priv, sensitive, extractable; /* as in kms_keygen_params */
};

/*
 * What an engine returns for a key it generated or imported.
 * pub: the public attributes both halves carry, canonical forms:
 *   CKA_KEY_TYPE (CK_ULONG), CKA_PUBLIC_KEY_INFO (DER SubjectPublicKeyInfo),
 *   RSA: CKA_MODULUS, CKA_MODULUS_BITS (CK_ULONG), CKA_PUBLIC_EXPONENT;
 *   EC/Edwards: CKA_EC_PARAMS (DER OID; for Ed25519 the OID 1.3.101.112), CKA_EC_POINT (DER OCTET STRING).
 * blob: the engine's private-key blob (for openssl, PKCS#8 DER) in memory from
 *   kms_secure_alloc; NULL for a public key. The core seals it before it reaches the store.
 */
struct kms_key_material {
	struct kms_attrs pub;
	uint8_t *blob;
	size_t blob_len;
};

/* What an engine's adopt found. */
struct kms_adopt {
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	bool sensitive, extractable;
	struct kms_key_material km;
};

/* Frees pub and wipes and frees blob. */
void kms_key_material_free(struct kms_key_material *km);

/* Opaque engine objects. */
struct kms_engine_key; /* a key decoded once and kept for operations */
struct kms_engine_op;  /* one active operation */

struct kms_engine_ops {
	const char *name;

	/* Creates an engine instance; CKR_GENERAL_ERROR (with a log line) on a bad setting. */
	CK_RV (*init)(const struct kms_engine_conf *conf, void **inst);
	void (*shutdown)(void *inst);
	/* Called in a child process by C_Initialize after fork: drop inherited state without using it. */
	void (*fork_child)(void *inst);

	/* The mechanisms this instance offers; the array lives as long as the instance. */
	const struct kms_engine_mech *(*mechanisms)(void *inst, size_t *n);

	/* Generates a key pair; CKR_MECHANISM_INVALID, CKR_KEY_SIZE_RANGE, CKR_DOMAIN_PARAMS_INVALID,
	 * CKR_TEMPLATE_INCONSISTENT on bad parameters. */
	CK_RV (*generate_pair)(void *inst, const struct kms_keygen_params *p, struct kms_key_material *out);

	/* Builds key material from an import template (C_CreateObject), class CKO_PRIVATE_KEY or
	 * CKO_PUBLIC_KEY, key type CKK_RSA, CKK_EC or CKK_EC_EDWARDS. RSA private: CKA_MODULUS,
	 * CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT and optionally the CRT parts; EC private: CKA_EC_PARAMS,
	 * CKA_VALUE; public: CKA_MODULUS+CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS+CKA_EC_POINT.
	 * CKR_TEMPLATE_INCOMPLETE when a part is missing, CKR_ATTRIBUTE_VALUE_INVALID when it is malformed. */
	CK_RV (*import)(void *inst, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, const struct kms_attrs *tmpl,
			struct kms_key_material *out);

	/* Decodes a key for use: blob for a private key (from generate_pair/import), or NULL with
	 * pub's CKA_PUBLIC_KEY_INFO for a public key. */
	CK_RV (*load)(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len,
		      const struct kms_attrs *pub, struct kms_engine_key **key);
	/* Wipes and frees a decoded key. Keys are shared by threads: load/unload are the only writers. */
	void (*unload)(struct kms_engine_key *key);

	/* Value of a private component of an extractable, non-sensitive private key (CKA_PRIVATE_EXPONENT,
	 * CKA_PRIME_1, ..., CKA_VALUE for EC); malloc'd into *val (caller wipes and frees).
	 * CKR_ATTRIBUTE_TYPE_INVALID when the key has no such component. */
	CK_RV (*private_attr)(struct kms_engine_key *key, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len);

	/* Starts an operation of the given kind with mech on key. key may be NULL only for KMS_OP_DIGEST. */
	CK_RV (*op_init)(void *inst, enum kms_op_kind kind, const CK_MECHANISM *mech,
			 struct kms_engine_key *key, struct kms_engine_op **op);
	/* Largest output op_final/op_oneshot can produce for inlen bytes of input (for sign: the
	 * signature length; for decrypt: an upper bound). */
	size_t (*op_outlen)(struct kms_engine_op *op, size_t inlen);
	/* Multi-part input (sign, verify, digest; encrypt/decrypt where the mechanism streams). */
	CK_RV (*op_update)(struct kms_engine_op *op, const uint8_t *in, size_t inlen);
	/* Ends a multi-part sign/digest: writes at most *outlen bytes (the core guarantees
	 * *outlen >= op_outlen) and sets *outlen. */
	CK_RV (*op_final)(struct kms_engine_op *op, uint8_t *out, size_t *outlen);
	/* Single-part sign, encrypt, decrypt, digest; same output rule as op_final. */
	CK_RV (*op_oneshot)(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out,
			    size_t *outlen);
	/* Single-part verify: CKR_OK, CKR_SIGNATURE_INVALID or CKR_SIGNATURE_LEN_RANGE. */
	CK_RV (*op_verify)(struct kms_engine_op *op, const uint8_t *data, size_t len, const uint8_t *sig,
			   size_t siglen);
	/* Ends a multi-part verify after op_update calls. */
	CK_RV (*op_verify_final)(struct kms_engine_op *op, const uint8_t *sig, size_t siglen);
	/* Frees an operation (finished or abandoned), wiping any buffered data. */
	void (*op_free)(struct kms_engine_op *op);

	/* Secret keys (CKO_SECRET_KEY): generates a key of p->len bytes. out->pub gets CKA_KEY_TYPE,
	 * CKA_VALUE_LEN (CK_ULONG) and CKA_CHECK_VALUE (the 3-byte KCV the spec gives for the key type);
	 * out->blob the key bytes (secure memory). CKR_KEY_SIZE_RANGE for a bad length,
	 * CKR_MECHANISM_INVALID for an unknown mechanism. import() takes CKO_SECRET_KEY with CKA_VALUE
	 * the same way, and load() a secret key's blob. */
	CK_RV (*generate_secret)(void *inst, const struct kms_secretgen_params *p, struct kms_key_material *out);

	/* Multi-part encrypt/decrypt: processes in, writes at most *outlen bytes (the core guarantees
	 * *outlen >= op_update_outlen(op, inlen)) and sets *outlen. op_final then ends it with the last
	 * part (padding, GCM tag). */
	CK_RV (*op_cipher_update)(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out,
				  size_t *outlen);
	/* Largest output of op_cipher_update for inlen more bytes. */
	size_t (*op_update_outlen)(struct kms_engine_op *op, size_t inlen);

	/* C_DigestKey: feeds the value of a secret key into a digest operation (op from op_init with
	 * KMS_OP_DIGEST). CKR_KEY_INDIGESTIBLE for a key that is not a secret key. */
	CK_RV (*op_digest_key)(struct kms_engine_op *op, struct kms_engine_key *key);

	/* C_WrapKey: encrypts key with mech under wrapping. The payload is the key's value for a
	 * secret key and its PKCS#8 PrivateKeyInfo (DER) for a private key. *out is malloc'd (the
	 * caller frees it); its length depends only on mech and key, so the core may call twice to
	 * answer a size query. CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID,
	 * CKR_WRAPPING_KEY_TYPE_INCONSISTENT, CKR_KEY_NOT_WRAPPABLE, CKR_KEY_SIZE_RANGE. */
	CK_RV (*wrap)(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *wrapping,
		      struct kms_engine_key *key, uint8_t **out, size_t *outlen);
	/* C_UnwrapKey: decrypts in with mech under unwrapping into key material of class cls
	 * (CKO_SECRET_KEY or CKO_PRIVATE_KEY) and key type kt, as import() would make it. For a
	 * secret key, value_len (CKA_VALUE_LEN of the template, 0 when absent) truncates a padded
	 * value. A private key's pub carries CKA_KEY_TYPE; CKR_TEMPLATE_INCONSISTENT when it is not kt.
	 * CKR_WRAPPED_KEY_INVALID, CKR_WRAPPED_KEY_LEN_RANGE, CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT. tmpl is the new
	 * key's template (CKA_TOKEN, CKA_SENSITIVE, CKA_EXTRACTABLE for an engine that makes the key elsewhere). */
	CK_RV (*unwrap)(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *unwrapping,
			CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, size_t value_len, const uint8_t *in, size_t inlen,
			const struct kms_attrs *tmpl, struct kms_key_material *out);
	/* C_DeriveKey: derives a secret key of type p->key_type and p->len bytes (0: the natural
	 * length of the derivation) from base with mech (p->mech is mech->mechanism). Output as
	 * generate_secret. CKR_MECHANISM_PARAM_INVALID for a bad peer key or KDF,
	 * CKR_KEY_TYPE_INCONSISTENT when base does not fit mech. */
	CK_RV (*derive)(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *base,
			const struct kms_secretgen_params *p, struct kms_key_material *out);

	/* Random bytes from the engine's generator. */
	CK_RV (*random)(void *inst, uint8_t *buf, size_t len);
	/* Mixes seed material in; NULL member: the core answers CKR_RANDOM_SEED_NOT_SUPPORTED. */
	CK_RV (*seed)(void *inst, const uint8_t *buf, size_t len);

	/* Engines whose keys live behind another login (pkcs11): called after kms11's user PIN was found right,
	 * with that PIN; an error fails C_Login with it. logout: at C_Logout, at the end of the login by any
	 * other path, and at C_Finalize. */
	CK_RV (*login)(void *inst, const char *pin, size_t len);
	void (*logout)(void *inst);
	/* C_SetPIN of the user, after kms11 found old right and before it changes its own: an engine whose backend
	 * uses the same PIN changes it there; an error keeps both PINs as they were. */
	CK_RV (*set_pin)(void *inst, const char *old, size_t oldlen, const char *pin, size_t len);
	/* Destroys what the engine holds for a key (the backend objects) before kms11 deletes its record; an error
	 * keeps the record. */
	CK_RV (*destroy)(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len);
	/* False while the engine's token is not reachable (its slot shows no token); NULL: always present. */
	bool (*present)(void *inst);
	/* Takes a key the engine holds but kms11 did not make (pkcs11: a backend private or secret key named by its
	 * label, or by its CKA_ID when label is NULL): its class, type, sensitivity and key material as generate gives
	 * it. CKR_KEY_HANDLE_INVALID for none, CKR_TEMPLATE_INCONSISTENT when more than one key answers (or its CKA_ID
	 * is not its own), CKR_TEMPLATE_INCOMPLETE for a private key without a public key to serve,
	 * CKR_ACTION_PROHIBITED for a key kms11 made. */
	CK_RV (*adopt)(void *inst, const char *label, const uint8_t *id, size_t idlen, struct kms_adopt *out);
};

/* The engine registry: returns the engine of that name, or NULL. */
const struct kms_engine_ops *kms_engine_find(const char *name);

/* The openssl software keystore engine. */
extern const struct kms_engine_ops kms_engine_openssl;
/* The pkcs11 engine: keys in a token of another PKCS#11 library (engines/pkcs11/). */
extern const struct kms_engine_ops kms_engine_pkcs11;

#endif
