/* SPDX-License-Identifier: Apache-2.0 */
/* Token objects in the store: records, their index entries, and template queries over the indexes. */
#include "common/osslctx.h"
#include "storage/store-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/util.h"
#include "include/kms11.h"

/* The class key of an object without a well-formed CKA_CLASS, so every object is in idx_class. */
#define KMS_CLASS_NONE UINT64_MAX
/* obj_token value: u32 token || u64 stamp, big endian. */
#define KMS_OBJ_TOKEN_LEN 12

struct kms_ikey {
	uint8_t buf[KMS_STORE_KEY_MAX];
	MDB_val k;
};

/* Index key token(4) || value, or token(4) || SHA-256(value) when too long for LMDB. */
static int kms_ikey_bytes(const struct kms_store *s, struct kms_ikey *ik, uint32_t no, const uint8_t *v, size_t len)
{
	kms_be32_put(ik->buf, no);
	ik->k.mv_data = ik->buf;
	if (len > s->maxkey - 4) {
		if (!kms_sha256() || !EVP_Digest(v, len, ik->buf + 4, NULL, kms_sha256(), NULL))
			return ENOMEM;
		ik->k.mv_size = 4 + 32;
		return 0;
	}
	if (len)
		memcpy(ik->buf + 4, v, len);
	ik->k.mv_size = 4 + len;
	return 0;
}

/* Index key token(4) || value as u64 (big endian). */
static void kms_ikey_u64(struct kms_ikey *ik, uint32_t no, uint64_t v)
{
	kms_be32_put(ik->buf, no);
	kms_be64_put(ik->buf + 4, v);
	ik->k.mv_data = ik->buf;
	ik->k.mv_size = 12;
}

/* Reads an unsigned long attribute from a record; 0 or -1 when absent or malformed. */
static int kms_record_ulong(const uint8_t *rec, size_t len, uint64_t type, uint64_t *out)
{
	const uint8_t *v;
	unsigned long ul;
	size_t vl;

	if (kms_record_find(rec, len, type, &v, &vl) < 0 || vl != sizeof(ul))
		return -1;
	memcpy(&ul, v, sizeof(ul));
	*out = ul;
	return 0;
}

/* Index key token(4) || creation time (u64 BE, biased by 2^63) || key id, for a record with a key id of
 * 1..KMS_STORE_KID_MAX bytes; -1 for others. An unreadable or missing creation time counts as 0. */
static int kms_ikey_created(struct kms_ikey *ik, uint32_t no, const uint8_t *rec, size_t len)
{
	const uint8_t *kid, *v;
	size_t kidlen, vl;
	char text[32];
	time_t t = 0;

	if (kms_record_find(rec, len, CKA_KMS11_KEY_ID, &kid, &kidlen) < 0 || kidlen == 0 || kidlen > KMS_STORE_KID_MAX)
		return -1;
	if (kms_record_find(rec, len, CKA_KMS11_CREATED, &v, &vl) == 0) {
		snprintf(text, sizeof(text), "%.*s", (int)(vl < sizeof(text) - 1 ? vl : sizeof(text) - 1), (const char *)v);
		if (kms_time_parse(text, &t) != 0)
			t = 0;
	}
	kms_be32_put(ik->buf, no);
	kms_be64_put(ik->buf + 4, (uint64_t)(int64_t)t ^ (1ull << 63));
	memcpy(ik->buf + 12, kid, kidlen);
	ik->k.mv_data = ik->buf;
	ik->k.mv_size = 12 + kidlen;
	return 0;
}

static int kms_index_op(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, enum kms_index_op op)
{
	MDB_cursor *c;
	int rc;

	switch (op) {
	case KMS_INDEX_ADD:
		rc = mdb_put(txn, dbi, k, v, MDB_NODUPDATA);
		return rc == MDB_KEYEXIST ? 0 : rc;
	case KMS_INDEX_DEL:
		rc = mdb_del(txn, dbi, k, v);
		return rc == MDB_NOTFOUND ? 0 : rc;
	default:
		rc = kms_store_cursor_open(txn, dbi, &c);
		if (rc)
			return rc;
		rc = mdb_cursor_get(c, k, v, MDB_GET_BOTH);
		kms_store_cursor_close(c);
		return rc;
	}
}

/* Index key of an alias: the alias alone (aliases are unique across the store, so not per token), or its
 * SHA-256 when too long; the first four bytes are zero, the token number no object has. */
static int kms_ikey_alias(const struct kms_store *s, struct kms_ikey *ik, const uint8_t *v, size_t len)
{
	return kms_ikey_bytes(s, ik, 0, v, len);
}

/* taken when an object other than id, of another key (a different CKA_KMS11_KEY_ID), holds index key k of dbi; with
 * keys_only, only key objects count. rec is id's record. */
static int kms_other_key_holds(struct kms_store *s, MDB_txn *txn, enum kms_store_db db, MDB_val *k, uint64_t id,
			       const uint8_t *rec, size_t len, bool keys_only, int taken)
{
	const uint8_t *mine = NULL, *theirs;
	size_t minelen = 0, theirlen;
	uint64_t cls;
	MDB_cursor *c;
	MDB_val key = *k, v, r;
	int rc;

	if (kms_record_find(rec, len, CKA_KMS11_KEY_ID, &mine, &minelen) < 0)
		mine = NULL;
	rc = kms_store_cursor_open(txn, s->dbi[db], &c);
	if (rc)
		return rc;
	for (rc = kms_mdb_cget(s, c, &key, &v, MDB_SET_KEY); rc == 0; rc = kms_mdb_cget(s, c, &key, &v, MDB_NEXT_DUP)) {
		if (v.mv_size != 8 || kms_be64_get(v.mv_data) == id)
			continue;
		rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJECTS], &v, &r);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc)
			break;
		if (keys_only && (kms_record_ulong(r.mv_data, r.mv_size, CKA_CLASS, &cls) < 0 ||
				  !kms_attr_is_key_class((unsigned long)cls)))
			continue;
		if (!mine || kms_record_find(r.mv_data, r.mv_size, CKA_KMS11_KEY_ID, &theirs, &theirlen) < 0 ||
		    theirlen != minelen || memcmp(theirs, mine, minelen) != 0) {
			rc = taken;
			break;
		}
	}
	kms_store_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* KMS_STORE_ALIAS_TAKEN when an object of another key holds the alias whose index key is k. */
