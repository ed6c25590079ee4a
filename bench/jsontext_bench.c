/* Micro-benchmark: jsontext (tree-free) against jansson + mpjson on tools/call results. */
/* Built by `make bench` as build/bench/jsontext_bench; run it by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsontext.h"
#include "mpjson.h"
#include "wire.h"

static const char small_doc[] =
	"{\"jsonrpc\":\"2.0\",\"id\":17,\"result\":{\"content\":[{\"type\":\"text\",\"text\":"
	"\"Weather in Paris: 18\xc2\xb0" "C, partly cloudy.\\nWind 12 km/h NW.\"}],"
	"\"structuredContent\":{\"temp\":18.5,\"unit\":\"C\"},\"isError\":false}}";

/* A ~64 KiB result: a long text with escapes plus a list of small records. */
static char *big_doc(size_t *len)
{
	size_t cap = 80 * 1024, n = 0;
	char *s = malloc(cap);

	n += (size_t)snprintf(s + n, cap - n, "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{\"content\":"
					     "[{\"type\":\"text\",\"text\":\"");
	for (int i = 0; i < 400; i++)
		n += (size_t)snprintf(s + n, cap - n, "line %d: \\\"quoted\\\" value, tab\\there.\\n", i);
	n += (size_t)snprintf(s + n, cap - n, "\"}],\"structuredContent\":{\"items\":[");
	for (int i = 0; n < 64 * 1024 - 200; i++)
		n += (size_t)snprintf(s + n, cap - n,
				      "%s{\"id\":%d,\"name\":\"item %d\",\"score\":%d.25,\"tags\":[\"a\",\"b\"],"
				      "\"ok\":true}",
				      i ? "," : "", i, i, i % 100);
	n += (size_t)snprintf(s + n, cap - n, "]},\"isError\":false}}");
	*len = n;
	return s;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

enum op { OP_JANSSON_PACK, OP_JSONTEXT_PACK, OP_SKIP, OP_RPC_SCAN, OP_JANSSON_DUMP, OP_JSONTEXT_DUMP };

struct ctx {
	const char *text;
	size_t len;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *obj;
	struct jbuf out;
};

static void run_once(struct ctx *c, enum op op)
{
	char err[128];
	size_t pos = 0;
	json_t *j;
	char *s;
	struct jsonrpc_msg m;

	switch (op) {
	case OP_JANSSON_PACK:
		msgpack_sbuffer_clear(&c->sb);
		j = json_loadb(c->text, c->len, 0, NULL);
		mpjson_pack(&c->pk, j);
		json_decref(j);
		break;
	case OP_JSONTEXT_PACK:
		msgpack_sbuffer_clear(&c->sb);
		if (jsontext_to_msgpack(c->text, c->len, &pos, &c->pk, JSONTEXT_MAX_DEPTH, err,
					sizeof(err)) < 0)
			abort();
		break;
	case OP_SKIP:
		if (jsontext_skip(c->text, c->len, &pos, JSONTEXT_MAX_DEPTH, err, sizeof(err)) < 0)
			abort();
		break;
	case OP_RPC_SCAN:
		if (jsonrpc_scan(c->text, c->len, JSONTEXT_MAX_DEPTH, &m, err, sizeof(err)) < 0)
			abort();
		break;
	case OP_JANSSON_DUMP:
		s = mpjson_dumps(c->obj, 0, err, sizeof(err));
		if (!s)
			abort();
		free(s);
		break;
	case OP_JSONTEXT_DUMP:
		c->out.len = 0;
		if (jsontext_from_msgpack(c->obj, &c->out, JSONTEXT_MAX_DEPTH, err, sizeof(err)) < 0)
			abort();
		break;
	}
}

/* Best of five rounds of about 0.1 s each, in ns per operation. */
static double measure(struct ctx *c, enum op op)
{
	double best = 1e30;
	long iters = 1;
	double t0, t;

	for (;;) {
		t0 = now_ns();
		for (long i = 0; i < iters; i++)
			run_once(c, op);
		t = now_ns() - t0;
		if (t > 2e7)
			break;
		iters *= 2;
	}
	iters = (long)(iters * 1e8 / t) + 1;
	for (int round = 0; round < 5; round++) {
		t0 = now_ns();
		for (long i = 0; i < iters; i++)
			run_once(c, op);
		t = (now_ns() - t0) / iters;
		if (t < best)
			best = t;
	}
	return best;
}

static void bench_doc(const char *name, const char *text, size_t len)
{
	struct ctx c = { .text = text, .len = len };
	msgpack_zone zone;
	msgpack_object obj;
	char err[128];
	double jp, tp, jd, td;

	msgpack_sbuffer_init(&c.sb);
	msgpack_packer_init(&c.pk, &c.sb, msgpack_sbuffer_write);
	jbuf_init(&c.out);
	run_once(&c, OP_JSONTEXT_PACK);
	msgpack_zone_init(&zone, 4096);
	if (wire_unpack(c.sb.data, c.sb.size, &zone, &obj, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	c.obj = &obj;

	printf("%s: %zu bytes of JSON, %zu bytes of msgpack\n", name, len, c.sb.size);
	jp = measure(&c, OP_JANSSON_PACK);
	tp = measure(&c, OP_JSONTEXT_PACK);
	printf("  JSON -> msgpack  json_loadb+mpjson_pack+decref %10.0f ns   jsontext_to_msgpack %9.0f ns   x%.1f\n",
	       jp, tp, jp / tp);
	printf("  validate only    jsontext_skip %9.0f ns   jsonrpc_scan %9.0f ns\n",
	       measure(&c, OP_SKIP), measure(&c, OP_RPC_SCAN));
	jd = measure(&c, OP_JANSSON_DUMP);
	td = measure(&c, OP_JSONTEXT_DUMP);
	printf("  msgpack -> JSON  mpjson_dumps (to_json+dumps)  %10.0f ns   jsontext_from_msgpack %7.0f ns   x%.1f\n",
	       jd, td, jd / td);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&c.sb);
	jbuf_free(&c.out);
}

int main(void)
{
	size_t big_len;
	char *big = big_doc(&big_len);

	bench_doc("small tools/call result", small_doc, sizeof(small_doc) - 1);
	bench_doc("64 KiB tools/call result", big, big_len);
	free(big);
	return 0;
}
