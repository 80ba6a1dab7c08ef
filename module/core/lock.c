/* SPDX-License-Identifier: Apache-2.0 */
/* Module locks over pthreads or the application's CK_C_INITIALIZE_ARGS mutex callbacks. */
#include "module/core/lock.h"

static CK_CREATEMUTEX app_create;
static CK_DESTROYMUTEX app_destroy;
static CK_LOCKMUTEX app_lock;
static CK_UNLOCKMUTEX app_unlock;
static bool use_app;

void kms_lock_setup(const CK_C_INITIALIZE_ARGS *args)
{
	use_app = args && !(args->flags & CKF_OS_LOCKING_OK) && args->CreateMutex;
	if (use_app) {
		app_create = args->CreateMutex;
		app_destroy = args->DestroyMutex;
		app_lock = args->LockMutex;
		app_unlock = args->UnlockMutex;
	}
}

CK_RV kms_lock_init(struct kms_lock *l)
{
	l->app = NULL;
	if (use_app)
		return app_create(&l->app);
	return pthread_rwlock_init(&l->rw, NULL) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

void kms_lock_destroy(struct kms_lock *l)
{
	if (l->app) {
		app_destroy(l->app);
		l->app = NULL;
	} else {
		pthread_rwlock_destroy(&l->rw);
	}
}

void kms_lock_rd(struct kms_lock *l)
{
	if (l->app)
		app_lock(l->app);
	else
		pthread_rwlock_rdlock(&l->rw);
}

void kms_lock_wr(struct kms_lock *l)
{
	if (l->app)
		app_lock(l->app);
	else
		pthread_rwlock_wrlock(&l->rw);
}

void kms_lock_unlock(struct kms_lock *l)
{
	if (l->app)
		app_unlock(l->app);
	else
		pthread_rwlock_unlock(&l->rw);
}
