/* SPDX-License-Identifier: Apache-2.0 */
/* Sessions: the table of open sessions, their states and their active operations. */
#include <stdlib.h>
#include <string.h>

#include "common/ckr.h"
#include "common/log.h"
#include "common/mem.h"
#include "module/core/core.h"

static void session_unref(struct kms_session *s);

CK_RV kms_session_get(CK_SESSION_HANDLE h, struct kms_session **out)
{
	struct kms_session *s;
	CK_RV rv = kms_enter();

	if (rv != CKR_OK)
		return rv;
	kms_lock_rd(&kms_mod.lock);
	s = h ? kms_map_get(&kms_mod.sessions, h) : NULL;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	kms_lock_unlock(&kms_mod.lock);
	if (s && s->epoch != atomic_load(&s->tok->sess_epoch)) {
		/* The token was initialised again by another process: the session has ended. */
		session_unref(s);
		kms_session_close(h);
		s = NULL;
	}
	if (!s) {
		kms_leave();
		return CKR_SESSION_HANDLE_INVALID;
	}
	kms_lock_wr(&s->lock);
	if (s->closed) {
		kms_session_put(s);
		return CKR_SESSION_HANDLE_INVALID;
	}
	rv = kms_token_check_epoch(s->tok);
	if (rv != CKR_OK) {
		kms_session_put(s);
		return rv;
	}
	*out = s;
	return CKR_OK;
}

static void session_free(struct kms_session *s)
{
	kms_lock_destroy(&s->lock);
	free(s);
}

static void session_unref(struct kms_session *s)
{
	if (atomic_fetch_sub(&s->refs, 1) == 1)
		session_free(s);
}

void kms_session_put(struct kms_session *s)
{
	kms_lock_unlock(&s->lock);
	session_unref(s);
	kms_leave();
}

CK_RV kms_session_done(struct kms_session *s, CK_RV rv, const char *fn)
{
	kms_session_put(s);
	/* A size query's CKR_BUFFER_TOO_SMALL is how PKCS#11 works, not a failure. */
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		KMS_DBG("%s: %s", fn, kms_ckr_name(rv));
	return rv;
}

CK_RV kms_session_open(struct kms_token *tok, CK_FLAGS flags, CK_SESSION_HANDLE *h)
{
	struct kms_session *s;
	CK_RV rv;

	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	kms_lock_rd(&tok->lock);
	rv = (tok->login == CKU_SO && !(flags & CKF_RW_SESSION)) ? CKR_SESSION_READ_WRITE_SO_EXISTS : CKR_OK;
	kms_lock_unlock(&tok->lock);
	if (rv != CKR_OK)
		return rv;
	s = calloc(1, sizeof(*s));
	if (!s)
		return CKR_HOST_MEMORY;
	rv = kms_lock_init(&s->lock);
	if (rv != CKR_OK) {
		free(s);
		return rv;
	}
	rv = kms_presence_add(tok);
	if (rv != CKR_OK) {
		kms_lock_destroy(&s->lock);
		free(s);
		return rv;
	}
	atomic_init(&s->refs, 1);
	s->tok = tok;
	s->epoch = atomic_load(&tok->sess_epoch);
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	kms_lock_wr(&kms_mod.lock);
	s->h = kms_mod.next_session++;
	if (kms_map_put(&kms_mod.sessions, s->h, s) != 0)
		rv = CKR_HOST_MEMORY;
	kms_lock_unlock(&kms_mod.lock);
	if (rv != CKR_OK) {
		kms_presence_drop(tok);
		kms_lock_destroy(&s->lock);
		free(s);
		return rv;
	}
	*h = s->h;
	return CKR_OK;
}

void kms_session_op_end(struct kms_session *s, enum kms_op_kind kind)
{
	struct kms_active *a = &s->op[kind];

	if (a->eop)
		s->tok->eng->op_free(a->eop);
	if (a->key)
		kms_keyref_put(a->key);
	kms_secure_free(a->held);
	memset(a, 0, sizeof(*a));
}

/* Ends a session removed from the table: its operations and objects go, the memory when the last user leaves. */
static void session_end(struct kms_session *s)
{
	kms_lock_wr(&s->lock);
	s->closed = true;
	for (int k = 0; k < KMS_OP__COUNT; k++)
		kms_session_op_end(s, (enum kms_op_kind)k);
	for (int k = 0; k < KMS_MSG__COUNT; k++)
		kms_msg_end(s, (enum kms_msg_kind)k);
	free(s->find.ids);
	s->find.ids = NULL;
	kms_obj_drop_session_objects(s->tok, s->h);
	kms_lock_unlock(&s->lock);
	kms_presence_drop(s->tok);
	session_unref(s);
}

/* Logs the token out when it has no session left (the spec's rule for the last close). */
static void logout_if_idle(struct kms_token *tok)
{
	CK_ULONG all = 0, rw = 0;

	kms_session_count(tok, &all, &rw);
	if (all)
		return;
	kms_lock_wr(&tok->lock);
	if (tok->login != KMS_NO_USER)
		kms_token_forget_login_locked(tok);
	kms_lock_unlock(&tok->lock);
}

CK_RV kms_session_close(CK_SESSION_HANDLE h)
{
	struct kms_session *s;
	struct kms_token *tok;

	kms_lock_wr(&kms_mod.lock);
	s = h ? kms_map_del(&kms_mod.sessions, h) : NULL;
	kms_lock_unlock(&kms_mod.lock);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	tok = s->tok;
	session_end(s);
	logout_if_idle(tok);
	return CKR_OK;
}

struct collect_ctx {
	struct kms_token *tok;
	struct kms_session **list;
	size_t n;
	CK_ULONG all, rw;
};

static void collect_cb(uint64_t h, void *val, void *vctx)
{
	struct collect_ctx *c = vctx;
	struct kms_session *s = val;

	(void)h;
	if (s->tok != c->tok)
		return;
	c->all++;
	if (s->flags & CKF_RW_SESSION)
		c->rw++;
	if (c->list)
		c->list[c->n++] = s;
}

CK_RV kms_session_close_all(struct kms_token *tok)
{
	struct collect_ctx c = {.tok = tok};

	kms_lock_wr(&kms_mod.lock);
	c.list = calloc(kms_mod.sessions.n + 1, sizeof(*c.list));
	if (!c.list) {
		kms_lock_unlock(&kms_mod.lock);
		return CKR_HOST_MEMORY;
	}
	kms_map_each(&kms_mod.sessions, collect_cb, &c);
	for (size_t i = 0; i < c.n; i++)
		kms_map_del(&kms_mod.sessions, c.list[i]->h);
	kms_lock_unlock(&kms_mod.lock);
	for (size_t i = 0; i < c.n; i++)
		session_end(c.list[i]);
	free(c.list);
	logout_if_idle(tok);
	return CKR_OK;
}

void kms_session_count(struct kms_token *tok, CK_ULONG *all, CK_ULONG *rw)
{
	struct collect_ctx c = {.tok = tok};

	kms_lock_rd(&kms_mod.lock);
	kms_map_each(&kms_mod.sessions, collect_cb, &c);
	kms_lock_unlock(&kms_mod.lock);
	*all = c.all;
	*rw = c.rw;
}

CK_STATE kms_session_state(struct kms_session *s)
{
	CK_USER_TYPE login;
	bool rw = s->flags & CKF_RW_SESSION;

	kms_lock_rd(&s->tok->lock);
	login = s->tok->login;
	kms_lock_unlock(&s->tok->lock);
	if (login == CKU_SO)
		return CKS_RW_SO_FUNCTIONS;
	if (login == CKU_USER)
		return rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	return rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
}
