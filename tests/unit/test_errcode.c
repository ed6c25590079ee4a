/* Unit tests of the stable error code strings (proto/errcode.c). */
#include <string.h>

#include <criterion/criterion.h>

#include "errcode.h"

Test(errcode, every_code_round_trips_through_its_name)
{
	for (int code = 0; code < ERR__COUNT; code++) {
		const char *name = errcode_name(code);

		cr_assert_not_null(name);
		cr_assert_eq(errcode_from_name(name, strlen(name)), code, "%s", name);
	}
}

Test(errcode, names_are_distinct)
{
	for (int a = 0; a < ERR__COUNT; a++)
		for (int b = a + 1; b < ERR__COUNT; b++)
			cr_assert_str_neq(errcode_name(a), errcode_name(b));
}

Test(errcode, contract_strings_are_unchanged)
{
	cr_assert_str_eq(errcode_name(ERR_BAD_REQUEST), "BAD_REQUEST");
	cr_assert_str_eq(errcode_name(ERR_POOL_EXHAUSTED), "POOL_EXHAUSTED");
	cr_assert_str_eq(errcode_name(ERR_UPSTREAM_ERROR), "UPSTREAM_ERROR");
	cr_assert_str_eq(errcode_name(ERR_CANCELLED), "CANCELLED");
}

Test(errcode, unknown_names_map_to_internal)
{
	cr_assert_eq(errcode_from_name("NOPE", 4), ERR_INTERNAL);
	cr_assert_eq(errcode_from_name("", 0), ERR_INTERNAL);
	cr_assert_eq(errcode_from_name("bad_request", 11), ERR_INTERNAL);
	/* A prefix of a real name, given with its own length, is not that name. */
	cr_assert_eq(errcode_from_name("BAD_REQUEST", 3), ERR_INTERNAL);
}

Test(errcode, out_of_range_codes_name_internal)
{
	cr_assert_str_eq(errcode_name(-1), "INTERNAL");
	cr_assert_str_eq(errcode_name(ERR__COUNT), "INTERNAL");
}
