/* SPDX-License-Identifier: Apache-2.0 */
/* The LMDB environment of a store: opening, error mapping, read transaction pool, ids and token records. */
#include "storage/store-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/util.h"

/* 1: objects, token records, label/id/class/key type indexes. 2: adds the key id, alias and tag indexes.
 * 3: adds the state index. 4: adds the creation-time index. An older store gets the new indexes filled from its records when it is opened. */
#define KMS_STORE_SCHEMA 4u
#define KMS_STORE_MAPSIZE (16ull << 30)
#define KMS_STORE_MAXREADERS 512
#define KMS_STORE_ID_LIMIT (1ull << 62)

static const struct {
	const char *name;
	unsigned int flags;
} kms_store_dbs[KMS_DB_COUNT] = {
	[KMS_DB_OBJECTS] = { "objects", 0 },
	[KMS_DB_OBJ_TOKEN] = { "obj_token", 0 },
	[KMS_DB_LABEL] = { "idx_label", MDB_DUPSORT | MDB_DUPFIXED },
	[KMS_DB_ID] = { "idx_id", MDB_DUPSORT | MDB_DUPFIXED },
	[KMS_DB_CLASS] = { "idx_class", MDB_DUPSORT | MDB_DUPFIXED },
	[KMS_DB_KEYTYPE] = { "idx_keytype", MDB_DUPSORT | MDB_DUPFIXED },
	[KMS_DB_META] = { "meta", 0 },
	[KMS_DB_KEYID] = { "idx_keyid", MDB_DUPSORT | MDB_DUPFIXED },
	[KMS_DB_ALIAS] = { "idx_alias", MDB_DUPSORT | MDB_DUPFIXED },
	[KMS_DB_TAG] = { "idx_tag", MDB_DUPSORT | MDB_DUPFIXED },
	[KMS_DB_STATE] = { "idx_state", MDB_DUPSORT | MDB_DUPFIXED },
	[KMS_DB_CREATED] = { "idx_created", MDB_DUPSORT | MDB_DUPFIXED },
};

CK_RV kms_store_rv(int rc, CK_RV notfound, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return CKR_OK;
	case MDB_NOTFOUND:
		return notfound;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		KMS_WARN("store: %s: %s", what, mdb_strerror(rc));
		return CKR_DEVICE_MEMORY;
	case ENOMEM:
		return CKR_HOST_MEMORY;
	case KMS_STORE_ALIAS_TAKEN:
		return CKR_ATTRIBUTE_VALUE_INVALID;
	case KMS_STORE_NAME_TAKEN:
		return KMS_STORE_RV_NAME_TAKEN;
	default:
		KMS_ERR("store: %s: %s", what, mdb_strerror(rc));
		return CKR_DEVICE_ERROR;
	}
}

int kms_store_rbegin(struct kms_store *s, MDB_txn **txn)
{
	MDB_txn *t = NULL;
	int rc;

	pthread_mutex_lock(&s->pool_lock);
	if (s->npool > 0)
		t = s->pool[--s->npool];
	pthread_mutex_unlock(&s->pool_lock);
	if (t) {
		rc = mdb_txn_renew(t);
		if (rc != MDB_SUCCESS) {
			mdb_txn_abort(t);
			t = NULL;
		}
	}
	if (!t) {
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t);
		if (rc != MDB_SUCCESS)
			return rc;
	}
	kms_store_txn_track(t);
	*txn = t;
	return MDB_SUCCESS;
}

void kms_store_rend(struct kms_store *s, MDB_txn *txn)
{
	kms_store_txn_untrack(txn);
	mdb_txn_reset(txn);
	pthread_mutex_lock(&s->pool_lock);
	if (s->npool < KMS_STORE_POOL) {
		s->pool[s->npool++] = txn;
		txn = NULL;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (txn)
		mdb_txn_abort(txn);
}

/* mkdir -p; the directories it creates get mode 0700. Returns 0 or -1 (errno set). */
static int kms_store_mkdirs(const char *dir)
{
	struct stat st;
	char *p, *path;
	int ret = -1;

	path = strdup(dir);
	if (!path)
		return -1;
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			goto out;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		goto out;
	if (stat(path, &st) < 0)
		goto out;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto out;
	}
	/* An existing directory keeps its mode (a shared store may be group-writable on purpose), but one
	 * that every user can enter or read is worth a line in the log. */
	if (st.st_mode & 0007)
		KMS_WARN("store: %s is open to other users (mode %04o); chmod o-rwx it", dir,
			 (unsigned)(st.st_mode & 07777));
	ret = 0;
out:
	free(path);
	return ret;
}

