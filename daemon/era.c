/* MCP protocol eras: what a modern (2026-07-28) request carries, and what a probe's answer means. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "era.h"
#include "upstream.h"
#include "wire.h"

#define append_lit(b, lit) jbuf_append((b), (lit), sizeof(lit) - 1)
#define META_PREFIX "\"io.modelcontextprotocol/"

/* One member of an object: spans of the key (quotes included) and of the value. */
struct member {
	size_t key, key_end, val, val_end;
};

typedef int (*member_fn)(void *ctx, const char *text, const struct member *m);

const char *era_name(enum era e)
{
	switch (e) {
	case ERA_LEGACY:
		return "legacy";
	case ERA_MODERN:
		return "modern";
	case ERA_UNKNOWN:
		break;
	}
	return "unknown";
}

static void skip_ws(const char *t, size_t len, size_t *p)
{
	while (*p < len && (t[*p] == ' ' || t[*p] == '\t' || t[*p] == '\n' || t[*p] == '\r'))
		(*p)++;
}

/* End of the value that ends before *p's whitespace (jsontext_skip moves past it). */
static size_t trimmed(const char *t, size_t start, size_t p)
{
	while (p > start && (t[p - 1] == ' ' || t[p - 1] == '\t' || t[p - 1] == '\n' || t[p - 1] == '\r'))
		p--;
	return p;
}

/*
 * Walks the object at t[*pos] (after whitespace), calling fn for each member
 * in order; leaves *pos past it. Returns 0, -1 with err when it is not a valid
 * object, or fn's negative value.
 */
