// Unit tests of the imaging client's pure parts: disk choice, partclone domain files, table dumps,
// progress. The engine itself runs against real loop devices in test/integration/imaging-client.test.ts.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseDisk, sysfsSerial, unsuitable, type DiskInfo } from './disk.js';
import { portableDump, sameTable } from './layout.js';
import { parseDomain } from './partition.js';
import { ProgressMeter } from './progress.js';
import { Pool } from './engine.js';
import { readSpans, WindowHasher } from './hasher.js';
import { blockHashes, maskWindow, type Extent } from '../format.js';
import { describeFailure } from './restore.js';
import { failureRank } from './windows.js';
import { ClientError } from './sys.js';

const GIB = 2 ** 30;
const disk = (over: Partial<DiskInfo>): DiskInfo => ({
  path: '/dev/sda', name: 'sda', sizeBytes: 256 * GIB, logicalSectorSize: 512, model: 'SAMSUNG SSD', serial: 'S1',
  removable: false, hotplug: false, readOnly: false, transport: 'sata', type: 'disk', ...over,
});

describe('chooseDisk', () => {
  const ssd = disk({});
  const hdd = disk({ path: '/dev/sdb', name: 'sdb', sizeBytes: 1000 * GIB, serial: 'WD-1', model: 'WDC' });
  const usb = disk({ path: '/dev/sdc', name: 'sdc', sizeBytes: 2000 * GIB, serial: 'USB-1', transport: 'usb', hotplug: true });
  const nvme = disk({ path: '/dev/nvme0n1', name: 'nvme0n1', sizeBytes: 512 * GIB, serial: 'N1', transport: 'nvme' });

  it('takes the largest internal disk, never a USB one even when larger', () => {
    expect(chooseDisk([ssd, usb, hdd]).path).toBe('/dev/sdb');
    expect(chooseDisk([usb, nvme, ssd]).path).toBe('/dev/nvme0n1');
  });

  it('takes the pinned disk by serial (case-insensitive), even when it is not the largest', () => {
    expect(chooseDisk([ssd, hdd], { pinnedSerial: 's1' }).path).toBe('/dev/sda');
  });

  it('refuses when the pinned disk is missing, naming what it found', () => {
    const err = (() => {
      try {
        chooseDisk([hdd, usb], { pinnedSerial: 'S1' });
      } catch (e) {
        return e as ClientError;
      }
    })();
    expect(err).toBeInstanceOf(ClientError);
    expect(err!.code).toBe('pinned_disk_missing');
    expect(err!.message).toContain('S1');
    expect(err!.message).toContain('/dev/sdb');
    expect(err!.message).not.toContain('/dev/sdc');
  });

  it('refuses a pinned disk that is on USB', () => {
    expect(() => chooseDisk([usb], { pinnedSerial: 'USB-1' })).toThrow(/USB/);
  });

  it('refuses a disk smaller than the image needs, and says when no disk fits', () => {
    expect(() => chooseDisk([ssd], { minBytes: 300 * GIB })).toThrow(/smaller than this image needs/);
    expect(() => chooseDisk([usb, disk({ name: 'zram0', path: '/dev/zram0' })])).toThrow(/no internal disk/);
  });

  it('explains why a device is unsuitable', () => {
    expect(unsuitable(disk({ type: 'loop' }))).toMatch(/loop/);
    expect(unsuitable(disk({ removable: true }))).toMatch(/removable/);
    expect(unsuitable(disk({ readOnly: true }))).toMatch(/read-only/);
    expect(unsuitable(disk({ name: 'mmcblk0boot0' }))).toMatch(/not a physical/);
    expect(unsuitable(ssd)).toBeNull();
  });
});

