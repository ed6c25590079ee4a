/* Reloading the configuration and the catalog: SIGHUP and the reload op. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "catalog.h"
#include "config.h"
#include "daemon.h"
#include "eramemo.h"
#include "log.h"
#include "pool.h"
#include "reload.h"
#include "rlimit.h"
#include "sdnotify.h"
#include "upstream.h"

#define NAMES_LOGGED 8      /* names listed per kind in the summary line, then "..." */
#define GC_INTERVAL_S 10.0  /* how often retired catalogs are checked while some are kept: O(pool) */

/* A catalog a reload replaced, kept while connections made under it live. */
struct catalog_gen {
	struct catalog cat;
	uint64_t gen;             /* the pool generation its connections carry */
	struct catalog_gen *next;
	struct deferred free_node;
};

/* What a reload changes, gathered before anything is applied. */
struct reload_diff {
	json_t *added, *removed, *changed, *settings; /* arrays of strings */
	size_t unchanged;
};

/* ---- retired catalogs ---------------------------------------------------------- */

static void gen_free(struct deferred *x)
{
	struct catalog_gen *g = container_of(x, struct catalog_gen, free_node);

	catalog_free(&g->cat);
	free(g);
}

/*
 * Queues for the deferred free every retired catalog no pool entry can use:
 * the upstreams that left the pool are queued already, so they go first.
 */
static void gc(struct daemon *d)
{
	uint64_t oldest = d->pool ? pool_oldest_generation(d->pool) : UINT64_MAX;
	struct catalog_gen **pp = &d->retired_catalogs;

	while (*pp) {
		struct catalog_gen *g = *pp;

		if (g->gen < oldest) {
			*pp = g->next;
			log_debug("reload: the catalog of generation %llu is no longer used: freed",
				  (unsigned long long)g->gen);
			daemon_defer_free(d, &g->free_node, gen_free);
		} else {
			pp = &g->next;
		}
	}
	if (!d->retired_catalogs)
		ev_timer_stop(d->loop, &d->retired_gc);
	else if (!ev_is_active(&d->retired_gc))
		ev_timer_again(d->loop, &d->retired_gc);
}

static void on_gc(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	gc(w->data);
}

void reload_init(struct daemon *d)
{
	d->retired_catalogs = NULL;
	ev_timer_init(&d->retired_gc, on_gc, 0., GC_INTERVAL_S);
	d->retired_gc.data = d;
}

void reload_shutdown(struct daemon *d)
{
	struct catalog_gen *g;

	ev_timer_stop(d->loop, &d->retired_gc);
	while ((g = d->retired_catalogs)) {
		d->retired_catalogs = g->next;
		gen_free(&g->free_node);
	}
}

/* ---- what changed -------------------------------------------------------------- */

/* The variables a running daemon cannot take: the socket, its group, the metrics
 * listener, and the frame sizes every connected client was told at hello. */
static void keep_restart_only(const struct daemon *d, struct config *cfg, json_t *settings)
{
	const struct config *old = &d->cfg;
	static const struct { const char *name; size_t off; } strs[] = {
		{ "MCPPOOL_SOCKET_GROUP", offsetof(struct config, socket_group) },
		{ "MCPPOOL_METRICS_LISTEN", offsetof(struct config, metrics_listen) },
	};
	char line[400];

	/* A socket passed by systemd is the one in force, whatever MCPPOOL_SOCKET says. */
	if (d->own_socket && strcmp(old->socket_path, cfg->socket_path) != 0) {
		snprintf(line, sizeof(line), "MCPPOOL_SOCKET %s->%s (needs a restart: kept)",
			 old->socket_path, cfg->socket_path);
		json_array_append_new(settings, json_string(line));
	}
	memcpy(cfg->socket_path, old->socket_path, sizeof(cfg->socket_path));
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		char *const *o = (char *const *)((const char *)old + strs[i].off);
		char **n = (char **)((char *)cfg + strs[i].off);

		if ((!*o && !*n) || (*o && *n && strcmp(*o, *n) == 0))
			continue;
		snprintf(line, sizeof(line), "%s %s->%s (needs a restart: kept)", strs[i].name,
			 *o ? *o : "(unset)", *n ? *n : "(unset)");
		json_array_append_new(settings, json_string(line));
		free(*n);
		*n = *o ? strdup(*o) : NULL;
	}
	if (old->max_frame != cfg->max_frame || old->max_input != cfg->max_input) {
		snprintf(line, sizeof(line), "MCPPOOL_MAX_FRAME %zu->%zu, MCPPOOL_MAX_INPUT %zu->%zu "
			 "(need a restart: kept)", old->max_frame, cfg->max_frame, old->max_input,
			 cfg->max_input);
		json_array_append_new(settings, json_string(line));
		cfg->max_frame = old->max_frame;
		cfg->max_input = old->max_input;
	}
}

