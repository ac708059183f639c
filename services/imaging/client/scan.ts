// A capture's look at the partitions, overlapped with the upload (capture.ts): every partition is
// probed first (blkid and its first sector: cheap), so that a BitLocker volume is refused before
// anything is sent, and Windows is looked at read-only (windows-facts.ts: its edition and sysprep state;
// Fast Startup refuses the capture, before anything on the disk changes); then, a few at a time and in
// disk order, hiberfil.sys is removed from NTFS and partclone says which ranges are used. The capture
// streams a partition's windows as soon as its scan ends, while the next ones are still being scanned.
import { isExtended, type Partition } from '../format.js';
import { Semaphore } from './engine.js';
import type { Layout } from './layout.js';
import { ebrExtents } from './layout.js';
import { attachLoop, detachLoop, probe, removeHiberfile, usedExtents, type Probe } from './partition.js';
import { mib } from './progress.js';
import { ClientError } from './sys.js';
import { windowsFactsOf } from './windows-facts.js';
import type { WindowsFacts } from '../windows-facts.js';

export interface DiskScan {
  /** One per partition of the table, in its order; each settles when that partition is scanned. */
  partitions: Array<Promise<Partition>>;
  /** Partitions whose hiberfil.sys was removed (filled in as their scans end). */
  hiberfileRemoved: number[];
  /** What each NTFS partition holding Windows said of it (none: no Windows). */
  windows: WindowsFacts[];
}

/** Partitions scanned at once (partclone reads little: the filesystem's bitmap). */
const SCANS_AT_ONCE = 2;

export async function scanDisk(disk: string, layout: Layout, log: (line: string) => void): Promise<DiskScan> {
  const loops = new Map<number, { loop: string; probe: Probe }>();
  const windows: WindowsFacts[] = [];
  const release = async () => {
    for (const { loop } of loops.values()) await detachLoop(loop).catch(() => {});
    loops.clear();
  };
  try {
    for (const p of layout.partitions) {
      if (isExtended(layout.type, p.type)) continue;
      const loop = await attachLoop(disk, p.startBytes, p.sizeBytes);
      loops.set(p.number, { loop, probe: await probe(loop).catch(async (err: unknown) => (await detachLoop(loop), Promise.reject(err))) });
      if (loops.get(p.number)!.probe.bitlocker) {
        throw new ClientError(
          `partition ${p.number} is encrypted with BitLocker: a captured copy would not start on other PCs; on the reference PC run "manage-bde -off C:", wait for decryption to finish, then capture again`,
          'bitlocker',
        );
      }
    }
    for (const p of layout.partitions) {
      const attached = loops.get(p.number);
      if (attached?.probe.filesystem !== 'ntfs') continue;
      const facts = await windowsFactsOf(attached.loop, p.number, log);
      if (facts) windows.push(facts);
    }
  } catch (err) {
    await release();
    throw err;
  }

  const hiberfileRemoved: number[] = [];
  const limit = new Semaphore(SCANS_AT_ONCE);
  const partitions = layout.partitions.map((p) =>
    limit.run(async (): Promise<Partition> => {
      const base = { number: p.number, startBytes: p.startBytes, sizeBytes: p.sizeBytes, type: p.type, uuid: p.uuid, name: p.name, bootable: p.bootable };
      const attached = loops.get(p.number);
      if (!attached) {
        // Extended: its EBRs are its used extents, restored byte for byte like the rest.
        const used = await ebrExtents(disk, p, layout.sectorSize);
        log(`roomcast: partition ${p.number}: extended, ${used.length} EBRs`);
        return { ...base, filesystem: 'raw', fsLabel: null, fsUuid: null, usedBytes: used.reduce((n, [, l]) => n + l, 0), used, chunks: [] };
      }
      const { loop, probe: pr } = attached;
      try {
        if (pr.filesystem === 'ntfs' && (await removeHiberfile(loop))) {
          hiberfileRemoved.push(p.number);
          log(`roomcast: partition ${p.number}: removed hiberfil.sys (Windows was hibernated or used fast startup)`);
        }
        const used = await usedExtents(loop, pr.filesystem, p.sizeBytes);
        const usedBytes = used.reduce((s, [, l]) => s + l, 0);
        log(`roomcast: partition ${p.number}: ${pr.filesystem}${pr.blkidType && pr.filesystem === 'raw' ? ` (${pr.blkidType})` : ''}, ${mib(usedBytes)} used of ${mib(p.sizeBytes)}`);
        return { ...base, filesystem: pr.filesystem, fsLabel: pr.label, fsUuid: pr.uuid, usedBytes, used, chunks: [] };
      } finally {
        loops.delete(p.number);
        await detachLoop(loop);
      }
    }),
  );
  // Each is awaited in turn by the capture; one that fails before its turn must not go unhandled.
  for (const p of partitions) p.catch(() => {});
  return { partitions, hiberfileRemoved, windows };
}
