/* SPDX-License-Identifier: Apache-2.0 */
/* The core's shared state: module, tokens, sessions, objects and the vendor attributes. */
#ifndef KMS_CORE_H
#define KMS_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/attrs.h"
#include "common/pkcs11x.h"
#include "common/util.h"
#include "engines/engine.h"
#include "include/kms11.h"
#include "module/core/config.h"
#include "module/core/lock.h"
#include "storage/store.h"

/* The management fields are the vendor attributes of include/kms11.h. Internal attributes, above this mark, never leave the module. */
#define CKA_KMS11_INTERNAL (CKA_KMS11_BASE + 0x8000)
#define CKA_KMS11_SEALED (CKA_KMS11_INTERNAL + 0x01) /* sealed engine blob */

#define KMS_MAX_PIN 256
#define KMS_MIN_PIN 4
#define KMS_PIN_TRIES 10
#define KMS_TOKEN_KEY_LEN 32
#define KMS_EPOCH_LEN 16
/* Session object ids carry this bit; token object ids stay below 2^62. */
#define KMS_SESSION_OBJ_BIT (1ULL << 62)
#define KMS_NO_USER ((CK_USER_TYPE)-1)
/* The token's profile object (CKO_PROFILE), held with the session objects but owned by none. */
#define KMS_PROFILE_OBJ_ID (KMS_SESSION_OBJ_BIT | (KMS_SESSION_OBJ_BIT >> 1))

/* A key's cached decoded form, shared by operations; freed when the last reference goes. */
struct kms_keyref {
	atomic_int refs;
	const struct kms_engine_ops *eng;
	struct kms_engine_key *k;
};

/* An object as the core sees it: its attributes and, for keys, the decoded key. */
struct kms_obj {
	atomic_int refs;
	uint64_t id;       /* handle */
	uint64_t gen;      /* store generation the attributes were read at (token objects) */
	bool is_token;
	CK_SESSION_HANDLE owner; /* session that created a session object */
	struct kms_attrs attrs;
	struct kms_lock key_lock; /* guards key loading */
	struct kms_keyref *key;   /* NULL until first use */
	uint8_t *blob;            /* session private keys: the engine blob, in secure memory */
	size_t blob_len;
	/* Lifecycle facts of a key, read from its attributes once, when the object is made, so that starting
	 * an operation reads no attribute and no store record for them. */
	unsigned long state; /* CKA_KMS11_STATE (KMS11_STATE_ENABLED when absent) */
	time_t not_after;    /* CKA_KMS11_EXPIRATION_DATE; 0 when none */
	bool old_version;    /* CKA_KMS11_PRIMARY false: a rotated key's older version */
};

struct kms_token {
	CK_SLOT_ID slot;
	char conf_label[33];
	uint32_t no; /* store token number */
	const struct kms_engine_ops *eng;
	void *einst;

	struct kms_lock lock; /* guards the fields below */
	CK_USER_TYPE login;   /* KMS_NO_USER, CKU_USER or CKU_SO */
	uint8_t *token_key;   /* secure memory while logged in */
	struct kms_map cache; /* token object id -> struct kms_obj* */
	struct kms_map sobjs; /* session object id -> struct kms_obj* */
	uint8_t epoch[KMS_EPOCH_LEN]; /* the token record's epoch when this process logged in */
	atomic_uint_least64_t epoch_gen; /* store generation at which the epoch was last found current */
	atomic_uint sess_epoch;          /* sessions opened under an older value have ended */

	/* Presence: while this process has sessions on the token it holds a shared lock on the token's
	 * lock file in the store directory; C_InitToken takes it exclusively. */
	struct kms_lock presence_lock; /* guards the two fields below */
	int presence_fd;               /* -1 until first needed */
	size_t presence_n;             /* sessions of this process on the token */
};

struct kms_find {
	bool active;
	uint64_t *ids;
	size_t n, pos;
};

