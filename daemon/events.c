/* Wire v2 events: progress tokens put into forwarded requests, server notifications turned into events. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "wire.h"

#define META "_meta"
#define TOKEN "progressToken"
#define SUBSCRIPTION_ID "io.modelcontextprotocol/subscriptionId"
#define append_lit(b, lit) jbuf_append((b), (lit), sizeof(lit) - 1)

const char *event_name(enum event_kind kind)
{
	switch (kind) {
	case EVENT_PROGRESS:
		return "progress";
	case EVENT_MESSAGE:
		return "message";
	case EVENT_NOTIFICATION:
		return "notification";
	case EVENT_ACKNOWLEDGED:
	case EVENT_CANCELLED:
	case EVENT_NONE:
		break;
	}
	return "";
}

static bool key_is(const msgpack_object *key, const char *s)
{
	return wire_str_eq(key, s);
}

/*
 * Decodes the JSON text of one value into *out, its bytes and tree in zone (so
 * that they live as long as the zone). Returns 0, or -1 with err.
 */
static int decode_json(const char *text, size_t len, msgpack_zone *zone, msgpack_object *out,
		       char *err, size_t errlen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t pos = 0;
	char *copy;
	int rc = -1;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (jsontext_to_msgpack(text, len, &pos, &pk, JSONTEXT_MAX_DEPTH, err, errlen) < 0)
		goto out;
	if (pos != len) {
		snprintf(err, errlen, "trailing data after the JSON value at offset %zu", pos);
		goto out;
	}
	if (!(copy = msgpack_zone_malloc(zone, sb.size ? sb.size : 1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(copy, sb.data, sb.size);
	rc = wire_unpack(copy, sb.size, zone, out, err, errlen);
out:
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* Appends "key":value (with a comma first unless *first). */
static int append_member(struct jbuf *out, bool *first, const msgpack_object *key,
			 const msgpack_object *val, char *err, size_t errlen)
{
	if (!*first && jbuf_append(out, ",", 1) < 0)
		goto nomem;
	*first = false;
	if (jsontext_append_string(out, key->via.str.ptr, key->via.str.size) < 0 ||
	    jbuf_append(out, ":", 1) < 0)
		goto nomem;
	return jsontext_from_msgpack(val, out, JSONTEXT_MAX_DEPTH, err, errlen);
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int append_token(struct jbuf *out, bool first, uint64_t token)
{
	char text[48];
	int n = snprintf(text, sizeof(text), "%s\"" TOKEN "\":%" PRIu64, first ? "" : ",", token);

	return jbuf_append(out, text, (size_t)n);
}

/* Writes params (a map) with _meta.progressToken = token. */
static int write_with_token(const msgpack_object *params, uint64_t token, struct jbuf *out,
			    char *err, size_t errlen)
{
	bool first = true, have_meta = false;

	if (jbuf_append(out, "{", 1) < 0)
		goto nomem;
	for (uint32_t i = 0; i < params->via.map.size; i++) {
		const msgpack_object_kv *kv = &params->via.map.ptr[i];
		const msgpack_object *meta = &kv->val;
		bool meta_first = true;

		if (!key_is(&kv->key, META)) {
			if (append_member(out, &first, &kv->key, &kv->val, err, errlen) < 0)
				return -1;
			continue;
		}
		if (meta->type != MSGPACK_OBJECT_MAP) {
			snprintf(err, errlen, "params._meta must be an object, got %s",
				 wire_type_name(meta));
			return -1;
		}
		if ((!first && jbuf_append(out, ",", 1) < 0) ||
		    jbuf_append(out, "\"" META "\":{", 9) < 0)
			goto nomem;
		first = false;
		have_meta = true;
		for (uint32_t j = 0; j < meta->via.map.size; j++) {
			const msgpack_object_kv *m = &meta->via.map.ptr[j];
			if (!key_is(&m->key, TOKEN) &&
			    append_member(out, &meta_first, &m->key, &m->val, err, errlen) < 0)
				return -1;
		}
		if (append_token(out, meta_first, token) < 0 || jbuf_append(out, "}", 1) < 0)
			goto nomem;
	}
	if (!have_meta) {
		if ((!first && jbuf_append(out, ",", 1) < 0) ||
		    jbuf_append(out, "\"" META "\":{", 9) < 0 || append_token(out, true, token) < 0 ||
		    jbuf_append(out, "}", 1) < 0)
			goto nomem;
	}
	if (jbuf_append(out, "}", 1) < 0)
		goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int events_params_with_token(const char *params, size_t len, uint64_t token, struct jbuf *out,
			     char *err, size_t errlen)
{
	static const msgpack_object empty = { .type = MSGPACK_OBJECT_MAP };
	msgpack_zone zone;
	msgpack_object obj = empty;
	int rc = -1;

	out->len = 0;
	msgpack_zone_init(&zone, 1024);
	if (params && len && decode_json(params, len, &zone, &obj, err, errlen) < 0)
		goto done;
	if (obj.type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "params must be an object, got %s", wire_type_name(&obj));
		goto done;
	}
	rc = write_with_token(&obj, token, out, err, errlen);
done:
	msgpack_zone_destroy(&zone);
	if (rc < 0)
		out->len = 0;
	return rc;
}

/* True when m's method is the JSON string "name" (written without escapes, as servers do). */
static bool method_is(const char *line, const struct jsonrpc_msg *m, const char *name)
{
	size_t n = strlen(name);

	return m->method_is_str && m->method.end - m->method.start == n + 2 &&
	       memcmp(line + m->method.start + 1, name, n) == 0;
}

static enum event_kind kind_of(const char *line, const struct jsonrpc_msg *m)
{
	static const char *changes[] = {
		"notifications/tools/list_changed", "notifications/resources/list_changed",
		"notifications/prompts/list_changed", "notifications/resources/updated",
	};

	if (method_is(line, m, "notifications/progress"))
		return EVENT_PROGRESS;
	if (method_is(line, m, "notifications/message"))
		return EVENT_MESSAGE;
	if (method_is(line, m, "notifications/subscriptions/acknowledged"))
		return EVENT_ACKNOWLEDGED;
	if (method_is(line, m, "notifications/cancelled"))
		return EVENT_CANCELLED;
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++)
		if (method_is(line, m, changes[i]))
			return EVENT_NOTIFICATION;
	return EVENT_NONE;
}

/* The subscriptions/listen request note belongs to (see struct event_note), 0 when none. */
static uint64_t subscription_of(const struct event_note *note)
{
	const msgpack_object *meta = wire_map_get(note->params, META), *id;

	if (note->kind == EVENT_CANCELLED)
		id = wire_map_get(note->params, "requestId");
	else
		id = meta && meta->type == MSGPACK_OBJECT_MAP ? wire_map_get(meta, SUBSCRIPTION_ID)
							      : NULL;
	return id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? id->via.u64 : 0;
}

int events_read_note(const char *line, const struct jsonrpc_msg *m, msgpack_zone *zone,
		     struct event_note *note, char *err, size_t errlen)
{
	static const msgpack_object empty = { .type = MSGPACK_OBJECT_MAP };
	msgpack_object *params;
	const msgpack_object *token;

	memset(note, 0, sizeof(*note));
	note->params = &empty;
	if ((note->kind = kind_of(line, m)) == EVENT_NONE)
		return 0;
	note->method = line + m->method.start + 1;
	note->method_len = m->method.end - m->method.start - 2;
	if (m->params.end == m->params.start)
		return 0;
	if (!(params = msgpack_zone_malloc(zone, sizeof(*params)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (decode_json(line + m->params.start, m->params.end - m->params.start, zone, params,
			err, errlen) < 0)
		return -1;
	if (params->type != MSGPACK_OBJECT_MAP) {
		snprintf(err, errlen, "the notification's params must be an object, got %s",
			 wire_type_name(params));
		return -1;
	}
	note->params = params;
	token = wire_map_get(params, TOKEN);
	if (note->kind == EVENT_PROGRESS && token && token->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		note->token = token->via.u64;
	note->subscription = subscription_of(note);
	return 0;
}

/* True for _meta's subscription id, the daemon's business. */
static bool is_subscription_key(const msgpack_object *key)
{
	return key_is(key, SUBSCRIPTION_ID);
}

/* Packs meta (a map) without the subscription id; false (nothing packed) when nothing is left. */
static bool pack_meta_for_app(msgpack_packer *pk, const msgpack_object *meta, bool count_only)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < meta->via.map.size; i++)
		n += !is_subscription_key(&meta->via.map.ptr[i].key);
	if (!n || count_only)
		return n != 0;
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < meta->via.map.size; i++) {
		const msgpack_object_kv *kv = &meta->via.map.ptr[i];
		if (!is_subscription_key(&kv->key)) {
			msgpack_pack_object(pk, kv->key);
			msgpack_pack_object(pk, kv->val);
		}
	}
	return true;
}

/* Packs a change notification's params as the app sees them (see events_pack_params()). */
static void pack_change_params(msgpack_packer *pk, const msgpack_object *params)
{
	const msgpack_object *meta = wire_map_get(params, META);
	bool keep_meta;
	uint32_t n;

	if (!meta || meta->type != MSGPACK_OBJECT_MAP) {
		msgpack_pack_object(pk, *params);
		return;
	}
	keep_meta = pack_meta_for_app(pk, meta, true);
	n = params->via.map.size - (keep_meta ? 0 : 1);
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < params->via.map.size; i++) {
		const msgpack_object_kv *kv = &params->via.map.ptr[i];
		if (&kv->val == meta) {
			if (keep_meta) {
				msgpack_pack_object(pk, kv->key);
				pack_meta_for_app(pk, meta, false);
			}
			continue;
		}
		msgpack_pack_object(pk, kv->key);
		msgpack_pack_object(pk, kv->val);
	}
}

int events_listen_params(const char *uris, size_t uris_len, struct jbuf *out)
{
	static const char head[] = "{\"notifications\":{\"toolsListChanged\":true,"
				   "\"promptsListChanged\":true,\"resourcesListChanged\":true";

	out->len = 0;
	if (jbuf_append(out, head, sizeof(head) - 1) < 0)
		return -1;
	if (uris && uris_len) {
		if (append_lit(out, ",\"resourceSubscriptions\":[") < 0)
			return -1;
		for (size_t at = 0; at < uris_len; at += strlen(uris + at) + 1)
			if ((at && jbuf_append(out, ",", 1) < 0) ||
			    jsontext_append_string(out, uris + at, strlen(uris + at)) < 0)
				return -1;
		if (jbuf_append(out, "]", 1) < 0)
			return -1;
	}
	return jbuf_append(out, "}}", 2);
}

void events_pack_params(msgpack_packer *pk, const struct event_note *note)
{
	static const char *progress_keys[] = { "progress", "total", "message" };
	const msgpack_object *v[3];
	uint32_t n = 0;

	switch (note->kind) {
	case EVENT_PROGRESS:
		for (size_t i = 0; i < 3; i++)
			n += (v[i] = wire_map_get(note->params, progress_keys[i])) != NULL;
		msgpack_pack_map(pk, n);
		for (size_t i = 0; i < 3; i++) {
			if (v[i]) {
				wire_pack_str(pk, progress_keys[i]);
				msgpack_pack_object(pk, *v[i]);
			}
		}
		return;
	case EVENT_MESSAGE:
		msgpack_pack_object(pk, *note->params);
		return;
	case EVENT_NOTIFICATION:
		msgpack_pack_map(pk, 2);
		wire_pack_str(pk, "method");
		wire_pack_strn(pk, note->method, note->method_len);
		wire_pack_str(pk, "params");
		pack_change_params(pk, note->params);
		return;
	case EVENT_ACKNOWLEDGED:
	case EVENT_CANCELLED:
	case EVENT_NONE:
		break;
	}
	msgpack_pack_map(pk, 0);
}
