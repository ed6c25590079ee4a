/* What an MCP session needs of a transport: send messages, receive messages, close. */
#ifndef MCPPOOL_TRANSPORT_H
#define MCPPOOL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "auth.h"
#include "catalog.h"

struct jsonrpc_msg;

/* The same shape as stdio_callbacks: one message in, or the end of the transport. */
struct transport_callbacks {
	/* One message as text, NUL-terminated, modifiable, valid during the call: to be scanned. */
	void (*on_message)(void *ctx, char *json, size_t len);
	/*
	 * One message the transport has already scanned (jsonrpc_scan_keep of json,
	 * which it releases after the call): the HTTP transport must know a response
	 * when it sees one, and a message is scanned once. stream_of is the id of
	 * the request whose response stream carried the message (a server request
	 * sent there belongs to that request), 0 when none did (the listening
	 * stream).
	 */
	void (*on_scanned)(void *ctx, char *json, size_t len, const struct jsonrpc_msg *m,
			   uint64_t stream_of);
	/* Nothing more will arrive (reason is human-readable); called at most once, never after close. */
	void (*on_closed)(void *ctx, const char *reason);
	/*
	 * The request with id failed in the transport itself, not in the server's
	 * answer (an HTTP status on its POST, a broken response stream): only that
	 * request fails, with code (proto/errcode.h), message, and data_json (a
	 * JSON object as text, or NULL), e.g. AUTH_REQUIRED and its challenge.
	 * The transport stays open.
	 */
	void (*on_request_failed)(void *ctx, uint64_t id, int code, const char *message,
				  const char *data_json);
};

/* What the upstream knows of a message it sends, so that no transport parses it again. */
enum transport_msg_kind {
	TRANSPORT_MSG_REQUEST,      /* has an id: its response must come back */
	TRANSPORT_MSG_NOTIFICATION, /* no id, no answer */
	TRANSPORT_MSG_RESPONSE,     /* our answer to a request of the server */
};

struct transport_msg {
	enum transport_msg_kind kind;
	uint64_t id;      /* a request's JSON-RPC id (the daemon's ids are integers > 0) */
	uint64_t cancels; /* notifications/cancelled: the id it cancels; else 0 */
	/*
	 * Modern (2026-07-28) Streamable HTTP sends these as the Mcp-Method and
	 * Mcp-Name headers: the method of a request or notification, and the name
	 * it acts on (params.name of tools/call and prompts/get, params.uri of
	 * resources/read, subscribe and unsubscribe), NULL when there is none.
	 */
	const char *method;
	const char *name;
};

struct transport_ops {
	const char *name; /* "stdio", "http", "sse": shown in pool-status */
	/*
	 * Sends one message; line ends with '\n'. 0, or -1 when the transport is
	 * broken (errno ENOBUFS: the server does not read what it is sent).
	 */
	int (*send)(void *impl, const char *line, size_t len, const struct transport_msg *info);
	/* The session's protocol version is known (HTTP sends it as a header from now on). */
	void (*negotiated)(void *impl, const char *version);
	/* Ends the transport; no callback after it; the memory goes when the work is done. */
	void (*close)(void *impl);
	/* The child's pid, 0 when there is none. */
	long (*pid)(const void *impl);
	/* The name now, for a transport that can change (urlconn.h); NULL: name. */
	const char *(*kind)(const void *impl);
	/*
	 * The transport carries the server/discover era probe of an auto entry: a
	 * legacy server's refusal of it comes back as an answer, a silence or an
	 * on_request_failed(), never as the end of the transport. When false, an
	 * entry without "protocol": "modern" is spoken to as legacy at once.
	 */
	bool era_probe;
};

struct transport {
	const struct transport_ops *ops;
	void *impl;
};

/* What pool-status shows of t: "stdio", "http" or "sse". */
static inline const char *transport_name(const struct transport *t)
{
	return t->ops->kind ? t->ops->kind(t->impl) : t->ops->name;
}

/* Where to connect: a child for stdio entries, a URL for http ones (values already expanded). */
struct transport_spec {
	enum transport_kind kind;
	const struct spawn_spec *spawn; /* stdio */
	const char *url;                /* http */
	const struct kv *headers;       /* http */
	size_t nheaders;
	bool sse;                       /* http: the 2024-11-05 HTTP+SSE transport ("type": "sse") */
};

struct daemon;

struct transport_options {
	struct daemon *d;         /* its deferred-free queue frees the transport */
	const char *tag;          /* the pool key, for logs */
	uint64_t kill_timeout_ms; /* stdio: each grace step of closing the child */
	uint64_t request_timeout_ms; /* http: bound of one HTTP exchange */
	size_t max_message;       /* bound of one message */
	size_t max_queue;         /* stdio: bytes waiting for stdin beyond which send() fails with ENOBUFS */
	int server_stdio;         /* stdio: enum stdio_io, the server's stdin and stdout: pipes or one socket */
	int server_stderr;        /* stdio: enum stdio_stderr, where the server's stderr goes */
};

/*
 * Opens the transport of spec. Returns 0, or -1 with the reason in err when it
 * cannot even start (exec failure). Later failures come as on_closed.
 */
int transport_open(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
		   const struct transport_options *opt, const struct transport_callbacks *cb,
		   void *ctx, char *err, size_t errlen);

#endif
