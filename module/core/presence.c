/* SPDX-License-Identifier: Apache-2.0 */
/* Which processes have sessions on a token: a shared flock on the token's lock file per process, taken
 * exclusively by C_InitToken, so that a token is never initialised again under another process's sessions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/log.h"
#include "module/core/core.h"

/*
 * flock locks belong to the open file description and end when the process's last descriptor of it
 * closes, so a process that dies (even by SIGKILL) leaves no lock behind. The store directory is the
 * place every process of the store can reach; the file holds nothing. Where flock is not available
 * (ENOLCK, a file system without locks), presence is unknown: sessions open as before and only the
 * token epoch (token.c) guards against a re-initialisation, which the log says once.
 */

CK_RV kms_presence_init(struct kms_token *tok)
{
	tok->presence_fd = -1;
	tok->presence_n = 0;
	return kms_lock_init(&tok->presence_lock);
}

void kms_presence_close(struct kms_token *tok)
{
	if (tok->presence_fd >= 0)
		close(tok->presence_fd);
	tok->presence_fd = -1;
	tok->presence_n = 0;
	kms_lock_destroy(&tok->presence_lock);
}

/* Opens the lock file once (presence_lock held); false when it cannot be used. */
static bool presence_open_locked(struct kms_token *tok)
{
	char path[4096];
	CK_RV rv;

	if (tok->presence_fd >= 0)
		return true;
	/* No store yet: no token a session of another process could be using. */
	if (!kms_mod_store(false, &rv))
		return false;
	if (snprintf(path, sizeof(path), "%s/token-%u.lock", kms_mod.conf.store_dir, tok->no) >= (int)sizeof(path))
		return false;
	tok->presence_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kms_store_file_mode(kms_mod.conf.store_dir));
	if (tok->presence_fd >= 0)
		kms_store_share_file(path, kms_store_file_mode(kms_mod.conf.store_dir));
	if (tok->presence_fd < 0) {
		KMS_WARN("token '%s': cannot open %s (%s): sessions of other processes are not seen", tok->conf_label,
			 path, strerror(errno));
		return false;
	}
	return true;
}

/* flock, retried on EINTR; 0, or the errno. */
static int presence_flock(int fd, int op)
{
	int rc;

	do
		rc = flock(fd, op);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? errno : 0;
}

CK_RV kms_presence_add(struct kms_token *tok)
{
	int err;

	kms_lock_wr(&tok->presence_lock);
	if (tok->presence_n == 0 && presence_open_locked(tok)) {
		err = presence_flock(tok->presence_fd, LOCK_SH);
		if (err)
			KMS_WARN("token '%s': cannot lock its lock file (%s)", tok->conf_label, strerror(err));
	}
	tok->presence_n++;
	kms_lock_unlock(&tok->presence_lock);
	return CKR_OK;
}

void kms_presence_drop(struct kms_token *tok)
{
	kms_lock_wr(&tok->presence_lock);
	if (tok->presence_n > 0 && --tok->presence_n == 0 && tok->presence_fd >= 0)
		presence_flock(tok->presence_fd, LOCK_UN);
	kms_lock_unlock(&tok->presence_lock);
}

CK_RV kms_presence_exclusive(struct kms_token *tok)
{
	int err;

	kms_lock_wr(&tok->presence_lock);
	if (tok->presence_n > 0) {
		kms_lock_unlock(&tok->presence_lock);
		return CKR_SESSION_EXISTS;
	}
	if (!presence_open_locked(tok))
		return CKR_OK; /* unknown: held until kms_presence_release */
	err = presence_flock(tok->presence_fd, LOCK_EX | LOCK_NB);
	if (err == EWOULDBLOCK) {
		kms_lock_unlock(&tok->presence_lock);
		return CKR_SESSION_EXISTS;
	}
	if (err)
		KMS_WARN("token '%s': cannot lock its lock file (%s)", tok->conf_label, strerror(err));
	return CKR_OK;
}

void kms_presence_release(struct kms_token *tok)
{
	if (tok->presence_fd >= 0)
		presence_flock(tok->presence_fd, LOCK_UN);
	kms_lock_unlock(&tok->presence_lock);
}
