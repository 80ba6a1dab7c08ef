/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The management plane: keys as the KMS APIs know them (a key is every object of one key id in one token),
 * over module/core. The kms11 CLI, and later the HTTPS daemon, only parse, call this and print.
 *
 * Every call that can fail fills a struct kms_err whose code is also the CLI's exit status. Calls that
 * change a key need a struct kms_login on the key's token (the user PIN); reads need none.
 */
#ifndef KMS_MGMT_H
#define KMS_MGMT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "common/attrs.h"
#include "module/core/core.h"

enum kms_status {
	KMS_OK = 0,
	KMS_E_INTERNAL = 1, /* the module or the store failed */
	KMS_E_INPUT = 2,    /* bad input; or a key argument naming more than one key */
	KMS_E_NOTFOUND = 3, /* no such key or token */
	KMS_E_CONFLICT = 4, /* a name or alias already taken */
	KMS_E_DENIED = 5,   /* not permitted: wrong or locked PIN, a disabled key, a key not extractable */
};

struct kms_err {
	enum kms_status code;
	char msg[512];
};

/* Sets e (when not NULL) and returns code. */
int kms_fail(struct kms_err *e, enum kms_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Starts and stops the module's core for the management plane (configuration and store as for libkms11.so).
 * A failure names its reason, the configuration file's line included. */
int kms_mgr_start(struct kms_err *e);
void kms_mgr_stop(void);

/* The token whose label (or configured name) is engine_id; the first token for NULL. */
int kms_mgr_token(const char *engine_id, struct kms_token **tok, struct kms_err *e);

/* A logged-in read-write session on one token. */
struct kms_login {
	struct kms_token *tok;
	CK_SESSION_HANDLE h;
	struct kms_session *s;
};
/* Logs the user in with pin: KMS_E_DENIED for a wrong or locked PIN (saying which). */
int kms_mgr_login(struct kms_token *tok, const char *pin, struct kms_login *l, struct kms_err *e);
void kms_mgr_logout(struct kms_login *l);

/* One version of a key: its number and the handles of its objects (0 when absent). */
struct kms_kver {
	unsigned long number;
	uint64_t id_pub, id_priv, id_sec;
	char created[32];
};

/* One key: its token, key id, the attributes of its primary version's objects, and every version. */
struct kms_key {
	struct kms_token *tok;
	char kid[80];
	struct kms_attrs pub, priv, sec;
	bool has_pub, has_priv, has_sec;
	uint64_t id_pub, id_priv, id_sec; /* their object handles */
	struct kms_kver *vers;            /* by number, ascending */
	size_t nvers;
};
/* The version numbered n of k, or NULL. */
const struct kms_kver *kms_key_version(const struct kms_key *k, unsigned long n);
void kms_key_free(struct kms_key *k);
/* Loads the key with key id kid in tok; KMS_E_NOTFOUND when it has no object. */
int kms_key_load(struct kms_token *tok, const char *kid, struct kms_key *k, struct kms_err *e);
/* Resolves a KEY argument to exactly one key using everything it says: a key id, an alias, a name (within
 * engine_id when given, else in every token), a pkcs11: URI (its token, object, id and type), or the
 * pkcs11:token-id=<engine>;id=<key id>;type=... form. KMS_E_NOTFOUND for none, KMS_E_INPUT naming the
 * candidates for more than one. */
int kms_key_resolve(const char *arg, const char *engine_id, struct kms_key *k, struct kms_err *e);
/* The key object of the seed APIs (see the README). */
json_t *kms_key_json(const struct kms_key *k);
/* The public key of version n (0: the primary) as base64 of PEM, malloc'd; KMS_E_NOTFOUND for no such version,
 * KMS_E_INPUT for a secret key. */
int kms_key_public_pem(const struct kms_key *k, unsigned long n, char **b64, unsigned long *version, struct kms_err *e);

/* What key create makes. tags: ntags strings. */
struct kms_create {
	const char *engine_id;
	const char *algorithm; /* RSA, ECDSA, Ed25519, AES, HMAC (any case) */
	unsigned long size;    /* 0: the algorithm's default */
	const char *name, *description, *metadata;
	const char *const *tags;
	size_t ntags;
	bool extractable;
	const char *expiration; /* ISO 8601, or NULL */
};
/* Checks a create request without touching the store (the CLI calls it before anything else). */
int kms_create_check(const struct kms_create *c, struct kms_err *e);
/* Creates the key in l's token; *out gets it. */
int kms_key_create(struct kms_login *l, const struct kms_create *c, struct kms_key *out, struct kms_err *e);

/* Makes a new primary version of the key (same key id, name, aliases, tags, metadata): new material from the
 * engine, or material (AES/HMAC keys only). The older versions keep verifying, decrypting and unwrapping; their
 * objects are labelled "<name>#v<version>". One transaction. */
int kms_key_rotate(struct kms_login *l, struct kms_key *k, const uint8_t *material, size_t matlen, struct kms_err *e);
/* Sets automatic rotation every days days (the next one due days from now), or turns it off (days 0). */
int kms_key_rotation(struct kms_login *l, struct kms_key *k, unsigned days, struct kms_err *e);

/* What key import takes: exactly one of a private key (PEM or DER: PKCS#8, PKCS#1, SEC1, or encrypted PKCS#8 with
 * passphrase), a public key (SPKI, PEM or DER) or a secret (c.algorithm AES: 16, 24 or 32 bytes; HMAC: 32 to 64),
 * with the naming facts of c. */
struct kms_import {
	struct kms_create c;
	const uint8_t *private_key, *public_key, *secret;
	size_t private_key_len, public_key_len, secret_len;
	const char *passphrase;
};
/* Checks an import request without touching the store. */
int kms_import_check(const struct kms_import *in, struct kms_err *e);
/* Imports into l's token; *out gets the key. A key pair is two objects (the private one first; if the public
 * one cannot be made, the private one is removed again). */
int kms_key_import(struct kms_login *l, const struct kms_import *in, struct kms_key *out, struct kms_err *e);

/* Adopts a key the token's engine holds but kms11 did not make (a pkcs11-engine token: the backend's private or
 * secret key named by blabel, or by its CKA_ID bid when blabel is NULL); c names it (name, tags, metadata, ...).
 * KMS_E_NOTFOUND for no such key, KMS_E_INPUT when several answer or the engine adopts nothing, KMS_E_CONFLICT for
 * a key kms11 made. */
int kms_key_adopt(struct kms_login *l, const struct kms_create *c, const char *blabel, const uint8_t *bid, size_t bidlen,
		  struct kms_key *out, struct kms_err *e);

/* The token's wrapping key for keys brought in (RSA-3072, named kms11-wrapping-key), made on first use. */
int kms_wrapping_key(struct kms_login *l, struct kms_key *out, struct kms_err *e);
/* Imports a key wrapped with CKM_RSA_AES_KEY_WRAP under the token's wrapping key (RSA-OAEP-SHA-256 of a fresh AES-256
 * key, then RFC 5649 of the key: its bytes for AES/HMAC, its PKCS#8 for RSA/ECDSA/Ed25519); in->c names it and
 * in->c.algorithm says what it is. */
int kms_key_import_wrapped(struct kms_login *l, const struct kms_import *in, const uint8_t *wrapped, size_t len,
			   struct kms_key *out, struct kms_err *e);
/* Exports an extractable key: wrapped with CKM_RSA_AES_KEY_WRAP (as above) under the RSA public key wrap_pub (PEM or
 * DER), or, with wrap_pub NULL, in plaintext (a secret key's bytes, a private key's PKCS#8 DER); *out in secure
 * memory either way.
 * KMS_E_DENIED for a key not made extractable. */
int kms_key_export(struct kms_login *l, struct kms_key *k, const uint8_t *wrap_pub, size_t wrap_len, uint8_t **out,
		   size_t *outlen, struct kms_err *e);

/* Deletes every object of the key in one transaction (immediate and irreversible). */
int kms_key_delete(struct kms_login *l, struct kms_key *k, struct kms_err *e);
/* Changes the name of every object of the key; a name is unique within its token (KMS_E_CONFLICT). */
int kms_key_rename(struct kms_login *l, struct kms_key *k, const char *name, struct kms_err *e);
/* Replaces the tags (n == 0 clears them). */
int kms_key_set_tags(struct kms_login *l, struct kms_key *k, const char *const *tags, size_t n, struct kms_err *e);

enum kms_life { KMS_LIFE_ENABLE, KMS_LIFE_DISABLE, KMS_LIFE_SCHEDULE_DELETION, KMS_LIFE_CANCEL_DELETION };
/* Lifecycle changes. days: for KMS_LIFE_SCHEDULE_DELETION, 7..30. Enabling or scheduling a key pending
 * deletion, or cancelling a deletion that is not pending, is KMS_E_CONFLICT. */
int kms_key_life(struct kms_login *l, struct kms_key *k, enum kms_life what, unsigned days, struct kms_err *e);

/* Applies a JSON Patch (RFC 6902, text) to a copy of doc: *out the result, or nothing changed and KMS_E_INPUT
 * (KMS_E_CONFLICT for a failed "test") naming field and the operation. */
int kms_json_patch(const json_t *doc, const char *patch, const char *field, json_t **out, struct kms_err *e);
/* Checks a patch's syntax and operations without a document (KMS_E_INPUT naming field). */
int kms_json_patch_check(const char *patch, const char *field, struct kms_err *e);
/* Changes the key's aliases (the array, paths like "/-" or "/0") or metadata (the object, paths like "/owner")
 * by a JSON Patch, read and written in one transaction. An alias held by another key is KMS_E_CONFLICT. */
int kms_key_patch_aliases(struct kms_login *l, struct kms_key *k, const char *patch, struct kms_err *e);
int kms_key_patch_metadata(struct kms_login *l, struct kms_key *k, const char *patch, struct kms_err *e);

/* The maintenance run (kms11 maintain, from cron or a timer): deletes the keys whose scheduled deletion date
 * has passed and rotates the keys whose automatic rotation is due, logging in with pin to each token (of
 * engine_id, or all). *out: {"deleted": [{engine_id, key_id}], "rotated": [{engine_id, key_id, version}],
 * "errors": [{engine_id, key_id?, err}]}, also when the PIN was refused by
 * a token (KMS_E_DENIED, that token skipped: the PIN is checked on every token, due work or not). */
int kms_maintain(const char *engine_id, const char *pin, json_t **out, struct kms_err *e);

/* ---- crypto by name (each needs a login on the key's token) ---- */

/* Signs msg (message_type "raw", or "hash": msg is the digest itself, of the algorithm's length) with algorithm
 * RSASSA_PKCS1_V1_5_SHA_256|384|512, RSASSA_PSS_SHA_256|384|512, ECDSA_SHA_256|384|512 (DER signature) or ED25519
 * (raw only). *sig malloc'd. */
int kms_key_sign(struct kms_login *l, struct kms_key *k, const char *alg, bool hash, const uint8_t *msg, size_t len,
		 uint8_t **sig, size_t *siglen, struct kms_err *e);
/* Verifies with the primary version's public key, then the older versions'; *valid false for a signature that
 * none verifies (not an error). */
int kms_key_verify(struct kms_login *l, struct kms_key *k, const char *alg, bool hash, const uint8_t *msg, size_t len,
		   const uint8_t *sig, size_t siglen, bool *valid, struct kms_err *e);
/* Checks a signing algorithm name and message type against a message length, without a key (for the CLI). */
int kms_sign_check(const char *alg, bool hash, size_t len, struct kms_err *e);
/* Encrypts: AES-256-GCM under a secret AES key (aad optional), RSA-OAEP-SHA-256 under an RSA key (aad as the OAEP
 * label). *ct is the text "kms11:v<version>:<base64>", malloc'd; decrypt takes it back. */
int kms_key_encrypt(struct kms_login *l, struct kms_key *k, const uint8_t *pt, size_t ptlen, const uint8_t *aad,
		    size_t aadlen, char **ct, struct kms_err *e);
int kms_key_decrypt(struct kms_login *l, struct kms_key *k, const char *ct, const uint8_t *aad, size_t aadlen,
		    uint8_t **pt, size_t *ptlen, struct kms_err *e);
/* HMAC with an HMAC key (SHA-256, -384 or -512 by the key's size). */
int kms_key_hmac(struct kms_login *l, struct kms_key *k, const uint8_t *msg, size_t len, uint8_t **mac, size_t *maclen,
		 struct kms_err *e);
/* A fresh data key of bits/8 random bytes, and its encryption under k (as kms_key_encrypt). */
int kms_key_data_key(struct kms_login *l, struct kms_key *k, unsigned bits, uint8_t **dk, size_t *dklen, char **ct,
		     struct kms_err *e);

/* IBM Key Protect's root key operations, with an AES root key. aad: up to 126 strings of at most 255 bytes,
 * bound to the ciphertext (the same list, in the same order, is needed to unwrap). */
/* Wraps a data key: *dk (when *dk is NULL on entry, a new 32-byte key is made and returned there, secure memory).
 * *ct as kms_key_encrypt's; *version the root key version used. */
int kms_key_wrap(struct kms_login *l, struct kms_key *k, uint8_t **dk, size_t *dklen, const char *const *aad, size_t naad,
		 char **ct, unsigned long *version, struct kms_err *e);
/* Unwraps: *dk (secure memory) and the version that wrapped it. */
int kms_key_unwrap(struct kms_login *l, struct kms_key *k, const char *ct, const char *const *aad, size_t naad, uint8_t **dk,
		   size_t *dklen, unsigned long *version, struct kms_err *e);
/* Unwraps and wraps again under the primary version; the data key stays in the library's secure memory. */
int kms_key_rewrap(struct kms_login *l, struct kms_key *k, const char *ct, const char *const *aad, size_t naad, char **out,
		   unsigned long *version, struct kms_err *e);
/* Checks an AAD list without a key (for the CLI). */
int kms_aad_check(const char *const *aad, size_t naad, struct kms_err *e);

/* ---- tokens ---- */

/* Every token: id (its label), config_name, type (engine), slot, default, present, initialized, serial, user_pin
 * and so_pin states: {"list": [...]}. */
int kms_tokens(json_t **out, struct kms_err *e);
/* Every token as an engine (Lamassu's /v1/engines): id, type, provider, default, available, supported_key_types
 * (the key kinds and sizes it makes): {"list": [...]}. */
int kms_engines(json_t **out, struct kms_err *e);
/* Availability and key counts per engine: {"engines": [...], "total_keys": N}. */
int kms_summary(json_t **out, struct kms_err *e);
/* One token (engine_id NULL: the first). */
int kms_token_show(const char *engine_id, json_t **out, struct kms_err *e);
/* Changes the user PIN (pin: the current one), or, with unlock, sets a new user PIN as the SO (pin: the SO PIN),
 * which unlocks a locked user. */
int kms_token_pin(const char *engine_id, bool unlock, const char *pin, const char *new_pin, struct kms_err *e);

/* A list, count or stats query in the language of FILTERS.md. */
struct kms_query {
	const char *const *filters; /* expressions; all are ANDed */
	size_t nfilters;
	const char *sort_by; /* NULL: creation_ts */
	bool desc;
	size_t page_size;     /* 0: 25; at most 1000 */
	const char *bookmark; /* the "next" of the previous page, or NULL */
	const char *engine_id;
};
enum kms_query_kind { KMS_QUERY_LIST, KMS_QUERY_COUNT, KMS_QUERY_STATS };
/* Checks a query without touching the store: every filter, the sort field, the page size, the bookmark's form. */
int kms_query_check(const struct kms_query *q, struct kms_err *e);
/* Runs it: {"list": [...], "next": "<bookmark>"} (next empty on the last page), {"count": N}, or
 * {"total": N, "engines": {...}, "algorithms": {...}, "states": {...}}. A bookmark of another query is
 * KMS_E_INPUT. */
int kms_key_query(const struct kms_query *q, enum kms_query_kind kind, json_t **out, struct kms_err *e);

/* Encodes strings as a kms11.h list value (malloc'd; *len 0 and NULL for n == 0); KMS_E_INPUT naming field
 * for an empty element or one given twice. */
int kms_list_encode(const char *field, const char *const *v, size_t n, uint8_t **out, size_t *len,
		    struct kms_err *e);

#endif
