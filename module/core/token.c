/* SPDX-License-Identifier: Apache-2.0 */
/* Tokens: their record in the store, token info, C_InitToken, PINs, login and the token key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/osslctx.h"
#include "common/log.h"
#include "common/mem.h"
#include "module/core/core.h"

/* Token record fields (a kms_attrs list kept in the store's meta database). */
enum {
	TR_LABEL = 1,
	TR_SERIAL,
	TR_FLAGS,
	TR_USER_FAILS,
	TR_SO_FAILS,
	TR_USER_KDF,
	TR_SO_KDF,
	TR_USER_WRAP,
	TR_SO_WRAP,
	TR_EPOCH, /* 16 random bytes, new at every C_InitToken */
	TR_SEAL_V, /* the seal version of the token's objects (seal.c); absent: 1 */
	TR_PUBLIC_KEY, /* 32 random bytes in clear: the seal key of public objects (CKA_PRIVATE false) */
};
#define SEAL_VERSION 4UL
#define TRF_INITIALIZED 1UL
#define TRF_USER_PIN 2UL

static const uint8_t wrap_aad[] = "kms11 token key v1";

static CK_RV record_read(struct kms_token *tok, struct kms_attrs *rec)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	CK_RV rv;

	kms_attrs_init(rec);
	/* No store yet: no record, an uninitialised token. */
	if (!kms_mod_store(false, &rv))
		return rv;
	rv = kms_store_token_get(kms_mod.store, tok->conf_label, &buf, &len);
	if (rv != CKR_OK || !buf)
		return rv;
	if (kms_attrs_decode(buf, len, rec) != 0)
		rv = CKR_DEVICE_ERROR;
	free(buf);
	return rv;
}

/* Frees a record, its public seal key wiped first. */
static void rec_wipe_free(struct kms_attrs *rec)
{
	const struct kms_attr *a = kms_attrs_get(rec, TR_PUBLIC_KEY);

	if (a)
		kms_wipe(a->val, a->len);
	kms_attrs_free(rec);
}

static unsigned long rec_ulong(const struct kms_attrs *rec, uint64_t type)
{
	unsigned long v = 0;

	kms_attrs_get_ulong(rec, type, &v);
	return v;
}

static int kdf_get(const struct kms_attrs *rec, uint64_t type, struct kms_kdf *kdf)
{
	const struct kms_attr *a = kms_attrs_get(rec, type);

	if (!a || a->len != sizeof(*kdf))
		return -1;
	memcpy(kdf, a->val, sizeof(*kdf));
	return 0;
}

/* The epoch of a record; all zero when it has none (no record, or one written before epochs). */
static void rec_epoch(const struct kms_attrs *rec, uint8_t out[KMS_EPOCH_LEN])
{
	const struct kms_attr *a = kms_attrs_get(rec, TR_EPOCH);

	memset(out, 0, KMS_EPOCH_LEN);
	if (a && a->len == KMS_EPOCH_LEN)
		memcpy(out, a->val, KMS_EPOCH_LEN);
}

void kms_token_label(struct kms_token *tok, char out[33])
{
	struct kms_attrs rec;
	const struct kms_attr *a;

	snprintf(out, 33, "%s", tok->conf_label);
	if (record_read(tok, &rec) != CKR_OK)
		return;
	a = kms_attrs_get(&rec, TR_LABEL);
	if (a && a->len > 0 && a->len <= 32) {
		memcpy(out, a->val, a->len);
		out[a->len] = 0;
	}
	kms_attrs_free(&rec);
}

bool kms_token_present(struct kms_token *tok)
{
	return !tok->eng->present || tok->eng->present(tok->einst);
}

