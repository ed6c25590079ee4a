/* mcpctl: the command-line client of mcppoold, a thin layer over libmcppool (see mcpctl(1)). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bridge.h"
#include "dotenv.h"
#include "top.h"
#include "elicit.h"
#include "mcppool.h"
#include "mpjson.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_ERROR 1        /* the daemon or the MCP server reported an error */
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_UNREACHABLE 69 /* EX_UNAVAILABLE: the daemon cannot be reached */
#define CTL_CONTINUE -1         /* ctl_parse: arguments are fine, go on */

#define CTL_MAX_ARGS 4
#define CTL_AUTH_FILE_MAX (1024 * 1024)
#define CTL_MAX_URIS 256 /* the daemon's limit for one listen */
/* The daemon answers UPSTREAM_TIMEOUT at --timeout; our own timeout only guards a stuck daemon. */
#define CTL_TIMEOUT_GRACE_MS 5000u

enum ctl_cmd {
	CTL_POOL_STATUS,
	CTL_CLEANUP,
	CTL_CALL,
	CTL_REQUEST,
	CTL_TOOLS,
	CTL_SERVERS,
	CTL_EVICT,
	CTL_WARM,
	CTL_METRICS,
	CTL_BRIDGE,
	CTL_LISTEN,
	CTL_TOP,
	CTL_RELOAD,
};

struct ctl_command {
	const char *name;
	enum ctl_cmd id;
	int min_args, max_args;
	bool mcp_op;   /* an MCP op: takes -a/--auth-file and sends --timeout as its deadline */
	const char *args;
	const char *summary;
};

static const struct ctl_command ctl_commands[] = {
	{ "pool-status", CTL_POOL_STATUS, 0, 0, false, "", "show the pool (connections, counts, limits)" },
	{ "cleanup", CTL_CLEANUP, 0, 0, false, "", "close connections idle past CONNECTION_TIMEOUT" },
	{ "call", CTL_CALL, 3, 4, true, "USER MCP TOOL [ARGS_JSON]", "call a tool (tools/call)" },
	{ "request", CTL_REQUEST, 3, 4, true, "USER MCP METHOD [PARAMS_JSON]", "send any MCP request" },
	{ "tools", CTL_TOOLS, 2, 2, true, "USER MCP", "list the tools of a server (tools/list)" },
	{ "servers", CTL_SERVERS, 0, 0, false, "", "list the catalog: names and transports, no secrets" },
	{ "evict", CTL_EVICT, 1, 2, false, "USER [MCP]", "close a user's connections now" },
	{ "warm", CTL_WARM, 2, 2, true, "USER MCP", "open a connection ahead of use" },
	{ "metrics", CTL_METRICS, 0, 0, false, "", "print the Prometheus text exposition" },
	{ "bridge", CTL_BRIDGE, 2, 2, true, "USER MCP", "a stdio MCP server in front of the pool" },
	{ "listen", CTL_LISTEN, 2, 2, true, "USER MCP", "print the server's change notifications" },
	{ "top", CTL_TOP, 0, 0, false, "[--once]", "a live view of the pool, each second (q quits)" },
	{ "reload", CTL_RELOAD, 0, 0, false, "", "reload the daemon's .env file and catalog (as SIGHUP)" },
};

#define CTL_NCOMMANDS (sizeof ctl_commands / sizeof ctl_commands[0])

/* The parsed command line. Auth values point into argv or auth_buf, so they can be wiped. */
struct ctl_opts {
	const char *socket;
	bool pretty, help, version;
	bool progress;           /* --progress: every event as a JSON line on stderr */
	const char *log_level;   /* --log-level: what a modern server is asked to log; NULL: none given */
	bool once;               /* top --once: one frame */
	enum elicit_mode elicit; /* --elicit; ELICIT_NONE: none given */
	unsigned int timeout_ms; /* 0: none given */
	const char *cursor;
	const char *auth_file;
	const char *token_file;  /* --token-file: the admin token on its first line */
	char *token;             /* the admin token (--token-file, else MCPPOOL_ADMIN_TOKEN): wiped */
	mcppool_auth_pair *auth; /* keys are malloc'd, values are not */
	size_t nauth;
	char *auth_buf;          /* the auth file's contents */
	size_t auth_buf_len;
	const struct ctl_command *cmd;
	const char *args[CTL_MAX_ARGS];
	int nargs;
	const char *uris[CTL_MAX_URIS]; /* listen --uri, pointing into argv */
	size_t nuris;
};

/* ---- usage --------------------------------------------------------------- */