mode_t kms_store_file_mode(const char *dir)
{
	struct stat st;

	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_IWGRP) ? 0660 : 0600;
}

void kms_store_share_file(const char *path, mode_t mode)
{
	struct stat st;

	/* Only the owner can change the mode; a file another member made has it already. */
	if (mode == 0660 && stat(path, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0777) != 0660 &&
	    chmod(path, 0660) != 0)
		KMS_WARN("store: cannot make %s group-writable: %s", path, strerror(errno));
}

/* Logs which file of the store this process cannot use, and why: its mode, owner and group against the process's
 * ids; true when there is one. */
static bool kms_store_explain_access(const char *dir)
{
	static const char *const names[] = {"", "data.mdb", "lock.mdb"};
	char path[4096];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int need = i == 0 ? (X_OK | W_OK) : (R_OK | W_OK);
		struct stat st;

		snprintf(path, sizeof(path), "%s%s%s", dir, i ? "/" : "", names[i]);
		if (stat(path, &st) != 0) {
			if (errno == ENOENT && i > 0)
				continue;
			KMS_ERR("store: %s: %s (this process: uid %u, gid %u)", path, strerror(errno), (unsigned)geteuid(),
				(unsigned)getegid());
			return true;
		}
		if (access(path, need) == 0)
			continue;
		KMS_ERR("store: %s: permission denied: this process (uid %u, gid %u) needs to %s it; it is mode %04o, "
			"owner uid %u, group gid %u (a shared store: a group both can use, the directory g+rwxs, the files "
			"g+rw)",
			path, (unsigned)geteuid(), (unsigned)getegid(), i == 0 ? "enter and write in" : "read and write",
			(unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
		return true;
	}
	return false;
}

static size_t kms_store_mapsize(void)
{
	const char *e = getenv("KMS11_STORE_MAPSIZE");
	unsigned long long v;
	char *end;

	if (!e || !*e)
		return (size_t)KMS_STORE_MAPSIZE;
	errno = 0;
	v = strtoull(e, &end, 10);
	if (errno || *end || v == 0 || v > SIZE_MAX) {
		KMS_WARN("store: ignoring KMS11_STORE_MAPSIZE=%s", e);
		return (size_t)KMS_STORE_MAPSIZE;
	}
	return (size_t)v;
}

/*
 * LMDB maps data.mdb and trusts it: a page it reaches beyond the end of a truncated file is a SIGBUS
 * in the application. Before the environment is opened, the file is checked against LMDB's own meta
 * pages (the first two pages; the newer one is in force): both must carry LMDB's magic, and the file
 * must hold every page up to the newer meta's last page. The layout read here is LMDB 0.9's on-disk
 * format for this build's word size: a 16-byte page header, then MDB_meta (magic, version, address,
 * map size, two MDB_db records whose first holds the page size in md_pad, the last page number and
 * the transaction id).
 */
#define KMS_MDB_MAGIC 0xBEEFC0DEu
#define KMS_MDB_PAGEHDR 16
#define KMS_MDB_DB_SIZE (4 + 2 + 2 + 5 * sizeof(size_t))

struct kms_mdb_meta {
	uint32_t magic, psize;
	uint64_t last_pg, txnid;
};

static void kms_mdb_meta_read(const uint8_t *page, struct kms_mdb_meta *m)
{
	const uint8_t *p = page + KMS_MDB_PAGEHDR;
	size_t off_dbs = 4 + 4 + sizeof(void *) + sizeof(size_t);
	size_t off_last = off_dbs + 2 * KMS_MDB_DB_SIZE;
	size_t last, txnid;

	memcpy(&m->magic, p, 4);
	memcpy(&m->psize, p + off_dbs, 4);
	memcpy(&last, p + off_last, sizeof(last));
	memcpy(&txnid, p + off_last + sizeof(size_t), sizeof(txnid));
	m->last_pg = last;
	m->txnid = txnid;
}

/* Logs a damaged store and keeps the reason for the caller. */
#define CHECK_FAIL(...)                                          \
	do {                                                     \
		KMS_ERR("store: " __VA_ARGS__);                  \
		if (why && whylen)                               \
			snprintf(why, whylen, __VA_ARGS__);      \
	} while (0)

CK_RV kms_store_check_file(const char *dir, char *why, size_t whylen)
{
	char path[4096];
	uint8_t page0[512], *page1 = NULL;
	struct kms_mdb_meta m0, m1, *m;
	struct stat st;
	uint64_t need;
	CK_RV rv = CKR_DEVICE_ERROR;
	int fd;

	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path))
		return CKR_ARGUMENTS_BAD;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return CKR_OK; /* a new store */
		CHECK_FAIL("cannot open %s: %s", path, strerror(errno));
		return CKR_DEVICE_ERROR;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		CHECK_FAIL("%s is not a regular file", path);
		goto out;
	}
	if (st.st_size == 0) {
		rv = CKR_OK; /* LMDB writes a fresh environment into an empty file */
		goto out;
	}
	if (pread(fd, page0, sizeof(page0), 0) != (ssize_t)sizeof(page0)) {
		CHECK_FAIL("%s is damaged: %lld bytes, shorter than its first meta page", path,
			(long long)st.st_size);
		goto out;
	}
	kms_mdb_meta_read(page0, &m0);
	if (m0.magic != KMS_MDB_MAGIC || m0.psize < 512 || m0.psize > 65536 || (m0.psize & (m0.psize - 1))) {
		CHECK_FAIL("%s is damaged: the first meta page is not LMDB's", path);
		goto out;
	}
	page1 = malloc(m0.psize);
	if (!page1) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (pread(fd, page1, m0.psize, m0.psize) < (ssize_t)sizeof(page0)) {
		CHECK_FAIL("%s is damaged: %lld bytes, shorter than its two meta pages", path,
			(long long)st.st_size);
		goto out;
	}
	kms_mdb_meta_read(page1, &m1);
	if (m1.magic != KMS_MDB_MAGIC) {
		CHECK_FAIL("%s is damaged: the second meta page is not LMDB's", path);
		goto out;
	}
	m = m1.txnid > m0.txnid ? &m1 : &m0;
	if (m->last_pg >= (UINT64_MAX / m0.psize) - 1) {
		CHECK_FAIL("%s is damaged: its meta page names page %llu", path, (unsigned long long)m->last_pg);
		goto out;
	}
	need = (m->last_pg + 1) * m0.psize;
	if ((uint64_t)st.st_size < need) {
		CHECK_FAIL("%s is truncated or damaged: %lld bytes, its meta page needs %llu", path,
			(long long)st.st_size, (unsigned long long)need);
		goto out;
	}
	rv = CKR_OK;
