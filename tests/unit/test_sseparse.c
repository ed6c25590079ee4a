/* Unit tests of the bounded server-sent events parser (daemon/sseparse.c). */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sseparse.h"

/* What the parser delivered: "type=data" per event, joined by '|'. */
struct seen {
	char text[1024];
	int stop_at; /* on_event returns -1 for this event number (1-based); 0: never */
	int n;
};

static int record(void *ctx, const struct sse_event *ev)
{
	struct seen *s = ctx;
	size_t used = strlen(s->text);

	cr_assert_eq(strlen(ev->data), ev->len, "data is NUL-terminated at len");
	snprintf(s->text + used, sizeof(s->text) - used, "%s%s=%s", used ? "|" : "", ev->type,
		 ev->data);
	return ++s->n == s->stop_at ? -1 : 0;
}

/* Feeds text in pieces of step bytes (every split point is a case). */
static int feed(struct sse_parser *p, const char *text, size_t step)
{
	size_t len = strlen(text);

	for (size_t i = 0; i < len; i += step)
		if (sse_parser_feed(p, text + i, len - i < step ? len - i : step) < 0)
			return -1;
	return 0;
}

static void expect(const char *stream, const char *want)
{
	for (size_t step = 1; step <= strlen(stream); step++) {
		struct sse_parser p;
		struct seen s = { 0 };

		sse_parser_init(&p, 1000, record, &s);
		cr_assert_eq(feed(&p, stream, step), 0, "step %zu: %s", step, p.err);
		cr_assert_str_eq(s.text, want, "step %zu", step);
		sse_parser_free(&p);
	}
}

Test(sseparse, an_endpoint_event_then_message_events)
{
	expect("event: endpoint\ndata: /message?sessionId=1\n\nevent: message\ndata: {\"a\":1}\n\n",
	       "endpoint=/message?sessionId=1|message={\"a\":1}");
}

Test(sseparse, an_event_without_a_type_is_a_message)
{
	expect("data: x\n\n", "message=x");
}

Test(sseparse, lines_end_with_lf_crlf_or_cr)
{
	expect("data: a\r\n\r\ndata: b\r\rdata: c\n\n", "message=a|message=b|message=c");
}

Test(sseparse, data_lines_join_with_a_newline_and_one_leading_space_goes)
{
	expect("data:one\ndata:  two\ndata\n\n", "message=one\n two\n");
}

Test(sseparse, comments_unknown_fields_and_events_without_data_are_skipped)
{
	expect(": keep-alive\n\nfoo: bar\nevent: x\n\nid: 7\ndata: y\n\n", "message=y");
}

Test(sseparse, a_leading_bom_is_dropped)
{
	expect("\xEF\xBB\xBF" "data: z\n\n", "message=z");
}

Test(sseparse, an_event_is_delivered_only_when_its_blank_line_arrives)
{
	struct sse_parser p;
	struct seen s = { 0 };

	sse_parser_init(&p, 100, record, &s);
	cr_assert_eq(feed(&p, "data: half", 3), 0);
	cr_assert_str_eq(s.text, "");
	cr_assert_eq(feed(&p, "\n\n", 1), 0);
	cr_assert_str_eq(s.text, "message=half");
	sse_parser_free(&p);
}

Test(sseparse, id_and_retry_are_kept)
{
	struct sse_parser p;
	struct seen s = { 0 };

	sse_parser_init(&p, 100, record, &s);
	cr_assert_eq(feed(&p, "id: ev-42\nretry: 1500\nretry: soon\ndata\n\n", 4), 0);
	cr_assert_str_eq(p.last_id, "ev-42");
	cr_assert_eq(p.retry_ms, 1500);
	/* A huge one saturates (the owner bounds it); empty or signed ones are ignored. */
	cr_assert_eq(feed(&p, "retry: 999999999999999999999999\nretry:\nretry: -5\n\n", 5), 0);
	cr_assert_geq(p.retry_ms, 100000000L);
	sse_parser_free(&p);
}

Test(sseparse, an_event_over_the_bound_fails_before_it_is_buffered_whole)
{
	struct sse_parser p;
	struct seen s = { 0 };
	char big[200];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sse_parser_init(&p, 50, record, &s);
	cr_assert_eq(feed(&p, "data: ", 100), 0);
	cr_assert_eq(feed(&p, big, 200), -1);
	cr_assert(strstr(p.err, "exceeds"), "%s", p.err);
	sse_parser_free(&p);

	/* Many short data lines add up too. */
	sse_parser_init(&p, 50, record, &s);
	int rc = 0;
	for (int i = 0; i < 30 && rc == 0; i++)
		rc = feed(&p, "data: 0123\n", 100);
	cr_assert_eq(rc, -1);
	cr_assert(strstr(p.err, "an event exceeds 50 bytes"), "%s", p.err);
	sse_parser_free(&p);
}

Test(sseparse, a_long_event_type_is_unknown_not_truncated)
{
	expect("event: endpointendpointendpointendpointendpoint\ndata: q\n\n", "?=q");
}

Test(sseparse, on_event_can_stop_the_stream)
{
	struct sse_parser p;
	struct seen s = { .stop_at = 1 };

	sse_parser_init(&p, 100, record, &s);
	cr_assert_eq(feed(&p, "data: a\n\ndata: b\n\n", 100), -1);
	cr_assert_str_eq(p.err, "stopped");
	cr_assert_str_eq(s.text, "message=a");
	sse_parser_free(&p);
}

/* A 2025-11-25 server primes a stream with an id and empty data: the id is what counts. */
Test(sseparse, a_priming_event_keeps_its_id_and_delivers_empty_data)
{
	struct sse_parser p;
	struct seen s = { 0 };

	sse_parser_init(&p, 100, record, &s);
	cr_assert_eq(p.id_seen, false);
	cr_assert_eq(feed(&p, "id: prime-0\ndata:\n\n", 3), 0);
	cr_assert_str_eq(s.text, "message=");
	cr_assert_str_eq(p.last_id, "prime-0");
	cr_assert_eq(p.id_seen, true);
	sse_parser_free(&p);
}

/* The id goes back as Last-Event-ID: one that could not be sent as it came is not kept. */
Test(sseparse, an_id_with_a_control_character_or_too_long_is_not_kept)
{
	struct sse_parser p;
	struct seen s = { 0 };
	char stream[SSE_ID_MAX + 16];

	sse_parser_init(&p, 1000, record, &s);
	cr_assert_eq(feed(&p, "id: a\x01" "b\ndata: x\n\n", 100), 0);
	cr_assert_str_eq(p.last_id, "");
	cr_assert_eq(p.id_seen, false);
	cr_assert_eq(feed(&p, "id: good\n\nid: tab\there\n\n", 100), 0);
	cr_assert_str_eq(p.last_id, "good");
	snprintf(stream, sizeof(stream), "id: %0*d\n\n", SSE_ID_MAX, 7);
	cr_assert_eq(feed(&p, stream, 100), 0);
	cr_assert_str_eq(p.last_id, "good", "an id of SSE_ID_MAX bytes is dropped, not cut");
	/* An empty id resets it, as the standard says. */
	cr_assert_eq(feed(&p, "id\n\n", 100), 0);
	cr_assert_str_eq(p.last_id, "");
	cr_assert_str_eq(s.text, "message=x");
	sse_parser_free(&p);
}

Test(sseparse, comments_between_fields_do_not_end_the_event)
{
	expect(":c1\r\ndata: a\r:c2\ndata: b\r\n\r\n", "message=a\nb");
}
