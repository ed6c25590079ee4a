/* mcpctl's answers to an input_required result: form defaults, decline, cancel, or the user's. */
#ifndef MCPPOOL_ELICIT_H
#define MCPPOOL_ELICIT_H

#include <stdio.h>

#include <jansson.h>

/* The retries mcpctl makes before it gives up on a server that keeps asking. */
#define ELICIT_MAX_ROUNDS 16

/* How mcpctl answers the input requests of an input_required result. */
enum elicit_mode {
	ELICIT_NONE,     /* no answers: the input_required result is the output */
	ELICIT_DEFAULTS, /* accept each form with its schema's default values */
	ELICIT_DECLINE,  /* decline each form */
	ELICIT_CANCEL,   /* cancel each form */
	ELICIT_ASK,      /* ask the user each form's questions on a terminal */
};

/* "defaults", "decline", "cancel" as a mode; -1 for any other word. */
int elicit_mode_parse(const char *word);

/* Where ELICIT_ASK asks: questions to out, answers from in (both a terminal). */
struct elicit_tty {
	FILE *in, *out;
};

/*
 * The inputResponses for result's inputRequests, answered as mode says
 * (ELICIT_ASK: through tty): each elicitation/create form gets {"action":
 * "accept", "content": {...}}, or decline, or cancel (a url elicitation on a
 * terminal: accept once the user says done); roots/list gets {"roots": []}.
 * Returns a new object, or NULL with why filled when a request cannot be
 * answered this way (sampling/createMessage, a url elicitation to accept with
 * defaults, an unknown method, a malformed request).
 */
json_t *elicit_answer(json_t *result, enum elicit_mode mode, const struct elicit_tty *tty,
		      char *why, size_t why_size);

#endif
