/*
 * Keeps the harnesses off the network. They are linked with -Wl,--wrap=getaddrinfo, so
 * that any name the code under test resolves (MCPPOOL_METRICS_LISTEN's HOST, say) comes
 * here: numeric hosts resolve as they would, names fail as an unknown host does, and no
 * DNS query is ever sent for what a fuzzer made up.
 */
#include <netdb.h>
#include <stddef.h>

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res);

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res)
{
	struct addrinfo numeric = { .ai_flags = AI_NUMERICHOST };

	if (hints) {
		numeric = *hints;
		numeric.ai_flags |= AI_NUMERICHOST;
	}
	return __real_getaddrinfo(node, service, &numeric, res);
}
