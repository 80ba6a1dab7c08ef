/* SPDX-License-Identifier: Apache-2.0 */
/* Logging, off unless KMS11_DEBUG is set or a log file is configured. Never log secrets. */
#ifndef KMS_COMMON_LOG_H
#define KMS_COMMON_LOG_H

enum kms_log_level { KMS_LOG_ERROR = 0, KMS_LOG_WARN = 1, KMS_LOG_INFO = 2, KMS_LOG_DEBUG = 3 };

/* Reads KMS11_DEBUG (a level 0-3, or any other non-empty value for DEBUG) and
 * KMS11_LOG (a file path; otherwise stderr). Safe to call again after fork. */
void kms_log_init(void);
/* Sends log lines to this file from now on (appends; NULL keeps the current sink);
 * enables logging at level ERROR if it was off. */
void kms_log_set_file(const char *path);
/* Sets the level (KMS_LOG_ERROR..KMS_LOG_DEBUG; other values are ignored), as a config file's debug = does. */
void kms_log_set_level(int level);
/* Returns 1 when a line of this level would be written. */
int kms_log_enabled(enum kms_log_level level);
void kms_log(enum kms_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Releases the log file. */
void kms_log_close(void);

#define KMS_ERR(...) kms_log(KMS_LOG_ERROR, __VA_ARGS__)
#define KMS_WARN(...) kms_log(KMS_LOG_WARN, __VA_ARGS__)
#define KMS_INFO(...) kms_log(KMS_LOG_INFO, __VA_ARGS__)
#define KMS_DBG(...) kms_log(KMS_LOG_DEBUG, __VA_ARGS__)

#endif
