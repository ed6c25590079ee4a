/* mcppoold: command line, configuration, exit statuses. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "catalog.h"
#include "confcheck.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "rlimit.h"
#include "stdiochild.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 78 /* EX_CONFIG */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mcppoold [options]\n"
		"  -s, --socket PATH      listen on PATH (default: $MCPPOOL_SOCKET, else\n"
		"                         $XDG_RUNTIME_DIR/mcppool.sock, else /tmp/mcppool-UID.sock)\n"
		"      --env-file FILE    read KEY=VALUE settings from FILE (default: ./.env if present)\n"
		"      --servers FILE     the server catalog (mcpServers JSON; or $MCPPOOL_SERVERS)\n"
		"      --log-level LEVEL  error, warn, info (default) or debug\n"
		"      --check-config     validate the configuration and catalog, print them, exit\n"
		"  -v, --verbose          log at debug level (same as --log-level debug)\n"
		"      --version          print the version and exit\n"
		"  -h, --help             print this help and exit\n"
		"See mcppoold(8) for every variable.\n");
}

static void print_catalog(const struct catalog *cat, FILE *out)
{
	fprintf(out, "# catalog: %zu server%s\n", cat->n, cat->n == 1 ? "" : "s");
	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_entry *e = &cat->entries[i];
		fprintf(out, "# %s: %s %s", e->name,
			e->transport == TRANSPORT_STDIO ? "stdio" : "http",
			e->transport == TRANSPORT_STDIO ? e->command : e->url);
		for (size_t k = 0; k < e->nauth_keys; k++)
			fprintf(out, "%s%s", k ? "," : " auth:", e->auth_keys[k]);
		fputc('\n', out);
	}
}

/*
 * Auth values pass through our memory; a core file would keep them. Dumps are
 * off from the first instant, back on only when asked. Children are not
 * affected: exec makes a process dumpable again.
 */
static void set_core_dumps(const struct config *cfg)
{
	if (!cfg) {
		prctl(PR_SET_DUMPABLE, 0);
		return;
	}
	if (cfg->core_dumps) {
		prctl(PR_SET_DUMPABLE, 1);
		log_warn("core dumps are allowed (MCPPOOL_CORE_DUMPS=1): a core file may hold "
			 "the auth values of users; keep it private and delete it after use");
	}
}

/* ${auth.NAME} in args ends in a command line, which every local user can read. */
static void warn_exposed_args(const struct catalog *cat)
{
	for (size_t i = 0; i < cat->n; i++)
		if (catalog_args_use_auth(&cat->entries[i]))
			log_warn("catalog entry \"%s\": ${auth.*} in \"args\" puts the auth value "
				 "in the server's command line, readable by every user of this host "
				 "(/proc/PID/cmdline); pass it in \"env\" instead",
				 cat->entries[i].name);
}

/* Every timeout in force, in one line: a wrong one is then seen at the first start. */
static void log_timeouts(const struct daemon *d)
{
	char line[1536];

	confcheck_timeouts(&d->cfg, &d->catalog, line, sizeof(line));
	log_info("timeouts in force (ms): %s", line);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "env-file", required_argument, NULL, 'E' },
		{ "servers", required_argument, NULL, 'S' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config_cli cli = { 0 };
	struct daemon d;
	bool check_only = false;
	char err[1024];
	int opt, rc;

	set_core_dumps(NULL);
	memset(&d, 0, sizeof(d));
	while ((opt = getopt_long(argc, argv, "s:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': cli.socket = optarg; break;
		case 'E': cli.env_file = optarg; break;
		case 'S': cli.servers = optarg; break;
		case 'L': cli.log_level = optarg; break;
		case 'C': check_only = true; break;
		case 'v': cli.log_level = "debug"; break;
		case 'V': printf("mcppoold %s\n", MCPPOOL_DAEMON_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mcppoold: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	if (config_load(&d.cfg, &cli, err, sizeof(err)) < 0) {
		fprintf(stderr, "mcppoold: %s\n", err);
		return EXIT_CONFIG;
	}
	log_set_level((enum log_level)d.cfg.log_level);
	log_set_format((enum log_format)d.cfg.log_format);
	config_warn_unknown(&d.cfg);
	confcheck_environment();
	if (!check_only)
		set_core_dumps(&d.cfg);
	if (d.cfg.servers_path &&
	    catalog_load_file(&d.catalog, d.cfg.servers_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "mcppoold: %s\n", err);
		config_free(&d.cfg);
		return EXIT_CONFIG;
	}
	confcheck_run(&d.cfg, &d.catalog, check_only);
	if (rlimit_fit(&d.cfg, &d.catalog, err, sizeof(err)) < 0) {
		fprintf(stderr, "mcppoold: %s\n", err);
		catalog_free(&d.catalog);
		config_free(&d.cfg);
		return EXIT_CONFIG;
	}
	if (check_only) {
		config_print(&d.cfg, stdout);
		print_catalog(&d.catalog, stdout);
		catalog_free(&d.catalog);
		config_free(&d.cfg);
		return 0;
	}
	/* While descriptor numbers are low: each spawn copies the table up to these. */
	if (stdio_reserve(err, sizeof(err)) < 0) {
		fprintf(stderr, "mcppoold: %s\n", err);
		catalog_free(&d.catalog);
		config_free(&d.cfg);
		return EXIT_RUNTIME;
	}
	warn_exposed_args(&d.catalog);
	log_timeouts(&d);
	if (!d.cfg.servers_path)
		log_warn("no server catalog (--servers or MCPPOOL_SERVERS): every call will be "
			 "UNKNOWN_MCP");

	if (log_access_open(d.cfg.access_log, err, sizeof(err)) < 0) {
		fprintf(stderr, "mcppoold: MCPPOOL_ACCESS_LOG=\"%s\": %s\n", d.cfg.access_log, err);
		catalog_free(&d.catalog);
		config_free(&d.cfg);
		return EXIT_CONFIG;
	}

	d.cli = cli; /* a reload reads the same files */
	rc = 0;
	if (daemon_start(&d, err, sizeof(err)) < 0) {
		log_error("%s", err);
		rc = EXIT_RUNTIME;
	} else {
		daemon_run(&d);
	}
	log_access_close();
	metrics_free(&d.metrics);
	catalog_free(&d.catalog);
	config_free(&d.cfg);
	return rc;
}
