/* Wire v2 events: progress tokens put into forwarded requests, server notifications turned into events. */
#ifndef MCPPOOL_EVENTS_H
#define MCPPOOL_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "jsontext.h"

/*
 * How the daemon relays what a server sends besides results (proto/PROTOCOL.md,
 * "Events"). A request that asked for events is forwarded with its own progress
 * token, minted by the daemon, in params._meta.progressToken (replacing the app's:
 * the app's token means nothing to this server connection); the server's
 * notifications/progress carrying that token become `progress` events of that
 * request. Log notifications become `message` events; list-changed and
 * resource-updated notifications become `notification` events of a listen request.
 * Nothing here does I/O: the upstream routes, the session sends.
 */

enum event_kind {
	EVENT_NONE,         /* a notification that is not relayed (or not one at all) */
	EVENT_PROGRESS,     /* notifications/progress */
	EVENT_MESSAGE,      /* notifications/message */
	EVENT_NOTIFICATION, /* notifications/{tools,resources,prompts}/list_changed, resources/updated */
	/* Not relayed: they steer a modern listen (subscriptions/listen, 2026-07-28). */
	EVENT_ACKNOWLEDGED, /* notifications/subscriptions/acknowledged: the server took the listen */
	EVENT_CANCELLED,    /* notifications/cancelled from the server: it ended the listen (stdio) */
};

/* The wire name of an event kind: "progress", "message", "notification" ("" for EVENT_NONE). */
const char *event_name(enum event_kind kind);

/*
 * The JSON text of subscriptions/listen params (2026-07-28) for a listen: every
 * list-changed kind, and resources/updated for uris (NUL-separated, each
 * NUL-terminated, uris_len bytes in all; NULL or 0 for none), as legacy
 * listens hear them. Returns 0, or -1 when out of memory (out emptied first).
 */
int events_listen_params(const char *uris, size_t uris_len, struct jbuf *out);

/*
 * Writes to out (emptied first) the JSON text of a request's params object with
 * _meta.progressToken set to token: params (JSON text of an object, len bytes;
 * NULL or len 0 for none) keeps every other member, and its _meta every other key,
 * in their order. Returns 0, or -1 with err when params is not a JSON object (or
 * its _meta is present but not an object) or memory ran out.
 */
int events_params_with_token(const char *params, size_t len, uint64_t token, struct jbuf *out,
			     char *err, size_t errlen);

/*
 * A server notification, as the upstream hands it over: what kind of event it makes
 * and, for progress, the token it carries. params points into zone (the decoded
 * params object of the notification, a map; an empty map when it had none).
 */
struct event_note {
	enum event_kind kind;
	uint64_t token;                /* EVENT_PROGRESS: the progressToken, 0 when not one of ours */
	const msgpack_object *params;  /* valid while zone is */
	const char *method;            /* EVENT_NOTIFICATION: the method, pointing into line */
	size_t method_len;
	/*
	 * The subscriptions/listen request it belongs to, 0 when none: _meta's
	 * io.modelcontextprotocol/subscriptionId, or EVENT_CANCELLED's requestId
	 * (only positive integers: the daemon's ids are).
	 */
	uint64_t subscription;
};

/*
 * Classifies the notification that m was scanned from (line) and decodes its params
 * into zone. Returns 0 (note->kind may be EVENT_NONE: not relayed), or -1 with err
 * when its params cannot be decoded (not an object, too deep).
 */
int events_read_note(const char *line, const struct jsonrpc_msg *m, msgpack_zone *zone,
		     struct event_note *note, char *err, size_t errlen);

/*
 * Packs the params of the event that note makes: progress {progress, total?,
 * message?} (the token is the daemon's, not the app's business), message {level,
 * logger?, data} as the server sent it, notification {method, params} (without
 * _meta's io.modelcontextprotocol/subscriptionId, the daemon's id: a modern
 * server's notification reaches the app as a legacy one's does).
 */
void events_pack_params(msgpack_packer *pk, const struct event_note *note);

#endif
