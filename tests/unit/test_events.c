/* Tests of wire v2 events: progress tokens in forwarded params, notifications read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "events.h"
#include "jsontext.h"
#include "mpjson.h"
#include "wire.h"

/* params rewritten with token; asserts success and returns the text (static buffer). */
static const char *with_token(const char *params, uint64_t token)
{
	static struct jbuf out;
	char err[256] = "";
	int rc = events_params_with_token(params, params ? strlen(params) : 0, token, &out, err,
					  sizeof(err));

	cr_assert_eq(rc, 0, "%s: %s", params ? params : "(none)", err);
	return out.data;
}

Test(params_with_token, no_params_get_a_meta_with_the_token_alone)
{
	cr_assert_str_eq(with_token(NULL, 7), "{\"_meta\":{\"progressToken\":7}}");
	cr_assert_str_eq(with_token("{}", 8), "{\"_meta\":{\"progressToken\":8}}");
}

Test(params_with_token, other_members_keep_their_order_and_values)
{
	cr_assert_str_eq(with_token("{\"name\":\"echo\",\"arguments\":{\"m\":[1,2.5,null,true]}}", 3),
			 "{\"name\":\"echo\",\"arguments\":{\"m\":[1,2.5,null,true]},"
			 "\"_meta\":{\"progressToken\":3}}");
}

Test(params_with_token, the_apps_token_is_replaced_and_other_meta_kept)
{
	cr_assert_str_eq(with_token("{\"_meta\":{\"progressToken\":\"app-1\",\"trace\":\"x\"},\"a\":1}",
				    42),
			 "{\"_meta\":{\"trace\":\"x\",\"progressToken\":42},\"a\":1}");
	cr_assert_str_eq(with_token("{\"_meta\":{}}", 5), "{\"_meta\":{\"progressToken\":5}}");
}

Test(params_with_token, the_largest_token_is_written_exactly)
{
	cr_assert_str_eq(with_token(NULL, UINT64_MAX),
			 "{\"_meta\":{\"progressToken\":18446744073709551615}}");
}

Test(params_with_token, params_that_are_not_an_object_or_a_bad_meta_are_refused)
{
	static const char *bad[] = { "[1]", "3", "{\"_meta\":[]}", "{\"a\":", "{} x" };
	struct jbuf out;
	char err[256];

	jbuf_init(&out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(events_params_with_token(bad[i], strlen(bad[i]), 1, &out, err, sizeof(err)),
			     -1, "%s accepted", bad[i]);
		cr_assert_neq(err[0], '\0', "%s: no reason", bad[i]);
		cr_assert_eq(out.len, 0);
	}
	jbuf_free(&out);
}

/* A notification line read as the upstream does: scanned, then read. */
struct read {
	msgpack_zone zone;
	struct jsonrpc_msg m;
	struct event_note note;
	int rc;
	char err[256];
};

static void read_line(struct read *r, const char *line)
{
	msgpack_zone_init(&r->zone, 1024);
	cr_assert_eq(jsonrpc_scan(line, strlen(line), 64, &r->m, r->err, sizeof(r->err)), 0, "%s",
		     r->err);
	r->rc = events_read_note(line, &r->m, &r->zone, &r->note, r->err, sizeof(r->err));
}

/* The JSON text of the event params that r's note packs into. */
static char *packed_params(const struct read *r)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object o;
	char err[256], *text;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	events_pack_params(&pk, &r->note);
	msgpack_zone_init(&zone, 1024);
	cr_assert_eq(wire_unpack(sb.data, sb.size, &zone, &o, err, sizeof(err)), 0, "%s", err);
	text = mpjson_dumps(&o, 0, err, sizeof(err));
	cr_assert_not_null(text, "%s", err);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
	return text;
}

Test(read_note, progress_with_our_token_gives_it_and_packs_without_it)
{
	struct read r;
	char *text;

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
		      "{\"progressToken\":17,\"progress\":2,\"total\":5,\"message\":\"step 2\"}}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_eq(r.note.kind, EVENT_PROGRESS);
	cr_assert_eq(r.note.token, 17);
	cr_assert_str_eq(event_name(r.note.kind), "progress");
	text = packed_params(&r);
	cr_assert_str_eq(text, "{\"progress\":2,\"total\":5,\"message\":\"step 2\"}");
	free(text);
	msgpack_zone_destroy(&r.zone);
}

Test(read_note, progress_with_a_token_not_ours_has_token_zero)
{
	static const char *lines[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"x\",\"progress\":1}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":-3,\"progress\":1}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct read r;

		read_line(&r, lines[i]);
		cr_assert_eq(r.rc, 0, "%s", r.err);
		cr_assert_eq(r.note.kind, EVENT_PROGRESS);
		cr_assert_eq(r.note.token, 0, "%s", lines[i]);
		msgpack_zone_destroy(&r.zone);
	}
}

