/* SPDX-License-Identifier: Apache-2.0 */
/* Tokens as the management plane shows them: engines (Lamassu's /v1/engines), the summary (Thalassa's), token
 * information, and the PIN changes of kms11 token set-pin and unlock. */
#include <string.h>

#include "module/kms/kms-int.h"

/* The key kinds the management plane makes on every engine (kms11 key create). */
static json_t *key_types(void)
{
	return json_pack("[{s:s,s:[i,i,i]},{s:s,s:[i,i,i]},{s:s,s:[i]},{s:s,s:[i,i,i]},{s:s,s:[i,i,i]}]", "algorithm", "RSA",
			 "sizes", 2048, 3072, 4096, "algorithm", "ECDSA", "sizes", 256, 384, 521, "algorithm", "Ed25519",
			 "sizes", 256, "algorithm", "AES", "sizes", 128, 192, 256, "algorithm", "HMAC", "sizes", 256, 384,
			 512);
}

/* A fixed-width CK_TOKEN_INFO field without its padding. */
static json_t *padded(const CK_UTF8CHAR *v, size_t n)
{
	while (n && v[n - 1] == ' ')
		n--;
	return json_stringn((const char *)v, n);
}

/* A token as kms11 token list and info show it: the slot, its state and its PINs' states. */
static json_t *token_json(struct kms_token *tok, size_t i)
{
	CK_TOKEN_INFO ti;
	char label[33];
	json_t *o;

	kms_token_label(tok, label);
	memset(&ti, 0, sizeof(ti));
	kms_token_info(tok, &ti);
	o = json_pack("{s:s,s:s,s:s,s:I,s:b,s:b,s:b}", "id", label, "config_name", tok->conf_label, "type", tok->eng->name,
		      "slot", (json_int_t)tok->slot, "default", i == 0, "present", kms_token_present(tok), "initialized",
		      (ti.flags & CKF_TOKEN_INITIALIZED) != 0);
	json_object_set_new(o, "serial", padded(ti.serialNumber, sizeof(ti.serialNumber)));
	json_object_set_new(o, "user_pin", json_string(!(ti.flags & CKF_USER_PIN_INITIALIZED) ? "unset"
						       : (ti.flags & CKF_USER_PIN_LOCKED)	? "locked"
						       : (ti.flags & CKF_USER_PIN_FINAL_TRY)	? "final_try"
						       : (ti.flags & CKF_USER_PIN_COUNT_LOW)	? "count_low"
											: "ok"));
	json_object_set_new(o, "so_pin", json_string((ti.flags & CKF_SO_PIN_LOCKED) ? "locked" : "ok"));
	return o;
}

/* A token as an engine (Lamassu's /v1/engines): what makes keys, and which kinds. */
static json_t *engine_json(struct kms_token *tok, size_t i)
{
	CK_TOKEN_INFO ti;
	char label[33];

	kms_token_label(tok, label);
	memset(&ti, 0, sizeof(ti));
	kms_token_info(tok, &ti);
	return json_pack("{s:s,s:s,s:s,s:b,s:b,s:o}", "id", label, "type", tok->eng->name, "provider", "kms11", "default",
			 i == 0, "available", kms_token_present(tok) && (ti.flags & CKF_TOKEN_INITIALIZED) != 0,
			 "supported_key_types", key_types());
}

int kms_tokens(json_t **out, struct kms_err *e)
{
	json_t *list = json_array();

	(void)e;
	for (size_t i = 0; i < kms_mod.n_tokens; i++)
		json_array_append_new(list, token_json(&kms_mod.tokens[i], i));
	*out = json_pack("{s:o}", "list", list);
	return KMS_OK;
}

int kms_engines(json_t **out, struct kms_err *e)
{
	json_t *list = json_array();

	(void)e;
	for (size_t i = 0; i < kms_mod.n_tokens; i++)
		json_array_append_new(list, engine_json(&kms_mod.tokens[i], i));
	*out = json_pack("{s:o}", "list", list);
	return KMS_OK;
}

int kms_summary(json_t **out, struct kms_err *e)
{
	json_t *engines = json_array();
	json_int_t total = 0;
	int ret = KMS_OK;

	for (size_t i = 0; ret == KMS_OK && i < kms_mod.n_tokens; i++) {
		struct kms_query q = {0};
		json_t *o = token_json(&kms_mod.tokens[i], i), *stats = NULL;

		q.engine_id = json_string_value(json_object_get(o, "id"));
		ret = kms_key_query(&q, KMS_QUERY_STATS, &stats, e);
		if (ret == KMS_OK) {
			json_object_set_new(o, "available", json_boolean(json_is_true(json_object_get(o, "initialized"))));
			json_object_set(o, "keys", json_object_get(stats, "total"));
			json_object_set(o, "keys_by_state", json_object_get(stats, "states"));
			json_object_set(o, "keys_by_algorithm", json_object_get(stats, "algorithms"));
			total += json_integer_value(json_object_get(stats, "total"));
			json_array_append(engines, o);
		}
		json_decref(stats);
		json_decref(o);
	}
	if (ret == KMS_OK)
		*out = json_pack("{s:o,s:I}", "engines", engines, "total_keys", total);
	else
		json_decref(engines);
	return ret;
}

int kms_token_show(const char *engine_id, json_t **out, struct kms_err *e)
{
	struct kms_token *tok;
	int ret = kms_mgr_token(engine_id, &tok, e);

	if (ret != KMS_OK)
		return ret;
	*out = token_json(tok, (size_t)(tok - kms_mod.tokens));
	return KMS_OK;
}

int kms_token_pin(const char *engine_id, bool unlock, const char *pin, const char *new_pin, struct kms_err *e)
{
	struct kms_token *tok;
	CK_SESSION_HANDLE h = 0;
	struct kms_session *s = NULL;
	CK_RV rv;
	int ret = kms_mgr_token(engine_id, &tok, e);

	if (ret != KMS_OK)
		return ret;
	if (strlen(new_pin) < KMS_MIN_PIN || strlen(new_pin) > KMS_MAX_PIN)
		return kms_fail(e, KMS_E_INPUT, "new_pin: a PIN has %d to %d bytes", KMS_MIN_PIN, KMS_MAX_PIN);
	rv = kms_session_open(tok, CKF_SERIAL_SESSION | CKF_RW_SESSION, &h);
	if (rv == CKR_OK)
		rv = kms_session_get(h, &s);
	if (rv != CKR_OK) {
		if (h)
			kms_session_close(h);
		return kms_fail_rv(e, "session", rv);
	}
	if (unlock) {
		/* The SO sets a new user PIN: what unlocks a user locked out by wrong PINs. */
		rv = kms_token_login(s, CKU_SO, pin, strlen(pin));
		if (rv == CKR_OK)
			rv = kms_token_init_pin(s, new_pin, strlen(new_pin));
	} else {
		rv = kms_token_set_pin(s, pin, strlen(pin), new_pin, strlen(new_pin));
	}
	kms_session_put(s);
	kms_session_close(h);
	if (rv == CKR_PIN_INCORRECT)
		return kms_fail(e, KMS_E_DENIED, "%s: wrong PIN", unlock ? "so_pin" : "pin");
	return rv == CKR_OK ? KMS_OK : kms_fail_rv(e, unlock ? "unlock" : "set-pin", rv);
}
