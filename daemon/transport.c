/* Opening a transport by kind: a stdio child, a Streamable HTTP session, or an HTTP+SSE one. */
#include <stdio.h>

#include "sseconn.h"
#include "stdiochild.h"
#include "transport.h"
#include "urlconn.h"

#define STDERR_LINES_PER_SEC 20 /* more are counted and summarised */

static int stdio_send(void *impl, const char *line, size_t len, const struct transport_msg *info)
{
	(void)info; /* a pipe carries every kind alike */
	return stdio_write(impl, line, len);
}

static void stdio_negotiated(void *impl, const char *version)
{
	(void)impl;
	(void)version;
}

static void stdio_close_impl(void *impl)
{
	stdio_close(impl);
}

static long stdio_pid_impl(const void *impl)
{
	return (long)stdio_pid(impl);
}

static const struct transport_ops stdio_ops = {
	.name = "stdio",
	.send = stdio_send,
	.negotiated = stdio_negotiated,
	.close = stdio_close_impl,
	.pid = stdio_pid_impl,
	.era_probe = true,
};

static int open_stdio(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
		      const struct transport_options *opt, const struct transport_callbacks *cb,
		      void *ctx, char *err, size_t errlen)
{
	struct stdio_options so = {
		.d = opt->d,
		.max_line = opt->max_message,
		.kill_timeout_ms = opt->kill_timeout_ms,
		.log_tag = opt->tag,
		.io = (enum stdio_io)opt->server_stdio,
		.stderr_mode = (enum stdio_stderr)opt->server_stderr,
		.stderr_lines_per_sec = STDERR_LINES_PER_SEC,
		.max_queue = opt->max_queue,
	};
	/* The callback shapes are the same by design; stdio_spawn() copies them. */
	struct stdio_callbacks scb = { .on_line = cb->on_message, .on_closed = cb->on_closed };

	t->ops = &stdio_ops;
	t->impl = stdio_spawn(loop, spec->spawn->argv, spec->spawn->envp, spec->spawn->cwd, &so,
			      &scb, ctx, err, errlen);
	return t->impl ? 0 : -1;
}

int transport_open(struct transport *t, struct ev_loop *loop, const struct transport_spec *spec,
		   const struct transport_options *opt, const struct transport_callbacks *cb,
		   void *ctx, char *err, size_t errlen)
{
	/* A url entry without a type may turn out to speak only the old HTTP+SSE (urlconn.h). */
	if (spec->kind == TRANSPORT_HTTP && spec->sse)
		return sse_transport_open(t, loop, spec, opt, cb, ctx, err, errlen);
	if (spec->kind == TRANSPORT_HTTP)
		return url_transport_open(t, loop, spec, opt, cb, ctx, err, errlen);
	return open_stdio(t, loop, spec, opt, cb, ctx, err, errlen);
}