out:
	free(page1);
	close(fd);
	return rv;
}

int kms_store_dbs_open(struct kms_store *s, MDB_txn *txn, bool create)
{
	int rc = 0;

	for (int i = 0; i < KMS_DB_COUNT && rc == 0; i++)
		rc = mdb_dbi_open(txn, kms_store_dbs[i].name, kms_store_dbs[i].flags | (create ? MDB_CREATE : 0),
				  &s->dbi[i]);
	return rc;
}

/* A store without a schema version is new when no database holds a record; otherwise it is damaged, and said so. */
static bool kms_store_schema_lost(struct kms_store *s, MDB_txn *txn)
{
	MDB_stat st;

	for (int i = 0; i < KMS_DB_COUNT; i++)
		if (mdb_stat(txn, s->dbi[i], &st) != 0 || st.ms_entries > 0) {
			KMS_ERR("store: data.mdb is damaged: it holds records but no schema version");
			return true;
		}
	return false;
}

/* A store of the current schema is only read: its databases opened and its version checked in a read
 * transaction, so that opening a store writes nothing, and a store whose pages are damaged is not written on
 * the strength of them (LMDB trusts its pages when it writes, and a damaged one can make it write past a
 * buffer). 1: done; 0: a write transaction must make or upgrade it; or an LMDB code. */
