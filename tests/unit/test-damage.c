/* SPDX-License-Identifier: Apache-2.0 */
/* Damaged stores and careless files: truncated or overwritten data.mdb, an open store directory, the log's
 * mode. The module refuses a damaged store with CKR_DEVICE_ERROR and a log line naming the file. */
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "include/kms11.h"
#include "tests/unit/modfixture.h"

static char data_path[300], backup_path[300], log_path[300];

static void copy_file(const char *from, const char *to)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	ck_assert_int_eq(system(cmd), 0);
}

static long file_size(const char *p)
{
	struct stat st;

	ck_assert_int_eq(stat(p, &st), 0);
	return (long)st.st_size;
}

/* The last page and the transaction id of the newer meta page of data.mdb (LMDB 0.9's layout: the page size in
 * the first database record's md_pad, then the last page and txn id). */
static void newer_meta(const char *p, uint64_t *last_pg, uint64_t *txnid)
{
	uint8_t m[2][4096];
	uint64_t last[2], txn[2];
	uint32_t psize;
	int fd = open(p, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, m, sizeof(m), 0), (ssize_t)sizeof(m));
	close(fd);
	memcpy(&psize, m[0] + 16 + 24, 4);
	ck_assert_int_eq(psize, 4096);
	for (int i = 0; i < 2; i++) {
		memcpy(&last[i], m[i] + 16 + 24 + 96, 8);
		memcpy(&txn[i], m[i] + 16 + 24 + 104, 8);
	}
	*last_pg = txn[1] > txn[0] ? last[1] : last[0];
	*txnid = txn[1] > txn[0] ? txn[1] : txn[0];
}

/* The bytes of data.mdb that LMDB uses: up to the last page the newer meta page names. */
static long used_size(const char *p)
{
	uint64_t last, txn;

	newer_meta(p, &last, &txn);
	return (long)(last + 1) * 4096;
}

/* True when the log holds text. */
static bool log_has(const char *text)
{
	char buf[8192];
	FILE *fp = fopen(log_path, "r");
	size_t n;

	if (!fp)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	return strstr(buf, text) != NULL;
}

/* A token with a few key pairs, the module finalised, and a copy of data.mdb. */
static void setup_damage(void)
{
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_TOKEN, &yes, 1}};
	CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}};
	CK_OBJECT_HANDLE hp, hk;
	CK_SESSION_HANDLE s;

	setup_token();
	s = user_session();
	for (int i = 0; i < 40; i++)
		ck_assert_rv(f->C_GenerateKeyPair(s, &gen, pub, 2, priv, 2, &hp, &hk), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	snprintf(data_path, sizeof(data_path), "%s/data.mdb", store);
	snprintf(backup_path, sizeof(backup_path), "%s.bak", store);
	snprintf(log_path, sizeof(log_path), "%s.log", store);
	copy_file(data_path, backup_path);
	setenv("KMS11_LOG", log_path, 1);
}

static void teardown_damage(void)
{
	unsetenv("KMS11_LOG");
	unsetenv("KMS11_DEBUG");
	unlink(backup_path);
	unlink(log_path);
	f = NULL; /* finalised already */
	teardown_store();
}

/* Truncated at any length but zero: C_Initialize answers CKR_GENERAL_ERROR (it has no device codes) and the log names the file. */
START_TEST(test_truncated_store_refused)
{
	long size;
	long cuts[8];

	setup_damage();
	size = used_size(data_path);
	ck_assert_int_gt(size, 8 * 4096);
	ck_assert_int_ge(file_size(data_path), size);
	cuts[0] = 100;
	cuts[1] = 4096;
	cuts[2] = 8192 + 100;
	cuts[3] = 3 * 4096;
	cuts[4] = size / 2;
	cuts[5] = size - 4096;
	cuts[6] = size - 1;
	cuts[7] = 600;
	for (int i = 0; i < 8; i++) {
		copy_file(backup_path, data_path);
		ck_assert_int_eq(truncate(data_path, cuts[i]), 0);
		unlink(log_path);
		ck_assert_msg(f->C_Initialize(NULL) == CKR_GENERAL_ERROR, "cut at %ld bytes of %ld", cuts[i], size);
		ck_assert_msg(log_has("data.mdb"), "cut at %ld: the log does not name the file", cuts[i]);
		ck_assert_rv(f->C_GetSlotList(CK_TRUE, NULL, &(CK_ULONG){0}), CKR_CRYPTOKI_NOT_INITIALIZED);
	}
	/* the whole file again: everything is there */
	copy_file(backup_path, data_path);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	teardown_damage();
}
END_TEST

