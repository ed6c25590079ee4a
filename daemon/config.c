/* The daemon's configuration. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "confcheck.h"
#include "config.h"
#include "dotenv.h"
#include "frame.h"
#include "readfile.h"
#include "log.h"
#include "metrics_http.h"
#include "sockpath.h"
#include "stdiochild.h"

#define DOTENV_MAX_BYTES (1024 * 1024) /* a .env larger than this is a mistake */
#define DEFAULT_DOTENV ".env"

/* Every variable mcppool reads; the order is that of config_print(). */
enum var_id {
	V_MAX_PER_USER,
	V_MAX_TOTAL,
	V_CONNECTION_TIMEOUT,
	V_CLEANUP_INTERVAL,
	V_REQUEST_TIMEOUT,
	V_START_TIMEOUT,
	V_KILL_TIMEOUT,
	V_MAX_FRAME,
	V_MAX_MESSAGE,
	V_MAX_OUTPUT,
	V_MAX_CLIENTS,
	V_MAX_INFLIGHT,
	V_BUSY_POLL,
	V_REPLY_SPIN,
	V_MAX_INPUT,
	V_PING_TIMEOUT,
	V_MAX_STDIN_QUEUE,
	V_HELLO_TIMEOUT,
	V_MAX_OUTPUT_TOTAL,
	V_OUTPUT_STALL,
	V_MAX_REQUEST_TIME,
	V_CORE_DUMPS,
	V_SHUTDOWN_TIMEOUT,
	V_CACHE_BYTES,
	V_NUMERIC_COUNT,
	V_LOG_LEVEL = V_NUMERIC_COUNT,
	V_SOCKET,
	V_SOCKET_GROUP,
	V_SERVERS,
	V_CHILD_ENV,
	V_METRICS_LISTEN,
	V_LOG_FORMAT,
	V_ACCESS_LOG,
	V_SERVER_STDIO,
	V_SERVER_STDERR,
	V_ADMIN_GROUP,
	V_ADMIN_TOKEN_FILE,
	V__COUNT
};

static const char *const var_names[V__COUNT] = {
	[V_MAX_PER_USER] = "MAX_CONNECTIONS_PER_USER",
	[V_MAX_TOTAL] = "MAX_TOTAL_CONNECTIONS",
	[V_CONNECTION_TIMEOUT] = "CONNECTION_TIMEOUT",
	[V_CLEANUP_INTERVAL] = "CLEANUP_INTERVAL",
	[V_REQUEST_TIMEOUT] = "REQUEST_TIMEOUT",
	[V_START_TIMEOUT] = "MCPPOOL_START_TIMEOUT",
	[V_KILL_TIMEOUT] = "MCPPOOL_KILL_TIMEOUT",
	[V_MAX_FRAME] = "MCPPOOL_MAX_FRAME",
	[V_MAX_MESSAGE] = "MCPPOOL_MAX_MESSAGE",
	[V_MAX_OUTPUT] = "MCPPOOL_MAX_OUTPUT",
	[V_MAX_CLIENTS] = "MCPPOOL_MAX_CLIENTS",
	[V_MAX_INFLIGHT] = "MCPPOOL_MAX_INFLIGHT",
	[V_BUSY_POLL] = "MCPPOOL_BUSY_POLL_US",
	[V_REPLY_SPIN] = "MCPPOOL_REPLY_SPIN_US",
	[V_MAX_INPUT] = "MCPPOOL_MAX_INPUT",
	[V_PING_TIMEOUT] = "MCPPOOL_PING_TIMEOUT",
	[V_MAX_STDIN_QUEUE] = "MCPPOOL_MAX_STDIN_QUEUE",
	[V_HELLO_TIMEOUT] = "MCPPOOL_HELLO_TIMEOUT",
	[V_MAX_OUTPUT_TOTAL] = "MCPPOOL_MAX_OUTPUT_TOTAL",
	[V_OUTPUT_STALL] = "MCPPOOL_OUTPUT_STALL_TIMEOUT",
	[V_MAX_REQUEST_TIME] = "MCPPOOL_MAX_REQUEST_TIME",
	[V_CORE_DUMPS] = "MCPPOOL_CORE_DUMPS",
	[V_SHUTDOWN_TIMEOUT] = "MCPPOOL_SHUTDOWN_TIMEOUT",
	[V_CACHE_BYTES] = "MCPPOOL_CACHE_BYTES",
	[V_LOG_LEVEL] = "MCPPOOL_LOG_LEVEL",
	[V_SOCKET] = "MCPPOOL_SOCKET",
	[V_SOCKET_GROUP] = "MCPPOOL_SOCKET_GROUP",
	[V_SERVERS] = "MCPPOOL_SERVERS",
	[V_CHILD_ENV] = "MCPPOOL_CHILD_ENV",
	[V_METRICS_LISTEN] = "MCPPOOL_METRICS_LISTEN",
	[V_LOG_FORMAT] = "MCPPOOL_LOG_FORMAT",
	[V_ACCESS_LOG] = "MCPPOOL_ACCESS_LOG",
	[V_SERVER_STDIO] = "MCPPOOL_SERVER_STDIO",
	[V_SERVER_STDERR] = "MCPPOOL_SERVER_STDERR",
	[V_ADMIN_GROUP] = "MCPPOOL_ADMIN_GROUP",
	[V_ADMIN_TOKEN_FILE] = "MCPPOOL_ADMIN_TOKEN_FILE",
};

