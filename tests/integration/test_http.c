/* Integration: the Streamable HTTP transport, against server-everything and a recording test server. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

static pid_t everything_pgid; /* server-everything's process group, killed by fini */
static pid_t running_daemon; /* killed by fini when an assertion ended the test early */

static void kill_everything(void);

static void suite_fini(void)
{
	if (running_daemon > 0 && waitpid(running_daemon, NULL, WNOHANG) == 0) {
		kill(running_daemon, SIGKILL);
		waitpid(running_daemon, NULL, 0);
	}
	kill_everything();
}

/* itd_start(), remembered so that a failed test does not leave its daemon behind. */
static void start_daemon(struct itd *d, const char *catalog, const char *const *env)
{
	itd_start(d, catalog, env);
	running_daemon = d->pid;
}

TestSuite(http, .init = it_subreaper, .fini = suite_fini, .timeout = 120);

/* ---- helpers -------------------------------------------------------------------- */

static void http_catalog(char *buf, size_t len, int port, const char *query)
{
	snprintf(buf, len,
		 "{\"mcpServers\": {\"remote\": {\"url\": \"http://127.0.0.1:%d/mcp%s\","
		 " \"headers\": {\"Authorization\": \"Bearer ${auth.token}\"}}}}",
		 port, query ? query : "");
}

/* The error message of a failed mcpctl JSON reply ("" if none). */
static const char *err_message(json_t *r)
{
	const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
	return m ? m : "";
}

static json_t *ctl(struct itd *d, int *st, const char *const *args)
{
	json_t *r = itd_ctl_json(d, st, args);
	cr_assert(r, "mcpctl printed no JSON");
	return r;
}

/* The transport of key in pool-status ("" when the key is absent). */
static const char *transport_of(json_t *status, const char *key)
{
	json_t *det = json_object_get(it_data(status), "connectionDetails"), *e;
	size_t i;

	json_array_foreach(det, i, e)
		if (strcmp(json_string_value(json_object_get(e, "key")), key) == 0)
			return json_string_value(json_object_get(e, "transport"));
	return "";
}

static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;
	bool found;

	if (!f)
		return false;
	buf = calloc(1, 1 << 20);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	found = strstr(buf, needle) != NULL;
	free(buf);
	return found;
}

static unsigned count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	unsigned n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* ---- server-everything in streamableHttp mode ------------------------------------ */

struct everything {
	int port;
	char log[512];
};

/* Starts server-everything on ev->port, or on a free port when it is 0. */
static void start_everything_on(struct everything *ev)
{
	char bin[4096], port[16], dir[] = "/tmp/mcppool-http-XXXXXX";
	pid_t pid;

	if (!realpath("tests/interop/node_modules/.bin/mcp-server-everything", bin))
		cr_assert_fail("server-everything is not installed (scripts/npm-setup.sh)");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	if (!ev->port)
		ev->port = it_free_port();
	snprintf(port, sizeof(port), "%d", ev->port);
	snprintf(ev->log, sizeof(ev->log), "%s/everything.log", dir);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(ev->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		setpgid(0, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("PORT", port, 1);
		execl(bin, bin, "streamableHttp", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	everything_pgid = pid;
	for (int i = 0; i < 1500; i++) {
		if (it_port_accepts(ev->port))
			return;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			everything_pgid = 0;
			cr_assert_fail("server-everything exited at start; see %s", ev->log);
		}
		it_sleep_ms(10);
	}
	cr_assert_fail("server-everything did not accept on port %d within 15 s", ev->port);
}

static void start_everything(struct everything *ev)
{
	ev->port = 0;
	start_everything_on(ev);
}

static void kill_everything(void)
{
	pid_t pg = everything_pgid;

	if (pg <= 0)
		return;
	everything_pgid = 0;
	kill(-pg, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pg, NULL, WNOHANG) == pg)
			break;
		it_sleep_ms(10);
	}
	kill(-pg, SIGKILL);
	waitpid(pg, NULL, 0);
}

/* ---- a recording Streamable HTTP server in a thread of the test ------------------ */

enum tiny_mode {
	TINY_NORMAL,
	TINY_EXPIRE_CALLS, /* tools/call answers 404: the session expired */
	TINY_FAIL_CALLS,   /* tools/call answers 500 with a JSON-RPC error body */
	TINY_HUGE_EVENT,   /* tools/call answers an SSE event of 4000 bytes */
	TINY_SILENT_CALLS, /* tools/call opens a stream and never answers */
	TINY_KEEP_STREAMS, /* tools/call answers but keeps its stream open */
	TINY_CLOSE_EARLY,  /* tools/call's stream closes before the answer; a GET resumes it */
	TINY_CLOSE_EARLY_NO_RESUME, /* the same, and the resuming GET gets 405 */
	TINY_TOO_LARGE,    /* tools/call answers 413 without a body */
	TINY_AUTH_401,     /* tools/call answers 401 with a challenge */
	TINY_AUTH_403,     /* tools/call answers 403 insufficient_scope */
	TINY_AUTH_INIT,    /* initialize answers 401 with a challenge */
	TINY_AUTH_ALL,     /* every request answers 401 with a challenge (the era probe too) */
	TINY_MODERN,       /* a 2026-07-28 server: answers server/discover, no sessions */
	TINY_MODERN_CUT,   /* TINY_MODERN whose first tools/list and every tools/call lose their stream */
};

#define RESOURCE_METADATA "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp"

struct tiny_req {
	char method[8];   /* HTTP method */
	char rpc[64];     /* JSON-RPC method, "" for a response or no body */
	char auth[128];   /* Authorization */
	char session[64]; /* Mcp-Session-Id, "" when absent */
	char version[32]; /* MCP-Protocol-Version, "" when absent */
	char accept[128];
	char ctype[64];
	char target[256]; /* request target: path and query */
	char last_id[64]; /* Last-Event-ID */
	char mcp_method[64];
	char mcp_name[256];
	char resp_id[64]; /* the id of a JSON-RPC response posted, as JSON text */
	long ms;          /* arrival, ms after the server started */
};

#define TINY_MAX_REQS 64

struct tiny;
static unsigned tiny_count_of(struct tiny *t, const char *method, const char *rpc);

struct tiny {
	int lfd, port;
	int stop[2];
	pthread_t thread;
	pthread_mutex_t mu;
	enum tiny_mode mode;
	unsigned sessions;
	unsigned active; /* connections being served */
	unsigned streams_cut; /* streams held open that the client closed */
	unsigned nreqs;
	struct tiny_req reqs[TINY_MAX_REQS];
	bool listen;          /* GET opens a listening stream that sends pings (else 405) */
	unsigned forget_upto; /* sessions up to this number are unknown (404, or 400 with forget_400) */
	bool forget_400;
	char pending_id[64];  /* the id of the call whose stream closed early, as JSON text */
	char pending_text[128];
	struct timespec t0;
};

static long tiny_ms(struct tiny *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->t0.tv_sec) * 1000 + (now.tv_nsec - t->t0.tv_nsec) / 1000000;
}

/* True when session ("sess-N") is one the server has forgotten. */
static bool tiny_forgotten(struct tiny *t, const char *session)
{
	unsigned n = 0;

	pthread_mutex_lock(&t->mu);
	bool gone = sscanf(session, "sess-%u", &n) == 1 && n <= t->forget_upto;
	pthread_mutex_unlock(&t->mu);
	return gone;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void reply(int fd, const char *status, const char *extra_headers, const char *ctype,
		  const char *body)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\n%s%s%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, extra_headers, ctype ? "Content-Type: " : "", ctype ? ctype : "",
			 ctype ? "\r\n" : "", strlen(body));
	send_all(fd, head, (size_t)n);
	send_all(fd, body, strlen(body));
}

/* Copies the value of header name from the request head into out ("" when absent). */
static void get_header(const char *head, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	out[0] = '\0';
	for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1, *end = strstr(v, "\r\n");
			while (*v == ' ')
				v++;
			snprintf(out, outlen, "%.*s", (int)(end - v), v);
			return;
		}
	}
}

