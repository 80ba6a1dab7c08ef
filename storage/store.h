/* SPDX-License-Identifier: Apache-2.0 */
/* The LMDB store: token objects as attribute records with stable 64-bit ids, their indexes, and token records. */
#ifndef KMS_STORE_H
#define KMS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <p11-kit/pkcs11.h>

#include "common/attrs.h"

/*
 * One LMDB environment per store directory (data.mdb, lock.mdb), opened with
 * MDB_NOTLS. Named databases:
 *   objects      u64 id (big endian) -> record (kms_attrs encoding, see common/attrs.h)
 *   obj_token    u64 id -> u32 token || u64 stamp (big endian): the token that holds the object,
 *                and the id of the write transaction that last wrote it
 *   idx_label    token(4) || CKA_LABEL bytes      -> ids (MDB_DUPSORT|MDB_DUPFIXED, 8-byte BE values)
 *   idx_id       token(4) || CKA_ID bytes         -> ids
 *   idx_class    token(4) || CKA_CLASS (u64 BE)   -> ids   [every object has a class: the per-token scan]
 *   idx_keytype  token(4) || CKA_KEY_TYPE (u64 BE) -> ids
 *   idx_keyid    token(4) || CKA_KMS11_KEY_ID bytes -> ids
 *   idx_alias    0(4) || one alias (store-wide: an alias belongs to one key id, enforced on write) -> ids
 *   idx_tag      token(4) || one tag -> ids
 *   idx_state    token(4) || CKA_KMS11_STATE (u64 BE; enabled when absent), key objects only -> ids
 *   idx_created  token(4) || CKA_KMS11_CREATED as seconds since the epoch (u64 BE, plus 2^63; 0 when absent or
 *                unreadable) || CKA_KMS11_KEY_ID bytes, key objects with a key id of 1..KMS_STORE_KID_MAX bytes
 *                only -> ids: the keys of a token in creation order, for list pages that read no more than they show
 *   meta         "schema" -> u32 version; "next_id" -> u64; "token:<label>" -> token record;
 *                "tokno:<label>" -> u32 token number; "next_tokno" -> u32
 * Index keys longer than LMDB's key limit use the SHA-256 of the value instead of the value
 * (matching still compares full records, so this only widens the candidate set).
 * Every write is one transaction. Transaction ids grow by one per committed write, so the
 * generation (kms_store_generation) and stamps order every committed state of the store.
 * Errors map to CK_RV in one function:
 * MDB_MAP_FULL -> CKR_DEVICE_MEMORY, MDB_NOTFOUND -> CKR_OBJECT_HANDLE_INVALID (for objects),
 * ENOMEM -> CKR_HOST_MEMORY, anything else -> CKR_DEVICE_ERROR (logged).
 * A damaged page that trips one of LMDB's assertions, or a record whose size runs past the end of data.mdb,
 * answers CKR_DEVICE_ERROR (logged, naming the file) instead of ending the process; from then on every call on
 * that store handle answers CKR_DEVICE_ERROR (storage/guard.c).
 */

struct kms_store;

/* Opens (creating dir with mode 0700 and the databases as needed) the store in dir;
 * CKR_DEVICE_ERROR when the directory cannot be created or LMDB fails (logged). */
CK_RV kms_store_open(const char *dir, struct kms_store **out);
/* Checks dir/data.mdb against LMDB's meta pages before it is mapped: CKR_OK for a sound file or none,
 * CKR_DEVICE_ERROR for a truncated or damaged one, with a log line naming the file (and the same text
 * in why, when given). kms_store_open runs it. */
CK_RV kms_store_check_file(const char *dir, char *why, size_t whylen);
/* What kms_store_verify found. */
#define KMS_STORE_REPORT_MAX 10
struct kms_store_report {
	uint64_t objects, index_entries;
	uint64_t n_problems;                         /* 0: the store is sound */
	char problems[KMS_STORE_REPORT_MAX][160];    /* the first ones, as text */
};
/* Verifies the store in dir offline, read-only: the file against its meta pages, then every database
 * walked (records decode, each object has its token and index entries, each index entry names an
 * object). Problems go into r; CKR_OK when the walk could be made, CKR_ARGUMENTS_BAD for a bad dir.
 * LMDB has no page checksums: a damaged page can still make LMDB fault, so run it in a process of its
 * own (kms11 store check does). */
CK_RV kms_store_verify(const char *dir, struct kms_store_report *r);
/* The mode of the files of the store in dir: 0660 for a shared store (the directory is group-writable: give it a
 * group, g+rwxs), else 0600. */
mode_t kms_store_file_mode(const char *dir);
/* Makes a file of a shared store (mode 0660) group-readable and -writable when this process owns it. */
void kms_store_share_file(const char *path, mode_t mode);
/* Closes the store; no transaction may be in use. */
void kms_store_close(struct kms_store *s);
/* In a child after fork: forgets the inherited environment without calling LMDB
 * (LMDB must not be used across fork); the caller then opens the store again. */
void kms_store_forget(struct kms_store *s);

