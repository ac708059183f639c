// Driver packs (issue 15 item 3): made with their match rule, declared size and SHA-256; uploaded in
// resumable pieces; checked and unpacked; matched to the PCs of restore tasks (match.ts).
//
// On disk, under <data dir>/drivers:
//   uploads/<id>.part        the archive while it is uploaded (its size is where an upload resumes)
//   packs/<id>/archive       the whole archive, as a restoring PC downloads it
//   packs/<id>/files/...     the archive unpacked (checked: only files and folders, no name outside)
// A pack is published by unpacking into packs/.<id>.tmp (every file and folder fsynced), moving the
// archive in, then renaming the folder to packs/<id>: a crash or a full disk leaves no half pack.
//
// The archive received whole is hashed: another SHA-256 than the declared one drops the upload (it
// was damaged on the way or the declared hash is wrong; the pack waits for an upload from byte 0). An
// archive that is not a tar, holds an unsafe name, a link, or no .inf marks the pack damaged (its
// archive is dropped: delete the pack and make a new one from a corrected archive).
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import type { MachineAuth } from '../core/auth.js';
import type { DB } from '../core/db/index.js';
import { AppError, conflict, notFound } from '../core/errors.js';
import { appendPiece, diskFull, noSpace, PerKey, sha256File } from '../core/upload.js';
import { fsyncPath, packFolder, TarError, unpackTar, type DriverMatch } from '../imaging/driver-pack.js';
import type { HostRepository } from '../inventory/hosts.js';
import type { TaskService } from '../tasks/service.js';
import { matchPack, systemFacts } from './match.js';
import { DriverPackRepository, toView, type DriverPackRow, type DriverPackView } from './repository.js';

export interface NewPack {
  name: string;
  vendor: string;
  model: string;
  sizeBytes: number;
  sha256: string;
}

const MAX_ENTRIES = 200_000;

export class DriverPackService {
  readonly repo: DriverPackRepository;

  constructor(
    private readonly db: Kysely<DB>,
    readonly dir: string,
    private readonly hosts: HostRepository,
    private readonly tasks: TaskService,
  ) {
    this.repo = new DriverPackRepository(db);
  }

  private part = (id: number) => path.join(this.dir, 'uploads', `${id}.part`);
  packDir = (id: number) => path.join(this.dir, 'packs', String(id));

  private async held(r: DriverPackRow): Promise<number> {
    if (r.state === 'ready') return Number(r.size_bytes);
    if (r.state === 'damaged') return 0;
    return fs.promises.stat(this.part(r.id)).then((s) => s.size, () => 0);
  }

  private async row(id: number): Promise<DriverPackRow> {
    const r = await this.repo.get(id);
    if (!r) throw notFound('driver pack', id);
    return r;
  }

  async list(): Promise<DriverPackView[]> {
    return Promise.all((await this.repo.list()).map(async (r) => toView(r, await this.held(r))));
  }

  async view(id: number): Promise<DriverPackView> {
    const r = await this.row(id);
    return toView(r, await this.held(r));
  }

  async create(actor: Actor, p: NewPack): Promise<DriverPackView> {
    const id = await this.db.transaction().execute(async (trx) => {
      if (await this.repo.byName(p.name, trx)) throw conflict('driver_pack_name_taken', `a driver pack is already named "${p.name}": choose another name, or delete that pack first`);
      const id = await this.repo.create(p, trx);
      await writeAudit(trx, actor, { action: 'driver_pack.create', targetType: 'driver_pack', targetId: id, details: { name: p.name, vendor: p.vendor, model: p.model, sizeBytes: p.sizeBytes, sha256: p.sha256 } });
      return id;
    });
    return this.view(id);
  }

  async setRule(actor: Actor, id: number, rule: { vendor?: string; model?: string }): Promise<DriverPackView> {
    await this.row(id);
    await this.db.transaction().execute(async (trx) => {
      await this.repo.setRule(id, rule, trx);
      await writeAudit(trx, actor, { action: 'driver_pack.rule', targetType: 'driver_pack', targetId: id, details: rule });
    });
    return this.view(id);
  }

  async remove(actor: Actor, id: number): Promise<void> {
    const r = await this.row(id);
    await this.db.transaction().execute(async (trx) => {
      await this.repo.remove(id, trx);
      await writeAudit(trx, actor, { action: 'driver_pack.delete', targetType: 'driver_pack', targetId: id, details: { name: r.name } });
    });
    await fs.promises.rm(this.part(id), { force: true });
    await fs.promises.rm(this.packDir(id), { recursive: true, force: true });
  }

  /**
   * Appends the body to the archive at `offset`, which must be at most the bytes held (a smaller one
   * drops what follows it: a piece sent again). A body cut off keeps what arrived (fsynced): resume
   * from GET's receivedBytes. The last byte in: the archive is checked and published (complete).
   */
  async append(id: number, offset: number, body: AsyncIterable<Buffer>): Promise<DriverPackView> {
    return this.serial.run(id, () => this.appendNow(id, offset, body));
  }

  /** One upload at a time per pack (core/upload.ts). */
  private readonly serial = new PerKey<number>();

  private async appendNow(id: number, offset: number, body: AsyncIterable<Buffer>): Promise<DriverPackView> {
    const r = await this.row(id);
    if (r.state !== 'uploading') throw conflict('driver_pack_not_uploading', `driver pack ${id} is ${r.state}: ${r.state === 'ready' ? 'it is complete already' : 'delete it and make a new one'}`);
    const size = Number(r.size_bytes);
    const at = await appendPiece(this.part(id), `driver pack ${id}`, size, await this.held(r), offset, body);
    if (at === size) return this.completeNow(id);
    return this.view(id);
  }