static void ctl_usage(FILE *f)
{
	fputs("usage: mcpctl [-s PATH] [--pretty] [--timeout MS] COMMAND [ARGS]...\n\ncommands:\n",
	      f);
	for (size_t i = 0; i < CTL_NCOMMANDS; i++)
		fprintf(f, "  %-12s %-30s %s\n", ctl_commands[i].name, ctl_commands[i].args,
			ctl_commands[i].summary);
	fputs("\noptions (before or after the command):\n"
	      "  -s, --socket PATH     the daemon's socket (default: $MCPPOOL_SOCKET, then\n"
	      "                        $XDG_RUNTIME_DIR/mcppool.sock, then /tmp/mcppool-UID.sock)\n"
	      "  -p, --pretty          indent the JSON output\n"
	      "  -t, --timeout MS      the request's deadline in milliseconds\n"
	      "  -a, --auth KEY=VALUE  an auth value (repeatable; call, request, tools, warm)\n"
	      "      --auth-file FILE  auth values, in .env syntax (KEY=VALUE, quotes, # comments)\n"
	      "      --cursor CURSOR   tools: the page to list\n"
	      "      --progress        call, request: each event as a JSON line on stderr\n"
	      "      --log-level LEVEL call, request: the least severe log message a\n"
	      "                        2026-07-28 server is asked for (default info)\n"
	      "      --elicit HOW      call, request: answer an input_required result's forms\n"
	      "                        with their defaults, decline or cancel, and retry\n"
	      "      --uri URI         listen: subscribe to a resource (repeatable)\n"
	      "      --once            top: print one frame and exit\n"
	      "      --token-file FILE the admin token (first line; else $MCPPOOL_ADMIN_TOKEN):\n"
	      "                        admin commands for a user not in MCPPOOL_ADMIN_GROUP\n"
	      "  -h, --help            this text; `mcpctl COMMAND --help` for one command\n"
	      "  -V, --version         print the version\n"
	      "\nstdout is JSON: {\"success\":true,\"data\":...} or {\"success\":false,\"error\":{...}}.\n"
	      "Exit status: 0 success, 1 error from the daemon or MCP server, 2 usage,\n"
	      "69 daemon unreachable.\n", f);
}

static void ctl_command_usage(const struct ctl_command *cmd, FILE *f)
{
	fprintf(f, "usage: mcpctl [-s PATH] [--pretty] [--timeout MS] %s%s%s%s\n  %s\n",
		cmd->name, *cmd->args ? " " : "", cmd->args,
		cmd->mcp_op ? " [-a KEY=VALUE]... [--auth-file FILE]" : "", cmd->summary);
	if (cmd->id == CTL_TOOLS)
		fputs("  --cursor CURSOR lists the page after CURSOR (nextCursor of a result).\n", f);
	if (cmd->id == CTL_CALL || cmd->id == CTL_REQUEST)
		fputs("  The JSON argument, when given, must be an object.\n"
		      "  Progress shows as a bar when stderr is a terminal; --progress prints each\n"
		      "  event as a JSON line on stderr instead. Log messages go to stderr;\n"
		      "  --log-level LEVEL asks a 2026-07-28 server for those at LEVEL and above\n"
		      "  (debug, info, notice, warning, error, critical, alert, emergency;\n"
		      "  default info).\n"
		      "  An input_required result (the server needs answers) is printed as the\n"
		      "  data, or, when stdin and stderr are a terminal, its form questions are\n"
		      "  asked there and the call is retried. --elicit defaults|decline|cancel\n"
		      "  answers every form that way instead (roots/list: no roots) and retries,\n"
		      "  up to 16 rounds.\n", f);
	if (cmd->id == CTL_LISTEN)
		fputs("  --uri URI subscribes to a resource (repeatable). Prints each change\n"
		      "  notification as a JSON line {\"method\",\"params\"} until SIGINT or SIGTERM\n"
		      "  (exit 0), or the error when the connection ends (exit 1).\n", f);
	if (cmd->id == CTL_BRIDGE)
		fputs("\n  Speaks MCP on stdin/stdout (newline-delimited JSON-RPC) for an MCP host,\n"
		      "  in front of USER's pooled connection to MCP; logs go to stderr. Answers\n"
		      "  initialize and server/discover from the pooled server's own description,\n"
		      "  and ping; forwards every other request (--timeout is each one's deadline),\n"
		      "  relays progress and log messages as notifications and the host's\n"
		      "  notifications/cancelled as a cancel. An input_required result goes to\n"
		      "  the host as it is, or, for a legacy host that declared elicitation\n"
		      "  (sampling, roots), as requests to the host whose answers the bridge\n"
		      "  retries with. Exits 0 at the end of stdin; the\n"
		      "  pooled server stays warm for the next bridge. Host configuration:\n"
		      "    {\"command\": \"mcpctl\", \"args\": [\"bridge\", \"alice\", \"github\",\n"
		      "                \"--auth-file\", \"/run/alice.auth\"]}\n", f);
}

__attribute__((format(printf, 2, 3)))
static int ctl_usage_error(FILE *errf, const char *fmt, ...)
{
	va_list ap;

	fputs("mcpctl: ", errf);
	va_start(ap, fmt);
	vfprintf(errf, fmt, ap);
	va_end(ap);
	fputs("\nTry 'mcpctl --help'.\n", errf);
	return CTL_EXIT_USAGE;
}

/* ---- parsing ------------------------------------------------------------- */

static const struct ctl_command *ctl_find_command(const char *name)
{
	for (size_t i = 0; i < CTL_NCOMMANDS; i++)
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	return NULL;
}

/* Adds one auth pair; value stays where it is (argv or the file buffer). Returns 0 or -1. */
static int ctl_add_auth(struct ctl_opts *o, const char *key, size_t key_len, const char *value)
{
	mcppool_auth_pair *grown = realloc(o->auth, (o->nauth + 1) * sizeof *grown);
	char *k;

	if (!grown)
		return -1;
	o->auth = grown;
	k = strndup(key, key_len);
	if (!k)
		return -1;
	o->auth[o->nauth].key = k;
	o->auth[o->nauth].value = value;
	o->nauth++;
	return 0;
}

/* -a KEY=VALUE. Returns CTL_CONTINUE or an exit status. */
static int ctl_parse_auth(struct ctl_opts *o, const char *arg, FILE *errf)
{
	const char *eq = strchr(arg, '=');

	/* The argument is not echoed: it may well be a secret typed without its key. */
	if (!eq || eq == arg)
		return ctl_usage_error(errf, "-a expects KEY=VALUE with a non-empty KEY");
	if (ctl_add_auth(o, arg, (size_t)(eq - arg), eq + 1) < 0)
		return ctl_usage_error(errf, "out of memory");
	return CTL_CONTINUE;
}