/* Returns the number of a token label, assigning the next one in one transaction when new;
 * CKR_DEVICE_ERROR on failure. */
CK_RV kms_store_token_number(struct kms_store *s, const char *label, uint32_t *no);
/* Reads a token record into a malloc'd buffer; CKR_OK with *rec NULL when there is none. */
CK_RV kms_store_token_get(struct kms_store *s, const char *label, uint8_t **rec, size_t *len);
/* Writes a token record (one transaction). */
CK_RV kms_store_token_put(struct kms_store *s, const char *label, const uint8_t *rec, size_t len);
/* Atomically: deletes every object of token no with its index entries, and writes the token
 * record (C_InitToken); one transaction. */
CK_RV kms_store_token_reset(struct kms_store *s, uint32_t no, const char *label, const uint8_t *rec,
			    size_t len);
/* Atomically updates a token record: calls fn(ctx, old, oldlen, &new, &newlen) inside the write
 * transaction (old is NULL when absent); fn returns CKR_OK to write *new (malloc'd, freed by the
 * store), or an error that aborts the transaction and is returned. Used for PIN failure counters. */
typedef CK_RV (*kms_store_token_update_fn)(void *ctx, const uint8_t *old, size_t oldlen, uint8_t **newrec,
					  size_t *newlen);
CK_RV kms_store_token_update(struct kms_store *s, const char *label, kms_store_token_update_fn fn, void *ctx);

/* Allocates a new object id (never reused, never 0, below 2^62) in one transaction;
 * CKR_DEVICE_MEMORY when the ids are exhausted or the map is full. */
CK_RV kms_store_id_alloc(struct kms_store *s, uint64_t *id);
/* Allocates n consecutive new object ids into ids[0..n) in one transaction; errors as
 * kms_store_id_alloc (nothing is allocated then). n == 0 does nothing. */
CK_RV kms_store_id_alloc_many(struct kms_store *s, size_t n, uint64_t *ids);
/* Writes the object id of token no: when create, CKR_DEVICE_ERROR if it exists; otherwise
 * replaces it. Index entries follow the new attributes. One transaction. */
CK_RV kms_store_obj_put(struct kms_store *s, uint32_t no, uint64_t id, const struct kms_attrs *a, bool create);
/* Atomically changes object id of token no: inside one write transaction, fn(ctx, cur, next) gets
 * the object's current attributes and fills next (empty on entry) with the new ones; CKR_OK writes
 * next, any other code aborts and is returned. CKR_OBJECT_HANDLE_INVALID when the object is absent
 * (destroyed meanwhile) or held by another token: a destroyed object is never written again. */
typedef CK_RV (*kms_store_obj_update_fn)(void *ctx, const struct kms_attrs *cur, struct kms_attrs *next);
CK_RV kms_store_obj_update(struct kms_store *s, uint32_t no, uint64_t id, kms_store_obj_update_fn fn, void *ctx);
/* Changes every object of token no in ONE write transaction: fn(ctx, id, cur, next) gets each object's
 * attributes; CKR_OK with next left empty keeps the object as it is, CKR_OK with next filled writes
 * next, any other code aborts the whole transaction and is returned. Used for migrations. */
typedef CK_RV (*kms_store_objs_update_fn)(void *ctx, uint64_t id, const struct kms_attrs *cur, struct kms_attrs *next);
CK_RV kms_store_objs_update(struct kms_store *s, uint32_t no, kms_store_objs_update_fn fn, void *ctx);
/* Changes every object of token no whose CKA_KMS11_KEY_ID is kid (the objects of one key) in ONE write
 * transaction, found through the key id index inside it: fn as for kms_store_objs_update, and
 * KMS_STORE_RV_DELETE from fn deletes that object. *n (may be NULL) gets the number of objects seen; CKR_OK
 * with *n == 0 when the key has none. */
#define KMS_STORE_RV_DELETE (CKR_VENDOR_DEFINED | 0x4b4d0001UL)
CK_RV kms_store_key_update(struct kms_store *s, uint32_t no, const uint8_t *kid, size_t kidlen,
			   kms_store_objs_update_fn fn, void *ctx, size_t *n);
/* A change of a key's existing objects made in the transaction that creates its new objects (a rotation), and the
 * rule of management-plane names. fn (and kid) may be NULL: no existing object changes. With unique_label, a key
 * object the call writes whose CKA_LABEL a key object of another key id of the token has too makes the whole call
 * fail with KMS_STORE_RV_NAME_TAKEN: a name is unique within its token, checked in the writing transaction. */
struct kms_store_key_change {
	const uint8_t *kid;
	size_t kidlen;
	kms_store_objs_update_fn fn;
	void *ctx;
	bool unique_label;
};
#define KMS_STORE_RV_NAME_TAKEN (CKR_VENDOR_DEFINED | 0x4b4d0002UL)
/* As kms_store_obj_create_many, and in the same transaction, first applies chg (as kms_store_key_update) to the
 * objects the key has already; an error of chg's fn aborts everything and is returned. */