/* A meta page that is not LMDB's is refused before LMDB reads it. */
START_TEST(test_overwritten_meta_refused)
{
	static const uint8_t junk[64] = {0x41, 0x42, 0x43};

	setup_damage();
	for (int page = 0; page < 2; page++) {
		int fd;

		copy_file(backup_path, data_path);
		fd = open(data_path, O_WRONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), page * 4096), (ssize_t)sizeof(junk));
		close(fd);
		unlink(log_path);
		ck_assert_rv(f->C_Initialize(NULL), CKR_GENERAL_ERROR);
		ck_assert(log_has("meta page is not LMDB's"));
	}
	teardown_damage();
}
END_TEST

/* Finds every object the session sees and reads an attribute of each: reads only. */
static void read_everything(CK_SESSION_HANDLE s)
{
	CK_OBJECT_HANDLE found[64];
	CK_ULONG n = 0;
	CK_BYTE buf[256];
	CK_ATTRIBUTE q = {CKA_EC_POINT, buf, sizeof(buf)};

	if (f->C_FindObjectsInit(s, NULL, 0) == CKR_OK) {
		f->C_FindObjects(s, found, 64, &n);
		f->C_FindObjectsFinal(s);
	}
	for (CK_ULONG i = 0; i < n; i++) {
		q.ulValueLen = sizeof(buf);
		f->C_GetAttributeValue(s, found[i], &q, 1);
	}
}

/* Writes page pg of data.mdb with zeros (mode 0) or noise. */
static void damage_page(long pg, int mode, unsigned int *seed)
{
	uint8_t page[4096];
	int fd;

	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = mode ? (uint8_t)rand_r(seed) : 0;
	fd = open(data_path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, page, sizeof(page), pg * 4096), (ssize_t)sizeof(page));
	close(fd);
}

/* Counts a child that did not exit. */
static int died(pid_t pid, long pg, int mode, const char *when)
{
	int st = 0;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st))
		return 0;
	fprintf(stderr, "page %ld (%s), %s: the process died of signal %d\n", pg, mode ? "noise" : "zeros", when,
		WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 1;
}

/* Pages past the meta pages overwritten with zeros or noise, each page once before the module opens the store and
 * once under a process that has logged in already: every read answers, none crashes (each round runs in a child so
 * that a crash is seen as one). Reads only: opening a current store writes nothing, and what a write reaching a
 * damaged page does is LMDB's (the README says so). */
START_TEST(test_damaged_pages_never_crash)
{
	long pages;
	unsigned int seed = 7;
	int crashed = 0;

	setup_damage();
	pages = used_size(data_path) / 4096;
	for (long pg = 2; pg < pages; pg++) {
		for (int mode = 0; mode < 2; mode++) {
			int ready[2], go[2];
			char c = 0;
			pid_t pid;

			/* Damaged at rest, before the module opens the store. */
			copy_file(backup_path, data_path);
			damage_page(pg, mode, &seed);
			pid = fork();
			ck_assert_int_ge(pid, 0);
			if (pid == 0) {
				CK_SESSION_HANDLE s;

				if (f->C_Initialize(NULL) == CKR_OK &&
				    f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s) == CKR_OK)
					read_everything(s);
				_exit(0);
			}
			crashed += died(pid, pg, mode, "at open");

			/* Damaged under a process that has opened the store and logged in. */
			copy_file(backup_path, data_path);
			ck_assert_int_eq(pipe(ready), 0);
			ck_assert_int_eq(pipe(go), 0);
			pid = fork();
			ck_assert_int_ge(pid, 0);
			if (pid == 0) {
				CK_SESSION_HANDLE s;

				close(ready[0]);
				close(go[1]);
				if (f->C_Initialize(NULL) != CKR_OK ||
				    f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK ||
				    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, 4) != CKR_OK)
					_exit(3);
				if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
					_exit(4);
				read_everything(s);
				_exit(0);
			}
			close(ready[1]);
			close(go[0]);
			ck_assert_int_eq(read(ready[0], &c, 1), 1);
			damage_page(pg, mode, &seed);
			ck_assert_int_eq(write(go[1], "g", 1), 1);
			close(ready[0]);
			close(go[1]);
			crashed += died(pid, pg, mode, "after login");
		}
	}
	ck_assert_int_eq(crashed, 0);
	teardown_damage();
}
END_TEST

