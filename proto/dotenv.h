/* The .env line syntax, shared by mcppoold's --env-file and mcpctl's --auth-file. */
#ifndef MCPPOOL_DOTENV_H
#define MCPPOOL_DOTENV_H

/* What a key may be. */
enum dotenv_keys {
	DOTENV_KEY_VARIABLE, /* a variable name: [A-Za-z_][A-Za-z0-9_]* */
	DOTENV_KEY_AUTH,     /* an auth NAME of ${auth.NAME}: [A-Za-z0-9_.-]+ */
};

/*
 * Parses one line (no newline; a trailing \r is the caller's to drop) in
 * place: blank lines and lines starting with '#' are skipped; otherwise
 * [export ]KEY=VALUE, with blanks allowed around '='. VALUE is bare (a '#'
 * after a blank starts a comment; trailing blanks are dropped), 'single
 * quoted' (literal), or "double quoted" (\n, \" and \\ escapes), each quoted
 * form optionally followed by blanks and a comment. Returns 1 with *key and
 * *value pointing into line, 0 for a blank or comment line, -1 with the
 * reason in *why (never quoting the value, which may be a secret).
 */
int dotenv_line(char *line, enum dotenv_keys keys, char **key, char **value, const char **why);

#endif
