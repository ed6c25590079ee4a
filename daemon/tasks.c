/* Task handles (the io.modelcontextprotocol/tasks extension): which connection made which task. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "era.h"
#include "hmap.h"
#include "log.h"
#include "tasks.h"

#define TASK_ID_MAX 256 /* longer ids are not recorded (nor looked up): forwarded as they are */
#define GONE_REASON_MAX 200

/*
 * One task: in the map by "user:mcp" NUL taskId, and on exactly one list:
 * its connection's (owner set) while that lives, else the tombstones
 * (owner NULL, gone set).
 */
struct task_record {
	struct hmap_node node;
	struct list_node link;
	struct tasks_conn *owner; /* NULL once its connection closed */
	const void *conn;         /* compared, never followed */
	uint64_t expires_ms;      /* monotonic */
	char gone[GONE_REASON_MAX]; /* why its connection closed, while a tombstone */
	char mapkey[];            /* "user:mcp" NUL taskId */
};

struct tasks {
	struct hmap by_id;
	struct list_node gone; /* tombstones, oldest first */
	unsigned gone_count;
};

void tasks_conn_init(struct tasks_conn *c)
{
	list_init(&c->records);
	c->count = 0;
}

/* The daemon's task map, made at the first task; NULL when out of memory. */
static struct tasks *tasks_of(struct daemon *d, bool create)
{
	struct tasks *t = d->tasks;

	if (t || !create)
		return t;
	if (!(t = calloc(1, sizeof(*t))) || hmap_init(&t->by_id) < 0) {
		if (t)
			hmap_destroy(&t->by_id);
		free(t);
		return NULL;
	}
	list_init(&t->gone);
	d->tasks = t;
	return t;
}

/* Unlinks r from the map and its list (counts kept right) and frees it. */
static void record_free(struct tasks *t, struct task_record *r)
{
	hmap_remove(&t->by_id, &r->node);
	list_del(&r->link);
	if (r->owner)
		r->owner->count--;
	else
		t->gone_count--;
	free(r);
}

/* Builds "key" NUL "id" in buf; its length, or 0 when it does not fit. */
static size_t mapkey(char *buf, size_t size, const char *key, const char *id)
{
	size_t klen = strlen(key), ilen = strlen(id);

	if (!ilen || ilen > TASK_ID_MAX || klen + 1 + ilen > size)
		return 0;
	memcpy(buf, key, klen + 1);
	memcpy(buf + klen + 1, id, ilen);
	return klen + 1 + ilen;
}

/* The live record of (key, id), or NULL; an expired one is dropped on the way. */
static struct task_record *record_find(struct tasks *t, const char *key, const char *id)
{
	char buf[CATALOG_USER_MAX + 1 + CATALOG_NAME_MAX + 1 + TASK_ID_MAX];
	size_t n = mapkey(buf, sizeof(buf), key, id);
	struct hmap_node *hn = n ? hmap_find(&t->by_id, buf, n) : NULL;
	struct task_record *r = hn ? container_of(hn, struct task_record, node) : NULL;

	if (r && now_mono_ms() >= r->expires_ms) {
		record_free(t, r);
		return NULL;
	}
	return r;
}

/*
 * The task handle in result, or false: taskId (malloc'd) and its ttl in ms
 * (0: none given or null). 2026-07-28: {"resultType":"task","taskId":...,
 * "ttlMs":...}; 2025-11-25: {"task":{"taskId":...,"ttl":...}}.
 */
static bool task_handle(json_t *result, char **id, uint64_t *ttl_ms)
{
	json_t *task = json_object_get(result, "task"), *ttl;
	const char *type = json_string_value(json_object_get(result, "resultType"));

	if (type && strcmp(type, "task") == 0) {
		task = result;
		ttl = json_object_get(result, "ttlMs");
	} else if (json_is_object(task)) {
		ttl = json_object_get(task, "ttl");
	} else
		return false;
	if (!json_is_string(json_object_get(task, "taskId")))
		return false;
	*ttl_ms = json_is_integer(ttl) && json_integer_value(ttl) > 0 ? (uint64_t)json_integer_value(ttl) : 0;
	*id = strdup(json_string_value(json_object_get(task, "taskId")));
	return *id != NULL;
}

/* Moves r to the tombstones with why; the oldest tombstone goes when there are too many. */
static void record_bury(struct tasks *t, struct task_record *r, const char *why)
{
	list_del(&r->link);
	r->owner->count--;
	r->owner = NULL;
	r->conn = NULL;
	snprintf(r->gone, sizeof(r->gone), "%s", why);
	list_add_tail(&t->gone, &r->link);
	t->gone_count++;
	while (t->gone_count > TASKS_GONE_MAX)
		record_free(t, list_entry(t->gone.next, struct task_record, link));
}

