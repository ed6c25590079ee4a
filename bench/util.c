/* Shared helpers of the benchmark: clocks, fatal errors, latency samples, /proc readings. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		die("out of memory");
	return p;
}

void samples_init(struct samples *s)
{
	s->cap = 1024;
	s->n = 0;
	s->ns = xcalloc(s->cap, sizeof(*s->ns));
}

void samples_destroy(struct samples *s)
{
	free(s->ns);
	s->ns = NULL;
	s->n = s->cap = 0;
}

void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		uint64_t *grown = realloc(s->ns, 2 * s->cap * sizeof(*s->ns));

		if (!grown)
			die("out of memory");
		s->ns = grown;
		s->cap *= 2;
	}
	s->ns[s->n++] = ns;
}

void samples_merge(struct samples *s, const struct samples *from)
{
	for (size_t i = 0; i < from->n; i++)
		samples_add(s, from->ns[i]);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double samples_quantile_us(struct samples *s, double q)
{
	size_t rank;

	if (!s->n)
		return 0;
	qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
	rank = (size_t)(q * (double)s->n + 0.999999);
	rank = rank ? rank - 1 : 0;
	if (rank >= s->n)
		rank = s->n - 1;
	return (double)s->ns[rank] / 1000.0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Reads /proc/PID/NAME into buf (NUL-terminated); dies on failure. */
static void proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

uint64_t proc_cpu_ns(pid_t pid)
{
	char buf[1024];
	unsigned long utime, stime;
	const char *p;

	proc_read(pid, "stat", buf, sizeof(buf));
	/* comm may hold spaces and parentheses: fields resume after its last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &utime, &stime) != 2)
		die("/proc/%d/stat: unexpected format", (int)pid);
	return (uint64_t)(utime + stime) * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
}

uint64_t proc_rss_bytes(pid_t pid)
{
	char buf[4096];
	const char *p;
	unsigned long kb;

	proc_read(pid, "status", buf, sizeof(buf));
	p = strstr(buf, "\nVmRSS:");
	if (!p || sscanf(p + 7, "%lu", &kb) != 1)
		die("/proc/%d/status: no VmRSS", (int)pid);
	return (uint64_t)kb * 1024;
}

int proc_alive(pid_t pid)
{
	char path[64], buf[512];
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}
