// Issue 11, deliverable 1: a restored disk is the captured disk, byte for byte where it matters.
// Real api and store, the imaging client on loop devices, disks built with sgdisk and sfdisk:
// - the school-PC disk (GPT, test/support/disks.ts) with a disk signature and reserved bytes in LBA 0,
//   boot-loader data in the gap between the GPT entries and the first partition, and files with ADS,
//   hard links, sparse files, xattrs and modes, restored onto a disk of the same size (LBA 0, the
//   primary and backup GPT, the gap: identical) and onto a larger one (identical to what `sgdisk -e`
//   makes of the original on that size, the disk signature kept);
// - an MBR disk: the whole disk identical;
// - an MBR disk with an extended partition and two logical ones (ext4, vfat): the EBR chain is the
//   extended partition's used extents, restored byte for byte (boot code in the EBRs included) with
//   no sfdisk replay; the whole disk identical;
// - a format v1 manifest (the shape before this change) still restores.
// Needs root (loop devices, mounts) and the tools of DISK_TOOLS.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allChunks, maskWindow, windowsOf, type Extent, type Manifest } from '../../services/imaging/format.js';
import { zstdCompress } from '../../services/imaging/zstd.js';
import { SCHOOL_DISK_MIB, SCHOOL_LAYOUT, attach, buildSchoolDisk, detach, fsckDisk, missingDiskTools, pseudoRandom, readDiskFiles, run, withPartitionDir, writeFiles, type PartSpec } from '../support/disks.js';
import { ImagingPc } from '../support/imaging-pc.js';

const isRoot = process.getuid?.() === 0;
const missing = missingDiskTools();
const MIB = 1024 * 1024;
const SECTOR = 512;
/** GPT: LBA 0, the header, 32 sectors of entries. */
const GPT_HEAD = 34 * SECTOR;