/* Reads one request (head and Content-Length body); returns the head, or NULL. */
static char *read_request(int fd, char **body)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = calloc(1, cap), *end = NULL;
	char clen[32];

	while (!(end = strstr(buf, "\r\n\r\n"))) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		if (len + 1 >= cap || poll(&p, 1, 3000) <= 0 || (r = recv(fd, buf + len, cap - len - 1, 0)) <= 0) {
			free(buf);
			return NULL;
		}
		len += (size_t)r;
		buf[len] = '\0';
	}
	end[2] = '\0';
	get_header(buf, "Content-Length", clen, sizeof(clen));
	size_t want = (size_t)atol(clen), have = len - (size_t)(end + 4 - buf);
	*body = calloc(1, want + 1);
	memcpy(*body, end + 4, have < want ? have : want);
	while (have < want) {
		ssize_t r = recv(fd, *body + have, want - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	return buf;
}

/* Keeps a stream open until the client closes it (10 s at most); counts the closes. */
static void hold_stream(struct tiny *t, int fd)
{
	char buf[256];

	for (int i = 0; i < 100; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0 && recv(fd, buf, sizeof(buf), 0) <= 0) {
			pthread_mutex_lock(&t->mu);
			t->streams_cut++;
			pthread_mutex_unlock(&t->mu);
			return;
		}
	}
}

static void sse_chunk(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
	it_sleep_ms(20);
}

/* Answers tools/call as an event stream, the answer's event cut across several writes. */
static void answer_call_sse(struct tiny *t, int fd, json_t *id, const char *text)
{
	char buf[8192];
	json_t *idc = json_deep_copy(id);
	char *ids = json_dumps(idc, JSON_ENCODE_ANY);

	sse_chunk(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		      "Cache-Control: no-cache\r\nConnection: close\r\n\r\n");
	sse_chunk(fd, "id: ev-1\ndata:\n\n");
	sse_chunk(fd, ": a comment keeps proxies awake\r\n\r\n");
	sse_chunk(fd, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
		      "\"params\":{\"level\":\"info\",\"data\":\"working\"}}\n\n");
	if (t->mode == TINY_SILENT_CALLS) {
		hold_stream(t, fd);
	} else if (t->mode == TINY_HUGE_EVENT) {
		char big[4100];
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		snprintf(buf, sizeof(buf), "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"pad\":\"%s\"}}\n\n",
			 ids, big);
		sse_chunk(fd, buf);
	} else {
		snprintf(buf, sizeof(buf), "event: message\r\nid: ev-2\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,", ids);
		sse_chunk(fd, buf);
		snprintf(buf, sizeof(buf), "\r\ndata: \"result\":{\"content\":[{\"type\":\"text\",\"text\":"
			 "\"tiny says: %s\"}]}}", text);
		sse_chunk(fd, buf);
		sse_chunk(fd, "\r");
		sse_chunk(fd, "\n\r\n");
		if (t->mode == TINY_KEEP_STREAMS)
			hold_stream(t, fd);
	}
	free(ids);
	json_decref(idc);
}

/*
 * The tasks extension, as a stateless server keeps tasks (in its store, not a
 * connection): tools/call of start_task returns the handle http-task-1, and
 * tasks/get of it says completed, whichever connection asks. False for other messages.
 */
static bool answer_task(int fd, json_t *msg, const char *rpc, const char *ids)
{
	const char *name = json_string_value(json_object_get(json_object_get(msg, "params"), "name"));
	char buf[512];

	if (strcmp(rpc, "tools/call") == 0 && name && strcmp(name, "start_task") == 0)
		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"resultType\":"
			 "\"task\",\"taskId\":\"http-task-1\",\"status\":\"working\",\"ttlMs\":60000}}", ids);
	else if (strcmp(rpc, "tasks/get") == 0)
		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"resultType\":"
			 "\"complete\",\"taskId\":\"http-task-1\",\"status\":\"completed\",\"ttlMs\":"
			 "60000,\"result\":{\"content\":[]}}}", ids);
	else
		return false;
	reply(fd, "200 OK", "", "application/json", buf);
	return true;
}

static void answer_post(struct tiny *t, int fd, json_t *msg, const char *rpc, const char *session)
{
	json_t *id = json_object_get(msg, "id");
	char buf[2048], sid[64];
	char *ids = id ? json_dumps(id, JSON_ENCODE_ANY) : NULL;

	if (session[0] && tiny_forgotten(t, session)) {
		if (t->forget_400)
			reply(fd, "400 Bad Request", "", "application/json", "{\"jsonrpc\":\"2.0\",\"error\":"
			      "{\"code\":-32000,\"message\":\"Bad Request: No valid session ID provided\"},"
			      "\"id\":null}");
		else
			reply(fd, "404 Not Found", "", "application/json", "{\"jsonrpc\":\"2.0\",\"error\":"
			      "{\"code\":-32001,\"message\":\"Session not found\"},\"id\":null}");
	} else if (!id) {
		reply(fd, "202 Accepted", "", NULL, "");
	} else if ((strcmp(rpc, "initialize") == 0 && t->mode == TINY_AUTH_INIT) ||
		   t->mode == TINY_AUTH_ALL) {
		reply(fd, "401 Unauthorized", "WWW-Authenticate: Bearer resource_metadata=\""
		      RESOURCE_METADATA "\", scope=\"files:read\"\r\n", NULL, "");
	} else if (strcmp(rpc, "server/discover") == 0 &&
		   (t->mode == TINY_MODERN || t->mode == TINY_MODERN_CUT)) {
		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"supportedVersions\":"
			 "[\"2026-07-28\"],\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":"
			 "\"tiny\",\"version\":\"1\"}}}", ids);
		reply(fd, "200 OK", "", "application/json", buf);
	} else if (strcmp(rpc, "initialize") == 0) {
		pthread_mutex_lock(&t->mu);
		snprintf(sid, sizeof(sid), "sess-%u", ++t->sessions);
		pthread_mutex_unlock(&t->mu);
		snprintf(buf, sizeof(buf), "Mcp-Session-Id: %s\r\n", sid);
		char body[512];
		snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"protocolVersion\":"
			 "\"2025-06-18\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"tiny\","
			 "\"version\":\"1\"}}}", ids);
		reply(fd, "200 OK", buf, "application/json; charset=utf-8", body);
	} else if (!session[0] && t->mode != TINY_MODERN && t->mode != TINY_MODERN_CUT) {
		reply(fd, "400 Bad Request", "", "application/json",
		      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"no session\"}}");
	} else if (strcmp(rpc, "ping") == 0) {
		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}", ids);
		reply(fd, "200 OK", "", "application/json", buf);
	} else if (t->mode == TINY_MODERN_CUT && (strcmp(rpc, "tools/call") == 0 ||
		   (strcmp(rpc, "tools/list") == 0 && tiny_count_of(t, "POST", "tools/list") == 1))) {
		/* The response stream opens, then breaks before the answer (a proxy's timeout, say). */
		sse_chunk(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			      "Connection: close\r\n\r\n");
	} else if (strcmp(rpc, "tools/list") == 0) {
		snprintf(buf, sizeof(buf), "[{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"tools\":[{\"name\":"
			 "\"shout\",\"inputSchema\":{\"type\":\"object\"}}]}}]", ids);
		reply(fd, "200 OK", "", "application/json", buf);
	} else if (answer_task(fd, msg, rpc, ids)) {
		/* the tasks extension (answer_task) */
	} else if (strcmp(rpc, "tools/call") == 0 && t->mode == TINY_EXPIRE_CALLS) {
		reply(fd, "404 Not Found", "", NULL, "");
	} else if (strcmp(rpc, "tools/call") == 0 && t->mode == TINY_TOO_LARGE) {
		reply(fd, "413 Content Too Large", "", NULL, "");
	} else if (strcmp(rpc, "tools/call") == 0 && t->mode == TINY_AUTH_401) {
		reply(fd, "401 Unauthorized", "WWW-Authenticate: Bearer resource_metadata=\""
		      RESOURCE_METADATA "\", scope=\"files:read\", error=\"invalid_token\"\r\n",
		      "application/json", "{\"error\":\"invalid_token\"}");
	} else if (strcmp(rpc, "tools/call") == 0 && t->mode == TINY_AUTH_403) {
		reply(fd, "403 Forbidden", "WWW-Authenticate: Bearer error=\"insufficient_scope\", "
		      "scope=\"files:read files:write\", resource_metadata=\"" RESOURCE_METADATA "\"\r\n",
		      NULL, "");
	} else if (strcmp(rpc, "tools/call") == 0 &&
		   (t->mode == TINY_CLOSE_EARLY || t->mode == TINY_CLOSE_EARLY_NO_RESUME)) {
		const char *text = json_string_value(json_object_get(
			json_object_get(json_object_get(msg, "params"), "arguments"), "message"));
		pthread_mutex_lock(&t->mu);
		snprintf(t->pending_id, sizeof(t->pending_id), "%s", ids);
		snprintf(t->pending_text, sizeof(t->pending_text), "%s", text ? text : "");
		pthread_mutex_unlock(&t->mu);
		/* 2025-11-25: a priming event with an id and a retry time, then the connection closes. */
		sse_chunk(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			      "Connection: close\r\n\r\n");
		sse_chunk(fd, "id: call-ev-1\nretry: 300\ndata:\n\n");
	} else if (strcmp(rpc, "tools/call") == 0 && t->mode == TINY_FAIL_CALLS) {
		reply(fd, "500 Internal Server Error", "", "application/json",
		      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,\"message\":\"tiny is broken\"}}");
	} else if (strcmp(rpc, "tools/call") == 0) {
		const char *text = json_string_value(json_object_get(
			json_object_get(json_object_get(msg, "params"), "arguments"), "message"));
		answer_call_sse(t, fd, id, text ? text : "");
	} else {
		snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32601,"
			 "\"message\":\"no such method\"}}", ids);
		reply(fd, "200 OK", "", "application/json", buf);
	}
	free(ids);
}