static int object_walk(const char *t, size_t len, size_t *pos, member_fn fn, void *ctx, char *err,
		       size_t errlen)
{
	size_t p = *pos;
	int rc;

	skip_ws(t, len, &p);
	if (p >= len || t[p] != '{') {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	p++;
	skip_ws(t, len, &p);
	if (p < len && t[p] == '}') {
		*pos = p + 1;
		return 0;
	}
	for (;;) {
		struct member m;

		if (p >= len || t[p] != '"') {
			snprintf(err, errlen, "expected a member name at byte %zu", p);
			return -1;
		}
		m.key = p;
		if (jsontext_skip(t, len, &p, WIRE_MAX_DEPTH, err, errlen) < 0)
			return -1;
		m.key_end = trimmed(t, m.key, p);
		if (p >= len || t[p] != ':') {
			snprintf(err, errlen, "expected ':' at byte %zu", p);
			return -1;
		}
		p++;
		skip_ws(t, len, &p);
		m.val = p;
		if (jsontext_skip(t, len, &p, WIRE_MAX_DEPTH, err, errlen) < 0)
			return -1;
		m.val_end = trimmed(t, m.val, p);
		if ((rc = fn(ctx, t, &m)) < 0)
			return rc;
		if (p < len && t[p] == ',') {
			p++;
			skip_ws(t, len, &p);
			continue;
		}
		if (p < len && t[p] == '}') {
			*pos = p + 1;
			return 0;
		}
		snprintf(err, errlen, "expected ',' or '}' at byte %zu", p);
		return -1;
	}
}

/*
 * True when m's name is quoted's ("\"name\""). An escaped name ("\u005fmeta") is
 * the same name to the server's JSON parser, so it is compared decoded: else
 * an app's "\u005fmeta" would sit beside the daemon's _meta (a parser taking
 * the last drops the app's _meta members, one taking the first the daemon's).
 */
static bool key_is(const char *t, const struct member *m, const char *quoted)
{
	size_t n = strlen(quoted), klen = m->key_end - m->key;
	json_t *k;
	bool same;

	if (!memchr(t + m->key, '\\', klen))
		return klen == n && memcmp(t + m->key, quoted, n) == 0;
	k = json_loadb(t + m->key, klen, JSON_DECODE_ANY, NULL);
	same = json_is_string(k) && json_string_length(k) == n - 2 &&
	       memcmp(json_string_value(k), quoted + 1, n - 2) == 0;
	json_decref(k);
	return same;
}

/* The keys the daemon fills; an app's values for them are dropped. */
static bool key_is_ours(const char *t, const struct member *m)
{
	return key_is(t, m, META_PREFIX "protocolVersion\"") ||
	       key_is(t, m, META_PREFIX "clientInfo\"") ||
	       key_is(t, m, META_PREFIX "clientCapabilities\"") ||
	       key_is(t, m, META_PREFIX "logLevel\"");
}

struct copy {
	struct jbuf *out;
	bool first;
	bool in_meta;
	const struct member *meta; /* the top level's _meta member, when found */
	struct member meta_m;
};

static int append_member(struct copy *c, const char *t, const struct member *m)
{
	if ((!c->first && jbuf_append(c->out, ",", 1) < 0) ||
	    jbuf_append(c->out, t + m->key, m->key_end - m->key) < 0 ||
	    jbuf_append(c->out, ":", 1) < 0 ||
	    jbuf_append(c->out, t + m->val, m->val_end - m->val) < 0)
		return -2;
	c->first = false;
	return 0;
}

static int copy_member(void *ctx, const char *t, const struct member *m)
{
	struct copy *c = ctx;

	if (c->in_meta)
		return key_is_ours(t, m) ? 0 : append_member(c, t, m);
	if (key_is(t, m, "\"_meta\"")) {
		c->meta_m = *m; /* a repeated _meta: the last one counts, as JSON parsers do */
		c->meta = &c->meta_m;
		return 0;
	}
	return append_member(c, t, m);
}

int era_params_with_meta(const char *params, size_t len, const char *version, const char *caps,
			 struct jbuf *out, char *err, size_t errlen)
{
	return era_params_with_meta_log(params, len, version, caps, NULL, out, err, errlen);
}

const char *era_log_level(const char *name, size_t len)
{
	static const char *const levels[] = {
		"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strlen(levels[i]) == len && memcmp(levels[i], name, len) == 0)
			return levels[i];
	return NULL;
}

int era_params_with_meta_log(const char *params, size_t len, const char *version, const char *caps,
			     const char *log_level, struct jbuf *out, char *err, size_t errlen)
{
	struct copy c = { .out = out, .first = true };
	size_t pos = 0;
	int rc;

	out->len = 0;
	if (jbuf_append(out, "{", 1) < 0)
		goto nomem;
	if (params && len) {
		if ((rc = object_walk(params, len, &pos, copy_member, &c, err, errlen)) < 0)
			goto fail;
		skip_ws(params, len, &pos);
		if (pos != len) {
			snprintf(err, errlen, "params: text after the object at byte %zu", pos);
			return -1;
		}
	}
	if ((!c.first && jbuf_append(out, ",", 1) < 0) || append_lit(out, "\"_meta\":{") < 0)
		goto nomem;
	c.first = true;
	c.in_meta = true;
	if (c.meta) {
		pos = c.meta->val;
		if ((rc = object_walk(params, c.meta->val_end, &pos, copy_member, &c, err, errlen)) < 0) {
			if (rc == -1)
				snprintf(err, errlen, "params._meta must be an object");
			goto fail;
		}
	}
	if ((!c.first && jbuf_append(out, ",", 1) < 0) ||
	    append_lit(out, META_PREFIX "protocolVersion\":") < 0 ||
	    jsontext_append_string(out, version, strlen(version)) < 0 ||
	    append_lit(out, "," META_PREFIX "clientInfo\":{\"name\":\"" MCP_CLIENT_NAME
			    "\",\"version\":\"" MCP_CLIENT_VERSION "\"}") < 0 ||
	    append_lit(out, "," META_PREFIX "clientCapabilities\":") < 0 ||
	    jbuf_append(out, caps, strlen(caps)) < 0)
		goto nomem;
	if (log_level && (append_lit(out, "," META_PREFIX "logLevel\":\"") < 0 ||
			  jbuf_append(out, log_level, strlen(log_level)) < 0 ||
			  append_lit(out, "\"") < 0))
		goto nomem;
	if (append_lit(out, "}}") < 0)
		goto nomem;
	return 0;
fail:
	if (rc == -1) {
		if (!c.in_meta) {
			char why[200];
			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "params must be a JSON object (%s)", why);
		}
		return -1;
	}
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

const char *era_name_key(const char *method)
{
	if (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0)
		return "name";
	if (strcmp(method, "resources/read") == 0 || strcmp(method, "resources/subscribe") == 0 ||
	    strcmp(method, "resources/unsubscribe") == 0)
		return "uri";
	/* The tasks extension: intermediaries route a task's requests by its id. */
	if (strcmp(method, "tasks/get") == 0 || strcmp(method, "tasks/update") == 0 ||
	    strcmp(method, "tasks/cancel") == 0)
		return "taskId";
	return NULL;
}

struct find {
	const char *quoted; /* "key" */
	struct member m;
	bool found;
};

static int find_member(void *ctx, const char *t, const struct member *m)
{
	struct find *f = ctx;

	if (key_is(t, m, f->quoted)) {
		f->m = *m;
		f->found = true;
	}
	return 0;
}

char *era_param_string(const char *params, size_t len, const char *key)
{
	char quoted[64], err[128];
	struct find f = { .quoted = quoted };
	size_t pos = 0;
	json_t *v;
	char *s = NULL;

	if (!params || !len || snprintf(quoted, sizeof(quoted), "\"%s\"", key) >= (int)sizeof(quoted) ||
	    object_walk(params, len, &pos, find_member, &f, err, sizeof(err)) < 0 || !f.found)
		return NULL;
	/* Only the value is parsed: a tool's arguments may be large. */
	v = json_loadb(params + f.m.val, f.m.val_end - f.m.val, JSON_DECODE_ANY, NULL);
	if (json_is_string(v))
		s = strdup(json_string_value(v));
	json_decref(v);
	return s;
}

bool era_method_idempotent(const char *method)
{
	static const char *const safe[] = {
		"server/discover", "tools/list", "prompts/list", "prompts/get", "resources/list",
		"resources/templates/list", "resources/read", "completion/complete", "ping",
		"tasks/get",
	};

	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (strcmp(method, safe[i]) == 0)
			return true;
	return false;
}

bool era_error_is_modern(json_int_t code)
{
	return code == ERA_HEADER_MISMATCH || code == ERA_MISSING_CLIENT_CAPABILITY ||
	       code == ERA_UNSUPPORTED_VERSION;
}

enum era_choice era_choose(const json_t *supported, char *legacy, size_t legacy_len, char *shown,
			   size_t shown_len)
{
	const char *best = NULL;
	bool modern = false;
	size_t i;
	json_t *v;

	if (shown && shown_len) {
		char *text = supported ? json_dumps(supported, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		snprintf(shown, shown_len, "%s", text ? text : "(no list)");
		free(text);
	}
	if (!json_is_array(supported))
		return ERA_CHOOSE_NONE;
	json_array_foreach(supported, i, v) {
		const char *s = json_string_value(v);
		if (!s)
			continue;
		if (strcmp(s, ERA_MODERN_VERSION) == 0)
			modern = true;
		else if (mcp_version_supported(s) && (!best || strcmp(s, best) > 0))
			best = s; /* versions are dates: the newest compares greatest */
	}
	if (modern)
		return ERA_CHOOSE_MODERN;
	if (!best)
		return ERA_CHOOSE_NONE;
	snprintf(legacy, legacy_len, "%s", best);
	return ERA_CHOOSE_LEGACY;
}