describe('sysfsSerial (the boot client has no udev, so lsblk shows no serial)', () => {
  it('reads SATA/SCSI (VPD page 0x80), virtio, NVMe and USB serials as the hardware facts do', () => {
    const sys = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-sysfs-'));
    try {
      const put = (rel: string, data: string | Buffer) => {
        fs.mkdirSync(path.dirname(path.join(sys, rel)), { recursive: true });
        fs.writeFileSync(path.join(sys, rel), data);
      };
      const link = (rel: string, target: string) => {
        fs.mkdirSync(path.dirname(path.join(sys, rel)), { recursive: true });
        fs.mkdirSync(path.join(sys, target), { recursive: true });
        fs.symlinkSync(path.join(sys, target), path.join(sys, rel));
      };
      link('block/sda/device', 'devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0');
      put('devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/vpd_pg80', Buffer.concat([Buffer.from([0, 0x80, 0, 20]), Buffer.from('   RCLAB-BIOS-0001 \0')]));
      put('block/vda/serial', 'RCLAB-UEFI-0002\n');
      put('class/nvme/nvme0/serial', 'S4EWNX0R123456      \n');
      link('block/sdb/device', 'devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host2/target2:0:0/2:0:0:0');
      put('devices/pci0000:00/0000:00:14.0/usb1/1-2/idVendor', '0781\n');
      put('devices/pci0000:00/0000:00:14.0/usb1/1-2/serial', '4C530001\n');
      link('block/loop3/device', 'devices/virtual/block/loop3/none');
      expect(sysfsSerial('sda', sys)).toBe('RCLAB-BIOS-0001');
      expect(sysfsSerial('vda', sys)).toBe('RCLAB-UEFI-0002');
      expect(sysfsSerial('nvme0n1', sys)).toBe('S4EWNX0R123456');
      expect(sysfsSerial('sdb', sys)).toBe('4C530001');
      expect(sysfsSerial('loop3', sys)).toBeNull();
      expect(sysfsSerial('sdz', sys)).toBeNull();
    } finally {
      fs.rmSync(sys, { recursive: true, force: true });
    }
  });
});

describe('parseDomain', () => {
  it('keeps the used (+) ranges of a partclone domain file', () => {
    const text = [
      '# Domain logfile created by unset_name v0.3.23',
      '# Source: /dev/loop1',
      '# Offset: 0x00000000',
      '# current_pos  current_status',
      '0x04000000     ?',
      '#      pos        size  status',
      '0x00000000  0x00003000  +',
      '0x00003000  0x00001000  ?',
      '0x00004000  0x00007000  +',
      '0x0000B000  0x007F8000  ?',
    ].join('\n');
    expect(parseDomain(text)).toEqual([
      [0, 0x3000],
      [0x4000, 0x7000],
    ]);
  });
});

describe('partition table dumps', () => {
  const a = 'label: gpt\nlabel-id: 1B57\ndevice: /dev/sda\nunit: sectors\nfirst-lba: 34\nlast-lba: 614366\nsector-size: 512\n\n/dev/sda1 : start=        2048, size=      131072, type=C12A, uuid=4822\n';
  it('drops the device and last-lba lines', () => {
    expect(portableDump(a)).not.toMatch(/device:|last-lba/);
    expect(portableDump(a)).toContain('first-lba: 34');
  });
  it('compares tables, not device names or disk ends', () => {
    const b = a.replace(/\/dev\/sda/g, '/dev/loop3').replace('614366', '819166');
    expect(sameTable(a, b)).toBe(true);
    expect(sameTable(a, a.replace('size=      131072', 'size=      131073'))).toBe(false);
    expect(sameTable(a, a.replace('label-id: 1B57', 'label-id: 1B58'))).toBe(false);
  });
});

describe('ProgressMeter', () => {
  it('reports rate and ETA from recent samples', () => {
    const m = new ProgressMeter(async () => {});
    m.setPhase('restore', 1000, 10);
    m.snapshot(0);
    m.add(100, 1);
    const p = m.snapshot(1000);
    expect(p).toMatchObject({ phase: 'restore', bytesDone: 100, bytesTotal: 1000, chunksDone: 1, chunksTotal: 10, rateBytesPerSecond: 100, etaSeconds: 9 });
  });
});

