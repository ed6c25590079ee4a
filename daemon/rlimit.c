/* The open-file limit: raised to its hard limit at start, and checked against the configuration. */
#include "rlimit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

/* The kernel's ceiling for RLIMIT_NOFILE (fs.nr_open); an unlimited hard limit means this. */
static rlim_t nr_open(void)
{
	unsigned long long n = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");

	if (f) {
		if (fscanf(f, "%llu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n ? (rlim_t)n : 1048576; /* the kernel's default */
}

/* Sets the soft limit to the hard one; returns the soft limit now in force. */
static rlim_t raise_soft(struct rlimit *rl)
{
	rlim_t want = rl->rlim_max == RLIM_INFINITY ? nr_open() : rl->rlim_max;
	struct rlimit raised = { want, rl->rlim_max };

	if (rl->rlim_cur != RLIM_INFINITY && rl->rlim_cur >= want)
		return rl->rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
		log_warn("cannot raise the open-file limit from %llu to %llu: %s",
			 (unsigned long long)rl->rlim_cur, (unsigned long long)want, strerror(errno));
		return rl->rlim_cur;
	}
	log_info("open-file limit raised from %llu to %llu", (unsigned long long)rl->rlim_cur,
		 (unsigned long long)want);
	return want;
}

int rlimit_fit(const struct config *cfg, char *err, size_t errlen)
{
	unsigned long long need = (unsigned long long)cfg->max_total * RLIMIT_FDS_PER_CONNECTION +
				  cfg->max_clients + RLIMIT_FDS_RESERVED;
	struct rlimit rl;
	rlim_t limit;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	limit = raise_soft(&rl);
	if (limit == RLIM_INFINITY || need <= (unsigned long long)limit)
		return 0;
	snprintf(err, errlen,
		 "MAX_TOTAL_CONNECTIONS=%u needs %u descriptors each + MCPPOOL_MAX_CLIENTS=%u + %u "
		 "reserved = %llu, but the open-file %s limit is %llu: raise it (LimitNOFILE= in "
		 "the systemd unit, ulimit -Hn as root) or lower MAX_TOTAL_CONNECTIONS or "
		 "MCPPOOL_MAX_CLIENTS",
		 cfg->max_total, RLIMIT_FDS_PER_CONNECTION, cfg->max_clients, RLIMIT_FDS_RESERVED,
		 need, limit == rl.rlim_max ? "hard" : "soft", (unsigned long long)limit);
	return -1;
}