/*
 * GET: a resumption of a call's stream (Last-Event-ID call-ev-*) answers the
 * call; the listening stream (when t->listen) sends a ping and closes, and
 * once resumed sends another and stays open; else 405.
 */
static void answer_get(struct tiny *t, int fd, const struct tiny_req *r)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Connection: close\r\n\r\n";
	char buf[1024];

	if (strncmp(r->last_id, "call-", 5) == 0 && t->mode == TINY_CLOSE_EARLY) {
		pthread_mutex_lock(&t->mu);
		snprintf(buf, sizeof(buf), "id: call-ev-2\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":"
			 "{\"content\":[{\"type\":\"text\",\"text\":\"tiny resumed: %s\"}]}}\n\n",
			 t->pending_id, t->pending_text);
		pthread_mutex_unlock(&t->mu);
		sse_chunk(fd, head);
		sse_chunk(fd, buf);
	} else if (t->listen && !r->last_id[0]) {
		sse_chunk(fd, head);
		sse_chunk(fd, "id: l-1\nretry: 50\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"ping\"}\n\n");
	} else if (t->listen && strcmp(r->last_id, "l-1") == 0) {
		sse_chunk(fd, head);
		sse_chunk(fd, "id: l-2\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"srv-2\",\"method\":\"ping\"}\n\n");
		hold_stream(t, fd);
	} else {
		reply(fd, "405 Method Not Allowed", "", NULL, "");
	}
}

static void serve_one(struct tiny *t, int fd)
{
	char *body = NULL, *head = read_request(fd, &body);
	struct tiny_req r = { 0 };
	json_t *msg;

	if (!head)
		return;
	sscanf(head, "%7s %255s", r.method, r.target);
	get_header(head, "Authorization", r.auth, sizeof(r.auth));
	get_header(head, "Mcp-Session-Id", r.session, sizeof(r.session));
	get_header(head, "MCP-Protocol-Version", r.version, sizeof(r.version));
	get_header(head, "Accept", r.accept, sizeof(r.accept));
	get_header(head, "Content-Type", r.ctype, sizeof(r.ctype));
	get_header(head, "Last-Event-ID", r.last_id, sizeof(r.last_id));
	get_header(head, "Mcp-Method", r.mcp_method, sizeof(r.mcp_method));
	get_header(head, "Mcp-Name", r.mcp_name, sizeof(r.mcp_name));
	r.ms = tiny_ms(t);
	msg = json_loads(body, 0, NULL);
	const char *rpc = json_string_value(json_object_get(msg, "method"));
	snprintf(r.rpc, sizeof(r.rpc), "%s", rpc ? rpc : "");
	if (!rpc && json_object_get(msg, "id") &&
	    (json_object_get(msg, "result") || json_object_get(msg, "error"))) {
		char *rid = json_dumps(json_object_get(msg, "id"), JSON_ENCODE_ANY);
		snprintf(r.resp_id, sizeof(r.resp_id), "%s", rid);
		free(rid);
	}
	/* A slow server: a request posted before this is answered would be recorded first. */
	if (strcmp(r.rpc, "notifications/initialized") == 0)
		it_sleep_ms(150);
	pthread_mutex_lock(&t->mu);
	if (t->nreqs < TINY_MAX_REQS)
		t->reqs[t->nreqs++] = r;
	pthread_mutex_unlock(&t->mu);
	if (strcmp(r.method, "DELETE") == 0)
		reply(fd, "200 OK", "", NULL, "");
	else if (strcmp(r.method, "POST") == 0 && msg)
		answer_post(t, fd, msg, r.rpc, r.session);
	else if (strcmp(r.method, "GET") == 0)
		answer_get(t, fd, &r);
	else
		reply(fd, "405 Method Not Allowed", "", NULL, "");
	json_decref(msg);
	free(head);
	free(body);
}

struct tiny_conn {
	struct tiny *t;
	int fd;
};

static void *tiny_conn_main(void *arg)
{
	struct tiny_conn *c = arg;
	struct tiny *t = c->t;

	serve_one(t, c->fd);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&t->mu);
	t->active--;
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

