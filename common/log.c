/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr or a file, one mutex around writes, silent unless switched on. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KMS_LOG_OFF (-1)
#define KMS_LOG_LINE 1024

static pthread_mutex_t kms_log_mutex = PTHREAD_MUTEX_INITIALIZER;
static int kms_log_level = KMS_LOG_OFF; /* read with __atomic loads */
static FILE *kms_log_file;              /* NULL: stderr */
static pid_t kms_log_pid;               /* process that last set up the mutex */

static const char *const kms_log_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

/*
 * After fork the mutex may have been held by a thread that does not exist in
 * the child. The child re-creates it before first use (kms_log_init or the
 * first write in the child).
 */
static void kms_log_lock(void)
{
	pid_t pid = getpid();

	if (__atomic_load_n(&kms_log_pid, __ATOMIC_ACQUIRE) != pid) {
		pthread_mutex_init(&kms_log_mutex, NULL);
		__atomic_store_n(&kms_log_pid, pid, __ATOMIC_RELEASE);
	}
	pthread_mutex_lock(&kms_log_mutex);
}

static void kms_log_unlock(void)
{
	pthread_mutex_unlock(&kms_log_mutex);
}

/* Opens path for appending, creating it with mode 0600 (an existing file keeps its mode); returns NULL
 * (and keeps quiet) on failure. */
static FILE *kms_log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "a");
	if (f == NULL) {
		close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

static void kms_log_set_file_locked(FILE *f)
{
	if (kms_log_file != NULL && kms_log_file != f)
		fclose(kms_log_file);
	kms_log_file = f;
}

void kms_log_init(void)
{
	const char *dbg = getenv("KMS11_DEBUG");
	const char *path = getenv("KMS11_LOG");
	int level = KMS_LOG_OFF;
	FILE *f = NULL;
	int saved = errno;

	if (dbg != NULL && dbg[0] != '\0') {
		if (dbg[0] >= '0' && dbg[0] <= '3' && dbg[1] == '\0')
			level = dbg[0] - '0';
		else
			level = KMS_LOG_DEBUG;
	}
	if (path != NULL && path[0] != '\0') {
		f = kms_log_open(path);
		if (f != NULL && level == KMS_LOG_OFF)
			level = KMS_LOG_ERROR;
	}
	kms_log_lock();
	kms_log_set_file_locked(f);
	__atomic_store_n(&kms_log_level, level, __ATOMIC_RELEASE);
	kms_log_unlock();
	errno = saved;
}

void kms_log_set_file(const char *path)
{
	FILE *f = NULL;
	int saved = errno;

	/* NULL, or a path that cannot be opened, keeps the current sink. */
	if (path != NULL)
		f = kms_log_open(path);
	kms_log_lock();
	if (f != NULL)
		kms_log_set_file_locked(f);
	if (__atomic_load_n(&kms_log_level, __ATOMIC_ACQUIRE) == KMS_LOG_OFF)
		__atomic_store_n(&kms_log_level, KMS_LOG_ERROR, __ATOMIC_RELEASE);
	kms_log_unlock();
	errno = saved;
}

int kms_log_enabled(enum kms_log_level level)
{
	return (int)level <= __atomic_load_n(&kms_log_level, __ATOMIC_ACQUIRE);
}

void kms_log(enum kms_log_level level, const char *fmt, ...)
{
	char msg[KMS_LOG_LINE];
	va_list ap;
	size_t len;
	int saved = errno;

	if ((unsigned int)level > KMS_LOG_DEBUG || !kms_log_enabled(level))
		return;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	/* One line per call: drop trailing newlines, flatten embedded ones. */
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';

	kms_log_lock();
	FILE *out = kms_log_file != NULL ? kms_log_file : stderr;
	fprintf(out, "kms11[%ld]: %s: %s\n", (long)getpid(), kms_log_names[level], msg);
	fflush(out);
	kms_log_unlock();
	errno = saved;
}

void kms_log_close(void)
{
	kms_log_lock();
	kms_log_set_file_locked(NULL);
	kms_log_unlock();
}

void kms_log_set_level(int level)
{
	if (level < KMS_LOG_ERROR || level > KMS_LOG_DEBUG)
		return;
	__atomic_store_n(&kms_log_level, level, __ATOMIC_RELAXED);
}
