/* The .env line syntax, shared by mcppoold's --env-file and mcpctl's --auth-file. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "dotenv.h"

static bool is_name_start(int c)
{
	return isalpha(c) || c == '_';
}

static bool is_name_char(int c)
{
	return isalnum(c) || c == '_';
}

static bool is_auth_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

static char *skip_blank(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static void trim_right(char *start, char *end)
{
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
}

/*
 * Unquotes a double-quoted value in place; p points just past the opening
 * quote. Returns the position after the closing quote, or NULL if none.
 */
static char *unquote_double(char *p)
{
	char *dst = p;

	for (;;) {
		char c = *p;
		if (c == '\0')
			return NULL;
		if (c == '"')
			break;
		if (c == '\\' && (p[1] == 'n' || p[1] == '"' || p[1] == '\\')) {
			*dst++ = p[1] == 'n' ? '\n' : p[1];
			p += 2;
			continue;
		}
		*dst++ = c;
		p++;
	}
	*dst = '\0';
	return p + 1;
}

/*
 * Parses the value that starts after '=' in place. Returns the value, or NULL
 * with a reason (never containing the value itself).
 */
static char *dotenv_value(char *p, const char **why)
{
	char *value, *rest;

	p = skip_blank(p);
	if (*p == '"' || *p == '\'') {
		value = p + 1;
		if (*p == '"') {
			rest = unquote_double(value);
		} else {
			rest = strchr(value, '\'');
			if (rest)
				*rest++ = '\0';
		}
		if (!rest) {
			*why = "unterminated quote";
			return NULL;
		}
		rest = skip_blank(rest);
		if (*rest != '\0' && *rest != '#') {
			*why = "text after the closing quote";
			return NULL;
		}
		return value;
	}
	/* Unquoted: a '#' after whitespace starts a comment; "a#b" is a value. */
	value = p;
	for (rest = p; *rest; rest++)
		if (*rest == '#' && rest > p && (rest[-1] == ' ' || rest[-1] == '\t'))
			break;
	trim_right(value, rest);
	return value;
}

/*
 * Parses one line in place. Returns 1 with *key and *value set, 0 for a blank
 * or comment line, -1 with a reason when malformed.
 */
int dotenv_line(char *line, enum dotenv_keys keys, char **key, char **value, const char **why)
{
	char *p = skip_blank(line), *end;

	if (*p == '\0' || *p == '#')
		return 0;
	if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
		p = skip_blank(p + 6);
	*key = p;
	if (keys == DOTENV_KEY_AUTH) {
		while (is_auth_char((unsigned char)*p))
			p++;
		if (p == *key) {
			*why = "invalid key (expected 1 or more of A-Z a-z 0-9 _ . -)";
			return -1;
		}
	} else {
		if (!is_name_start((unsigned char)*p)) {
			*why = "invalid variable name";
			return -1;
		}
		while (is_name_char((unsigned char)*p))
			p++;
	}
	end = p;
	p = skip_blank(p);
	if (*p != '=') {
		*why = "missing '=' after the variable name";
		return -1;
	}
	*end = '\0';
	*value = dotenv_value(p + 1, why);
	return *value ? 1 : -1;
}