/* Accepts connections and serves each in a thread of its own, as real servers do. */
static void *tiny_main(void *arg)
{
	struct tiny *t = arg;
	pthread_t th;

	for (;;) {
		struct pollfd p[2] = { { .fd = t->lfd, .events = POLLIN }, { .fd = t->stop[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		struct tiny_conn *c = malloc(sizeof(*c));
		c->t = t;
		if ((c->fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			free(c);
			continue;
		}
		pthread_mutex_lock(&t->mu);
		t->active++;
		pthread_mutex_unlock(&t->mu);
		if (pthread_create(&th, NULL, tiny_conn_main, c) == 0) {
			pthread_detach(th);
		} else {
			close(c->fd);
			free(c);
			pthread_mutex_lock(&t->mu);
			t->active--;
			pthread_mutex_unlock(&t->mu);
		}
	}
	return NULL;
}

static struct tiny *tiny_start(enum tiny_mode mode)
{
	struct tiny *t = calloc(1, sizeof(*t));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	t->mode = mode;
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	pthread_mutex_init(&t->mu, NULL);
	t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(t->lfd >= 0 && bind(t->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		  listen(t->lfd, 64) == 0 && getsockname(t->lfd, (struct sockaddr *)&sa, &len) == 0);
	t->port = ntohs(sa.sin_port);
	cr_assert(pipe2(t->stop, O_CLOEXEC) == 0);
	cr_assert(pthread_create(&t->thread, NULL, tiny_main, t) == 0);
	return t;
}

static void tiny_stop(struct tiny *t)
{
	unsigned active = 1;

	cr_assert(write(t->stop[1], "x", 1) == 1);
	pthread_join(t->thread, NULL);
	for (int i = 0; i < 500 && active; i++) {
		pthread_mutex_lock(&t->mu);
		active = t->active;
		pthread_mutex_unlock(&t->mu);
		if (active)
			it_sleep_ms(10);
	}
	cr_assert_eq(active, 0, "the test server's connections did not end");
	close(t->lfd);
	close(t->stop[0]);
	close(t->stop[1]);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static void tiny_set_mode(struct tiny *t, enum tiny_mode mode)
{
	pthread_mutex_lock(&t->mu);
	t->mode = mode;
	pthread_mutex_unlock(&t->mu);
}

/* A copy of the i-th request recorded with HTTP method and JSON-RPC method (NULL: any); false if none. */
static bool tiny_find(struct tiny *t, const char *method, const char *rpc, unsigned nth,
		      struct tiny_req *out)
{
	bool found = false;

	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < t->nreqs && !found; i++)
		if (strcmp(t->reqs[i].method, method) == 0 && (!rpc || strcmp(t->reqs[i].rpc, rpc) == 0) &&
		    nth-- == 0) {
			*out = t->reqs[i];
			found = true;
		}
	pthread_mutex_unlock(&t->mu);
	return found;
}

/* Index of the first request with JSON-RPC method rpc, or -1. */
static int tiny_index(struct tiny *t, const char *rpc)
{
	int idx = -1;

	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < t->nreqs && idx < 0; i++)
		if (strcmp(t->reqs[i].rpc, rpc) == 0)
			idx = (int)i;
	pthread_mutex_unlock(&t->mu);
	return idx;
}

static unsigned tiny_count(struct tiny *t)
{
	pthread_mutex_lock(&t->mu);
	unsigned n = t->nreqs;
	pthread_mutex_unlock(&t->mu);
	return n;
}

static unsigned tiny_streams_cut(struct tiny *t)
{
	pthread_mutex_lock(&t->mu);
	unsigned n = t->streams_cut;
	pthread_mutex_unlock(&t->mu);
	return n;
}

static bool wait_for_delete(struct tiny *t, struct tiny_req *out, unsigned ms)
{
	for (unsigned waited = 0; waited <= ms; waited += 10) {
		if (tiny_find(t, "DELETE", NULL, 0, out))
			return true;
		it_sleep_ms(10);
	}
	return false;
}

/* The server forgets every session it has issued; it answers them 404, or 400 when as_400. */
static void tiny_forget(struct tiny *t, bool as_400)
{
	pthread_mutex_lock(&t->mu);
	t->forget_upto = t->sessions;
	t->forget_400 = as_400;
	pthread_mutex_unlock(&t->mu);
}

/* How many requests were recorded with HTTP method and JSON-RPC method rpc (NULL: any). */
static unsigned tiny_count_of(struct tiny *t, const char *method, const char *rpc)
{
	unsigned n = 0;

	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < t->nreqs; i++)
		if (strcmp(t->reqs[i].method, method) == 0 && (!rpc || strcmp(t->reqs[i].rpc, rpc) == 0))
			n++;
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* The first GET whose Last-Event-ID is last_id (""; none), waiting up to ms for it. */
static bool tiny_wait_get(struct tiny *t, const char *last_id, unsigned ms, struct tiny_req *out)
{
	for (unsigned waited = 0; waited <= ms; waited += 10) {
		bool found = false;
		pthread_mutex_lock(&t->mu);
		for (unsigned i = 0; i < t->nreqs && !found; i++)
			if (strcmp(t->reqs[i].method, "GET") == 0 && strcmp(t->reqs[i].last_id, last_id) == 0) {
				*out = t->reqs[i];
				found = true;
			}
		pthread_mutex_unlock(&t->mu);
		if (found)
			return true;
		it_sleep_ms(10);
	}
	return false;
}

/* The POST of a response to the server's request id (JSON text), waiting up to ms for it. */
static bool tiny_wait_response(struct tiny *t, const char *id, unsigned ms, struct tiny_req *out)
{
	for (unsigned waited = 0; waited <= ms; waited += 10) {
		bool found = false;
		pthread_mutex_lock(&t->mu);
		for (unsigned i = 0; i < t->nreqs && !found; i++)
			if (strcmp(t->reqs[i].resp_id, id) == 0) {
				*out = t->reqs[i];
				found = true;
			}
		pthread_mutex_unlock(&t->mu);
		if (found)
			return true;
		it_sleep_ms(10);
	}
	return false;
}

/* The error's data member in a failed mcpctl reply (NULL when none). */
static json_t *err_data(json_t *r)
{
	return json_object_get(json_object_get(r, "error"), "data");
}

static const char *str_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

static json_t *call_shout(struct itd *d, const char *user, const char *token, const char *text,
			  int *st)
{
	char args[256], auth[256];

	snprintf(args, sizeof(args), "{\"message\":\"%s\"}", text);
	snprintf(auth, sizeof(auth), "token=%s", token);
	return ctl(d, st, ARGS("call", user, "remote", "shout", args, "-a", auth, "--timeout", "10000"));
}

/* ---- against server-everything --------------------------------------------------- */

static json_t *everything_call(struct itd *d, const char *user, const char *tool, const char *args,
			       const char *auth)
{
	int st;
	json_t *r = ctl(d, &st, ARGS("call", user, "remote", tool, args, "-a", auth, "--timeout", "30000"));
	cr_assert_eq(st, 0, "%s %s failed: %s", user, tool, it_error_code(r));
	return r;
}

/*
 * After a failure that must fail only its request: the server behaves again, and the
 * next call is served by the same session (no new initialize, no DELETE).
 */
static void assert_session_serves_on(struct tiny *t, struct itd *d, const char *text)
{
	struct tiny_req x;
	char want[128];
	int st;

	tiny_set_mode(t, TINY_NORMAL);
	json_t *r = call_shout(d, "alice", "a1", text, &st);
	snprintf(want, sizeof(want), "tiny says: %s", text);
	cr_assert_str_eq(it_text(r), want, "%s: %s; see %s", it_error_code(r), err_message(r), d->log);
	json_decref(r);
	cr_assert_eq(tiny_count_of(t, "POST", "initialize"), 1, "the session was replaced");
	cr_assert(!tiny_find(t, "DELETE", NULL, 0, &x), "the session was ended");
}

Test(http, server_everything_answers_echo_and_tools_list_over_streamable_http)
{
	struct itd d;
	struct everything ev;
	char cat[1024];
	int st;

	start_everything(&ev);
	http_catalog(cat, sizeof(cat), ev.port, NULL);
	start_daemon(&d, cat, NULL);

	json_t *r = everything_call(&d, "alice", "echo", "{\"message\":\"hello over http\"}", "token=a1");
	cr_assert(strstr(it_text(r), "hello over http"), "echo: %s", it_text(r));
	json_decref(r);
	r = ctl(&d, &st, ARGS("tools", "alice", "remote", "-a", "token=a1"));
	cr_assert_eq(st, 0);
	json_t *tools = json_object_get(it_data(r), "tools");
	cr_assert(json_array_size(tools) > 3, "tools/list returned %zu tools", json_array_size(tools));
	json_decref(r);

	itd_stop(&d);
	kill_everything();
	it_assert_no_children();
}

Test(http, each_user_gets_a_separate_server_everything_session)
{
	struct itd d;
	struct everything ev;
	char cat[1024];
	int st;

	start_everything(&ev);
	http_catalog(cat, sizeof(cat), ev.port, NULL);
	start_daemon(&d, cat, NULL);

	json_decref(everything_call(&d, "alice", "echo", "{\"message\":\"a\"}", "token=a1"));
	json_decref(everything_call(&d, "bob", "get-sum", "{\"a\":2,\"b\":40}", "token=b1"));
	json_decref(everything_call(&d, "alice", "echo", "{\"message\":\"again\"}", "token=a1"));
	json_t *s = ctl(&d, &st, ARGS("pool-status"));
	cr_assert_str_eq(transport_of(s, "alice:remote"), "http");
	cr_assert_str_eq(transport_of(s, "bob:remote"), "http");
	cr_assert_eq(json_integer_value(json_object_get(it_data(s), "totalConnections")), 2);
	json_decref(s);
	cr_assert_eq(count_in_file(ev.log, "Session initialized with ID"), 2,
		     "expected one session per user; see %s", ev.log);

	itd_stop(&d);
	kill_everything();
	it_assert_no_children();
}

Test(http, evict_ends_the_server_everything_session_with_delete)
{
	struct itd d;
	struct everything ev;
	char cat[1024];
	int st;

	start_everything(&ev);
	http_catalog(cat, sizeof(cat), ev.port, NULL);
	start_daemon(&d, cat, NULL);

	json_decref(everything_call(&d, "alice", "echo", "{\"message\":\"a\"}", "token=a1"));
	cr_assert(!file_contains(ev.log, "Received session termination request"));
	json_decref(ctl(&d, &st, ARGS("evict", "alice")));
	cr_assert_eq(st, 0);
	bool ended = false;
	for (int i = 0; i < 300 && !ended; i++) {
		ended = file_contains(ev.log, "Received session termination request");
		it_sleep_ms(10);
	}
	cr_assert(ended, "server-everything saw no DELETE; see %s", ev.log);

	itd_stop(&d);
	kill_everything();
	it_assert_no_children();
}

Test(http, a_restarted_server_everything_gets_a_new_session_and_no_call_fails)
{
	struct itd d;
	struct everything ev;
	char cat[1024];

	start_everything(&ev);
	http_catalog(cat, sizeof(cat), ev.port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(everything_call(&d, "alice", "echo", "{\"message\":\"before\"}", "token=a1"));
	kill_everything(); /* its sessions are gone with it */
	start_everything_on(&ev);
	json_t *r = everything_call(&d, "alice", "echo", "{\"message\":\"after the restart\"}",
				    "token=a1");
	cr_assert(strstr(it_text(r), "after the restart"), "echo: %s", it_text(r));
	json_decref(r);
	cr_assert(itd_log_contains(&d, "initializing a new one"), "no new session; see %s", d.log);

	itd_stop(&d);
	kill_everything();
	it_assert_no_children();
}

/* ---- against the recording server -------------------------------------------------- */

Test(http, requests_carry_the_users_auth_and_the_session_and_protocol_headers)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct tiny_req init, note, call;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(call_shout(&d, "alice", "alice-secret", "hi", &st));
	cr_assert_eq(st, 0);

	cr_assert(tiny_find(t, "POST", "initialize", 0, &init));
	cr_assert_str_eq(init.auth, "Bearer alice-secret");
	cr_assert_str_eq(init.session, "", "initialize carried a session id");
	cr_assert_str_eq(init.version, "", "initialize carried a protocol version");
	cr_assert(strstr(init.accept, "application/json") && strstr(init.accept, "text/event-stream"),
		  "Accept: %s", init.accept);
	cr_assert_str_eq(init.ctype, "application/json");
	cr_assert_str_eq(init.target, "/mcp");
	cr_assert(tiny_find(t, "POST", "notifications/initialized", 0, &note));
	cr_assert(tiny_find(t, "POST", "tools/call", 0, &call));
	cr_assert_str_eq(note.session, "sess-1");
	cr_assert_str_eq(call.session, "sess-1");
	cr_assert_str_eq(note.version, "2025-06-18");
	cr_assert_str_eq(call.version, "2025-06-18");
	cr_assert_str_eq(call.auth, "Bearer alice-secret");
	cr_assert_lt(tiny_index(t, "notifications/initialized"), tiny_index(t, "tools/call"),
		     "the server saw a request before notifications/initialized");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, an_answer_streamed_as_sse_in_pieces_reaches_the_caller)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "split across writes", &st);
	cr_assert_eq(st, 0, "call failed: %s", it_error_code(r));
	cr_assert_str_eq(it_text(r), "tiny says: split across writes");
	json_decref(r);
	/* The connection lives on after the stream ended: a second call reuses it. */
	r = call_shout(&d, "alice", "a1", "again", &st);
	cr_assert_str_eq(it_text(r), "tiny says: again");
	json_decref(r);
	struct tiny_req x;
	cr_assert(!tiny_find(t, "POST", "initialize", 1, &x), "the session was not reused");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_json_batch_answer_is_delivered)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = ctl(&d, &st, ARGS("tools", "alice", "remote", "-a", "token=a1"));
	cr_assert_eq(st, 0, "tools failed: %s", it_error_code(r));
	json_t *tools = json_object_get(it_data(r), "tools");
	cr_assert_eq(json_array_size(tools), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tools, 0), "name")), "shout");
	json_decref(r);

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, two_users_get_separate_sessions_with_their_own_auth)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct tiny_req a, b;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(call_shout(&d, "alice", "alice-token", "a", &st));
	cr_assert_eq(st, 0);
	json_decref(call_shout(&d, "bob", "bob-token", "b", &st));
	cr_assert_eq(st, 0);
	cr_assert(tiny_find(t, "POST", "tools/call", 0, &a) && tiny_find(t, "POST", "tools/call", 1, &b));
	cr_assert_str_eq(a.auth, "Bearer alice-token");
	cr_assert_str_eq(a.session, "sess-1");
	cr_assert_str_eq(b.auth, "Bearer bob-token");
	cr_assert_str_eq(b.session, "sess-2");
	json_t *s = ctl(&d, &st, ARGS("pool-status"));
	cr_assert_str_eq(transport_of(s, "alice:remote"), "http");
	cr_assert_str_eq(transport_of(s, "bob:remote"), "http");
	json_decref(s);

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, evict_sends_delete_with_the_session_id)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct tiny_req del;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(call_shout(&d, "alice", "a1", "x", &st));
	cr_assert_eq(st, 0);
	cr_assert(!tiny_find(t, "DELETE", NULL, 0, &del), "DELETE before the session was closed");
	json_decref(ctl(&d, &st, ARGS("evict", "alice")));
	cr_assert(wait_for_delete(t, &del, 3000), "no DELETE after evict");
	cr_assert_str_eq(del.session, "sess-1");
	cr_assert_str_eq(del.auth, "Bearer a1");
	cr_assert_str_eq(del.version, "2025-06-18");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, daemon_exit_ends_open_sessions_with_delete)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct tiny_req del;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(call_shout(&d, "alice", "a1", "x", &st));
	cr_assert_eq(st, 0);
	itd_stop(&d);
	cr_assert(wait_for_delete(t, &del, 100), "mcppoold exited without ending its HTTP session");
	cr_assert_str_eq(del.session, "sess-1");

	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_session_the_server_forgot_is_renewed_and_the_call_succeeds)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct tiny_req x;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(call_shout(&d, "alice", "a1", "first", &st));
	cr_assert_eq(st, 0);

	tiny_forget(t, false); /* a restarted server: 404 for sess-1 */
	json_t *r = call_shout(&d, "alice", "a1", "after 404", &st);
	cr_assert_eq(st, 0, "the call that met the lost session failed: %s %s; see %s",
		     it_error_code(r), err_message(r), d.log);
	cr_assert_str_eq(it_text(r), "tiny says: after 404");
	json_decref(r);
	cr_assert_eq(tiny_count_of(t, "POST", "initialize"), 2);
	cr_assert(tiny_find(t, "POST", "notifications/initialized", 1, &x), "no notifications/initialized");
	cr_assert_str_eq(x.session, "sess-2");
	cr_assert(tiny_find(t, "POST", "initialize", 1, &x));
	cr_assert_str_eq(x.session, "", "the new initialize carried the lost session");
	cr_assert(tiny_find(t, "POST", "tools/call", 2, &x), "the call was not posted again");
	cr_assert_str_eq(x.session, "sess-2");

	tiny_forget(t, true); /* some SDKs answer an unknown session with 400 */
	r = call_shout(&d, "alice", "a1", "after 400", &st);
	cr_assert_eq(st, 0, "the call that met a 400 for its session failed: %s", err_message(r));
	cr_assert_str_eq(it_text(r), "tiny says: after 400");
	json_decref(r);
	cr_assert_eq(tiny_count_of(t, "POST", "initialize"), 3);
	cr_assert(!tiny_find(t, "DELETE", NULL, 0, &x), "a lost session was DELETEd");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_call_meeting_404_again_after_a_new_session_fails_alone)
{
	struct tiny *t = tiny_start(TINY_EXPIRE_CALLS);
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "x", &st);
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_CLOSED");
	cr_assert(strstr(err_message(r), "session expired"), "%s", err_message(r));
	json_decref(r);
	cr_assert_eq(tiny_count_of(t, "POST", "initialize"), 2, "one new session, not a loop");

	tiny_set_mode(t, TINY_NORMAL);
	r = call_shout(&d, "alice", "a1", "fresh", &st);
	cr_assert_eq(st, 0, "call after expiry failed: %s", it_error_code(r));
	cr_assert_str_eq(it_text(r), "tiny says: fresh");
	json_decref(r);
	cr_assert_eq(tiny_count_of(t, "POST", "initialize"), 2, "the renewed session was not kept");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, an_http_error_status_fails_only_that_call_naming_status_and_url)
{
	struct tiny *t = tiny_start(TINY_FAIL_CALLS);
	struct itd d;
	char cat[1024], want[256];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "x", &st);
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_ERROR");
	snprintf(want, sizeof(want), "HTTP 500 from http://127.0.0.1:%d/mcp: tiny is broken", t->port);
	cr_assert(strstr(err_message(r), want), "message: %s", err_message(r));
	cr_assert_eq(json_integer_value(json_object_get(err_data(r), "status")), 500);
	json_decref(r);

	tiny_set_mode(t, TINY_TOO_LARGE);
	r = call_shout(&d, "alice", "a1", "big", &st);
	cr_assert_eq(st, 1);
	snprintf(want, sizeof(want), "HTTP 413 from http://127.0.0.1:%d/mcp", t->port);
	cr_assert(strstr(err_message(r), want), "message: %s", err_message(r));
	cr_assert_eq(json_integer_value(json_object_get(err_data(r), "status")), 413);
	json_decref(r);

	assert_session_serves_on(t, &d, "still");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, secrets_in_the_url_query_and_headers_stay_out_of_logs_and_errors)
{
	struct tiny *t = tiny_start(TINY_FAIL_CALLS);
	struct tiny_req init;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, "?key=${auth.token}");
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "tok-in-url-9f3", "x", &st);
	cr_assert_eq(st, 1);
	char *text = json_dumps(r, 0);
	cr_assert(!strstr(text, "tok-in-url-9f3") && !strstr(text, "key="), "error shows a secret: %s", text);
	free(text);
	json_decref(r);
	cr_assert(tiny_find(t, "POST", "initialize", 0, &init));
	cr_assert_str_eq(init.target, "/mcp?key=tok-in-url-9f3", "the query did not reach the server");

	itd_stop(&d);
	cr_assert(!itd_log_contains(&d, "tok-in-url-9f3"), "a secret reached the log %s", d.log);
	cr_assert(!itd_log_contains(&d, "key="), "the URL's query reached the log %s", d.log);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, an_event_larger_than_max_message_closes_the_connection)
{
	struct tiny *t = tiny_start(TINY_HUGE_EVENT);
	const char *env[] = { "MCPPOOL_MAX_MESSAGE=1024", NULL };
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, env);
	json_t *r = call_shout(&d, "alice", "a1", "x", &st);
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_CLOSED");
	const char *msg = err_message(r);
	cr_assert(msg && strstr(msg, "exceeds 1024 bytes"), "message: %s", msg);
	json_decref(r);

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_server_that_is_not_listening_fails_the_start_with_cannot_reach)
{
	struct itd d;
	char cat[1024], want[64];
	int st, port = it_free_port();

	http_catalog(cat, sizeof(cat), port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "x", &st);
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_START_FAILED");
	snprintf(want, sizeof(want), "cannot reach 127.0.0.1:%d", port);
	const char *msg = err_message(r);
	cr_assert(msg && strstr(msg, want), "message: %s", msg);
	json_decref(r);

	itd_stop(&d);
	it_assert_no_children();
}