Test(read_note, a_log_message_packs_as_the_server_sent_it)
{
	struct read r;
	char *text;

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":"
		      "{\"level\":\"info\",\"logger\":\"fx\",\"data\":{\"n\":[1]}}}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_eq(r.note.kind, EVENT_MESSAGE);
	text = packed_params(&r);
	cr_assert_str_eq(text, "{\"level\":\"info\",\"logger\":\"fx\",\"data\":{\"n\":[1]}}");
	free(text);
	msgpack_zone_destroy(&r.zone);
}

Test(read_note, change_notifications_pack_method_and_params)
{
	struct read r;
	char *text;

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\",\"params\":"
		      "{\"uri\":\"file:///a\"}}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_eq(r.note.kind, EVENT_NOTIFICATION);
	text = packed_params(&r);
	cr_assert_str_eq(text, "{\"method\":\"notifications/resources/updated\",\"params\":"
			       "{\"uri\":\"file:///a\"}}");
	free(text);
	msgpack_zone_destroy(&r.zone);

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_eq(r.note.kind, EVENT_NOTIFICATION);
	text = packed_params(&r);
	cr_assert_str_eq(text, "{\"method\":\"notifications/tools/list_changed\",\"params\":{}}");
	free(text);
	msgpack_zone_destroy(&r.zone);
}

Test(read_note, other_notifications_are_not_relayed)
{
	static const char *lines[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progressive\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":7}",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct read r;

		read_line(&r, lines[i]);
		cr_assert_eq(r.rc, 0, "%s", r.err);
		cr_assert_eq(r.note.kind, EVENT_NONE, "%s", lines[i]);
		msgpack_zone_destroy(&r.zone);
	}
}

Test(read_note, params_that_are_not_an_object_are_refused)
{
	struct read r;

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":[1]}");
	cr_assert_eq(r.rc, -1);
	cr_assert(strstr(r.err, "must be an object"), "%s", r.err);
	msgpack_zone_destroy(&r.zone);
}

Test(read_note, a_modern_notification_names_its_subscription_which_the_app_does_not_see)
{
	struct read r;
	char *text;

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\",\"params\":"
		      "{\"_meta\":{\"io.modelcontextprotocol/subscriptionId\":7},\"uri\":\"file:///a\"}}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_eq(r.note.kind, EVENT_NOTIFICATION);
	cr_assert_eq(r.note.subscription, 7);
	text = packed_params(&r);
	cr_assert_str_eq(text, "{\"method\":\"notifications/resources/updated\",\"params\":"
			       "{\"uri\":\"file:///a\"}}");
	free(text);
	msgpack_zone_destroy(&r.zone);

	/* The server's other _meta keys stay. */
	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\",\"params\":"
		      "{\"_meta\":{\"x/y\":1,\"io.modelcontextprotocol/subscriptionId\":7}}}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	text = packed_params(&r);
	cr_assert_str_eq(text, "{\"method\":\"notifications/tools/list_changed\",\"params\":"
			       "{\"_meta\":{\"x/y\":1}}}");
	free(text);
	msgpack_zone_destroy(&r.zone);
}

Test(read_note, acknowledgements_and_the_servers_cancels_steer_listens)
{
	struct read r;

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/subscriptions/acknowledged\","
		      "\"params\":{\"_meta\":{\"io.modelcontextprotocol/subscriptionId\":3},"
		      "\"notifications\":{}}}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_eq(r.note.kind, EVENT_ACKNOWLEDGED);
	cr_assert_eq(r.note.subscription, 3);
	msgpack_zone_destroy(&r.zone);

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
		      "{\"requestId\":4}}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_eq(r.note.kind, EVENT_CANCELLED);
	cr_assert_eq(r.note.subscription, 4);
	msgpack_zone_destroy(&r.zone);

	read_line(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
		      "{\"requestId\":\"srv-1\"}}");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_eq(r.note.subscription, 0, "a string id is never the daemon's");
	msgpack_zone_destroy(&r.zone);
}

Test(listen_params, every_list_change_and_the_uris)
{
	struct jbuf out;
	static const char uris[] = "file:///a\0x\"y\0";

	jbuf_init(&out);
	cr_assert_eq(events_listen_params(NULL, 0, &out), 0);
	cr_assert_eq(jbuf_append(&out, "", 1), 0);
	cr_assert_str_eq(out.data, "{\"notifications\":{\"toolsListChanged\":true,"
			 "\"promptsListChanged\":true,\"resourcesListChanged\":true}}");
	cr_assert_eq(events_listen_params(uris, sizeof(uris) - 1, &out), 0);
	cr_assert_eq(jbuf_append(&out, "", 1), 0);
	cr_assert_str_eq(out.data, "{\"notifications\":{\"toolsListChanged\":true,"
			 "\"promptsListChanged\":true,\"resourcesListChanged\":true,"
			 "\"resourceSubscriptions\":[\"file:///a\",\"x\\\"y\"]}}");
	jbuf_free(&out);
}
