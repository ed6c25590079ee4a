/* Unit tests: the configuration's warnings (did you mean, timeouts in force). */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "catalog.h"
#include "confcheck.h"
#include "config.h"

Test(confcheck, distance_counts_edits_and_adjacent_swaps_as_one)
{
	cr_expect_eq(confcheck_distance("abc", "abc"), 0);
	cr_expect_eq(confcheck_distance("abc", "abd"), 1);
	cr_expect_eq(confcheck_distance("abc", "ab"), 1);
	cr_expect_eq(confcheck_distance("abc", "acb"), 1);
	cr_expect_eq(confcheck_distance("", "abc"), 3);
}

Test(confcheck, near_misses_of_the_seeds_variables_are_recognised)
{
	cr_expect_str_eq(confcheck_suggest("MAX_CONECTIONS_PER_USER"), "MAX_CONNECTIONS_PER_USER");
	cr_expect_str_eq(confcheck_suggest("MAX_TOTAL_CONNECTION"), "MAX_TOTAL_CONNECTIONS");
	cr_expect_str_eq(confcheck_suggest("CONNECTON_TIMEOUT"), "CONNECTION_TIMEOUT");
	cr_expect_str_eq(confcheck_suggest("CLEANUP_INTERVALL"), "CLEANUP_INTERVAL");
	cr_expect_str_eq(confcheck_suggest("MCPPOOL_MAX_TOTAL_CONNECTIONS"), "MAX_TOTAL_CONNECTIONS");
	cr_expect_str_eq(confcheck_suggest("MCPPOOL_SHUTDOWN_TIMEOTU"), "MCPPOOL_SHUTDOWN_TIMEOUT");
}

Test(confcheck, known_and_unrelated_names_get_no_suggestion)
{
	cr_expect_null(confcheck_suggest("MAX_CONNECTIONS_PER_USER"));
	cr_expect_null(confcheck_suggest("MCPPOOL_ADMIN_TOKEN"));
	cr_expect_null(confcheck_suggest("DATABASE_URL"));
	cr_expect_null(confcheck_suggest("PATH"));
	cr_expect_null(confcheck_suggest("MCPPOOL_SOMETHING_ELSE_ENTIRELY"));
}

Test(confcheck, unknown_prefixed_names_and_near_misses_warn_others_do_not)
{
	cr_expect_eq(confcheck_variable("MCPPOOL_NO_SUCH_THING", "test"), 1);
	cr_expect_eq(confcheck_variable("MAX_CONECTIONS_PER_USER", "test"), 1);
	cr_expect_eq(confcheck_variable("HOME", "test"), 0);
	cr_expect_eq(confcheck_variable("REQUEST_TIMEOUT", "test"), 0);
}

Test(confcheck, the_timeouts_line_names_every_millisecond_variable_and_entry_timeouts)
{
	struct config cfg;
	struct catalog cat = { 0 };
	char err[256], line[2048];

	config_defaults(&cfg);
	cr_assert_eq(catalog_load_string(&cat, "{\"mcpServers\": {\"slow\": {\"command\": \"x\", "
					 "\"timeout\": 200}, \"plain\": {\"command\": \"y\"}}}",
					 "t", err, sizeof(err)),
		     0, "%s", err);
	confcheck_timeouts(&cfg, &cat, line, sizeof(line));
	cr_expect(strstr(line, "CONNECTION_TIMEOUT=1800000"), "%s", line);
	cr_expect(strstr(line, "CLEANUP_INTERVAL=300000"), "%s", line);
	cr_expect(strstr(line, "REQUEST_TIMEOUT=60000"), "%s", line);
	cr_expect(strstr(line, "MCPPOOL_START_TIMEOUT=60000"), "%s", line);
	cr_expect(strstr(line, "MCPPOOL_SHUTDOWN_TIMEOUT=30000"), "%s", line);
	cr_expect(strstr(line, "slow.timeout=200"), "%s", line);
	cr_expect_null(strstr(line, "plain.timeout"), "%s", line);
	cr_expect_null(strstr(line, "MAX_TOTAL_CONNECTIONS"), "%s", line);
	catalog_free(&cat);
}