static int ctl_parse_timeout(struct ctl_opts *o, const char *arg, FILE *errf)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v <= 0 || v > INT_MAX)
		return ctl_usage_error(errf, "--timeout expects milliseconds from 1 to %d, got '%s'",
				       INT_MAX, arg);
	o->timeout_ms = (unsigned int)v;
	return CTL_CONTINUE;
}

/* --log-level: one of MCP's eight log levels (the daemon would refuse another). */
static int ctl_parse_log_level(struct ctl_opts *o, const char *arg, FILE *errf)
{
	static const char *const levels[] = { "debug", "info", "notice", "warning", "error",
					       "critical", "alert", "emergency" };

	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		if (strcmp(arg, levels[i]) == 0) {
			o->log_level = levels[i];
			return CTL_CONTINUE;
		}
	}
	return ctl_usage_error(errf, "--log-level expects debug, info, notice, warning, error, "
			       "critical, alert or emergency, got '%s'", arg);
}

static const struct option ctl_long_options[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "pretty", no_argument, NULL, 'p' },
	{ "timeout", required_argument, NULL, 't' },
	{ "auth", required_argument, NULL, 'a' },
	{ "auth-file", required_argument, NULL, 'F' },
	{ "token-file", required_argument, NULL, 'K' },
	{ "cursor", required_argument, NULL, 'C' },
	{ "progress", no_argument, NULL, 'P' },
	{ "log-level", required_argument, NULL, 'L' },
	{ "elicit", required_argument, NULL, 'E' },
	{ "uri", required_argument, NULL, 'U' },
	{ "once", no_argument, NULL, 'O' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* One option. Returns CTL_CONTINUE or an exit status. */
static int ctl_parse_option(struct ctl_opts *o, int ch, const char *arg, const char *word,
			    FILE *errf)
{
	switch (ch) {
	case 's':
		o->socket = arg;
		return CTL_CONTINUE;
	case 'p':
		o->pretty = true;
		return CTL_CONTINUE;
	case 't':
		return ctl_parse_timeout(o, arg, errf);
	case 'a':
		return ctl_parse_auth(o, arg, errf);
	case 'F':
		o->auth_file = arg;
		return CTL_CONTINUE;
	case 'K':
		o->token_file = arg;
		return CTL_CONTINUE;
	case 'C':
		o->cursor = arg;
		return CTL_CONTINUE;
	case 'P':
		o->progress = true;
		return CTL_CONTINUE;
	case 'L':
		return ctl_parse_log_level(o, arg, errf);
	case 'E':
		if (elicit_mode_parse(arg) < 0)
			return ctl_usage_error(errf, "--elicit expects defaults, decline or cancel, "
					       "got '%s'", arg);
		o->elicit = (enum elicit_mode)elicit_mode_parse(arg);
		return CTL_CONTINUE;
	case 'U':
		if (o->nuris == CTL_MAX_URIS)
			return ctl_usage_error(errf, "at most %d --uri", CTL_MAX_URIS);
		o->uris[o->nuris++] = arg;
		return CTL_CONTINUE;
	case 'O':
		o->once = true;
		return CTL_CONTINUE;
	case 'h':
		o->help = true;
		return CTL_CONTINUE;
	case 'V':
		o->version = true;
		return CTL_CONTINUE;
	case ':':
		return ctl_usage_error(errf, "option '%s' needs a value", word);
	default:
		return ctl_usage_error(errf, "unknown option '%s'", word);
	}
}

/* Options anywhere (GNU permutation); leaves the positional words in argv[optind..]. */
static int ctl_parse_options(struct ctl_opts *o, int argc, char **argv, FILE *errf)
{
	int ch, rc;

	opterr = 0;
	optind = 0; /* GNU: a full re-initialization, so parsing can run more than once */
	while ((ch = getopt_long(argc, argv, ":s:pt:a:hV", ctl_long_options, NULL)) != -1) {
		const char *word = argv[optind - 1];

		/* For "-xVALUE" forms optind has moved past; report the option itself. */
		if (ch == '?' && optopt && optopt != '?')
			word = (char[]){ '-', (char)optopt, 0 };
		rc = ctl_parse_option(o, ch, optarg, word, errf);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	return CTL_CONTINUE;
}

/* The command and its positional arguments. */
static int ctl_parse_command(struct ctl_opts *o, int nwords, char **words, FILE *errf)
{
	if (nwords == 0)
		return o->help ? CTL_CONTINUE : ctl_usage_error(errf, "no command given");
	o->cmd = ctl_find_command(words[0]);
	if (!o->cmd)
		return ctl_usage_error(errf, "unknown command '%s'", words[0]);
	if (o->help)
		return CTL_CONTINUE;
	o->nargs = nwords - 1;
	if (o->nargs < o->cmd->min_args || o->nargs > o->cmd->max_args)
		return ctl_usage_error(errf, "usage: mcpctl %s %s", o->cmd->name, o->cmd->args);
	for (int i = 0; i < o->nargs; i++)
		o->args[i] = words[i + 1];
	return CTL_CONTINUE;
}

/* ARGS_JSON / PARAMS_JSON must be a JSON object; a bad one is a usage error. */
static int ctl_check_json(const char *text, const char *what, FILE *errf)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
	bool object = json_is_object(j);

	json_decref(j);
	if (!j)
		return ctl_usage_error(errf, "%s is not valid JSON: %s (line %d, column %d, "
				       "position %d)", what, je.text, je.line, je.column, je.position);
	if (!object)
		return ctl_usage_error(errf, "%s must be a JSON object", what);
	return CTL_CONTINUE;
}

/*
 * One line of the auth file, NUL-terminated, parsed in place by the .env
 * parser mcppoold uses (quotes, comments, export, blanks around '=').
 * Returns CTL_CONTINUE or an exit status.
 */
static int ctl_auth_line(struct ctl_opts *o, char *line, int lineno, FILE *errf)
{
	size_t len = strlen(line);
	const char *why = NULL;
	char *key, *value;
	int r;

	if (len && line[len - 1] == '\r')
		line[len - 1] = 0;
	r = dotenv_line(line, DOTENV_KEY_AUTH, &key, &value, &why);
	if (r < 0)
		return ctl_usage_error(errf, "%s:%d: expected KEY=VALUE (%s)", o->auth_file, lineno,
				       why);
	if (r == 0)
		return CTL_CONTINUE;
	if (ctl_add_auth(o, key, strlen(key), value) < 0)
		return ctl_usage_error(errf, "out of memory");
	return CTL_CONTINUE;
}

static int ctl_read_auth_file(struct ctl_opts *o, FILE *errf)
{
	FILE *f;
	char *line, *next;
	int lineno = 0, rc = CTL_CONTINUE;
	struct stat st;

	/* fopen() opens a directory, and reading it gives nothing: no auth, in silence. */
	if (stat(o->auth_file, &st) == 0 && S_ISDIR(st.st_mode))
		return ctl_usage_error(errf, "--auth-file %s is a directory (expected a file of "
				       "KEY=VALUE lines)", o->auth_file);
	if (!(f = fopen(o->auth_file, "r")))
		return ctl_usage_error(errf, "cannot open %s: %s", o->auth_file, strerror(errno));
	o->auth_buf = calloc(1, CTL_AUTH_FILE_MAX + 1);
	if (o->auth_buf)
		o->auth_buf_len = fread(o->auth_buf, 1, CTL_AUTH_FILE_MAX + 1, f);
	fclose(f);
	if (!o->auth_buf || o->auth_buf_len > CTL_AUTH_FILE_MAX)
		return ctl_usage_error(errf, "%s: larger than %d bytes", o->auth_file,
				       CTL_AUTH_FILE_MAX);
	o->auth_buf[o->auth_buf_len] = 0;
	for (line = o->auth_buf; line && rc == CTL_CONTINUE; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		rc = ctl_auth_line(o, line, ++lineno, errf);
	}
	return rc;
}

/*
 * The admin token: the first line of --token-file (blanks around it dropped),
 * else $MCPPOOL_ADMIN_TOKEN; none is fine (admin ops then need our uid or group).
 */
static int ctl_read_token(struct ctl_opts *o, FILE *errf)
{
	const char *env = getenv("MCPPOOL_ADMIN_TOKEN");
	char line[4096], *t, *end;
	FILE *f;

	if (!o->token_file) {
		if (env && *env && !(o->token = strdup(env)))
			return ctl_usage_error(errf, "out of memory");
		return CTL_CONTINUE;
	}
	if (!(f = fopen(o->token_file, "r")))
		return ctl_usage_error(errf, "--token-file: cannot open %s: %s", o->token_file,
				       strerror(errno));
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	t = line + strspn(line, " \t");
	end = t + strcspn(t, "\r\n");
	while (end > t && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	if (!*t) {
		explicit_bzero(line, sizeof(line));
		return ctl_usage_error(errf, "--token-file: %s has no token on its first line",
				       o->token_file);
	}
	o->token = strdup(t);
	explicit_bzero(line, sizeof(line));
	return o->token ? CTL_CONTINUE : ctl_usage_error(errf, "out of memory");
}

/* Checks what depends on the command: auth, cursor, the JSON argument, duplicate keys. */
static int ctl_check(struct ctl_opts *o, FILE *errf)
{
	int rc;

	if (!o->cmd->mcp_op && (o->nauth || o->auth_file))
		return ctl_usage_error(errf, "'%s' takes no auth values", o->cmd->name);
	if (o->cursor && o->cmd->id != CTL_TOOLS)
		return ctl_usage_error(errf, "--cursor applies to 'tools' only");
	if (o->progress && o->cmd->id != CTL_CALL && o->cmd->id != CTL_REQUEST)
		return ctl_usage_error(errf, "--progress applies to 'call' and 'request' only");
	if (o->log_level && o->cmd->id != CTL_CALL && o->cmd->id != CTL_REQUEST)
		return ctl_usage_error(errf, "--log-level applies to 'call' and 'request' only");
	if (o->elicit && o->cmd->id != CTL_CALL && o->cmd->id != CTL_REQUEST)
		return ctl_usage_error(errf, "--elicit applies to 'call' and 'request' only");
	if (o->nuris && o->cmd->id != CTL_LISTEN)
		return ctl_usage_error(errf, "--uri applies to 'listen' only");
	if (o->once && o->cmd->id != CTL_TOP)
		return ctl_usage_error(errf, "--once applies to 'top' only");
	if (o->nargs == 4) {
		rc = ctl_check_json(o->args[3], o->cmd->id == CTL_CALL ? "ARGS_JSON" : "PARAMS_JSON",
				    errf);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	if (o->auth_file && (rc = ctl_read_auth_file(o, errf)) != CTL_CONTINUE)
		return rc;
	if ((rc = ctl_read_token(o, errf)) != CTL_CONTINUE)
		return rc;
	for (size_t i = 0; i < o->nauth; i++)
		for (size_t j = i + 1; j < o->nauth; j++)
			if (strcmp(o->auth[i].key, o->auth[j].key) == 0)
				return ctl_usage_error(errf, "auth key '%s' given twice",
						       o->auth[i].key);
	return CTL_CONTINUE;
}

/*
 * Parses the command line into *o (which the caller frees with ctl_opts_free).
 * Returns CTL_CONTINUE when there is a command to run, or an exit status after
 * printing help or version (0, to out) or a usage error (2, to errf).
 */
static int ctl_parse(struct ctl_opts *o, int argc, char **argv, FILE *out, FILE *errf)
{
	int rc;

	memset(o, 0, sizeof *o);
	rc = ctl_parse_options(o, argc, argv, errf);
	if (rc != CTL_CONTINUE)
		return rc;
	if (o->version) {
		fprintf(out, "mcpctl %s (libmcppool %s)\n", MCPPOOL_VERSION, mcppool_version());
		return CTL_EXIT_OK;
	}
	rc = ctl_parse_command(o, argc - optind, argv + optind, errf);
	if (rc != CTL_CONTINUE)
		return rc;
	if (o->help) {
		if (o->cmd)
			ctl_command_usage(o->cmd, out);
		else
			ctl_usage(out);
		return CTL_EXIT_OK;
	}
	return ctl_check(o, errf);
}

/* Overwrites every auth value where it lives (argv, the file buffer). */
static void ctl_wipe_secrets(struct ctl_opts *o)
{
	for (size_t i = 0; i < o->nauth; i++)
		explicit_bzero((char *)o->auth[i].value, strlen(o->auth[i].value));
	if (o->auth_buf)
		explicit_bzero(o->auth_buf, o->auth_buf_len);
	if (o->token)
		explicit_bzero(o->token, strlen(o->token));
}

static void ctl_opts_free(struct ctl_opts *o)
{
	ctl_wipe_secrets(o);
	for (size_t i = 0; i < o->nauth; i++)
		free((char *)o->auth[i].key);
	free(o->auth);
	free(o->auth_buf);
	free(o->token);
	memset(o, 0, sizeof *o);
}

/* ---- events --------------------------------------------------------------- */

static json_t *ctl_value_json(const msgpack_object *v);

#define CTL_BAR_WIDTH 30

/* How call and request show their events on stderr. */
struct ctl_events {
	FILE *errf;
	bool json;      /* --progress: each event as one JSON line */
	bool bar;       /* stderr is a terminal: progress as a bar redrawn in place */
	bool bar_shown; /* the bar is on the current line */
};

static double ctl_number(const msgpack_object *o, double otherwise)
{
	if (!o)
		return otherwise;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (double)o->via.u64;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return (double)o->via.i64;
	if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
		return o->via.f64;
	return otherwise;
}

static void ctl_bar_clear(struct ctl_events *e)
{
	if (e->bar_shown)
		fputs("\r\033[K", e->errf);
	e->bar_shown = false;
}

/* [#########.....] 3/10 message, on one line rewritten in place. */
static void ctl_bar_draw(struct ctl_events *e, const msgpack_object *params)
{
	double done = ctl_number(mcppool_map_get(params, "progress"), 0);
	double total = ctl_number(mcppool_map_get(params, "total"), -1);
	const msgpack_object *msg = mcppool_map_get(params, "message");
	int fill = total > 0 ? (int)(CTL_BAR_WIDTH * (done > total ? 1 : done / total)) : 0;

	fputs("\r\033[K", e->errf);
	if (total > 0) {
		fputc('[', e->errf);
		for (int i = 0; i < CTL_BAR_WIDTH; i++)
			fputc(i < fill ? '#' : '.', e->errf);
		fprintf(e->errf, "] %g/%g", done, total);
	} else {
		fprintf(e->errf, "%g", done);
	}
	if (msg && msg->type == MSGPACK_OBJECT_STR)
		fprintf(e->errf, " %.*s", (int)(msg->via.str.size > 200 ? 200 : msg->via.str.size),
			msg->via.str.ptr);
	e->bar_shown = true;
}

/* A log message as "level logger: data" (data as JSON unless it is a string). */
static void ctl_print_message(struct ctl_events *e, const msgpack_object *params)
{
	const msgpack_object *level = mcppool_map_get(params, "level");
	const msgpack_object *logger = mcppool_map_get(params, "logger");
	const msgpack_object *data = mcppool_map_get(params, "data");
	char *text = NULL;

	ctl_bar_clear(e);
	if (level && level->type == MSGPACK_OBJECT_STR)
		fprintf(e->errf, "%.*s", (int)level->via.str.size, level->via.str.ptr);
	if (logger && logger->type == MSGPACK_OBJECT_STR)
		fprintf(e->errf, " %.*s", (int)logger->via.str.size, logger->via.str.ptr);
	if (data && data->type == MSGPACK_OBJECT_STR)
		fprintf(e->errf, ": %.*s\n", (int)data->via.str.size, data->via.str.ptr);
	else
		fprintf(e->errf, ": %s\n", (text = mcppool_value_json(data, 0)) ? text : "");
	free(text);
}

static void ctl_print_event_json(struct ctl_events *e, const char *event,
				 const msgpack_object *params)
{
	json_t *doc = json_object();

	json_object_set_new(doc, "event", json_string(event));
	json_object_set_new(doc, "params", ctl_value_json(params));
	json_dumpf(doc, e->errf, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', e->errf);
	json_decref(doc);
}

static void ctl_on_event(mcppool_conn *c, uint64_t id, const char *event,
			 const msgpack_object *params, void *arg)
{
	struct ctl_events *e = arg;

	(void)c;
	(void)id;
	if (e->json)
		ctl_print_event_json(e, event, params);
	else if (strcmp(event, "message") == 0)
		ctl_print_message(e, params);
	else if (strcmp(event, "progress") == 0 && e->bar)
		ctl_bar_draw(e, params);
	fflush(e->errf);
}

/* ---- running ------------------------------------------------------------- */

/* What a call or request sends again to answer an input_required result. */
struct ctl_retry {
	char *input_json;  /* inputResponses as JSON text; NULL: the first try */
	char *state;       /* requestState, echoed; NULL when the result had none */
	char *params_json; /* request: PARAMS_JSON with both added */
};

static void ctl_retry_free(struct ctl_retry *r)
{
	free(r->input_json);
	free(r->state);
	free(r->params_json);
	memset(r, 0, sizeof *r);
}

static int ctl_dispatch(mcppool_conn *c, const struct ctl_opts *o, struct ctl_events *ev,
			const struct ctl_retry *retry, mcppool_result **res, mcppool_error *err)
{
	mcppool_auth auth = { o->auth, o->nauth };
	const char *json = o->nargs == 4 ? o->args[3] : NULL;
	const char **a = (const char **)o->args;
	mcppool_call_opts call = { .auth = &auth, .timeout_ms = o->timeout_ms,
				   .input_responses_json = retry->input_json,
				   .request_state = retry->state, .on_event = ctl_on_event,
				   .event_arg = ev, .log_level = o->log_level };
	mcppool_call_opts request = { .auth = &auth, .timeout_ms = o->timeout_ms,
				      .on_event = ctl_on_event, .event_arg = ev,
				      .log_level = o->log_level };

	switch (o->cmd->id) {
	case CTL_POOL_STATUS:
		return mcppool_pool_status(c, res, err);
	case CTL_CLEANUP:
		return mcppool_cleanup(c, res, err);
	case CTL_CALL:
		return mcppool_call_with(c, a[0], a[1], a[2], json, &call, res, err);
	case CTL_REQUEST:
		return mcppool_request_with(c, a[0], a[1], a[2],
					    retry->params_json ? retry->params_json : json, &request,
					    res, err);
	case CTL_TOOLS:
		return mcppool_tools(c, a[0], a[1], o->cursor, &auth, o->timeout_ms, res, err);
	case CTL_SERVERS:
		return mcppool_servers(c, res, err);
	case CTL_EVICT:
		return mcppool_evict(c, a[0], o->nargs > 1 ? a[1] : NULL, res, err);
	case CTL_WARM:
		return mcppool_warm(c, a[0], a[1], &auth, o->timeout_ms, res, err);
	case CTL_METRICS:
		return mcppool_metrics(c, res, err);
	case CTL_RELOAD:
		return mcppool_reload(c, res, err);
	case CTL_BRIDGE:
	case CTL_LISTEN:
	case CTL_TOP:
		break; /* ctl_run runs them: they are no single blocking request */
	}
	return -1;
}

/* A msgpack value as a jansson value (NULL when it has no JSON form). */
/*
 * A daemon's value as jansson's, built straight from the msgpack (no JSON text
 * written and parsed again: a pool-status of 6,000 connections took 0.25 s of
 * CPU and 22 MB that way); NULL when it has no JSON form.
 */
static json_t *ctl_value_json(const msgpack_object *v)
{
	char err[160];

	return mpjson_to_json(v, err, sizeof(err));
}

static void ctl_dump(json_t *doc, bool pretty, FILE *out)
{
	size_t flags = JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(2) : JSON_COMPACT);

	json_dumpf(doc, out, flags);
	fputc('\n', out);
	json_decref(doc);
}

/* A JSON string of text; bytes that are not valid UTF-8 become '?'. */
static json_t *ctl_json_string(const char *text)
{
	json_t *j = json_string(text);
	char *copy;

	if (j || !(copy = strdup(text)))
		return j;
	for (unsigned char *p = (unsigned char *)copy; *p; p++)
		if (*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static int ctl_print_error(const mcppool_error *err, bool pretty, FILE *out)
{
	json_t *e = json_object(), *doc = json_object();

	json_object_set_new(e, "code", json_string(mcppool_code_name(err->code)));
	json_object_set_new(e, "message", ctl_json_string(err->message));
	if (err->data)
		json_object_set_new(e, "data", ctl_value_json(err->data));
	json_object_set_new(doc, "success", json_false());
	json_object_set_new(doc, "error", e);
	ctl_dump(doc, pretty, out);
	return err->code == MCPPOOL_NOT_CONNECTED ? CTL_EXIT_UNREACHABLE : CTL_EXIT_ERROR;
}

/* metrics prints the exposition itself; every other result is wrapped in {"success":true,...}. */
static int ctl_print_result(const struct ctl_opts *o, const mcppool_result *res, FILE *out)
{
	const msgpack_object *v = mcppool_result_value(res);
	const msgpack_object *text = mcppool_map_get(v, "text");
	json_t *data, *doc;

	if (o->cmd->id == CTL_METRICS && text && text->type == MSGPACK_OBJECT_STR) {
		fwrite(text->via.str.ptr, 1, text->via.str.size, out);
		if (text->via.str.size && text->via.str.ptr[text->via.str.size - 1] != '\n')
			fputc('\n', out);
		return CTL_EXIT_OK;
	}
	data = ctl_value_json(v);
	if (!data) {
		mcppool_error err = { .code = MCPPOOL_PROTOCOL,
				      .message = "the daemon's result has no JSON form" };
		return ctl_print_error(&err, o->pretty, out);
	}
	doc = json_object();
	json_object_set_new(doc, "success", json_true());
	json_object_set_new(doc, "data", data);
	ctl_dump(doc, o->pretty, out);
	return CTL_EXIT_OK;
}

static unsigned int ctl_client_timeout(const struct ctl_opts *o)
{
	if (!o->timeout_ms || !o->cmd->mcp_op)
		return o->timeout_ms;
	return o->timeout_ms + CTL_TIMEOUT_GRACE_MS;
}

/* The bridge keeps the auth values for its whole run: every request carries them. */
static int ctl_run_bridge(struct ctl_opts *o, FILE *out, FILE *errf)
{
	mcppool_auth auth = { o->auth, o->nauth };
	struct bridge_opts b = { .socket = o->socket, .user = o->args[0], .mcp = o->args[1],
				 .auth = &auth, .timeout_ms = o->timeout_ms };

	return bridge_run(&b, STDIN_FILENO, out, errf);
}

/* ---- listen -------------------------------------------------------------- */

static volatile sig_atomic_t ctl_stop;
static int ctl_stop_pipe[2] = { -1, -1 };

static void ctl_on_stop_signal(int sig)
{
	int saved = errno;

	(void)sig;
	ctl_stop = 1;
	if (write(ctl_stop_pipe[1], "x", 1) < 0) { /* the pipe is full: poll wakes anyway */ }
	errno = saved;
}

struct ctl_listen {
	FILE *out;
	bool pretty;
	bool cancelled; /* we asked for the end: CANCELLED is a clean exit */
	bool done;
	int status;
};

/* Each notification as one JSON line {method, params} on stdout. */
static void ctl_listen_event(mcppool_conn *c, uint64_t id, const char *event,
			     const msgpack_object *params, void *arg)
{
	struct ctl_listen *l = arg;
	json_t *doc;

	(void)c;
	(void)id;
	if (strcmp(event, "notification") != 0 || !(doc = ctl_value_json(params)))
		return;
	json_dumpf(doc, l->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', l->out);
	fflush(l->out);
	json_decref(doc);
}

static void ctl_listen_done(mcppool_conn *c, uint64_t id, const mcppool_result *res,
			    const mcppool_error *err, void *arg)
{
	struct ctl_listen *l = arg;

	(void)c;
	(void)id;
	(void)res;
	l->done = true;
	if (err && !(l->cancelled && err->code == MCPPOOL_CANCELLED))
		l->status = ctl_print_error(err, l->pretty, l->out);
	else
		l->status = l->cancelled ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}

/*
 * listen: prints each notification until SIGINT or SIGTERM (the listen is
 * cancelled: exit 0) or the daemon ends it (its error, exit 1).
 */
static int ctl_run_listen(struct ctl_opts *o, FILE *out)
{
	mcppool_auth auth = { o->auth, o->nauth };
	struct ctl_listen l = { .out = out, .pretty = o->pretty };
	struct sigaction sa = { .sa_handler = ctl_on_stop_signal };
	mcppool_error err;
	mcppool_conn *c;
	uint64_t id;

	if (!(c = mcppool_connect(o->socket, &err))) {
		ctl_wipe_secrets(o);
		return ctl_print_error(&err, o->pretty, out);
	}
	if (pipe2(ctl_stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		mcppool_error e = { .code = MCPPOOL_INTERNAL, .message = "pipe failed" };
		mcppool_close(c);
		ctl_wipe_secrets(o);
		return ctl_print_error(&e, o->pretty, out);
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	id = mcppool_submit_listen(c, o->args[0], o->args[1], o->uris, o->nuris, &auth,
				   ctl_listen_event, ctl_listen_done, &l);
	ctl_wipe_secrets(o); /* the submit copied them */
	if (!id)
		l.status = ctl_print_error(mcppool_conn_error(c), o->pretty, out), l.done = true;
	while (!l.done) {
		struct pollfd pf[2] = { { mcppool_fd(c), POLLIN, 0 }, { ctl_stop_pipe[0], POLLIN, 0 } };
		int want = mcppool_events(c), got = 0;
		char drain[16];

		if (ctl_stop && !l.cancelled) {
			l.cancelled = true;
			if (mcppool_cancel(c, id) < 0)
				break; /* no longer in flight: done is on its way */
			continue;
		}
		if (want & MCPPOOL_WRITE)
			pf[0].events |= POLLOUT;
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		while (read(ctl_stop_pipe[0], drain, sizeof(drain)) > 0) {
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
			got |= MCPPOOL_READ;
		if (pf[0].revents & POLLOUT)
			got |= MCPPOOL_WRITE;
		mcppool_process(c, got);
	}
	mcppool_close(c);
	close(ctl_stop_pipe[0]);
	close(ctl_stop_pipe[1]);
	return l.done ? l.status : CTL_EXIT_OK;
}

/* ---- input requests -------------------------------------------------------- */

/*
 * An input_required result mcpctl could not answer: {"success":false,"error":
 * {"code":"INPUT_REQUIRED","message":why,"data":the result}}, exit 1.
 */
static int ctl_print_unanswered(const char *why, json_t *result, bool pretty, FILE *out)
{
	json_t *doc = json_pack("{s:b,s:{s:s,s:s,s:O}}", "success", 0, "error", "code",
				"INPUT_REQUIRED", "message", why, "data",
				result ? result : json_null());

	ctl_dump(doc, pretty, out);
	return CTL_EXIT_ERROR;
}

/* PARAMS_JSON (or {}) with inputResponses and requestState set as the retry sends them. */
static char *ctl_request_params(const struct ctl_opts *o, json_t *answers, json_t *state)
{
	json_t *params = json_loads(o->nargs == 4 ? o->args[3] : "{}", 0, NULL);
	char *text;

	json_object_set(params, "inputResponses", answers);
	if (state)
		json_object_set(params, "requestState", state);
	else
		json_object_del(params, "requestState");
	text = json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(params);
	return text;
}

/*
 * Answers the input_required result as mode says and fills *retry for the next
 * round. Returns CTL_CONTINUE, or the exit status after printing why it cannot.
 */
static int ctl_answer(const struct ctl_opts *o, json_t *result, enum elicit_mode mode,
		      FILE *errf, struct ctl_retry *retry, FILE *out)
{
	struct elicit_tty tty = { .in = stdin, .out = errf };
	json_t *state = json_object_get(result, "requestState"), *answers;
	char why[512];

	if (state && !json_is_string(state))
		return ctl_print_unanswered("requestState must be a string", result, o->pretty,
					    out);
	if (!(answers = elicit_answer(result, mode, &tty, why, sizeof why)))
		return ctl_print_unanswered(why, result, o->pretty, out);
	ctl_retry_free(retry);
	retry->input_json = json_dumps(answers, JSON_COMPACT | JSON_PRESERVE_ORDER);
	retry->state = state ? strdup(json_string_value(state)) : NULL;
	if (o->cmd->id == CTL_REQUEST)
		retry->params_json = ctl_request_params(o, answers, state);
	json_decref(answers);
	if (!retry->input_json || (state && !retry->state) ||
	    (o->cmd->id == CTL_REQUEST && !retry->params_json))
		return ctl_print_unanswered("out of memory", result, o->pretty, out);
	return CTL_CONTINUE;
}

/* Without --elicit, mcpctl asks the user when it can talk to one on a terminal. */
static enum elicit_mode ctl_elicit_mode(const struct ctl_opts *o, FILE *errf)
{
	if (o->cmd->id != CTL_CALL && o->cmd->id != CTL_REQUEST)
		return ELICIT_NONE;
	if (o->elicit)
		return o->elicit;
	return isatty(STDIN_FILENO) && isatty(fileno(errf)) ? ELICIT_ASK : ELICIT_NONE;
}

/*
 * Runs the command; a call or request whose result is input_required is
 * answered as mode says and retried, up to ELICIT_MAX_ROUNDS times. Returns 0
 * with *res, -1 with *err, or an exit status (> 0) when it printed why the
 * input requests cannot be answered.
 */
static int ctl_rounds(mcppool_conn *c, const struct ctl_opts *o, struct ctl_events *ev,
		      FILE *out, mcppool_result **res, mcppool_error *err)
{
	enum elicit_mode mode = ctl_elicit_mode(o, ev->errf);
	struct ctl_retry retry = { 0 };
	int rc;

	for (int round = 0;; round++) {
		json_t *result;

		rc = ctl_dispatch(c, o, ev, &retry, res, err);
		if (rc != 0 || mode == ELICIT_NONE ||
		    !mcppool_input_required(mcppool_result_value(*res)))
			break;
		ctl_bar_clear(ev);
		result = ctl_value_json(mcppool_result_value(*res));
		if (round == ELICIT_MAX_ROUNDS)
			rc = ctl_print_unanswered("the server still asks for input after "
						  "16 rounds of answers", result, o->pretty, out);
		else
			rc = ctl_answer(o, result, mode, ev->errf, &retry, out);
		json_decref(result);
		mcppool_result_free(*res);
		*res = NULL;
		if (rc != CTL_CONTINUE)
			break;
	}
	ctl_retry_free(&retry);
	return rc;
}

/* Connects, runs the command, prints its outcome. Returns the exit status. */
static int ctl_run(struct ctl_opts *o, FILE *out, FILE *errf)
{
	struct ctl_events ev = { .errf = errf, .json = o->progress };
	mcppool_error err;
	mcppool_result *res = NULL;
	mcppool_conn *c;
	int rc = -1, status;

	if (o->cmd->id == CTL_BRIDGE)
		return ctl_run_bridge(o, out, errf);
	if (o->cmd->id == CTL_LISTEN)
		return ctl_run_listen(o, out);
	if (o->cmd->id == CTL_TOP)
		return top_run(&(struct top_opts){ .socket = o->socket, .once = o->once }, out, errf);
	ev.bar = !o->progress && isatty(fileno(errf));
	c = mcppool_connect(o->socket, &err);
	if (c) {
		mcppool_set_timeout(c, ctl_client_timeout(o));
		rc = o->token ? mcppool_admin_token(c, o->token, &err) : 0;
		if (rc == 0)
			rc = ctl_rounds(c, o, &ev, out, &res, &err);
	}
	ctl_bar_clear(&ev);
	ctl_wipe_secrets(o);
	if (rc > 0)
		status = rc;
	else
		status = rc == 0 ? ctl_print_result(o, res, out) :
				   ctl_print_error(&err, o->pretty, out);
	mcppool_result_free(res);
	mcppool_close(c);
	return status;
}

/* The whole program, with its streams as parameters so that tests can drive it. */
static int ctl_main(int argc, char **argv, FILE *out, FILE *errf)
{
	struct ctl_opts o;
	int status = ctl_parse(&o, argc, argv, out, errf);

	if (status == CTL_CONTINUE)
		status = ctl_run(&o, out, errf);
	ctl_opts_free(&o);
	fflush(out);
	return status;
}

#ifndef MCPCTL_NO_MAIN
int main(int argc, char **argv)
{
	return ctl_main(argc, argv, stdout, stderr);
}
#endif
