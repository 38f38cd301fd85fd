// An MCP server built on the official TypeScript SDK, for the interop tests.
//
//   node mcp.js PORT
//
// Both transports sit behind the SDK's requireBearerAuth (scope "mcp"):
// token "good" has the scope, "noscope" is valid without it (403), any
// other token or none gets 401.
//
//   POST/GET/DELETE /mcp       Streamable HTTP, sessions, an event store
//                              (resumable streams, retry: 200 priming events)
//   GET /sse, POST /messages   the legacy HTTP+SSE transport
//
// Tools: echo {text} returns the text; slow {} counts its runs, closes the
// POST stream at once (polling mode), and returns "done <n>" 300 ms later;
// held {} counts its runs and returns "released <n>" once POST
// /admin/release is called.
//
// Test hooks (no auth, loopback only): POST /admin/notify?session=&text=
// (a notifications/message on the session's GET stream), POST
// /admin/close-get?session= (the server ends the GET stream), POST
// /admin/drop-get?session= and /admin/drop-post?session= (destroy the
// socket of the session's GET stream or of its latest POST), POST
// /admin/release, GET /admin/stats.
'use strict';
const { randomUUID } = require('node:crypto');
const express = require('express');
const { z } = require('zod');
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { SSEServerTransport } = require('@modelcontextprotocol/sdk/server/sse.js');
const { requireBearerAuth } = require('@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js');
const { InvalidTokenError } = require('@modelcontextprotocol/sdk/server/auth/errors.js');

const port = Number(process.argv[2]);

// requests: every request to /mcp, /sse and /messages with the status it got.
const stats = { requests: [], toolRuns: { echo: 0, slow: 0, held: 0 } };
let release = null;
const released = new Promise((r) => (release = r));

// eventStore keeps every message of every stream so that a client can
// resume with Last-Event-ID. Ids are "<stream>.<seq>"; the SDK stores its
// priming events as {} and those are never replayed.
class EventStore {
  constructor() {
    this.events = [];
  }
  async storeEvent(streamId, message) {
    const id = `${streamId}.${this.events.length + 1}`;
    this.events.push({ id, streamId, message });
    return id;
  }
  async getStreamIdForEventId(eventId) {
    const ev = this.events.find((e) => e.id === eventId);
    return ev && ev.streamId;
  }
  async replayEventsAfter(lastEventId, { send }) {
    const i = this.events.findIndex((e) => e.id === lastEventId);
    if (i < 0) return '';
    const streamId = this.events[i].streamId;
    for (const ev of this.events.slice(i + 1)) {
      if (ev.streamId === streamId && Object.keys(ev.message).length > 0) await send(ev.id, ev.message);
    }
    return streamId;
  }
}

function newServer() {
  const server = new McpServer({ name: 'ssekit-interop', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool('echo', { description: 'returns its text', inputSchema: { text: z.string() } }, async ({ text }) => {
    stats.toolRuns.echo++;
    return { content: [{ type: 'text', text }] };
  });
  server.registerTool('slow', { description: 'polling mode: closes the stream, answers later' }, async (extra) => {
    const n = ++stats.toolRuns.slow;
    if (extra.closeSSEStream) extra.closeSSEStream();
    await new Promise((r) => setTimeout(r, 300));
    return { content: [{ type: 'text', text: `done ${n}` }] };
  });
  server.registerTool('held', { description: 'answers once /admin/release is called' }, async () => {
    const n = ++stats.toolRuns.held;
    await released;
    return { content: [{ type: 'text', text: `released ${n}` }] };
  });
  return server;
}

const verifier = {
  async verifyAccessToken(token) {
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    if (token === 'good') return { token, clientId: 'interop', scopes: ['mcp'], expiresAt };
    if (token === 'noscope') return { token, clientId: 'interop', scopes: [], expiresAt };
    throw new InvalidTokenError('unknown token');
  },
};
const auth = requireBearerAuth({ verifier, requiredScopes: ['mcp'] });

const app = express();
app.use(['/mcp', '/sse', '/messages'], (req, res, next) => {
  const rec = {
    method: req.method,
    path: req.path === '/' ? req.baseUrl : req.baseUrl + req.path,
    authorization: req.get('Authorization') || '',
    lastEventId: req.get('Last-Event-ID') || '',
    sessionId: req.get('Mcp-Session-Id') || '',
    rpc: '',
    status: 0,
  };
  stats.requests.push(rec);
  req.rec = rec;
  res.on('finish', () => (rec.status = res.statusCode));
  res.on('close', () => (rec.status = rec.status || res.statusCode));
  next();
});
app.use(express.json());
app.use((req, res, next) => {
  if (req.rec && req.body && req.body.method) req.rec.rpc = req.body.method;
  next();
});

// Streamable HTTP.
const sessions = {}; // id -> { transport, server, getSocket }
app.all('/mcp', auth, async (req, res) => {
  const sid = req.get('Mcp-Session-Id');
  let s = sid && sessions[sid];
  if (!s) {
    if (sid || req.method !== 'POST' || !req.body || req.body.method !== 'initialize') {
      res.status(sid ? 404 : 400).json({ jsonrpc: '2.0', error: { code: -32000, message: sid ? 'Session not found' : 'No session' }, id: null });
      return;
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new EventStore(),
      retryInterval: 200,
      onsessioninitialized: (id) => (sessions[id] = s),
    });
    s = { transport, server: newServer(), getSocket: null };
    await s.server.connect(transport);
  }
  if (req.method === 'GET') s.getSocket = req.socket;
  if (req.method === 'POST') s.postSocket = req.socket;
  await s.transport.handleRequest(req, res, req.body);
});

// Legacy HTTP+SSE.
const legacy = {};
app.get('/sse', auth, async (req, res) => {
  const transport = new SSEServerTransport('/messages', res);
  legacy[transport.sessionId] = transport;
  res.on('close', () => delete legacy[transport.sessionId]);
  await newServer().connect(transport);
});
app.post('/messages', auth, async (req, res) => {
  const transport = legacy[req.query.sessionId];
  if (!transport) {
    res.status(404).send('unknown session');
    return;
  }
  await transport.handlePostMessage(req, res, req.body);
});

function session(req, res) {
  const s = sessions[req.query.session];
  if (!s) res.status(404).send('unknown session');
  return s;
}
app.post('/admin/notify', async (req, res) => {
  const s = session(req, res);
  if (!s) return;
  await s.server.server.notification({ method: 'notifications/message', params: { level: 'info', data: String(req.query.text) } });
  res.json({ ok: true });
});
app.post('/admin/close-get', (req, res) => {
  const s = session(req, res);
  if (!s) return;
  s.transport.closeStandaloneSSEStream();
  res.json({ ok: true });
});
app.post('/admin/drop-get', (req, res) => {
  const s = session(req, res);
  if (!s) return;
  if (s.getSocket) s.getSocket.destroy();
  res.json({ ok: true });
});
app.post('/admin/drop-post', (req, res) => {
  const s = session(req, res);
  if (!s) return;
  if (s.postSocket) s.postSocket.destroy();
  res.json({ ok: true });
});
app.post('/admin/release', (req, res) => {
  release();
  res.json({ ok: true });
});
app.get('/admin/stats', (req, res) => res.json(stats));

app.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
