/* SPDX-License-Identifier: Apache-2.0 */
/* Module life cycle: C_Initialize and C_Finalize, the configured tokens, and fork handling. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/mem.h"
#include "module/core/core.h"

struct kms_module kms_mod;
atomic_uint kms_fork_gen;
/* Open for calls (set by C_Initialize, cleared first thing by C_Finalize), and the calls in flight. */
static atomic_bool kms_open;
static atomic_long kms_in_flight;

CK_RV kms_enter(void)
{
	/* Count in first, then look: C_Finalize clears kms_open first, then waits for the count (both
	 * sequentially consistent), so a call either sees the module closed or is waited for. */
	atomic_fetch_add(&kms_in_flight, 1);
	if (atomic_load(&kms_open) && kms_core_check() == CKR_OK)
		return CKR_OK;
	atomic_fetch_sub(&kms_in_flight, 1);
	return CKR_CRYPTOKI_NOT_INITIALIZED;
}

void kms_leave(void)
{
	atomic_fetch_sub(&kms_in_flight, 1);
}

/* Waits until no call is in flight (C_Finalize, after closing the module to new calls). */
static void drain_calls(void)
{
	struct timespec ts = {0, 200000};

	while (atomic_load(&kms_in_flight) > 0)
		nanosleep(&ts, NULL);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add(&kms_fork_gen, 1);
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static CK_RV check_args(const CK_C_INITIALIZE_ARGS *a)
{
	int set;

	if (!a)
		return CKR_OK;
	if (a->pReserved)
		return CKR_ARGUMENTS_BAD;
	set = !!a->CreateMutex + !!a->DestroyMutex + !!a->LockMutex + !!a->UnlockMutex;
	if (set != 0 && set != 4)
		return CKR_ARGUMENTS_BAD;
	return CKR_OK;
}

/* The members every engine must have; the others may be NULL ("not supported"). */
static bool engine_complete(const struct kms_engine_ops *e)
{
	return e->name && e->init && e->shutdown && e->mechanisms && e->load && e->unload && e->op_init &&
	       e->op_outlen && e->op_oneshot && e->op_free;
}

static CK_RV tokens_open(void)
{
	CK_RV rv;

	kms_mod.tokens = calloc(kms_mod.conf.n_tokens, sizeof(*kms_mod.tokens));
	if (!kms_mod.tokens)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < kms_mod.conf.n_tokens; i++) {
		const struct kms_conf_token *ct = &kms_mod.conf.tokens[i];
		struct kms_token *t = &kms_mod.tokens[i];
		struct kms_engine_conf ec = {
			.token_label = ct->label, .settings = ct->settings, .n_settings = ct->n_settings};

		t->slot = i;
		t->login = KMS_NO_USER;
		snprintf(t->conf_label, sizeof(t->conf_label), "%s", ct->label);
		t->eng = kms_engine_find(ct->engine);
		if (!t->eng || !engine_complete(t->eng)) {
			KMS_ERR("token '%s': unknown or incomplete engine '%s'", ct->label, ct->engine);
			return CKR_GENERAL_ERROR;
		}
		rv = kms_lock_init(&t->lock);
		if (rv != CKR_OK)
			return rv;
		rv = kms_presence_init(t);
		if (rv != CKR_OK) {
			kms_lock_destroy(&t->lock);
			return rv;
		}
		/* From here on tokens_close undoes this token, engine instance included, if a later step fails. */
		kms_mod.n_tokens = i + 1;
		rv = t->eng->init(&ec, &t->einst);
		if (rv != CKR_OK) {
			KMS_ERR("token '%s': engine '%s' failed to start", ct->label, ct->engine);
			return rv;
		}
		if (kms_mod.store) {
			rv = kms_store_token_number(kms_mod.store, ct->label, &t->no);
			if (rv != CKR_OK)
				return rv;
		}
		rv = kms_obj_add_profile(t);
		if (rv != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

/* Serialises opening a store that did not exist at C_Initialize. */
static pthread_mutex_t store_attach_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens (creating it if need be) the store and numbers the tokens opened so far in it (none at C_Initialize,
 * where tokens_open numbers them). */
static CK_RV store_open(struct kms_store **out)
{
	struct kms_store *s = NULL;
	CK_RV rv = kms_store_open(kms_mod.conf.store_dir, &s);

	if (rv != CKR_OK) {
		KMS_ERR("cannot open the store in %s (the lines above say why)", kms_mod.conf.store_dir);
		return rv;
	}
	for (size_t i = 0; i < kms_mod.n_tokens && rv == CKR_OK; i++)
		rv = kms_store_token_number(s, kms_mod.tokens[i].conf_label, &kms_mod.tokens[i].no);
	if (rv != CKR_OK) {
		kms_store_close(s);
		return rv;
	}
	*out = s;
	return CKR_OK;
}

struct kms_store *kms_mod_store(bool create, CK_RV *rv)
{
	struct kms_store *s = __atomic_load_n(&kms_mod.store, __ATOMIC_ACQUIRE);
	struct stat st;

	*rv = CKR_OK;
	if (s)
		return s;
	pthread_mutex_lock(&store_attach_lock);
	s = kms_mod.store;
	if (!s && (create || stat(kms_mod.conf.store_dir, &st) == 0)) {
		*rv = store_open(&s);
		if (*rv == CKR_OK) {
			KMS_INFO("store: opened %s, which did not exist at C_Initialize", kms_mod.conf.store_dir);
			__atomic_store_n(&kms_mod.store, s, __ATOMIC_RELEASE);
		} else if (*rv != CKR_HOST_MEMORY) {
			*rv = CKR_DEVICE_ERROR;
		}
	}
	pthread_mutex_unlock(&store_attach_lock);
	return s;
}

static void tokens_close(void)
{
	for (size_t i = 0; i < kms_mod.n_tokens; i++) {
		struct kms_token *t = &kms_mod.tokens[i];

		kms_session_close_all(t);
		kms_obj_drop_session_objects(t, 0);
		kms_lock_wr(&t->lock);
		kms_token_forget_login_locked(t);
		kms_obj_cache_clear_locked(t);
		kms_lock_unlock(&t->lock);
		kms_map_free(&t->sobjs);
		if (t->einst)
			t->eng->shutdown(t->einst);
		kms_presence_close(t);
		kms_lock_destroy(&t->lock);
	}
	free(kms_mod.tokens);
	kms_mod.tokens = NULL;
	kms_mod.n_tokens = 0;
}

/* In a child after fork: forget what the parent had, without calling into it. */
static void drop_inherited(void)
{
	if (!kms_mod.initialized)
		return;
	for (size_t i = 0; i < kms_mod.n_tokens; i++) {
		struct kms_token *t = &kms_mod.tokens[i];

		if (t->eng->fork_child && t->einst)
			t->eng->fork_child(t->einst);
		if (t->token_key)
			kms_wipe(t->token_key, KMS_TOKEN_KEY_LEN);
		/* The parent's shared lock stays: the open file description is still the parent's too. */
		if (t->presence_fd >= 0)
			close(t->presence_fd);
	}
	if (kms_mod.store)
		kms_store_forget(kms_mod.store);
	memset(&kms_mod, 0, sizeof(kms_mod));
	/* Another thread of the parent may have held it at the fork. */
	pthread_mutex_init(&store_attach_lock, NULL);
	/* The parent's threads that were inside the module do not exist here. */
	atomic_store(&kms_open, false);
	atomic_store(&kms_in_flight, 0);
}

CK_RV kms_core_initialize(CK_C_INITIALIZE_ARGS *args)
{
	char err[512];
	struct stat st;
	CK_RV rv;

	pthread_once(&atfork_once, install_atfork);
	rv = check_args(args);
	if (rv != CKR_OK)
		return rv;
	if (kms_mod.initialized && kms_mod.fork_gen != atomic_load(&kms_fork_gen))
		drop_inherited();
	if (kms_mod.initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;

	kms_log_init();
	memset(&kms_mod, 0, sizeof(kms_mod));
	kms_lock_setup(args);
	if (kms_conf_load(&kms_mod.conf, err, sizeof(err)) != 0) {
		/* Written only when logging is on (KMS11_DEBUG or KMS11_LOG): a module never prints otherwise. */
		KMS_ERR("configuration: %s", err);
		kms_conf_free(&kms_mod.conf);
		return CKR_GENERAL_ERROR;
	}
	if (kms_mod.conf.log_file)
		kms_log_set_file(kms_mod.conf.log_file);
	if (kms_mod.conf.debug >= 0 && !getenv("KMS11_DEBUG"))
		kms_log_set_level(kms_mod.conf.debug);
	rv = kms_lock_init(&kms_mod.lock);
	if (rv != CKR_OK)
		goto fail_conf;
	/* A store directory that does not exist yet is made by the first write (kms_mod_store), not here: a module
	 * that p11-kit loads into every program that asks for its registered modules leaves nothing behind. */
	if (stat(kms_mod.conf.store_dir, &st) == 0 || errno != ENOENT) {
		rv = store_open(&kms_mod.store);
		if (rv != CKR_OK) {
			/* C_Initialize has no device codes: the log carries the reason. */
			if (rv != CKR_HOST_MEMORY)
				rv = CKR_GENERAL_ERROR;
			goto fail_lock;
		}
	} else {
		KMS_INFO("store: %s does not exist; it is made when a token is initialised", kms_mod.conf.store_dir);
	}
	rv = tokens_open();
	if (rv != CKR_OK)
		goto fail_tokens;
	kms_mod.next_session = 1;
	kms_mod.next_sobj = 1;
	kms_mod.fork_gen = atomic_load(&kms_fork_gen);
	kms_mod.initialized = true;
	atomic_store(&kms_open, true);
	return CKR_OK;

fail_tokens:
	tokens_close();
	kms_store_close(kms_mod.store);
	kms_mod.store = NULL;
fail_lock:
	kms_lock_destroy(&kms_mod.lock);
fail_conf:
	kms_conf_free(&kms_mod.conf);
	return rv;
}

CK_RV kms_core_finalize(void)
{
	CK_RV rv = kms_core_check();

	if (rv != CKR_OK)
		return rv;
	/* One C_Finalize wins; calls made from now on answer CKR_CRYPTOKI_NOT_INITIALIZED. */
	if (!atomic_exchange(&kms_open, false))
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	drain_calls();
	kms_mod.initialized = false;
	tokens_close();
	kms_map_free(&kms_mod.sessions);
	kms_store_close(kms_mod.store);
	kms_mod.store = NULL;
	kms_lock_destroy(&kms_mod.lock);
	kms_conf_free(&kms_mod.conf);
	return CKR_OK;
}

CK_RV kms_token_lookup(CK_SLOT_ID slot, struct kms_token **tok)
{
	if (slot >= kms_mod.n_tokens)
		return CKR_SLOT_ID_INVALID;
	*tok = &kms_mod.tokens[slot];
	return CKR_OK;
}

void kms_pad_copy(CK_UTF8CHAR *dst, size_t dstlen, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n > dstlen)
		n = dstlen;
	memset(dst, ' ', dstlen);
	if (n)
		memcpy(dst, src, n);
}
