/* SPDX-License-Identifier: Apache-2.0 */
/* The pkcs11 engine's internals: the backend library, its token, the session pool, keys and operations. */
#ifndef KMS_ENGINE_P11_H
#define KMS_ENGINE_P11_H

#include <pthread.h>
#include <stdbool.h>

#include <openssl/evp.h>

#include "engines/engine.h"

/* A backend library loaded once per process and shared by the tokens that name it (backend.c). */
struct p11_lib;

struct p11_inst {
	char label[64];             /* the kms11 token's label, for log lines */
	char *library, *backend_label, *backend_serial, *pin_file;
	struct p11_lib *lib;
	CK_FUNCTION_LIST *f;        /* the backend's function list (the 2.40 part of a 3.0 list) */
	CK_SLOT_ID slot;
	bool have_slot;
	pthread_mutex_t lock;       /* guards the pool, the slot, the PIN and the epoch */
	pthread_mutex_t keeper_lock; /* one call at a time in the keeper session */
	CK_SESSION_HANDLE keeper;   /* where session keys are made (backend.c) */
	bool have_keeper;
	CK_SESSION_HANDLE *pool;    /* idle backend sessions */
	size_t npool, cap;
	unsigned long epoch;        /* moves when the backend's sessions were lost: object handles are found again */
	uint8_t *pin;               /* the backend PIN while logged in (secure memory), for logging in again */
	size_t pinlen;
	bool logged_in;
	struct kms_engine_mech *mechs;
	size_t n_mechs;
	void *soft;                 /* an openssl engine instance: public-key operations and key formats */
};

/* The reference an engine blob holds: the backend objects' CKA_ID and the key's class. kms11 makes 16-byte ids; an
 * adopted key keeps the backend's, up to P11_ID_MAX bytes. */
#define P11_ID_LEN 16
#define P11_ID_MAX 64
struct p11_key {
	struct p11_inst *in;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	uint8_t id[P11_ID_MAX];
	size_t idlen;
	CK_OBJECT_HANDLE h;         /* the backend private or secret key, valid while epoch matches */
	unsigned long epoch;
	size_t siglen;              /* RSA: modulus bytes; EC: 2 * field bytes; Edwards: 64 or 114 */
	struct kms_engine_key *soft; /* a public key: the openssl engine's key */
	struct kms_attrs pub;       /* a public key: its parts, to make a backend object of it for wrapping */
};

/* backend.c */
CK_RV p11_backend_open(struct p11_inst *in);
void p11_backend_close(struct p11_inst *in);
void p11_backend_forget(struct p11_inst *in);
/* True when the backend token is in a slot (looked for again when it was not). */
bool p11_backend_probe(struct p11_inst *in);
/* Takes an idle backend session (opening one, logging in again after a loss, as needed); CK_RV of the backend. */
CK_RV p11_session_get(struct p11_inst *in, CK_SESSION_HANDLE *s);
/* Returns a session to the pool; when rv says the session or the device was lost, closes it instead and, for a
 * lost device, ends every pooled session (the next p11_session_get starts again). */
void p11_session_put(struct p11_inst *in, CK_SESSION_HANDLE s, CK_RV rv);
/* The session to make a key in: a pooled one for a token key, the keeper session (held until p11_maker_put) for a
 * session key, whose backend object must outlive any operation's session. */
CK_RV p11_maker_get(struct p11_inst *in, bool token, CK_SESSION_HANDLE *s);
void p11_maker_put(struct p11_inst *in, bool token, CK_SESSION_HANDLE s, CK_RV rv);
/* True for codes that mean the session, the token or the device is gone. */
bool p11_rv_lost(CK_RV rv);
CK_RV p11_login(void *inst, const char *pin, size_t len);
void p11_logout(void *inst);
CK_RV p11_set_pin(void *inst, const char *old, size_t oldlen, const char *pin, size_t len);
const char *p11_rv_name(CK_RV rv);

/* keys.c */
/* What every backend private or secret key kms11 makes carries: its class, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
 * CKA_EXTRACTABLE, a fresh CKA_ID with the label made from it, and last its key type (leave that one out, with
 * P11_KEY_HEAD_N - 1 attributes, when the backend is to take it from what it unwraps). */
struct p11_key_head {
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	CK_BBOOL tok, priv, sens, extr;
	uint8_t id[P11_ID_LEN];
	char label[48];
};
#define P11_KEY_HEAD_N 8
/* Fills h and its P11_KEY_HEAD_N attributes into a; CKR_FUNCTION_FAILED when no random id can be made. */
CK_RV p11_key_head(struct p11_key_head *h, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, bool tok, bool priv, bool sens,
		   bool extr, CK_ATTRIBUTE *a);
