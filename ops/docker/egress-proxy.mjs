#!/usr/bin/env node
// Egress proxy for offline `docker build`s (test/docker): an HTTP forward proxy that lets a build
// reach the Debian mirror(s) and the npm registry, and nothing else.
//
//   node ops/docker/egress-proxy.mjs --socket /run/x/egress.sock [--log FILE] [--allow host,host]
//
// It listens on a unix socket on the host. The Docker engine under test runs in a network
// namespace with no route out; ops/docker/relay.mjs, started inside that namespace, listens on
// 127.0.0.1:PORT there and pipes each connection to this socket. The build then gets
// `--build-arg http_proxy=http://127.0.0.1:PORT --build-arg https_proxy=…` (predefined build args,
// not kept in the image).
//
// Allowed, by default: the hosts of the URIs in /etc/apt/sources.list.d/*.sources and
// /etc/apt/sources.list (apt's mirrors, plain http on port 80) and the host of
// `npm config get registry` (CONNECT on port 443). --allow replaces that list. Anything else is
// refused with 403 and logged as "DENY …"; allowed requests are logged as "ALLOW …".
// SIGTERM/SIGINT close it; a one-line summary ("SUMMARY allowed=N denied=N") ends the log.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    socket: { type: 'string' },
    log: { type: 'string' },
    allow: { type: 'string' },
  },
});
if (!values.socket) {
  process.stderr.write('usage: egress-proxy.mjs --socket PATH [--log FILE] [--allow host,host]\n');
  process.exit(2);
}

function aptHosts() {
  const hosts = new Set();
  const add = (uri) => {
    try {
      const u = new URL(uri);
      if (u.protocol === 'http:' || u.protocol === 'https:') hosts.add(u.hostname.toLowerCase());
    } catch {
      /* not a URL */
    }
  };
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).map((f) => `${dir}/${f}`) : [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line.startsWith('#')) continue;
      if (file.endsWith('.sources')) {
        const m = /^URIs:\s*(.+)$/i.exec(line);
        if (m) for (const uri of m[1].split(/\s+/)) add(uri);
      } else if (file.endsWith('.list') && /^deb(-src)?\s/.test(line)) {
        for (const word of line.split(/\s+/)) if (/^https?:\/\//.test(word)) add(word);
      }
    }
  }
  return [...hosts];
}

function npmHost() {
  try {
    const registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8', timeout: 20_000 }).trim();
    return new URL(registry).hostname.toLowerCase();
  } catch {
    return 'registry.npmjs.org';
  }
}

const allowed = new Set(
  values.allow
    ? values.allow.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)
    : [...aptHosts(), npmHost()],
);
const counts = { allowed: 0, denied: 0 };

function log(line) {
  const text = `${new Date().toISOString()} ${line}\n`;
  if (values.log) appendFileSync(values.log, text);
  else process.stderr.write(text);
}

function deny(what, why) {
  counts.denied += 1;
  log(`DENY ${what} (${why})`);
}

const server = http.createServer((req, res) => {
  // Forward-proxy requests carry an absolute URL: GET http://deb.debian.org/debian/… HTTP/1.1
  let target;
  try {
    target = new URL(req.url ?? '');
  } catch {
    target = undefined;
  }
  const what = `${req.method} ${req.url}`;
  if (!target || target.protocol !== 'http:') {
    deny(what, 'not an absolute http:// URL');
    res.writeHead(403, { 'content-type': 'text/plain' }).end('egress proxy: only absolute http:// URLs\n');
    return;
  }
  const host = target.hostname.toLowerCase();
  const port = Number(target.port || 80);
  if (!allowed.has(host) || port !== 80) {
    deny(what, `host ${host}:${port} not allowed`);
    res.writeHead(403, { 'content-type': 'text/plain' }).end(`egress proxy: ${host}:${port} is not allowed\n`);
    return;
  }
  counts.allowed += 1;
  log(`ALLOW ${what}`);
  const headers = { ...req.headers };
  for (const h of ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive']) delete headers[h];
  const upstream = http.request(
    { host, port, method: req.method, path: `${target.pathname}${target.search}`, headers, timeout: 60_000 },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
  upstream.on('error', (err) => {
    log(`ERROR ${what}: ${err.message}`);
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`egress proxy: ${err.message}\n`);
    else res.destroy();
  });
  req.pipe(upstream);
});

// https:// goes through CONNECT host:443; TLS stays end to end between the client and the registry.
server.on('connect', (req, clientSocket, head) => {
  const what = `CONNECT ${req.url}`;
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(req.url ?? '');
  const host = m?.[1]?.toLowerCase();
  const port = Number(m?.[2]);
  if (!host || !allowed.has(host) || port !== 443) {
    deny(what, `host ${host}:${port} not allowed`);
    clientSocket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\negress proxy: not allowed\n');
    return;
  }
  counts.allowed += 1;
  log(`ALLOW ${what}`);
  const upstream = net.connect({ host, port }, () => {
    clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head?.length) upstream.write(head);
    upstream.pipe(clientSocket);
    clientSocket.pipe(upstream);
  });
  upstream.setTimeout(120_000, () => upstream.destroy(new Error('idle timeout')));
  upstream.on('error', (err) => {
    log(`ERROR ${what}: ${err.message}`);
    clientSocket.destroy();
  });
  clientSocket.on('error', () => upstream.destroy());
});

server.on('clientError', (_err, socket) => socket.destroy());

if (existsSync(values.socket)) unlinkSync(values.socket);
server.listen(values.socket, () => {
  log(`LISTEN ${values.socket} allow=${[...allowed].join(',')}`);
});

function stop() {
  log(`SUMMARY allowed=${counts.allowed} denied=${counts.denied}`);
  server.close();
  try {
    unlinkSync(values.socket);
  } catch {
    /* already gone */
  }
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
