/* Stable error code strings. */
#include <string.h>

#include "errcode.h"

static const char *const names[ERR__COUNT] = {
	[ERR_OK] = "OK",
	[ERR_BAD_REQUEST] = "BAD_REQUEST",
	[ERR_UNKNOWN_MCP] = "UNKNOWN_MCP",
	[ERR_AUTH_INVALID] = "AUTH_INVALID",
	[ERR_POOL_EXHAUSTED] = "POOL_EXHAUSTED",
	[ERR_UPSTREAM_START_FAILED] = "UPSTREAM_START_FAILED",
	[ERR_UPSTREAM_CLOSED] = "UPSTREAM_CLOSED",
	[ERR_UPSTREAM_TIMEOUT] = "UPSTREAM_TIMEOUT",
	[ERR_UPSTREAM_ERROR] = "UPSTREAM_ERROR",
	[ERR_FORBIDDEN] = "FORBIDDEN",
	[ERR_SHUTTING_DOWN] = "SHUTTING_DOWN",
	[ERR_INTERNAL] = "INTERNAL",
	[ERR_UNSUPPORTED_VERSION] = "UNSUPPORTED_VERSION",
	[ERR_NOT_CONNECTED] = "NOT_CONNECTED",
	[ERR_PROTOCOL] = "PROTOCOL",
	[ERR_TIMEOUT] = "TIMEOUT",
	[ERR_CANCELLED] = "CANCELLED",
	[ERR_TOO_MANY_CLIENTS] = "TOO_MANY_CLIENTS",
	[ERR_AUTH_REQUIRED] = "AUTH_REQUIRED",
	[ERR_CONFIG_INVALID] = "CONFIG_INVALID",
};

const char *errcode_name(int code)
{
	if (code < 0 || code >= ERR__COUNT)
		return names[ERR_INTERNAL];
	return names[code];
}

int errcode_from_name(const char *name, unsigned long len)
{
	for (int i = 0; i < ERR__COUNT; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return i;
	return ERR_INTERNAL;
}
