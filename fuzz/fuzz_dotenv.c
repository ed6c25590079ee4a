/*
 * Fuzzes the .env parser (daemon/config.c) through config_load --env-file, the input
 * being the file; the environment is emptied first, so the file alone speaks. Checked:
 * - a refusal says why, names the file or the variable, and leaves no allocation in
 *   the config;
 * - an accepted file's configuration, printed by config_print, reads back (as a .env
 *   file again) to a configuration that prints the same: config_print's promise that
 *   its output can be read back with --env-file.
 * - each line, read by dotenv_line() as mcpctl --auth-file reads it (a trailing CR
 *   dropped) with auth-name keys and as config.c does with variable names: a refusal
 *   gives a reason; a blank or '#' line is skipped; a key is of its kind's characters,
 *   key and value lie in the line; a line read with a variable name is read with an
 *   auth name alike; and KEY="value" written back (\n, \" and \\ escaped) reads back
 *   to the same key and value.
 * The file is read by the stand-in for readfile_bounded below, which serves the bytes
 * from memory (daemon/readfile.c is then not linked): the real one allocates its 1 MiB
 * bound on every call, which would make this harness a hundred times slower.
 */
#include "fuzz.h"

#include <ctype.h>
#include <unistd.h>

#include "config.h"
#include "dotenv.h"
#include "readfile.h"

#define ENV_PATH "fuzz.env"

static const char *file_data;
static size_t file_size;

char *readfile_bounded(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	char *buf;

	/* Other files the .env names (MCPPOOL_ADMIN_TOKEN_FILE) do not exist here. */
	if (strcmp(path, ENV_PATH) != 0) {
		snprintf(err, errlen, "%s: No such file or directory", path);
		return NULL;
	}
	if (file_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		return NULL;
	}
	buf = malloc(file_size + 1);
	FUZZ_CHECK(buf, "out of memory");
	memcpy(buf, file_data, file_size);
	buf[file_size] = '\0';
	*len = file_size;
	return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	clearenv();
	return 0;
}

/* config_load of the file; on success *printed holds config_print's text (caller frees). */
static int load(const void *data, size_t size, char **printed, char *err, size_t errlen)
{
	struct config_cli cli = { .env_file = ENV_PATH };
	struct config cfg;
	size_t plen;
	FILE *out;
	int rc;

	file_data = data;
	file_size = size;
	err[0] = '\0';
	rc = config_load(&cfg, &cli, err, errlen);
	if (rc < 0) {
		FUZZ_CHECK(err[0], "refused without a reason");
		FUZZ_CHECK(!cfg.socket_group && !cfg.servers_path && !cfg.child_env,
			   "a refused config holds an allocation");
		return -1;
	}
	out = open_memstream(printed, &plen);
	config_print(&cfg, out);
	fclose(out);
	config_free(&cfg);
	return 0;
}

/* dotenv_line on a copy of line (len bytes, NUL-terminated); key and value are copied out. */
static int parse_line(const char *line, size_t len, enum dotenv_keys keys, char **key,
		      char **value)
{
	char *buf = malloc(len + 1), *k = NULL, *v = NULL;
	const char *why = NULL, *p;
	int r;

	FUZZ_CHECK(buf, "out of memory");
	memcpy(buf, line, len + 1);
	r = dotenv_line(buf, keys, &k, &v, &why);
	*key = *value = NULL;
	if (r < 0) {
		FUZZ_CHECK(why && why[0], "refused without a reason");
	} else if (r == 0) {
		p = line + strspn(line, " \t");
		FUZZ_CHECK(*p == '\0' || *p == '#', "skipped \"%s\"", line);
	} else {
		FUZZ_CHECK(r == 1, "dotenv_line returned %d", r);
		FUZZ_CHECK(k >= buf && k < buf + len && v >= buf && v <= buf + len,
			   "key or value outside the line");
		FUZZ_CHECK(k[0], "an empty key");
		for (p = k; *p; p++)
			FUZZ_CHECK(isalnum((unsigned char)*p) || *p == '_' ||
					   (keys == DOTENV_KEY_AUTH && (*p == '.' || *p == '-')),
				   "key \"%s\"", k);
		if (keys == DOTENV_KEY_VARIABLE)
			FUZZ_CHECK(!isdigit((unsigned char)k[0]), "variable \"%s\"", k);
		*key = strdup(k);
		*value = strdup(v);
		FUZZ_CHECK(*key && *value, "out of memory");
	}
	free(buf);
	return r;
}

static void check_lines(const char *data, size_t size)
{
	const char *end = data + size;

	for (const char *line = data; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = (size_t)((nl ? nl : end) - line);
		char *copy = strndup(line, len), *key, *value, *vkey, *vvalue, *again, *k2, *v2;
		size_t n;
		int r;

		FUZZ_CHECK(copy, "out of memory");
		n = strlen(copy); /* up to a NUL byte, as mcpctl's C string */
		if (n && copy[n - 1] == '\r')
			copy[--n] = '\0';
		r = parse_line(copy, n, DOTENV_KEY_AUTH, &key, &value);
		if (parse_line(copy, n, DOTENV_KEY_VARIABLE, &vkey, &vvalue) == 1)
			FUZZ_CHECK(r == 1 && strcmp(key, vkey) == 0 && strcmp(value, vvalue) == 0,
				   "\"%s\": read apart with an auth name", copy);
		if (r == 1) {
			size_t cap = strlen(key) + 2 * strlen(value) + 4, k = 0;

			again = malloc(cap);
			FUZZ_CHECK(again, "out of memory");
			k = (size_t)snprintf(again, cap, "%s=\"", key);
			for (const char *p = value; *p; p++) {
				if (*p == '\n' || *p == '"' || *p == '\\')
					again[k++] = '\\';
				again[k++] = *p == '\n' ? 'n' : *p;
			}
			again[k++] = '"';
			again[k] = '\0';
			FUZZ_CHECK(parse_line(again, k, DOTENV_KEY_AUTH, &k2, &v2) == 1 &&
					   strcmp(k2, key) == 0 && strcmp(v2, value) == 0,
				   "%s does not read back", again);
			free(k2);
			free(v2);
			free(again);
		}
		free(key);
		free(value);
		free(vkey);
		free(vvalue);
		free(copy);
		line += len + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], *first = NULL, *second = NULL;

	check_lines((const char *)data, size);

	if (load(data, size, &first, err, sizeof(err)) < 0) {
		/* Errors about a variable's value name the variable; about the file, the file. */
		FUZZ_CHECK(strstr(err, ENV_PATH) || strchr(err, '='), "error \"%s\"", err);
		return 0;
	}
	FUZZ_CHECK(load(first, strlen(first), &second, err, sizeof(err)) == 0,
		   "config_print's output does not read back: %s\n%s", err, first);
	FUZZ_CHECK(strcmp(first, second) == 0, "printed\n%s\nread back as\n%s", first, second);
	free(first);
	free(second);
	return 0;
}