static int kms_store_setup_read(struct kms_store *s)
{
	MDB_txn *txn = NULL;
	MDB_val k = { 6, (void *)"schema" }, v;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc)
		return rc;
	kms_store_txn_track(txn);
	rc = kms_store_dbs_open(s, txn, false);
	if (rc == MDB_NOTFOUND) {
		rc = 0; /* a new store, or one of an older schema */
	} else if (rc == 0) {
		rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_META], &k, &v);
		if (rc == 0 && v.mv_size == 4 && kms_be32_get(v.mv_data) == KMS_STORE_SCHEMA) {
			/* The commit keeps the database handles for the process. */
			rc = kms_store_commit(txn);
			return rc ? rc : 1;
		}
		if (rc == MDB_NOTFOUND && kms_store_schema_lost(s, txn)) {
			rc = MDB_CORRUPTED;
		} else if (rc == MDB_NOTFOUND || rc == 0) {
			rc = 0; /* empty, or another version: the write transaction decides */
		}
	}
	kms_store_abort(txn);
	return rc;
}

/* Opens every named database and checks (or writes) the schema version: read only when the store is current,
 * else in one write transaction. */
static CK_RV kms_store_setup(struct kms_store *s)
{
	MDB_txn *txn = NULL;
	MDB_val k = { 6, (void *)"schema" }, v;
	uint8_t buf[4];
	CK_RV rv;
	int rc;

	rc = kms_store_setup_read(s);
	if (rc == 1)
		return CKR_OK;
	if (rc)
		return kms_store_rv(rc, CKR_DEVICE_ERROR, "databases");
	rc = kms_store_wbegin(s, &txn);
	if (rc)
		return kms_store_rv(rc, CKR_DEVICE_ERROR, "begin");
	rc = kms_store_dbs_open(s, txn, true);
	if (rc) {
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "databases");
		goto out;
	}
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND && kms_store_schema_lost(s, txn)) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	} else if (rc == MDB_NOTFOUND) {
		kms_be32_put(buf, KMS_STORE_SCHEMA);
		v.mv_size = sizeof(buf);
		v.mv_data = buf;
		rc = mdb_put(txn, s->dbi[KMS_DB_META], &k, &v, 0);
	} else if (rc == MDB_SUCCESS) {
		uint32_t have = v.mv_size == 4 ? kms_be32_get(v.mv_data) : 0;

		if (have == 0 || have > KMS_STORE_SCHEMA) {
			KMS_ERR("store: unsupported schema version");
			rv = CKR_DEVICE_ERROR;
			goto out;
		}
		if (have < KMS_STORE_SCHEMA) {
			/* The same transaction fills the new indexes and records the new version. */
			rc = kms_store_reindex(s, txn);
			if (rc == 0) {
				kms_be32_put(buf, KMS_STORE_SCHEMA);
				v.mv_size = sizeof(buf);
				v.mv_data = buf;
				rc = mdb_put(txn, s->dbi[KMS_DB_META], &k, &v, 0);
			}
			if (rc == 0)
				KMS_INFO("store: schema %u upgraded to %u", have, KMS_STORE_SCHEMA);
		}
	}
	if (rc) {
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "schema");
		goto out;
	}
	rc = kms_store_commit(txn);
	txn = NULL;
	rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "commit");
out:
	if (txn)
		kms_store_abort(txn);
	return rv;
}

static CK_RV kms_store_setup_guarded(struct kms_store *s)
{
	KMS_STORE_GUARDED(s, kms_store_setup(s));
}

/*
 * A page damaged at rest can hold offsets that send LMDB up to 64 KiB past its page; at the end of the
 * file that is past the end of the mapping's backing, a SIGBUS in the application. Zeroed space after
 * the last page turns such reads into reads of zeros that LMDB then rejects or that decode to nothing.
 * fallocate only ever extends (it never shrinks a file another process's writer has just grown) and
 * leaves existing data alone; where it is not supported the file stays as it is.
 */
#define KMS_STORE_TAIL_PAD (1 << 20)

