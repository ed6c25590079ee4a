/* Integration: wire protocol v1 against the real daemon, including hostile frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"

TestSuite(protocol, .init = it_subreaper, .timeout = 60);

static struct itd d;
static msgpack_zone zone;

static void setup(void)
{
	it_subreaper();
	itd_start(&d, NULL, NULL);
	msgpack_zone_init(&zone, 4096);
}

static void teardown(void)
{
	msgpack_zone_destroy(&zone);
	itd_stop(&d);
}

/* A connection that has said hello. */
static int hello_conn(void)
{
	struct wire_msg m;
	int fd = it_raw_connect(&d);
	it_raw_hello(fd, 1);
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 2000), 0);
	cr_assert_eq(m.type, WIRE_REPLY);
	cr_assert_null(m.error, "hello failed");
	return fd;
}

/* Receives a reply and asserts its id and error code (ERR_OK for success). */
static void expect_reply(int fd, uint64_t id, int code)
{
	struct wire_msg m;
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 10000), 0, "no reply (connection closed?)");
	cr_assert_eq(m.type, WIRE_REPLY);
	cr_assert_eq(m.id, id, "reply id %llu, expected %llu", (unsigned long long)m.id,
		     (unsigned long long)id);
	if (code == ERR_OK)
		cr_assert_null(m.error, "unexpected error %.*s", (int)m.err_message_len,
			       m.err_message);
	else
		cr_assert_eq(m.err_code, code, "error %s (%.*s), expected %s",
			     errcode_name(m.err_code), (int)m.err_message_len, m.err_message,
			     errcode_name(code));
}

/* The connection still serves: pool_status answers. */
static void expect_alive(int fd, uint64_t id)
{
	it_raw_request(fd, id, "pool_status", NULL);
	expect_reply(fd, id, ERR_OK);
}

Test(protocol, hello_announces_version_and_max_frame, .init = setup, .fini = teardown)
{
	struct wire_msg m;
	int fd = it_raw_connect(&d);
	it_raw_hello(fd, 7);
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 2000), 0);
	cr_assert_eq(m.id, 7);
	cr_assert_eq(wire_map_get(m.result, "version")->via.u64, 1);
	cr_assert_eq(wire_map_get(m.result, "maxFrame")->via.u64, 16777216);
	close(fd);
}

Test(protocol, a_request_before_hello_is_bad_request, .init = setup, .fini = teardown)
{
	int fd = it_raw_connect(&d);
	it_raw_request(fd, 3, "pool_status", NULL);
	expect_reply(fd, 3, ERR_BAD_REQUEST);
	it_raw_hello(fd, 4);
	expect_reply(fd, 4, ERR_OK);
	close(fd);
}

Test(protocol, hello_settles_on_the_smaller_version_and_lists_all, .init = setup,
     .fini = teardown)
{
	static const struct { const char *hello; uint64_t got; } cases[] = {
		{ "{\"version\": 1}", 1 }, { "{\"version\": 2}", 2 }, { "{\"version\": 3}", 2 },
	};
	struct wire_msg m;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = it_raw_connect(&d);
		const msgpack_object *vs;

		it_raw_request(fd, 1, "hello", cases[i].hello);
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 2000), 0);
		cr_assert_eq(m.err_code, ERR_OK, "%s", cases[i].hello);
		cr_assert_eq(wire_map_get(m.result, "version")->via.u64, cases[i].got, "%s", cases[i].hello);
		vs = wire_map_get(m.result, "versions");
		cr_assert(vs && vs->type == MSGPACK_OBJECT_ARRAY && vs->via.array.size == 2);
		cr_assert_eq(vs->via.array.ptr[0].via.u64, 1);
		cr_assert_eq(vs->via.array.ptr[1].via.u64, 2);
		expect_alive(fd, 2);
		close(fd);
	}
}

Test(protocol, a_hello_without_a_positive_version_is_bad_request, .init = setup,
     .fini = teardown)
{
	static const char *bad[] = { "{\"version\": 0}", "{\"version\": \"2\"}", "{}" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = it_raw_connect(&d);
		it_raw_request(fd, 1, "hello", bad[i]);
		expect_reply(fd, 1, ERR_BAD_REQUEST);
		it_raw_hello(fd, 2);
		expect_reply(fd, 2, ERR_OK);
		close(fd);
	}
}