CK_RV kms_token_info(struct kms_token *tok, CK_TOKEN_INFO *info)
{
	struct kms_attrs rec;
	unsigned long flags, ufails, sofails;
	const struct kms_attr *a;
	CK_ULONG all = 0, rw = 0;
	char label[33];
	CK_RV rv;

	rv = record_read(tok, &rec);
	if (rv != CKR_OK)
		return rv;
	flags = rec_ulong(&rec, TR_FLAGS);
	ufails = rec_ulong(&rec, TR_USER_FAILS);
	sofails = rec_ulong(&rec, TR_SO_FAILS);
	memset(info, 0, sizeof(*info));
	snprintf(label, sizeof(label), "%s", tok->conf_label);
	a = kms_attrs_get(&rec, TR_LABEL);
	if (a && a->len > 0 && a->len <= 32) {
		memcpy(label, a->val, a->len);
		label[a->len] = 0;
	}
	kms_pad_copy(info->label, sizeof(info->label), label);
	kms_pad_copy(info->manufacturerID, sizeof(info->manufacturerID), "kms11");
	kms_pad_copy(info->model, sizeof(info->model), tok->eng->name);
	a = kms_attrs_get(&rec, TR_SERIAL);
	{
		char serial[17] = "0000000000000000";

		if (a && a->len == 16)
			memcpy(serial, a->val, 16);
		kms_pad_copy(info->serialNumber, sizeof(info->serialNumber), serial);
	}
	info->flags = CKF_RNG | CKF_LOGIN_REQUIRED;
	if (flags & TRF_INITIALIZED)
		info->flags |= CKF_TOKEN_INITIALIZED;
	if (flags & TRF_USER_PIN)
		info->flags |= CKF_USER_PIN_INITIALIZED;
	if (ufails >= KMS_PIN_TRIES)
		info->flags |= CKF_USER_PIN_LOCKED;
	else if (ufails == KMS_PIN_TRIES - 1)
		info->flags |= CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW;
	else if (ufails > 0)
		info->flags |= CKF_USER_PIN_COUNT_LOW;
	if (sofails >= KMS_PIN_TRIES)
		info->flags |= CKF_SO_PIN_LOCKED;
	else if (sofails == KMS_PIN_TRIES - 1)
		info->flags |= CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_COUNT_LOW;
	else if (sofails > 0)
		info->flags |= CKF_SO_PIN_COUNT_LOW;
	kms_session_count(tok, &all, &rw);
	info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulSessionCount = all;
	info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulRwSessionCount = rw;
	info->ulMaxPinLen = KMS_MAX_PIN;
	info->ulMinPinLen = KMS_MIN_PIN;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion.major = 0;
	info->hardwareVersion.minor = 1;
	info->firmwareVersion.major = 0;
	info->firmwareVersion.minor = 1;
	memset(info->utcTime, ' ', sizeof(info->utcTime));
	kms_attrs_free(&rec);
	return CKR_OK;
}

/* Wraps the token key under a PIN: fresh KDF parameters into kdf, the seal into *wrap. */
static CK_RV wrap_under_pin(const uint8_t *tkey, const char *pin, size_t len, struct kms_kdf *kdf, uint8_t **wrap,
			    size_t *wraplen)
{
	uint8_t k[32];
	CK_RV rv;

	rv = kms_kdf_new(kdf);
	if (rv == CKR_OK)
		rv = kms_kdf_derive(kdf, pin, len, k);
	if (rv == CKR_OK)
		rv = kms_gcm_seal(k, wrap_aad, sizeof(wrap_aad), tkey, KMS_TOKEN_KEY_LEN, wrap, wraplen);
	kms_wipe(k, sizeof(k));
	return rv;
}

/* Opens the token key with a PIN: CKR_PIN_INCORRECT when it does not open. */
static CK_RV unwrap_with_pin(const struct kms_attrs *rec, uint64_t kdf_type, uint64_t wrap_type, const char *pin,
			     size_t len, uint8_t **tkey)
{
	const struct kms_attr *w = kms_attrs_get(rec, wrap_type);
	struct kms_kdf kdf;
	uint8_t k[32];
	size_t n = 0;
	CK_RV rv;

	if (!w || kdf_get(rec, kdf_type, &kdf) != 0)
		return CKR_USER_PIN_NOT_INITIALIZED;
	rv = kms_kdf_derive(&kdf, pin, len, k);
	if (rv != CKR_OK)
		return rv;
	rv = kms_gcm_open(k, wrap_aad, sizeof(wrap_aad), w->val, w->len, tkey, &n);
	kms_wipe(k, sizeof(k));
	if (rv == CKR_ENCRYPTED_DATA_INVALID)
		return CKR_PIN_INCORRECT;
	if (rv == CKR_OK && n != KMS_TOKEN_KEY_LEN) {
		kms_secure_free(*tkey);
		*tkey = NULL;
		return CKR_DEVICE_ERROR;
	}
	return rv;
}

/* kms_store_token_update of the token's record. While there is no store yet, fn sees no record, as it would in a
 * store without one; should it make one, the store is made for it. */