static int kms_alias_check(struct kms_store *s, MDB_txn *txn, MDB_val *k, uint64_t id, const uint8_t *rec,
			   size_t len)
{
	return kms_other_key_holds(s, txn, KMS_DB_ALIAS, k, id, rec, len, false, KMS_STORE_ALIAS_TAKEN);
}

/* KMS_STORE_NAME_TAKEN when key object id (record rec) of token no has a CKA_LABEL that a key object of another
 * key of the token has too. */
static int kms_label_check(struct kms_store *s, MDB_txn *txn, uint32_t no, uint64_t id, const uint8_t *rec, size_t len)
{
	const uint8_t *label;
	size_t ll;
	uint64_t cls;
	struct kms_ikey ik;
	int rc;

	if (kms_record_ulong(rec, len, CKA_CLASS, &cls) < 0 || !kms_attr_is_key_class((unsigned long)cls) ||
	    kms_record_find(rec, len, CKA_LABEL, &label, &ll) < 0 || ll == 0)
		return 0;
	rc = kms_ikey_bytes(s, &ik, no, label, ll);
	return rc ? rc : kms_other_key_holds(s, txn, KMS_DB_LABEL, &ik.k, id, rec, len, true, KMS_STORE_NAME_TAKEN);
}

/* Index entries of the list attributes: one per tag (per token) and one per alias (store-wide, unique). */
static int kms_index_lists(struct kms_store *s, MDB_txn *txn, uint32_t no, uint64_t id, const uint8_t *rec,
			   size_t len, MDB_val *iv, enum kms_index_op add)
{
	static const uint64_t types[] = { CKA_KMS11_TAGS, CKA_KMS11_ALIASES };
	struct kms_ikey ik;
	int rc = 0;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]) && rc == 0; t++) {
		const uint8_t *v;
		size_t vl, pos = 0;

		if (kms_record_find(rec, len, types[t], &v, &vl) < 0)
			continue;
		while (rc == 0 && pos < vl) {
			const uint8_t *end = memchr(v + pos, 0, vl - pos);
			size_t el = end ? (size_t)(end - (v + pos)) : vl - pos;

			if (types[t] == CKA_KMS11_TAGS) {
				rc = kms_ikey_bytes(s, &ik, no, v + pos, el);
				if (rc == 0)
					rc = kms_index_op(txn, s->dbi[KMS_DB_TAG], &ik.k, iv, add);
			} else {
				rc = kms_ikey_alias(s, &ik, v + pos, el);
				if (rc == 0 && add == KMS_INDEX_ADD)
					rc = kms_alias_check(s, txn, &ik.k, id, rec, len);
				if (rc == 0)
					rc = kms_index_op(txn, s->dbi[KMS_DB_ALIAS], &ik.k, iv, add);
			}
			pos += el + 1;
		}
	}
	return rc;
}

/* Adds, removes or checks (MDB_NOTFOUND when one is missing) the index entries of one object record. */
int kms_index_record(struct kms_store *s, MDB_txn *txn, uint32_t no, uint64_t id, const uint8_t *rec, size_t len,
		     enum kms_index_op add)
{
	static const struct {
		uint64_t type;
		enum kms_store_db db;
	} bytes_idx[] = { { CKA_LABEL, KMS_DB_LABEL }, { CKA_ID, KMS_DB_ID }, { CKA_KMS11_KEY_ID, KMS_DB_KEYID } };
	struct kms_ikey ik;
	uint8_t idbuf[8];
	MDB_val iv = { 8, idbuf };
	const uint8_t *v;
	uint64_t u;
	size_t vl;
	int rc;

	kms_be64_put(idbuf, id);
	for (size_t i = 0; i < sizeof(bytes_idx) / sizeof(bytes_idx[0]); i++) {
		if (kms_record_find(rec, len, bytes_idx[i].type, &v, &vl) < 0)
			continue;
		rc = kms_ikey_bytes(s, &ik, no, v, vl);
		if (rc == 0)
			rc = kms_index_op(txn, s->dbi[bytes_idx[i].db], &ik.k, &iv, add);
		if (rc)
			return rc;
	}
	if (kms_record_ulong(rec, len, CKA_CLASS, &u) < 0)
		u = KMS_CLASS_NONE;
	kms_ikey_u64(&ik, no, u);
	rc = kms_index_op(txn, s->dbi[KMS_DB_CLASS], &ik.k, &iv, add);
	if (rc)
		return rc;
	if (kms_record_ulong(rec, len, CKA_KEY_TYPE, &u) == 0) {
		kms_ikey_u64(&ik, no, u);
		rc = kms_index_op(txn, s->dbi[KMS_DB_KEYTYPE], &ik.k, &iv, add);
		if (rc)
			return rc;
	}
	/* Key objects by lifecycle state, a missing state counted as its default (enabled), and by creation time. */
	if (kms_record_ulong(rec, len, CKA_CLASS, &u) == 0 && kms_attr_is_key_class((unsigned long)u)) {
		if (kms_record_ulong(rec, len, CKA_KMS11_STATE, &u) < 0)
			u = KMS11_STATE_ENABLED;
		kms_ikey_u64(&ik, no, u);
		rc = kms_index_op(txn, s->dbi[KMS_DB_STATE], &ik.k, &iv, add);
		if (rc == 0 && kms_ikey_created(&ik, no, rec, len) == 0)
			rc = kms_index_op(txn, s->dbi[KMS_DB_CREATED], &ik.k, &iv, add);
		if (rc)
			return rc;
	}
	return kms_index_lists(s, txn, no, id, rec, len, &iv, add);
}

/* Removes the record and index entries of id (token entry tv) inside txn. */
static int kms_obj_unindex(struct kms_store *s, MDB_txn *txn, MDB_val *idk, const MDB_val *tv, uint64_t id)
{
	MDB_val rv;
	int rc;

	if (tv->mv_size < 4)
		return MDB_CORRUPTED;
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJECTS], idk, &rv);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	return kms_index_record(s, txn, kms_be32_get(tv->mv_data), id, rv.mv_data, rv.mv_size, KMS_INDEX_DEL);
}

