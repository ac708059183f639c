// Events cross processes: a change made in one roomcast process (here a second Node process, opened as
// the worker role opens the composition root) reaches a listener in another (the api) through the
// Redis relay, after the change committed; and the api's own events reach the other process.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openContainer, type Container } from '../../services/container.js';
import { loadConfig } from '../../services/core/config.js';
import type { EventMeta, TaskChanged } from '../../services/core/events.js';
import { REDIS_URL } from '../support/env.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const actor = { userId: null, name: 'tech', ip: null };

describe('event relay between processes', () => {
  let dir: string;
  let env: Record<string, string>;
  let api: Container;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-events-'));
    env = {
      ROOMCAST_DATA_DIR: dir,
      ROOMCAST_REDIS_URL: REDIS_URL,
      ROOMCAST_REDIS_PREFIX: `rcev${randomBytes(4).toString('hex')}`,
    };
    api = await openContainer(loadConfig({ ...env, ROOMCAST_ROLES: 'api' }), pino({ level: 'silent' }));
  });
  afterAll(async () => {
    await api?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("hears the worker's change after its commit, and the worker hears the api's", async () => {
    const host = await api.inventory.createHost(actor, { name: 'B204-01', mac: '02:00:00:00:e0:01' });
    const reader = new SQLite(path.join(dir, 'roomcast.db'), { readonly: true });
    const stateNow = reader.prepare<[number], { state: string }>('select state from tasks where id = ?');
    const heard: Array<{ e: TaskChanged; meta: EventMeta; committed: string | undefined }> = [];
    api.events.on('task.changed', (e, meta) => heard.push({ e, meta, committed: stateNow.get(e.taskId)?.state }));

    const peer = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/support/event-peer.ts')], {
      cwd: repo,
      env: { ...process.env, ...env, ROOMCAST_ROLES: 'worker' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    peer.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    // Every line the peer prints, in order, whenever the test asks for it.
    const lines = readline.createInterface({ input: peer.stdout })[Symbol.asyncIterator]();
    const exited = new Promise<number | null>((resolve) => peer.once('exit', resolve));
    const next = async () => {
      const line = await Promise.race([lines.next(), exited.then((code) => Promise.reject(new Error(`the peer exited (${code}): ${stderr.slice(-2000)}`)))]);
      return line.done ? '' : line.value;
    };
    try {
      expect(await next()).toBe('ready');
      const cancelled = api.events.waitFor('task.changed', (e) => e.state === 'cancelled', 20_000);
      const { created } = await api.tasks.create(actor, [host.id], 'inventory');
      const remote = await cancelled;
      expect(await next()).toBe(`cancelled ${created[0]}`);
      expect(remote).toMatchObject({ taskId: created[0], hostId: host.id, kind: 'inventory', state: 'cancelled', previous: 'pending' });
      // The api heard its own creation once (locally: its echo from Redis is dropped), then the
      // worker's cancel, relayed, when a second connection already saw it committed.
      expect(heard.map((h) => [h.e.state, h.meta.origin, h.committed])).toEqual([
        ['pending', 'local', 'pending'],
        ['cancelled', 'remote', 'cancelled'],
      ]);
      expect(await exited).toBe(0);
    } finally {
      peer.kill();
      reader.close();
    }
  });
});
