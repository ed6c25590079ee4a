// A small MCP server built on @modelcontextprotocol/server 2.x, for mcppool's era
// interop tests: `node era-server.mjs modern` speaks only 2026-07-28 (an initialize
// is refused), `node era-server.mjs dual` serves both eras (the opening decides).
// On stdio by default; with `--http PORT` (0: any) on Streamable HTTP at
// http://127.0.0.1:PORT/mcp, printing "listening PORT" once it accepts. Over HTTP the
// `token` tool answers the request's Authorization header instead of USER_TOKEN.
// Over HTTP, `touch` reaches the subscriptions/listen streams and `drop` cuts every open
// exchange, as a proxy might.
import http from 'node:http';
import { Readable } from 'node:stream';
import { McpServer, acceptedContent, createMcpHandler, inputRequired } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';

const mode = process.argv[2];
const httpPort = process.argv[3] === '--http' ? Number(process.argv[4]) : null;
if ((mode !== 'modern' && mode !== 'dual') || Number.isNaN(httpPort)) {
    process.stderr.write('usage: node era-server.mjs modern|dual [--http PORT]\n');
    process.exit(2);
}
let handler; // HTTP: its bus reaches the subscriptions/listen streams
const open = new Set(); // HTTP: the responses in progress

// Requests whose caller cancelled them (the `wait` tool counts; `aborted` answers).
let aborted = 0;

function server() {
    const s = new McpServer({ name: `era-${mode}`, version: '1.0.0' },
        { capabilities: { resources: { subscribe: true, listChanged: true } } });
    s.registerTool('echo', { description: 'Returns message.', inputSchema: z.object({ message: z.string() }) },
        async ({ message }) => ({ content: [{ type: 'text', text: message }] }));
    s.registerTool('add', { description: 'Returns a + b.', inputSchema: z.object({ a: z.number(), b: z.number() }) },
        async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
    s.registerTool('token', { description: 'Returns USER_TOKEN and the pid.' },
        async (ctx) => ({ content: [{ type: 'text', text: `${httpPort === null ? (process.env.USER_TOKEN ?? '')
            : (ctx.http?.authInfo?.token ?? '')} ${process.pid}` }] }));
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
    s.registerTool('wait', { description: 'Waits ms, or until cancelled.', inputSchema: z.object({ ms: z.number() }) },
        async ({ ms }, ctx) => new Promise(resolve => {
            const done = setTimeout(() => resolve({ content: [{ type: 'text', text: 'waited' }] }), ms);
            ctx.mcpReq.signal.addEventListener('abort', () => {
                aborted++;
                clearTimeout(done);
                resolve({ content: [{ type: 'text', text: 'cancelled' }] });
            });
        }));
    s.registerTool('aborted', { description: 'How many wait calls were cancelled.' },
        async () => ({ content: [{ type: 'text', text: String(aborted) }] }));
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
    s.registerTool('drop', { description: 'Closes the open exchanges (HTTP).' }, async () => {
        setTimeout(() => { for (const res of open) res.destroy(); }, 50);
        return { content: [{ type: 'text', text: 'dropping' }] };
    });
    return s;
}

if (httpPort === null) {
    serveStdio(server, { legacy: mode === 'modern' ? 'reject' : 'serve' });
} else {
    // The handler is fetch-shaped; node:http's request and response are adapted here.
    // The bearer token is handed on as authInfo (this test server verifies nothing).
    handler = createMcpHandler(server, { legacy: mode === 'modern' ? 'reject' : 'stateless' });
    const srv = http.createServer(async (req, res) => {
        try {
            const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : Readable.toWeb(req);
            // A client that goes away aborts the request (how 2026-07-28 cancels over HTTP).
            const gone = new AbortController();
            open.add(res);
            res.on('close', () => { open.delete(res); if (!res.writableFinished) gone.abort(); });
            const request = new Request(`http://${req.headers.host}${req.url}`,
                { method: req.method, headers: req.headers, body, duplex: 'half', signal: gone.signal });
            const bearer = /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1];
            const response = await handler.fetch(request,
                bearer ? { authInfo: { token: bearer, clientId: 'mcppool-test', scopes: [] } } : {});
            res.writeHead(response.status, Object.fromEntries(response.headers));
            if (response.body)
                Readable.fromWeb(response.body).pipe(res);
            else
                res.end();
        } catch (e) {
            res.writeHead(500).end(String(e));
        }
    });
    srv.listen(httpPort, '127.0.0.1', () => process.stdout.write(`listening ${srv.address().port}\n`));
}
