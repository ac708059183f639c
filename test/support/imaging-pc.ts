// A PC that captures and restores against the real api (SQLite, real Redis) on loop devices, the way
// test/integration/imaging-client.test.ts plays it: the api's iPXE script gives the boot token, hello
// the task token, then the imaging client runs on a loop device over a disk image file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { HttpImagingApi } from '../../services/imaging/client/api.js';
import { runTask } from '../../services/imaging/client/main.js';
import type { Manifest } from '../../services/imaging/format.js';
import { startTestApp, TEST_ADMIN_PASSWORD, type TestApp } from './app.js';
import { ApiClient } from './client.js';
import { attach, detach } from './disks.js';
import { helloFacts } from './facts.js';

const MIB = 1024 * 1024;

/** A host as its PC reports itself at hello. */
export interface RoomHost {
  id: number;
  mac: string;
  serial: string;
  uuid: string;
  diskSerial: string;
}

export class ImagingPc {
  dir = '';
  app!: TestApp;
  tech!: ApiClient;
  hostId = 0;
  imageId = 0;
  readonly log: string[] = [];
  private readonly loops: string[] = [];

  constructor(
    readonly mac: string,
    private readonly diskBytes: number,
  ) {}

  /** `env`: more of the api's environment (roles, multicast...); `opts`: startTestApp's (a logger to read). */
  async start(imageName: string, env: Record<string, string> = {}, opts: Parameters<typeof startTestApp>[2] = {}): Promise<void> {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-imaging-pc-'));
    this.app = await startTestApp('sqlite', env, opts);
    const admin = new ApiClient(this.app.url);
    await admin.login('admin', TEST_ADMIN_PASSWORD);
    this.tech = await admin.userClient('tech', 'technician');
    const host = await this.tech.post('/api/v1/hosts', { name: `PC-${this.mac.slice(-2)}`, mac: this.mac });
    expect(host.status, JSON.stringify(host.body)).toBe(201);
    this.hostId = host.body.id;
    this.imageId = await this.newImage(imageName);
  }

  async newImage(name: string): Promise<number> {
    const img = await this.tech.post('/api/v1/images', { name });
    expect(img.status, JSON.stringify(img.body)).toBe(201);
    return img.body.id as number;
  }

  async stop(): Promise<void> {
    for (const l of [...this.loops]) await detach(l).catch(() => {});
    await this.app?.stop();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  blank(name: string, mib: number): string {
    const f = this.file(name);
    fs.rmSync(f, { force: true });
    fs.writeFileSync(f, '');
    fs.truncateSync(f, mib * MIB);
    return f;
  }

  /**
   * Creates the task, then what a PC does: the iPXE script (boot token), then hello (task token).
   * `host`: another host than this PC's (a room's PCs), with the serial and UUID it reports.
   */
  async bootForTask(body: Record<string, unknown>, host: RoomHost = { id: this.hostId, mac: this.mac, serial: 'IMGPC', uuid: '4c4c4544-0000-1010-8000-0000000000aa', diskSerial: 'TD-PC' }): Promise<{ taskId: number; token: string }> {
    const created = await this.tech.post('/api/v1/tasks', { hostIds: [host.id], ...body });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const taskId = created.body.tasks[0].id as number;
    const script = await fetch(`${this.app.url}/boot/ipxe?mac=${host.mac}&arch=7`).then((r) => r.text());
    const bootToken = /roomcast\.token=(\S+)/.exec(script)?.[1];
    expect(bootToken, script).toBeTruthy();
    const facts = helloFacts({ mac: host.mac, serial: host.serial, uuid: host.uuid, cpu: { model: 'Intel(R) Core(TM) i5-10500', cores: 6, threads: 12 }, disk: { model: 'TEST DISK', serial: host.diskSerial, sizeBytes: this.diskBytes } });
    const hello = await fetch(`${this.app.url}/api/v1/boot/hello`, { method: 'POST', headers: { authorization: `Bearer ${bootToken}`, 'content-type': 'application/json' }, body: JSON.stringify(facts) });
    const answer = (await hello.json()) as { token?: string };
    expect(hello.status, JSON.stringify(answer)).toBe(200);
    return { taskId, token: answer.token ?? bootToken! };
  }

  api(token: string): HttpImagingApi {
    return new HttpImagingApi({ base: this.app.url, token, attempts: 3, log: (l) => this.log.push(l) });
  }

  /** Runs the imaging client for a task on a loop device over `file` (through `api`, default the plain one). */
  async runOn(file: string, token: string, api: HttpImagingApi = this.api(token)): Promise<boolean> {
    const l = await attach(file);
    this.loops.push(l);
    try {
      return await runTask(api, l, (line) => this.log.push(line));
    } finally {
      await detach(l);
      this.loops.splice(this.loops.indexOf(l), 1);
    }
  }

  async capture(file: string, imageId = this.imageId): Promise<{ taskId: number; ok: boolean }> {
    const { taskId, token } = await this.bootForTask({ kind: 'capture', imageId });
    return { taskId, ok: await this.runOn(file, token) };
  }

  async restore(file: string, version?: number, imageId = this.imageId): Promise<{ taskId: number; ok: boolean; task: Record<string, any> }> {
    const { taskId, token } = await this.bootForTask({ kind: 'restore', imageId, ...(version ? { version } : {}) });
    const ok = await this.runOn(file, token);
    return { taskId, ok, task: await this.task(taskId) };
  }

  async task(id: number): Promise<Record<string, any>> {
    return ((await this.tech.get(`/api/v1/tasks?hostId=${this.hostId}`)).body as Array<Record<string, any>>).find((t) => t.id === id)!;
  }

  async versions(imageId = this.imageId): Promise<Array<Record<string, any>>> {
    return ((await this.tech.get(`/api/v1/images/${imageId}`)).body as { versions: Array<Record<string, any>> }).versions;
  }

  async manifest(number: number, imageId = this.imageId): Promise<Manifest> {
    const v = (await this.versions(imageId)).find((x) => x.number === number)!;
    return JSON.parse(fs.readFileSync(path.join(this.app.dataDir, 'images', 'manifests', `${v.id}.json`), 'utf8')) as Manifest;
  }

  chunkFile(hash: string): string {
    return path.join(this.app.dataDir, 'images', 'chunks', hash.slice(0, 2), `${hash}.zst`);
  }

  lastLog(n = 12): string {
    return this.log.slice(-n).join('\n');
  }
}
