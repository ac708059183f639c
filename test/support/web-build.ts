// Vitest global setup: builds the web UI (web/dist) with Vite's JS API when it is missing or older
// than its sources, once per test run, so that the serving and browser tests have it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
export const WEB_DIST = path.join(WEB_ROOT, 'dist');

function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

export function webBuildIsCurrent(): boolean {
  const index = path.join(WEB_DIST, 'index.html');
  if (!fs.existsSync(index)) return false;
  const sources = Math.max(newest(path.join(WEB_ROOT, 'src')), fs.statSync(path.join(WEB_ROOT, 'index.html')).mtimeMs);
  return fs.statSync(index).mtimeMs >= sources;
}

export default async function setup(): Promise<void> {
  if (webBuildIsCurrent()) return;
  const { build } = await import('vite');
  const started = Date.now();
  // The production build, as `npm run build` makes it: Vite (and so React) follow NODE_ENV, which
  // vitest sets to 'test' (that would bundle React's development build).
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: path.join(WEB_ROOT, 'vite.config.ts'), mode: 'production', logLevel: 'warn' });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  console.info(`web UI built into web/dist in ${Date.now() - started} ms`);
}
