/* The daemon's configuration: defaults, the .env file, the environment and the command line. */
#ifndef MCPPOOL_CONFIG_H
#define MCPPOOL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Every time value is in milliseconds, from 1 to CONFIG_MAX_MS. */
#define CONFIG_MAX_MS 2147483647ULL

struct config {
	unsigned max_per_user;          /* MAX_CONNECTIONS_PER_USER, default 10, 1..100000 */
	unsigned max_total;             /* MAX_TOTAL_CONNECTIONS, default 100, 1..1000000 */
	uint64_t connection_timeout_ms; /* CONNECTION_TIMEOUT, default 1800000 */
	uint64_t cleanup_interval_ms;   /* CLEANUP_INTERVAL, default 300000 */
	uint64_t request_timeout_ms;    /* REQUEST_TIMEOUT, default 60000 */
	uint64_t start_timeout_ms;      /* MCPPOOL_START_TIMEOUT, default 60000: spawn until initialize answered */
	uint64_t kill_timeout_ms;       /* MCPPOOL_KILL_TIMEOUT, default 2000: each grace step when closing a child */
	size_t max_frame;               /* MCPPOOL_MAX_FRAME, bytes, default 16777216, 1024..1073741824 */
	size_t max_message;             /* MCPPOOL_MAX_MESSAGE, bytes of one JSON-RPC line from a server, default 16777216, 1024..1073741824 */
	size_t max_output;              /* MCPPOOL_MAX_OUTPUT, bytes queued to one client before it is dropped, default 67108864, at least max_message */
	unsigned max_clients;           /* MCPPOOL_MAX_CLIENTS, default 1024, 1..1000000 */
	unsigned max_inflight;          /* MCPPOOL_MAX_INFLIGHT, per client connection, default 1024, 1..1000000 */
	unsigned busy_poll_us;          /* MCPPOOL_BUSY_POLL_US, default 0 (off), 0..10000: spin after I/O */
	unsigned reply_spin_us;         /* MCPPOOL_REPLY_SPIN_US, default 0 (off), 0..10000: spin while a fast server's reply is due */
	uint64_t ping_timeout_ms;       /* MCPPOOL_PING_TIMEOUT, default 10000: a health ping unanswered this long closes the connection */
	size_t max_stdin_queue;         /* MCPPOOL_MAX_STDIN_QUEUE, bytes waiting for one server's stdin beyond which it is closed as broken, default 67108864, 65536..68719476736 */
	uint64_t hello_timeout_ms;      /* MCPPOOL_HELLO_TIMEOUT, default 10000: a client that has not sent hello by then is closed */
	size_t max_output_total;        /* MCPPOOL_MAX_OUTPUT_TOTAL, bytes queued to all clients together, default 1073741824, 1024..68719476736 */
	uint64_t output_stall_ms;       /* MCPPOOL_OUTPUT_STALL_TIMEOUT, default 30000: a client with replies waiting that takes none for this long is closed */
	uint64_t max_request_time_ms;   /* MCPPOOL_MAX_REQUEST_TIME, default 600000: progress extends a deadline up to this long after the start */
	uint64_t shutdown_timeout_ms;   /* MCPPOOL_SHUTDOWN_TIMEOUT, default 30000: how long the first SIGTERM/SIGINT lets requests in flight finish */
	unsigned core_dumps;            /* MCPPOOL_CORE_DUMPS, 0 (default: the daemon is not dumpable, its memory holds secrets) or 1 */
	size_t cache_bytes;             /* MCPPOOL_CACHE_BYTES, bytes of cached list results (listcache.h), default 8388608, 0 (off)..68719476736 */
	size_t max_input;               /* MCPPOOL_MAX_INPUT, bytes of large frames being received from all clients at once, default 268435456, at least max_frame + 4 */
	int log_level;                  /* MCPPOOL_LOG_LEVEL or --log-level: enum log_level (daemon/log.h), default LOG_INFO */
	char socket_path[108];          /* -s/--socket, else MCPPOOL_SOCKET (env or .env), else the default of sockpath_resolve() */
	char *socket_group;             /* MCPPOOL_SOCKET_GROUP: an existing group; socket mode 0660 with it, else 0600. NULL when unset */
	char *servers_path;             /* --servers FILE, else MCPPOOL_SERVERS: an existing file; NULL when unset */
	char *child_env;                /* MCPPOOL_CHILD_ENV: comma-separated variable names passed from the daemon's environment to children; NULL when unset */
	char *metrics_listen;           /* MCPPOOL_METRICS_LISTEN: HOST:PORT serving GET /metrics over HTTP; NULL when unset (off) */
	int log_format;                 /* MCPPOOL_LOG_FORMAT: enum log_format (daemon/log.h), text (default) or json */
	int server_stdio;               /* MCPPOOL_SERVER_STDIO: enum stdio_io (daemon/stdiochild.h), pipes (default) or socket */
	int server_stderr;              /* MCPPOOL_SERVER_STDERR: enum stdio_stderr (daemon/stdiochild.h), log (default), inherit or discard */
	char *access_log;               /* MCPPOOL_ACCESS_LOG: a file to append one line per request to, "-" for stderr; NULL when unset (off) */
	char *dotenv_unknown;           /* names in the .env file the daemon does not know, each NUL-terminated */
	size_t dotenv_unknown_len;
	char *dotenv_path;              /* that file, for the warning; NULL when all names are known */
	char *admin_group;              /* MCPPOOL_ADMIN_GROUP: an existing group whose members may run admin ops; NULL when unset */
	gid_t admin_gid;                /* ... its gid, resolved at load (no name lookup per connection) */
	char *admin_token_file;         /* MCPPOOL_ADMIN_TOKEN_FILE: a file whose first line is the admin token; NULL when unset */
	char *admin_token;              /* that line, read at load: never printed, wiped when freed */
};

