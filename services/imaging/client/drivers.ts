// The PC's driver pack, copied into the restored Windows while Windows is offline (issue 15 item 3):
// after the restore and the PC's name (identity.ts), the client asks the api which pack matches the
// PC (GET /api/v1/client/drivers: by its DMI vendor and model), downloads its archive, checks it
// against the pack's SHA-256 as it streams, and unpacks it on the Windows partition into
//
//   <Windows partition>\Drivers\roomcast\<id>-<name>\...     (DRIVERS_ROOT, packFolder: ../driver-pack.ts)
//
// which the answer file names in Microsoft-Windows-PnpCustomizationsNonWinPE / DriverPaths /
// PathAndCredentials as %SystemDrive%\Drivers\roomcast (ANSWER_FILE_DRIVER_PATH): Windows searches
// its subfolders and installs the matching drivers during its specialize pass.
//
// Rules:
// - Unpacked into a temporary folder beside it (every file and folder fsynced), then renamed into
//   place over any earlier copy: a PC never starts with half a pack. An archive that does not match its
//   SHA-256, or is refused by the reader (an unsafe name, a link), leaves nothing and fails the task.
// - No pack matches: nothing is written, and the reason goes into the report (details.drivers.skipped).
// - Windows is the NTFS partition holding Windows/System32/config/SYSTEM, found read-only first.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DRIVERS_ROOT, fsyncPath, TarError, unpackTar, type DriverMatch } from '../driver-pack.js';
import type { Manifest } from '../format.js';
import type { ImagingApi } from './api.js';
import { findCaseless } from './identity.js';
import { withLoop } from './partition.js';
import { ClientError, run } from './sys.js';

export type DriversReport =
  | { pack: { id: number; name: string; sha256: string }; partition: number; path: string; files: number; bytes: number; reason: string }
  | { skipped: DriverMatch['code'] | 'no_windows'; reason: string; reasonFr: string };

const SYSTEM_HIVE = ['Windows', 'System32', 'config', 'SYSTEM'];

/** Unpacks a pack's archive (checked against `sha256` and `size` as it streams) into `into`. */
export async function unpackPack(source: AsyncIterable<Buffer>, into: string, sha256: string, size: number): Promise<{ files: number; bytes: number }> {
  const hash = createHash('sha256');
  let received = 0;
  const tee = (async function* () {
    for await (const piece of source) {
      hash.update(piece);
      received += piece.length;
      yield piece;
    }
  })();
  let got: { names: string[]; bytes: number };
  try {
    got = await unpackTar(tee, into);
    for await (const _ of tee) void _; // the archive's padding after its end block: hashed too
  } catch (err) {
    if (err instanceof TarError) throw new ClientError(`the driver pack's archive was refused: ${err.message}`, 'drivers_bad_archive');
    throw err;
  }
  const got256 = hash.digest('hex');
  if (received !== size || got256 !== sha256) {
    throw new ClientError(`the driver pack's archive arrived as ${received} bytes hashing to ${got256}, not the ${size} bytes of SHA-256 ${sha256}: it was damaged on the way; restore the PC again`, 'drivers_hash_mismatch');
  }
  return { files: got.names.length, bytes: got.bytes };
}

/** Copies the PC's driver pack into the restored Windows. Null: this api offers no driver packs. */
export async function installDrivers(disk: string, manifest: Manifest, api: ImagingApi, log: (line: string) => void): Promise<DriversReport | null> {
  if (!api.drivers || !api.download) return null;
  const match = await api.drivers();
  const pack = match.pack;
  if (!pack) {
    log(`roomcast: ${match.reason.en}`);
    return { skipped: match.code, reason: match.reason.en, reasonFr: match.reason.fr };
  }
  for (const p of manifest.partitions.filter((x) => x.filesystem === 'ntfs')) {
    const done = await withLoop(disk, p.startBytes, p.sizeBytes, async (loop) => {
      const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'rc-drivers-'));
      try {
        await run('ntfs-3g', ['-o', 'ro', loop, mnt]);
        let windows: string | null;
        try {
          windows = await findCaseless(mnt, SYSTEM_HIVE);
        } finally {
          await run('umount', [mnt]);
        }
        if (!windows) return null;
        await run('ntfs-3g', [loop, mnt]);
        try {
          const top = (await findCaseless(mnt, [DRIVERS_ROOT[0]])) ?? path.join(mnt, DRIVERS_ROOT[0]);
          const root = (await findCaseless(top, [DRIVERS_ROOT[1]])) ?? path.join(top, DRIVERS_ROOT[1]);
          await fs.mkdir(root, { recursive: true });
          const dest = path.join(root, pack.folder);
          const tmp = path.join(root, `.${pack.folder}.tmp`);
          await fs.rm(tmp, { recursive: true, force: true });
          try {
            const got = await unpackPack(await api.download!(pack.url), tmp, pack.sha256, pack.sizeBytes);
            await fs.rm(dest, { recursive: true, force: true });
            await fs.rename(tmp, dest);
            await fsyncPath(root);
            return { ...got, path: path.relative(mnt, dest).split(path.sep).join('/') };
          } catch (err) {
            await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
            throw err;
          }
        } finally {
          await run('umount', [mnt]);
        }
      } finally {
        await fs.rm(mnt, { recursive: true, force: true });
      }
    });
    if (done) {
      log(`roomcast: driver pack "${pack.name}" (${done.files} files, ${done.bytes} bytes) copied to ${done.path} on partition ${p.number}`);
      return { pack: { id: pack.id, name: pack.name, sha256: pack.sha256 }, partition: p.number, ...done, reason: match.reason.en };
    }
  }
  log('roomcast: no Windows system on this disk: no driver pack copied');
  return { skipped: 'no_windows', reason: 'no Windows system on the restored disk: no driver pack copied', reasonFr: "pas de système Windows sur le disque restauré : aucun pack de pilotes copié" };
}