const char *config_var_name(size_t i)
{
	return i < V__COUNT ? var_names[i] : NULL;
}

/* Read by mcppool's other programs or its tests, not by mcppoold: never "unknown". */
static const char *const other_known_names[] = {
	"MCPPOOL_ADMIN_TOKEN",      /* mcpctl */
	"MCPPOOL_ADMIN_TOKEN_FILE", /* DESIGN.md "Operations" */
	"MCPPOOL_ADMIN_GROUP",
	"MCPPOOL_BUILD",            /* the test suite's build directory */
};

bool config_var_known(const char *name)
{
	for (size_t i = 0; i < V__COUNT; i++)
		if (strcmp(var_names[i], name) == 0)
			return true;
	for (size_t i = 0; i < sizeof(other_known_names) / sizeof(other_known_names[0]); i++)
		if (strcmp(other_known_names[i], name) == 0)
			return true;
	return false;
}

enum num_kind { NUM_UNSIGNED, NUM_U64, NUM_SIZE };

struct num_var {
	enum num_kind kind;
	size_t offset;     /* of the field in struct config */
	uint64_t min, max, def;
	const char *unit;  /* "an integer", "milliseconds", "microseconds" or "a byte count" */
};

#define NUM(kind, field, min, max, def, unit) \
	{ kind, offsetof(struct config, field), min, max, def, unit }