Test(protocol, an_unknown_op_is_bad_request_naming_it, .init = setup, .fini = teardown)
{
	struct wire_msg m;
	int fd = hello_conn();
	it_raw_request(fd, 2, "frobnicate", NULL);
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 2000), 0);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	cr_assert(memmem(m.err_message, m.err_message_len, "frobnicate", 10));
	expect_alive(fd, 3);
	close(fd);
}

Test(protocol, a_missing_param_is_bad_request_naming_it, .init = setup, .fini = teardown)
{
	struct wire_msg m;
	int fd = hello_conn();
	it_raw_request(fd, 2, "call", "{\"user\": \"alice\", \"mcp\": \"demo\"}");
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 2000), 0);
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	cr_assert(memmem(m.err_message, m.err_message_len, "tool", 4));
	close(fd);
}

Test(protocol, a_mistyped_param_is_bad_request, .init = setup, .fini = teardown)
{
	int fd = hello_conn();
	it_raw_request(fd, 2, "call", "{\"user\": 5, \"mcp\": \"demo\", \"tool\": \"echo\"}");
	expect_reply(fd, 2, ERR_BAD_REQUEST);
	it_raw_request(fd, 3, "call", "{\"user\": \"a\", \"mcp\": \"demo\", \"tool\": \"echo\", \"arguments\": [1]}");
	expect_reply(fd, 3, ERR_BAD_REQUEST);
	it_raw_request(fd, 4, "call", "{\"user\": \"a\", \"mcp\": \"demo\", \"tool\": \"echo\", \"timeout_ms\": -1}");
	expect_reply(fd, 4, ERR_BAD_REQUEST);
	it_raw_request(fd, 5, "call", "{\"user\": \"a\", \"mcp\": \"demo\", \"tool\": \"echo\", \"auth\": {\"k\": 1}}");
	expect_reply(fd, 5, ERR_AUTH_INVALID);
	/* A deadline of 0 ms would expire before the server could answer anything. */
	it_raw_request(fd, 6, "call", "{\"user\": \"a\", \"mcp\": \"demo\", \"tool\": \"echo\", \"timeout_ms\": 0}");
	expect_reply(fd, 6, ERR_BAD_REQUEST);
	it_raw_request(fd, 7, "call", "{\"user\": \"a\", \"mcp\": \"demo\", \"tool\": \"echo\", \"timeout_ms\": 2147483648}");
	expect_reply(fd, 7, ERR_BAD_REQUEST);
	expect_alive(fd, 8);
	close(fd);
}

Test(protocol, an_oversized_frame_is_refused_unread_and_the_stream_stays_in_sync, .init = setup,
     .fini = teardown)
{
	int fd = hello_conn();
	size_t big = 16777216 + 1;
	unsigned char hdr[4] = { (unsigned char)(big >> 24), (unsigned char)(big >> 16),
				 (unsigned char)(big >> 8), (unsigned char)big };
	char *junk = calloc(1, big);
	it_raw_send_bytes(fd, hdr, 4);
	it_raw_send_bytes(fd, junk, big);
	free(junk);
	expect_reply(fd, 0, ERR_BAD_REQUEST);
	expect_alive(fd, 2);
	close(fd);
}

Test(protocol, a_hostile_length_claim_inside_a_frame_is_bad_request, .init = setup,
     .fini = teardown)
{
	int fd = hello_conn();
	/* array32 claiming 4294967295 elements in a 5-byte payload */
	unsigned char frame[] = { 0, 0, 0, 5, 0xdd, 0xff, 0xff, 0xff, 0xff };
	it_raw_send_bytes(fd, frame, sizeof(frame));
	expect_reply(fd, 0, ERR_BAD_REQUEST);
	expect_alive(fd, 2);
	close(fd);
}

