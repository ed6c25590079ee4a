/*
 * Fuzzes the .env parser (daemon/config.c) through config_load --env-file, the input
 * being the file; the environment is emptied first, so the file alone speaks. Checked:
 * - a refusal says why, names the file or the variable, and leaves no allocation in
 *   the config;
 * - an accepted file's configuration, printed by config_print, reads back (as a .env
 *   file again) to a configuration that prints the same: config_print's promise that
 *   its output can be read back with --env-file.
 * The file is read by the stand-in for readfile_bounded below, which serves the bytes
 * from memory (daemon/readfile.c is then not linked): the real one allocates its 1 MiB
 * bound on every call, which would make this harness a hundred times slower.
 */
#include "fuzz.h"

#include <unistd.h>

#include "config.h"
#include "readfile.h"

#define ENV_PATH "fuzz.env"

static const char *file_data;
static size_t file_size;

char *readfile_bounded(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	char *buf;

	FUZZ_CHECK(strcmp(path, ENV_PATH) == 0, "config_load read %s", path);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], *first = NULL, *second = NULL;

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