Test(http, an_auth_value_with_crlf_is_refused_before_any_request_is_sent)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = ctl(&d, &st, ARGS("call", "alice", "remote", "shout", "{}", "-a",
				      "token=x\r\nX-Injected: 1"));
	cr_assert_eq(st, 1);
	const char *code = it_error_code(r);
	cr_assert(strcmp(code, "AUTH_INVALID") == 0 || strcmp(code, "UPSTREAM_START_FAILED") == 0,
		  "code %s", code);
	json_decref(r);
	it_sleep_ms(100);
	cr_assert_eq(tiny_count(t), 0, "a request was sent");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_cancelled_call_ends_its_stream_and_the_session_serves_on)
{
	struct tiny *t = tiny_start(TINY_SILENT_CALLS);
	struct tiny_req x;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = ctl(&d, &st, ARGS("warm", "alice", "remote", "-a", "token=a1"));
	cr_assert_eq(st, 0, "warm: %s; see %s", err_message(r), d.log);
	json_decref(r);
	r = ctl(&d, &st, ARGS("call", "alice", "remote", "shout", "{\"message\":\"x\"}", "-a",
				      "token=a1", "--timeout", "1000"));
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_TIMEOUT", "%s; see %s", err_message(r), d.log);
	json_decref(r);
	for (int i = 0; i < 300 && !tiny_streams_cut(t); i++)
		it_sleep_ms(10);
	cr_assert_eq(tiny_streams_cut(t), 1, "the cancelled call's stream was left open");
	bool cancelled = false;
	for (int i = 0; i < 300 && !(cancelled = tiny_find(t, "POST", "notifications/cancelled", 0, &x)); i++)
		it_sleep_ms(10);
	cr_assert(cancelled, "no notifications/cancelled");

	tiny_set_mode(t, TINY_NORMAL);
	r = call_shout(&d, "alice", "a1", "still here", &st);
	cr_assert_str_eq(it_text(r), "tiny says: still here", "%s: %s; see %s", it_error_code(r),
			 err_message(r), d.log);
	json_decref(r);
	cr_assert(!tiny_find(t, "POST", "initialize", 1, &x), "the session was replaced");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_stream_kept_open_after_its_answer_is_cut_after_a_grace)
{
	struct tiny *t = tiny_start(TINY_KEEP_STREAMS);
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "quick", &st);
	cr_assert_str_eq(it_text(r), "tiny says: quick", "the answer waited for the stream to end");
	json_decref(r);
	cr_assert_eq(tiny_streams_cut(t), 0, "the stream was cut without a grace");
	for (int i = 0; i < 500 && !tiny_streams_cut(t); i++)
		it_sleep_ms(10);
	cr_assert_eq(tiny_streams_cut(t), 1, "the answered stream was never closed");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