int kms_store_obj_del_txn(struct kms_store *s, MDB_txn *txn, uint64_t id)
{
	uint8_t idbuf[8];
	MDB_val idk = { 8, idbuf }, tv;
	int rc;

	kms_be64_put(idbuf, id);
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJ_TOKEN], &idk, &tv);
	if (rc)
		return rc;
	rc = kms_obj_unindex(s, txn, &idk, &tv, id);
	if (rc)
		return rc;
	rc = mdb_del(txn, s->dbi[KMS_DB_OBJECTS], &idk, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	return mdb_del(txn, s->dbi[KMS_DB_OBJ_TOKEN], &idk, NULL);
}

static int kms_ids_push(uint64_t **ids, size_t *n, size_t *cap, uint64_t id)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		uint64_t *p;

		if (nc > SIZE_MAX / sizeof(*p))
			return ENOMEM;
		p = realloc(*ids, nc * sizeof(*p));
		if (!p)
			return ENOMEM;
		*ids = p;
		*cap = nc;
	}
	(*ids)[(*n)++] = id;
	return 0;
}

int kms_store_token_ids(struct kms_store *s, MDB_txn *txn, uint32_t no, uint64_t **ids, size_t *n, size_t *cap)
{
	MDB_cursor *c = NULL;
	uint8_t pfx[4];
	MDB_val k = { 4, pfx }, v;
	int rc;

	kms_be32_put(pfx, no);
	rc = kms_store_cursor_open(txn, s->dbi[KMS_DB_CLASS], &c);
	if (rc)
		return rc;
	for (rc = kms_mdb_cget(s, c, &k, &v, MDB_SET_RANGE); rc == 0; rc = kms_mdb_cget(s, c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 4 || memcmp(k.mv_data, pfx, 4) != 0)
			break;
		if (v.mv_size != 8)
			continue;
		rc = kms_ids_push(ids, n, cap, kms_be64_get(v.mv_data));
		if (rc)
			break;
	}
	kms_store_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Writes object id of token no (encoded record rec) inside txn, with its token entry and index
 * entries. When create, MDB_KEYEXIST if it exists; otherwise replaces it. Returns an LMDB code. */
static int kms_obj_put_txn(struct kms_store *s, MDB_txn *txn, uint32_t no, uint64_t id, const uint8_t *rec,
			   size_t reclen, bool create)
{
	uint8_t idbuf[8], tokbuf[KMS_OBJ_TOKEN_LEN];
	MDB_val idk = { 8, idbuf }, tv, v;
	int rc;

	kms_be64_put(idbuf, id);
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJ_TOKEN], &idk, &tv);
	if (rc == 0) {
		if (create)
			return MDB_KEYEXIST;
		rc = kms_obj_unindex(s, txn, &idk, &tv, id);
	} else if (rc == MDB_NOTFOUND) {
		rc = 0;
	}
	if (rc)
		return rc;
	v.mv_size = reclen;
	v.mv_data = (void *)rec;
	rc = mdb_put(txn, s->dbi[KMS_DB_OBJECTS], &idk, &v, 0);
	if (rc)
		return rc;
	kms_be32_put(tokbuf, no);
	kms_be64_put(tokbuf + 4, (uint64_t)mdb_txn_id(txn));
	v.mv_size = sizeof(tokbuf);
	v.mv_data = tokbuf;
	rc = mdb_put(txn, s->dbi[KMS_DB_OBJ_TOKEN], &idk, &v, 0);
	if (rc)
		return rc;
	return kms_index_record(s, txn, no, id, rec, reclen, KMS_INDEX_ADD);
}

/* Writes n objects in one transaction (all or none); see kms_store_obj_put and _create_many. */
static int kms_key_update_txn(struct kms_store *s, MDB_txn *txn, uint32_t no, const uint8_t *kid, size_t kidlen,
			      kms_store_objs_update_fn fn, void *ctx, size_t *n, CK_RV *rv);