void tasks_note_result(struct daemon *d, struct tasks_conn *c, const void *conn, const char *key,
		       const char *result, size_t len)
{
	struct task_record *r;
	struct hmap_node *old;
	struct tasks *t;
	json_t *tree;
	char *id = NULL;
	uint64_t ttl = 0;
	size_t klen = strlen(key), n;

	/* Most results are not task handles, and some are large: no tree for them. */
	if (!memmem(result, len, "\"taskId\"", 8))
		return;
	tree = json_loadb(result, len, 0, NULL);
	if (!task_handle(tree, &id, &ttl)) {
		json_decref(tree);
		return;
	}
	json_decref(tree);
	if (!(t = tasks_of(d, true)) || !(r = calloc(1, sizeof(*r) + klen + 1 + strlen(id)))) {
		log_warn("[%s] out of memory recording task %.64s", key, id);
		free(id);
		return;
	}
	if (!(n = mapkey(r->mapkey, klen + 1 + strlen(id), key, id))) {
		log_warn("[%s] not recording task %.64s: its id is empty or over %d bytes", key, id, TASK_ID_MAX);
		free(r);
		free(id);
		return;
	}
	r->owner = c;
	r->conn = conn;
	r->expires_ms = now_mono_ms() + (ttl && ttl < TASK_KEEP_MAX_MS ? ttl : TASK_KEEP_MAX_MS);
	/* The same id again (a new server process counting from 1): the newest creator wins. */
	if ((old = hmap_find(&t->by_id, r->mapkey, n)))
		record_free(t, container_of(old, struct task_record, node));
	hmap_insert(&t->by_id, &r->node, r->mapkey, n);
	list_add_tail(&c->records, &r->link);
	c->count++;
	while (c->count > TASKS_PER_CONN_MAX)
		record_free(t, list_entry(c->records.next, struct task_record, link));
	log_debug("[%s] task %.64s created (kept %" PRIu64 " ms)", key, id,
		  r->expires_ms - now_mono_ms());
	free(id);
}

/* True for the methods that name a task in params.taskId. */
static bool method_names_task(const char *method)
{
	return strncmp(method, "tasks/", 6) == 0 && strcmp(method, "tasks/list") != 0;
}

int tasks_route(struct daemon *d, const char *user, const char *mcp, const char *method,
		const char *params, size_t params_len, const void *conn, char *err, size_t errlen)
{
	struct tasks *t = tasks_of(d, false);
	char key[CATALOG_USER_MAX + 1 + CATALOG_NAME_MAX + 1];
	struct task_record *r;
	char *id;

	if (!t || !method || !method_names_task(method) || !params ||
	    !(id = era_param_string(params, params_len, "taskId")))
		return 0;
	snprintf(key, sizeof(key), "%s:%s", user, mcp);
	r = record_find(t, key, id);
	if (r && !r->owner)
		snprintf(err, errlen, "task %.64s is gone: the connection that created it closed (%s); "
			 "a stdio server's tasks end with its process: start the work again", id,
			 r->gone);
	else if (r && conn && r->conn != conn)
		snprintf(err, errlen, "task %.64s belongs to a connection that takes no new requests "
			 "(auth changed, evicted while busy, or its catalog entry changed); its tasks "
			 "end when it closes: start the work again", id);
	else
		r = NULL;
	free(id);
	return r ? -1 : 0;
}

void tasks_conn_closed(struct daemon *d, struct tasks_conn *c, bool survive, const char *why)
{
	struct tasks *t = tasks_of(d, false);
	uint64_t now = now_mono_ms();

	while (t && !list_empty(&c->records)) {
		struct task_record *r = list_entry(c->records.next, struct task_record, link);

		if (survive || now >= r->expires_ms)
			record_free(t, r);
		else
			record_bury(t, r, why);
	}
}

void tasks_shutdown(struct daemon *d)
{
	struct tasks *t = d->tasks;
	struct hmap_node *n;

	if (!t)
		return;
	/* Every connection closed before: what is left are tombstones, whatever the lists say. */
	while ((n = hmap_next(&t->by_id, NULL))) {
		struct task_record *r = container_of(n, struct task_record, node);
		hmap_remove(&t->by_id, n);
		list_del(&r->link);
		free(r);
	}
	hmap_destroy(&t->by_id);
	free(t);
	d->tasks = NULL;
}