static const struct num_var num_vars[V_NUMERIC_COUNT] = {
	[V_MAX_PER_USER] = NUM(NUM_UNSIGNED, max_per_user, 1, 100000, 10, "an integer"),
	[V_MAX_TOTAL] = NUM(NUM_UNSIGNED, max_total, 1, 1000000, 100, "an integer"),
	[V_CONNECTION_TIMEOUT] = NUM(NUM_U64, connection_timeout_ms, 1, CONFIG_MAX_MS, 1800000, "milliseconds"),
	[V_CLEANUP_INTERVAL] = NUM(NUM_U64, cleanup_interval_ms, 1, CONFIG_MAX_MS, 300000, "milliseconds"),
	[V_REQUEST_TIMEOUT] = NUM(NUM_U64, request_timeout_ms, 1, CONFIG_MAX_MS, 60000, "milliseconds"),
	[V_START_TIMEOUT] = NUM(NUM_U64, start_timeout_ms, 1, CONFIG_MAX_MS, 60000, "milliseconds"),
	[V_KILL_TIMEOUT] = NUM(NUM_U64, kill_timeout_ms, 1, CONFIG_MAX_MS, 2000, "milliseconds"),
	[V_MAX_FRAME] = NUM(NUM_SIZE, max_frame, 1024, 1073741824, 16777216, "a byte count"),
	[V_MAX_MESSAGE] = NUM(NUM_SIZE, max_message, 1024, 1073741824, 16777216, "a byte count"),
	[V_MAX_OUTPUT] = NUM(NUM_SIZE, max_output, 1024, 68719476736ULL, 67108864, "a byte count"),
	[V_MAX_CLIENTS] = NUM(NUM_UNSIGNED, max_clients, 1, 1000000, 1024, "an integer"),
	[V_MAX_INFLIGHT] = NUM(NUM_UNSIGNED, max_inflight, 1, 1000000, 1024, "an integer"),
	[V_BUSY_POLL] = NUM(NUM_UNSIGNED, busy_poll_us, 0, 10000, 0, "microseconds"),
	[V_REPLY_SPIN] = NUM(NUM_UNSIGNED, reply_spin_us, 0, 10000, 0, "microseconds"),
	[V_MAX_INPUT] = NUM(NUM_SIZE, max_input, 1048576, 68719476736ULL, 268435456, "a byte count"),
	[V_PING_TIMEOUT] = NUM(NUM_U64, ping_timeout_ms, 1, CONFIG_MAX_MS, 10000, "milliseconds"),
	[V_MAX_STDIN_QUEUE] = NUM(NUM_SIZE, max_stdin_queue, 65536, 68719476736ULL, 67108864, "a byte count"),
	[V_HELLO_TIMEOUT] = NUM(NUM_U64, hello_timeout_ms, 1, CONFIG_MAX_MS, 10000, "milliseconds"),
	[V_MAX_OUTPUT_TOTAL] = NUM(NUM_SIZE, max_output_total, 1024, 68719476736ULL, 1073741824, "a byte count"),
	[V_OUTPUT_STALL] = NUM(NUM_U64, output_stall_ms, 1, CONFIG_MAX_MS, 30000, "milliseconds"),
	[V_MAX_REQUEST_TIME] = NUM(NUM_U64, max_request_time_ms, 1, CONFIG_MAX_MS, 600000, "milliseconds"),
	[V_CORE_DUMPS] = NUM(NUM_UNSIGNED, core_dumps, 0, 1, 0, "an integer"),
	[V_SHUTDOWN_TIMEOUT] = NUM(NUM_U64, shutdown_timeout_ms, 1, CONFIG_MAX_MS, 30000, "milliseconds"),
	[V_CACHE_BYTES] = NUM(NUM_SIZE, cache_bytes, 0, 68719476736ULL, 8388608, "a byte count"),
};

/* Values of known keys found in the .env file (malloc'd; NULL when absent). */
struct dotenv {
	char *values[V__COUNT];
	char *unknown;      /* names the daemon does not know, each NUL-terminated, in file order */
	size_t unknown_len;
};

/* Where a value came from, for error messages. */
struct source {
	const char *value;
	const char *name; /* the variable, or the command-line option */
};

static void set_num(struct config *cfg, const struct num_var *v, uint64_t value)
{
	char *field = (char *)cfg + v->offset;

	switch (v->kind) {
	case NUM_UNSIGNED:
		*(unsigned *)(void *)field = (unsigned)value;
		break;
	case NUM_U64:
		*(uint64_t *)(void *)field = value;
		break;
	case NUM_SIZE:
		*(size_t *)(void *)field = (size_t)value;
		break;
	}
}

static uint64_t get_num(const struct config *cfg, const struct num_var *v)
{
	const char *field = (const char *)cfg + v->offset;

	switch (v->kind) {
	case NUM_UNSIGNED:
		return *(const unsigned *)(const void *)field;
	case NUM_U64:
		return *(const uint64_t *)(const void *)field;
	case NUM_SIZE:
		return *(const size_t *)(const void *)field;
	}
	return 0;
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (int i = 0; i < V_NUMERIC_COUNT; i++)
		set_num(cfg, &num_vars[i], num_vars[i].def);
	cfg->log_level = LOG_INFO;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->socket_group);
	free(cfg->servers_path);
	free(cfg->child_env);
	free(cfg->metrics_listen);
	cfg->metrics_listen = NULL;
	free(cfg->access_log);
	cfg->access_log = NULL;
	free(cfg->dotenv_unknown);
	cfg->dotenv_unknown = NULL;
	cfg->dotenv_unknown_len = 0;
	free(cfg->dotenv_path);
	cfg->dotenv_path = NULL;
	free(cfg->admin_group);
	cfg->admin_group = NULL;
	free(cfg->admin_token_file);
	cfg->admin_token_file = NULL;
	if (cfg->admin_token)
		sodium_memzero(cfg->admin_token, strlen(cfg->admin_token));
	free(cfg->admin_token);
	cfg->admin_token = NULL;
	cfg->socket_group = NULL;
	cfg->servers_path = NULL;
	cfg->child_env = NULL;
}

