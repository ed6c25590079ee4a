// A small MCP server on stdio built on @modelcontextprotocol/server 2.x, for mcppool's
// era interop tests: `node era-server.mjs modern` speaks only 2026-07-28 (an initialize
// is refused), `node era-server.mjs dual` serves both eras (the opening decides).
import { McpServer, acceptedContent, inputRequired } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';

const mode = process.argv[2];
if (mode !== 'modern' && mode !== 'dual') {
    process.stderr.write('usage: node era-server.mjs modern|dual\n');
    process.exit(2);
}

function server() {
    const s = new McpServer({ name: `era-${mode}`, version: '1.0.0' },
        { capabilities: { resources: { subscribe: true, listChanged: true } } });
    s.registerTool('echo', { description: 'Returns message.', inputSchema: z.object({ message: z.string() }) },
        async ({ message }) => ({ content: [{ type: 'text', text: message }] }));
    s.registerTool('add', { description: 'Returns a + b.', inputSchema: z.object({ a: z.number(), b: z.number() }) },
        async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
    s.registerTool('token', { description: 'Returns USER_TOKEN and the pid.' },
        async () => ({ content: [{ type: 'text', text: `${process.env.USER_TOKEN ?? ''} ${process.pid}` }] }));
    // A multi-round-trip tool: input_required (an elicitation, with requestState) until
    // the retry brings the user's confirmation; the answer echoes the state it got back.
    s.registerTool('confirm', { description: 'Asks to confirm what, then answers.', inputSchema: z.object({ what: z.string() }) },
        async ({ what }, ctx) => {
            const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm');
            if (answer?.confirm !== true)
                return inputRequired({
                    inputRequests: { confirm: inputRequired.elicit({ message: `Confirm ${what}?`,
                        requestedSchema: z.object({ confirm: z.boolean() }) }) },
                    requestState: `state-of-${what}`,
                });
            return { content: [{ type: 'text', text: `confirmed ${what} (${ctx.mcpReq.requestState() ?? 'no state'})` }] };
        });
    s.registerPrompt('greet', { description: 'Greets name.', argsSchema: z.object({ name: z.string() }) },
        ({ name }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Hello, ${name}!` } }] }));
    s.registerResource('memo', 'memo://hello', { mimeType: 'text/plain' },
        async uri => ({ contents: [{ uri: uri.href, text: `memo from era-${mode}` }] }));
    // Change notifications: a modern connection delivers them on subscriptions/listen streams.
    s.registerTool('touch', { description: 'Sends notifications/resources/updated for uri.', inputSchema: z.object({ uri: z.string() }) },
        async ({ uri }) => {
            await s.server.sendResourceUpdated({ uri });
            return { content: [{ type: 'text', text: `touched ${uri}` }] };
        });
    return s;
}

serveStdio(server, { legacy: mode === 'modern' ? 'reject' : 'serve' });
