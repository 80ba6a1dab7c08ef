/* SPDX-License-Identifier: Apache-2.0 */
/* Private to module/kms: helpers its files share. */
#ifndef KMS_MGMT_INT_H
#define KMS_MGMT_INT_H

#include "module/kms/kms.h"

/* Sets e from a PKCS#11 code (PIN and lifecycle codes to KMS_E_DENIED, store failures to KMS_E_INTERNAL,
 * the rest to KMS_E_INPUT) and returns its status. */
int kms_fail_rv(struct kms_err *e, const char *what, CK_RV rv);
/* The attributes that speak for the key: the secret key, else the public key, else the private key. */
const struct kms_attrs *kms_key_main(const struct kms_key *k);
/* Algorithm name (RSA, ECDSA, Ed25519, Ed448, AES, HMAC) and size in bits of a key's attributes. */
void kms_key_kind(const struct kms_attrs *a, const char **alg, unsigned long *bits);
/* The key's state (KMS11_STATE_ENABLED when absent) and its JSON word. */
unsigned long kms_key_state(const struct kms_attrs *a);
const char *kms_state_name(unsigned long state);

/* A kms11.h list value (NULL: empty) as a JSON array of strings. */
json_t *kms_list_json(const struct kms_attr *v);

/* KMS_E_CONFLICT when a key other than kid (NULL: any key) in tok is named name. */
int kms_name_free(struct kms_token *tok, const char *name, const char *kid, struct kms_err *e);
/* Around the core calls that make a new key on l's session: the facts it gets, the name rule checked again in the
 * transaction that stores it (a clash found there is KMS_E_CONFLICT), and with batch, its objects held and written
 * in one transaction by kms_obj_batch_commit. _end drops what was not written. */
void kms_new_key_begin(struct kms_login *l, const struct kms_attrs *facts, struct kms_obj_batch *batch);
void kms_new_key_end(struct kms_login *l);
/* The facts a new key gets besides its template: description, metadata, tags, expiration date. */
int kms_create_facts(const struct kms_create *c, struct kms_attrs *f, struct kms_err *e);

/* Makes the objects of a key or of a key's new version (see change.c); *kid the key id, malloc'd. */
int kms_make_key(struct kms_login *l, const char *alg, unsigned long bits, const char *name, bool extractable,
		 const uint8_t *material, size_t matlen, char **kid, struct kms_err *e);

/* metadata[jsonpath] predicates (jsonpath.c): a syntax check, and the value on a document. */
int kms_jsonpath_check(const char *text, struct kms_err *e);
bool kms_jsonpath_match(json_t *doc, const char *text);

#endif