struct kms_active {
	struct kms_engine_op *eop;
	struct kms_keyref *key;
	CK_MECHANISM_TYPE mech;
	bool multipart;  /* an Update was called */
	bool singlepart; /* a single-part call was made (a size query, or one answered CKR_BUFFER_TOO_SMALL) */
	bool needs_auth; /* the key has CKA_ALWAYS_AUTHENTICATE: C_Login(CKU_CONTEXT_SPECIFIC) must come first */
	bool authed;     /* ... and it came */
	/* Output the engine has produced already that the caller's buffer could not take (a decryption
	 * whose exact length was only known after it ran): the retry gets it, the engine is not run again.
	 * Secure memory. */
	uint8_t *held;
	size_t held_len;
};

/* The message-based operations of PKCS#11 3.0, one of each kind per session. */
enum kms_msg_kind { KMS_MSG_ENCRYPT = 0, KMS_MSG_DECRYPT, KMS_MSG_SIGN, KMS_MSG_VERIFY, KMS_MSG__COUNT };

struct kms_msg {
	struct kms_keyref *key; /* non-NULL while the operation is active */
	CK_MECHANISM_TYPE mech;
	uint8_t *param; /* the mechanism parameter given at init (sign and verify) */
	size_t param_len;
	struct kms_engine_op *eop; /* the message begun with C_*MessageBegin */
	uint64_t counter;          /* CKG_GENERATE_COUNTER IVs */
};

struct kms_session {
	atomic_int refs; /* the table's and each caller's */
	bool closed;
	unsigned epoch; /* the token's sess_epoch when the session was opened */
	CK_SESSION_HANDLE h;
	struct kms_token *tok;
	CK_FLAGS flags;
	struct kms_lock lock;
	struct kms_active op[KMS_OP__COUNT];
	struct kms_msg msg[KMS_MSG__COUNT];
	struct kms_find find;
	/* Set by the management plane on a session of its own: facts every key it creates gets (merged last), and
	 * a change of the key's existing objects made in the transaction that stores the new ones (a rotation). */
	const struct kms_attrs *facts;
	const struct kms_store_key_change *key_change;
	/* When set: token objects the session creates are held here, and written together by kms_obj_batch_commit. */
	struct kms_obj_batch *batch;
};

/* Token objects made ready (ids allocated, key material sealed) but not yet written: a key pair imported as two
 * C_CreateObject calls goes to the store in one transaction. */
#define KMS_OBJ_BATCH_MAX 4
struct kms_obj_batch {
	uint64_t ids[KMS_OBJ_BATCH_MAX];
	struct kms_attrs attrs[KMS_OBJ_BATCH_MAX];
	/* The engine blobs of an engine that keeps keys elsewhere (it has destroy): what to destroy there when the
	 * objects are never written. */
	uint8_t *blob[KMS_OBJ_BATCH_MAX];
	size_t bloblen[KMS_OBJ_BATCH_MAX];
	CK_OBJECT_CLASS cls[KMS_OBJ_BATCH_MAX];
	size_t n;
};

struct kms_module {
	bool initialized;
	unsigned fork_gen;
	struct kms_lock lock; /* sessions table, counters */
	struct kms_conf conf;
	/* NULL while the store directory does not exist (see kms_mod_store); set once, then kept until
	 * C_Finalize. */
	struct kms_store *store;
	struct kms_token *tokens;
	size_t n_tokens;
	struct kms_map sessions; /* handle -> struct kms_session* */
	CK_SESSION_HANDLE next_session;
	_Atomic uint64_t next_sobj;
};

extern struct kms_module kms_mod;
extern atomic_uint kms_fork_gen;

/* init.c */
CK_RV kms_core_initialize(CK_C_INITIALIZE_ARGS *args);
CK_RV kms_core_finalize(void);
/* Every entry point that uses the module's state runs between kms_enter and kms_leave: kms_enter
 * counts the call in (CKR_CRYPTOKI_NOT_INITIALIZED, nothing counted, when the module is not
 * initialised in this process or is being finalised); C_Finalize waits for the calls in flight to
 * leave before it frees anything. */
