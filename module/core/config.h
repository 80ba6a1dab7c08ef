/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration: the tokens this module offers, from KMS11_CONF (INI) or the built-in default. */
#ifndef KMS_CORE_CONFIG_H
#define KMS_CORE_CONFIG_H

#include <stddef.h>

#include "engines/engine.h"

/*
 * INI format:
 *   [kms11]                 ; optional global section
 *   store = /path/to/dir    ; default: $KMS11_STORE, else $XDG_DATA_HOME/kms11, else ~/.local/share/kms11
 *   log = /path/to/file     ; optional log file
 *   debug = 0..3            ; optional log level
 *
 *   [token:<label>]         ; one section per token, label up to 32 bytes
 *   engine = openssl        ; engine name (required)
 *   <any other key> = <value>  ; passed to the engine as settings
 * Unknown keys in [kms11], a missing engine, an unknown engine name, an empty or too long label,
 * a duplicate label, or no token section at all are errors.
 */

struct kms_conf_token {
	char *label;
	char *engine;
	struct kms_engine_setting *settings; /* strings owned by the config */
	size_t n_settings;
};

struct kms_conf {
	char *store_dir;
	char *log_file;
	int debug; /* -1 when unset */
	struct kms_conf_token *tokens;
	size_t n_tokens;
};

/* Loads the configuration: KMS11_CONF if set, else the default (one token "kms11", engine openssl).
 * Returns 0, or -1 with a message naming the file, line and problem in errbuf. */
int kms_conf_load(struct kms_conf *c, char *errbuf, size_t errlen);
/* Parses one INI file (for tests). Same return rule. */
int kms_conf_load_file(struct kms_conf *c, const char *path, char *errbuf, size_t errlen);
void kms_conf_free(struct kms_conf *c);

#endif
