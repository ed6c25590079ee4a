/* Shared helpers of the benchmark: clocks, fatal errors, latency samples, /proc readings. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/* Prints "bench: <message>" to stderr and exits with status 1. The benchmark has no recovery. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* calloc that dies instead of returning NULL. */
void *xcalloc(size_t n, size_t size);

/* Latencies in nanoseconds; grows as needed. */
struct samples {
	uint64_t *ns;
	size_t n, cap;
};

void samples_init(struct samples *s);
void samples_destroy(struct samples *s);
void samples_add(struct samples *s, uint64_t ns);
/* Appends every sample of from to s. */
void samples_merge(struct samples *s, const struct samples *from);
/* The q-quantile (0 <= q <= 1, nearest rank) in microseconds; sorts s. 0 when s is empty. */
double samples_quantile_us(struct samples *s, double q);

/* utime + stime of process pid, in nanoseconds (clock-tick resolution). Dies if unreadable. */
uint64_t proc_cpu_ns(pid_t pid);
/* The same, split: utime in *user, stime in *sys. */
void proc_cpu_split(pid_t pid, uint64_t *user, uint64_t *sys);
/* utime + stime of pid's descendants (threads included), as proc_cpu_ns(); 0 without any. */
uint64_t proc_children_cpu_ns(pid_t pid);
/* CPU times at one instant: a server process (0: none), its children, and this process. */
struct cpu_mark {
	uint64_t server, children, self;
};
void cpu_mark_take(struct cpu_mark *m, pid_t server);

/* VmRSS of process pid, in bytes. Dies if unreadable. */
uint64_t proc_rss_bytes(pid_t pid);
/* PSS of process pid (its share of the pages it maps), in bytes, from /proc/PID/smaps_rollup; 0 if gone. */
uint64_t proc_pss_bytes(pid_t pid);
/* The PSS of every descendant of pid (its main thread's children, recursively); their number in *n. */
uint64_t proc_children_pss_bytes(pid_t pid, unsigned *n);
/* 1 while pid exists and is not a zombie. */
int proc_alive(pid_t pid);

/* Median of n doubles (n > 0); sorts v. */
double median(double *v, size_t n);
/* Prints n per-round values (n > 0) as "median (min–max)" with decimals digits; v is left as it was. */
void spread_print(const double *v, size_t n, int decimals);

#endif
