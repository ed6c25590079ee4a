/* The admin ops: pool-status, cleanup, servers, evict, metrics and reload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "admin.h"
#include "upstream.h"
#include "daemon.h"
#include "errcode.h"
#include "log.h"
#include "mpjson.h"
#include "pool.h"
#include "reload.h"
#include "session.h"
#include "wire.h"

void admin_format_time(uint64_t wall_ms, char buf[32])
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(wall_ms % 1000));
}

/* ---- the pool's counts ------------------------------------------------------ */

static void pack_user(void *arg, const char *user, unsigned count)
{
	msgpack_packer *pk = arg;
	wire_pack_str(pk, user);
	msgpack_pack_uint32(pk, count);
}

/* {"totalConnections": n, "userConnectionCounts": {...}} as two map pairs. */
static void pack_counts(msgpack_packer *pk, const struct pool *p)
{
	wire_pack_str(pk, "totalConnections");
	msgpack_pack_uint32(pk, pool_total(p));
	wire_pack_str(pk, "userConnectionCounts");
	msgpack_pack_map(pk, pool_users(p));
	pool_foreach_user(p, pack_user, pk);
}

/* ---- pool-status ------------------------------------------------------------ */

struct entry_walk {
	msgpack_packer *pk;
	uint64_t now_wall;
};

static void pack_entry(void *arg, const struct pool_entry *e)
{
	struct entry_walk *w = arg;
	msgpack_packer *pk = w->pk;
	char t[32];
	uint64_t idle = w->now_wall > e->last_used_wall_ms ? w->now_wall - e->last_used_wall_ms : 0;

	msgpack_pack_map(pk, 11);
	wire_pack_str(pk, "key");
	wire_pack_str(pk, e->key);
	wire_pack_str(pk, "name");
	wire_pack_str(pk, e->mcp);
	wire_pack_str(pk, "userId");
	wire_pack_strn(pk, e->key, e->user_len);
	wire_pack_str(pk, "lastUsed");
	admin_format_time(e->last_used_wall_ms, t);
	wire_pack_str(pk, t);
	wire_pack_str(pk, "createTime");
	admin_format_time(e->create_wall_ms, t);
	wire_pack_str(pk, t);
	wire_pack_str(pk, "idleMinutes");
	msgpack_pack_uint64(pk, idle / 60000);
	wire_pack_str(pk, "state");
	wire_pack_str(pk, pool_state_name(e->state));
	wire_pack_str(pk, "inFlight");
	msgpack_pack_uint32(pk, e->inflight);
	wire_pack_str(pk, "pid");
	msgpack_pack_long(pk, upstream_entry_pid(e));
	wire_pack_str(pk, "transport");
	wire_pack_str(pk, upstream_entry_transport(e));
	wire_pack_str(pk, "protocol");
	wire_pack_str(pk, upstream_entry_protocol(e));
}

static void pack_config(msgpack_packer *pk, const struct config *cfg)
{
	wire_pack_str(pk, "config");
	msgpack_pack_map(pk, 4);
	wire_pack_str(pk, "maxConnectionsPerUser");
	msgpack_pack_uint32(pk, cfg->max_per_user);
	wire_pack_str(pk, "maxTotalConnections");
	msgpack_pack_uint32(pk, cfg->max_total);
	wire_pack_str(pk, "connectionTimeout");
	msgpack_pack_uint64(pk, cfg->connection_timeout_ms);
	wire_pack_str(pk, "cleanupInterval");
	msgpack_pack_uint64(pk, cfg->cleanup_interval_ms);
}

void admin_pool_status(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params)
{
	size_t start;
	msgpack_packer *pk = session_reply_begin(s, id, &start);
	struct entry_walk w = { .pk = pk, .now_wall = now_wall_ms() };
	(void)params;

	msgpack_pack_map(pk, 4);
	pack_counts(pk, d->pool);
	wire_pack_str(pk, "connectionDetails");
	msgpack_pack_array(pk, pool_total(d->pool));
	pool_foreach_entry(d->pool, pack_entry, &w);
	pack_config(pk, &d->cfg);
	session_reply_end(s, start);
}

/* ---- cleanup ---------------------------------------------------------------- */

void admin_cleanup(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params)
{
	msgpack_sbuffer before;
	msgpack_packer bpk;
	msgpack_packer *pk;
	size_t start, cleaned;
	(void)params;

	/* "before" is packed aside: the sweep changes the counts. */
	msgpack_sbuffer_init(&before);
	msgpack_packer_init(&bpk, &before, msgpack_sbuffer_write);
	msgpack_pack_map(&bpk, 2);
	pack_counts(&bpk, d->pool);
	cleaned = upstream_cleanup(d);

	pk = session_reply_begin(s, id, &start);
	msgpack_pack_map(pk, 4);
	wire_pack_str(pk, "message");
	wire_pack_str(pk, "Cleanup completed");
	wire_pack_str(pk, "before");
	msgpack_sbuffer_write(pk->data, before.data, before.size); /* already packed bytes */
	wire_pack_str(pk, "after");
	msgpack_pack_map(pk, 2);
	pack_counts(pk, d->pool);
	wire_pack_str(pk, "cleanedConnections");
	msgpack_pack_uint64(pk, cleaned);
	session_reply_end(s, start);
	msgpack_sbuffer_destroy(&before);
}

/* ---- servers ---------------------------------------------------------------- */

