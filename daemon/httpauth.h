/* The WWW-Authenticate challenge of an HTTP 401/403, read into AUTH_REQUIRED's data. */
#ifndef MCPPOOL_HTTPAUTH_H
#define MCPPOOL_HTTPAUTH_H

/*
 * The data of AUTH_REQUIRED, as JSON text (malloc'd; NULL when out of memory):
 * {"status", "scheme", the auth-params resource_metadata, scope, error,
 * error_description and realm that the challenge gives, "wwwAuthenticate":
 * the header as it came}. raw is the WWW-Authenticate header's value,
 * NUL-terminated (NULL: the answer had none; then only "status"). The
 * challenge is RFC 9110's: a scheme, then name=token or name="quoted string"
 * parameters separated by commas; a second challenge (a bare token) ends the
 * parsing. Parameter names are matched without regard to case; the first of
 * a repeated one counts.
 */
char *httpauth_data(long status, const char *raw);

/* Bytes of a WWW-Authenticate challenge the transports keep (a longer one is dropped). */
#define HTTPAUTH_CHALLENGE_MAX 2048

/*
 * The message of an AUTH_REQUIRED failure into buf: "HTTP 401 from WHERE:
 * authorization required (WWW-Authenticate: RAW)" (403: "access forbidden";
 * raw NULL: no parenthesis), what adding after WHERE.
 */
void httpauth_message(char *buf, size_t size, long status, const char *where, const char *what,
		      const char *raw);

#endif
