/* The peer's client: MCP over Streamable HTTP (libcurl), as an app would call supergateway. */
#ifndef BENCH_HTTP_H
#define BENCH_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "load.h"

/* A reply body as it arrives. */
struct http_body {
	char *data;
	size_t len, cap;
};

/* One MCP session, with a keep-alive connection for blocking calls. */
struct http_session {
	const char *url;
	char id[128];               /* Mcp-Session-Id */
	uint64_t next_id;           /* JSON-RPC id of the next request, in any of its connections */
	CURL *easy;
	struct curl_slist *headers; /* of every request */
	struct http_body body;      /* the last reply to a blocking call */
};

/*
 * Initializes a session at url (kept, not copied): initialize, then
 * notifications/initialized. Dies on failure.
 */
void http_session_open(struct http_session *s, const char *url);

/* One tools/call of echo {"message": "hello"}; waits for its result. Dies on failure. */
void http_session_call(struct http_session *s);

/* Ends the session (DELETE) and frees what open took. */
void http_session_close(struct http_session *s);

struct http_load_spec {
	struct http_session *session; /* every request goes to this session */
	unsigned inflight;            /* requests in flight, each on its own connection */
	double warmup_s, seconds;     /* as in struct load_spec */
	pid_t server_pid;             /* whose CPU is measured; 0 for none */
};

/*
 * Keeps spec->inflight echo calls going for the warm-up and the window, then
 * drains them (at most 5 s). Fills res as load_run() does. Dies when a call fails.
 */
void http_load_run(const struct http_load_spec *spec, struct load_result *res);

#endif
