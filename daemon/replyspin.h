/* When to poll for a server's reply instead of sleeping (MCPPOOL_REPLY_SPIN_US): the per-connection estimate. */
#ifndef MCPPOOL_REPLYSPIN_H
#define MCPPOOL_REPLYSPIN_H

#include <stdbool.h>

/*
 * How fast one connection's server has been answering: a moving average
 * (EWMA, weight 1/4 for the newest) of its reply times in µs. A reply is
 * timed from the write of its request to the loop iteration that read it.
 * Pure arithmetic, no I/O. A reply slower than 4 × the budget counts as
 * 4 × the budget, so that one long tool call does not cost a fast server its
 * spinning for hundreds of calls: a few fast replies bring it back.
 */
struct reply_clock {
	double avg_us;    /* 0 until the first reply */
	unsigned replies; /* replies timed: the first sets avg_us */
};

/*
 * True when a request sent now is worth polling for: the loop spins up to
 * budget_us for its reply instead of sleeping. A connection with no reply timed
 * yet is given the benefit of the doubt; budget_us 0 (off) is never worth it.
 */
bool reply_clock_worth_spinning(const struct reply_clock *c, unsigned budget_us);

/* Notes one reply that took us µs (clamped as above). */
void reply_clock_note(struct reply_clock *c, double us, unsigned budget_us);

#endif