static void kms_store_pad_tail(struct kms_store *s)
{
	MDB_envinfo info;
	MDB_stat ms;
	int fd = -1;

	/* From the end of the pages in use, not of the file: a file padded before is not grown again. */
	if (mdb_env_get_fd(s->env, &fd) != 0 || fd < 0 || mdb_env_info(s->env, &info) != 0 ||
	    mdb_env_stat(s->env, &ms) != 0)
		return;
	(void)fallocate(fd, 0, (off_t)((info.me_last_pgno + 1) * ms.ms_psize), KMS_STORE_TAIL_PAD);
}

/* Where LMDB mapped data.mdb (LMDB 0.9 does not say; mdb_env_info's address is only MDB_FIXEDMAP's): the
 * mapping of the file's device and inode at offset 0 in /proc/self/maps. Left unknown (NULL) when not found,
 * which turns off the size checks of guard.c. */
static void kms_store_find_map(struct kms_store *s)
{
	struct stat st;
	char line[512];
	FILE *fp;
	int fd = -1;

	if (mdb_env_get_fd(s->env, &fd) != 0 || fd < 0 || fstat(fd, &st) != 0)
		return;
	s->filesz = (size_t)st.st_size;
	fp = fopen("/proc/self/maps", "re");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long start, end, off, ino;
		unsigned int maj, min;

		if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &start, &end, &off, &maj, &min, &ino) == 6 &&
		    off == 0 && ino == (unsigned long long)st.st_ino && maj == major(st.st_dev) &&
		    min == minor(st.st_dev)) {
			s->map = (const uint8_t *)(uintptr_t)start;
			s->mapsize = (size_t)(end - start);
			break;
		}
	}
	fclose(fp);
}

CK_RV kms_store_open(const char *dir, struct kms_store **out)
{
	struct kms_store *s = NULL;
	mode_t mode;
	CK_RV rv;
	int rc, dead;

	if (!dir || !*dir || !out)
		return CKR_ARGUMENTS_BAD;
	*out = NULL;
	if (kms_store_mkdirs(dir) < 0) {
		KMS_ERR("store: cannot create %s: %s", dir, strerror(errno));
		if (errno == EACCES || errno == EPERM)
			(void)kms_store_explain_access(dir);
		return CKR_DEVICE_ERROR;
	}
	/* A store this process may not use is said so, naming the file and the permission it lacks. */
	if (kms_store_explain_access(dir))
		return CKR_DEVICE_ERROR;
	rv = kms_store_check_file(dir, NULL, 0);
	if (rv != CKR_OK)
		return rv;
	s = calloc(1, sizeof(*s));
	if (!s)
		return CKR_HOST_MEMORY;
	if (pthread_mutex_init(&s->pool_lock, NULL) != 0) {
		free(s);
		return CKR_CANT_LOCK;
	}
	rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_assert(s->env, kms_store_assert);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(s->env, KMS_STORE_MAXREADERS);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, KMS_DB_COUNT + 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, kms_store_mapsize());
	/* A group-writable store directory is a shared store: its files are made group-readable and -writable,
	 * whatever the process's umask. */
	mode = kms_store_file_mode(dir);
	if (rc == 0)
		rc = mdb_env_open(s->env, dir, MDB_NOTLS, mode);
	if (rc) {
		KMS_ERR("store: cannot open %s: %s", dir, mdb_strerror(rc));
		if (rc == EACCES || rc == EPERM)
			(void)kms_store_explain_access(dir);
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if (mode == 0660) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/data.mdb", dir);
		kms_store_share_file(path, mode);
		snprintf(path, sizeof(path), "%s/lock.mdb", dir);
		kms_store_share_file(path, mode);
	}
	kms_store_pad_tail(s);
	kms_store_find_map(s);
	/* Free the reader slots of processes that died while reading (they pin old pages). */
	dead = 0;
	rc = mdb_reader_check(s->env, &dead);
	if (rc == 0 && dead > 0)
		KMS_INFO("store: cleared %d stale reader slots", dead);
	s->maxkey = (size_t)mdb_env_get_maxkeysize(s->env);
	if (s->maxkey > KMS_STORE_KEY_MAX)
		s->maxkey = KMS_STORE_KEY_MAX;
	rv = kms_store_setup_guarded(s);
	if (rv == CKR_DEVICE_MEMORY)
		rv = CKR_DEVICE_ERROR;