Test(protocol, a_frame_that_is_not_msgpack_is_bad_request, .init = setup, .fini = teardown)
{
	int fd = hello_conn();
	unsigned char frame[] = { 0, 0, 0, 3, 0xc1, 0xc1, 0xc1 };
	it_raw_send_bytes(fd, frame, sizeof(frame));
	expect_reply(fd, 0, ERR_BAD_REQUEST);
	expect_alive(fd, 2);
	close(fd);
}

Test(protocol, an_empty_frame_is_bad_request, .init = setup, .fini = teardown)
{
	int fd = hello_conn();
	unsigned char frame[] = { 0, 0, 0, 0 };
	it_raw_send_bytes(fd, frame, sizeof(frame));
	expect_reply(fd, 0, ERR_BAD_REQUEST);
	expect_alive(fd, 2);
	close(fd);
}

Test(protocol, a_request_of_the_wrong_shape_is_answered_under_its_id, .init = setup,
     .fini = teardown)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd = hello_conn();

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint8(&pk, 9);
	wire_pack_str(&pk, "pool_status");
	msgpack_pack_array(&pk, 0); /* params must be a map */
	it_raw_send_frame(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
	expect_reply(fd, 9, ERR_BAD_REQUEST);
	expect_alive(fd, 10);
	close(fd);
}

Test(protocol, a_reply_sent_by_a_client_is_bad_request, .init = setup, .fini = teardown)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd = hello_conn();

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	wire_pack_reply_ok_begin(&pk, 5);
	msgpack_pack_nil(&pk);
	it_raw_send_frame(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
	expect_reply(fd, 0, ERR_BAD_REQUEST);
	expect_alive(fd, 2);
	close(fd);
}

Test(protocol, a_client_that_dies_mid_frame_does_not_disturb_others, .init = setup,
     .fini = teardown)
{
	int other = hello_conn();
	int fd = hello_conn();
	unsigned char partial[] = { 0, 0, 1, 0, 0x94, 0x00 };
	it_raw_send_bytes(fd, partial, sizeof(partial));
	close(fd);
	expect_alive(other, 2);
	close(other);
}

Test(protocol, requests_pipelined_on_one_connection_are_answered_in_any_order_by_id,
     .init = setup, .fini = teardown)
{
	struct wire_msg m;
	int fd = hello_conn();
	bool seen[4] = { false };

	it_raw_request(fd, 1 + 1, "call", "{\"user\":\"u\",\"mcp\":\"demo\",\"tool\":\"sleep\",\"arguments\":{\"ms\":600}}");
	it_raw_request(fd, 3, "call", "{\"user\":\"u\",\"mcp\":\"demo\",\"tool\":\"echo\",\"arguments\":{\"message\":\"fast\"}}");
	it_raw_request(fd, 1, "pool_status", NULL);
	uint64_t order[3];
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
		cr_assert_null(m.error);
		cr_assert(m.id >= 1 && m.id <= 3 && !seen[m.id], "unexpected or repeated id %llu",
			  (unsigned long long)m.id);
		seen[m.id] = true;
		order[i] = m.id;
	}
	cr_assert_eq(order[2], 2, "the slow call was not answered last");
	close(fd);
}

Test(protocol, mcp_payloads_arrive_as_native_msgpack_maps, .init = setup, .fini = teardown)
{
	struct wire_msg m;
	int fd = hello_conn();
	it_raw_request(fd, 2, "call", "{\"user\":\"u\",\"mcp\":\"demo\",\"tool\":\"add\",\"arguments\":{\"a\":2,\"b\":40}}");
	cr_assert_eq(it_raw_recv(fd, &zone, &m, 5000), 0);
	cr_assert_null(m.error);
	cr_assert_eq(m.result->type, MSGPACK_OBJECT_MAP);
	const msgpack_object *content = wire_map_get(m.result, "content");
	cr_assert(content && content->type == MSGPACK_OBJECT_ARRAY);
	const msgpack_object *text = wire_map_get(&content->via.array.ptr[0], "text");
	cr_assert(wire_str_eq(text, "42"));
	close(fd);
}

