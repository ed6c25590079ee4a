/* The listen op (wire v2: a user's server notifications, until cancelled) and stdio batches. */
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"
#include "wire.h"

static struct itd d;
static msgpack_zone zone;

static void setup_catalog(const char *catalog)
{
	it_subreaper();
	itd_start(&d, catalog, NULL);
	msgpack_zone_init(&zone, 4096);
}

static void __attribute__((unused)) setup(void)
{
	setup_catalog(NULL);
}

static void setup_batch(void)
{
	setup_catalog("{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\", "
		      "\"args\": [\"--batch\"]}}}");
}

static void teardown(void)
{
	msgpack_zone_destroy(&zone);
	itd_stop(&d);
	it_assert_no_children();
}

/* A connection that said hello with version. */
static int conn(unsigned version)
{
	struct wire_msg m;
	char hello[32];
	int fd = it_raw_connect(&d);

	snprintf(hello, sizeof(hello), "{\"version\": %u}", version);
	it_raw_request(fd, 1, "hello", hello);
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	cr_assert_eq(m.err_code, ERR_OK);
	return fd;
}

/* The reply to id (events of other requests are skipped); returns its code, text in text. */
static int reply_of(int fd, uint64_t id, char *text, size_t size)
{
	struct wire_msg m;

	for (;;) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0, "no reply to %llu",
			     (unsigned long long)id);
		if (m.type != WIRE_REPLY || m.id != id)
			continue;
		if (text && size)
			text[0] = '\0';
		if (m.err_code == ERR_OK && text) {
			const msgpack_object *c = wire_map_get(m.result, "content");
			const msgpack_object *t = c && c->type == MSGPACK_OBJECT_ARRAY &&
				c->via.array.size ? wire_map_get(&c->via.array.ptr[0], "text") : NULL;
			if (t)
				snprintf(text, size, "%.*s", (int)t->via.str.size, t->via.str.ptr);
		}
		return m.err_code;
	}
}

/* ---- stdio batches ---------------------------------------------------------------- */

Test(batch, replies_inside_a_batch_reach_their_calls, .init = setup_batch, .fini = teardown)
{
	char text[64];
	int fd = conn(1);

	/* Alternately [reply] and [notification, reply]: both shapes, several times. */
	for (unsigned i = 0; i < 4; i++) {
		char args[160];
		snprintf(args, sizeof(args), "{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": "
			 "\"echo\", \"arguments\": {\"message\": \"m%u\"}, \"timeout_ms\": 3000}", i);
		it_raw_request(fd, 10 + i, "call", args);
		cr_assert_eq(reply_of(fd, 10 + i, text, sizeof(text)), ERR_OK, "call %u", i);
		char want[8];
		snprintf(want, sizeof(want), "m%u", i);
		cr_assert_str_eq(text, want);
	}
	close(fd);
}