static CK_RV kms_obj_put_many(struct kms_store *s, uint32_t no, const uint64_t *ids,
			      const struct kms_attrs *const *attrs, size_t n, bool create,
			      const struct kms_store_key_change *chg)
{
	CK_RV fnrv = CKR_OK;
	MDB_txn *txn = NULL;
	uint8_t **recs;
	size_t *lens;
	CK_RV rv;
	int rc;
	size_t i;

	recs = calloc(n, sizeof(*recs));
	lens = calloc(n, sizeof(*lens));
	if (!recs || !lens) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!attrs[i] || ids[i] == 0) {
			rv = CKR_ARGUMENTS_BAD;
			goto out;
		}
		if (kms_attrs_encode(attrs[i], &recs[i], &lens[i]) < 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
	rc = kms_store_wbegin(s, &txn);
	/* The key's existing objects change first (they do not include the new ones). */
	if (rc == 0 && chg && chg->fn)
		rc = kms_key_update_txn(s, txn, no, chg->kid, chg->kidlen, chg->fn, chg->ctx, NULL, &fnrv);
	if (rc == 0 && fnrv != CKR_OK) {
		rv = fnrv;
		goto out;
	}
	for (i = 0; rc == 0 && i < n; i++)
		rc = kms_obj_put_txn(s, txn, no, ids[i], recs[i], lens[i], create);
	if (rc == MDB_KEYEXIST) {
		KMS_ERR("store: object %llu already exists", (unsigned long long)ids[i - 1]);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	for (i = 0; rc == 0 && chg && chg->unique_label && i < n; i++)
		rc = kms_label_check(s, txn, no, ids[i], recs[i], lens[i]);
	if (rc == MDB_KEYEXIST) {
		KMS_ERR("store: object %llu already exists", (unsigned long long)ids[i - 1]);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (rc == 0) {
		rc = kms_store_commit(txn);
		txn = NULL;
	}
	rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "object put");
out:
	if (txn)
		kms_store_abort(txn);
	for (i = 0; recs && lens && i < n; i++) {
		if (recs[i]) {
			OPENSSL_cleanse(recs[i], lens[i]);
			free(recs[i]);
		}
	}
	free(lens);
	free(recs);
	return rv;
}

static CK_RV store_obj_put(struct kms_store *s, uint32_t no, uint64_t id, const struct kms_attrs *a, bool create)
{
	if (!s || !a || id == 0)
		return CKR_ARGUMENTS_BAD;
	return kms_obj_put_many(s, no, &id, &a, 1, create, NULL);
}

static CK_RV store_obj_create_many(struct kms_store *s, uint32_t no, const uint64_t *ids,
				   const struct kms_attrs *const *attrs, size_t n)
{
	if (!s || (n && (!ids || !attrs)))
		return CKR_ARGUMENTS_BAD;
	if (n == 0)
		return CKR_OK;
	return kms_obj_put_many(s, no, ids, attrs, n, true, NULL);
}

static CK_RV store_obj_create_key(struct kms_store *s, uint32_t no, const uint64_t *ids,
				  const struct kms_attrs *const *attrs, size_t n, const struct kms_store_key_change *chg)
{
	if (!s || !n || !ids || !attrs || (chg && chg->fn && (!chg->kid || !chg->kidlen)))
		return CKR_ARGUMENTS_BAD;
	return kms_obj_put_many(s, no, ids, attrs, n, true, chg);
}

static CK_RV store_obj_update(struct kms_store *s, uint32_t no, uint64_t id, kms_store_obj_update_fn fn, void *ctx)
{
	struct kms_attrs cur = KMS_ATTRS_INIT, next = KMS_ATTRS_INIT;
	MDB_txn *txn = NULL;
	uint8_t idbuf[8], *rec = NULL;
	size_t reclen = 0;
	MDB_val idk = { 8, idbuf }, tv, v;
	CK_RV rv;
	int rc;

	if (!s || !fn || id == 0)
		return CKR_ARGUMENTS_BAD;
	kms_be64_put(idbuf, id);
	rc = kms_store_wbegin(s, &txn);
	if (rc == 0)
		rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJ_TOKEN], &idk, &tv);
	if (rc == 0 && (tv.mv_size < 4 || kms_be32_get(tv.mv_data) != no))
		rc = MDB_NOTFOUND;
	if (rc == 0)
		rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJECTS], &idk, &v);
	if (rc) {
		rv = kms_store_rv(rc, CKR_OBJECT_HANDLE_INVALID, "object update");
		goto out;
	}
	if (kms_attrs_decode(v.mv_data, v.mv_size, &cur) < 0) {
		KMS_ERR("store: object %llu: bad record", (unsigned long long)id);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	rv = fn(ctx, &cur, &next);
	if (rv != CKR_OK)
		goto out;
	if (kms_attrs_encode(&next, &rec, &reclen) < 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rc = kms_obj_put_txn(s, txn, no, id, rec, reclen, false);
	if (rc == 0) {
		rc = kms_store_commit(txn);
		txn = NULL;
	}
	rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "object update");
out:
	if (txn)
		kms_store_abort(txn);
	if (rec) {
		OPENSSL_cleanse(rec, reclen);
		free(rec);
	}
	kms_attrs_free(&next);
	kms_attrs_free(&cur);
	return rv;
}

static CK_RV store_objs_update(struct kms_store *s, uint32_t no, kms_store_objs_update_fn fn, void *ctx)
{
	struct kms_attrs cur = KMS_ATTRS_INIT, next = KMS_ATTRS_INIT;
	MDB_txn *txn = NULL;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0, reclen = 0;
	uint8_t idbuf[8], *rec = NULL;
	MDB_val idk = { 8, idbuf }, v;
	CK_RV rv = CKR_OK;
	int rc;

	if (!s || !fn)
		return CKR_ARGUMENTS_BAD;
	rc = kms_store_wbegin(s, &txn);
	if (rc == 0)
		rc = kms_store_token_ids(s, txn, no, &ids, &n, &cap);
	for (size_t i = 0; rc == 0 && rv == CKR_OK && i < n; i++) {
		kms_be64_put(idbuf, ids[i]);
		rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJECTS], &idk, &v);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		if (kms_attrs_decode(v.mv_data, v.mv_size, &cur) < 0) {
			KMS_ERR("store: object %llu: bad record", (unsigned long long)ids[i]);
			continue;
		}
		rv = fn(ctx, ids[i], &cur, &next);
		if (rv == CKR_OK && next.n) {
			if (kms_attrs_encode(&next, &rec, &reclen) < 0)
				rv = CKR_HOST_MEMORY;
			else
				rc = kms_obj_put_txn(s, txn, no, ids[i], rec, reclen, false);
		}
		if (rec) {
			OPENSSL_cleanse(rec, reclen);
			free(rec);
			rec = NULL;
		}
		kms_attrs_free(&cur);
		kms_attrs_free(&next);
	}
	if (rc == 0 && rv == CKR_OK) {
		rc = kms_store_commit(txn);
		txn = NULL;
	}
	if (rv == CKR_OK)
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "objects update");
	if (txn)
		kms_store_abort(txn);
	kms_attrs_free(&cur);
	kms_attrs_free(&next);
	free(ids);
	return rv;
}

static CK_RV store_obj_get_gen(struct kms_store *s, uint64_t id, uint32_t *no, struct kms_attrs *out,
			       uint64_t *gen)
{
	MDB_txn *txn = NULL;
	uint8_t idbuf[8];
	MDB_val idk = { 8, idbuf }, tv, v;
	CK_RV rv;
	int rc;

	if (!s || !out)
		return CKR_ARGUMENTS_BAD;
	kms_attrs_init(out);
	kms_be64_put(idbuf, id);
	rc = kms_store_rbegin(s, &txn);
	if (rc)
		return kms_store_rv(rc, CKR_DEVICE_ERROR, "read");
	/* A read transaction's id is that of the last write committed before it began. */
	if (gen)
		*gen = (uint64_t)mdb_txn_id(txn);
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJ_TOKEN], &idk, &tv);
	if (rc == 0)
		rc = tv.mv_size < 4 ? MDB_CORRUPTED : kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJECTS], &idk, &v);
	if (rc) {
		rv = kms_store_rv(rc, CKR_OBJECT_HANDLE_INVALID, "object get");
		goto out;
	}
	if (kms_attrs_decode(v.mv_data, v.mv_size, out) < 0) {
		KMS_ERR("store: object %llu: bad record", (unsigned long long)id);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (no)
		*no = kms_be32_get(tv.mv_data);
	rv = CKR_OK;
out:
	kms_store_rend(s, txn);
	return rv;
}