Test(protocol, cancel_notification_answers_the_request_with_cancelled, .init = setup,
     .fini = teardown)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd = hello_conn();

	it_raw_request(fd, 2, "call", "{\"user\":\"u\",\"mcp\":\"demo\",\"tool\":\"sleep\",\"arguments\":{\"ms\":60000}}");
	cr_assert(itd_wait_inflight(&d, "u:demo", 0, 1, 10000), "the call never reached the pool");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	wire_pack_notify_begin(&pk, "cancel");
	msgpack_pack_map(&pk, 1);
	wire_pack_str(&pk, "id");
	msgpack_pack_uint8(&pk, 2);
	it_raw_send_frame(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
	expect_reply(fd, 2, ERR_CANCELLED);
	close(fd);
}

Test(protocol, admin_ops_are_forbidden_to_other_uids, .init = setup, .fini = teardown)
{
	/* Needs root to switch to another uid; the socket then has to be reachable. */
	if (getuid() != 0)
		cr_skip_test("needs root");
	pid_t pid = fork();
	if (pid == 0) {
		chmod(d.sock, 0666);
		chmod(d.dir, 0755);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		struct wire_msg m;
		msgpack_zone z;
		msgpack_zone_init(&z, 1024);
		int fd = it_raw_connect(&d);
		it_raw_hello(fd, 1);
		if (it_raw_recv(fd, &z, &m, 2000) < 0)
			_exit(4);
		it_raw_request(fd, 2, "cleanup", NULL);
		if (it_raw_recv(fd, &z, &m, 2000) < 0)
			_exit(5);
		_exit(m.err_code == ERR_FORBIDDEN ? 0 : 6);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

Test(protocol, requests_beyond_max_inflight_are_refused)
{
	struct itd dd;
	msgpack_zone z;
	struct wire_msg m;
	const char *env[] = { "MCPPOOL_MAX_INFLIGHT=2", NULL };

	it_subreaper();
	itd_start(&dd, NULL, env);
	msgpack_zone_init(&z, 1024);
	int fd = it_raw_connect(&dd);
	it_raw_hello(fd, 1);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 2000), 0);
	for (uint64_t id = 2; id <= 4; id++)
		it_raw_request(fd, id, "call", "{\"user\":\"u\",\"mcp\":\"demo\",\"tool\":\"sleep\","
					       "\"arguments\":{\"ms\":300}}");
	cr_assert_eq(it_raw_recv(fd, &z, &m, 3000), 0);
	cr_assert_eq(m.id, 4, "the third request was not refused first");
	cr_assert_eq(m.err_code, ERR_BAD_REQUEST);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(it_raw_recv(fd, &z, &m, 3000), 0);
		cr_assert_null(m.error);
	}
	close(fd);
	msgpack_zone_destroy(&z);
	itd_stop(&dd);
}

Test(protocol, a_reply_larger_than_the_frame_limit_is_an_error_under_its_id)
{
	struct itd dd;
	msgpack_zone z;
	struct wire_msg m;
	const char *env[] = { "MCPPOOL_MAX_FRAME=4096", NULL };

	it_subreaper();
	itd_start(&dd, NULL, env);
	msgpack_zone_init(&z, 1024);
	int fd = it_raw_connect(&dd);
	it_raw_hello(fd, 1);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 2000), 0);
	it_raw_request(fd, 2, "call", "{\"user\":\"u\",\"mcp\":\"demo\",\"tool\":\"big\","
				     "\"arguments\":{\"bytes\":10000}}");
	cr_assert_eq(it_raw_recv(fd, &z, &m, 5000), 0);
	cr_assert_eq(m.id, 2);
	cr_assert_eq(m.err_code, ERR_INTERNAL);
	cr_assert(memmem(m.err_message, m.err_message_len, "maximum frame", 13));
	it_raw_request(fd, 3, "pool_status", NULL);
	cr_assert_eq(it_raw_recv(fd, &z, &m, 2000), 0);
	cr_assert_null(m.error, "the connection did not survive");
	close(fd);
	msgpack_zone_destroy(&z);
	itd_stop(&dd);
	it_assert_no_children();
}

