/* Unit tests: the .env line syntax shared by --env-file and mcpctl's --auth-file. */
#include <string.h>

#include <criterion/criterion.h>

#include "dotenv.h"

static int parse(const char *text, enum dotenv_keys keys, char *buf, char **key, char **value,
		 const char **why)
{
	strcpy(buf, text);
	return dotenv_line(buf, keys, key, value, why);
}

Test(dotenv, auth_keys_take_dots_and_dashes_and_the_env_syntax)
{
	char buf[256], *k, *v;
	const char *why = NULL;

	cr_assert_eq(parse("export user.id = 'x y'  # c", DOTENV_KEY_AUTH, buf, &k, &v, &why), 1);
	cr_expect_str_eq(k, "user.id");
	cr_expect_str_eq(v, "x y");
	cr_assert_eq(parse("api-key=\"a\\\"b # not a comment\"", DOTENV_KEY_AUTH, buf, &k, &v, &why), 1);
	cr_expect_str_eq(k, "api-key");
	cr_expect_str_eq(v, "a\"b # not a comment");
	cr_assert_eq(parse("token=abc#def # comment", DOTENV_KEY_AUTH, buf, &k, &v, &why), 1);
	cr_expect_str_eq(v, "abc#def");
}

Test(dotenv, comments_and_blank_lines_are_skipped)
{
	char buf[256], *k, *v;
	const char *why = NULL;

	cr_expect_eq(parse("   # x=y", DOTENV_KEY_AUTH, buf, &k, &v, &why), 0);
	cr_expect_eq(parse("", DOTENV_KEY_VARIABLE, buf, &k, &v, &why), 0);
}

Test(dotenv, variable_keys_refuse_what_auth_keys_accept)
{
	char buf[256], *k, *v;
	const char *why = NULL;

	cr_expect_eq(parse("user.id=x", DOTENV_KEY_VARIABLE, buf, &k, &v, &why), -1);
	cr_expect_eq(parse("=x", DOTENV_KEY_AUTH, buf, &k, &v, &why), -1);
	cr_expect(strstr(why, "invalid key"), "%s", why);
	cr_expect_eq(parse("token 'x'", DOTENV_KEY_AUTH, buf, &k, &v, &why), -1);
	cr_expect_eq(parse("token='x", DOTENV_KEY_AUTH, buf, &k, &v, &why), -1);
	cr_expect_str_eq(why, "unterminated quote");
}