static CK_RV store_obj_get(struct kms_store *s, uint64_t id, uint32_t *no, struct kms_attrs *out)
{
	return kms_store_obj_get_gen(s, id, no, out, NULL);
}

static CK_RV store_obj_stamp(struct kms_store *s, uint64_t id, uint64_t *stamp)
{
	MDB_txn *txn = NULL;
	uint8_t idbuf[8];
	MDB_val idk = { 8, idbuf }, tv;
	CK_RV rv;
	int rc;

	if (!s || !stamp)
		return CKR_ARGUMENTS_BAD;
	kms_be64_put(idbuf, id);
	rc = kms_store_rbegin(s, &txn);
	if (rc)
		return kms_store_rv(rc, CKR_DEVICE_ERROR, "read");
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJ_TOKEN], &idk, &tv);
	if (rc == 0 && tv.mv_size != KMS_OBJ_TOKEN_LEN)
		rc = MDB_CORRUPTED;
	if (rc == 0)
		*stamp = kms_be64_get((const uint8_t *)tv.mv_data + 4);
	rv = kms_store_rv(rc, CKR_OBJECT_HANDLE_INVALID, "object stamp");
	kms_store_rend(s, txn);
	return rv;
}

static CK_RV store_obj_del(struct kms_store *s, uint64_t id)
{
	MDB_txn *txn = NULL;
	CK_RV rv;
	int rc;

	if (!s)
		return CKR_ARGUMENTS_BAD;
	rc = kms_store_wbegin(s, &txn);
	if (rc == 0)
		rc = kms_store_obj_del_txn(s, txn, id);
	if (rc == 0) {
		rc = kms_store_commit(txn);
		txn = NULL;
	}
	rv = kms_store_rv(rc, CKR_OBJECT_HANDLE_INVALID, "object delete");
	if (txn)
		kms_store_abort(txn);
	return rv;
}

/* Query state shared by the candidate checks of one find. */
struct kms_find {
	struct kms_store *s;
	MDB_txn *txn;
	uint32_t no;
	const struct kms_attrs *tmpl;
	bool include_private;
	bool raw; /* the index's ids as they are, no record read */
	uint64_t *ids;
	size_t n, cap;
};

/* Keeps candidate id when it belongs to the token and its record matches the template. */
static int kms_find_check(struct kms_find *f, uint64_t id)
{
	uint8_t idbuf[8];
	MDB_val idk = { 8, idbuf }, tv, rv;
	const uint8_t *val;
	size_t vlen = 0;
	uint64_t cls;
	bool is_key;
	int rc;

	if (f->raw)
		return kms_ids_push(&f->ids, &f->n, &f->cap, id);
	kms_be64_put(idbuf, id);
	rc = kms_mdb_get(f->s, f->txn, f->s->dbi[KMS_DB_OBJ_TOKEN], &idk, &tv);
	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (tv.mv_size < 4 || kms_be32_get(tv.mv_data) != f->no)
		return 0;
	rc = kms_mdb_get(f->s, f->txn, f->s->dbi[KMS_DB_OBJECTS], &idk, &rv);
	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (!f->include_private && kms_record_find(rv.mv_data, rv.mv_size, CKA_PRIVATE, &val, &vlen) == 0 &&
	    vlen == 1 && val[0] != 0)
		return 0;
	for (size_t i = 0; i < f->tmpl->n; i++) {
		const struct kms_attr *at = &f->tmpl->v[i];

		if (kms_record_find(rv.mv_data, rv.mv_size, at->type, &val, &vlen) < 0)
			val = NULL;
		/* The class matters only for a missing attribute, which a key object answers with its default. */
		is_key = !val && kms_record_ulong(rv.mv_data, rv.mv_size, CKA_CLASS, &cls) == 0 &&
			 kms_attr_is_key_class((unsigned long)cls);
		if (!kms_attr_matches(at->type, is_key, val, vlen, at->val, at->len))
			return 0;
	}
	return kms_ids_push(&f->ids, &f->n, &f->cap, id);
}

