/* The open-file limit: raised to its hard limit at start, and checked against the configuration. */
#include "rlimit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"
#include "stdiochild.h"

/* The kernel's ceiling for RLIMIT_NOFILE (fs.nr_open); an unlimited hard limit means this. */
static rlim_t nr_open(void)
{
	unsigned long long n = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");

	if (f) {
		if (fscanf(f, "%llu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n ? (rlim_t)n : 1048576; /* the kernel's default */
}

/* Sets the soft limit to the hard one; returns the soft limit now in force. */
static rlim_t raise_soft(struct rlimit *rl)
{
	rlim_t want = rl->rlim_max == RLIM_INFINITY ? nr_open() : rl->rlim_max;
	struct rlimit raised = { want, rl->rlim_max };

	if (rl->rlim_cur != RLIM_INFINITY && rl->rlim_cur >= want)
		return rl->rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
		log_warn("cannot raise the open-file limit from %llu to %llu: %s",
			 (unsigned long long)rl->rlim_cur, (unsigned long long)want, strerror(errno));
		return rl->rlim_cur;
	}
	log_info("open-file limit raised from %llu to %llu", (unsigned long long)rl->rlim_cur,
		 (unsigned long long)want);
	return want;
}

static bool has_http_entry(const struct catalog *cat)
{
	for (size_t i = 0; cat && i < cat->n; i++)
		if (cat->entries[i].transport == TRANSPORT_HTTP)
			return true;
	return false;
}

unsigned rlimit_fds_per_connection(const struct config *cfg, const struct catalog *cat)
{
	unsigned stdio = STDIO_FDS_PER_CHILD(cfg->server_stdio, cfg->server_stderr);

	return has_http_entry(cat) && RLIMIT_FDS_PER_HTTP_CONNECTION > stdio
		       ? RLIMIT_FDS_PER_HTTP_CONNECTION
		       : stdio;
}

/* Descriptors the pool needs at per descriptors a connection. */
static unsigned long long pool_need(const struct config *cfg, unsigned per)
{
	return (unsigned long long)cfg->max_total * per + cfg->max_clients + RLIMIT_FDS_RESERVED;
}

/*
 * The stdio settings that would make the pool fit in limit: MCPPOOL_SERVER_STDIO=socket
 * and MCPPOOL_SERVER_STDERR=discard or inherit each save one descriptor a connection.
 * Empty when neither is left to set or even both would not fit.
 */
static void stdio_fix(const struct config *cfg, unsigned long long limit, char *fix, size_t fixlen)
{
	bool pipes = cfg->server_stdio == STDIO_IO_PIPES;
	bool log = cfg->server_stderr == STDIO_STDERR_LOG;
	unsigned per = STDIO_FDS_PER_CHILD(cfg->server_stdio, cfg->server_stderr);
	const char *either = pipes && log ? "MCPPOOL_SERVER_STDIO=socket or "
					    "MCPPOOL_SERVER_STDERR=discard or inherit"
			     : pipes      ? "MCPPOOL_SERVER_STDIO=socket"
			     : log        ? "MCPPOOL_SERVER_STDERR=discard or inherit"
					  : NULL;

	*fix = '\0';
	if (either && pool_need(cfg, per - 1) <= limit)
		snprintf(fix, fixlen, ", or set %s (%u each: %llu)", either, per - 1,
			 pool_need(cfg, per - 1));
	else if (pipes && log && pool_need(cfg, 1) <= limit)
		snprintf(fix, fixlen, ", or set MCPPOOL_SERVER_STDIO=socket and "
			 "MCPPOOL_SERVER_STDERR=discard or inherit (1 each: %llu)",
			 pool_need(cfg, 1));
}

/* What the per-connection term of the arithmetic stands for, and the fix it allows. */
static void per_connection_terms(const struct config *cfg, const struct catalog *cat,
				 unsigned long long limit, char *why, size_t whylen, char *fix,
				 size_t fixlen)
{
	static const char *const stderr_names[] = { "log", "inherit", "discard" };
	unsigned stdio = STDIO_FDS_PER_CHILD(cfg->server_stdio, cfg->server_stderr);
	char stderr_term[64];

	*fix = '\0';
	if (has_http_entry(cat) && RLIMIT_FDS_PER_HTTP_CONNECTION > stdio) {
		snprintf(why, whylen, "an HTTP entry's connection: libcurl's wake-up pair, the "
			 "listening GET stream and a kept-alive POST socket");
		return;
	}
	if (cfg->server_stderr == STDIO_STDERR_LOG)
		snprintf(stderr_term, sizeof(stderr_term), " and its stderr pipe (MCPPOOL_SERVER_STDERR=log)");
	else
		snprintf(stderr_term, sizeof(stderr_term), "; MCPPOOL_SERVER_STDERR=%s",
			 stderr_names[cfg->server_stderr]);
	snprintf(why, whylen, "a stdio server's %s%s",
		 cfg->server_stdio == STDIO_IO_PIPES
			 ? "stdin and stdout pipes (MCPPOOL_SERVER_STDIO=pipes)"
			 : "stdin/stdout socket (MCPPOOL_SERVER_STDIO=socket)",
		 stderr_term);
	stdio_fix(cfg, limit, fix, fixlen);
}

int rlimit_fit(const struct config *cfg, const struct catalog *cat, char *err, size_t errlen)
{
	unsigned per = rlimit_fds_per_connection(cfg, cat);
	unsigned long long need = pool_need(cfg, per);
	struct rlimit rl;
	rlim_t limit;
	char why[192], fix[192];

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	limit = raise_soft(&rl);
	if (limit == RLIM_INFINITY || need <= (unsigned long long)limit)
		return 0;
	per_connection_terms(cfg, cat, (unsigned long long)limit, why, sizeof(why), fix,
			     sizeof(fix));
	snprintf(err, errlen,
		 "MAX_TOTAL_CONNECTIONS=%u needs %u descriptor%s each (%s) + MCPPOOL_MAX_CLIENTS=%u "
		 "+ %u reserved = %llu, but the open-file %s limit is %llu: raise it (LimitNOFILE= "
		 "in the systemd unit, ulimit -Hn as root) or lower MAX_TOTAL_CONNECTIONS or "
		 "MCPPOOL_MAX_CLIENTS%s",
		 cfg->max_total, per, per == 1 ? "" : "s", why, cfg->max_clients, RLIMIT_FDS_RESERVED, need,
		 limit == rl.rlim_max ? "hard" : "soft", (unsigned long long)limit, fix);
	return -1;
}