const bytes = (f: string, offset: number, length: number) => {
  const fd = fs.openSync(f, 'r');
  try {
    const b = Buffer.alloc(length);
    fs.readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
};
const put = (f: string, offset: number, data: Buffer) => {
  const fd = fs.openSync(f, 'r+');
  fs.writeSync(fd, data, 0, data.length, offset);
  fs.closeSync(fd);
};
const tail = (f: string, n: number) => bytes(f, fs.statSync(f).size - n, n);

/** Every entry of a mounted filesystem: type, mode, owner, size, allocated blocks, links, inode, target, content hash, xattrs (ADS on ntfs-3g). */
async function tree(dir: string): Promise<string> {
  const list = await run('sh', ['-c', `cd "${dir}" && find . -path './System Volume Information' -prune -o -printf '%p %y %m %U:%G %s %b %n %i %l\\n' | LC_ALL=C sort`]);
  const sums = await run('sh', ['-c', `cd "${dir}" && find . -path './System Volume Information' -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`]);
  const xattrs = await run('sh', ['-c', `cd "${dir}" && getfattr -R -h -d -m - -e hex . 2>/dev/null | grep -v '^system.ntfs_' || true`]);
  return `${list}\n${sums}\n${xattrs}`;
}

async function trees(disk: string): Promise<Record<number, string>> {
  const out: Record<number, string> = {};
  for (const p of SCHOOL_LAYOUT.filter((x) => x.fs === 'ntfs' || x.fs === 'ext4')) out[p.number] = await withPartitionDir(disk, p, tree, true);
  return out;
}

describe.skipIf(!isRoot || missing.length > 0)('a restore gives back LBA 0, the GPT, the gap and the files exactly', () => {
  const pc = new ImagingPc('52:54:00:5c:11:01', SCHOOL_DISK_MIB * MIB);
  let master: string;
  let original: Record<number, string>;

  beforeAll(async () => {
    await pc.start('Exact GPT');
    master = pc.file('master.img');
    await buildSchoolDisk(master);
    // What Windows and boot loaders leave: a disk signature and reserved bytes in LBA 0, data in the gap.
    put(master, 440, Buffer.from([0x5a, 0x11, 0xc0, 0xde, 0x01, 0x02]));
    put(master, GPT_HEAD + 4096, pseudoRandom('gap', 64 * 1024));
    const [ntfs, ext4] = [SCHOOL_LAYOUT[2]!, SCHOOL_LAYOUT[3]!];
    await withPartitionDir(master, ntfs, async (d) => {
      fs.writeFileSync(`${d}/Windows/notepad.exe`, pseudoRandom('notepad', 300_000));
      await run('setfattr', ['-n', 'user.Zone.Identifier', '-v', '[ZoneTransfer]ZoneId=3', `${d}/Windows/notepad.exe`]); // an ADS
      fs.linkSync(`${d}/Windows/notepad.exe`, `${d}/Windows/System32/notepad.exe`);
      await run('truncate', ['-s', '40M', `${d}/pagefile-sparse.bin`]);
      put(`${d}/pagefile-sparse.bin`, 20 * MIB, Buffer.from('middle of a sparse file'));
    });
    await withPartitionDir(master, ext4, async (d) => {
      fs.writeFileSync(`${d}/script.sh`, '#!/bin/sh\necho salut\n', { mode: 0o750 });
      fs.chmodSync(`${d}/notes.txt`, 0o604);
      fs.chownSync(`${d}/notes.txt`, 1000, 1000);
      await run('setfattr', ['-n', 'user.roomcast', '-v', 'B204', `${d}/notes.txt`]);
      fs.linkSync(`${d}/notes.txt`, `${d}/notes-link.txt`);
      fs.symlinkSync('logiciels/LabVIEW/setup.bin', `${d}/labview`);
      await run('truncate', ['-s', '30M', `${d}/sparse.img`]);
      put(`${d}/sparse.img`, 10 * MIB, Buffer.from('data in a hole'));
    });
    original = await trees(master);
    const cap = await pc.capture(master);
    expect(cap.ok, pc.lastLog()).toBe(true);
  }, 300_000);

  afterAll(() => pc.stop());

  it('captures LBA 0 and the primary GPT into the boot area (format v3: with block hashes)', async () => {
    const m = await pc.manifest(1);
    expect(m.version).toBe(3);
    expect(m.blockSize).toBe(64 * 1024);
    for (const c of allChunks(m)) expect(c.blocks).toHaveLength(Math.ceil(c.length / m.blockSize!));
    expect(m.table.headBytes).toBe(GPT_HEAD);
    expect(m.bootArea.write).toEqual([[0, MIB]]);
    // The comparison below sees what it is about: the metadata is there.
    expect(original[3]).toMatch(/user\.Zone\.Identifier/);
    expect(original[3]).toMatch(/\.\/Windows\/notepad\.exe f \d+ \S+ 300000 \d+ 2 /);
    expect(original[4]).toMatch(/\.\/notes\.txt f 604 1000:1000 \d+ \d+ 2 /);
    expect(original[4]).toMatch(/\.\/sparse\.img f 644 0:0 31457280 (\d{1,3}) /);
  });

  it('onto a disk of the same size: LBA 0, both GPTs, the gap and every file identical', async () => {
    const target = pc.blank('same.img', SCHOOL_DISK_MIB);
    put(target, 0, pseudoRandom('old disk', 2 * MIB)); // an old table and boot code to be replaced
    const r = await pc.restore(target, 1);
    expect(r.ok, pc.lastLog()).toBe(true);
    expect(bytes(target, 0, SECTOR).equals(bytes(master, 0, SECTOR)), 'LBA 0').toBe(true);
    expect(bytes(target, 0, MIB).equals(bytes(master, 0, MIB)), 'primary GPT and the gap').toBe(true);
    expect(tail(target, 33 * SECTOR).equals(tail(master, 33 * SECTOR)), 'backup GPT').toBe(true);
    expect(await run('sfdisk', ['--dump', target])).toBe((await run('sfdisk', ['--dump', master])).replaceAll(master, target));
    expect(await trees(target)).toEqual(original);
    expect((await readDiskFiles(target))[1], 'the ESP').toEqual((await readDiskFiles(master))[1]);
    for (const [n, f] of Object.entries(await fsckDisk(target))) expect(f.ok, `partition ${n}: ${f.output}`).toBe(true);
  }, 300_000);

  it('onto a larger disk: what sgdisk -e makes of the original there, with the disk signature kept', async () => {
    const size = SCHOOL_DISK_MIB + 96;
    const target = pc.blank('larger.img', size);
    const r = await pc.restore(target, 1);
    expect(r.ok, pc.lastLog()).toBe(true);
    // The reference: the original moved onto the larger size by GPT fdisk (which zeroes bytes 440-445: put back).
    const ref = pc.file('reference.img');
    await run('cp', ['--sparse=always', master, ref]);
    fs.truncateSync(ref, size * MIB);
    await run('sgdisk', ['-e', ref]);
    put(ref, 440, bytes(master, 440, 6));
    const lba0 = bytes(target, 0, SECTOR);
    expect(lba0.readUInt32LE(446 + 12), 'protective MBR: the size of the target').toBe(size * 2048 - 1);
    expect(lba0.equals(bytes(ref, 0, SECTOR)), 'LBA 0').toBe(true);
    expect(bytes(target, 0, MIB).equals(bytes(ref, 0, MIB)), 'primary GPT and the gap').toBe(true);
    expect(tail(target, 33 * SECTOR).equals(tail(ref, 33 * SECTOR)), 'backup GPT at the end').toBe(true);
    const diff = (await run('sh', ['-c', `cmp -l ${master} ${target} | awk '$1 <= ${MIB}' | wc -l`])).trim();
    expect(Number(diff), 'bytes of the first MiB that differ from the original: only the size fields and CRCs').toBeLessThan(40);
    expect(await run('sgdisk', ['-v', target])).toMatch(/No problems found/);
    expect(await trees(target)).toEqual(original);
  }, 300_000);

  describe('an MBR disk', () => {
    let dos: string;
    const DOS_MIB = 64;
    beforeAll(async () => {
      pc.imageId = await pc.newImage('Exact MBR');
      dos = pc.blank('dos.img', DOS_MIB);
      await run('sh', ['-c', `printf 'label: dos\\nlabel-id: 0x1ee7c0de\\n2048,20480,83,*\\n24576,16384,7\\n' | sfdisk --quiet ${dos}`]);
      put(dos, 0, pseudoRandom('mbr code', 440));
      put(dos, 444, Buffer.from([0x5a, 0xa5]));
      put(dos, 4096, pseudoRandom('dos gap', 200_000));
      put(dos, MIB, pseudoRandom('part 1', 10 * MIB));
      put(dos, 24576 * SECTOR, pseudoRandom('part 2', 8 * MIB));
      const cap = await pc.capture(dos);
      expect(cap.ok, pc.lastLog()).toBe(true);
    }, 120_000);

    it('same size: the whole disk identical, LBA 0 byte for byte', async () => {
      const m = await pc.manifest(1);
      expect(m.table).toMatchObject({ type: 'dos', headBytes: SECTOR });
      const target = pc.blank('dos-same.img', DOS_MIB);
      const r = await pc.restore(target, 1);
      expect(r.ok, pc.lastLog()).toBe(true);
      expect(bytes(target, 0, SECTOR).equals(bytes(dos, 0, SECTOR)), 'LBA 0').toBe(true);
      expect(fs.readFileSync(target).equals(fs.readFileSync(dos)), 'the whole disk').toBe(true);
    }, 120_000);

    it('a format v1 manifest (boot code only, table from the dump) still restores', async () => {
      // The version-1 shape of the same disk, as the previous client posted it.
      const v3 = await pc.manifest(1);
      const { blockSize: _, ...v2 } = v3;
      const write: Extent[] = [[0, 440], [SECTOR, MIB - SECTOR]];
      const frames = new Map<string, Buffer>();
      const chunks = [];
      for (const w of windowsOf(write, v2.chunkSize, MIB)) {
        const raw = maskWindow(bytes(dos, w.offset, w.length), w.used);
        const hash = createHash('sha256').update(raw).digest('hex');
        frames.set(hash, await zstdCompress(raw));
        chunks.push({ offset: w.offset, length: w.length, hash });
      }
      const v1: Manifest = { ...v2, version: 1, table: { type: 'dos', id: v2.table.id, sfdisk: v2.table.sfdisk }, bootArea: { length: MIB, write, chunks } };
      v1.partitions = v1.partitions.map((p) => ({ ...p, chunks: p.chunks.map(({ blocks: __, ...c }) => c) }));
      for (const c of allChunks(v1)) delete c.storedSize;
      const { taskId, token } = await pc.bootForTask({ kind: 'capture', imageId: pc.imageId });
      const api = pc.api(token);
      const reg = await api.registerCapture(v1);
      for (const h of reg.missing) await api.putChunk(h, frames.get(h)!);
      await api.commit();
      await api.result({ ok: true });
      expect((await pc.task(taskId)).state).toBe('done');

      const target = pc.blank('dos-v1.img', DOS_MIB + 16);
      const r = await pc.restore(target, reg.number);
      expect(r.ok, pc.lastLog()).toBe(true);
      // v1 restores the boot code, the disk signature (sfdisk's label-id), the table and the data.
      expect(bytes(target, 0, 444).equals(bytes(dos, 0, 444))).toBe(true);
      expect(bytes(target, 446, 66).equals(bytes(dos, 446, 66))).toBe(true);
      expect(bytes(target, SECTOR, DOS_MIB * MIB - SECTOR).equals(bytes(dos, SECTOR, DOS_MIB * MIB - SECTOR))).toBe(true);
    }, 120_000);

    it('a format v2 manifest (no block hashes) still restores, over a disk holding other data', async () => {
      // The version-2 shape of the same capture; its chunks are the v3 ones (stored as blocks), read whole.
      const { blockSize: _, ...rest } = await pc.manifest(1);
      const strip = (cs: Manifest['bootArea']['chunks']) => cs.map(({ blocks: __, storedSize: ___, ...c }) => c);
      const v2: Manifest = { ...rest, version: 2, bootArea: { ...rest.bootArea, chunks: strip(rest.bootArea.chunks) }, partitions: rest.partitions.map((p) => ({ ...p, chunks: strip(p.chunks) })) };
      const { taskId, token } = await pc.bootForTask({ kind: 'capture', imageId: pc.imageId });
      const api = pc.api(token);
      const reg = await api.registerCapture(v2);
      expect(reg.missing).toEqual([]);
      await api.commit();
      await api.result({ ok: true });
      expect((await pc.task(taskId)).state).toBe('done');

      const target = pc.blank('dos-v2.img', DOS_MIB);
      put(target, MIB, pseudoRandom('another disk 1', 10 * MIB)); // other data in both partitions
      put(target, 24576 * SECTOR, pseudoRandom('another disk 2', 8 * MIB));
      const r = await pc.restore(target, reg.number);
      expect(r.ok, pc.lastLog()).toBe(true);
      expect(fs.readFileSync(target).equals(fs.readFileSync(dos)), 'the whole disk').toBe(true);
    }, 120_000);
  });
  describe('an MBR disk with logical partitions', () => {
    let dos: string;
    const DOS_MIB = 96;
    let ebrs: number[] = [];
    let logical: PartSpec[] = [];
    beforeAll(async () => {
      pc.imageId = await pc.newImage('Exact MBR logical');
      dos = pc.blank('logical.img', DOS_MIB);
      // A primary, then an extended partition with two logical ones (sfdisk places their EBRs).
      await run('sh', ['-c', `printf 'label: dos\\nlabel-id: 0x10c1ca15\\n2048,16384,83,*\\n18432,,5\\n,40960,83\\n,,c\\n' | sfdisk --quiet ${dos}`]);
      const table = JSON.parse(await run('sfdisk', ['--json', dos])) as { partitiontable: { partitions: Array<{ node: string; start: number; size: number; type: string }> } };
      const parts = table.partitiontable.partitions.map((p) => ({ number: Number(/(\d+)$/.exec(p.node)![1]), start: p.start, size: p.size, type: p.type }));
      expect(parts.map((p) => [p.number, p.type])).toEqual([[1, '83'], [2, '5'], [5, '83'], [6, 'c']]);
      logical = parts.filter((p) => p.number >= 5).map((p) => ({ number: p.number, name: `logical ${p.number}`, fs: p.number === 5 ? 'ext4' : 'vfat', startMiB: p.start / 2048, sizeMiB: p.size / 2048 }));
      expect(logical.every((p) => Number.isInteger(p.startMiB) && Number.isInteger(p.sizeMiB))).toBe(true);
      // The EBR chain as sfdisk wrote it: one per logical partition, the first at the extended partition's start.
      const ext = parts.find((p) => p.number === 2)!;
      ebrs = [ext.start];
      for (let at = ext.start; ; ) {
        const next = bytes(dos, at * SECTOR, SECTOR).readUInt32LE(462 + 8);
        if (!next) break;
        at = ext.start + next;
        ebrs.push(at);
      }
      expect(ebrs).toHaveLength(2);
      put(dos, 0, pseudoRandom('mbr code', 440));
      // Boot code in each EBR, as some boot loaders keep there: sfdisk would not recreate it.
      for (const [i, lba] of ebrs.entries()) put(dos, lba * SECTOR, pseudoRandom(`ebr ${i}`, 440));
      put(dos, MIB, pseudoRandom('primary', 8 * MIB));
      for (const p of logical) {
        const loop = await attach(dos, p.startMiB * MIB, p.sizeMiB * MIB);
        try {
          await run(p.fs === 'ext4' ? 'mkfs.ext4' : 'mkfs.vfat', p.fs === 'ext4' ? ['-q', '-F', '-L', 'logique', '-b', '4096', loop] : ['-F', '32', '-n', 'LOGIQUE', loop]);
        } finally {
          await detach(loop);
        }
      }
      await writeFiles(dos, logical[0]!, { 'cours/maths.txt': pseudoRandom('maths', 2_000_000), 'cours/notes.txt': Buffer.from('salut\n') });
      await writeFiles(dos, logical[1]!, { 'EFI/BOOT/grub.cfg': pseudoRandom('grub', 300_000) });
      const cap = await pc.capture(dos);
      expect(cap.ok, pc.lastLog()).toBe(true);
    }, 180_000);

    it('captures the EBR chain as the extended partition\'s used extents', async () => {
      const m = await pc.manifest(1);
      const ext = m.partitions.find((p) => p.number === 2)!;
      expect(ext).toMatchObject({ type: '5', filesystem: 'raw', used: ebrs.map((lba) => [lba * SECTOR - ext.startBytes, SECTOR]), usedBytes: 2 * SECTOR });
      expect(m.partitions.map((p) => [p.number, p.filesystem])).toEqual([[1, 'raw'], [2, 'raw'], [5, 'ext4'], [6, 'vfat']]);
    });

    it('same size: the whole disk identical, LBA 0 and the EBRs byte for byte, without an sfdisk replay', async () => {
      const target = pc.blank('logical-same.img', DOS_MIB);
      const r = await pc.restore(target, 1);
      expect(r.ok, pc.lastLog()).toBe(true);
      expect(bytes(target, 0, SECTOR).equals(bytes(dos, 0, SECTOR)), 'LBA 0').toBe(true);
      for (const lba of ebrs) expect(bytes(target, lba * SECTOR, SECTOR).equals(bytes(dos, lba * SECTOR, SECTOR)), `EBR at ${lba}`).toBe(true);
      expect(fs.readFileSync(target).equals(fs.readFileSync(dos)), 'the whole disk').toBe(true);
      expect(await run('sfdisk', ['--dump', target])).toBe((await run('sfdisk', ['--dump', dos])).replaceAll(dos, target));
    }, 120_000);
  });
});
