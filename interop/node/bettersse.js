// A better-sse server behind express, for the interop tests.
//
//   node bettersse.js PORT HISTORY_FILE
//
// GET /events needs "Authorization: Bearer <token>": "good" and "short"
// are accepted ("short" gets its history, then an auth_expired event and
// the end of the stream), "forbidden" gets 403, anything else 401. Every
// published message has a numeric id; a request with Last-Event-ID gets
// the messages after it. The history is kept in HISTORY_FILE, so that a
// restarted server resumes where the old one stopped.
//
// Query parameters of /events: retry=<ms> (the retry: field, default none),
// keepalive=<ms> (comment interval, default none), end=1 (end the stream
// after the history), tick=1 (add one message to the history before
// replaying, so that every connection delivers one new event), gone=N
// (answer 204, through better-sse's statusCode, from connection N+1 on).
//
// Test hooks (no auth, loopback only): POST /publish (body: the data),
// POST /drop (destroy every open stream's socket), GET /stats.
'use strict';
const fs = require('node:fs');
const express = require('express');
const { createSession } = require('better-sse');

const port = Number(process.argv[2]);
const historyFile = process.argv[3];

let history = [];
if (fs.existsSync(historyFile)) history = JSON.parse(fs.readFileSync(historyFile, 'utf8'));
const sessions = new Set();
const stats = { connections: 0, tokens: [], lastEventIds: [], statuses: [] };

const app = express();

function bearer(req, res, next) {
  const m = /^Bearer (.+)$/.exec(req.get('Authorization') || '');
  stats.tokens.push(m ? m[1] : '');
  if (m && (m[1] === 'good' || m[1] === 'short')) {
    req.token = m[1];
    return next();
  }
  const status = m && m[1] === 'forbidden' ? 403 : 401;
  stats.statuses.push(status);
  res.status(status).set('WWW-Authenticate', 'Bearer').json({ error: status === 403 ? 'forbidden' : 'unauthorized' });
}

app.get('/events', bearer, async (req, res) => {
  stats.connections++;
  stats.lastEventIds.push(req.get('Last-Event-ID') || '');
  const gone = req.query.gone !== undefined && stats.connections > Number(req.query.gone);
  stats.statuses.push(gone ? 204 : 200);
  const session = await createSession(req, res, {
    serializer: (data) => String(data),
    retry: req.query.retry ? Number(req.query.retry) : null,
    keepAlive: req.query.keepalive ? Number(req.query.keepalive) : null,
    statusCode: gone ? 204 : 200,
  });
  if (gone) {
    res.end();
    return;
  }
  if (req.query.tick === '1') publish(`tick-${stats.connections}`);
  const after = Number(session.lastId || 0);
  for (const m of history) {
    if (m.id > after) session.push(m.data, 'message', String(m.id));
  }
  if (req.token === 'short') {
    session.push('credentials expired', 'auth_expired', String(history.length ? history[history.length - 1].id : 0));
    res.end();
    return;
  }
  if (req.query.end === '1') {
    res.end();
    return;
  }
  const entry = { session, res };
  sessions.add(entry);
  session.on('disconnected', () => sessions.delete(entry));
});

function publish(data) {
  const m = { id: history.length + 1, data };
  history.push(m);
  fs.writeFileSync(historyFile, JSON.stringify(history));
  for (const s of sessions) s.session.push(m.data, 'message', String(m.id));
  return m;
}

app.post('/publish', express.text({ type: '*/*' }), (req, res) => {
  res.json({ id: String(publish(req.body).id) });
});

app.post('/drop', (req, res) => {
  let n = 0;
  for (const s of sessions) {
    s.res.socket.destroy();
    n++;
  }
  sessions.clear();
  res.json({ dropped: n });
});

app.get('/stats', (req, res) => res.json({ ...stats, open: sessions.size }));

app.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