/* Checks every id stored under one index key. */
static int kms_find_key(struct kms_find *f, MDB_dbi dbi, MDB_val *key)
{
	MDB_cursor *c = NULL;
	MDB_val k = *key, v;
	int rc;

	rc = kms_store_cursor_open(f->txn, dbi, &c);
	if (rc)
		return rc;
	for (rc = kms_mdb_cget(f->s, c, &k, &v, MDB_SET_KEY); rc == 0; rc = kms_mdb_cget(f->s, c, &k, &v, MDB_NEXT_DUP)) {
		if (v.mv_size != 8)
			continue;
		rc = kms_find_check(f, kms_be64_get(v.mv_data));
		if (rc)
			break;
	}
	kms_store_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The one element a template value for a list attribute names (kms11.h: with or without its NUL); false for
 * an empty value, which no index answers (it matches objects with an empty list). */
static bool kms_list_one(const struct kms_attr *at, const uint8_t **el, size_t *len)
{
	*el = at->val;
	*len = at->len;
	if (*len && (*el)[*len - 1] == 0)
		(*len)--;
	return *len > 0 && !memchr(*el, 0, *len);
}

static int kms_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static CK_RV store_obj_find(struct kms_store *s, uint32_t no, const struct kms_attrs *tmpl, bool include_private,
			    bool raw, uint64_t **ids, size_t *n)
{
	struct kms_find f = { .s = s, .no = no, .tmpl = tmpl, .include_private = include_private, .raw = raw };
	const struct kms_attr *at;
	const uint8_t *el;
	size_t ellen;
	uint64_t *all = NULL;
	size_t nall = 0, capall = 0;
	struct kms_ikey ik;
	CK_RV rv;
	int rc;

	if (!s || !tmpl || !ids || !n)
		return CKR_ARGUMENTS_BAD;
	*ids = NULL;
	*n = 0;
	rc = kms_store_rbegin(s, &f.txn);
	if (rc)
		return kms_store_rv(rc, CKR_DEVICE_ERROR, "read");
	if ((at = kms_attrs_get(tmpl, CKA_LABEL)) != NULL) {
		rc = kms_ikey_bytes(s, &ik, no, at->val, at->len);
		if (rc == 0)
			rc = kms_find_key(&f, s->dbi[KMS_DB_LABEL], &ik.k);
	} else if ((at = kms_attrs_get(tmpl, CKA_ID)) != NULL) {
		rc = kms_ikey_bytes(s, &ik, no, at->val, at->len);
		if (rc == 0)
			rc = kms_find_key(&f, s->dbi[KMS_DB_ID], &ik.k);
	} else if ((at = kms_attrs_get(tmpl, CKA_KMS11_KEY_ID)) != NULL) {
		rc = kms_ikey_bytes(s, &ik, no, at->val, at->len);
		if (rc == 0)
			rc = kms_find_key(&f, s->dbi[KMS_DB_KEYID], &ik.k);
	} else if ((at = kms_attrs_get(tmpl, CKA_KMS11_ALIASES)) != NULL && kms_list_one(at, &el, &ellen)) {
		rc = kms_ikey_alias(s, &ik, el, ellen);
		if (rc == 0)
			rc = kms_find_key(&f, s->dbi[KMS_DB_ALIAS], &ik.k);
	} else if ((at = kms_attrs_get(tmpl, CKA_KMS11_TAGS)) != NULL && kms_list_one(at, &el, &ellen)) {
		rc = kms_ikey_bytes(s, &ik, no, el, ellen);
		if (rc == 0)
			rc = kms_find_key(&f, s->dbi[KMS_DB_TAG], &ik.k);
	} else if ((at = kms_attrs_get(tmpl, CKA_KEY_TYPE)) != NULL && at->len == sizeof(unsigned long)) {
		unsigned long ul;

		memcpy(&ul, at->val, sizeof(ul));
		kms_ikey_u64(&ik, no, ul);
		rc = kms_find_key(&f, s->dbi[KMS_DB_KEYTYPE], &ik.k);
	} else if ((at = kms_attrs_get(tmpl, CKA_KMS11_STATE)) != NULL && at->len == sizeof(unsigned long)) {
		unsigned long ul;

		memcpy(&ul, at->val, sizeof(ul));
		kms_ikey_u64(&ik, no, ul);
		rc = kms_find_key(&f, s->dbi[KMS_DB_STATE], &ik.k);
	} else if ((at = kms_attrs_get(tmpl, CKA_CLASS)) != NULL && at->len == sizeof(unsigned long)) {
		unsigned long ul;

		memcpy(&ul, at->val, sizeof(ul));
		kms_ikey_u64(&ik, no, ul);
		rc = kms_find_key(&f, s->dbi[KMS_DB_CLASS], &ik.k);
	} else {
		rc = kms_store_token_ids(s, f.txn, no, &all, &nall, &capall);
		for (size_t i = 0; rc == 0 && i < nall; i++)
			rc = kms_find_check(&f, all[i]);
	}
	kms_store_rend(s, f.txn);
	free(all);
	if (rc) {
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "object find");
		free(f.ids);
		return rv;
	}
	if (f.n > 1) {
		size_t j = 1;

		qsort(f.ids, f.n, sizeof(f.ids[0]), kms_u64_cmp);
		for (size_t i = 1; i < f.n; i++) {
			if (f.ids[i] != f.ids[j - 1])
				f.ids[j++] = f.ids[i];
		}
		f.n = j;
	}
	*ids = f.ids;
	*n = f.n;
	return CKR_OK;
}

int kms_store_reindex(struct kms_store *s, MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v, tv;
	int rc;

	rc = kms_store_cursor_open(txn, s->dbi[KMS_DB_OBJECTS], &c);
	if (rc)
		return rc;
	for (rc = kms_mdb_cget(s, c, &k, &v, MDB_FIRST); rc == 0; rc = kms_mdb_cget(s, c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;
		rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJ_TOKEN], &k, &tv);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc == 0 && tv.mv_size < 4)
			rc = MDB_CORRUPTED;
		if (rc == 0)
			rc = kms_index_record(s, txn, kms_be32_get(tv.mv_data), kms_be64_get(k.mv_data), v.mv_data,
					      v.mv_size, KMS_INDEX_ADD);
		if (rc)
			break;
	}
	kms_store_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* kms_store_key_update inside txn: an LMDB code, or *rv set by fn (then the caller aborts). */
