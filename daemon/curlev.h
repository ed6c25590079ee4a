/* libcurl for the daemon: a multi handle driven by the libev loop, and the checks every HTTP request of ours makes. */
#ifndef MCPPOOL_CURLEV_H
#define MCPPOOL_CURLEV_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <ev.h>

#include "catalog.h"
#include "list.h"

/*
 * One multi handle on the loop: an ev_io per socket libcurl asks to watch and
 * one ev_timer. After libcurl has worked (a socket was ready, its timer
 * fired), after(ctx) is called, outside every libcurl callback: that is where
 * the owner reads curl_multi_info_read() and calls its own owner back.
 */
struct curlev {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;
	struct list_node socks; /* struct curlev_sock */
	void (*after)(void *ctx);
	void *ctx;
};

/* Sets c up. 0, or -1 (out of memory) with c needing no destroy. */
int curlev_init(struct curlev *c, struct ev_loop *loop, void (*after)(void *ctx), void *ctx);

/*
 * Stops every watcher and frees the multi handle; the owner has removed and
 * freed its easy handles before. Accepts a c that curlev_init() failed on.
 */
void curlev_destroy(struct curlev *c);

/*
 * libcurl's global state, counted: each module that uses libcurl calls init
 * once before its first handle and cleanup once at the end. 0, or -1 with err.
 */
int curlev_global_init(char *err, size_t errlen);
void curlev_global_cleanup(void);

/*
 * The same for a module that may open many connections: the first call
 * takes the hold (*held set), later ones do nothing; release gives it back.
 */
int curlev_global_hold(bool *held, char *err, size_t errlen);
void curlev_global_release(bool *held);

/* ---- the checks and pieces of a request ---- */

/*
 * A new easy handle for url with what every exchange of ours sets: http(s)
 * only, our User-Agent, no signals, a 10 s connect timeout, on_header and
 * on_body called with arg (also its CURLOPT_PRIVATE), libcurl's error text
 * in errbuf (CURL_ERROR_SIZE bytes). NULL when out of memory.
 */
CURL *curlev_easy_new(const char *url, curl_write_callback on_header,
		      curl_write_callback on_body, void *arg, char *errbuf);

/* Appends a copy of every line of from to *l. 0, or -1 when out of memory (*l keeps what it had). */
int curlev_append_lines(struct curl_slist **l, const struct curl_slist *from);

/* Frees a header list after wiping its values (they may hold auth values). NULL-safe. */
void curlev_slist_wipe_free(struct curl_slist *l);

/* Appends one printf-formatted header line to *l, wiping the temporary text. 0 or -1. */
int curlev_add_header(struct curl_slist **l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The catalog entry's headers as "Name: value" lines appended to *l. -1 with
 * the reason in err for a name that is not an HTTP token, a name in managed
 * (NULL-terminated: headers the transport sets itself), a value with a control
 * character (an auth value could smuggle CR LF into the request), or out of
 * memory.
 */
int curlev_entry_headers(struct curl_slist **l, const struct kv *hdr, size_t n,
			 const char *const *managed, const char *transport, char *err, size_t errlen);

/*
 * Writes the printf-formatted reason into buf unless buf already holds one
 * (buf[0] != '\0'): the first cause of a failure is the one reported.
 */
void curlev_first_reason(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The value of header line (len bytes, as libcurl's header callback gets it)
 * when it is the header name (lower case; matched without regard to case):
 * leading and trailing blanks and the line end dropped, its length in *vlen.
 * NULL for another header.
 */
const char *curlev_header_value(const char *line, size_t len, const char *name, size_t *vlen);

/* The media type of a Content-Type value of n bytes: lower case, parameters dropped. */
void curlev_media_type(const char *v, size_t n, char *out, size_t outlen);

/* True when s holds a control character (tab allowed when allow_tab). */
int curlev_has_control_char(const char *s, int allow_tab);

/* The same for the n bytes at s (a NUL among them counts). */
int curlev_has_control_char_n(const char *s, size_t n, int allow_tab);

/*
 * True when s is an RFC 9110 token (what a header name is made of); with
 * allow_slash, '/' is allowed too: a method name such as tools/call, sent
 * as a header value.
 */
int curlev_is_token(const char *s, int allow_slash);

/*
 * What may be shown of url: *where = "scheme://host:port/path" (no query, no
 * user info: they may hold auth values) and *origin = "scheme://host:port"
 * (lower case), both malloc'd; -1 with err when url is not an http(s) URL.
 */
int curlev_url_parts(const char *url, char **where, char **origin, char *err, size_t errlen);

/*
 * ref (absolute, or relative to base) as an absolute URL, malloc'd; NULL with
 * err when it is not a valid URL.
 */
char *curlev_resolve(const char *base, const char *ref, char *err, size_t errlen);

#endif