static CK_RV token_update(struct kms_token *tok, kms_store_token_update_fn fn, void *ctx)
{
	uint8_t *none = NULL;
	size_t nonelen = 0;
	CK_RV rv;

	if (!kms_mod_store(false, &rv)) {
		if (rv != CKR_OK)
			return rv;
		rv = fn(ctx, NULL, 0, &none, &nonelen);
		free(none);
		if (rv != CKR_OK || !kms_mod_store(true, &rv))
			return rv;
	}
	return kms_store_token_update(kms_mod.store, tok->conf_label, fn, ctx);
}

/* Clears a PIN failure count inside one store transaction. */
static CK_RV fails_reset_update(void *vctx, const uint8_t *old, size_t oldlen, uint8_t **newrec, size_t *newlen)
{
	const uint64_t *type = vctx;
	struct kms_attrs rec = KMS_ATTRS_INIT;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!old || kms_attrs_decode(old, oldlen, &rec) != 0)
		return CKR_DEVICE_ERROR;
	if (kms_attrs_set_ulong(&rec, *type, 0) == 0 && kms_attrs_encode(&rec, newrec, newlen) == 0)
		rv = CKR_OK;
	kms_attrs_free(&rec);
	return rv;
}

static CK_RV fails_reset(struct kms_token *tok, uint64_t type)
{
	return token_update(tok, fails_reset_update, &type);
}

/* What a login takes from the token record besides the token key. */
struct login_rec {
	uint8_t epoch[KMS_EPOCH_LEN];
	unsigned long seal_v;
};

struct attempt_ctx {
	CK_USER_TYPE user;
	uint64_t fails_t;
	struct kms_attrs rec; /* the record as it was when the attempt was counted */
};

/* Counts one PIN attempt before the PIN is derived, inside the write transaction that reads the
 * count: at the limit nothing is written and CKR_PIN_LOCKED aborts, so parallel guesses (threads or
 * processes) never get more than KMS_PIN_TRIES PINs checked. */
static CK_RV attempt_update(void *vctx, const uint8_t *old, size_t oldlen, uint8_t **newrec, size_t *newlen)
{
	struct attempt_ctx *c = vctx;
	struct kms_attrs rec = KMS_ATTRS_INIT;
	unsigned long flags, fails;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!old)
		return CKR_USER_PIN_NOT_INITIALIZED;
	if (kms_attrs_decode(old, oldlen, &rec) != 0)
		return CKR_DEVICE_ERROR;
	flags = rec_ulong(&rec, TR_FLAGS);
	fails = rec_ulong(&rec, c->fails_t);
	if (!(flags & TRF_INITIALIZED) || (c->user == CKU_USER && !(flags & TRF_USER_PIN)))
		rv = CKR_USER_PIN_NOT_INITIALIZED;
	else if (fails >= KMS_PIN_TRIES)
		rv = CKR_PIN_LOCKED;
	else if (kms_attrs_copy(&c->rec, &rec) == 0 && kms_attrs_set_ulong(&rec, c->fails_t, fails + 1) == 0 &&
		 kms_attrs_encode(&rec, newrec, newlen) == 0)
		rv = CKR_OK;
	kms_attrs_free(&rec);
	return rv;
}

/* Checks a PIN against the record, the attempt counted first; returns the token key on success. */
static CK_RV pin_check(struct kms_token *tok, CK_USER_TYPE user, const char *pin, size_t len, uint8_t **tkey,
		       struct login_rec *lr)
{
	struct attempt_ctx c = {.user = user, .fails_t = user == CKU_SO ? TR_SO_FAILS : TR_USER_FAILS};
	CK_RV rv;

	kms_attrs_init(&c.rec);
	rv = token_update(tok, attempt_update, &c);
	if (rv != CKR_OK)
		goto out;
	if (len < KMS_MIN_PIN || len > KMS_MAX_PIN)
		rv = CKR_PIN_INCORRECT;
	else if (user == CKU_SO)
		rv = unwrap_with_pin(&c.rec, TR_SO_KDF, TR_SO_WRAP, pin, len, tkey);
	else
		rv = unwrap_with_pin(&c.rec, TR_USER_KDF, TR_USER_WRAP, pin, len, tkey);
	/* Why a login fails, never the PIN itself (KMS11_DEBUG=3). */
	if (rv == CKR_PIN_INCORRECT)
		KMS_DBG("token '%s': wrong %s PIN", tok->conf_label, user == CKU_SO ? "SO" : "user");
	else if (rv == CKR_PIN_LOCKED)
		KMS_DBG("token '%s': the %s PIN is locked after too many wrong ones%s", tok->conf_label,
			user == CKU_SO ? "SO" : "user", user == CKU_SO ? "" : " (the SO sets a new one: kms11 token unlock)");
	else if (rv == CKR_USER_PIN_NOT_INITIALIZED)
		KMS_DBG("token '%s': no user PIN is set yet (C_InitPIN, or kms11 token init)", tok->conf_label);
	/* Only a right PIN clears the count; a wrong one stays counted. */
	if (rv == CKR_OK) {
		fails_reset(tok, c.fails_t);
		if (lr) {
			rec_epoch(&c.rec, lr->epoch);
			lr->seal_v = rec_ulong(&c.rec, TR_SEAL_V);
		}
	}
out:
	kms_attrs_free(&c.rec);
	return rv;
}