CK_RV kms_enter(void);
void kms_leave(void);
/* CKR_CRYPTOKI_NOT_INITIALIZED unless initialised in this process. */
static inline CK_RV kms_core_check(void)
{
	return (kms_mod.initialized && kms_mod.fork_gen == atomic_load(&kms_fork_gen)) ? CKR_OK
										   : CKR_CRYPTOKI_NOT_INITIALIZED;
}
/* CKR_SLOT_ID_INVALID for an unknown slot. */
CK_RV kms_token_lookup(CK_SLOT_ID slot, struct kms_token **tok);
/* The store. C_Initialize opens it when its directory exists; when it does not, nothing is made until the
 * first write: kms_mod_store(true, ...) creates and opens it then (initialising a token, storing a token
 * object), while kms_mod_store(false, ...) only opens one that another process has made since. Returns the
 * store, or NULL with *rv CKR_OK (no store yet: no token record, no object) or the reason it cannot be
 * opened. */
struct kms_store *kms_mod_store(bool create, CK_RV *rv);
/* The store as it is now, NULL when there is none yet (another thread may be opening it). */
static inline struct kms_store *kms_mod_store_now(void)
{
	return __atomic_load_n(&kms_mod.store, __ATOMIC_ACQUIRE);
}

/* token.c */
CK_RV kms_token_info(struct kms_token *tok, CK_TOKEN_INFO *info);
/* False while the token's engine cannot reach where its keys are (a pkcs11 backend token that is absent). */
bool kms_token_present(struct kms_token *tok);
/* Label shown for the token (the init label, else the config label), trimmed. */
void kms_token_label(struct kms_token *tok, char out[33]);
/* C_InitToken: the token made anew with label and SO PIN, its objects gone (and the engine's keys, for an engine
 * that keeps them elsewhere); with user_pin (else NULL) the user PIN is set in the same store transaction, so no
 * token is ever left initialised without it. */
CK_RV kms_token_init(struct kms_token *tok, const char *so_pin, size_t so_len, const char *label, const char *user_pin,
		     size_t user_len);
CK_RV kms_token_login(struct kms_session *s, CK_USER_TYPE user, const char *pin, size_t len);
CK_RV kms_token_logout(struct kms_token *tok);
/* Checks the user PIN (counted like a login) without changing the login state; codes as C_Login. */
CK_RV kms_token_check_user_pin(struct kms_token *tok, const char *pin, size_t len);
CK_RV kms_token_init_pin(struct kms_session *s, const char *pin, size_t len);
CK_RV kms_token_set_pin(struct kms_session *s, const char *old, size_t oldlen, const char *pin, size_t len);
/* Drops login state and cached keys of a token (logout, last session closed, finalize). */
void kms_token_forget_login_locked(struct kms_token *tok);
/* Checks, when the token is logged in, that no process has initialised it again since: cheap while the
 * store's generation has not moved. A stale login is dropped and the token's sessions end:
 * CKR_USER_NOT_LOGGED_IN then, CKR_DEVICE_ERROR when the record cannot be read. */
CK_RV kms_token_check_epoch(struct kms_token *tok);
/* The seal key of the token's public objects (CKA_PRIVATE false), which needs no PIN: it is in the token
 * record in clear, so such objects are protected only by the store's file permissions. *key is secure
 * memory (kms_secure_free). create: a record written before these keys gets one; otherwise a token
 * without one answers CKR_ENCRYPTED_DATA_INVALID (nothing can have been sealed under it). *current
 * (when not NULL) tells whether the token's objects are in the current seal version (else the next
 * login migrates them). */
CK_RV kms_token_public_key(struct kms_token *tok, bool create, uint8_t **key, bool *current);