static int kms_key_update_txn(struct kms_store *s, MDB_txn *txn, uint32_t no, const uint8_t *kid, size_t kidlen,
			      kms_store_objs_update_fn fn, void *ctx, size_t *n, CK_RV *rv)
{
	struct kms_attrs cur = KMS_ATTRS_INIT, next = KMS_ATTRS_INIT;
	MDB_cursor *c = NULL;
	struct kms_ikey ik;
	MDB_val k, v, r;
	uint64_t *ids = NULL;
	size_t nids = 0, cap = 0;
	uint8_t *rec = NULL;
	size_t reclen = 0;
	int rc;

	*rv = CKR_OK;
	rc = kms_ikey_bytes(s, &ik, no, kid, kidlen);
	if (rc == 0)
		rc = kms_store_cursor_open(txn, s->dbi[KMS_DB_KEYID], &c);
	/* The ids first: writing moves entries of this index under the cursor. */
	k = ik.k;
	for (rc = rc ? rc : kms_mdb_cget(s, c, &k, &v, MDB_SET_KEY); rc == 0; rc = kms_mdb_cget(s, c, &k, &v, MDB_NEXT_DUP))
		if (v.mv_size == 8 && (rc = kms_ids_push(&ids, &nids, &cap, kms_be64_get(v.mv_data))) != 0)
			break;
	if (c)
		kms_store_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	for (size_t i = 0; rc == 0 && *rv == CKR_OK && i < nids; i++) {
		uint8_t idbuf[8];
		MDB_val idk = { 8, idbuf };
		const uint8_t *kv;
		size_t kvl;

		kms_be64_put(idbuf, ids[i]);
		rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJECTS], &idk, &r);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		/* Index keys of long values are digests: the record must really hold this key id. */
		if (kms_record_find(r.mv_data, r.mv_size, CKA_KMS11_KEY_ID, &kv, &kvl) < 0 || kvl != kidlen ||
		    memcmp(kv, kid, kidlen) != 0)
			continue;
		kms_attrs_free(&cur);
		kms_attrs_free(&next);
		if (kms_attrs_decode(r.mv_data, r.mv_size, &cur) < 0) {
			KMS_ERR("store: object %llu: bad record", (unsigned long long)ids[i]);
			*rv = CKR_DEVICE_ERROR;
			break;
		}
		if (n)
			(*n)++;
		*rv = fn(ctx, ids[i], &cur, &next);
		if (*rv == KMS_STORE_RV_DELETE) {
			*rv = CKR_OK;
			rc = kms_store_obj_del_txn(s, txn, ids[i]);
			continue;
		}
		if (*rv != CKR_OK || next.n == 0)
			continue;
		if (kms_attrs_encode(&next, &rec, &reclen) < 0) {
			*rv = CKR_HOST_MEMORY;
			break;
		}
		rc = kms_obj_put_txn(s, txn, no, ids[i], rec, reclen, false);
		OPENSSL_cleanse(rec, reclen);
		free(rec);
		rec = NULL;
	}
	free(ids);
	kms_attrs_free(&cur);
	kms_attrs_free(&next);
	return rc;
}

/* The name rule over the objects of key kid after a change (kms_store_key_change). */
static int kms_key_labels_check(struct kms_store *s, MDB_txn *txn, uint32_t no, const uint8_t *kid, size_t kidlen)
{
	MDB_cursor *c = NULL;
	struct kms_ikey ik;
	MDB_val k, v, r;
	int rc = kms_ikey_bytes(s, &ik, no, kid, kidlen);

	if (rc == 0)
		rc = kms_store_cursor_open(txn, s->dbi[KMS_DB_KEYID], &c);
	k = ik.k;
	for (rc = rc ? rc : kms_mdb_cget(s, c, &k, &v, MDB_SET_KEY); rc == 0; rc = kms_mdb_cget(s, c, &k, &v, MDB_NEXT_DUP)) {
		if (v.mv_size != 8)
			continue;
		rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_OBJECTS], &v, &r);
		if (rc == 0)
			rc = kms_label_check(s, txn, no, kms_be64_get(v.mv_data), r.mv_data, r.mv_size);
		else if (rc == MDB_NOTFOUND)
			rc = 0;
		if (rc)
			break;
	}
	if (c)
		kms_store_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static CK_RV store_key_change(struct kms_store *s, uint32_t no, const struct kms_store_key_change *chg, size_t *n)
{
	MDB_txn *txn = NULL;
	CK_RV rv = CKR_OK;
	int rc;

	if (n)
		*n = 0;
	if (!s || !chg || !chg->fn || !chg->kid || !chg->kidlen)
		return CKR_ARGUMENTS_BAD;
	rc = kms_store_wbegin(s, &txn);
	if (rc == 0)
		rc = kms_key_update_txn(s, txn, no, chg->kid, chg->kidlen, chg->fn, chg->ctx, n, &rv);
	if (rv == CKR_OK && rc == 0 && chg->unique_label)
		rc = kms_key_labels_check(s, txn, no, chg->kid, chg->kidlen);
	if (rv == CKR_OK && rc == 0) {
		rc = kms_store_commit(txn);
		txn = NULL;
	}
	if (rv == CKR_OK)
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "key update");
	if (txn)
		kms_store_abort(txn);
	return rv;
}

/* The public calls, each under the damage guard (guard.c). */
CK_RV kms_store_obj_put(struct kms_store *s, uint32_t no, uint64_t id, const struct kms_attrs *a, bool create)
{
	KMS_STORE_GUARDED(s, store_obj_put(s, no, id, a, create));
}

CK_RV kms_store_obj_create_many(struct kms_store *s, uint32_t no, const uint64_t *ids,
				const struct kms_attrs *const *attrs, size_t n)
{
	KMS_STORE_GUARDED(s, store_obj_create_many(s, no, ids, attrs, n));
}

CK_RV kms_store_obj_create_key(struct kms_store *s, uint32_t no, const uint64_t *ids,
			       const struct kms_attrs *const *attrs, size_t n, const struct kms_store_key_change *chg)
{
	KMS_STORE_GUARDED(s, store_obj_create_key(s, no, ids, attrs, n, chg));
}

CK_RV kms_store_obj_update(struct kms_store *s, uint32_t no, uint64_t id, kms_store_obj_update_fn fn, void *ctx)
{
	KMS_STORE_GUARDED(s, store_obj_update(s, no, id, fn, ctx));
}

CK_RV kms_store_objs_update(struct kms_store *s, uint32_t no, kms_store_objs_update_fn fn, void *ctx)
{
	KMS_STORE_GUARDED(s, store_objs_update(s, no, fn, ctx));
}

CK_RV kms_store_obj_get_gen(struct kms_store *s, uint64_t id, uint32_t *no, struct kms_attrs *out,
			    uint64_t *gen)
{
	KMS_STORE_GUARDED(s, store_obj_get_gen(s, id, no, out, gen));
}

CK_RV kms_store_obj_get(struct kms_store *s, uint64_t id, uint32_t *no, struct kms_attrs *out)
{
	KMS_STORE_GUARDED(s, store_obj_get(s, id, no, out));
}

CK_RV kms_store_obj_stamp(struct kms_store *s, uint64_t id, uint64_t *stamp)
{
	KMS_STORE_GUARDED(s, store_obj_stamp(s, id, stamp));
}

CK_RV kms_store_obj_del(struct kms_store *s, uint64_t id)
{
	KMS_STORE_GUARDED(s, store_obj_del(s, id));
}