  /** Checks the whole archive (SHA-256, a tar of files and folders with a .inf) and publishes it. */
  async complete(id: number): Promise<DriverPackView> {
    return this.serial.run(id, () => this.completeNow(id));
  }

  private async completeNow(id: number): Promise<DriverPackView> {
    const r = await this.row(id);
    if (r.state === 'ready') return this.view(id);
    if (r.state !== 'uploading') throw conflict('driver_pack_not_uploading', `driver pack ${id} is ${r.state}: delete it and make a new one`);
    const held = await this.held(r);
    if (held !== Number(r.size_bytes)) throw conflict('upload_incomplete', `the appliance holds ${held} of the ${r.size_bytes} bytes of driver pack ${id}: send the rest from offset ${held}`);
    const file = this.part(id);
    const got = await sha256File(file);
    if (got !== r.sha256) {
      await fs.promises.rm(file, { force: true });
      throw new AppError(422, 'driver_pack_hash_mismatch', `the archive received hashes to ${got}, not to the declared SHA-256 ${r.sha256}: it was dropped. Check the declared hash (sha256sum of the file), then upload it again from byte 0`);
    }
    const packs = path.join(this.dir, 'packs');
    const tmp = path.join(packs, `.${id}.tmp`);
    await fs.promises.rm(tmp, { recursive: true, force: true });
    try {
      const unpacked = await this.unpack(file, path.join(tmp, 'files'));
      await fs.promises.rename(file, path.join(tmp, 'archive'));
      await fsyncPath(tmp);
      await fs.promises.rm(this.packDir(id), { recursive: true, force: true });
      await fs.promises.rename(tmp, this.packDir(id));
      await fsyncPath(packs);
      await this.repo.setState(id, 'ready', { ...unpacked, error: null });
    } catch (err) {
      await fs.promises.rm(tmp, { recursive: true, force: true });
      if (diskFull(err)) throw noSpace(this.dir, 'the archive could not be unpacked (it is kept: POST .../complete once there is room)');
      if (!(err instanceof AppError && err.status === 422)) throw err;
      await fs.promises.rm(file, { force: true });
      await this.repo.setState(id, 'damaged', { error: err.message });
      throw err;
    }
    return this.view(id);
  }

  private async unpack(archive: string, into: string): Promise<{ files: number; unpackedBytes: number }> {
    let got: { names: string[]; bytes: number };
    try {
      got = await unpackTar(fs.createReadStream(archive), into, (_e, before) => {
        if (before >= MAX_ENTRIES) throw new TarError(`the archive holds more than ${MAX_ENTRIES} entries`, 'tar_bad_entry');
      });
    } catch (err) {
      if (!(err instanceof TarError)) throw err;
      const code = { tar_unsafe_path: 'driver_pack_unsafe_path', tar_bad_entry: 'driver_pack_bad_entry', tar_damaged: 'driver_pack_not_tar' }[err.code];
      throw new AppError(422, code, err.message);
    }
    const files = got.names.length;
    if (!got.names.some((n) => /\.inf$/i.test(n))) throw new AppError(422, 'driver_pack_no_inf', `the archive holds ${files} files and no .inf: a driver pack is a folder of drivers as Windows installs them (.inf, .sys, .cat); pack the extracted drivers, not the vendor's installer`);
    await fsyncPath(path.dirname(into));
    return { files, unpackedBytes: got.bytes };
  }

  /** The pack a host would get now, and why (the PC page). */
  async matchHost(hostId: number): Promise<{ pack: DriverPackView | null; code: DriverMatch['code']; reason: DriverMatch['reason'] }> {
    const host = await this.hosts.view(hostId);
    if (!host) throw notFound('host', hostId);
    const d = matchPack(systemFacts(host.hardware), await this.repo.listReady());
    return { pack: d.pack ? toView(d.pack, Number(d.pack.size_bytes)) : null, code: d.code, reason: d.reason };
  }

  /** GET /api/v1/client/drivers: the pack for the PC of a running restore task. */
  async clientMatch(machine: MachineAuth): Promise<DriverMatch> {
    const task = await this.tasks.machineTask(machine, ['restore']);
    const d = await this.matchHost(task.host_id);
    const p = d.pack;
    return {
      pack: p ? { id: p.id, name: p.name, folder: packFolder(p.id, p.name), sha256: p.sha256, sizeBytes: p.sizeBytes, url: `/api/v1/client/drivers/${p.id}/archive` } : null,
      code: d.code,
      reason: d.reason,
    };
  }

  /** The archive of the pack the task's PC matches (another pack is refused: a token opens only its own). */
  async clientArchive(machine: MachineAuth, id: number): Promise<string> {
    const m = await this.clientMatch(machine);
    if (m.pack?.id !== id) throw new AppError(403, 'driver_pack_not_yours', `driver pack ${id} is not the one for this PC (${m.pack ? `it gets ${m.pack.id}` : 'it gets none'})`);
    const file = path.join(this.packDir(id), 'archive');
    if (!fs.existsSync(file)) {
      await this.repo.setState(id, 'damaged', { error: `its archive is missing from ${file}` });
      throw new AppError(404, 'driver_pack_missing', `driver pack ${id}'s archive is missing from the appliance's disk: it is now marked damaged; upload it again as a new pack`);
    }
    return file;
  }
}