/* ---- resumption, the listening stream, authorization, eras ------------------------ */

Test(http, a_stream_closed_before_the_answer_is_resumed_with_last_event_id_after_retry)
{
	struct tiny *t = tiny_start(TINY_CLOSE_EARLY);
	struct tiny_req get, call, x;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "patience", &st);
	cr_assert_eq(st, 0, "%s %s; see %s", it_error_code(r), err_message(r), d.log);
	cr_assert_str_eq(it_text(r), "tiny resumed: patience");
	json_decref(r);
	cr_assert(tiny_wait_get(t, "call-ev-1", 0, &get), "no GET with Last-Event-ID: call-ev-1");
	cr_assert_str_eq(get.session, "sess-1");
	cr_assert_str_eq(get.version, "2025-06-18");
	cr_assert(strstr(get.accept, "text/event-stream"), "Accept: %s", get.accept);
	cr_assert(tiny_find(t, "POST", "tools/call", 0, &call));
	cr_assert_geq(get.ms - call.ms, 250, "resumed %ld ms after the POST; the server asked 300",
		      get.ms - call.ms);
	cr_assert_eq(tiny_count_of(t, "POST", "initialize"), 1);
	cr_assert(!tiny_find(t, "DELETE", NULL, 0, &x), "the session was ended");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_stream_that_cannot_be_resumed_fails_only_its_call)
{
	struct tiny *t = tiny_start(TINY_CLOSE_EARLY_NO_RESUME);
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "lost", &st);
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_CLOSED");
	cr_assert(strstr(err_message(r), "ended before the answer") && strstr(err_message(r), "405"),
		  "message: %s", err_message(r));
	json_decref(r);

	assert_session_serves_on(t, &d, "next");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, the_listening_stream_delivers_server_requests_and_is_resumed_with_last_event_id)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct tiny_req first, again, pong;
	struct itd d;
	char cat[1024];
	int st;

	t->listen = true;
	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = ctl(&d, &st, ARGS("warm", "alice", "remote", "-a", "token=a1"));
	cr_assert_eq(st, 0, "warm: %s", err_message(r));
	json_decref(r);
	cr_assert(tiny_wait_get(t, "", 3000, &first), "no listening GET");
	cr_assert_str_eq(first.session, "sess-1");
	cr_assert(strstr(first.accept, "text/event-stream"), "Accept: %s", first.accept);
	cr_assert(tiny_wait_response(t, "\"srv-1\"", 3000, &pong), "the ping on the GET stream was "
		  "not answered; see %s", d.log);
	cr_assert_str_eq(pong.session, "sess-1");
	cr_assert(tiny_wait_get(t, "l-1", 3000, &again), "the listening stream was not resumed");
	cr_assert(tiny_wait_response(t, "\"srv-2\"", 3000, &pong), "the ping on the resumed stream "
		  "was not answered");
	cr_assert_lt(tiny_index(t, "notifications/initialized"), 1 + (int)tiny_count(t));

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_server_offering_no_listening_stream_is_asked_once)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct tiny_req get;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(call_shout(&d, "alice", "a1", "one", &st));
	cr_assert_eq(st, 0);
	cr_assert(tiny_wait_get(t, "", 3000, &get), "no listening GET");
	json_decref(call_shout(&d, "alice", "a1", "two", &st));
	it_sleep_ms(300); /* a reconnection would come within its 1 s backoff: none may */
	cr_assert_eq(tiny_count_of(t, "GET", NULL), 1, "the 405 was not taken as an answer");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_401_or_403_fails_the_call_with_auth_required_and_the_challenge_keeping_the_session)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(call_shout(&d, "alice", "a1", "hello", &st));
	cr_assert_eq(st, 0);

	tiny_set_mode(t, TINY_AUTH_401);
	json_t *r = call_shout(&d, "alice", "a1", "x", &st);
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "AUTH_REQUIRED", "%s", err_message(r));
	cr_assert(strstr(err_message(r), "HTTP 401"), "message: %s", err_message(r));
	json_t *data = err_data(r);
	cr_assert_eq(json_integer_value(json_object_get(data, "status")), 401);
	cr_assert_str_eq(str_of(data, "scheme"), "Bearer");
	cr_assert_str_eq(str_of(data, "resource_metadata"), RESOURCE_METADATA);
	cr_assert_str_eq(str_of(data, "scope"), "files:read");
	cr_assert_str_eq(str_of(data, "error"), "invalid_token");
	cr_assert(strstr(str_of(data, "wwwAuthenticate"), "resource_metadata="), "%s",
		  str_of(data, "wwwAuthenticate"));
	json_decref(r);

	tiny_set_mode(t, TINY_AUTH_403); /* a scope step-up, mid-session */
	r = call_shout(&d, "alice", "a1", "x", &st);
	cr_assert_str_eq(it_error_code(r), "AUTH_REQUIRED");
	data = err_data(r);
	cr_assert_eq(json_integer_value(json_object_get(data, "status")), 403);
	cr_assert_str_eq(str_of(data, "error"), "insufficient_scope");
	cr_assert_str_eq(str_of(data, "scope"), "files:read files:write");
	json_decref(r);

	assert_session_serves_on(t, &d, "after");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

