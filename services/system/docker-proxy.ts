// A read-only Docker socket proxy for the stack's System view. It runs in its own small container with the
// Docker socket mounted; the api never sees the socket. Only GET endpoints for the containers of this
// Compose project pass (see proxy-rules.ts); the project is read from this container's own labels,
// and when it cannot be found, every request is refused (fail closed).
import http from 'node:http';
import os from 'node:os';
import { pino } from 'pino';
import { classify, scopeListUrl } from './proxy-rules.js';

const socketPath = process.env.ROOMCAST_DOCKER_SOCKET ?? '/var/run/docker.sock';
const port = Number(process.env.ROOMCAST_DOCKER_PROXY_PORT ?? 2375);
const log = pino({ level: process.env.ROOMCAST_LOG_LEVEL ?? 'info', base: { app: 'roomcast', role: 'docker-proxy' } });

function dockerGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: 'GET', timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 500, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('Docker did not answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** The Compose project of the container this proxy runs in (its hostname is its container id). */
async function ownProject(): Promise<string | undefined> {
  const self = await dockerGet(`/containers/${encodeURIComponent(process.env.HOSTNAME ?? os.hostname())}/json`);
  if (self.status !== 200) return undefined;
  const labels = (JSON.parse(self.body) as { Config?: { Labels?: Record<string, string> } }).Config?.Labels ?? {};
  return labels['com.docker.compose.project'];
}

async function belongsToProject(id: string, project: string): Promise<boolean> {
  const r = await dockerGet(`/containers/${encodeURIComponent(id)}/json`);
  if (r.status !== 200) return false;
  const labels = (JSON.parse(r.body) as { Config?: { Labels?: Record<string, string> } }).Config?.Labels ?? {};
  return labels['com.docker.compose.project'] === project;
}

function refuse(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message }));
}

async function main(): Promise<void> {
  let project: string | undefined;
  const server = http.createServer((req, res) => {
    void (async () => {
      const what = classify(req.method ?? '', req.url ?? '');
      if ('refused' in what) {
        log.warn({ method: req.method, url: req.url }, `refused: ${what.refused}`);
        return refuse(res, 403, `roomcast docker proxy: ${what.refused}`);
      }
      project ??= await ownProject().catch(() => undefined);
      if (!project) return refuse(res, 503, 'roomcast docker proxy: cannot find its own Compose project; refusing everything');
      let path = req.url ?? '/';
      if (what.kind === 'list') path = scopeListUrl(path, project);
      if ((what.kind === 'inspect' || what.kind === 'logs') && !(await belongsToProject(what.id, project))) {
        return refuse(res, 404, `no container ${what.id} in project ${project}`);
      }
      const upstream = http.request({ socketPath, path, method: req.method, headers: { host: 'docker' } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', (err) => refuse(res, 502, `roomcast docker proxy: ${err.message}`));
      upstream.end();
    })().catch((err: Error) => {
      log.error({ err: err.message }, 'proxy error');
      if (!res.headersSent) refuse(res, 502, 'roomcast docker proxy: upstream error');
    });
  });
  server.listen(port, '0.0.0.0', () => log.info({ port, socketPath }, 'read-only docker socket proxy listening'));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
