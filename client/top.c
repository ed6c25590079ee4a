/* mcpctl top: a live terminal view of the pool. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mcppool.h"
#include "top.h"

#define TOP_EXIT_OK 0
#define TOP_EXIT_ERROR 1
#define TOP_EXIT_UNREACHABLE 69
#define TOP_REFRESH_MS 1000
#define TOP_MAX_SERVERS 256

/* One catalog server's cumulative counters, read from the metrics text. */
struct top_server {
	char name[129];
	double requests, errors, latency_sum, latency_count;
	unsigned conns;
};

/* What one frame is drawn from. */
struct top_sample {
	double t;             /* monotonic seconds */
	double requests, clients;
	struct top_server servers[TOP_MAX_SERVERS];
	size_t nservers;
	json_t *status;       /* pool_status data */
};

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static double top_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- reading the daemon ------------------------------------------------------ */

static struct top_server *top_server_of(struct top_sample *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->nservers; i++)
		if (strlen(s->servers[i].name) == len && memcmp(s->servers[i].name, name, len) == 0)
			return &s->servers[i];
	if (s->nservers == TOP_MAX_SERVERS || len >= sizeof(s->servers[0].name))
		return NULL;
	struct top_server *srv = &s->servers[s->nservers++];
	memset(srv, 0, sizeof(*srv));
	memcpy(srv->name, name, len);
	return srv;
}

/* The value of label server="..." in line (escapes as the exposition writes them), into buf. */
static size_t top_label(const char *line, const char *label, char *buf, size_t cap)
{
	const char *p = strstr(line, label);
	size_t n = 0;

	if (!p)
		return 0;
	for (p += strlen(label); *p && *p != '"' && n + 1 < cap; p++) {
		bool escaped = *p == '\\' && p[1];
		if (escaped)
			p++;
		buf[n++] = escaped && *p == 'n' ? '\n' : *p;
	}
	buf[n] = '\0';
	return n;
}

/* One line of the exposition: the families top shows. */
static void top_metric_line(struct top_sample *s, const char *line)
{
	const char *sp = strrchr(line, ' ');
	char name[129], code[64];
	struct top_server *srv;
	size_t len;
	double v;

	if (!sp || line[0] == '#')
		return;
	v = strtod(sp + 1, NULL);
	if (strncmp(line, "mcppool_requests_total ", 23) == 0)
		s->requests = v;
	else if (strncmp(line, "mcppool_clients ", 16) == 0)
		s->clients = v;
	if (strncmp(line, "mcppool_server_", 15) != 0 && strncmp(line, "mcppool_request_duration", 24) != 0)
		return;
	if (!(len = top_label(line, "server=\"", name, sizeof(name))) || !(srv = top_server_of(s, name, len)))
		return;
	if (strncmp(line, "mcppool_server_requests_total{", 30) == 0)
		srv->requests = v;
	else if (strncmp(line, "mcppool_server_replies_total{", 29) == 0 &&
		 top_label(line, "code=\"", code, sizeof(code)) && strcmp(code, "OK") != 0)
		srv->errors += v;
	else if (strncmp(line, "mcppool_request_duration_seconds_sum{", 37) == 0)
		srv->latency_sum = v;
	else if (strncmp(line, "mcppool_request_duration_seconds_count{", 39) == 0)
		srv->latency_count = v;
}

static json_t *top_result_json(const mcppool_result *res)
{
	char *text = mcppool_value_json(mcppool_result_value(res), 0);
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

	free(text);
	return j;
}

static int top_cmp_server(const void *a, const void *b)
{
	return strcmp(((const struct top_server *)a)->name, ((const struct top_server *)b)->name);
}

/* Fills s from pool_status and metrics. Returns 0, or -1 with err filled. */
static int top_sample(mcppool_conn *c, struct top_sample *s, mcppool_error *err)
{
	mcppool_result *res = NULL;
	const msgpack_object *text;
	char *copy, *line, *save = NULL;

	memset(s, 0, sizeof(*s));
	s->t = top_now();
	if (mcppool_pool_status(c, &res, err) < 0)
		return -1;
	s->status = top_result_json(res);
	mcppool_result_free(res);
	res = NULL;
	if (mcppool_metrics(c, &res, err) < 0) {
		json_decref(s->status);
		s->status = NULL;
		return -1;
	}
	text = mcppool_map_get(mcppool_result_value(res), "text");
	if (text && text->type == MSGPACK_OBJECT_STR &&
	    (copy = strndup(text->via.str.ptr, text->via.str.size))) {
		for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			top_metric_line(s, line);
		free(copy);
	}
	mcppool_result_free(res);
	qsort(s->servers, s->nservers, sizeof(s->servers[0]), top_cmp_server);
	return 0;
}

