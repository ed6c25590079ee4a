// A small MCP server on stdio built on @modelcontextprotocol/server 2.x, for mcppool's
// era interop tests: `node era-server.mjs modern` speaks only 2026-07-28 (an initialize
// is refused), `node era-server.mjs dual` serves both eras (the opening decides).
// `node era-server.mjs modern-http PORT` serves 2026-07-28 over Streamable HTTP on
// 127.0.0.1:PORT (createMcpHandler; legacy requests rejected).
import http from 'node:http';
import { McpServer, acceptedContent, createMcpHandler, inputRequired } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';

const mode = process.argv[2];
if (mode !== 'modern' && mode !== 'dual' && mode !== 'modern-http') {
    process.stderr.write('usage: node era-server.mjs modern|dual|modern-http PORT\n');
    process.exit(2);
}
let handler; // modern-http: its bus reaches the subscriptions/listen streams
const open = new Set(); // modern-http: the responses in progress

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
            if (handler)
                handler.notify.resourceUpdated(uri);
            else
                await s.server.sendResourceUpdated({ uri });
            return { content: [{ type: 'text', text: `touched ${uri}` }] };
        });
    // modern-http: cuts every open exchange (a subscriptions/listen stream too), as a proxy might.
    s.registerTool('drop', { description: 'Closes the open exchanges (HTTP).' }, async () => {
        setTimeout(() => { for (const res of open) res.destroy(); }, 50);
        return { content: [{ type: 'text', text: 'dropping' }] };
    });
    return s;
}

/* Serves handler over node:http: each request as a fetch Request, its Response streamed back. */
function serveHttp(port) {
    handler = createMcpHandler(server, { legacy: 'reject' });
    http.createServer(async (req, res) => {
        const chunks = [];
        for await (const c of req)
            chunks.push(c);
        const abort = new AbortController();
        open.add(res);
        res.on('close', () => { open.delete(res); abort.abort(); });
        const request = new Request(`http://${req.headers.host}${req.url}`, {
            method: req.method, headers: req.headers, signal: abort.signal,
            body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks),
        });
        try {
            const response = await handler.fetch(request);
            res.writeHead(response.status, Object.fromEntries(response.headers));
            if (response.body)
                for await (const chunk of response.body)
                    res.write(chunk);
        } catch (e) {
            if (!res.headersSent)
                res.writeHead(500);
        }
        res.end();
    }).listen(Number(process.argv[3]), '127.0.0.1');
}

if (mode === 'modern-http')
    serveHttp(process.argv[3]);
else
    serveStdio(server, { legacy: mode === 'modern' ? 'reject' : 'serve' });