/* presence.c */
/* Sets up the presence fields of a token (no file is opened yet); CKR_HOST_MEMORY. */
CK_RV kms_presence_init(struct kms_token *tok);
/* Frees them; closing the file ends this process's presence. In a fork child (inherited) the file is
 * only closed: the parent's lock stays. */
void kms_presence_close(struct kms_token *tok);
/* A session of this process opens on tok (the first takes the shared lock, waiting while another
 * process initialises the token); CKR_DEVICE_ERROR when the lock file cannot be used. */
CK_RV kms_presence_add(struct kms_token *tok);
/* A session of this process on tok ends (the last one drops the shared lock). */
void kms_presence_drop(struct kms_token *tok);
/* Takes the token's lock file exclusively for C_InitToken: CKR_SESSION_EXISTS while another process
 * has a session on the token. Release with kms_presence_release. */
CK_RV kms_presence_exclusive(struct kms_token *tok);
void kms_presence_release(struct kms_token *tok);

/* seal.c */
/* Makes sure the token has its public seal key, before a store write transaction that may seal a public
 * object begins (the key is created in a transaction of its own). */
CK_RV kms_seal_public_ready(struct kms_token *tok);
/* Seals an engine blob (or a private data value) for token object id with attributes a (final: the
 * guarded ones are bound into the seal) under the token key; CKR_USER_NOT_LOGGED_IN without the user. */
CK_RV kms_token_seal(struct kms_token *tok, uint64_t id, const struct kms_attrs *a, const uint8_t *blob, size_t len,
		     uint8_t **out, size_t *outlen);
/* Opens the seal (CKA_KMS11_SEALED) of token object id with attributes a into secure memory;
 * CKR_USER_NOT_LOGGED_IN, CKR_DEVICE_ERROR (logged) when it is missing or does not open. */
CK_RV kms_token_unseal(struct kms_token *tok, uint64_t id, const struct kms_attrs *a, uint8_t **blob,
		       size_t *bloblen);
/* Calls fn with the opened blob of each token object of class cls (the token key of any login opens them), in
 * id order; stops at the first error (a seal that does not open, or fn's) and returns it. */
CK_RV kms_token_each_blob(struct kms_token *tok, CK_OBJECT_CLASS cls,
			  CK_RV (*fn)(void *ctx, uint64_t id, const uint8_t *blob, size_t len), void *ctx);
/* The same with the token key of any login (the SO's at C_InitToken). */
CK_RV kms_token_unseal_any(struct kms_token *tok, uint64_t id, const struct kms_attrs *a, uint8_t **blob,
			   size_t *bloblen);
/* True when a and b agree on every attribute bound into a seal. */
bool kms_seal_guards_equal(const struct kms_attrs *a, const struct kms_attrs *b);
/* True for a data object's attributes. */
bool kms_seal_is_data(const struct kms_attrs *a);
/* Keeps the seal of token object id right when its attributes go from cur to next (value_set: the
 * template gave a new CKA_VALUE, clear in next): resealed when a guarded attribute changed, a private
 * data value sealed (or put back in clear when the object becomes public). CKR_USER_NOT_LOGGED_IN
 * without the token key, CKR_DEVICE_ERROR when the old seal does not open. */
CK_RV kms_seal_update(struct kms_token *tok, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next,
		      bool value_set);
/* The sealed CKA_VALUE of a private token data object; codes as kms_token_unseal. */
CK_RV kms_seal_data_value(struct kms_session *s, const struct kms_obj *o, uint8_t **val, size_t *len);
/* Seals again, in one transaction, every object of tok sealed by an older version or holding a private
 * data value in clear (needs the token key); store codes. */
CK_RV kms_seal_migrate(struct kms_token *tok);