/* The blob that references the backend objects holding CKA_ID id. */
CK_RV p11_blob_make(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, bool priv, const uint8_t *id, size_t idlen,
		    struct kms_key_material *out);
/* Up to max backend objects of class cls whose attribute `by` is v; the backend's code. */
CK_RV p11_find(struct p11_inst *in, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE by, const void *v,
	       size_t vlen, CK_OBJECT_HANDLE *hs, CK_ULONG max, CK_ULONG *n);
/* One attribute of a backend object, malloc'd; the backend's code on failure. */
CK_RV p11_get_attr(struct p11_inst *in, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
		   uint8_t **val, CK_ULONG *len);
/* The canonical public attributes of backend object h (RSA modulus and exponent, or EC parameters and point). */
CK_RV p11_public_from_backend(struct p11_inst *in, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_KEY_TYPE kt,
			      struct kms_attrs *pub);
CK_RV p11_generate_pair(void *inst, const struct kms_keygen_params *p, struct kms_key_material *out);
CK_RV p11_generate_secret(void *inst, const struct kms_secretgen_params *p, struct kms_key_material *out);
CK_RV p11_import(void *inst, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, const struct kms_attrs *tmpl,
		 struct kms_key_material *out);
CK_RV p11_load(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len, const struct kms_attrs *pub,
	       struct kms_engine_key **key);
void p11_unload(struct kms_engine_key *key);
CK_RV p11_private_attr(struct kms_engine_key *key, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len);
CK_RV p11_destroy(void *inst, CK_OBJECT_CLASS cls, const uint8_t *blob, size_t blob_len);
CK_RV p11_adopt(void *inst, const char *label, const uint8_t *id, size_t idlen, struct kms_adopt *out);
/* The backend handle of a key for this epoch (found again by CKA_ID when the epoch moved). */
CK_RV p11_key_handle(struct p11_inst *in, CK_SESSION_HANDLE s, struct p11_key *k, CK_OBJECT_HANDLE *h);

/* wrap.c */
CK_RV p11_wrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *wrapping, struct kms_engine_key *key,
	       uint8_t **out, size_t *outlen);
CK_RV p11_unwrap(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *unwrapping, CK_OBJECT_CLASS cls,
		 CK_KEY_TYPE kt, size_t value_len, const uint8_t *in, size_t inlen, const struct kms_attrs *tmpl,
		 struct kms_key_material *out);
CK_RV p11_derive(void *inst, const CK_MECHANISM *mech, struct kms_engine_key *base,
		 const struct kms_secretgen_params *p, struct kms_key_material *out);

/* ops.c */
CK_RV p11_op_init(void *inst, enum kms_op_kind kind, const CK_MECHANISM *mech, struct kms_engine_key *key,
		  struct kms_engine_op **op);
size_t p11_op_outlen(struct kms_engine_op *op, size_t inlen);
CK_RV p11_op_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen);
CK_RV p11_op_final(struct kms_engine_op *op, uint8_t *out, size_t *outlen);
CK_RV p11_op_oneshot(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);
CK_RV p11_op_verify(struct kms_engine_op *op, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen);
CK_RV p11_op_verify_final(struct kms_engine_op *op, const uint8_t *sig, size_t siglen);
CK_RV p11_op_cipher_update(struct kms_engine_op *op, const uint8_t *in, size_t inlen, uint8_t *out,
			   size_t *outlen);
size_t p11_op_update_outlen(struct kms_engine_op *op, size_t inlen);
void p11_op_free(struct kms_engine_op *op);
/* oaep.c: whether kms11 can decode OAEP with these parameters, and the decoding of a raw RSA block em of k bytes
 * (CKR_ENCRYPTED_DATA_INVALID for any failure, in constant time). */
bool p11_oaep_params_ok(const CK_RSA_PKCS_OAEP_PARAMS *p);
CK_RV p11_oaep_unpad(const CK_RSA_PKCS_OAEP_PARAMS *p, const uint8_t *em, size_t k, uint8_t *out, size_t *outlen);
/* A hash and the mechanisms named after it (ops.c), found by one of them; NULL for none. */
struct p11_hash {
	const char *name; /* OpenSSL's */
	size_t len;
	CK_MECHANISM_TYPE hash, ecdsa, hmac;
	CK_RSA_PKCS_MGF_TYPE mgf;
};
enum p11_hash_by { P11_BY_HASH, P11_BY_ECDSA, P11_BY_HMAC, P11_BY_MGF };
const struct p11_hash *p11_hash_of(enum p11_hash_by by, CK_ULONG v);
/* Its EVP_MD in kms11's library context, fetched once per process; NULL when OpenSSL lacks it. */
const EVP_MD *p11_hash_md(const struct p11_hash *h);
/* Digest size of a hash mechanism, 0 for another. */
size_t p11_hash_len(CK_MECHANISM_TYPE m);

#endif
