// The differential restore at format v3's change unit, the block (issue 11, deliverable 4): a disk
// restored to version 1, a few files changed on the reference, version 2 restored over it. The disk
// then holds exactly version 2's capture (every window's masked bytes hash to its chunk, every file
// equal), and the restore fetched the block indexes and the blocks that differ rather than whole
// chunks: far fewer bytes than a full restore of the same version. A chunk stored whole by an older
// client (one frame, no block index) is fetched whole and restores just as well.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zstdCompress, zstdDecompress } from '../../services/imaging/zstd.js';
import { SCHOOL_DISK_MIB, SCHOOL_LAYOUT, buildSchoolDisk, missingDiskTools, pseudoRandom, readDiskFiles, windowsDiffering, writeFiles } from '../support/disks.js';
import { ImagingPc } from '../support/imaging-pc.js';

const MIB = 1024 * 1024;
const missing = missingDiskTools();
const canRun = process.getuid?.() === 0 && missing.length === 0;


describe.skipIf(!canRun)('differential restore of format v3 (blocks)', () => {
  const pc = new ImagingPc('52:54:00:5c:11:d1', SCHOOL_DISK_MIB * MIB);
  let master: string;
  let target: string;

  beforeAll(async () => {
    await pc.start('Differential');
    master = pc.file('master.img');
    await buildSchoolDisk(master);
    expect((await pc.capture(master)).ok, pc.lastLog()).toBe(true);
    target = pc.blank('pc.img', SCHOOL_DISK_MIB);
    const r = await pc.restore(target, 1);
    expect(r.ok, pc.lastLog()).toBe(true);
    // Version 2: a few files of the reference PC rewritten or added (NTFS and ext4).
    await writeFiles(master, SCHOOL_LAYOUT[2]!, { 'Windows/System32/drivers/e1000.sys': pseudoRandom('e1000 v2', 400_000), 'Users/eleve/Documents/nouveau.txt': Buffer.from('nouveau TP\r\n'.repeat(300)) });
    await writeFiles(master, SCHOOL_LAYOUT[3]!, { 'notes.txt': Buffer.from('disk v2\n'), 'logiciels/patch.bin': pseudoRandom('patch', 150_000) });
    expect((await pc.capture(master)).ok, pc.lastLog()).toBe(true);
  }, 400_000);

  afterAll(() => pc.stop());

  it('restores version 2 over version 1 fetching only the blocks that differ, and the disk then holds version 2 exactly', async () => {
    const m2 = await pc.manifest(2);
    expect(m2.version).toBe(3);
    expect(windowsDiffering(target, m2).length, 'the disk holds version 1, not 2').toBeGreaterThan(0);

    const diff = await pc.restore(target, 2);
    expect(diff.ok, pc.lastLog()).toBe(true);
    expect(windowsDiffering(target, m2)).toEqual([]);
    const files = await readDiskFiles(target);
    const want = await readDiskFiles(master);
    expect(files).toEqual(want);

    const full = await pc.restore(pc.blank('full.img', SCHOOL_DISK_MIB), 2);
    expect(full.ok, pc.lastLog()).toBe(true);
    const d = diff.task.result.details as Record<string, number>;
    const f = full.task.result.details as Record<string, number>;
    expect(d.patchedChunks, 'windows patched block by block').toBeGreaterThan(0);
    expect(d.fetchedBytes).toBeGreaterThan(0);
    // A few files changed: a small part of a full restore's bytes moves (4 MiB windows moved several times more).
    expect(d.fetchedBytes! / f.fetchedBytes!).toBeLessThan(0.1);
    expect(d.writtenBytes! / f.writtenBytes!).toBeLessThan(0.1);
  }, 400_000);

  it('a chunk stored whole by an older client (no block index) is fetched whole', async () => {
    const m2 = await pc.manifest(2);
    // Every chunk of version 2 stored as one frame, as a v2 client stored them.
    for (const c of [...m2.bootArea.chunks, ...m2.partitions.flatMap((p) => p.chunks)]) {
      const file = pc.chunkFile(c.hash);
      const raw = await zstdDecompress(fs.readFileSync(file), c.length);
      fs.writeFileSync(file, await zstdCompress(raw));
    }
    const target1 = pc.blank('pc-old.img', SCHOOL_DISK_MIB);
    expect((await pc.restore(target1, 1)).ok, pc.lastLog()).toBe(true);
    const r = await pc.restore(target1, 2);
    expect(r.ok, pc.lastLog()).toBe(true);
    expect(windowsDiffering(target1, m2)).toEqual([]);
    const d = r.task.result.details as Record<string, number>;
    expect(d.patchedChunks).toBe(0);
    expect(d.fetchedChunks).toBeGreaterThan(0);
  }, 400_000);
});