/* At initialize (after the era probe) and at the probe itself: the caller gets the challenge. */
static void a_401_at_start(int mode)
{
	struct tiny *t = tiny_start(mode);
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "x", &st);
	cr_assert_eq(st, 1);
	cr_assert_str_eq(it_error_code(r), "AUTH_REQUIRED", "%s", err_message(r));
	cr_assert(strstr(err_message(r), "HTTP 401") && strstr(err_message(r), RESOURCE_METADATA),
		  "message: %s", err_message(r));
	cr_assert_eq(json_integer_value(json_object_get(err_data(r), "status")), 401);
	cr_assert_str_eq(str_of(err_data(r), "resource_metadata"), RESOURCE_METADATA);
	cr_assert_str_eq(str_of(err_data(r), "scope"), "files:read");
	json_decref(r);

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, a_401_at_start_fails_with_auth_required_naming_the_challenge)
{
	a_401_at_start(TINY_AUTH_INIT);
	a_401_at_start(TINY_AUTH_ALL);
}

/* Passes before and after the upstream probes with server/discover: a legacy server is spoken to the legacy way. */
Test(http, a_legacy_server_refusing_the_modern_probe_is_spoken_to_with_a_session)
{
	struct tiny *t = tiny_start(TINY_NORMAL);
	struct tiny_req probe, call;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "old", &st);
	cr_assert_str_eq(it_text(r), "tiny says: old", "%s %s", it_error_code(r), err_message(r));
	json_decref(r);
	if (tiny_find(t, "POST", "server/discover", 0, &probe)) {
		cr_assert_str_eq(probe.version, "2026-07-28");
		cr_assert_str_eq(probe.mcp_method, "server/discover");
		cr_assert_str_eq(probe.session, "");
	}
	cr_assert(tiny_find(t, "POST", "tools/call", 0, &call));
	cr_assert_str_eq(call.session, "sess-1");
	cr_assert_str_eq(call.version, "2025-06-18");
	cr_assert_str_eq(call.mcp_method, "", "a legacy request carried Mcp-Method");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

/*
 * An HTTP server's era is found once for all its users (eramemo.h): the second user's
 * connection is not probed, and speaks the era the first one found.
 */
static void era_probed_once(enum tiny_mode mode, const char *version)
{
	struct tiny *t = tiny_start(mode);
	struct tiny_req call;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "one", &st);
	cr_assert_str_eq(it_text(r), "tiny says: one", "%s %s", it_error_code(r), err_message(r));
	json_decref(r);
	r = call_shout(&d, "bob", "b1", "two", &st);
	cr_assert_str_eq(it_text(r), "tiny says: two", "%s %s", it_error_code(r), err_message(r));
	json_decref(r);
	cr_assert_eq(tiny_count_of(t, "POST", "server/discover"), 1, "the era was probed %u times",
		     tiny_count_of(t, "POST", "server/discover"));
	cr_assert(itd_log_contains(&d, "found for this catalog entry before"), "see %s", d.log);
	cr_assert(tiny_find(t, "POST", "tools/call", 1, &call));
	cr_assert_str_eq(call.version, version, "the second user's call");
	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

/*
 * 2026-07-28 has no resumption: a broken response stream loses its request. One that
 * may be repeated (tools/list) is posted again once, with a new id, and the app sees
 * its answer; a tools/call is never repeated: the app gets UPSTREAM_CLOSED.
 */
