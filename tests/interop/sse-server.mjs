// A test server of the deprecated HTTP+SSE transport (MCP 2024-11-05), built on the
// SDK's own SSEServerTransport: what many deployed servers still run.
//
//   node sse-server.mjs PORT
//   GET  /sse              the SSE stream; its endpoint event names /message?sessionId=...
//   POST /message?...      a message of that session (202)
//   POST /sse              405: this server does not speak Streamable HTTP
//   GET  /elsewhere        an SSE stream whose endpoint event names another origin
//   GET  /silent           an SSE stream without an endpoint event
//   *    /locked           401 with a Bearer challenge
// A POST whose body holds "please-refuse" is answered 413, one holding "please-authorize"
// 401 with a Bearer challenge (an expired token, mid-session).
//
// Tools: echo {text} -> text; whoami -> the Authorization header of the POST;
// slow -> never answers; hangup -> the server ends the session's stream instead of answering;
// big -> 4000 bytes of text.
import http from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const port = Number(process.argv[2]);
const sessions = new Map();

function newServer(transport) {
  const server = new Server({ name: 'sse-test', version: '1.0.0' }, { capabilities: { tools: {} } });
  const tool = (name) => ({ name, inputSchema: { type: 'object' } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [tool('echo'), tool('whoami'), tool('slow'), tool('hangup'), tool('big')],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const text = (t) => ({ content: [{ type: 'text', text: t }] });
    switch (req.params.name) {
      case 'echo':
        return text(String(req.params.arguments?.text ?? ''));
      case 'whoami':
        return text(String(extra.requestInfo?.headers?.authorization ?? ''));
      case 'big':
        return text('x'.repeat(4000));
      case 'slow':
        return new Promise(() => {});
      case 'hangup':
        setImmediate(() => transport.res.end());
        return new Promise(() => {});
      default:
        throw new Error(`no tool ${req.params.name}`);
    }
  });
  return server;
}

http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://127.0.0.1:${port}`);
  if (req.method === 'GET' && url.pathname === '/sse') {
    const transport = new SSEServerTransport('/message', res);
    sessions.set(transport.sessionId, transport);
    res.on('close', () => sessions.delete(transport.sessionId));
    await newServer(transport).connect(transport);
  } else if (req.method === 'POST' && url.pathname === '/message') {
    const transport = sessions.get(url.searchParams.get('sessionId'));
    if (!transport) {
      res.writeHead(404).end('no such session');
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString();
    if (body.includes('please-refuse')) {
      res.writeHead(413).end('too large for this test');
      return;
    }
    if (body.includes('please-authorize')) {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer error="invalid_token", resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource"` }).end('expired');
      return;
    }
    await transport.handlePostMessage(req, res, JSON.parse(body));
  } else if (url.pathname === '/locked') {
    res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="test"' }).end('locked');
  } else if (req.method === 'GET' && url.pathname === '/elsewhere') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(`event: endpoint\ndata: http://localhost:${port}/message?sessionId=x\n\n`);
  } else if (req.method === 'GET' && url.pathname === '/silent') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(': nothing here\n\n');
  } else if (url.pathname === '/sse') {
    res.writeHead(405, { Allow: 'GET' }).end('Method Not Allowed');
  } else {
    res.writeHead(404).end('not found');
  }
}).listen(port, '127.0.0.1', () => console.error(`sse-server on ${port}`));
