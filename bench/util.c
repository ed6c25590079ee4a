/* Shared helpers of the benchmark: clocks, fatal errors, latency samples, /proc readings. */
#include "util.h"

#include <dirent.h>
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

void spread_print(const double *v, size_t n, int decimals)
{
	double *s = xcalloc(n, sizeof(*s)), m;

	memcpy(s, v, n * sizeof(*s));
	m = median(s, n); /* sorts s */
	printf("%.*f (%.*f–%.*f)", decimals, m, decimals, s[0], decimals, s[n - 1]);
	free(s);
}

/* Reads the file at path into buf (NUL-terminated); -1 when it cannot be opened. */
static int read_small_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

/* Reads /proc/PID/NAME into buf; dies on failure. */
static void proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	if (read_small_file(path, buf, size) < 0)
		die("%s: %s", path, strerror(errno));
}

/* The state letter in the text of /proc/PID/stat, after comm (which may hold ')'); 0 if none. */
static char stat_state(const char *stat)
{
	const char *p = strrchr(stat, ')');

	return p && p[1] == ' ' ? p[2] : 0;
}

/* utime and stime out of the text of /proc/PID/stat, in ns; -1 when it does not fit. */
static int stat_cpu_split(const char *stat, uint64_t *user, uint64_t *sys)
{
	unsigned long utime, stime;
	uint64_t tick = 1000000000u / (uint64_t)sysconf(_SC_CLK_TCK);
	const char *p = strrchr(stat, ')');

	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &utime, &stime) != 2)
		return -1;
	*user = utime * tick;
	*sys = stime * tick;
	return 0;
}

void proc_cpu_split(pid_t pid, uint64_t *user, uint64_t *sys)
{
	char buf[1024];

	proc_read(pid, "stat", buf, sizeof(buf));
	if (stat_cpu_split(buf, user, sys) < 0)
		die("/proc/%d/stat: unexpected format", (int)pid);
}

uint64_t proc_cpu_ns(pid_t pid)
{
	uint64_t user, sys;

	proc_cpu_split(pid, &user, &sys);
	return user + sys;
}

static uint64_t descendants_cpu_ns(pid_t pid, int depth);

/* CPU time of every process listed in the `children` file at path, and of their descendants. */
static uint64_t children_listed_in(const char *path, int depth)
{
	char stat_path[64], buf[1024];
	uint64_t sum = 0;
	FILE *list = fopen(path, "r");
	int child;

	if (!list)
		return 0;
	while (fscanf(list, "%d", &child) == 1) {
		uint64_t user, sys;

		snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", child);
		/* A child may exit between the listing and this read: it then counts 0. */
		if (read_small_file(stat_path, buf, sizeof(buf)) < 0 ||
		    stat_cpu_split(buf, &user, &sys) < 0)
			continue;
		sum += user + sys + descendants_cpu_ns(child, depth + 1);
	}
	fclose(list);
	return sum;
}

/* Servers may run under a shell or npx: the whole tree counts, to a sane depth. */
static uint64_t descendants_cpu_ns(pid_t pid, int depth)
{
	char path[320];
	struct dirent *d;
	uint64_t sum = 0;
	DIR *tasks;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (depth > 8 || !(tasks = opendir(path)))
		return 0;
	while ((d = readdir(tasks))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, d->d_name);
		sum += children_listed_in(path, depth);
	}
	closedir(tasks);
	return sum;
}

uint64_t proc_children_cpu_ns(pid_t pid)
{
	return descendants_cpu_ns(pid, 0);
}

void cpu_mark_take(struct cpu_mark *m, pid_t server)
{
	m->server = server ? proc_cpu_ns(server) : 0;
	m->children = server ? proc_children_cpu_ns(server) : 0;
	m->self = proc_cpu_ns(getpid());
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
	char path[64], buf[1024];
	char state;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) < 0)
		return 0;
	state = stat_state(buf);
	return state && state != 'Z' && state != 'X';
}

uint64_t proc_pss_bytes(pid_t pid)
{
	char path[64], buf[4096];
	const char *p;
	unsigned long kb;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) < 0 || !(p = strstr(buf, "\nPss:")) ||
	    sscanf(p + 5, "%lu", &kb) != 1)
		return 0;
	return (uint64_t)kb * 1024;
}

/* The PSS of the processes listed in pid's children file and of their descendants; counts them in *n. */
static uint64_t descendants_pss(pid_t pid, int depth, unsigned *n)
{
	char path[64];
	uint64_t sum = 0;
	FILE *list;
	int child;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (depth > 8 || !(list = fopen(path, "r")))
		return 0;
	while (fscanf(list, "%d", &child) == 1) {
		sum += proc_pss_bytes(child) + descendants_pss(child, depth + 1, n);
		(*n)++;
	}
	fclose(list);
	return sum;
}

uint64_t proc_children_pss_bytes(pid_t pid, unsigned *n)
{
	*n = 0;
	return descendants_pss(pid, 0, n);
}