/* pin.c: the KDF and AES-GCM wrapping helpers */
struct kms_kdf {
	uint64_t n;
	uint32_t r, p;
	uint8_t salt[16];
};
/* Default scrypt parameters with a fresh salt. */
CK_RV kms_kdf_new(struct kms_kdf *kdf);
/* Derives a 32-byte key from a PIN; CKR_HOST_MEMORY / CKR_GENERAL_ERROR on failure. */
CK_RV kms_kdf_derive(const struct kms_kdf *kdf, const char *pin, size_t len, uint8_t key[32]);
/* AES-256-GCM seal: out = nonce(12) || ciphertext || tag(16), malloc'd. */
CK_RV kms_gcm_seal(const uint8_t key[32], const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		   uint8_t **out, size_t *outlen);
/* Opens a seal into secure memory; CKR_ENCRYPTED_DATA_INVALID when the tag does not match. */
CK_RV kms_gcm_open(const uint8_t key[32], const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		   uint8_t **out, size_t *outlen);

/* session.c */
/* Enters the module (kms_enter), looks up and locks a session: CKR_CRYPTOKI_NOT_INITIALIZED,
 * CKR_SESSION_HANDLE_INVALID. kms_session_put unlocks it and leaves the module. */
CK_RV kms_session_get(CK_SESSION_HANDLE h, struct kms_session **s);
void kms_session_put(struct kms_session *s);
/* kms_session_put, then rv, logged with the function's name when the call failed (KMS11_DEBUG=3), after the
 * lines that say why where the reason is known (a wrong PIN, a template's attribute, a curve). */
CK_RV kms_session_done(struct kms_session *s, CK_RV rv, const char *fn);
CK_RV kms_session_open(struct kms_token *tok, CK_FLAGS flags, CK_SESSION_HANDLE *h);
CK_RV kms_session_close(CK_SESSION_HANDLE h);
CK_RV kms_session_close_all(struct kms_token *tok);
CK_STATE kms_session_state(struct kms_session *s);
/* Number of sessions of tok (all, and read-write). */
void kms_session_count(struct kms_token *tok, CK_ULONG *all, CK_ULONG *rw);
/* Ends an active operation of that kind, freeing it. */
void kms_session_op_end(struct kms_session *s, enum kms_op_kind kind);

/* object.c */
/* Looks up an object visible to session s and takes a reference; CKR_OBJECT_HANDLE_INVALID. */
CK_RV kms_obj_get(struct kms_session *s, CK_OBJECT_HANDLE h, struct kms_obj **o);
void kms_obj_put(struct kms_obj *o);
/* How an operation uses a key, for the lifecycle rules of kms_obj_may_use. */
enum kms_use { KMS_USE_RECIPIENT = 0, KMS_USE_ORIGINATOR = 1 };
/* The decoded key of o for a use, loading it once (private keys need the user logged in);
 * CKR_KEY_FUNCTION_NOT_PERMITTED when its lifecycle forbids that use now. */
CK_RV kms_obj_key(struct kms_session *s, struct kms_obj *o, enum kms_use use, struct kms_keyref **key);
void kms_keyref_put(struct kms_keyref *k);
CK_RV kms_obj_create(struct kms_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h);
/* Writes the objects of s->batch in one store transaction (with s->key_change), then empties it; on failure
 * nothing is written (and the engine's keys made for them are destroyed). kms_obj_batch_drop empties it without
 * writing, destroying those keys. */
CK_RV kms_obj_batch_commit(struct kms_session *s);
void kms_obj_batch_drop(struct kms_session *s);
CK_RV kms_obj_copy(struct kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n,
		   CK_OBJECT_HANDLE *out);
CK_RV kms_obj_destroy(struct kms_session *s, CK_OBJECT_HANDLE h);
CK_RV kms_obj_size(struct kms_session *s, CK_OBJECT_HANDLE h, CK_ULONG *size);
CK_RV kms_obj_get_attrs(struct kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n);
CK_RV kms_obj_set_attrs(struct kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG n);
CK_RV kms_obj_generate_pair(struct kms_session *s, CK_MECHANISM *mech, CK_ATTRIBUTE *pub, CK_ULONG npub,
			    CK_ATTRIBUTE *priv, CK_ULONG npriv, CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv);