/* Where env mapped data.mdb: its mapping at offset 0 in /proc/self/maps. */
static const uint8_t *map_of(MDB_env *env)
{
	unsigned long long start, off, ino;
	struct stat st;
	char line[512];
	FILE *fp;
	int fd = -1;

	ck_assert_int_eq(mdb_env_get_fd(env, &fd), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	fp = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "%llx-%*x %*s %llx %*x:%*x %llu", &start, &off, &ino) == 3 && off == 0 &&
		    ino == (unsigned long long)st.st_ino) {
			fclose(fp);
			return (const uint8_t *)(uintptr_t)start;
		}
	}
	fclose(fp);
	ck_abort_msg("data.mdb is not mapped");
	return NULL;
}

/* The header of the page LMDB keeps the first key id's two object ids in (a sub-page inside a leaf page of
 * idx_keyid: the first id follows its 16-byte header), as an offset into data.mdb. */
static long keyid_subpage(void)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t n = 0;
	long off;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, 1ull << 30), 0);
	ck_assert_int_eq(mdb_env_open(env, store, MDB_RDONLY, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "idx_keyid", 0, &dbi), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, dbi, &c), 0);
	ck_assert_int_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	ck_assert_int_eq(mdb_cursor_count(c, &n), 0);
	ck_assert_uint_eq(n, 2); /* a key pair: its two ids sit in a sub-page */
	off = (long)((const uint8_t *)v.mv_data - map_of(env)) - 16;
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return off;
}

/* A sub-page whose flags were damaged trips one of LMDB's assertions (an abort inside LMDB): the module
 * answers CKR_DEVICE_ERROR instead, logs the damage, and answers CKR_DEVICE_ERROR from then on without
 * touching the store again; the process lives on. */
START_TEST(test_lmdb_assertion_answered)
{
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_TOKEN, &yes, 1}};
	CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}};
	CK_OBJECT_HANDLE hp, hk, found[4];
	CK_SESSION_HANDLE s;
	char kid[80] = {0};
	CK_ATTRIBUTE q = {CKA_KMS11_KEY_ID, kid, sizeof(kid) - 1};
	CK_ULONG n = 0, cnt = 0;
	const uint16_t flags = 0; /* neither leaf nor branch */
	CK_RV rv;
	long off;
	int fd;

	setup_token();
	s = user_session();
	ck_assert_rv(f->C_GenerateKeyPair(s, &gen, pub, 2, priv, 2, &hp, &hk), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, hk, &q, 1), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	snprintf(log_path, sizeof(log_path), "%s.log", store);
	setenv("KMS11_LOG", log_path, 1);
	off = keyid_subpage();
	snprintf(data_path, sizeof(data_path), "%s/data.mdb", store);
	fd = open(data_path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, &flags, sizeof(flags), off + 10), (ssize_t)sizeof(flags));
	close(fd);
	unlink(log_path);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	q.ulValueLen = strlen(kid);
	rv = f->C_FindObjectsInit(s, &q, 1);
	if (rv == CKR_OK) {
		rv = f->C_FindObjects(s, found, 4, &n);
		f->C_FindObjectsFinal(s);
	}
	ck_assert_rv(rv, CKR_DEVICE_ERROR);
	ck_assert_msg(log_has("data.mdb is damaged (LMDB:"), "the log does not name the damage");
	/* the store is not read again: even a search that needs no damaged page answers the same */
	ck_assert_rv(f->C_FindObjectsInit(s, NULL, 0), CKR_DEVICE_ERROR);
	ck_assert_rv(f->C_GetSlotList(CK_TRUE, NULL, &cnt), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	(void)hp;
	teardown_damage();
}
END_TEST

