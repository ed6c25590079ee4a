/*
 * reaper: runs a test binary as a subreaper and reports the processes it left behind.
 *
 *   reaper [-g GRACE_MS] COMMAND [ARG]...
 *
 * Every process COMMAND starts, at any depth, is a descendant of the reaper:
 * one whose parent exits is re-parented to it (PR_SET_CHILD_SUBREAPER) rather
 * than to init. So when COMMAND has exited, whatever still lives below the
 * reaper was left behind by the run, and nothing else is: a daemon the user
 * started by hand, or another worktree's test run, is not below it. Leftovers
 * get GRACE_MS to exit on their own (a daemon told to stop by its test's exit
 * is finishing its shutdown; default 5000); those still there are listed on stderr as
 * "reaper: left behind: PID STATE ARGS" and killed (SIGKILL), with their
 * descendants. Orphans that exit meanwhile are reaped and not counted: they
 * were gone when the run ended.
 *
 * Exit status: COMMAND's when it failed (128 + N when killed by signal N),
 * else 1 when something was left behind, else 0. A last line says which:
 * "reaper: left behind: N process(es)" or "reaper: nothing left behind".
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GRACE_MS 5000 /* default */
#define MAX_PROCS 4096

struct proc {
	pid_t pid, ppid;
	char state;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Reads pid's parent and state from /proc/PID/stat; false when it is gone. */
static bool read_stat(pid_t pid, struct proc *p)
{
	char path[64], buf[1024], *close_paren;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "r")))
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "PID (COMM) S PPID ...": COMM may hold spaces and parentheses. */
	close_paren = strrchr(buf, ')');
	if (!close_paren || sscanf(close_paren + 1, " %c %d", &p->state, &p->ppid) != 2)
		return false;
	p->pid = pid;
	return true;
}

/* Every process of the system; returns how many (at most max). */
static size_t list_procs(struct proc *procs, size_t max)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	size_t n = 0;

	if (!dir)
		return 0;
	while ((de = readdir(dir)) && n < max) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end == '\0' && pid > 0 && read_stat((pid_t)pid, &procs[n]))
			n++;
	}
	closedir(dir);
	return n;
}

/* True when pid is below ancestor in procs. */
static bool descends_from(const struct proc *procs, size_t n, pid_t pid, pid_t ancestor)
{
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		size_t i;
		for (i = 0; i < n && procs[i].pid != pid; i++)
			;
		if (i == n)
			return false;
		if (procs[i].ppid == ancestor)
			return true;
		pid = procs[i].ppid;
	}
	return false;
}

static void print_left_behind(const struct proc *p)
{
	char path[64], args[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)p->pid);
	if ((f = fopen(path, "r"))) {
		n = fread(args, 1, sizeof(args) - 1, f);
		fclose(f);
	}
	while (n > 0 && args[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (args[i] == '\0')
			args[i] = ' ';
	args[n] = '\0';
	if (n == 0) { /* a zombie: only its name is left */
		snprintf(path, sizeof(path), "/proc/%ld/comm", (long)p->pid);
		if ((f = fopen(path, "r"))) {
			n = fread(args + 1, 1, sizeof(args) - 3, f);
			fclose(f);
		}
		while (n > 0 && args[n] == '\n')
			n--;
		args[0] = '[';
		args[n + 1] = ']';
		args[n + 2] = '\0';
	}
	fprintf(stderr, "reaper: left behind: %ld %c %s\n", (long)p->pid, p->state, args);
}

/* Reaps every child that has exited; returns how many children are still there. */
static int reap_exited(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		;
	return pid == 0 ? 1 : 0; /* 0: children remain; -1 (ECHILD): none */
}

/* Adds pid to the processes already listed; false when it was there. */
static bool first_sight(pid_t pid)
{
	static pid_t seen[MAX_PROCS];
	static size_t nseen;

	for (size_t i = 0; i < nseen; i++)
		if (seen[i] == pid)
			return false;
	if (nseen < MAX_PROCS)
		seen[nseen++] = pid;
	return true;
}

/* Lists (once each) and kills what is still below us; returns how many were new. */
static int kill_left_behind(void)
{
	static struct proc procs[MAX_PROCS];
	size_t n = list_procs(procs, MAX_PROCS);
	pid_t self = getpid();
	int count = 0;

	for (size_t i = 0; i < n; i++) {
		if (procs[i].pid == self || !descends_from(procs, n, procs[i].pid, self))
			continue;
		if (first_sight(procs[i].pid)) {
			print_left_behind(&procs[i]);
			count++;
		}
		kill(procs[i].pid, SIGKILL);
	}
	return count;
}

int main(int argc, char **argv)
{
	int status, left = 0, code;
	long grace = GRACE_MS;
	pid_t child;

	if (argc > 2 && strcmp(argv[1], "-g") == 0) {
		grace = atol(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: reaper [-g GRACE_MS] COMMAND [ARG]...\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("reaper: prctl(PR_SET_CHILD_SUBREAPER)");
		return 2;
	}
	if ((child = fork()) < 0) {
		perror("reaper: fork");
		return 2;
	}
	if (child == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "reaper: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	/* Orphans re-parented to us meanwhile are reaped as they exit. */
	for (;;) {
		pid_t pid = waitpid(-1, &status, 0);
		if (pid == child)
			break;
		if (pid < 0 && errno != EINTR) {
			perror("reaper: waitpid");
			return 2;
		}
	}
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	for (long waited = 0; reap_exited() && waited < grace; waited += 20)
		sleep_ms(20);
	for (int round = 0; reap_exited() && round < 250; round++) {
		left += kill_left_behind();
		sleep_ms(20);
	}
	if (left)
		fprintf(stderr, "reaper: left behind: %d process%s\n", left, left == 1 ? "" : "es");
	else
		fprintf(stderr, "reaper: nothing left behind\n");
	return code ? code : left ? 1 : 0;
}