out:
	if (rv != CKR_OK) {
		kms_store_close(s);
		return rv;
	}
	*out = s;
	return CKR_OK;
}

void kms_store_close(struct kms_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->npool; i++)
		mdb_txn_abort(s->pool[i]);
	s->npool = 0;
	if (s->env)
		mdb_env_close(s->env);
	pthread_mutex_destroy(&s->pool_lock);
	free(s);
}

void kms_store_forget(struct kms_store *s)
{
	/* The environment, its pooled transactions, descriptors and mapping belong to
	 * the parent's LMDB state: touching them here is not allowed, and closing the
	 * descriptors would drop this process's locks on the files once it reopens them.
	 * They are leaked on purpose; only the handle itself is freed. */
	free(s);
}

/* Builds the meta key "<prefix><label>"; returns a malloc'd buffer or NULL. */
static char *kms_store_meta_key(const struct kms_store *s, const char *prefix, const char *label, MDB_val *k)
{
	size_t pl = strlen(prefix), ll = strlen(label);
	char *key;

	if (ll > s->maxkey - pl)
		return NULL;
	key = malloc(pl + ll + 1);
	if (!key)
		return NULL;
	memcpy(key, prefix, pl);
	memcpy(key + pl, label, ll + 1);
	k->mv_size = pl + ll;
	k->mv_data = key;
	return key;
}

static CK_RV store_token_number(struct kms_store *s, const char *label, uint32_t *no)
{
	MDB_val k, v, nk = { 10, (void *)"next_tokno" };
	MDB_txn *txn = NULL;
	uint8_t buf[4];
	uint32_t next = 1;
	char *key;
	CK_RV rv;
	int rc;

	if (!s || !label || !no)
		return CKR_ARGUMENTS_BAD;
	key = kms_store_meta_key(s, "tokno:", label, &k);
	if (!key)
		return CKR_ARGUMENTS_BAD;
	/* Fast path: already assigned. */
	rc = kms_store_rbegin(s, &txn);
	if (rc) {
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "read");
		goto out_free;
	}
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_META], &k, &v);
	if (rc == 0 && v.mv_size == 4)
		*no = kms_be32_get(v.mv_data);
	kms_store_rend(s, txn);
	txn = NULL;
	if (rc == 0) {
		rv = v.mv_size == 4 ? CKR_OK : CKR_DEVICE_ERROR;
		goto out_free;
	}
	if (rc != MDB_NOTFOUND) {
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "tokno");
		goto out_free;
	}
	rc = kms_store_wbegin(s, &txn);
	if (rc) {
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "begin");
		goto out_free;
	}
	/* Another process may have assigned it since. */
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_META], &k, &v);
	if (rc == 0) {
		rv = v.mv_size == 4 ? CKR_OK : CKR_DEVICE_ERROR;
		if (rv == CKR_OK)
			*no = kms_be32_get(v.mv_data);
		goto out;
	}
	if (rc != MDB_NOTFOUND)
		goto fail;
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_META], &nk, &v);
	if (rc == 0 && v.mv_size == 4)
		next = kms_be32_get(v.mv_data);
	else if (rc != MDB_NOTFOUND && rc != 0)
		goto fail;
	if (next == UINT32_MAX) {
		rv = CKR_DEVICE_MEMORY;
		goto out;
	}
	kms_be32_put(buf, next);
	v.mv_size = 4;
	v.mv_data = buf;
	rc = mdb_put(txn, s->dbi[KMS_DB_META], &k, &v, 0);
	if (rc)
		goto fail;
	kms_be32_put(buf, next + 1);
	rc = mdb_put(txn, s->dbi[KMS_DB_META], &nk, &v, 0);
	if (rc)
		goto fail;
	rc = kms_store_commit(txn);
	txn = NULL;
	if (rc)
		goto fail;
	*no = next;
	rv = CKR_OK;
	goto out;
fail:
	rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "token number");
	if (rv == CKR_HOST_MEMORY)
		rv = CKR_DEVICE_ERROR;