Test(http, a_modern_request_whose_stream_broke_is_posted_again_once_when_it_may_be)
{
	struct tiny *t = tiny_start(TINY_MODERN_CUT);
	struct tiny_req first, second;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = ctl(&d, &st, ARGS("tools", "alice", "remote", "-a", "token=a1"));
	cr_assert_eq(st, 0, "tools: %s %s; see %s", it_error_code(r), err_message(r), d.log);
	json_decref(r);
	cr_assert_eq(tiny_count_of(t, "POST", "tools/list"), 2);
	cr_assert(tiny_find(t, "POST", "tools/list", 0, &first) &&
		  tiny_find(t, "POST", "tools/list", 1, &second));
	cr_assert_str_eq(first.mcp_method, "tools/list");
	cr_assert(itd_log_contains(&d, "sent tools/list again"), "see %s", d.log);

	r = call_shout(&d, "alice", "a1", "once", &st);
	cr_assert_str_eq(it_error_code(r), "UPSTREAM_CLOSED", "%s", err_message(r));
	json_decref(r);
	cr_assert_eq(tiny_count_of(t, "POST", "tools/call"), 1, "a tools/call was posted again");
	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

Test(http, an_http_servers_era_is_probed_once_for_all_its_users)
{
	era_probed_once(TINY_NORMAL, "2025-06-18");
	era_probed_once(TINY_MODERN, "2026-07-28");
}

/* Needs the upstream's server/discover probe (the era detection of issue 10); skipped without it. */
Test(http, a_modern_server_gets_the_2026_headers_and_no_session)
{
	struct tiny *t = tiny_start(TINY_MODERN);
	struct tiny_req probe, call, x;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_t *r = call_shout(&d, "alice", "a1", "new", &st);
	bool probed = tiny_find(t, "POST", "server/discover", 0, &probe);
	cr_assert(probed, "no server/discover probe over HTTP; see %s", d.log);
	cr_assert_str_eq(it_text(r), "tiny says: new", "%s %s; see %s", it_error_code(r),
			 err_message(r), d.log);
	json_decref(r);
	cr_assert_str_eq(probe.version, "2026-07-28");
	cr_assert_str_eq(probe.mcp_method, "server/discover");
	cr_assert_str_eq(probe.session, "");
	cr_assert(tiny_find(t, "POST", "tools/call", 0, &call));
	cr_assert_str_eq(call.version, "2026-07-28");
	cr_assert_str_eq(call.mcp_method, "tools/call");
	cr_assert_str_eq(call.mcp_name, "shout");
	cr_assert_str_eq(call.session, "");
	cr_assert_str_eq(call.auth, "Bearer a1");
	/* A name that is not plain ASCII goes Base64-encoded ("Value Encoding"). */
	json_decref(ctl(&d, &st, ARGS("request", "alice", "remote", "resources/read",
				      "{\"uri\":\"memo://caf\u00e9\"}", "-a", "token=a1")));
	cr_assert(tiny_find(t, "POST", "resources/read", 0, &x), "no resources/read");
	cr_assert_str_eq(x.mcp_method, "resources/read");
	cr_assert_str_eq(x.mcp_name, "=?base64?bWVtbzovL2NhZsOp?=");
	cr_assert(!tiny_find(t, "POST", "initialize", 0, &x), "a modern server was initialized");
	json_decref(ctl(&d, &st, ARGS("evict", "alice")));
	it_sleep_ms(100);
	cr_assert(!tiny_find(t, "DELETE", NULL, 0, &x), "a modern server got a DELETE");
	cr_assert(!tiny_find(t, "GET", NULL, 0, &x), "a modern server got a GET");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

/* The tasks extension over modern HTTP: the server keeps its tasks, so they outlive a connection. */
Test(http, a_modern_servers_task_outlives_its_connection_and_is_named_in_mcp_name)
{
	struct tiny *t = tiny_start(TINY_MODERN);
	struct tiny_req x;
	struct itd d;
	char cat[1024];
	int st;
	json_t *r;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	r = ctl(&d, &st, ARGS("call", "alice", "remote", "start_task", "{}", "-a", "token=a1"));
	cr_assert_str_eq(json_string_value(json_object_get(it_data(r), "taskId")), "http-task-1",
			 "%s %s; see %s", it_error_code(r), err_message(r), d.log);
	json_decref(r);
	json_decref(ctl(&d, &st, ARGS("evict", "alice")));
	/* A stdio server's task would be gone (UPSTREAM_CLOSED); this one is asked for on a new connection. */
	r = ctl(&d, &st, ARGS("request", "alice", "remote", "tasks/get", "{\"taskId\":\"http-task-1\"}",
			      "-a", "token=a1"));
	cr_assert_eq(st, 0, "%s %s; see %s", it_error_code(r), err_message(r), d.log);
	cr_assert_str_eq(json_string_value(json_object_get(it_data(r), "status")), "completed");
	json_decref(r);
	cr_assert(tiny_find(t, "POST", "tasks/get", 0, &x));
	cr_assert_str_eq(x.mcp_method, "tasks/get");
	cr_assert_str_eq(x.mcp_name, "http-task-1");

	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

/*
 * The linger timer is one-shot: once it has fired, each new arming must set its
 * time again, or it fires every loop iteration while a stream lingers.
 */
Test(http, a_lingering_answered_stream_costs_no_cpu)
{
	struct tiny *t = tiny_start(TINY_KEEP_STREAMS);
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long before, after;
	struct itd d;
	char cat[1024];
	int st;

	http_catalog(cat, sizeof(cat), t->port, NULL);
	start_daemon(&d, cat, NULL);
	json_decref(call_shout(&d, "alice", "a1", "first", &st));
	for (int i = 0; i < 500 && tiny_streams_cut(t) < 1; i++)
		it_sleep_ms(10);
	cr_assert_eq(tiny_streams_cut(t), 1, "the first answered stream was never closed");
	/* The timer has fired once; the second stream lingers for its grace now. */
	json_decref(call_shout(&d, "alice", "a1", "second", &st));
	cr_assert_eq(st, 0);
	before = it_cpu_ticks(d.pid, NULL);
	it_sleep_ms(1000);
	after = it_cpu_ticks(d.pid, NULL);
	cr_assert_leq(after - before, (unsigned long long)hz / 10,
		      "the daemon used %llu ticks (of %ld per second) while a stream lingered",
		      after - before, hz);
	for (int i = 0; i < 500 && tiny_streams_cut(t) < 2; i++)
		it_sleep_ms(10);
	cr_assert_eq(tiny_streams_cut(t), 2, "the second answered stream was never closed");
	itd_stop(&d);
	tiny_stop(t);
	it_assert_no_children();
}

/*
 * Over HTTP the server asks on the response stream of the call it belongs to:
 * the call becomes input_required, the retry (here through the request op,
 * whose params carry the state) answers it, and the call's result comes back.
 */
Test(http, server_everything_elicitation_over_http_reaches_the_app_as_input_required)
{
	struct itd d;
	struct everything ev;
	char cat[1024], params[2048], key[64];
	const char *k, *state;
	json_t *r, *data, *one;
	int st;

	start_everything(&ev);
	snprintf(cat, sizeof(cat),
		 "{\"mcpServers\": {\"remote\": {\"url\": \"http://127.0.0.1:%d/mcp\","
		 " \"clientCapabilities\": {\"elicitation\": {}}}}}", ev.port);
	start_daemon(&d, cat, NULL);

	r = ctl(&d, &st, ARGS("request", "alice", "remote", "tools/call",
			      "{\"name\":\"trigger-elicitation-request\",\"arguments\":{}}",
			      "--timeout", "20000"));
	cr_assert_eq(st, 0, "%s", err_message(r));
	data = it_data(r);
	cr_assert_str_eq(json_string_value(json_object_get(data, "resultType")), "input_required");
	json_object_foreach(json_object_get(data, "inputRequests"), k, one) {
		snprintf(key, sizeof(key), "%s", k);
		cr_assert_str_eq(json_string_value(json_object_get(one, "method")),
				 "elicitation/create");
	}
	state = json_string_value(json_object_get(data, "requestState"));
	cr_assert(state);
	snprintf(params, sizeof(params),
		 "{\"name\":\"trigger-elicitation-request\",\"arguments\":{},\"inputResponses\":"
		 "{\"%s\":{\"action\":\"accept\",\"content\":{\"name\":\"Ada Lovelace\"}}},"
		 "\"requestState\":\"%s\"}", key, state);
	json_decref(r);

	r = ctl(&d, &st, ARGS("request", "alice", "remote", "tools/call", params));
	cr_assert_eq(st, 0, "%s", err_message(r));
	char *all = json_dumps(it_data(r), 0);
	cr_assert(strstr(all, "Ada Lovelace"), "the answer is not in the result: %s", all);
	free(all);
	json_decref(r);

	itd_stop(&d);
	kill_everything();
	it_assert_no_children();
}
