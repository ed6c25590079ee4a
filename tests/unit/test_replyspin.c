/* Unit: when the daemon polls for a server's reply (replyspin.h). */
#include <criterion/criterion.h>

#include "replyspin.h"

#define BUDGET 50u

static void note_n(struct reply_clock *c, unsigned n, double us)
{
	for (unsigned i = 0; i < n; i++)
		reply_clock_note(c, us, BUDGET);
}

Test(replyspin, a_connection_with_no_reply_yet_is_polled_for)
{
	struct reply_clock c = { 0 };

	cr_expect(reply_clock_worth_spinning(&c, BUDGET));
}

Test(replyspin, a_budget_of_zero_never_polls)
{
	struct reply_clock c = { 0 };

	cr_expect_not(reply_clock_worth_spinning(&c, 0));
	note_n(&c, 8, 1);
	cr_expect_not(reply_clock_worth_spinning(&c, 0));
}

Test(replyspin, a_server_answering_within_the_budget_is_polled_for)
{
	struct reply_clock c = { 0 };

	note_n(&c, 20, 30);
	cr_expect(reply_clock_worth_spinning(&c, BUDGET));
	cr_expect_float_eq(c.avg_us, 30, 1e-9);
}

Test(replyspin, a_server_slower_than_the_budget_is_not_polled_for)
{
	struct reply_clock c = { 0 };

	note_n(&c, 20, 130); /* server-everything over stdio, say */
	cr_expect_not(reply_clock_worth_spinning(&c, BUDGET));
}

Test(replyspin, the_first_reply_sets_the_average)
{
	struct reply_clock c = { 0 };

	reply_clock_note(&c, 2000, BUDGET);
	cr_expect_not(reply_clock_worth_spinning(&c, BUDGET));
}

Test(replyspin, one_long_call_costs_a_fast_server_its_polling_for_a_few_replies_only)
{
	struct reply_clock c = { 0 };
	unsigned fast = 0;

	note_n(&c, 20, 20);
	reply_clock_note(&c, 5e6, BUDGET); /* a five-second tool call */
	cr_expect_not(reply_clock_worth_spinning(&c, BUDGET));
	while (!reply_clock_worth_spinning(&c, BUDGET) && fast < 100) {
		reply_clock_note(&c, 20, BUDGET);
		fast++;
	}
	cr_expect_leq(fast, 4, "%u fast replies to be polled for again", fast);
}

Test(replyspin, a_server_that_turns_slow_stops_being_polled_for)
{
	struct reply_clock c = { 0 };
	unsigned slow = 0;

	note_n(&c, 20, 20);
	while (reply_clock_worth_spinning(&c, BUDGET) && slow < 100) {
		reply_clock_note(&c, 1000, BUDGET);
		slow++;
	}
	cr_expect_leq(slow, 2, "%u slow replies to stop polling", slow);
}

Test(replyspin, a_clock_running_backwards_counts_as_an_instant_reply)
{
	struct reply_clock c = { 0 };

	reply_clock_note(&c, -5, BUDGET);
	cr_expect_float_eq(c.avg_us, 0, 1e-9);
	cr_expect(reply_clock_worth_spinning(&c, BUDGET));
}