CK_RV kms_store_obj_find(struct kms_store *s, uint32_t no, const struct kms_attrs *tmpl, bool include_private,
			 uint64_t **ids, size_t *n)
{
	KMS_STORE_GUARDED(s, store_obj_find(s, no, tmpl, include_private, false, ids, n));
}

CK_RV kms_store_index_ids(struct kms_store *s, uint32_t no, const struct kms_attrs *tmpl, uint64_t **ids, size_t *n)
{
	KMS_STORE_GUARDED(s, store_obj_find(s, no, tmpl, true, true, ids, n));
}

/* Copies the index entry under the cursor (key k) into e: its time, key id and ids. */
static int kms_centry_take(struct kms_store *s, MDB_cursor *c, const MDB_val *k, struct kms_store_centry *e)
{
	MDB_val dk, v;
	size_t cnt = 0;
	int rc;

	e->t = (int64_t)(kms_be64_get((const uint8_t *)k->mv_data + 4) ^ (1ull << 63));
	memcpy(e->kid, (const uint8_t *)k->mv_data + 12, k->mv_size - 12);
	e->kid[k->mv_size - 12] = '\0';
	rc = mdb_cursor_count(c, &cnt);
	e->nids = (size_t)cnt;
	for (size_t i = 0; rc == 0 && i < e->nids && i < KMS_STORE_CENTRY_IDS; i++) {
		rc = kms_mdb_cget(s, c, &dk, &v, i ? MDB_NEXT_DUP : MDB_FIRST_DUP);
		if (rc == 0)
			e->ids[i] = v.mv_size == 8 ? kms_be64_get(v.mv_data) : 0;
	}
	return rc;
}

static CK_RV store_created_read(struct kms_store *s, uint32_t no, bool desc, const struct kms_store_cpos *from,
				struct kms_store_centry *out, size_t max, size_t *n)
{
	uint8_t kb[4 + 8 + KMS_STORE_KID_MAX + 1];
	size_t bl = 4;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_val k;
	CK_RV rv;
	int rc;

	if (!s || !out || !n)
		return CKR_ARGUMENTS_BAD;
	*n = 0;
	kms_be32_put(kb, no);
	if (from) {
		size_t kl = from->kid ? strnlen(from->kid, KMS_STORE_KID_MAX) : 0;

		kms_be64_put(kb + 4, (uint64_t)from->t ^ (1ull << 63));
		memcpy(kb + 12, from->kid ? from->kid : "", kl);
		bl = 12 + kl;
		if (!from->kid)
			kb[bl++] = 0xff; /* above every key id, which are text */
	} else if (desc) {
		memset(kb + 4, 0xff, 9);
		bl = 13;
	}
	rc = kms_store_rbegin(s, &txn);
	if (rc == 0)
		rc = kms_store_cursor_open(txn, s->dbi[KMS_DB_CREATED], &c);
	if (rc == 0) {
		/* Onto the first key strictly past the bound in the walk's direction. */
		k.mv_size = bl;
		k.mv_data = kb;
		rc = kms_mdb_cget(s, c, &k, &(MDB_val){0, NULL}, MDB_SET_RANGE);
		if (!desc && rc == 0 && k.mv_size == bl && memcmp(k.mv_data, kb, bl) == 0)
			rc = kms_mdb_cget(s, c, &k, &(MDB_val){0, NULL}, MDB_NEXT_NODUP);
		else if (desc && (rc == 0 || rc == MDB_NOTFOUND))
			rc = kms_mdb_cget(s, c, &k, &(MDB_val){0, NULL}, rc == 0 ? MDB_PREV_NODUP : MDB_LAST);
	}
	while (rc == 0 && *n < max) {
		if (k.mv_size < 13 || memcmp(k.mv_data, kb, 4) != 0)
			break; /* another token's */
		if (k.mv_size - 12 <= KMS_STORE_KID_MAX) {
			rc = kms_centry_take(s, c, &k, &out[*n]);
			if (rc)
				break;
			(*n)++;
		}
		rc = kms_mdb_cget(s, c, &k, &(MDB_val){0, NULL}, desc ? MDB_PREV_NODUP : MDB_NEXT_NODUP);
	}
	rv = kms_store_rv(rc == MDB_NOTFOUND ? 0 : rc, CKR_DEVICE_ERROR, "creation index");
	if (c)
		kms_store_cursor_close(c);
	if (txn)
		kms_store_rend(s, txn);
	return rv;
}

CK_RV kms_store_created_read(struct kms_store *s, uint32_t no, bool desc, const struct kms_store_cpos *from,
			     struct kms_store_centry *out, size_t max, size_t *n)
{
	KMS_STORE_GUARDED(s, store_created_read(s, no, desc, from, out, max, n));
}

CK_RV kms_store_key_update(struct kms_store *s, uint32_t no, const uint8_t *kid, size_t kidlen,
			   kms_store_objs_update_fn fn, void *ctx, size_t *n)
{
	struct kms_store_key_change chg = { kid, kidlen, fn, ctx, false };

	KMS_STORE_GUARDED(s, store_key_change(s, no, &chg, n));
}

CK_RV kms_store_key_change(struct kms_store *s, uint32_t no, const struct kms_store_key_change *chg, size_t *n)
{
	KMS_STORE_GUARDED(s, store_key_change(s, no, chg, n));
}

static CK_RV store_created_count(struct kms_store *s, uint64_t *n)
{
	MDB_txn *txn = NULL;
	MDB_stat st;
	int rc;

	if (!s || !n)
		return CKR_ARGUMENTS_BAD;
	*n = 0;
	rc = kms_store_rbegin(s, &txn);
	if (rc)
		return kms_store_rv(rc, CKR_DEVICE_ERROR, "read");
	rc = mdb_stat(txn, s->dbi[KMS_DB_CREATED], &st);
	if (rc == 0)
		*n = st.ms_entries;
	kms_store_rend(s, txn);
	return kms_store_rv(rc, CKR_DEVICE_ERROR, "creation index");
}

CK_RV kms_store_created_count(struct kms_store *s, uint64_t *n)
{
	KMS_STORE_GUARDED(s, store_created_count(s, n));
}