/*
 * Copies s into dst for an error message: quotes and backslashes escaped,
 * control characters as \xNN, cut with "..." when long.
 */
static void quote_value(char *dst, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *s && n + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (n > 120) {
			memcpy(dst + n, "...", 3);
			n += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		} else {
			dst[n++] = (char)c;
		}
	}
	dst[n] = '\0';
}

static bool is_name_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool is_name_char(int c)
{
	return isalnum(c) || c == '_';
}

static int var_lookup(const char *name)
{
	for (int i = 0; i < V__COUNT; i++)
		if (strcmp(var_names[i], name) == 0)
			return i;
	return -1;
}

static void dotenv_free(struct dotenv *de)
{
	for (int i = 0; i < V__COUNT; i++) {
		free(de->values[i]);
		de->values[i] = NULL;
	}
	free(de->unknown);
	de->unknown = NULL;
	de->unknown_len = 0;
}

/* Keeps a name the daemon does not know, for config_warn_unknown() once logging is set up. */
static int dotenv_note_unknown(struct dotenv *de, const char *key)
{
	size_t n = strlen(key) + 1;
	char *grown = realloc(de->unknown, de->unknown_len + n);

	if (!grown)
		return -1;
	memcpy(grown + de->unknown_len, key, n);
	de->unknown = grown;
	de->unknown_len += n;
	return 0;
}

/* Refuses a NUL byte, which would silently cut its line short. */
static int dotenv_check_nul(const char *buf, size_t len, const char *path, char *err, size_t errlen)
{
	const char *nul = memchr(buf, '\0', len);
	unsigned lineno = 1;

	if (!nul)
		return 0;
	for (const char *p = buf; p < nul; p++)
		lineno += *p == '\n';
	snprintf(err, errlen, "%s:%u: expected KEY=VALUE (NUL byte in the line)", path, lineno);
	return -1;
}

/* Parses a whole .env buffer (NUL-terminated, modified in place) into de. */
static int dotenv_parse(char *buf, size_t len, const char *path, struct dotenv *de,
			char *err, size_t errlen)
{
	char *line = buf, *key, *value;
	const char *why = NULL;
	unsigned lineno = 0;

	if (dotenv_check_nul(buf, len, path, err, errlen) < 0)
		return -1;
	while (line < buf + len) {
		char *end = strchr(line, '\n');
		char *next = end ? end + 1 : buf + len;
		int id, r;

		lineno++;
		if (!end)
			end = buf + len;
		*end = '\0';
		if (end > line && end[-1] == '\r')
			end[-1] = '\0';
		r = dotenv_line(line, DOTENV_KEY_VARIABLE, &key, &value, &why);
		if (r < 0) {
			snprintf(err, errlen, "%s:%u: expected KEY=VALUE (%s)", path, lineno, why);
			return -1;
		}
		if (r > 0 && !config_var_known(key) && dotenv_note_unknown(de, key) < 0) {
			snprintf(err, errlen, "%s: out of memory", path);
			return -1;
		}
		if (r > 0 && (id = var_lookup(key)) >= 0) {
			free(de->values[id]);
			de->values[id] = strdup(value);
			if (!de->values[id]) {
				snprintf(err, errlen, "%s: out of memory", path);
				return -1;
			}
		}
		line = next;
	}
	return 0;
}


