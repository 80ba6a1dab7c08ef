/* SPDX-License-Identifier: Apache-2.0 */
/* Module locks: OS read-write locks, or the application's mutex callbacks when C_Initialize asks for them. */
#ifndef KMS_CORE_LOCK_H
#define KMS_CORE_LOCK_H

#include <pthread.h>
#include <stdbool.h>

#include <p11-kit/pkcs11.h>

struct kms_lock {
	pthread_rwlock_t rw;
	void *app; /* the application's mutex, when its callbacks are in use */
};

/* Selects the lock implementation for the next kms_lock_init calls: args NULL or with
 * CKF_OS_LOCKING_OK gives OS locks; otherwise the application's callbacks (all four set). */
void kms_lock_setup(const CK_C_INITIALIZE_ARGS *args);
/* CKR_HOST_MEMORY or the application's CreateMutex error. */
CK_RV kms_lock_init(struct kms_lock *l);
void kms_lock_destroy(struct kms_lock *l);
void kms_lock_rd(struct kms_lock *l);
void kms_lock_wr(struct kms_lock *l);
void kms_lock_unlock(struct kms_lock *l);

#endif