out:
	if (txn)
		kms_store_abort(txn);
out_free:
	free(key);
	return rv;
}

static CK_RV store_token_get(struct kms_store *s, const char *label, uint8_t **rec, size_t *len)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	char *key;
	CK_RV rv;
	int rc;

	if (!s || !label || !rec || !len)
		return CKR_ARGUMENTS_BAD;
	*rec = NULL;
	*len = 0;
	key = kms_store_meta_key(s, "token:", label, &k);
	if (!key)
		return CKR_ARGUMENTS_BAD;
	rc = kms_store_rbegin(s, &txn);
	if (rc) {
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "read");
		goto out;
	}
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		rv = CKR_OK;
	} else if (rc) {
		rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "token get");
	} else {
		*rec = malloc(v.mv_size ? v.mv_size : 1);
		if (*rec) {
			memcpy(*rec, v.mv_data, v.mv_size);
			*len = v.mv_size;
			rv = CKR_OK;
		} else {
			rv = CKR_HOST_MEMORY;
		}
	}
	kms_store_rend(s, txn);
out:
	free(key);
	return rv;
}

/* Writes the token record of label inside txn. */
static int kms_store_token_write(struct kms_store *s, MDB_txn *txn, const MDB_val *k, const uint8_t *rec,
				 size_t len)
{
	MDB_val v = { len, (void *)rec };

	return mdb_put(txn, s->dbi[KMS_DB_META], (MDB_val *)k, &v, 0);
}

/* Writes the token record of label, first deleting the objects of token no when wipe is set. */
static CK_RV kms_store_token_store(struct kms_store *s, bool wipe, uint32_t no, const char *label,
				   const uint8_t *rec, size_t len)
{
	MDB_txn *txn = NULL;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	MDB_val k;
	char *key;
	CK_RV rv;
	int rc;

	if (!s || !label || (!rec && len))
		return CKR_ARGUMENTS_BAD;
	key = kms_store_meta_key(s, "token:", label, &k);
	if (!key)
		return CKR_ARGUMENTS_BAD;
	rc = kms_store_wbegin(s, &txn);
	if (rc)
		goto fail;
	if (wipe) {
		rc = kms_store_token_ids(s, txn, no, &ids, &n, &cap);
		if (rc)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			rc = kms_store_obj_del_txn(s, txn, ids[i]);
			if (rc && rc != MDB_NOTFOUND)
				goto fail;
		}
	}
	rc = kms_store_token_write(s, txn, &k, rec, len);
	if (rc)
		goto fail;
	rc = kms_store_commit(txn);
	txn = NULL;
	if (rc)
		goto fail;
	rv = CKR_OK;
	goto out;
fail:
	rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "token write");
out:
	if (txn)
		kms_store_abort(txn);
	free(ids);
	free(key);
	return rv;
}

static CK_RV store_token_put(struct kms_store *s, const char *label, const uint8_t *rec, size_t len)
{
	return kms_store_token_store(s, false, 0, label, rec, len);
}

static CK_RV store_token_reset(struct kms_store *s, uint32_t no, const char *label, const uint8_t *rec,
			       size_t len)
{
	return kms_store_token_store(s, true, no, label, rec, len);
}

static CK_RV store_token_update(struct kms_store *s, const char *label, kms_store_token_update_fn fn, void *ctx)
{
	MDB_txn *txn = NULL;
	uint8_t *newrec = NULL;
	size_t newlen = 0;
	MDB_val k, v;
	char *key;
	CK_RV rv;
	int rc;

	if (!s || !label || !fn)
		return CKR_ARGUMENTS_BAD;
	key = kms_store_meta_key(s, "token:", label, &k);
	if (!key)
		return CKR_ARGUMENTS_BAD;
	rc = kms_store_wbegin(s, &txn);
	if (rc)
		goto fail;
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		v.mv_data = NULL;
		v.mv_size = 0;
	} else if (rc) {
		goto fail;
	}
	rv = fn(ctx, v.mv_data, v.mv_size, &newrec, &newlen);
	if (rv != CKR_OK)
		goto out;
	if (!newrec && newlen) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	rc = kms_store_token_write(s, txn, &k, newrec, newlen);
	if (rc)
		goto fail;
	rc = kms_store_commit(txn);
	txn = NULL;
	if (rc)
		goto fail;
	rv = CKR_OK;
	goto out;