/* Loads the .env file: an explicit path must exist, the default may be absent. */
static int dotenv_load(const char *explicit_path, struct dotenv *de, char *err, size_t errlen)
{
	const char *path = explicit_path ? explicit_path : DEFAULT_DOTENV;
	size_t len = 0;
	char *buf;
	int r;

	if (!explicit_path && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	buf = readfile_bounded(path, DOTENV_MAX_BYTES, &len, err, errlen);
	if (!buf)
		return -1;
	r = dotenv_parse(buf, len, path, de, err, errlen);
	/* The file may be shared with the application and hold its secrets. */
	sodium_memzero(buf, len);
	free(buf);
	return r;
}

/* The value of a variable: the process environment, else the .env file, else NULL. */
static const char *var_value(const struct dotenv *de, int id)
{
	const char *env = getenv(var_names[id]);

	return env ? env : de->values[id];
}

/* Parses a decimal number in [min, max] into *out (zero only where min is 0). */
static int parse_number(const char *name, const char *s, const struct num_var *v,
			uint64_t *out, char *err, size_t errlen)
{
	const char *why = NULL;
	char shown[160], *end;
	unsigned long long n = 0;

	if (*s == '\0') {
		why = "empty";
	} else if (*s == '-') {
		why = "negative";
	} else if (*s == '+') {
		why = "a sign is not accepted";
	} else if (!isdigit((unsigned char)*s)) {
		why = "not a number";
	} else {
		errno = 0;
		n = strtoull(s, &end, 10);
		if (*end != '\0')
			why = "trailing characters after the number";
		else if (errno == ERANGE || n > v->max)
			why = "out of range";
		else if (n == 0 && v->min > 0)
			why = "zero is meaningless";
		else if (n < v->min)
			why = "too small";
	}
	if (why) {
		quote_value(shown, sizeof(shown), s);
		snprintf(err, errlen, "%s=\"%s\": %s (expected %s from %llu to %llu)", name, shown,
			 why, v->unit, (unsigned long long)v->min, (unsigned long long)v->max);
		return -1;
	}
	*out = n;
	return 0;
}

static int load_numbers(struct config *cfg, const struct dotenv *de, char *err, size_t errlen)
{
	for (int i = 0; i < V_NUMERIC_COUNT; i++) {
		const char *s = var_value(de, i);
		uint64_t n;

		if (!s)
			continue;
		if (parse_number(var_names[i], s, &num_vars[i], &n, err, errlen) < 0)
			return -1;
		set_num(cfg, &num_vars[i], n);
	}
	return 0;
}

/* Limits that only make sense together. */
static int check_relations(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->max_per_user > cfg->max_total) {
		snprintf(err, errlen, "%s=%u exceeds %s=%u (per-user limit must not exceed the total)",
			 var_names[V_MAX_PER_USER], cfg->max_per_user, var_names[V_MAX_TOTAL],
			 cfg->max_total);
		return -1;
	}
	if (cfg->max_input < cfg->max_frame + FRAME_HEADER_SIZE) {
		snprintf(err, errlen,
			 "%s=%zu is below %s=%zu plus its %d-byte header (one whole frame must fit)",
			 var_names[V_MAX_INPUT], cfg->max_input, var_names[V_MAX_FRAME],
			 cfg->max_frame, FRAME_HEADER_SIZE);
		return -1;
	}
	if (cfg->max_output < cfg->max_message) {
		snprintf(err, errlen,
			 "%s=%zu is below %s=%zu (a client must be able to queue one whole reply)",
			 var_names[V_MAX_OUTPUT], cfg->max_output, var_names[V_MAX_MESSAGE],
			 cfg->max_message);
		return -1;
	}
	return 0;
}

/* The command line's value when given, else the variable's. */
static struct source pick(const char *cli_value, const char *option, const struct dotenv *de, int id)
{
	struct source src = { var_value(de, id), var_names[id] };

	if (cli_value) {
		src.value = cli_value;
		src.name = option;
	}
	return src;
}

static int source_error(const struct source *src, const char *what, char *err, size_t errlen)
{
	char shown[160];

	quote_value(shown, sizeof(shown), src->value);
	snprintf(err, errlen, "%s=\"%s\": %s", src->name, shown, what);
	return -1;
}

static int load_log_level(struct config *cfg, const struct config_cli *cli,
			  const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(cli->log_level, "--log-level", de, V_LOG_LEVEL);
	int level;

	if (!src.value)
		return 0;
	level = log_level_parse(src.value);
	if (level < 0)
		return source_error(&src, "unknown level (expected error, warn, info or debug)",
				    err, errlen);
	cfg->log_level = level;
	return 0;
}