/* ---- drawing ----------------------------------------------------------------- */

static double top_rate(double now, double before, double dt)
{
	return dt > 0 && now >= before ? (now - before) / dt : 0;
}

static const struct top_server *top_find(const struct top_sample *s, const char *name)
{
	for (size_t i = 0; s && i < s->nservers; i++)
		if (strcmp(s->servers[i].name, name) == 0)
			return &s->servers[i];
	return NULL;
}

/* Seconds since an ISO-8601 UTC time with milliseconds; -1 when unreadable. */
static double top_since(const char *iso)
{
	struct tm tm = { 0 };
	struct timespec now;
	const char *rest;

	if (!iso || !(rest = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	double t = (double)timegm(&tm) + (*rest == '.' ? strtod(rest, NULL) : 0);
	double d = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - t;
	return d < 0 ? 0 : d;
}

static void top_duration(double secs, char *buf, size_t len)
{
	long s = (long)secs;

	if (secs < 0)
		snprintf(buf, len, "?");
	else if (s < 60)
		snprintf(buf, len, "%lds", s);
	else if (s < 3600)
		snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
	else
		snprintf(buf, len, "%ldh%02ldm", s / 3600, s % 3600 / 60);
}

static const char *top_str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

static void top_draw_servers(const struct top_sample *cur, const struct top_sample *prev, FILE *out)
{
	double dt = prev ? cur->t - prev->t : 0;
	json_t *details = json_object_get(cur->status, "connectionDetails"), *e;
	size_t i;

	fprintf(out, "%-24s %6s %9s %9s %10s\n", "SERVER", "CONNS", "REQ/S", "ERR/S", "AVG MS");
	for (size_t k = 0; k < cur->nservers; k++) {
		const struct top_server *s = &cur->servers[k], *p = top_find(prev, s->name);
		unsigned conns = 0;
		char req[16] = "-", errs[16] = "-", avg[16] = "-";

		json_array_foreach(details, i, e)
			conns += strcmp(top_str(e, "name"), s->name) == 0;
		if (p) {
			double n = s->latency_count - p->latency_count;
			snprintf(req, sizeof(req), "%.1f", top_rate(s->requests, p->requests, dt));
			snprintf(errs, sizeof(errs), "%.1f", top_rate(s->errors, p->errors, dt));
			if (n > 0)
				snprintf(avg, sizeof(avg), "%.1f", (s->latency_sum - p->latency_sum) / n * 1000);
		}
		fprintf(out, "%-24.24s %6u %9s %9s %10s\n", s->name, conns, req, errs, avg);
	}
}

/* One row per connection, by user then server, as many as the screen has rows for. */
static void top_draw_connections(const struct top_sample *cur, unsigned rows, FILE *out)
{
	json_t *details = json_object_get(cur->status, "connectionDetails"), *e;
	size_t i, n = json_array_size(details), shown = 0;
	char idle[48];

	fprintf(out, "\n%-20s %-20s %-9s %8s %8s %8s %s\n", "USER", "SERVER", "STATE", "INFLIGHT",
		"IDLE", "PID", "TRANSPORT");
	json_array_foreach(details, i, e) {
		json_int_t inflight = json_integer_value(json_object_get(e, "inFlight"));
		if (rows && shown + 1 >= rows && n - shown > 1) {
			fprintf(out, "... %zu more (mcpctl --pretty pool-status lists them all)\n", n - shown);
			break;
		}
		if (inflight > 0)
			snprintf(idle, sizeof(idle), "-");
		else
			top_duration(top_since(top_str(e, "lastUsed")), idle, sizeof(idle));
		fprintf(out, "%-20.20s %-20.20s %-9s %8lld %8s %8lld %s\n", top_str(e, "userId"),
			top_str(e, "name"), top_str(e, "state"), (long long)inflight, idle,
			(long long)json_integer_value(json_object_get(e, "pid")), top_str(e, "transport"));
		shown++;
	}
	if (n == 0)
		fprintf(out, "(no connections)\n");
}

static int top_cmp_connection(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(top_str(x, "userId"), top_str(y, "userId"));

	return c ? c : strcmp(top_str(x, "name"), top_str(y, "name"));
}

/* Sorts connectionDetails by user, then server, so rows keep their place between frames. */
static void top_sort(json_t *status)
{
	json_t *details = json_object_get(status, "connectionDetails");
	size_t n = json_array_size(details);
	json_t **v = n ? calloc(n, sizeof(*v)) : NULL;

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(details, i));
	qsort(v, n, sizeof(*v), top_cmp_connection);
	json_array_clear(details);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(details, v[i]);
	free(v);
}

static void top_draw(const struct top_sample *cur, const struct top_sample *prev, bool tty,
		     FILE *out)
{
	json_t *cfg = json_object_get(cur->status, "config");
	struct winsize ws = { 0 };
	unsigned rows = 0;
	time_t now = time(NULL);
	char stamp[32];

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	if (tty) {
		fputs("\033[H\033[2J", out);
		if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_row > 8)
			rows = ws.ws_row - 8 - (unsigned)cur->nservers;
	}
	fprintf(out, "mcppool top  %s%s\n", stamp, tty ? "  (q quits)" : "");
	fprintf(out, "connections %lld of %lld (per user at most %lld)   clients %.0f   requests/s ",
		(long long)json_integer_value(json_object_get(cur->status, "totalConnections")),
		(long long)json_integer_value(json_object_get(cfg, "maxTotalConnections")),
		(long long)json_integer_value(json_object_get(cfg, "maxConnectionsPerUser")),
		cur->clients);
	if (prev)
		fprintf(out, "%.1f\n\n", top_rate(cur->requests, prev->requests, cur->t - prev->t));
	else
		fprintf(out, "-\n\n");
	top_draw_servers(cur, prev, out);
	top_draw_connections(cur, rows, out);
	fflush(out);
}

