/* mcpctl's answers to an input_required result: form defaults, decline, cancel, or the user's. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "elicit.h"

int elicit_mode_parse(const char *word)
{
	if (strcmp(word, "defaults") == 0)
		return ELICIT_DEFAULTS;
	if (strcmp(word, "decline") == 0)
		return ELICIT_DECLINE;
	if (strcmp(word, "cancel") == 0)
		return ELICIT_CANCEL;
	return -1;
}

__attribute__((format(printf, 3, 4)))
static json_t *elicit_fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return NULL;
}

static json_t *elicit_action(const char *action)
{
	return json_pack("{s:s}", "action", action);
}

/* accept, with each property's default (properties without one are left out). */
static json_t *elicit_defaults(json_t *properties)
{
	json_t *content = json_object(), *prop;
	const char *key;

	json_object_foreach(properties, key, prop) {
		json_t *def = json_object_get(prop, "default");

		if (def)
			json_object_set(content, key, def);
	}
	return json_pack("{s:s,s:o}", "action", "accept", "content", content);
}

/* ---- asking on a terminal ------------------------------------------------- */

/* One line from the terminal without its newline; NULL at end of file. Free it. */
static char *elicit_read_line(const struct elicit_tty *tty)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	fflush(tty->out);
	n = getline(&line, &cap, tty->in);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static bool elicit_word_in(const char *word, const char *const *words)
{
	for (; *words; words++)
		if (strcasecmp(word, *words) == 0)
			return true;
	return false;
}

/* The string answer, checked against the property's enum when it has one. */
static json_t *elicit_string(const char *text, json_t *prop)
{
	json_t *choices = json_object_get(prop, "enum"), *c;
	size_t i;

	if (!json_is_array(choices))
		return json_string(text);
	json_array_foreach(choices, i, c)
		if (json_is_string(c) && strcmp(json_string_value(c), text) == 0)
			return json_string(text);
	return NULL;
}

/* text as the property's type ("string", "number", "integer", "boolean"); NULL if it is not. */
static json_t *elicit_coerce(const char *text, json_t *prop)
{
	static const char *const yes[] = { "y", "yes", "true", "1", NULL };
	static const char *const no[] = { "n", "no", "false", "0", NULL };
	const char *type = json_string_value(json_object_get(prop, "type"));
	char *end;

	if (!type || strcmp(type, "string") == 0)
		return elicit_string(text, prop);
	if (strcmp(type, "boolean") == 0)
		return elicit_word_in(text, yes) ? json_true() :
		       elicit_word_in(text, no)  ? json_false() : NULL;
	errno = 0;
	if (strcmp(type, "integer") == 0) {
		long long v = strtoll(text, &end, 10);

		return errno || end == text || *end ? NULL : json_integer(v);
	}
	if (strcmp(type, "number") == 0) {
		double v = strtod(text, &end);

		return errno || end == text || *end || !isfinite(v) ? NULL : json_real(v);
	}
	/* Other schemas (a multi-select array, ...): the answer is typed as JSON. */
	return json_loads(text, JSON_DECODE_ANY, NULL);
}

/* "Name (Your name) [red/green] [default: x]: " */
static void elicit_prompt(const struct elicit_tty *tty, const char *key, json_t *prop,
			  bool required)
{
	const char *title = json_string_value(json_object_get(prop, "title"));
	const char *desc = json_string_value(json_object_get(prop, "description"));
	json_t *choices = json_object_get(prop, "enum"), *def = json_object_get(prop, "default");
	json_t *c;
	size_t i;

	fprintf(tty->out, "  %s%s", title ? title : key, required ? "*" : "");
	if (desc)
		fprintf(tty->out, " (%s)", desc);
	if (json_is_array(choices)) {
		json_array_foreach(choices, i, c)
			fprintf(tty->out, "%s%s", i ? "/" : " [", json_string_value(c));
		fputc(']', tty->out);
	}
	if (def) {
		char *text = json_dumps(def, JSON_ENCODE_ANY);

		fprintf(tty->out, " [default: %s]", text ? text : "?");
		free(text);
	}
	fputs(": ", tty->out);
}

static bool elicit_required(json_t *schema, const char *key)
{
	json_t *required = json_object_get(schema, "required"), *r;
	size_t i;

	json_array_foreach(required, i, r)
		if (json_is_string(r) && strcmp(json_string_value(r), key) == 0)
			return true;
	return false;
}

/* What an answer that did not fit should have been. */
static const char *elicit_expected(json_t *prop, const char *type)
{
	if (json_is_array(json_object_get(prop, "enum")))
		return "one of the choices";
	if (!type || strcmp(type, "string") == 0)
		return "a string";
	if (strcmp(type, "boolean") == 0)
		return "yes or no";
	if (strcmp(type, "integer") == 0)
		return "an integer";
	if (strcmp(type, "number") == 0)
		return "a number";
	return "JSON";
}

/*
 * Asks for one property until the answer fits its type. Returns 1 with *value
 * set (NULL: left out), or 0 at end of input.
 */
