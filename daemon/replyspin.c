/* When to poll for a server's reply instead of sleeping: a moving average of its reply times. */
#include "replyspin.h"

#define CLAMP_BUDGETS 4.0 /* a reply slower than this many budgets counts as this many */
#define WEIGHT 0.25       /* of the newest reply in the average */

bool reply_clock_worth_spinning(const struct reply_clock *c, unsigned budget_us)
{
	return budget_us > 0 && (c->replies == 0 || c->avg_us <= (double)budget_us);
}

void reply_clock_note(struct reply_clock *c, double us, unsigned budget_us)
{
	double cap = CLAMP_BUDGETS * (double)budget_us;

	if (us < 0)
		us = 0;
	if (budget_us > 0 && us > cap)
		us = cap;
	c->avg_us = c->replies == 0 ? us : c->avg_us + WEIGHT * (us - c->avg_us);
	c->replies++;
}