/* What the command line says; NULL fields were not given. */
struct config_cli {
	const char *env_file;  /* --env-file; NULL = ./.env when present */
	const char *socket;    /* -s/--socket */
	const char *servers;   /* --servers */
	const char *log_level; /* --log-level */
};

/*
 * Fills cfg with the defaults only: no file, no environment, socket_path empty,
 * strings NULL. For tests and for callers that build a config by hand.
 */
void config_defaults(struct config *cfg);

/*
 * Fills cfg from the defaults, the .env file and the process environment (a
 * variable set in the environment, even to "", wins over the file: the dotenv
 * rule), then the command line (wins over both). Keys of the file that mcppool
 * does not know are ignored; the file's bytes are wiped once parsed, since it
 * may hold the application's secrets. Returns 0, or -1 with one line in err
 * naming the variable or file, the value and what is accepted; cfg then holds
 * no allocation. cli may be NULL.
 */
int config_load(struct config *cfg, const struct config_cli *cli, char *err, size_t errlen);

/* Frees the strings of cfg and sets them to NULL; the struct itself is the caller's. */
void config_free(struct config *cfg);

/*
 * Warns of each name of the .env file the daemon does not know ("did you mean"):
 * called once the log format is set, so that the warnings come in it.
 */
void config_warn_unknown(const struct config *cfg);

/* The name of the i-th variable mcppool reads (config_print()'s order); NULL past the last. */
const char *config_var_name(size_t i);

/*
 * When the i-th variable (config_var_name()'s order) is a time in
 * milliseconds: returns true with its value in cfg in *ms.
 */
bool config_var_ms(const struct config *cfg, size_t i, uint64_t *ms);

/* True when name is a variable mcppool reads (mcppoold's table, or a client's). */
bool config_var_known(const char *name);

/*
 * Writes the effective configuration as KEY=VALUE lines, one per variable, in
 * .env syntax (values quoted where needed), so that the output can be read
 * back with --env-file. Unset strings print as empty values.
 */
void config_print(const struct config *cfg, FILE *out);

#endif
