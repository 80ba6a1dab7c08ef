/* SPDX-License-Identifier: Apache-2.0 */
/* Private to storage/: the store handle, its named databases and the transaction helpers. */
#ifndef KMS_STORE_INT_H
#define KMS_STORE_INT_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>

#include <lmdb.h>

#include "storage/store.h"

/* Read transactions kept (reset) for reuse, so a read does not take a reader slot each time. */
#define KMS_STORE_POOL 16
/* Room for an index key: LMDB's default limit is 511 bytes. */
#define KMS_STORE_KEY_MAX 512

enum kms_store_db {
	KMS_DB_OBJECTS,
	KMS_DB_OBJ_TOKEN,
	KMS_DB_LABEL,
	KMS_DB_ID,
	KMS_DB_CLASS,
	KMS_DB_KEYTYPE,
	KMS_DB_META,
	KMS_DB_KEYID,
	KMS_DB_ALIAS,
	KMS_DB_TAG,
	KMS_DB_STATE,
	KMS_DB_CREATED,
	KMS_DB_COUNT
};

struct kms_store {
	MDB_env *env;
	MDB_dbi dbi[KMS_DB_COUNT];
	size_t maxkey;
	pthread_mutex_t pool_lock;
	MDB_txn *pool[KMS_STORE_POOL];
	size_t npool;
	const uint8_t *map; /* the map's address and size (mdb_env_info at open), and data.mdb's size seen last */
	size_t mapsize, filesz;
	bool damaged; /* LMDB met a damaged page: every call answers CKR_DEVICE_ERROR (guard.c) */
};

/* The guard of a public store call (guard.c). */
struct kms_store_guard {
	jmp_buf jb;
	struct kms_store_guard *prev;
	size_t mark, cmark;
};
void kms_store_guard_push(struct kms_store_guard *g);
void kms_store_guard_pop(struct kms_store_guard *g);
/* After the jump: aborts the transactions opened under g, marks s damaged; CKR_DEVICE_ERROR. */
CK_RV kms_store_guard_caught(struct kms_store *s, struct kms_store_guard *g);
/* LMDB's assertion callback (mdb_env_set_assert): logs, then jumps to the thread's innermost guard. */
void kms_store_assert(MDB_env *env, const char *msg);
/* Write transactions: begin, commit and abort that keep the thread's list of open transactions. */
int kms_store_wbegin(struct kms_store *s, MDB_txn **txn);
int kms_store_commit(MDB_txn *txn);
void kms_store_abort(MDB_txn *txn);
void kms_store_txn_track(MDB_txn *txn);
/* mdb_cursor_open and mdb_cursor_close, keeping the thread's list of open cursors. */
int kms_store_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **c);
void kms_store_cursor_close(MDB_cursor *c);
/* mdb_get and mdb_cursor_get, then MDB_CORRUPTED for a key or value that would run past the end of data.mdb
 * (a size read from a damaged page). */
int kms_mdb_get(struct kms_store *s, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);
int kms_mdb_cget(struct kms_store *s, MDB_cursor *c, MDB_val *k, MDB_val *v, MDB_cursor_op op);
void kms_store_txn_untrack(MDB_txn *txn);

/* The body of a public store call: returns what call returns, or CKR_DEVICE_ERROR when LMDB asserted on a
 * damaged page during it, or at once for a store found damaged before. */
#define KMS_STORE_GUARDED(s, call)                                        \
	do {                                                              \
		struct kms_store_guard guard_;                            \
		CK_RV guard_rv_;                                          \
		if (!(s) || (s)->damaged)                                 \
			return CKR_DEVICE_ERROR;                          \
		kms_store_guard_push(&guard_);                            \
		if (setjmp(guard_.jb) == 0)                               \
			guard_rv_ = (call);                               \
		else                                                      \
			guard_rv_ = kms_store_guard_caught((s), &guard_); \
		kms_store_guard_pop(&guard_);                             \
		return guard_rv_;                                         \
	} while (0)


enum kms_index_op { KMS_INDEX_ADD, KMS_INDEX_DEL, KMS_INDEX_CHECK };
/* What kms_index_record returns when an alias is held by another key (see store.h). */
#define KMS_STORE_ALIAS_TAKEN EEXIST
/* ... and when a name is held by another key of the token (kms_store_key_change's unique_label). */
#define KMS_STORE_NAME_TAKEN EADDRINUSE
/* Adds, removes or checks the index entries of object id (token no, encoded record rec) inside txn;
 * returns an LMDB code (KMS_INDEX_CHECK: MDB_NOTFOUND when an entry is missing). */
int kms_index_record(struct kms_store *s, MDB_txn *txn, uint32_t no, uint64_t id, const uint8_t *rec, size_t len,
		     enum kms_index_op op);
/* Adds the index entries of every object (a schema upgrade; entries already there are kept); LMDB code. */
int kms_store_reindex(struct kms_store *s, MDB_txn *txn);
/* Opens the named databases of s inside txn: with MDB_CREATE when create, else MDB_NOTFOUND for a missing
 * one. Returns an LMDB code. */
int kms_store_dbs_open(struct kms_store *s, MDB_txn *txn, bool create);
/* Maps an LMDB or errno code to a CK_RV (MDB_NOTFOUND to notfound), logging unexpected ones. */
CK_RV kms_store_rv(int rc, CK_RV notfound, const char *what);
/* Starts a read-only transaction, reusing a pooled one when possible; returns an LMDB code. */
int kms_store_rbegin(struct kms_store *s, MDB_txn **txn);
/* Ends a read-only transaction from kms_store_rbegin, returning it to the pool. */
void kms_store_rend(struct kms_store *s, MDB_txn *txn);
/* Deletes object id (record, token entry and index entries) inside txn; MDB_NOTFOUND when absent. */
int kms_store_obj_del_txn(struct kms_store *s, MDB_txn *txn, uint64_t id);
/* Appends to *ids the ids of every object of token no (walking idx_class); returns an LMDB code. */
int kms_store_token_ids(struct kms_store *s, MDB_txn *txn, uint32_t no, uint64_t **ids, size_t *n, size_t *cap);

#endif
