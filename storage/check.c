/* SPDX-License-Identifier: Apache-2.0 */
/* Offline verification of a store: every database walked read-only, records decoded, indexes cross-checked. */
#include "storage/store-int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

static void report(struct kms_store_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts a problem; the first KMS_STORE_REPORT_MAX are kept as text. */
static void report(struct kms_store_report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n_problems < KMS_STORE_REPORT_MAX) {
		va_start(ap, fmt);
		vsnprintf(r->problems[r->n_problems], sizeof(r->problems[0]), fmt, ap);
		va_end(ap);
	}
	r->n_problems++;
}

/* Walks the object records: each decodes, has its token entry and every index entry it should have. */
static int check_objects(struct kms_store *s, MDB_txn *txn, struct kms_store_report *r)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	MDB_cursor *c = NULL;
	MDB_val k, v, tv;
	uint64_t id;
	int rc;

	rc = mdb_cursor_open(txn, s->dbi[KMS_DB_OBJECTS], &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			report(r, "objects: a key of %zu bytes", k.mv_size);
			continue;
		}
		id = kms_be64_get(k.mv_data);
		r->objects++;
		if (kms_attrs_decode(v.mv_data, v.mv_size, &a) != 0)
			report(r, "object %llu: the record does not decode", (unsigned long long)id);
		kms_attrs_free(&a);
		rc = mdb_get(txn, s->dbi[KMS_DB_OBJ_TOKEN], &k, &tv);
		if (rc == MDB_NOTFOUND || (rc == 0 && tv.mv_size != 12)) {
			report(r, "object %llu: no token entry", (unsigned long long)id);
			continue;
		}
		if (rc)
			break;
		rc = kms_index_record(s, txn, kms_be32_get(tv.mv_data), id, v.mv_data, v.mv_size, KMS_INDEX_CHECK);
		if (rc == MDB_NOTFOUND)
			report(r, "object %llu: an index entry is missing", (unsigned long long)id);
		else if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Walks one database whose values (or keys, for obj_token) are object ids: each must name a record. */
static int check_refs(struct kms_store *s, MDB_txn *txn, enum kms_store_db db, const char *name, bool key_is_id,
		      struct kms_store_report *r)
{
	MDB_cursor *c = NULL;
	MDB_val k, v, ov;
	int rc;

	rc = mdb_cursor_open(txn, s->dbi[db], &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		MDB_val *idv = key_is_id ? &k : &v;

		r->index_entries++;
		if (idv->mv_size != 8) {
			report(r, "%s: an entry of %zu bytes", name, idv->mv_size);
			continue;
		}
		rc = mdb_get(txn, s->dbi[KMS_DB_OBJECTS], idv, &ov);
		if (rc == MDB_NOTFOUND)
			report(r, "%s: names object %llu, which does not exist", name,
			       (unsigned long long)kms_be64_get(idv->mv_data));
		else if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

CK_RV kms_store_verify(const char *dir, struct kms_store_report *r)
{
	static const struct {
		enum kms_store_db db;
		const char *name;
	} refs[] = {{KMS_DB_OBJ_TOKEN, "obj_token"}, {KMS_DB_LABEL, "idx_label"}, {KMS_DB_ID, "idx_id"},
		    {KMS_DB_CLASS, "idx_class"}, {KMS_DB_KEYTYPE, "idx_keytype"}, {KMS_DB_KEYID, "idx_keyid"},
		    {KMS_DB_ALIAS, "idx_alias"}, {KMS_DB_TAG, "idx_tag"}, {KMS_DB_STATE, "idx_state"},
		    {KMS_DB_CREATED, "idx_created"}};
	struct kms_store s = {0};
	MDB_txn *txn = NULL;
	MDB_val k = {6, (void *)"schema"}, v;
	struct stat st;
	char path[4096];
	CK_RV rv;
	int rc;

	memset(r, 0, sizeof(*r));
	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path))
		return CKR_ARGUMENTS_BAD;
	if (stat(path, &st) != 0) {
		report(r, "%s: %s", path, strerror(errno));
		return CKR_OK;
	}
	rv = kms_store_check_file(dir, r->problems[0], sizeof(r->problems[0]));
	if (rv != CKR_OK) {
		r->n_problems = 1;
		return CKR_OK;
	}
	rc = mdb_env_create(&s.env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s.env, KMS_DB_COUNT + 4);
	if (rc == 0)
		rc = mdb_env_open(s.env, dir, MDB_RDONLY | MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(s.env, NULL, MDB_RDONLY, &txn);
	if (rc == 0) {
		s.maxkey = (size_t)mdb_env_get_maxkeysize(s.env);
		if (s.maxkey > KMS_STORE_KEY_MAX)
			s.maxkey = KMS_STORE_KEY_MAX;
		rc = kms_store_dbs_open(&s, txn, false);
		if (rc == MDB_NOTFOUND) {
			report(r, "a database of the store is missing (a store of an older schema is upgraded when the "
				  "module first opens it)");
			goto out;
		}
	}
	if (rc == 0) {
		rc = mdb_get(txn, s.dbi[KMS_DB_META], &k, &v);
		if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != 4)) {
			report(r, "meta: no schema version");
			rc = 0;
		}
	}
	if (rc == 0)
		rc = check_objects(&s, txn, r);
	for (size_t i = 0; rc == 0 && i < sizeof(refs) / sizeof(refs[0]); i++)
		rc = check_refs(&s, txn, refs[i].db, refs[i].name, refs[i].db == KMS_DB_OBJ_TOKEN, r);
	if (rc)
		report(r, "LMDB: %s", mdb_strerror(rc));
out:
	if (txn)
		mdb_txn_abort(txn);
	if (s.env)
		mdb_env_close(s.env);
	return CKR_OK;
}