fail:
	rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "token update");
out:
	if (txn)
		kms_store_abort(txn);
	if (newrec) {
		OPENSSL_cleanse(newrec, newlen);
		free(newrec);
	}
	free(key);
	return rv;
}

static CK_RV store_id_alloc_many(struct kms_store *s, size_t n, uint64_t *ids)
{
	MDB_val k = { 7, (void *)"next_id" }, v;
	MDB_txn *txn = NULL;
	uint64_t next = 1;
	uint8_t buf[8];
	CK_RV rv;
	int rc;

	if (!s || (n && !ids))
		return CKR_ARGUMENTS_BAD;
	if (n == 0)
		return CKR_OK;
	rc = kms_store_wbegin(s, &txn);
	if (rc)
		goto fail;
	rc = kms_mdb_get(s, txn, s->dbi[KMS_DB_META], &k, &v);
	if (rc == 0 && v.mv_size == 8)
		next = kms_be64_get(v.mv_data);
	else if (rc == 0 || rc != MDB_NOTFOUND) {
		rc = rc ? rc : MDB_CORRUPTED;
		goto fail;
	}
	if (next == 0 || next >= KMS_STORE_ID_LIMIT || n > KMS_STORE_ID_LIMIT - next) {
		rv = CKR_DEVICE_MEMORY;
		goto out;
	}
	kms_be64_put(buf, next + n);
	v.mv_size = 8;
	v.mv_data = buf;
	rc = mdb_put(txn, s->dbi[KMS_DB_META], &k, &v, 0);
	if (rc)
		goto fail;
	rc = kms_store_commit(txn);
	txn = NULL;
	if (rc)
		goto fail;
	for (size_t i = 0; i < n; i++)
		ids[i] = next + i;
	rv = CKR_OK;
	goto out;
fail:
	rv = kms_store_rv(rc, CKR_DEVICE_ERROR, "id alloc");
out:
	if (txn)
		kms_store_abort(txn);
	return rv;
}

static CK_RV store_id_alloc(struct kms_store *s, uint64_t *id)
{
	return kms_store_id_alloc_many(s, 1, id);
}

uint64_t kms_store_generation(struct kms_store *s)
{
	MDB_envinfo info;

	/* Reads the newer of the two meta pages: no lock, no reader slot, no system call. */
	if (!s || mdb_env_info(s->env, &info) != MDB_SUCCESS)
		return 0;
	return (uint64_t)info.me_last_txnid;
}

/* The public calls, each under the damage guard (guard.c). */
CK_RV kms_store_token_number(struct kms_store *s, const char *label, uint32_t *no)
{
	KMS_STORE_GUARDED(s, store_token_number(s, label, no));
}

CK_RV kms_store_token_get(struct kms_store *s, const char *label, uint8_t **rec, size_t *len)
{
	KMS_STORE_GUARDED(s, store_token_get(s, label, rec, len));
}

CK_RV kms_store_token_put(struct kms_store *s, const char *label, const uint8_t *rec, size_t len)
{
	KMS_STORE_GUARDED(s, store_token_put(s, label, rec, len));
}

CK_RV kms_store_token_reset(struct kms_store *s, uint32_t no, const char *label, const uint8_t *rec,
			    size_t len)
{
	KMS_STORE_GUARDED(s, store_token_reset(s, no, label, rec, len));
}

CK_RV kms_store_token_update(struct kms_store *s, const char *label, kms_store_token_update_fn fn, void *ctx)
{
	KMS_STORE_GUARDED(s, store_token_update(s, label, fn, ctx));
}

CK_RV kms_store_id_alloc_many(struct kms_store *s, size_t n, uint64_t *ids)
{
	KMS_STORE_GUARDED(s, store_id_alloc_many(s, n, ids));
}

CK_RV kms_store_id_alloc(struct kms_store *s, uint64_t *id)
{
	KMS_STORE_GUARDED(s, store_id_alloc(s, id));
}