/* The newer meta page's transaction id: it moves with every write transaction committed. */
static uint64_t last_txnid(const char *p)
{
	uint64_t last, txn;

	newer_meta(p, &last, &txn);
	return txn;
}

/* Opening a store of the current schema writes nothing; a store whose records are there but whose schema version
 * is gone (a damaged page reads so) is refused and not written: LMDB would write on the strength of the damaged
 * page. */
START_TEST(test_open_writes_nothing)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {6, (void *)"schema"};
	uint64_t before;

	setup_damage();
	before = last_txnid(data_path);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_msg(last_txnid(data_path) == before, "C_Initialize wrote to a current store");

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 64), 0);
	ck_assert_int_eq(mdb_env_open(env, store, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	before = last_txnid(data_path);
	unlink(log_path);
	ck_assert_rv(f->C_Initialize(NULL), CKR_GENERAL_ERROR);
	ck_assert_msg(log_has("holds records but no schema version"), "the log does not say why");
	ck_assert_msg(last_txnid(data_path) == before, "the damaged store was written");
	teardown_damage();
}
END_TEST

/* An existing store directory open to other users is named in the log; the log file is made 0600. */
START_TEST(test_open_directory_and_log_mode)
{
	struct stat st;

	setup_damage();
	setenv("KMS11_DEBUG", "1", 1);
	ck_assert_int_eq(chmod(store, 0755), 0);
	unlink(log_path);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert(log_has("is open to other users (mode 0755)"));
	ck_assert_int_eq(stat(log_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(store, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0755); /* warned about, not changed */
	ck_assert_int_eq(chmod(store, 0700), 0);
	unlink(log_path);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert(!log_has("open to other users"));
	teardown_damage();
}
END_TEST

/* Sets the store's next token number to its limit, so that a token new to the store gets none
 * (CKR_DEVICE_MEMORY); the store's meta database is written directly with LMDB. */
static void exhaust_token_numbers(void)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	uint8_t v[4] = {0xff, 0xff, 0xff, 0xff};
	MDB_val k = {10, (void *)"next_tokno"}, val = {4, v};

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, 1ull << 30), 0);
	ck_assert_int_eq(mdb_env_open(env, store, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &val, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* A C_Initialize that fails after a token's engine has started (here the second token gets no number)
 * frees that engine instance and leaves the module uninitialised; the sanitizer run (LeakSanitizer)
 * reports the instance if it leaks. */
START_TEST(test_failed_initialize_frees_engines)
{
	char conf[300];
	FILE *fp;

	setup_store();
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	exhaust_token_numbers();
	snprintf(conf, sizeof(conf), "%s.conf", store);
	fp = fopen(conf, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "[token:kms11]\nengine = openssl\n[token:second]\nengine = openssl\n");
	fclose(fp);
	setenv("KMS11_CONF", conf, 1);
	ck_assert_rv(f->C_Initialize(NULL), CKR_DEVICE_MEMORY);
	ck_assert_rv(f->C_GetSlotList(CK_FALSE, NULL, &(CK_ULONG){0}), CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_rv(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	write_conf("[token:kms11]\nengine = openssl\n");
	unlink(conf);
	/* the store still opens with its one token */
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	teardown_store();
}
END_TEST

/* Each open pads data.mdb past its last page once: opening again does not grow the file. */
START_TEST(test_padding_does_not_grow)
{
	char path[300];
	long first;

	setup_token();
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	snprintf(path, sizeof(path), "%s/data.mdb", store);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	first = file_size(path);
	ck_assert_int_ge(first, used_size(path) + (1 << 20));
	for (int i = 0; i < 5; i++) {
		ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
		ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	}
	ck_assert_int_eq(file_size(path), first);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	teardown_store();
}
END_TEST

int main(void)
{
	Suite *su = suite_create("damage");
	TCase *tc = tcase_create("store");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_truncated_store_refused);
	tcase_add_test(tc, test_overwritten_meta_refused);
	tcase_add_test(tc, test_damaged_pages_never_crash);
	tcase_add_test(tc, test_open_writes_nothing);
	tcase_add_test(tc, test_lmdb_assertion_answered);
	tcase_add_test(tc, test_open_directory_and_log_mode);
	tcase_add_test(tc, test_failed_initialize_frees_engines);
	tcase_add_test(tc, test_padding_does_not_grow);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