static void drop_key_cb(uint64_t id, void *val, void *ctx)
{
	struct kms_obj *o = val;

	(void)id;
	(void)ctx;
	kms_lock_wr(&o->key_lock);
	if (o->key) {
		kms_keyref_put(o->key);
		o->key = NULL;
	}
	kms_lock_unlock(&o->key_lock);
}

void kms_token_forget_login_locked(struct kms_token *tok)
{
	if (tok->login == CKU_USER && tok->eng && tok->eng->logout && tok->einst)
		tok->eng->logout(tok->einst);
	__atomic_store_n(&tok->login, KMS_NO_USER, __ATOMIC_RELEASE);
	kms_secure_free(tok->token_key);
	tok->token_key = NULL;
	kms_map_each(&tok->cache, drop_key_cb, NULL);
	kms_map_each(&tok->sobjs, drop_key_cb, NULL);
}

/* Returns true when the token has a read-only session. */
static bool has_ro_session(struct kms_token *tok)
{
	CK_ULONG all = 0, rw = 0;

	kms_session_count(tok, &all, &rw);
	return all > rw;
}

static CK_RV seal_v_update(void *vctx, const uint8_t *old, size_t oldlen, uint8_t **newrec, size_t *newlen)
{
	struct kms_attrs rec = KMS_ATTRS_INIT;
	CK_RV rv = CKR_HOST_MEMORY;

	(void)vctx;
	if (!old || kms_attrs_decode(old, oldlen, &rec) != 0)
		return CKR_DEVICE_ERROR;
	if (kms_attrs_set_ulong(&rec, TR_SEAL_V, SEAL_VERSION) == 0 && kms_attrs_encode(&rec, newrec, newlen) == 0)
		rv = CKR_OK;
	kms_attrs_free(&rec);
	return rv;
}

/* The first login to a token written by an older version seals its objects again (seal.c), then
 * records the new version; a process that finds it done skips nothing but the record. */
static CK_RV seal_upgrade(struct kms_token *tok)
{
	CK_RV rv = kms_seal_migrate(tok);

	if (rv == CKR_OK)
		rv = token_update(tok, seal_v_update, NULL);
	return rv;
}

CK_RV kms_token_login(struct kms_session *s, CK_USER_TYPE user, const char *pin, size_t len)
{
	struct kms_token *tok = s->tok;
	uint8_t *tkey = NULL;
	struct login_rec lr;
	CK_RV rv;

	if (user == CKU_CONTEXT_SPECIFIC)
		return kms_op_context_login(s, pin, len);
	if (user != CKU_USER && user != CKU_SO)
		return CKR_USER_TYPE_INVALID;
	kms_lock_rd(&tok->lock);
	if (tok->login == user)
		rv = CKR_USER_ALREADY_LOGGED_IN;
	else if (tok->login != KMS_NO_USER)
		rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	else
		rv = CKR_OK;
	kms_lock_unlock(&tok->lock);
	if (rv != CKR_OK)
		return rv;
	if (user == CKU_SO && has_ro_session(tok))
		return CKR_SESSION_READ_ONLY_EXISTS;

	rv = pin_check(tok, user, pin, len, &tkey, &lr);
	if (rv != CKR_OK)
		return rv;
	/* An engine whose keys sit behind another login (pkcs11) logs in there with the PIN just found right. */
	if (user == CKU_USER && tok->eng->login) {
		rv = tok->eng->login(tok->einst, pin, len);
		if (rv != CKR_OK) {
			kms_secure_free(tkey);
			return rv;
		}
	}
	kms_lock_wr(&tok->lock);
	if (tok->login != KMS_NO_USER) {
		rv = tok->login == user ? CKR_USER_ALREADY_LOGGED_IN : CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
		kms_secure_free(tkey);
	} else {
		memcpy(tok->epoch, lr.epoch, sizeof(tok->epoch));
		atomic_store(&tok->epoch_gen, 0); /* the first use reads the record again */
		__atomic_store_n(&tok->login, user, __ATOMIC_RELEASE);
		tok->token_key = tkey;
	}
	kms_lock_unlock(&tok->lock);
	if (rv == CKR_OK && lr.seal_v < SEAL_VERSION) {
		rv = seal_upgrade(tok);
		if (rv != CKR_OK)
			kms_token_logout(tok);
	}
	return rv;
}