/* C_GenerateKey: a secret key from the engine; template codes as C_CreateObject. */
CK_RV kms_obj_generate_secret(struct kms_session *s, CK_MECHANISM *mech, CK_ATTRIBUTE *tmpl, CK_ULONG n,
			      CK_OBJECT_HANDLE *h);
/* Adds the token's CKO_PROFILE object (CKP_BASELINE_PROVIDER); CKR_HOST_MEMORY. */
CK_RV kms_obj_add_profile(struct kms_token *tok);
/* Completes and stores a new key of class cls from engine material: canonical public attributes,
 * CKA_LOCAL and CKA_KEY_GEN_MECHANISM (genmech, CK_UNAVAILABLE_INFORMATION when not generated),
 * CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE (true only when was_* and the new key agrees),
 * defaults and identity. CKR_TEMPLATE_INCONSISTENT, CKR_HOST_MEMORY, store codes. */
/* A new key's CKA_PRIVATE when its template has none (PKCS#11 leaves the default to the token): true,
 * except for a session object made by a session that is not logged in, which is public (it lives in the
 * creating process only, and a logged-out application can then use the key it just gave or made, as
 * pkcs11-provider's HKDF does). 0, or -1 when out of memory. */
int kms_obj_private_default(struct kms_session *s, struct kms_attrs *a);
/* Stores a data object made by the module itself (CKM_HKDF_DATA) from the caller's template a, CKA_VALUE
 * included: checked as C_CreateObject checks it, then committed; *h its handle. */
CK_RV kms_obj_create_data(struct kms_session *s, struct kms_attrs *a, CK_OBJECT_HANDLE *h);
/* Makes kms11 objects for a key the token's engine holds but kms11 did not make (engine adopt: the pkcs11 engine's
 * backend key by label, or by CKA_ID when label is NULL): a key pair (*hpub and *hkey) or a secret key (*hkey),
 * with the common attributes given (label, CKA_TOKEN, CKA_PRIVATE, ...), in the session's facts. The engine's
 * codes; CKR_FUNCTION_NOT_SUPPORTED for an engine that holds no keys elsewhere. */
CK_RV kms_obj_adopt(struct kms_session *s, const char *label, const uint8_t *id, size_t idlen,
		    const struct kms_attrs *common_priv, const struct kms_attrs *common_pub, CK_OBJECT_HANDLE *hpub,
		    CK_OBJECT_HANDLE *hkey);
CK_RV kms_obj_store_key(struct kms_session *s, struct kms_attrs *a, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt,
			struct kms_key_material *km, CK_MECHANISM_TYPE genmech, bool was_sensitive, bool was_unextractable,
			CK_OBJECT_HANDLE *h);
/* Frees session objects of session h (or all of tok when h is 0). */
void kms_obj_drop_session_objects(struct kms_token *tok, CK_SESSION_HANDLE h);
/* Frees every private session object of tok (C_Logout, PKCS#11 2.40 5.6); token lock held. */
void kms_obj_drop_private_session_objects_locked(struct kms_token *tok);
void kms_obj_free(struct kms_obj *o);
/* Drops every cached token object of tok (token lock held). */
void kms_obj_cache_clear_locked(struct kms_token *tok);
/* A new object taking over attrs (left empty); NULL when out of memory. */
struct kms_obj *kms_obj_new(uint64_t id, struct kms_attrs *attrs);
/* Whether key o may be used now (kms11.h's lifecycle): CKR_KEY_FUNCTION_NOT_PERMITTED unless its state is
 * enabled, and, for an originator use (sign, encrypt, wrap, derive: originator true), unless it is before its
 * expiration date and of the key's primary version (an older version only verifies, decrypts and unwraps). */
