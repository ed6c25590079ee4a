/* Example: one blocking tool call with libmcppool.  Usage: blocking [SOCKET [MCP]] */
#include <stdio.h>
#include <stdlib.h>

#include <mcppool.h>

int main(int argc, char **argv)
{
	const char *socket_path = argc > 1 ? argv[1] : NULL; /* NULL: the default path */
	const char *mcp = argc > 2 ? argv[2] : "demo";
	mcppool_error err;
	mcppool_result *result;
	mcppool_conn *conn;
	char *json;

	conn = mcppool_connect(socket_path, &err);
	if (!conn) {
		fprintf(stderr, "connect: %s: %s\n", mcppool_code_name(err.code), err.message);
		return 69;
	}
	if (mcppool_call(conn, "alice", mcp, "echo", "{\"message\":\"hello\"}", NULL, 0, &result,
			 &err) < 0) {
		fprintf(stderr, "call: %s: %s\n", mcppool_code_name(err.code), err.message);
		mcppool_close(conn);
		return 1;
	}
	json = mcppool_result_json(result, MCPPOOL_JSON_PRETTY);
	printf("%s\n", json ? json : "(no JSON form)");
	free(json);
	mcppool_result_free(result);
	mcppool_close(conn);
	return json ? 0 : 1;
}