static int load_socket(struct config *cfg, const struct config_cli *cli,
		       const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(cli->socket, "--socket", de, V_SOCKET);
	char why[96];

	snprintf(why, sizeof(why), "too long for a Unix socket path (at most %zu bytes)",
		 sizeof(cfg->socket_path) - 1);
	if (cli->socket && !*cli->socket)
		return source_error(&src, "empty (expected a socket path)", err, errlen);
	if (src.value && *src.value) {
		if (strlen(src.value) >= sizeof(cfg->socket_path))
			return source_error(&src, why, err, errlen);
		memcpy(cfg->socket_path, src.value, strlen(src.value) + 1);
		return 0;
	}
	if (sockpath_resolve(NULL, cfg->socket_path, sizeof(cfg->socket_path)) < 0) {
		src.name = "XDG_RUNTIME_DIR";
		src.value = getenv("XDG_RUNTIME_DIR");
		if (!src.value)
			src.value = "";
		return source_error(&src, "the default socket path under it is too long "
				    "(set MCPPOOL_SOCKET or -s)", err, errlen);
	}
	return 0;
}

static int dup_into(char **dst, const char *s, char *err, size_t errlen)
{
	*dst = strdup(s);
	if (!*dst) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int load_socket_group(struct config *cfg, const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(NULL, NULL, de, V_SOCKET_GROUP);

	if (!src.value || !*src.value)
		return 0;
	if (!getgrnam(src.value))
		return source_error(&src, "no such group", err, errlen);
	return dup_into(&cfg->socket_group, src.value, err, errlen);
}

static int load_servers(struct config *cfg, const struct config_cli *cli,
			const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(cli->servers, "--servers", de, V_SERVERS);
	struct stat st;

	if (cli->servers && !*cli->servers)
		return source_error(&src, "empty (expected a catalog file)", err, errlen);
	if (!src.value || !*src.value)
		return 0;
	if (stat(src.value, &st) < 0)
		return source_error(&src, strerror(errno), err, errlen);
	if (S_ISDIR(st.st_mode))
		return source_error(&src, "is a directory (expected a catalog file)", err, errlen);
	return dup_into(&cfg->servers_path, src.value, err, errlen);
}

/* Checks "NAME[,NAME]..." where every NAME is [A-Za-z_][A-Za-z0-9_]*. */
static bool valid_name_list(const char *s)
{
	for (;;) {
		if (!is_name_start((unsigned char)*s))
			return false;
		while (is_name_char((unsigned char)*s))
			s++;
		if (*s == '\0')
			return true;
		if (*s++ != ',')
			return false;
	}
}

static int load_child_env(struct config *cfg, const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(NULL, NULL, de, V_CHILD_ENV);

	if (!src.value || !*src.value)
		return 0;
	if (!valid_name_list(src.value))
		return source_error(&src, "expected comma-separated variable names "
				    "like FOO,BAR_BAZ", err, errlen);
	return dup_into(&cfg->child_env, src.value, err, errlen);
}

/* HOST:PORT, resolved here so that a typo stops start-up rather than the first scrape. */
static int load_metrics_listen(struct config *cfg, const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(NULL, NULL, de, V_METRICS_LISTEN);
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char why[256];

	if (!src.value || !*src.value)
		return 0;
	if (metrics_http_resolve(src.value, &addr, &addrlen, why, sizeof(why)) < 0)
		return source_error(&src, why, err, errlen);
	return dup_into(&cfg->metrics_listen, src.value, err, errlen);
}

static int load_log_format(struct config *cfg, const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(NULL, NULL, de, V_LOG_FORMAT);
	int format;

	if (!src.value || !*src.value)
		return 0;
	if ((format = log_format_parse(src.value)) < 0)
		return source_error(&src, "unknown format (expected text or json)", err, errlen);
	cfg->log_format = format;
	return 0;
}

/* A path (opened for appending at start-up) or "-" (stderr). */
static int load_access_log(struct config *cfg, const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(NULL, NULL, de, V_ACCESS_LOG);
	struct stat st;

	if (!src.value || !*src.value)
		return 0;
	if (strcmp(src.value, "-") != 0 && stat(src.value, &st) == 0 && S_ISDIR(st.st_mode))
		return source_error(&src, "is a directory (expected a file to append to, or - for "
				    "stderr)", err, errlen);
	return dup_into(&cfg->access_log, src.value, err, errlen);
}

/* The values of MCPPOOL_SERVER_STDIO and MCPPOOL_SERVER_STDERR, indexed by their enums. */
static const char *const server_stdio_names[] = { "pipes", "socket", NULL };
static const char *const server_stderr_names[] = { "log", "inherit", "discard", NULL };

/* A variable whose value is one of names (NULL-terminated): *out is its index; unset, unchanged. */
static int load_choice(enum var_id id, const char *const names[], const char *expected,
		       int *out, const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(NULL, NULL, de, id);
	char why[96];

	if (!src.value || !*src.value)
		return 0;
	for (int i = 0; names[i]; i++)
		if (strcmp(src.value, names[i]) == 0) {
			*out = i;
			return 0;
		}
	snprintf(why, sizeof(why), "unknown value (expected %s)", expected);
	return source_error(&src, why, err, errlen);
}

/* ---- admin access: MCPPOOL_ADMIN_GROUP and MCPPOOL_ADMIN_TOKEN_FILE ------------ */

#define ADMIN_TOKEN_MIN 16     /* bytes: shorter tokens are guessable */
#define ADMIN_TOKEN_FILE_MAX 4096

static int load_admin_group(struct config *cfg, const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(NULL, NULL, de, V_ADMIN_GROUP);
	struct group *gr;

	if (!src.value || !*src.value)
		return 0;
	if (!(gr = getgrnam(src.value)))
		return source_error(&src, "no such group", err, errlen);
	cfg->admin_gid = gr->gr_gid;
	return dup_into(&cfg->admin_group, src.value, err, errlen);
}

/* The token is the file's first line, without its line end and surrounding blanks. */
static int load_admin_token(struct config *cfg, const struct dotenv *de, char *err, size_t errlen)
{
	struct source src = pick(NULL, NULL, de, V_ADMIN_TOKEN_FILE);
	char why[300], *buf, *tok, *end;
	size_t len = 0;
	struct stat st = { 0 };
	int r = 0;

	if (!src.value || !*src.value)
		return 0;
	if (stat(src.value, &st) == 0 && S_ISDIR(st.st_mode))
		return source_error(&src, "is a directory (expected a file holding the token)", err,
				    errlen);
	if (!(buf = readfile_bounded(src.value, ADMIN_TOKEN_FILE_MAX, &len, why, sizeof(why))))
		return source_error(&src, why, err, errlen);
	tok = buf + strspn(buf, " \t");
	end = tok + strcspn(tok, "\r\n");
	while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((size_t)(end - tok) < ADMIN_TOKEN_MIN) {
		snprintf(why, sizeof(why), "the token on its first line is %s (at least %d "
			 "characters; make one with: head -c 32 /dev/urandom | base64)",
			 end == tok ? "empty" : "too short", ADMIN_TOKEN_MIN);
		r = source_error(&src, why, err, errlen);
	} else if (!(cfg->admin_token = strndup(tok, (size_t)(end - tok))) ||
		   dup_into(&cfg->admin_token_file, src.value, err, errlen) < 0) {
		snprintf(err, errlen, "out of memory");
		r = -1;
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_warn("%s=\"%s\": the file is readable by others than its owner (mode %03o): "
			 "chmod 600 it", var_names[V_ADMIN_TOKEN_FILE], src.value,
			 (unsigned)(st.st_mode & 0777));
	}
	sodium_memzero(buf, len);
	free(buf);
	return r;
}

int config_load(struct config *cfg, const struct config_cli *cli, char *err, size_t errlen)
{
	static const struct config_cli no_cli;
	struct dotenv de = { { NULL } };
	int r;

	if (!cli)
		cli = &no_cli;
	config_defaults(cfg);
	r = dotenv_load(cli->env_file, &de, err, errlen);
	if (r == 0)
		r = load_numbers(cfg, &de, err, errlen);
	if (r == 0)
		r = check_relations(cfg, err, errlen);
	if (r == 0)
		r = load_log_level(cfg, cli, &de, err, errlen);
	if (r == 0)
		r = load_socket(cfg, cli, &de, err, errlen);
	if (r == 0)
		r = load_socket_group(cfg, &de, err, errlen);
	if (r == 0)
		r = load_servers(cfg, cli, &de, err, errlen);
	if (r == 0)
		r = load_child_env(cfg, &de, err, errlen);
	if (r == 0)
		r = load_metrics_listen(cfg, &de, err, errlen);
	if (r == 0)
		r = load_log_format(cfg, &de, err, errlen);
	if (r == 0)
		r = load_access_log(cfg, &de, err, errlen);
	if (r == 0)
		r = load_choice(V_SERVER_STDIO, server_stdio_names, "pipes or socket",
				&cfg->server_stdio, &de, err, errlen);
	if (r == 0)
		r = load_choice(V_SERVER_STDERR, server_stderr_names, "log, inherit or discard",
				&cfg->server_stderr, &de, err, errlen);
	if (r == 0)
		r = load_admin_group(cfg, &de, err, errlen);
	if (r == 0)
		r = load_admin_token(cfg, &de, err, errlen);
	if (r == 0 && de.unknown) { /* warned of by config_warn_unknown() */
		cfg->dotenv_unknown = de.unknown;
		cfg->dotenv_unknown_len = de.unknown_len;
		de.unknown = NULL;
		if (!(cfg->dotenv_path = strdup(cli->env_file ? cli->env_file : DEFAULT_DOTENV)))
			r = -1, snprintf(err, errlen, "out of memory");
	}
	dotenv_free(&de);
	if (r < 0)
		config_free(cfg);
	return r;
}

void config_warn_unknown(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->dotenv_unknown_len; i += strlen(cfg->dotenv_unknown + i) + 1)
		confcheck_variable(cfg->dotenv_unknown + i, cfg->dotenv_path);
}