CK_RV kms_obj_may_use(const struct kms_obj *o, bool originator);
/* CKR_SESSION_READ_ONLY / CKR_USER_NOT_LOGGED_IN when the session may not write such an object. */
CK_RV kms_obj_may_write(struct kms_session *s, bool token, bool priv);

/* find.c */
CK_RV kms_find_init(struct kms_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n);
CK_RV kms_find_next(struct kms_session *s, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *count);
CK_RV kms_find_final(struct kms_session *s);
/* Finds objects of tok matching tmpl as the given login state allows (for the CLI and find). */
CK_RV kms_find_ids(struct kms_token *tok, CK_SESSION_HANDLE owner, const struct kms_attrs *tmpl, bool priv,
		   uint64_t **ids, size_t *n);

/* Reads the attributes of token object id of tok straight from the store (for the CLI);
 * CKR_OBJECT_HANDLE_INVALID when absent or held by another token. */
CK_RV kms_obj_read(struct kms_token *tok, uint64_t id, struct kms_attrs *out);

/* crypto.c */
CK_RV kms_op_init(struct kms_session *s, enum kms_op_kind kind, CK_MECHANISM *mech, CK_OBJECT_HANDLE key);
/* Starts a digest: CKR_OPERATION_ACTIVE, CKR_MECHANISM_INVALID, the engine's parameter codes. */
CK_RV kms_op_digest_init(struct kms_session *s, CK_MECHANISM *mech);
/* Single-part sign/encrypt/decrypt with the size-query convention. */
CK_RV kms_op_oneshot(struct kms_session *s, enum kms_op_kind kind, const uint8_t *in, size_t inlen,
		     uint8_t *out, CK_ULONG *outlen);
CK_RV kms_op_update(struct kms_session *s, enum kms_op_kind kind, const uint8_t *in, size_t inlen);
CK_RV kms_op_final(struct kms_session *s, enum kms_op_kind kind, uint8_t *out, CK_ULONG *outlen);
/* C_Login(CKU_CONTEXT_SPECIFIC): authorises the session's active operation on a CKA_ALWAYS_AUTHENTICATE key;
 * CKR_OPERATION_NOT_INITIALIZED when none waits for it, CKR_USER_NOT_LOGGED_IN without the user's login,
 * the PIN codes of C_Login. */
CK_RV kms_op_context_login(struct kms_session *s, const char *pin, size_t len);
/* Multi-part encrypt/decrypt with output, under the size-query convention. */
CK_RV kms_op_cipher_update(struct kms_session *s, enum kms_op_kind kind, const uint8_t *in, size_t inlen, uint8_t *out,
			   CK_ULONG *outlen);
CK_RV kms_op_verify(struct kms_session *s, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen);
CK_RV kms_op_verify_final(struct kms_session *s, const uint8_t *sig, size_t siglen);
CK_RV kms_random(struct kms_session *s, uint8_t *buf, size_t len);
CK_RV kms_seed(struct kms_session *s, const uint8_t *buf, size_t len);

/* message.c: PKCS#11 3.0 message-based AES-GCM encryption and message-based sign/verify */
/* C_Message{Encrypt,Decrypt,Sign,Verify}Init: CKR_OPERATION_ACTIVE, CKR_MECHANISM_INVALID,
 * CKR_KEY_HANDLE_INVALID, CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED. */
CK_RV kms_msg_init(struct kms_session *s, enum kms_msg_kind kind, CK_MECHANISM *mech, CK_OBJECT_HANDLE key);
/* Ends a message-based operation (C_Message*Final, C_SessionCancel, session close). */
void kms_msg_end(struct kms_session *s, enum kms_msg_kind kind);
/* C_EncryptMessage / C_DecryptMessage (single part, size-query convention). */
CK_RV kms_msg_crypt(struct kms_session *s, enum kms_msg_kind kind, void *param, CK_ULONG plen, const uint8_t *aad,
		    size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out, CK_ULONG *outlen);