describe('describeFailure (the disk state a failed restore reports)', () => {
  it('says once that nothing was written when the error says so already (its flag, not its wording)', () => {
    const early = new ClientError('the disk is smaller than this image needs; nothing was written', 'disk_too_small', {}, { saysNothingWritten: true });
    const e = describeFailure(early, 'untouched');
    expect(e.message).toBe(early.message);
    expect(e.details).toEqual({ diskState: 'untouched' });
    expect(e.saysNothingWritten).toBe(true);
    // The same words without the flag get the sentence: the flag decides, not a match on the text.
    const worded = describeFailure(new ClientError('nothing was written here', 'x'), 'untouched');
    expect(worded.message).toBe('nothing was written here — nothing was written to the disk: it starts as before');
  });

  it('adds the disk state to any other failure, keeps its code and details, and describes an error only once', () => {
    const e = describeFailure(new ClientError('chunk abc is damaged', 'chunk_corrupt', { chunk: 'abc' }), 'no_table');
    expect(e.code).toBe('chunk_corrupt');
    expect(e.details).toEqual({ chunk: 'abc', diskState: 'no_table' });
    expect(e.message).toMatch(/^chunk abc is damaged — the disk was left without a partition table/);
    expect(e.saysNothingWritten).toBe(false);
    // main.ts describes every restore failure as 'untouched': one restore() described already keeps its state.
    expect(describeFailure(e, 'untouched')).toBe(e);
    // A flag on an error raised after writing began does not hide the state.
    const late = describeFailure(new ClientError('stopped; nothing was written', 'x', {}, { saysNothingWritten: true }), 'no_table');
    expect(late.message).toMatch(/ — the disk was left without a partition table/);
    expect(describeFailure(new Error('boom'), 'untouched')).toMatchObject({ code: 'internal', details: { diskState: 'untouched' } });
  });
});

describe('Pool (chunks in flight)', () => {
  /** A promise the test settles itself. */
  const gate = () => {
    let open!: () => void;
    const p = new Promise<void>((r) => (open = r));
    return { p, open };
  };
  /** Lets every pending callback run (no clock involved). */
  const settle = () => new Promise((r) => setImmediate(r));

  it('after a failure starts no job, lets the running ones finish, then throws the damaged chunk before the refusals it caused', async () => {
    const pool = new Pool(4, failureRank);
    const corrupt = gate();
    const slow = gate();
    let slowDone = false;
    let lateRan = false;
    await pool.add(async () => {
      await corrupt.p;
      throw new ClientError('chunk abc is damaged on the server', 'chunk_corrupt');
    });
    await pool.add(async () => {
      await slow.p;
      slowDone = true;
    });
    // The server marked the version damaged: another download is refused first.
    await pool.add(async () => {
      throw new ClientError('the api refused GET /api/v1/client/chunks/def (409): version 2 is damaged', 'version_damaged');
    });
    await settle();
    let outcome: unknown = 'pending';
    const next = pool.add(async () => {
      lateRan = true;
    });
    next.then(
      () => (outcome = 'resolved'),
      (e: unknown) => (outcome = e),
    );
    await settle();
    expect(outcome, 'add() waits for the running jobs').toBe('pending');
    slow.open();
    await settle();
    expect(slowDone).toBe(true);
    expect(outcome).toBe('pending');
    corrupt.open();
    await settle();
    expect(outcome).toBeInstanceOf(ClientError);
    expect((outcome as ClientError).code).toBe('chunk_corrupt');
    expect(lateRan, 'no job starts after a failure').toBe(false);
    await expect(pool.drain()).rejects.toMatchObject({ code: 'chunk_corrupt' });
  });

  it('without a rank, throws the first failure', async () => {
    const pool = new Pool(2);
    await pool.add(async () => {
      throw new ClientError('first', 'a');
    });
    await settle();
    await pool.add(async () => {}).catch(() => {});
    await expect(pool.drain()).rejects.toMatchObject({ code: 'a' });
  });
});

