/* Checks of the configuration that warn rather than stop. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "catalog.h"
#include "config.h"
#include "confcheck.h"
#include "log.h"

#define PREFIX "MCPPOOL_"
#define PREFIX_LEN 8
#define NAME_CAP 128 /* longer names are nobody's misspelling of ours */

extern char **environ;

unsigned confcheck_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	unsigned d[NAME_CAP + 1][NAME_CAP + 1];

	if (n > NAME_CAP || m > NAME_CAP)
		return 255;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[n][m] > 255 ? 255 : d[n][m];
}

const char *confcheck_suggest(const char *name)
{
	const char *best = NULL, *known;
	unsigned best_d = 255;
	size_t len = strlen(name);

	if (config_var_known(name))
		return NULL;
	/* MCPPOOL_MAX_TOTAL_CONNECTIONS: the seed's names have no prefix. */
	if (strncmp(name, PREFIX, PREFIX_LEN) == 0 && config_var_known(name + PREFIX_LEN))
		for (size_t i = 0; (known = config_var_name(i)); i++)
			if (strcmp(known, name + PREFIX_LEN) == 0)
				return known;
	for (size_t i = 0; (known = config_var_name(i)); i++) {
		unsigned d = confcheck_distance(name, known);
		if (d < best_d) {
			best_d = d;
			best = known;
		}
	}
	return best_d <= (len >= 16 ? 3u : 2u) ? best : NULL;
}

int confcheck_variable(const char *name, const char *origin)
{
	const char *suggestion;

	if (config_var_known(name))
		return 0;
	suggestion = confcheck_suggest(name);
	if (suggestion) {
		log_warn("%s: unknown variable %s, ignored: did you mean %s? (mcppoold(8) lists "
			 "every variable)", origin, name, suggestion);
		return 1;
	}
	if (strncmp(name, PREFIX, PREFIX_LEN) == 0) {
		log_warn("%s: unknown variable %s, ignored (mcppoold(8) lists every variable)",
			 origin, name);
		return 1;
	}
	return 0;
}

void confcheck_environment(void)
{
	char name[NAME_CAP + 1];

	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : strlen(*e);

		if (len == 0 || len > NAME_CAP)
			continue;
		memcpy(name, *e, len);
		name[len] = '\0';
		confcheck_variable(name, "the environment");
	}
}

/* ---- the catalog's commands ------------------------------------------------- */

static bool executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The PATH a child of e gets: its "env" PATH, else the daemon's, else the default. */
static const char *child_path(const struct catalog_entry *e)
{
	const char *path;

	for (size_t i = 0; i < e->nenv; i++)
		if (strcmp(e->env[i].key, "PATH") == 0 && !strstr(e->env[i].value, "${"))
			return e->env[i].value;
	path = getenv("PATH");
	return path ? path : AUTH_DEFAULT_PATH;
}

/* True when command resolves as execvp() would resolve it for e's child. */
static bool command_resolves(const struct catalog_entry *e)
{
	const char *path = child_path(e), *dir, *end;
	char buf[PATH_MAX];

	if (strchr(e->command, '/')) {
		if (e->command[0] == '/' || !e->cwd)
			return executable_file(e->command);
		snprintf(buf, sizeof(buf), "%s/%s", e->cwd, e->command);
		return executable_file(buf);
	}
	for (dir = path;; dir = end + 1) {
		end = strchr(dir, ':');
		size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
		if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)dlen, dlen ? dir : ".", e->command) <
			    (int)sizeof(buf) &&
		    executable_file(buf))
			return true;
		if (!end)
			return false;
	}
}

/* "npx -y pkg" as the command and args it should be (the words split on spaces). */
static void args_hint(const char *command, char *buf, size_t len)
{
	const char *p = command, *w;
	size_t n = 0;
	int k = 0;

	buf[0] = '\0';
	while (*p && n < len) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		for (w = p; *p && *p != ' '; p++)
			;
		if (k++ == 0)
			n += (size_t)snprintf(buf + n, len - n, "{\"command\": \"%.*s\", \"args\": [",
					      (int)(p - w), w);
		else
			n += (size_t)snprintf(buf + n, len - n, "%s\"%.*s\"", k > 2 ? ", " : "",
					      (int)(p - w), w);
	}
	if (n < len)
		snprintf(buf + n, len - n, "]}");
}