/* The daemon's resident memory, in KiB. */
static long daemon_rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)d.pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/*
 * An 8 MB frame of 8 million nils decodes to ~190 MB of msgpack objects before its
 * shape is refused. That tree must not stay with the (still open, idle) connection.
 */
static void setup_no_quarantine(void)
{
	/* Under ASan, freed memory waits in a quarantine: release it at once, as malloc does. */
	static const char *const env[] = { "ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=0", NULL };

	it_subreaper();
	itd_start(&d, NULL, env);
	msgpack_zone_init(&zone, 4096);
}

Test(protocol, a_huge_frame_leaves_no_decoded_tree_behind, .init = setup_no_quarantine,
     .fini = teardown)
{
	const uint32_t n = 8000000;
	int fd = hello_conn();
	long before = daemon_rss_kib(), after;
	unsigned char *frame = malloc(4 + 5 + n);
	uint32_t len = 5 + n;

	cr_assert_not_null(frame);
	frame[0] = (unsigned char)(len >> 24), frame[1] = (unsigned char)(len >> 16);
	frame[2] = (unsigned char)(len >> 8), frame[3] = (unsigned char)len;
	frame[4] = 0xdd; /* array32 */
	frame[5] = (unsigned char)(n >> 24), frame[6] = (unsigned char)(n >> 16);
	frame[7] = (unsigned char)(n >> 8), frame[8] = (unsigned char)n;
	memset(frame + 9, 0xc0, n);
	it_raw_send_bytes(fd, frame, 4 + len);
	free(frame);
	expect_reply(fd, 0, ERR_BAD_REQUEST);
	after = daemon_rss_kib();
	cr_assert_lt(after - before, 64 * 1024, "RSS %ld KiB before, %ld KiB after the frame", before,
		     after);
	expect_alive(fd, 2);
	close(fd);
}

/* ---- MCPPOOL_MAX_INPUT ------------------------------------------------------ */

#define BIG_PAD 1000000 /* bytes of padding in a big frame: ~1 MB, under the 1 MiB MAX_FRAME */

/* Room for two big frames being received at once, not three. */
static void setup_small_input_budget(void)
{
	static const char *const env[] = { "MCPPOOL_MAX_FRAME=1048576", "MCPPOOL_MAX_INPUT=2097152",
					   NULL };

	it_subreaper();
	itd_start(&d, NULL, env);
	msgpack_zone_init(&zone, 4096);
}

/* A framed `servers` request padded with an ignored ~1 MB param; *len gets its size. */
static unsigned char *big_request(uint64_t id, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *pad = malloc(BIG_PAD);
	unsigned char *frame;

	cr_assert_not_null(pad);
	memset(pad, 'x', BIG_PAD);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	wire_pack_request_begin(&pk, id, "servers");
	msgpack_pack_map(&pk, 1);
	wire_pack_str(&pk, "pad");
	wire_pack_strn(&pk, pad, BIG_PAD);
	free(pad);
	*len = 4 + sb.size;
	frame = malloc(*len);
	cr_assert_not_null(frame);
	frame[0] = (unsigned char)(sb.size >> 24), frame[1] = (unsigned char)(sb.size >> 16);
	frame[2] = (unsigned char)(sb.size >> 8), frame[3] = (unsigned char)sb.size;
	memcpy(frame + 4, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return frame;
}

/* Sends from a child process: the daemon may not read it for a while, past the socket's buffer. */
static pid_t send_in_background(int fd, const unsigned char *buf, size_t len)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		/* Holding no other connection: the test closes those to see what the daemon does. */
		for (int other = 3; other < 1024; other++)
			if (other != fd)
				close(other);
		it_raw_send_bytes(fd, buf, len);
		_exit(0);
	}
	return pid;
}

static void sender_done(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the sender failed");
}

static bool metrics_show(const char *line)
{
	char *m = NULL;
	bool found;

	itd_ctl(&d, &m, NULL, ARGS("metrics"));
	found = m && strstr(m, line);
	free(m);
	return found;
}

/*
 * The budget spoken for: clients a and b each hold half of a 1 MB frame, and
 * client c's whole 1 MB frame, sent from a child process, is not read.
 */
