/* Integration: what the harness promises every other test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config.h"
#include "harness.h"

TestSuite(harness, .init = it_subreaper, .timeout = 60);

#define FROM_THE_SHELL "set-in-the-developers-shell"

/* True when the environment process pid started with holds name=value. */
static bool environ_has(pid_t pid, const char *name, const char *value)
{
	char path[64], want[512], *buf = NULL;
	size_t cap = 0, len = 0, n;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	snprintf(want, sizeof(want), "%s=%s", name, value);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	do {
		if (cap - len < 4096)
			buf = realloc(buf, cap += 65536);
		cr_assert_not_null(buf);
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	for (size_t i = 0; i < len && !found; i += strlen(buf + i) + 1)
		found = strcmp(buf + i, want) == 0;
	free(buf);
	return found;
}

/*
 * A developer's shell may set any variable mcppoold reads: none reaches a daemon
 * the tests start. The names come from daemon/config.c's table, so a variable
 * added there is covered without anyone remembering the harness.
 */
Test(harness, every_configuration_variable_is_scrubbed_from_the_daemons_environment)
{
	struct itd d;
	const char *name;
	size_t n = 0;

	for (size_t i = 0; (name = config_var_name(i)); i++, n++)
		cr_assert_eq(setenv(name, FROM_THE_SHELL, 1), 0);
	cr_assert_geq(n, 20, "the configuration table has only %zu variables", n);
	itd_start(&d, NULL, NULL);
	for (size_t i = 0; (name = config_var_name(i)); i++)
		cr_assert_not(environ_has(d.pid, name, FROM_THE_SHELL), "%s reached the daemon", name);
	itd_stop(&d);
}