/* scheme://host[:port]/path of url: no user:password@, no ?query, no #fragment. */
static void pack_public_url(msgpack_packer *pk, const char *url)
{
	const char *host = strstr(url, "://");
	const char *at, *end;
	char buf[1024];
	size_t n;

	host = host ? host + 3 : url;
	end = host + strcspn(host, "?#");
	at = memchr(host, '@', (size_t)(end - host));
	n = (size_t)snprintf(buf, sizeof(buf), "%.*s%.*s", (int)(host - url), url,
			     (int)(end - (at ? at + 1 : host)), at ? at + 1 : host);
	wire_pack_strn(pk, buf, n < sizeof(buf) ? n : sizeof(buf) - 1);
}

void admin_servers(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params)
{
	size_t start;
	msgpack_packer *pk = session_reply_begin(s, id, &start);
	(void)params;

	msgpack_pack_map(pk, 1);
	wire_pack_str(pk, "servers");
	msgpack_pack_array(pk, d->catalog.n);
	for (size_t i = 0; i < d->catalog.n; i++) {
		const struct catalog_entry *e = &d->catalog.entries[i];
		bool stdio = e->transport == TRANSPORT_STDIO;

		msgpack_pack_map(pk, 4);
		wire_pack_str(pk, "name");
		wire_pack_str(pk, e->name);
		wire_pack_str(pk, "transport");
		wire_pack_str(pk, stdio ? "stdio" : e->sse ? "sse" : "http");
		/* No secrets: the command without its args and env, the url without its query. */
		wire_pack_str(pk, stdio ? "command" : "url");
		if (stdio)
			wire_pack_str(pk, e->command);
		else
			pack_public_url(pk, e->url);
		wire_pack_str(pk, "authKeys");
		msgpack_pack_array(pk, e->nauth_keys);
		for (size_t k = 0; k < e->nauth_keys; k++)
			wire_pack_str(pk, e->auth_keys[k]);
	}
	session_reply_end(s, start);
}

/* ---- evict and metrics ------------------------------------------------------ */

void admin_evict(struct daemon *d, struct session *s, uint64_t id, const char *user, const char *mcp)
{
	size_t start, n = upstream_evict(d, user, mcp);
	msgpack_packer *pk;

	log_info("evict %s%s%s: %zu connection%s", user, mcp ? ":" : "", mcp ? mcp : "", n,
		 n == 1 ? "" : "s");
	pk = session_reply_begin(s, id, &start);
	msgpack_pack_map(pk, 1);
	wire_pack_str(pk, "evicted");
	msgpack_pack_uint64(pk, n);
	session_reply_end(s, start);
}

void admin_metrics(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params)
{
	char *text = metrics_render(d);
	msgpack_packer *pk;
	size_t start;
	(void)params;

	if (!text) {
		session_reply_error(s, id, ERR_INTERNAL, "out of memory");
		return;
	}
	pk = session_reply_begin(s, id, &start);
	msgpack_pack_map(pk, 1);
	wire_pack_str(pk, "text");
	wire_pack_str(pk, text);
	session_reply_end(s, start);
	free(text);
}

/* ---- reload ----------------------------------------------------------------- */

void admin_reload(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params)
{
	char err[1024], why[96];
	json_t *report;
	msgpack_packer *pk;
	long uid, pid;
	size_t start;
	(void)params;

	session_peer(s, &uid, &pid);
	snprintf(why, sizeof(why), "reload requested by pid %ld uid %ld", pid, uid);
	report = reload_run(d, why, err, sizeof(err));
	if (!report) {
		session_reply_error(s, id, d->stopping ? ERR_SHUTTING_DOWN : ERR_CONFIG_INVALID,
				    "reload refused, the running configuration is kept: %s", err);
		return;
	}
	pk = session_reply_begin(s, id, &start);
	mpjson_pack(pk, report);
	session_reply_end(s, start);
	json_decref(report);
}

/* ---- the admin token -------------------------------------------------------- */

/* Keyed hashes of both sides make the comparison constant-time whatever the lengths. */
static bool token_matches(const struct daemon *d, const char *token, size_t len)
{
	unsigned char want[32], got[32];
	const char *expected = d->cfg.admin_token;
	bool ok;

	crypto_generichash(want, sizeof(want), (const unsigned char *)expected, strlen(expected),
			   d->auth_key, sizeof(d->auth_key));
	crypto_generichash(got, sizeof(got), (const unsigned char *)token, len, d->auth_key,
			   sizeof(d->auth_key));
	ok = sodium_memcmp(want, got, sizeof(want)) == 0;
	sodium_memzero(want, sizeof(want));
	sodium_memzero(got, sizeof(got));
	return ok;
}

void admin_login(struct daemon *d, struct session *s, uint64_t id, const struct op_params *params)
{
	const msgpack_object *t = params->v[P_TOKEN];
	msgpack_packer *pk;
	long uid, pid;
	size_t start;

	if (!t || t->type != MSGPACK_OBJECT_STR) {
		session_reply_error(s, id, ERR_BAD_REQUEST, "missing param \"token\" (a string)");
		return;
	}
	session_peer(s, &uid, &pid);
	if (!d->cfg.admin_token) {
		session_reply_error(s, id, ERR_FORBIDDEN, "no admin token is configured "
				    "(MCPPOOL_ADMIN_TOKEN_FILE is unset)");
		return;
	}
	if (!token_matches(d, t->via.str.ptr, t->via.str.size)) {
		log_warn("client pid %ld uid %ld: wrong admin token: admin ops stay forbidden", pid,
			 uid);
		session_reply_error(s, id, ERR_FORBIDDEN, "wrong admin token");
		return;
	}
	session_grant_admin(s);
	log_info("client pid %ld uid %ld: admin token accepted", pid, uid);
	pk = session_reply_begin(s, id, &start);
	msgpack_pack_map(pk, 1);
	wire_pack_str(pk, "admin");
	msgpack_pack_true(pk);
	session_reply_end(s, start);
}