struct budget_scene {
	int a, b, c;
	unsigned char *fa, *fb, *fc;
	size_t len;
	pid_t sender;
};

static void scene_hold_and_queue(struct budget_scene *sc)
{
	struct wire_msg m;

	sc->a = hello_conn(), sc->b = hello_conn(), sc->c = hello_conn();
	sc->fa = big_request(2, &sc->len), sc->fb = big_request(2, &sc->len);
	sc->fc = big_request(2, &sc->len);
	it_raw_send_bytes(sc->a, sc->fa, sc->len / 2);
	it_raw_send_bytes(sc->b, sc->fb, sc->len / 2);
	cr_assert(itd_wait_metric(&d, "mcppool_input_reserved_bytes", 2.0 * (double)(sc->len - 4), 10000),
		  "the first two large frames were not given their budget");
	sc->sender = send_in_background(sc->c, sc->fc, sc->len);
	cr_assert(itd_wait_metric(&d, "mcppool_input_waits_total", 1, 10000),
		  "the third large frame did not wait");
	cr_assert_eq(it_raw_recv(sc->c, &zone, &m, 0), -1, "the third large frame was answered");
}

/* The rest of a's or b's frame. */
static void scene_finish(const struct budget_scene *sc, int fd, const unsigned char *frame)
{
	it_raw_send_bytes(fd, frame + sc->len / 2, sc->len - sc->len / 2);
}

static void scene_end(struct budget_scene *sc)
{
	free(sc->fa), free(sc->fb), free(sc->fc);
	close(sc->a), close(sc->b), close(sc->c);
}

/* c's frame waits while small frames are served as usual; once a's is whole, c's is read. */
Test(protocol, large_frames_beyond_the_input_budget_wait_their_turn, .init = setup_small_input_budget,
     .fini = teardown)
{
	struct budget_scene sc;
	int small = hello_conn();

	scene_hold_and_queue(&sc);
	expect_alive(small, 2);
	cr_assert(metrics_show("mcppool_input_waits_total 1\n"), "no input wait counted");
	scene_finish(&sc, sc.a, sc.fa);
	expect_reply(sc.a, 2, ERR_OK);
	expect_reply(sc.c, 2, ERR_OK);
	sender_done(sc.sender);
	scene_finish(&sc, sc.b, sc.fb);
	expect_reply(sc.b, 2, ERR_OK);
	cr_assert(metrics_show("mcppool_input_reserved_bytes 0\n"), "a reservation was not given back");
	expect_alive(small, 3);
	scene_end(&sc);
	close(small);
}

/* A client that closes mid-frame gives its reservation back to the one waiting. */
Test(protocol, a_client_closing_mid_frame_releases_its_input_budget, .init = setup_small_input_budget,
     .fini = teardown)
{
	struct budget_scene sc;

	scene_hold_and_queue(&sc);
	close(sc.a);
	sc.a = -1;
	expect_reply(sc.c, 2, ERR_OK);
	sender_done(sc.sender);
	scene_finish(&sc, sc.b, sc.fb);
	expect_reply(sc.b, 2, ERR_OK);
	scene_end(&sc);
}

/* Clients that hold the budget without sending their frames are closed after REQUEST_TIMEOUT. */
Test(protocol, a_large_frame_stalled_past_the_request_timeout_loses_its_connection,
     .init = it_subreaper, .fini = teardown)
{
	static const char *const env[] = { "MCPPOOL_MAX_FRAME=1048576", "MCPPOOL_MAX_INPUT=2097152",
					   "REQUEST_TIMEOUT=2000", NULL };
	struct budget_scene sc;

	itd_start(&d, NULL, env);
	msgpack_zone_init(&zone, 4096);
	scene_hold_and_queue(&sc);
	expect_reply(sc.c, 2, ERR_OK);
	sender_done(sc.sender);
	cr_assert(it_raw_wait_eof(sc.a, 10000), "the stalled client was not closed");
	cr_assert(it_raw_wait_eof(sc.b, 10000), "the stalled client was not closed");
	cr_assert(itd_log_contains(&d, "not received whole within REQUEST_TIMEOUT"));
	scene_end(&sc);
}
