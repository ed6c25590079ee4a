/*
 * The WWW-Authenticate challenge of an HTTP 401/403, read into AUTH_REQUIRED's
 * data (moved out of httpconn.c as it was, so that fuzz/fuzz_httpauth.c reaches it).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "httpauth.h"

/* The transports keep a challenge under HTTPAUTH_CHALLENGE_MAX bytes: no value of one is cut. */
#define VALUE_MAX HTTPAUTH_CHALLENGE_MAX

void httpauth_message(char *buf, size_t size, long status, const char *where, const char *what,
		      const char *raw)
{
	snprintf(buf, size, "HTTP %ld from %s%s: %s%s%.200s%s", status, where, what,
		 status == 401 ? "authorization required" : "access forbidden",
		 raw ? " (WWW-Authenticate: " : "", raw ? raw : "", raw ? ")" : "");
}

/* Copies one auth-param value (token or quoted-string) from *p; advances *p past it. */
static void auth_param_value(const char **p, char *out, size_t outlen)
{
	const char *s = *p;
	size_t k = 0;

	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			if (k + 1 < outlen)
				out[k++] = *s;
		}
		if (*s == '"')
			s++;
	} else {
		for (; *s && *s != ',' && *s != ' ' && *s != '\t'; s++)
			if (k + 1 < outlen)
				out[k++] = *s;
	}
	out[k] = '\0';
	*p = s;
}

char *httpauth_data(long status, const char *raw)
{
	static const char *const known[] = { "resource_metadata", "scope", "error",
					     "error_description", "realm", NULL };
	json_t *o = json_object();
	char name[64], value[VALUE_MAX];
	const char *p = raw;
	char *text;

	json_object_set_new(o, "status", json_integer(status));
	if (raw) {
		size_t n = strcspn(p, " \t,");
		json_object_set_new(o, "scheme", json_stringn(p, n));
		for (p += n; *p;) {
			p += strspn(p, " \t,");
			n = strcspn(p, " \t,=");
			if (!n)
				break;
			snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), p);
			p += n;
			p += strspn(p, " \t");
			if (*p != '=')
				break;
			p++;
			p += strspn(p, " \t");
			auth_param_value(&p, value, sizeof(value));
			for (const char *const *k = known; *k; k++)
				if (strcasecmp(name, *k) == 0 && !json_object_get(o, *k))
					json_object_set_new(o, *k, json_string(value));
		}
		json_object_set_new(o, "wwwAuthenticate", json_string(raw));
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}
