/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LMDB keeps no page checksums, and on a page damaged at rest some of its consistency checks are
 * assertions that end the process (for example a node flagged as holding duplicates over bytes that are
 * not a page). A crash of the application for a damaged file is not an answer a PKCS#11 module may give,
 * so every public store call runs under a guard: LMDB's assertion callback logs the damage and jumps back
 * to the innermost guard of the calling thread, which aborts the transactions the call had opened (the
 * write lock and reader slots are released there), marks the store damaged and answers CKR_DEVICE_ERROR.
 * From then on every call on that store answers CKR_DEVICE_ERROR without reading it; kms11 store check
 * examines the file. An assertion outside any guard (LMDB called from elsewhere) still ends the process.
 *
 * The jump skips the cleanup of the storage frames it leaves: the transactions and cursors are closed here
 * (they are tracked per thread), memory those frames held is not (once per damaged store).
 */
#include "storage/store-int.h"

#include <string.h>
#include <sys/stat.h>

#include "common/log.h"

/* Transactions the calling thread has open, so that a caught assertion can abort them. */
#define KMS_GUARD_TXNS 8

static __thread struct kms_store_guard *guard_top;
static __thread void *guard_txns[KMS_GUARD_TXNS];
static __thread size_t guard_ntxns;
static __thread void *guard_curs[KMS_GUARD_TXNS];
static __thread size_t guard_ncurs;

/* Adds p to a thread's list (one that is full leaves it out: a caught assertion then leaves it to the process). */
static void list_add(void **list, size_t *n, void *p)
{
	if (*n < KMS_GUARD_TXNS)
		list[(*n)++] = p;
}

/* Removes p from a thread's list, if there. */
static void list_remove(void **list, size_t *n, const void *p)
{
	for (size_t i = *n; i-- > 0;) {
		if (list[i] == p) {
			memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof(list[0]));
			(*n)--;
			return;
		}
	}
}

void kms_store_guard_push(struct kms_store_guard *g)
{
	g->prev = guard_top;
	g->mark = guard_ntxns;
	g->cmark = guard_ncurs;
	guard_top = g;
}

void kms_store_guard_pop(struct kms_store_guard *g)
{
	guard_top = g->prev;
}

CK_RV kms_store_guard_caught(struct kms_store *s, struct kms_store_guard *g)
{
	while (guard_ncurs > g->cmark)
		mdb_cursor_close(guard_curs[--guard_ncurs]);
	while (guard_ntxns > g->mark)
		mdb_txn_abort(guard_txns[--guard_ntxns]);
	s->damaged = true;
	return CKR_DEVICE_ERROR;
}

void kms_store_assert(MDB_env *env, const char *msg)
{
	const char *dir = NULL;

	if (mdb_env_get_path(env, &dir) != 0 || !dir)
		dir = "?";
	KMS_ERR("store: %s/data.mdb is damaged (LMDB: %s); the store is not used further by this process, "
		"kms11 store check examines it", dir, msg);
	if (guard_top)
		longjmp(guard_top->jb, 1);
	/* returning lets LMDB abort */
}

void kms_store_txn_track(MDB_txn *txn)
{
	list_add(guard_txns, &guard_ntxns, txn);
}

void kms_store_txn_untrack(MDB_txn *txn)
{
	list_remove(guard_txns, &guard_ntxns, txn);
}

int kms_store_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **c)
{
	int rc = mdb_cursor_open(txn, dbi, c);

	if (rc == 0)
		list_add(guard_curs, &guard_ncurs, *c);
	return rc;
}

void kms_store_cursor_close(MDB_cursor *c)
{
	list_remove(guard_curs, &guard_ncurs, c);
	mdb_cursor_close(c);
}

int kms_store_wbegin(struct kms_store *s, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, 0, txn);

	if (rc == 0)
		kms_store_txn_track(*txn);
	return rc;
}

int kms_store_commit(MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	/* after the commit, which ends the transaction either way: an assertion inside it aborts it */
	kms_store_txn_untrack(txn);
	return rc;
}

void kms_store_abort(MDB_txn *txn)
{
	kms_store_txn_untrack(txn);
	mdb_txn_abort(txn);
}

/*
 * A record's size comes from its page: on a damaged page it can be anything, and reading it would run past
 * the end of data.mdb, a SIGBUS. A value that lies in the map must end inside the file (its size is cached
 * and read again before a value is refused; the file only grows). Values outside the map are in pages the
 * current write transaction made itself.
 */
static int kms_store_val_check(struct kms_store *s, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;
	size_t off, fsz;
	struct stat st;
	int fd = -1;

	if (!v->mv_size || !s->map || p < s->map || (size_t)(p - s->map) >= s->mapsize)
		return MDB_SUCCESS;
	off = (size_t)(p - s->map);
	fsz = __atomic_load_n(&s->filesz, __ATOMIC_RELAXED);
	if (v->mv_size <= fsz && off <= fsz - v->mv_size)
		return MDB_SUCCESS;
	if (mdb_env_get_fd(s->env, &fd) != 0 || fd < 0 || fstat(fd, &st) != 0)
		return MDB_CORRUPTED;
	fsz = (size_t)st.st_size;
	__atomic_store_n(&s->filesz, fsz, __ATOMIC_RELAXED);
	if (v->mv_size <= fsz && off <= fsz - v->mv_size)
		return MDB_SUCCESS;
	KMS_ERR("store: data.mdb is damaged: a record of %zu bytes at offset %zu runs past the file's %zu bytes",
		v->mv_size, off, fsz);
	return MDB_CORRUPTED;
}

int kms_mdb_get(struct kms_store *s, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
	int rc = mdb_get(txn, dbi, k, v);

	return rc ? rc : kms_store_val_check(s, v);
}

int kms_mdb_cget(struct kms_store *s, MDB_cursor *c, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
	int rc = mdb_cursor_get(c, k, v, op);

	if (rc == 0)
		rc = kms_store_val_check(s, k);
	return rc ? rc : kms_store_val_check(s, v);
}