/* ---- the loop ------------------------------------------------------------------ */

/* Waits up to ms for 'q' on the terminal; true when asked to quit. */
static bool top_wait(bool keys, int ms)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	char ch;

	if (!keys) {
		poll(NULL, 0, ms);
		return top_stop;
	}
	if (poll(&p, 1, ms) > 0) {
		ssize_t n = read(STDIN_FILENO, &ch, 1);
		if (n == 0 || (n == 1 && (ch == 'q' || ch == 'Q')))
			return true;
	}
	return top_stop;
}

int top_run(const struct top_opts *opts, FILE *out, FILE *errf)
{
	static struct top_sample samples[2];
	struct top_sample *cur = &samples[0], *prev = NULL;
	bool tty = isatty(fileno(out)), keys = !opts->once && isatty(STDIN_FILENO);
	struct sigaction sa = { .sa_handler = top_on_signal };
	struct termios saved, raw;
	bool raw_set = false;
	mcppool_error err;
	mcppool_conn *c = mcppool_connect(opts->socket, &err);
	int status = TOP_EXIT_OK;

	if (!c) {
		fprintf(errf, "mcpctl top: %s\n", err.message);
		return TOP_EXIT_UNREACHABLE;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw_set = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	for (;;) {
		if (top_sample(c, cur, &err) < 0) {
			fprintf(errf, "mcpctl top: %s: %s\n", mcppool_code_name(err.code), err.message);
			status = err.code == MCPPOOL_NOT_CONNECTED ? TOP_EXIT_UNREACHABLE : TOP_EXIT_ERROR;
			break;
		}
		top_sort(cur->status);
		top_draw(cur, prev, tty && !opts->once, out);
		if (prev)
			json_decref(prev->status);
		prev = cur;
		cur = cur == &samples[0] ? &samples[1] : &samples[0];
		if (opts->once || top_wait(keys, TOP_REFRESH_MS))
			break;
		if (!tty)
			fputc('\n', out);
	}
	if (prev)
		json_decref(prev->status);
	if (raw_set)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	mcppool_close(c);
	return status;
}
