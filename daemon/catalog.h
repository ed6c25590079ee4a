/* The server catalog: the mcpServers JSON that names each MCP server and how to reach it. */
#ifndef MCPPOOL_CATALOG_H
#define MCPPOOL_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CATALOG_NAME_MAX 128     /* bytes of a server name */
#define CATALOG_USER_MAX 256     /* bytes of a user id (proto/PROTOCOL.md) */
#define CATALOG_AUTH_NAME_MAX 64 /* bytes of NAME in ${auth.NAME} */
#define CATALOG_MAX_BYTES (16 * 1024 * 1024) /* a larger catalog file is refused */

enum transport_kind { TRANSPORT_STDIO, TRANSPORT_HTTP };

/* The catalog's "protocol" key: which MCP era to speak (DESIGN.md "MCP protocol eras"). */
enum protocol_pin { PROTOCOL_AUTO, PROTOCOL_MODERN, PROTOCOL_LEGACY };

#define CATALOG_TIMEOUT_MAX_MS 86400000ULL /* bound of an entry's "timeout": one day */

struct kv {
	char *key;
	char *value;
};

struct catalog_entry {
	char *name;
	enum transport_kind transport;
	char *command;                       /* stdio */
	char **args;                         /* stdio */
	size_t nargs;
	struct kv *env;                      /* stdio: values may hold ${auth.NAME}; file order */
	size_t nenv;
	char *cwd;                           /* stdio, optional (NULL) */
	char *url;                           /* http; may hold ${auth.NAME} */
	struct kv *headers;                  /* http: values may hold ${auth.NAME}; file order */
	size_t nheaders;
	char **auth_keys;                    /* sorted, unique NAMEs referenced anywhere */
	size_t nauth_keys;
	bool sse;                            /* http: "type": "sse", the 2024-11-05 HTTP+SSE transport */
	enum protocol_pin protocol;          /* "protocol": auto (default), modern or legacy */
	char *client_caps;                   /* "clientCapabilities" as compact JSON; "{}" by default */
	uint64_t timeout_ms;                 /* "timeout": the entry's default request timeout; 0: none */
	unsigned metrics_slot;               /* metrics.c's: 1 + its server's counters' index; 0 until first used */
	char *source;                        /* the entry's JSON, compact, keys sorted: what a reload compares */
};

/* Entries sorted by name (strcmp), names unique; entries with "disabled": true are left out. */
struct catalog {
	struct catalog_entry *entries;
	size_t n;
	char **disabled;   /* names of the entries left out ("disabled": true), for UNKNOWN_MCP's message */
	size_t ndisabled;
};

/*
 * Reads and validates a catalog file (at most CATALOG_MAX_BYTES). Returns 0
 * with cat filled, or -1 with one line in err naming the file and the place
 * ("<file>:<line>:<column>: ..." for JSON syntax, "<file>: mcpServers.NAME...: ..."
 * for the rest); cat is then empty. Free with catalog_free().
 */
int catalog_load_file(struct catalog *cat, const char *path, char *err, size_t errlen);

/* As catalog_load_file() on a NUL-terminated JSON text; origin names it in errors. */
int catalog_load_string(struct catalog *cat, const char *json, const char *origin,
			char *err, size_t errlen);

/* The entry called name, or NULL. Binary search: O(log n). */
const struct catalog_entry *catalog_find(const struct catalog *cat, const char *name);

/* True when name is an entry of the file left out by "disabled": true. */
bool catalog_is_disabled(const struct catalog *cat, const char *name);
/*
 * True when a and b describe the same server: their JSON texts are equal once
 * keys are sorted and spaces dropped, whatever keys the catalog gains later.
 * A reload keeps the live connections of such an entry.
 */
bool catalog_entry_same(const struct catalog_entry *a, const struct catalog_entry *b);

/* Frees every entry and leaves cat empty; NULL-safe. */
void catalog_free(struct catalog *cat);

/*
 * Checks a server name or user id of len bytes: non-empty, at most max bytes,
 * valid UTF-8 (no overlong forms, surrogates or values above U+10FFFF), no ':',
 * no control characters (bytes below 0x20, 0x7f, and the C1 controls U+0080 to
 * U+009F) and no bidirectional overrides or isolates (U+202A to U+202E, U+2066
 * to U+2069), which would make a log line or a listing read as something else.
 * Returns 0, or -1 with the reason in err (the name itself is not repeated).
 */
int catalog_check_name(const char *name, size_t len, size_t max, char *err, size_t errlen);

/*
 * 1 when an entry's args hold a ${auth.NAME}: the expanded value then sits in
 * the server's command line, which every user of the host can read in
 * /proc/PID/cmdline. mcppoold warns at start-up; env is the safe place.
 */
int catalog_args_use_auth(const struct catalog_entry *e);

/* One ${auth.NAME} reference inside a template string. */
struct auth_ref {
	size_t start;     /* offset of '$' */
	size_t end;       /* offset just past '}' */
	const char *name; /* points into the template; not NUL-terminated */
	size_t name_len;
};

/*
 * Finds the first ${auth.NAME} in s at or after offset from; NAME is
 * [A-Za-z0-9_.-]{1,64}. "${" not followed by "auth." is literal text. Returns 1
 * with *ref filled, 0 when there is none, -1 with a reason in err for an
 * unterminated "${auth." or an empty or invalid NAME.
 */
int catalog_next_ref(const char *s, size_t from, struct auth_ref *ref, char *err, size_t errlen);

/* True when c may appear in an auth NAME ([A-Za-z0-9_.-]). */
int catalog_auth_name_char(int c);

#endif