CK_RV kms_store_obj_create_key(struct kms_store *s, uint32_t no, const uint64_t *ids,
			       const struct kms_attrs *const *attrs, size_t n, const struct kms_store_key_change *chg);
/* As kms_store_key_update with chg's kid, fn and ctx, and chg's name rule over the key's objects afterwards. */
CK_RV kms_store_key_change(struct kms_store *s, uint32_t no, const struct kms_store_key_change *chg, size_t *n);
/* Creates n new objects of token no (ids[i] from kms_store_id_alloc*, attributes attrs[i]) in ONE
 * transaction: all are written or none (a key pair is never half-written). CKR_DEVICE_ERROR
 * when an id already exists (or appears twice), CKR_ARGUMENTS_BAD when one is 0; other errors
 * as kms_store_obj_put. n == 0 does nothing. */
CK_RV kms_store_obj_create_many(struct kms_store *s, uint32_t no, const uint64_t *ids,
				const struct kms_attrs *const *attrs, size_t n);
/* Reads object id into out, which must be empty (KMS_ATTRS_INIT or freed): it is overwritten
 * without being freed. CKR_OBJECT_HANDLE_INVALID when absent (out left empty);
 * *no (may be NULL) gets its token. */
CK_RV kms_store_obj_get(struct kms_store *s, uint64_t id, uint32_t *no, struct kms_attrs *out);
/* As kms_store_obj_get, and *gen gets the generation of the state that was read (the id of the
 * last write transaction committed before the read). A copy of the object stays valid while
 * kms_store_generation() still returns *gen. */
CK_RV kms_store_obj_get_gen(struct kms_store *s, uint64_t id, uint32_t *no, struct kms_attrs *out,
			    uint64_t *gen);
/* Reads the record's stamp: the LMDB transaction id that last wrote the object; cheap (no decode).
 * CKR_OBJECT_HANDLE_INVALID when absent. */
CK_RV kms_store_obj_stamp(struct kms_store *s, uint64_t id, uint64_t *stamp);
/* Returns the id of the last write transaction committed to the store by any process (0 for a
 * NULL store). Takes no lock, no reader slot and no transaction: it reads LMDB's meta pages
 * (mdb_env_info), a few nanoseconds. A commit shows here slightly before new read transactions see
 * it, so never pair this value with data read afterwards: to validate a cached object, compare it
 * with the gen that kms_store_obj_get_gen returned for the copy (equal: nothing was committed since
 * the copy was read, so the copy is current). */
uint64_t kms_store_generation(struct kms_store *s);
/* Deletes object id with its index entries; CKR_OBJECT_HANDLE_INVALID when absent. */
CK_RV kms_store_obj_del(struct kms_store *s, uint64_t id);
/* Finds the objects of token no whose records hold every attribute of tmpl with equal bytes.
 * When include_private is false, objects with CKA_PRIVATE true are left out. Uses the most
 * selective index the template allows (label, id, key id, alias, tag, key type, state, then class;
 * a template with none walks idx_class for that token). Returns a malloc'd array of ids in
 * ascending order. */
CK_RV kms_store_obj_find(struct kms_store *s, uint32_t no, const struct kms_attrs *tmpl, bool include_private,
			 uint64_t **ids, size_t *n);
/* As kms_store_obj_find without reading a record: the ids held by the index entry the template's most selective
 * attribute names (a superset of kms_store_obj_find's answer: the other attributes, CKA_PRIVATE and the token of an
 * alias's objects are not checked), sorted, without duplicates; every object of the token for a template no index
 * answers. A cheap prefilter for a walk of idx_created. */
CK_RV kms_store_index_ids(struct kms_store *s, uint32_t no, const struct kms_attrs *tmpl, uint64_t **ids, size_t *n);

/* One entry of the creation-time index: a key id, the creation time of some of the key's objects (a key with
 * versions has one entry per distinct creation time), and those objects' ids (the first KMS_STORE_CENTRY_IDS of
 * them; nids counts them all). */
#define KMS_STORE_KID_MAX 79
#define KMS_STORE_CENTRY_IDS 8
struct kms_store_centry {
	int64_t t;
	char kid[KMS_STORE_KID_MAX + 1];
	size_t nids;
	uint64_t ids[KMS_STORE_CENTRY_IDS];
};
/* A position in a token's creation-time index: time t with key id kid; kid "" is before every key id of t, kid
 * NULL after every one. */
struct kms_store_cpos {
	int64_t t;
	const char *kid;
};
/* Reads up to max entries of token no's creation-time index into out, in ascending (time, key id) order (key ids
 * compared as bytes), or descending when desc, beginning strictly past from in that direction (from the start when
 * from is NULL). *n < max means the walk reached the end. One read transaction. */
CK_RV kms_store_created_read(struct kms_store *s, uint32_t no, bool desc, const struct kms_store_cpos *from,
			     struct kms_store_centry *out, size_t max, size_t *n);
/* The number of entries (key objects with a key id) in the creation-time index of every token: LMDB's count,
 * read without a walk. */
CK_RV kms_store_created_count(struct kms_store *s, uint64_t *n);

#endif