describe('WindowHasher (the capture hash pass on worker threads)', () => {
  it('gives each window the hashes of its masked bytes, zeros past the end of the disk, whatever the order, with O_DIRECT or not', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-hasher-'));
    const file = path.join(dir, 'disk');
    const content = Buffer.alloc(3 * 256 * 1024 + 5000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7 + (i >> 11)) & 255;
    fs.writeFileSync(file, content);
    for (const direct of [false, true]) {
      const hasher = new WindowHasher(file, 64 * 1024, 2, direct);
      try {
        const windows = [
          { base: 0, length: 256 * 1024, used: [[0, 256 * 1024]] as Extent[] },
          { base: 256 * 1024, length: 256 * 1024, used: [[4096, 8192], [100_000, 70_000]] as Extent[] }, // holes hashed as zeros
          { base: 3 * 256 * 1024, length: 256 * 1024, used: [[0, 256 * 1024]] as Extent[] }, // runs 5000 bytes past the end
        ];
        const got = await Promise.all(windows.map((w) => hasher.hash(w)));
        windows.forEach((w, i) => {
          const b = Buffer.alloc(w.length);
          content.copy(b, 0, w.base, Math.min(content.length, w.base + w.length));
          maskWindow(b, w.used);
          expect(got[i]!.hash).toBe(createHash('sha256').update(b).digest('hex'));
          expect(got[i]!.blocks).toEqual(blockHashes(b, 64 * 1024));
        });
        expect(got[1]!.hash).not.toBe(got[0]!.hash);
      } finally {
        await hasher.close();
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('hashes only the blocks asked for (a restore\'s read-back of a patched window), masked, zeros past the end', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-hasher-'));
    const file = path.join(dir, 'disk');
    const content = Buffer.alloc(2 * 256 * 1024 - 5000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 13 + (i >> 9)) & 255;
    fs.writeFileSync(file, content);
    const hasher = new WindowHasher(file, 64 * 1024, 2, true);
    try {
      const w = { base: 256 * 1024, length: 256 * 1024, used: [[0, 70_000], [140_000, 116_144]] as Extent[] };
      const b = Buffer.alloc(w.length);
      content.copy(b, 0, w.base);
      const all = blockHashes(maskWindow(b, w.used), 64 * 1024);
      for (const only of [[1], [0, 1, 3], [2, 3], [0, 1, 2, 3]]) {
        const got = await hasher.hashBlocks(w, only);
        expect(got.blocks).toEqual(only.map((i) => all[i]));
      }
    } finally {
      await hasher.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails every waiting and later window at once when a worker stops, and after close', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-hasher-'));
    const file = path.join(dir, 'disk');
    fs.writeFileSync(file, Buffer.alloc(1024 * 1024, 9));
    const hasher = new WindowHasher(file, 64 * 1024, 1);
    try {
      const w = { base: 0, length: 256 * 1024, used: [[0, 256 * 1024]] as Extent[] };
      expect((await hasher.hash(w)).hash).toHaveLength(64);
      // its only worker stops (as out of memory would end it): nothing waits for ever
      await (hasher as unknown as { workers: Array<{ terminate(): Promise<number> }> }).workers[0]!.terminate();
      await expect(hasher.hash(w)).rejects.toThrow(/a hashing worker stopped/);
    } finally {
      await hasher.close();
    }
    const closed = new WindowHasher(file, 64 * 1024, 1);
    await closed.close();
    await expect(closed.hash({ base: 0, length: 4096, used: [[0, 4096]] })).rejects.toThrow(/stopped|closed/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses with the disk named when the disk cannot be read', async () => {
    const hasher = new WindowHasher('/nonexistent/rc-disk', 64 * 1024, 1);
    try {
      await expect(hasher.hash({ base: 0, length: 65536, used: [[0, 65536]] })).rejects.toThrow(/nonexistent\/rc-disk/);
    } finally {
      await hasher.close();
    }
  });
});

describe('readSpans', () => {
  it('reads the used extents only, bridging short gaps, widened to the sector and cut at the window', () => {
    const KiB = 1024;
    // two extents 8 KiB apart: one span; an extent 1 MiB further: a span of its own
    expect(readSpans([[0, 4 * KiB], [12 * KiB, 4 * KiB], [1100 * KiB, 10 * KiB]], 4096 * KiB)).toEqual([
      [0, 16 * KiB],
      [1100 * KiB, 1112 * KiB],
    ]);
    // unaligned extents widened to 4 KiB; the last span cut at the window's end
    expect(readSpans([[5000, 100], [4000 * KiB + 1, 100 * KiB]], 4050 * KiB)).toEqual([
      [4096, 8192],
      [4000 * KiB, 4050 * KiB],
    ]);
    expect(readSpans([], 4096 * KiB)).toEqual([]);
    expect(readSpans([[0, 4096], [200 * KiB, 4096]], 4096 * KiB, 512 * KiB)).toEqual([[0, 204 * KiB]]);
  });

  it('with maskWindow gives the same window as a whole read', () => {
    const disk = Buffer.alloc(1 << 20);
    for (let i = 0; i < disk.length; i++) disk[i] = (i * 31 + 7) & 0xff;
    const used: Extent[] = [[1000, 3000], [8192, 100], [400000, 200000], [1040000, 8576]];
    const whole = maskWindow(Buffer.from(disk), used);
    const part = Buffer.alloc(disk.length, 0xee); // a reused buffer: stale bytes where nothing is read
    for (const [from, to] of readSpans(used, disk.length)) disk.copy(part, from, from, to);
    expect(maskWindow(part, used).equals(whole)).toBe(true);
  });
});
