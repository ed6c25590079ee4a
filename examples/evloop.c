/* Example: libmcppool's non-blocking API in libev, 10 calls at once: evloop [SOCKET [MCP]] */
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>
#include <mcppool.h>

#define NCALLS 10

struct app {
	struct ev_loop *loop;
	ev_io io;
	mcppool_conn *conn;
	int done, failed;
};

/* Makes the watcher ask for exactly what the connection wants now. */
static void watch(struct app *app)
{
	int want = mcppool_events(app->conn);
	int events = (want & MCPPOOL_READ ? EV_READ : 0) | (want & MCPPOOL_WRITE ? EV_WRITE : 0);

	if (!events) {
		ev_io_stop(app->loop, &app->io);
		return;
	}
	if (ev_is_active(&app->io) && app->io.events == events)
		return;
	ev_io_stop(app->loop, &app->io);
	ev_io_set(&app->io, mcppool_fd(app->conn), events);
	ev_io_start(app->loop, &app->io);
}

static void on_reply(mcppool_conn *conn, uint64_t id, const mcppool_result *result,
		     const mcppool_error *err, void *arg)
{
	struct app *app = arg;
	char *json;

	(void)conn;
	app->done++;
	if (err) {
		app->failed++;
		printf("call %llu failed: %s: %s\n", (unsigned long long)id,
		       mcppool_code_name(err->code), err->message);
	} else {
		json = mcppool_result_json(result, 0);
		printf("call %llu: %s\n", (unsigned long long)id, json ? json : "(no JSON form)");
		free(json);
	}
	if (app->done == NCALLS)
		ev_break(app->loop, EVBREAK_ALL);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct app *app = w->data;
	int ready = (revents & EV_READ ? MCPPOOL_READ : 0) | (revents & EV_WRITE ? MCPPOOL_WRITE : 0);

	(void)loop;
	/* On -1 the connection broke, and every callback has already run. */
	if (mcppool_process(app->conn, ready) < 0)
		ev_break(app->loop, EVBREAK_ALL);
	else
		watch(app);
}

int main(int argc, char **argv)
{
	struct app app = { .loop = EV_DEFAULT };
	const char *mcp = argc > 2 ? argv[2] : "demo";
	mcppool_error err;
	char args[64];

	app.conn = mcppool_connect(argc > 1 ? argv[1] : NULL, &err);
	if (!app.conn) {
		fprintf(stderr, "connect: %s: %s\n", mcppool_code_name(err.code), err.message);
		return 69;
	}
	for (int i = 0; i < NCALLS; i++) {
		snprintf(args, sizeof args, "{\"message\":\"hello %d\"}", i);
		if (!mcppool_submit_call(app.conn, "alice", mcp, "echo", args, NULL, 0, on_reply,
					 &app)) {
			fprintf(stderr, "submit: %s\n", mcppool_conn_error(app.conn)->message);
			app.done++;
			app.failed++;
		}
	}
	ev_io_init(&app.io, on_io, mcppool_fd(app.conn), EV_READ);
	app.io.data = &app;
	watch(&app);
	if (app.done < NCALLS)
		ev_run(app.loop, 0);
	mcppool_close(app.conn);
	printf("%d of %d calls succeeded\n", NCALLS - app.failed, NCALLS);
	return app.failed || app.done < NCALLS ? 1 : 0;
}