CK_RV kms_token_check_user_pin(struct kms_token *tok, const char *pin, size_t len)
{
	uint8_t *tkey = NULL;
	CK_RV rv = pin_check(tok, CKU_USER, pin, len, &tkey, NULL);

	kms_secure_free(tkey);
	return rv;
}

CK_RV kms_token_logout(struct kms_token *tok)
{
	CK_RV rv = CKR_OK;

	kms_lock_wr(&tok->lock);
	if (tok->login == KMS_NO_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	else {
		kms_token_forget_login_locked(tok);
		kms_obj_drop_private_session_objects_locked(tok);
	}
	kms_lock_unlock(&tok->lock);
	return rv;
}

CK_RV kms_token_check_epoch(struct kms_token *tok)
{
	struct kms_attrs rec;
	uint8_t ep[KMS_EPOCH_LEN];
	uint64_t gen;
	CK_RV rv;

	if (__atomic_load_n(&tok->login, __ATOMIC_ACQUIRE) == KMS_NO_USER)
		return CKR_OK;
	/* Nothing was committed since the epoch was last found current: no read. */
	gen = kms_store_generation(kms_mod_store_now());
	if (gen == atomic_load(&tok->epoch_gen))
		return CKR_OK;
	rv = record_read(tok, &rec);
	if (rv != CKR_OK)
		return rv;
	rec_epoch(&rec, ep);
	kms_attrs_free(&rec);
	kms_lock_wr(&tok->lock);
	if (tok->login == KMS_NO_USER) {
		rv = CKR_OK;
	} else if (CRYPTO_memcmp(ep, tok->epoch, KMS_EPOCH_LEN) == 0) {
		atomic_store(&tok->epoch_gen, gen);
		rv = CKR_OK;
	} else {
		KMS_WARN("token '%s' was initialised again by another process: its login and sessions end",
			 tok->conf_label);
		kms_token_forget_login_locked(tok);
		kms_obj_drop_private_session_objects_locked(tok);
		atomic_fetch_add(&tok->sess_epoch, 1);
		rv = CKR_USER_NOT_LOGGED_IN;
	}
	kms_lock_unlock(&tok->lock);
	return rv;
}

/* Gives a record written before public seal keys one (when it still has none). */
static CK_RV public_key_add(void *vctx, const uint8_t *old, size_t oldlen, uint8_t **newrec, size_t *newlen)
{
	struct kms_attrs rec = KMS_ATTRS_INIT;
	uint8_t pkey[KMS_TOKEN_KEY_LEN];
	CK_RV rv = CKR_HOST_MEMORY;

	(void)vctx;
	if (!old || kms_attrs_decode(old, oldlen, &rec) != 0)
		return CKR_DEVICE_ERROR;
	if (!(rec_ulong(&rec, TR_FLAGS) & TRF_INITIALIZED)) {
		rec_wipe_free(&rec);
		return CKR_TOKEN_NOT_RECOGNIZED;
	}
	if (kms_attrs_get(&rec, TR_PUBLIC_KEY))
		rv = CKR_OK;
	else if (!kms_rand(pkey, sizeof(pkey)))
		rv = CKR_GENERAL_ERROR;
	else if (kms_attrs_set(&rec, TR_PUBLIC_KEY, pkey, sizeof(pkey)) == 0)
		rv = CKR_OK;
	kms_wipe(pkey, sizeof(pkey));
	if (rv == CKR_OK && kms_attrs_encode(&rec, newrec, newlen) != 0)
		rv = CKR_HOST_MEMORY;
	rec_wipe_free(&rec);
	return rv;
}

CK_RV kms_token_public_key(struct kms_token *tok, bool create, uint8_t **key, bool *current)
{
	struct kms_attrs rec;
	const struct kms_attr *a;
	CK_RV rv;

	for (int round = 0; round < 2; round++) {
		rv = record_read(tok, &rec);
		if (rv != CKR_OK)
			return rv;
		if (current)
			*current = rec_ulong(&rec, TR_SEAL_V) >= SEAL_VERSION;
		a = kms_attrs_get(&rec, TR_PUBLIC_KEY);
		if (a && a->len == KMS_TOKEN_KEY_LEN) {
			*key = kms_secure_dup(a->val, a->len);
			rec_wipe_free(&rec);
			return *key ? CKR_OK : CKR_HOST_MEMORY;
		}
		rec_wipe_free(&rec);
		if (a) {
			KMS_ERR("token '%s': its public seal key has a wrong length", tok->conf_label);
			return CKR_DEVICE_ERROR;
		}
		if (!create || round)
			break;
		rv = token_update(tok, public_key_add, NULL);
		if (rv != CKR_OK)
			return rv;
	}
	return create ? CKR_DEVICE_ERROR : CKR_ENCRYPTED_DATA_INVALID;
}

/* A new token record: a new token key under the SO PIN, and under the user PIN too when one is given. */
static CK_RV record_new(const char *label, const char *so_pin, size_t so_len, const char *user_pin, size_t user_len,
			uint8_t **out, size_t *outlen)
{
	struct kms_attrs rec = KMS_ATTRS_INIT;
	uint8_t tkey[KMS_TOKEN_KEY_LEN], pkey[KMS_TOKEN_KEY_LEN], rnd[8], epoch[KMS_EPOCH_LEN];
	struct kms_kdf kdf, ukdf = {0};
	uint8_t *wrap = NULL, *uwrap = NULL;
	size_t wraplen = 0, uwraplen = 0;
	char *serial = NULL;
	CK_RV rv;

	if (!kms_rand(tkey, sizeof(tkey)) || !kms_rand(rnd, sizeof(rnd)) || !kms_rand(epoch, sizeof(epoch)))
		return CKR_GENERAL_ERROR;
	rv = wrap_under_pin(tkey, so_pin, so_len, &kdf, &wrap, &wraplen);
	if (rv == CKR_OK && user_pin)
		rv = wrap_under_pin(tkey, user_pin, user_len, &ukdf, &uwrap, &uwraplen);
	kms_wipe(tkey, sizeof(tkey));
	if (rv != CKR_OK) {
		free(wrap);
		return rv;
	}
	if (!kms_rand(pkey, sizeof(pkey))) {
		free(wrap);
		free(uwrap);
		return CKR_GENERAL_ERROR;
	}
	serial = kms_hex_encode(rnd, sizeof(rnd));
	rv = CKR_HOST_MEMORY;
	if (user_pin && (kms_attrs_set(&rec, TR_USER_KDF, &ukdf, sizeof(ukdf)) ||
			 kms_attrs_set(&rec, TR_USER_WRAP, uwrap, uwraplen)))
		goto out;
	if (!serial || kms_attrs_set(&rec, TR_LABEL, label, strlen(label)) ||
	    kms_attrs_set(&rec, TR_SERIAL, serial, 16) ||
	    kms_attrs_set_ulong(&rec, TR_FLAGS, TRF_INITIALIZED | (user_pin ? TRF_USER_PIN : 0)) ||
	    kms_attrs_set_ulong(&rec, TR_USER_FAILS, 0) || kms_attrs_set_ulong(&rec, TR_SO_FAILS, 0) ||
	    kms_attrs_set(&rec, TR_SO_KDF, &kdf, sizeof(kdf)) || kms_attrs_set(&rec, TR_SO_WRAP, wrap, wraplen) ||
	    kms_attrs_set(&rec, TR_EPOCH, epoch, sizeof(epoch)) || kms_attrs_set_ulong(&rec, TR_SEAL_V, SEAL_VERSION) ||
	    kms_attrs_set(&rec, TR_PUBLIC_KEY, pkey, sizeof(pkey)) || kms_attrs_encode(&rec, out, outlen))
		goto out;
	rv = CKR_OK;
out:
	kms_wipe(pkey, sizeof(pkey));
	rec_wipe_free(&rec);
	free(serial);
	free(wrap);
	free(uwrap);
	return rv;
}

static CK_RV token_reinit(struct kms_token *tok, const char *so_pin, size_t so_len, const char *label,
			  const char *user_pin, size_t user_len);

CK_RV kms_token_init(struct kms_token *tok, const char *so_pin, size_t so_len, const char *label, const char *user_pin,
		     size_t user_len)
{
	CK_ULONG all = 0, rw = 0;
	CK_RV rv;

	if (so_len < KMS_MIN_PIN || so_len > KMS_MAX_PIN || (user_pin && (user_len < KMS_MIN_PIN || user_len > KMS_MAX_PIN)))
		return CKR_PIN_LEN_RANGE;
	kms_session_count(tok, &all, &rw);
	if (all > 0)
		return CKR_SESSION_EXISTS;
	/* The first token initialised makes the store. */
	if (!kms_mod_store(true, &rv))
		return rv;
	/* No session of any process either, until the new record is written. */
	rv = kms_presence_exclusive(tok);
	if (rv != CKR_OK)
		return rv;
	rv = token_reinit(tok, so_pin, so_len, label, user_pin, user_len);
	kms_presence_release(tok);
	return rv;
}

/* Destroys in the engine every key of the token's objects (C_InitToken of a pkcs11-engine token), opening their
 * seals with the token key the SO PIN gave; no session exists meanwhile. An engine error stops it (the records
 * stay, and so does the token). */
struct purge_ctx {
	struct kms_token *tok;
	CK_OBJECT_CLASS cls;
};

static CK_RV purge_cb(void *vctx, uint64_t id, const uint8_t *blob, size_t len)
{
	const struct purge_ctx *c = vctx;

	(void)id;
	return c->tok->eng->destroy(c->tok->einst, c->cls, blob, len);
}

static CK_RV engine_purge_all(struct kms_token *tok, uint8_t *tkey)
{
	struct purge_ctx c = {tok, CKO_PRIVATE_KEY};
	CK_RV rv;

	kms_lock_wr(&tok->lock);
	tok->token_key = tkey;
	kms_lock_unlock(&tok->lock);
	rv = kms_token_each_blob(tok, CKO_PRIVATE_KEY, purge_cb, &c);
	c.cls = CKO_SECRET_KEY;
	if (rv == CKR_OK)
		rv = kms_token_each_blob(tok, CKO_SECRET_KEY, purge_cb, &c);
	kms_lock_wr(&tok->lock);
	tok->token_key = NULL;
	kms_lock_unlock(&tok->lock);
	if (tok->eng->logout)
		tok->eng->logout(tok->einst);
	if (rv == CKR_USER_NOT_LOGGED_IN) {
		KMS_WARN("token '%s': initialised again without the %s engine's own PIN: the keys it made stay where it "
			 "keeps them (a PIN file in the token's settings lets it destroy them)", tok->conf_label,
			 tok->eng->name);
		return CKR_OK;
	}
	if (rv != CKR_OK)
		KMS_ERR("token '%s': its %s engine did not destroy its keys (0x%lx): the token is not initialised again",
			tok->conf_label, tok->eng->name, (unsigned long)rv);
	return rv;
}

/* C_InitToken once no process has a session on the token. */
static CK_RV token_reinit(struct kms_token *tok, const char *so_pin, size_t so_len, const char *label,
			  const char *user_pin, size_t user_len)
{
	struct kms_attrs rec;
	uint8_t *buf = NULL, *tkey = NULL;
	size_t len = 0;
	CK_RV rv;

	rv = record_read(tok, &rec);
	if (rv != CKR_OK)
		return rv;
	if (rec_ulong(&rec, TR_FLAGS) & TRF_INITIALIZED) {
		rv = pin_check(tok, CKU_SO, so_pin, so_len, &tkey, NULL);
		/* An engine that holds keys elsewhere destroys them there first: a token made anew leaves none behind. */
		if (rv == CKR_OK && tok->eng->destroy)
			rv = engine_purge_all(tok, tkey);
		kms_secure_free(tkey);
	}
	kms_attrs_free(&rec);
	if (rv != CKR_OK)
		return rv;
	rv = record_new(label, so_pin, so_len, user_pin, user_len, &buf, &len);
	if (rv != CKR_OK)
		return rv;
	rv = kms_store_token_reset(kms_mod.store, tok->no, tok->conf_label, buf, len);
	free(buf);
	if (rv != CKR_OK)
		return rv;
	kms_lock_wr(&tok->lock);
	kms_token_forget_login_locked(tok);
	kms_obj_cache_clear_locked(tok);
	kms_lock_unlock(&tok->lock);
	return CKR_OK;
}

struct setwrap_ctx {
	uint64_t kdf_type, wrap_type;
	const struct kms_kdf *kdf;
	const uint8_t *wrap;
	size_t wraplen;
	bool set_user_flag;
};

static CK_RV setwrap_update(void *vctx, const uint8_t *old, size_t oldlen, uint8_t **newrec, size_t *newlen)
{
	struct setwrap_ctx *c = vctx;
	struct kms_attrs rec = KMS_ATTRS_INIT;
	unsigned long flags = 0;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!old || kms_attrs_decode(old, oldlen, &rec) != 0)
		return CKR_DEVICE_ERROR;
	kms_attrs_get_ulong(&rec, TR_FLAGS, &flags);
	if (c->set_user_flag)
		flags |= TRF_USER_PIN;
	if (kms_attrs_set(&rec, c->kdf_type, c->kdf, sizeof(*c->kdf)) ||
	    kms_attrs_set(&rec, c->wrap_type, c->wrap, c->wraplen) || kms_attrs_set_ulong(&rec, TR_FLAGS, flags) ||
	    kms_attrs_set_ulong(&rec, c->kdf_type == TR_SO_KDF ? TR_SO_FAILS : TR_USER_FAILS, 0) ||
	    kms_attrs_encode(&rec, newrec, newlen))
		goto out;
	rv = CKR_OK;
out:
	kms_attrs_free(&rec);
	return rv;
}