bool config_var_ms(const struct config *cfg, size_t i, uint64_t *ms)
{
	if (i >= V_NUMERIC_COUNT || strcmp(num_vars[i].unit, "milliseconds") != 0)
		return false;
	*ms = get_num(cfg, &num_vars[i]);
	return true;
}

/* True when s can be written unquoted and read back unchanged. */
static bool plain_value(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_./:@%+,-", *s))
			return false;
	return true;
}

static void print_value(FILE *out, const char *name, const char *value)
{
	if (!value)
		value = "";
	if (plain_value(value)) {
		fprintf(out, "%s=%s\n", name, value);
		return;
	}
	fprintf(out, "%s=\"", name);
	for (; *value; value++) {
		if (*value == '\n')
			fputs("\\n", out);
		else if (*value == '"' || *value == '\\')
			fprintf(out, "\\%c", *value);
		else
			fputc(*value, out);
	}
	fputs("\"\n", out);
}

void config_print(const struct config *cfg, FILE *out)
{
	static const char *const level_names[] = { "error", "warn", "info", "debug" };
	int level = cfg->log_level;

	for (int i = 0; i < V_NUMERIC_COUNT; i++)
		fprintf(out, "%s=%llu\n", var_names[i],
			(unsigned long long)get_num(cfg, &num_vars[i]));
	if (level < LOG_ERROR || level > LOG_DEBUG)
		level = LOG_INFO;
	fprintf(out, "%s=%s\n", var_names[V_LOG_LEVEL], level_names[level]);
	print_value(out, var_names[V_SOCKET], cfg->socket_path);
	print_value(out, var_names[V_SOCKET_GROUP], cfg->socket_group);
	print_value(out, var_names[V_SERVERS], cfg->servers_path);
	print_value(out, var_names[V_CHILD_ENV], cfg->child_env);
	print_value(out, var_names[V_METRICS_LISTEN], cfg->metrics_listen);
	fprintf(out, "%s=%s\n", var_names[V_LOG_FORMAT],
		cfg->log_format == LOG_FORMAT_JSON ? "json" : "text");
	print_value(out, var_names[V_ACCESS_LOG], cfg->access_log);
	fprintf(out, "%s=%s\n", var_names[V_SERVER_STDIO], server_stdio_names[cfg->server_stdio]);
	fprintf(out, "%s=%s\n", var_names[V_SERVER_STDERR], server_stderr_names[cfg->server_stderr]);
	print_value(out, var_names[V_ADMIN_GROUP], cfg->admin_group);
	print_value(out, var_names[V_ADMIN_TOKEN_FILE], cfg->admin_token_file);
}