/* config_print() of cfg into a new string; NULL when out of memory. */
static char *config_text(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	config_print(cfg, f);
	fclose(f);
	return buf;
}

/* Adds "NAME OLD->NEW" for every variable whose printed value differs. */
static void diff_settings(const struct config *old, const struct config *cfg, json_t *settings)
{
	char *a = config_text(old), *b = config_text(cfg);
	char *sa = NULL, *sb = NULL;
	char *la = a ? strtok_r(a, "\n", &sa) : NULL, *lb = b ? strtok_r(b, "\n", &sb) : NULL;

	/* config_print() writes every variable, one per line, always in the same order. */
	for (; la && lb; la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb)) {
		const char *eq = strchr(la, '=');
		char line[600];

		if (!eq || strcmp(la, lb) == 0)
			continue;
		snprintf(line, sizeof(line), "%.*s %s->%s", (int)(eq - la), la, eq + 1,
			 strchr(lb, '=') ? strchr(lb, '=') + 1 : lb);
		json_array_append_new(settings, json_string(line));
	}
	free(a);
	free(b);
}

/* Both catalogs are sorted by name: one merge walk sorts names into the diff. */
static void diff_catalogs(const struct catalog *old, const struct catalog *cat,
			  struct reload_diff *diff)
{
	size_t i = 0, j = 0;

	while (i < old->n || j < cat->n) {
		int c = i == old->n ? 1 : j == cat->n ? -1
				   : strcmp(old->entries[i].name, cat->entries[j].name);

		if (c < 0) {
			json_array_append_new(diff->removed, json_string(old->entries[i++].name));
		} else if (c > 0) {
			json_array_append_new(diff->added, json_string(cat->entries[j++].name));
		} else {
			if (catalog_entry_same(&old->entries[i], &cat->entries[j]))
				diff->unchanged++;
			else
				json_array_append_new(diff->changed, json_string(cat->entries[j].name));
			i++;
			j++;
		}
	}
}

/* "2 added (a, b)" into f, nothing when names is empty. */
static void print_names(FILE *f, bool *first, const char *what, const json_t *names)
{
	size_t n = json_array_size(names);

	if (!n)
		return;
	fprintf(f, "%s%zu %s (", *first ? "" : ", ", n, what);
	for (size_t k = 0; k < n && k < NAMES_LOGGED; k++)
		fprintf(f, "%s%s", k ? ", " : "", json_string_value(json_array_get(names, k)));
	fprintf(f, "%s)", n > NAMES_LOGGED ? ", ..." : "");
	*first = false;
}

/* The one log line of a reload: what changed, or that nothing did. */
static char *summary(const char *why, const struct reload_diff *diff)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool first = true;

	if (!f)
		return NULL;
	fprintf(f, "%s: reloaded: ", why);
	print_names(f, &first, "added", diff->added);
	print_names(f, &first, "removed", diff->removed);
	print_names(f, &first, "changed", diff->changed);
	if (!first)
		fprintf(f, ", %zu unchanged", diff->unchanged);
	for (size_t k = 0; k < json_array_size(diff->settings); k++)
		fprintf(f, "%s%s", k ? ", " : first ? "settings: " : "; settings: ",
			json_string_value(json_array_get(diff->settings, k)));
	if (first && !json_array_size(diff->settings))
		fprintf(f, "nothing changed (%zu server%s)", diff->unchanged,
			diff->unchanged == 1 ? "" : "s");
	fclose(f);
	return buf;
}

/* ---- applying ------------------------------------------------------------------ */

/* The catalog in force becomes cat; the old one is kept while its connections live. */
static int swap_catalog(struct daemon *d, struct catalog *cat, const struct reload_diff *diff)
{
	struct catalog_gen *g = calloc(1, sizeof(*g));

	if (!g)
		return -1;
	g->cat = d->catalog;
	g->gen = d->catalog_gen++;
	g->next = d->retired_catalogs;
	d->retired_catalogs = g;
	d->catalog = *cat;
	memset(cat, 0, sizeof(*cat));
	eramemo_forget_all(d); /* a reload is the admin's word that servers may have changed */
	pool_set_generation(d->pool, d->catalog_gen);
	for (size_t k = 0; k < json_array_size(diff->removed); k++)
		upstream_retire_server(d, json_string_value(json_array_get(diff->removed, k)));
	for (size_t k = 0; k < json_array_size(diff->changed); k++)
		upstream_retire_server(d, json_string_value(json_array_get(diff->changed, k)));
	return 0;
}

/* As at start-up: ${auth.*} in args of a new or changed entry is readable by every local user. */
static void warn_exposed_args(const struct daemon *d, const json_t *names)
{
	for (size_t k = 0; k < json_array_size(names); k++) {
		const char *name = json_string_value(json_array_get(names, k));
		const struct catalog_entry *e = catalog_find(&d->catalog, name);

		if (e && catalog_args_use_auth(e))
			log_warn("catalog entry \"%s\": ${auth.*} in \"args\" puts the auth value "
				 "in the server's command line, readable by every user of this host "
				 "(/proc/PID/cmdline); pass it in \"env\" instead", name);
	}
}