/* Wraps tkey under a new PIN for user (CKU_USER or CKU_SO) and writes it. */
static CK_RV set_pin_wrap(struct kms_token *tok, CK_USER_TYPE user, const uint8_t *tkey, const char *pin, size_t len)
{
	struct kms_kdf kdf;
	uint8_t *wrap = NULL;
	size_t wraplen = 0;
	struct setwrap_ctx c;
	CK_RV rv;

	rv = wrap_under_pin(tkey, pin, len, &kdf, &wrap, &wraplen);
	if (rv != CKR_OK)
		return rv;
	c.kdf_type = user == CKU_SO ? TR_SO_KDF : TR_USER_KDF;
	c.wrap_type = user == CKU_SO ? TR_SO_WRAP : TR_USER_WRAP;
	c.kdf = &kdf;
	c.wrap = wrap;
	c.wraplen = wraplen;
	c.set_user_flag = user == CKU_USER;
	rv = token_update(tok, setwrap_update, &c);
	free(wrap);
	return rv;
}

CK_RV kms_token_init_pin(struct kms_session *s, const char *pin, size_t len)
{
	struct kms_token *tok = s->tok;
	uint8_t *tkey = NULL;
	CK_RV rv = CKR_OK;

	if (kms_session_state(s) != CKS_RW_SO_FUNCTIONS)
		return CKR_USER_NOT_LOGGED_IN;
	if (len < KMS_MIN_PIN || len > KMS_MAX_PIN)
		return CKR_PIN_LEN_RANGE;
	kms_lock_rd(&tok->lock);
	if (!tok->token_key)
		rv = CKR_USER_NOT_LOGGED_IN;
	else if (!(tkey = kms_secure_dup(tok->token_key, KMS_TOKEN_KEY_LEN)))
		rv = CKR_HOST_MEMORY;
	kms_lock_unlock(&tok->lock);
	if (rv == CKR_OK)
		rv = set_pin_wrap(tok, CKU_USER, tkey, pin, len);
	kms_secure_free(tkey);
	return rv;
}