static int elicit_ask_property(const struct elicit_tty *tty, const char *key, json_t *prop,
			       bool required, json_t **value)
{
	const char *type = json_string_value(json_object_get(prop, "type"));

	for (;;) {
		char *line;

		elicit_prompt(tty, key, prop, required);
		if (!(line = elicit_read_line(tty)))
			return 0;
		if (*line == '\0') {
			free(line);
			*value = json_incref(json_object_get(prop, "default"));
			if (*value || !required)
				return 1;
			fputs("  an answer is required\n", tty->out);
			continue;
		}
		*value = elicit_coerce(line, prop);
		free(line);
		if (*value)
			return 1;
		fprintf(tty->out, "  expected %s\n", elicit_expected(prop, type));
	}
}

/*
 * Shows the request's message (and url) and asks whether to go on. Returns
 * NULL to go on, else the decline or cancel answer (end of input cancels).
 */
static json_t *elicit_ask_consent(const struct elicit_tty *tty, json_t *params,
				  const char *go_on)
{
	const char *message = json_string_value(json_object_get(params, "message"));
	const char *url = json_string_value(json_object_get(params, "url"));
	json_t *a = NULL;
	char *line;

	fprintf(tty->out, "The server asks: %s\n", message ? message : "(no message)");
	if (url)
		fprintf(tty->out, "  %s\n", url);
	fprintf(tty->out, "%s (y), decline (n) or cancel (c)? [y] ", go_on);
	if (!(line = elicit_read_line(tty)))
		return elicit_action("cancel");
	if (*line == 'n' || *line == 'N')
		a = elicit_action("decline");
	else if (*line == 'c' || *line == 'C')
		a = elicit_action("cancel");
	free(line);
	return a;
}

/* The user's answer to a form; end of input cancels it. */
static json_t *elicit_ask_form(const struct elicit_tty *tty, json_t *params)
{
	json_t *schema = json_object_get(params, "requestedSchema");
	json_t *content, *prop, *value;
	const char *key;

	if ((content = elicit_ask_consent(tty, params, "Answer")))
		return content;
	content = json_object();
	json_object_foreach(json_object_get(schema, "properties"), key, prop) {
		if (!elicit_ask_property(tty, key, prop, elicit_required(schema, key), &value)) {
			fputc('\n', tty->out);
			json_decref(content);
			return elicit_action("cancel");
		}
		if (value)
			json_object_set_new(content, key, value);
	}
	return json_pack("{s:s,s:o}", "action", "accept", "content", content);
}

/* ---- one input request ----------------------------------------------------- */

static json_t *elicit_form(json_t *params, enum elicit_mode mode, const struct elicit_tty *tty,
			   const char *key, char *why, size_t size)
{
	const char *form_mode = json_string_value(json_object_get(params, "mode"));
	json_t *properties = json_object_get(json_object_get(params, "requestedSchema"),
					     "properties");

	if (mode == ELICIT_DECLINE)
		return elicit_action("decline");
	if (mode == ELICIT_CANCEL)
		return elicit_action("cancel");
	if (mode == ELICIT_ASK && form_mode && strcmp(form_mode, "url") == 0) {
		json_t *a = elicit_ask_consent(tty, params, "Open the address above, then: done");

		return a ? a : elicit_action("accept");
	}
	if (form_mode && strcmp(form_mode, "form") != 0)
		return elicit_fail(why, size, "input request \"%s\" is a %s elicitation, which "
				   "mcpctl can only decline or cancel (--elicit decline|cancel)",
				   key, form_mode);
	if (!json_is_object(properties))
		return elicit_fail(why, size, "input request \"%s\": requestedSchema.properties "
				   "must be an object", key);
	return mode == ELICIT_ASK ? elicit_ask_form(tty, params) : elicit_defaults(properties);
}

static json_t *elicit_one(const char *key, json_t *req, enum elicit_mode mode,
			  const struct elicit_tty *tty, char *why, size_t size)
{
	const char *method = json_string_value(json_object_get(req, "method"));

	if (!method)
		return elicit_fail(why, size, "input request \"%s\" has no method", key);
	if (strcmp(method, "elicitation/create") == 0)
		return elicit_form(json_object_get(req, "params"), mode, tty, key, why, size);
	if (strcmp(method, "roots/list") == 0)
		return json_pack("{s:[]}", "roots");
	if (strcmp(method, "sampling/createMessage") == 0)
		return elicit_fail(why, size, "input request \"%s\" asks for sampling/createMessage "
				   "(an LLM completion), which mcpctl cannot answer; use a client "
				   "that can sample", key);
	return elicit_fail(why, size, "input request \"%s\" has the unknown method \"%s\"", key,
			   method);
}

json_t *elicit_answer(json_t *result, enum elicit_mode mode, const struct elicit_tty *tty,
		      char *why, size_t why_size)
{
	json_t *requests = json_object_get(result, "inputRequests");
	json_t *answers = json_object(), *req, *a;
	const char *key;

	if (requests && !json_is_object(requests)) {
		json_decref(answers);
		return elicit_fail(why, why_size, "inputRequests must be an object");
	}
	json_object_foreach(requests, key, req) {
		if (!(a = elicit_one(key, req, mode, tty, why, why_size))) {
			json_decref(answers);
			return NULL;
		}
		json_object_set_new(answers, key, a);
	}
	return answers;
}