static void swap_config(struct daemon *d, struct config *cfg)
{
	/* As main() does at start: dumps stay off unless asked for (the memory holds secrets). */
	if (cfg->core_dumps != d->cfg.core_dumps) {
		prctl(PR_SET_DUMPABLE, cfg->core_dumps ? 1 : 0);
		if (cfg->core_dumps)
			log_warn("core dumps are allowed (MCPPOOL_CORE_DUMPS=1): a core file may hold "
				 "the auth values of users; keep it private and delete it after use");
	}
	bool same_access_log = (!cfg->access_log && !d->cfg.access_log) ||
			       (cfg->access_log && d->cfg.access_log &&
				strcmp(cfg->access_log, d->cfg.access_log) == 0);
	char err[256];

	config_free(&d->cfg);
	d->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	log_set_level((enum log_level)d->cfg.log_level);
	log_set_format((enum log_format)d->cfg.log_format);
	/* The access log: the same path is opened again (it may have been rotated), a new one instead. */
	if (same_access_log) {
		if (log_access_reopen(err, sizeof(err)) < 0)
			log_warn("MCPPOOL_ACCESS_LOG: cannot reopen, the open file is kept: %s", err);
	} else {
		log_access_close();
		if (d->cfg.access_log && log_access_open(d->cfg.access_log, err, sizeof(err)) < 0)
			log_warn("MCPPOOL_ACCESS_LOG=\"%s\": %s: no access log until it can be opened",
				 d->cfg.access_log, err);
	}
	upstream_apply_config(d);
	/* Simplest correct: a reload starts the cache afresh, at its new size. */
	listcache_reset(&d->cache, d->cfg.cache_bytes);
}

static json_t *report(struct reload_diff *diff, const char *line)
{
	json_t *r = json_pack("{s:o, s:o, s:o, s:o, s:s}", "added", diff->added, "removed",
			      diff->removed, "changed", diff->changed, "settings", diff->settings,
			      "summary", line ? line : "");

	memset(diff, 0, sizeof(*diff)); /* the report owns the arrays now (or freed them) */
	return r;
}

/* Loads the new configuration and catalog; nothing is applied yet. */
static int load(struct daemon *d, struct config *cfg, struct catalog *cat, char *err, size_t errlen)
{
	memset(cat, 0, sizeof(*cat));
	if (config_load(cfg, &d->cli, err, errlen) < 0)
		return -1;
	if (cfg->servers_path && catalog_load_file(cat, cfg->servers_path, err, errlen) < 0) {
		config_free(cfg);
		return -1;
	}
	/* New limits must fit in the open-file limit as at start (rlimit.h). */
	if (rlimit_fit(cfg, cat, err, errlen) < 0) {
		catalog_free(cat);
		config_free(cfg);
		return -1;
	}
	return 0;
}

json_t *reload_run(struct daemon *d, const char *why, char *err, size_t errlen)
{
	struct reload_diff diff = { json_array(), json_array(), json_array(), json_array(), 0 };
	struct config cfg;
	struct catalog cat;
	json_t *r = NULL;
	char *line;

	if (d->stopping) {
		snprintf(err, errlen, "mcppoold is shutting down");
		log_warn("%s: reload refused: %s", why, err);
		goto out;
	}
	sdnotify_reloading();
	if (!diff.added || !diff.removed || !diff.changed || !diff.settings) {
		snprintf(err, errlen, "out of memory");
	} else if (load(d, &cfg, &cat, err, errlen) == 0) {
		keep_restart_only(d, &cfg, diff.settings);
		diff_settings(&d->cfg, &cfg, diff.settings);
		diff_catalogs(&d->catalog, &cat, &diff);
		if (swap_catalog(d, &cat, &diff) < 0) {
			snprintf(err, errlen, "out of memory");
			catalog_free(&cat);
			config_free(&cfg);
		} else {
			swap_config(d, &cfg);
			config_warn_unknown(&d->cfg);
			line = summary(why, &diff);
			log_info("%s", line ? line : "reloaded");
			warn_exposed_args(d, diff.added);
			warn_exposed_args(d, diff.changed);
			if (!d->cfg.servers_path)
				log_warn("no server catalog (--servers or MCPPOOL_SERVERS): every call "
					 "will be UNKNOWN_MCP");
			r = report(&diff, line);
			free(line);
			gc(d);
		}
	}
	if (!r)
		log_warn("%s: reload refused, the running configuration is kept: %s", why, err);
	sdnotify_ready(d);
out:
	json_decref(diff.added);
	json_decref(diff.removed);
	json_decref(diff.changed);
	json_decref(diff.settings);
	return r;
}