CK_RV kms_token_set_pin(struct kms_session *s, const char *old, size_t oldlen, const char *pin, size_t len)
{
	CK_STATE st = kms_session_state(s);
	CK_USER_TYPE user = st == CKS_RW_SO_FUNCTIONS ? CKU_SO : CKU_USER;
	uint8_t *tkey = NULL;
	CK_RV rv;

	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (len < KMS_MIN_PIN || len > KMS_MAX_PIN)
		return CKR_PIN_LEN_RANGE;
	rv = pin_check(s->tok, user, old, oldlen, &tkey, NULL);
	if (rv != CKR_OK) {
		kms_secure_free(tkey);
		return rv;
	}
	/* An engine whose backend shares the user PIN (pkcs11 without a PIN file) changes it there first, and back
	 * if kms11's own change then fails. */
	if (user == CKU_USER && s->tok->eng->set_pin)
		rv = s->tok->eng->set_pin(s->tok->einst, old, oldlen, pin, len);
	if (rv == CKR_OK) {
		rv = set_pin_wrap(s->tok, user, tkey, pin, len);
		if (rv != CKR_OK && user == CKU_USER && s->tok->eng->set_pin)
			(void)s->tok->eng->set_pin(s->tok->einst, pin, len, old, oldlen);
	}
	kms_secure_free(tkey);
	return rv;
}