/* C_EncryptMessageBegin / C_DecryptMessageBegin. */
CK_RV kms_msg_crypt_begin(struct kms_session *s, enum kms_msg_kind kind, void *param, CK_ULONG plen,
			  const uint8_t *aad, size_t aadlen);
/* C_EncryptMessageNext / C_DecryptMessageNext; last is CKF_END_OF_MESSAGE. */
CK_RV kms_msg_crypt_next(struct kms_session *s, enum kms_msg_kind kind, void *param, CK_ULONG plen,
			 const uint8_t *in, size_t inlen, uint8_t *out, CK_ULONG *outlen, bool last);
/* C_SignMessage (size-query convention) and C_VerifyMessage. */
CK_RV kms_msg_sign(struct kms_session *s, const uint8_t *data, size_t len, uint8_t *sig, CK_ULONG *siglen);
CK_RV kms_msg_verify(struct kms_session *s, const uint8_t *data, size_t len, const uint8_t *sig, size_t siglen);
/* C_SignMessageBegin / C_VerifyMessageBegin. */
CK_RV kms_msg_sv_begin(struct kms_session *s, enum kms_msg_kind kind);
/* C_SignMessageNext: siglen NULL for a middle part; C_VerifyMessageNext: sig NULL for a middle part. */
CK_RV kms_msg_sign_next(struct kms_session *s, const uint8_t *data, size_t len, uint8_t *sig, CK_ULONG *siglen);
CK_RV kms_msg_verify_next(struct kms_session *s, const uint8_t *data, size_t len, const uint8_t *sig,
			  size_t siglen);

/* wrap.c */
/* C_WrapKey under the size-query convention: CKR_WRAPPING_KEY_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID,
 * CKR_WRAPPING_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_UNEXTRACTABLE,
 * CKR_KEY_NOT_WRAPPABLE, CKR_MECHANISM_INVALID, CKR_BUFFER_TOO_SMALL, the engine's codes. */
CK_RV kms_obj_wrap(struct kms_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE hwrap, CK_OBJECT_HANDLE hkey,
		   uint8_t *out, CK_ULONG *outlen);
/* C_UnwrapKey: CKR_UNWRAPPING_KEY_HANDLE_INVALID, CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
 * CKR_KEY_FUNCTION_NOT_PERMITTED, template codes, the engine's codes. */
CK_RV kms_obj_unwrap(struct kms_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE hunwrap, const uint8_t *in,
		     size_t inlen, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h);
/* C_DeriveKey: CKR_KEY_HANDLE_INVALID, CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED,
 * template codes, the engine's codes. */
CK_RV kms_obj_derive(struct kms_session *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE hbase, CK_ATTRIBUTE *tmpl,
		     CK_ULONG n, CK_OBJECT_HANDLE *h);
/* C_DigestKey: CKR_OPERATION_NOT_INITIALIZED, CKR_KEY_HANDLE_INVALID, CKR_KEY_INDIGESTIBLE. */
CK_RV kms_op_digest_key(struct kms_session *s, CK_OBJECT_HANDLE hkey);

/* mech.c */
CK_RV kms_mech_list(struct kms_token *tok, CK_MECHANISM_TYPE *list, CK_ULONG *count);
CK_RV kms_mech_info(struct kms_token *tok, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info);
/* True when CKA_ALLOWED_MECHANISMS of a key is absent or lists mech. */
bool kms_mech_allowed(const struct kms_attrs *a, CK_MECHANISM_TYPE mech);
/* The engine entry for type, or NULL. */
const struct kms_engine_mech *kms_mech_find(struct kms_token *tok, CK_MECHANISM_TYPE type);

/* Copies a space-padded fixed-width field. */
void kms_pad_copy(CK_UTF8CHAR *dst, size_t dstlen, const char *src);
/* Checked conversion of a size to CK_ULONG (always fits on LP64; kept for one place to check). */
static inline CK_ULONG kms_ul(size_t n)
{
	return (CK_ULONG)n;
}

#endif