static unsigned check_commands(const struct catalog *cat)
{
	unsigned warned = 0;
	char hint[512];

	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_entry *e = &cat->entries[i];

		if (e->transport != TRANSPORT_STDIO || command_resolves(e))
			continue;
		warned++;
		if (strchr(e->command, ' ')) {
			args_hint(e->command, hint, sizeof(hint));
			log_warn("catalog entry \"%s\": command \"%s\" is not found; it holds spaces: "
				 "put the program alone in \"command\" and each argument in \"args\": %s",
				 e->name, e->command, hint);
		} else if (strchr(e->command, '/')) {
			log_warn("catalog entry \"%s\": command \"%s\" is not an executable file "
				 "(calls will fail with UPSTREAM_START_FAILED)", e->name, e->command);
		} else {
			log_warn("catalog entry \"%s\": command \"%s\" is not found on the PATH its "
				 "server gets (%s): install it, give its full path, or set PATH in the "
				 "entry's \"env\" (calls will fail with UPSTREAM_START_FAILED)",
				 e->name, e->command, child_path(e));
		}
	}
	return warned;
}

/* ---- the socket and the milliseconds ----------------------------------------- */

static unsigned check_socket_dir(const struct config *cfg)
{
	char dir[sizeof(cfg->socket_path)];
	char *slash;
	struct stat st;

	if (getenv("LISTEN_FDS")) /* socket activation: the socket is passed, not made */
		return 0;
	snprintf(dir, sizeof(dir), "%s", cfg->socket_path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) < 0) {
		log_warn("the socket's directory %s: %s: mcppoold cannot listen on %s until it "
			 "exists (create it, or set MCPPOOL_SOCKET or -s)", dir, strerror(errno),
			 cfg->socket_path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warn("the socket's directory %s is not a directory", dir);
		return 1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		log_warn("the socket's directory %s is not writable by uid %ld: mcppoold cannot "
			 "create %s there (run it as the directory's owner, or set MCPPOOL_SOCKET)",
			 dir, (long)getuid(), cfg->socket_path);
		return 1;
	}
	return 0;
}

static unsigned check_short_ms(const struct config *cfg)
{
	unsigned warned = 0;
	const char *name;
	uint64_t ms;

	for (size_t i = 0; (name = config_var_name(i)); i++)
		if (config_var_ms(cfg, i, &ms) && ms < 1000) {
			log_warn("%s=%llu is %llu milliseconds, below one second: values are in "
				 "milliseconds (%llu seconds would be %s=%llu)", name,
				 (unsigned long long)ms, (unsigned long long)ms, (unsigned long long)ms,
				 name, (unsigned long long)ms * 1000);
			warned++;
		}
	return warned;
}

unsigned confcheck_run(const struct config *cfg, const struct catalog *cat, bool full)
{
	unsigned warned = check_commands(cat);

	if (full)
		warned += check_socket_dir(cfg) + check_short_ms(cfg);
	return warned;
}

void confcheck_timeouts(const struct config *cfg, const struct catalog *cat, char *buf, size_t len)
{
	size_t n = 0;
	const char *name;
	uint64_t ms;

	buf[0] = '\0';
	for (size_t i = 0; (name = config_var_name(i)) && n < len; i++)
		if (config_var_ms(cfg, i, &ms))
			n += (size_t)snprintf(buf + n, len - n, "%s%s=%llu", n ? " " : "", name,
					      (unsigned long long)ms);
	for (size_t i = 0; i < cat->n && n < len; i++)
		if (cat->entries[i].timeout_ms)
			n += (size_t)snprintf(buf + n, len - n, " %s.timeout=%llu", cat->entries[i].name,
					      (unsigned long long)cat->entries[i].timeout_ms);
}
