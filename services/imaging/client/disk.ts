// Which disk a capture reads or a restore overwrites. The rules (DESIGN.md §5, and FOG's failures:
// an image written to a USB audio interface, to the HDD when the SSD died):
// - never a removable, USB, hot-plugged, read-only, optical, loop or RAM disk;
// - the disk whose serial is pinned on the host when one is, and a clear refusal when it is missing;
// - otherwise the largest internal disk;
// - a restore refuses a disk smaller than the image needs.
import fs from 'node:fs';
import path from 'node:path';
import { ClientError, run } from './sys.js';

export interface DiskInfo {
  /** /dev/sda, /dev/nvme0n1, /dev/loop3 ... */
  path: string;
  name: string;
  sizeBytes: number;
  logicalSectorSize: number;
  model: string | null;
  serial: string | null;
  removable: boolean;
  hotplug: boolean;
  readOnly: boolean;
  /** sata, nvme, usb, ... (lsblk TRAN), null when unknown (virtio, loop). */
  transport: string | null;
  /** lsblk TYPE: disk, loop, rom, ... */
  type: string;
}

interface LsblkDevice {
  name: string;
  path: string;
  size: number | string;
  'log-sec': number | string;
  model: string | null;
  serial: string | null;
  rm: boolean | string;
  ro: boolean | string;
  hotplug: boolean | string;
  tran: string | null;
  type: string;
}

const COLUMNS = 'NAME,PATH,SIZE,LOG-SEC,MODEL,SERIAL,RM,RO,HOTPLUG,TRAN,TYPE';
const bool = (v: boolean | string) => v === true || v === '1' || v === 'true';
const text = (v: string | null) => (v && v.trim() ? v.trim() : null);

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return null;
  }
}

/**
 * A disk's serial number as the kernel shows it in sysfs, by the rules the boot client's hardware
 * facts follow (images/client/rootfs/roomcast/lib/facts.sh, disk_serial), so the serial a person
 * pins on a host is the one found here. lsblk reads serials from udev's database, and the boot
 * client runs no udev: without this, SATA and virtio disks have no serial there, and a pinned
 * serial never matches.
 */
export function sysfsSerial(name: string, sys = '/sys'): string | null {
  const dev = path.join(sys, 'block', name);
  let s: string | null = null;
  if (/^nvme\d+/.test(name)) {
    s = text(readText(path.join(sys, 'class', 'nvme', name.replace(/n\d+$/, ''), 'serial'))) ?? text(readText(path.join(dev, 'device', 'serial')));
  } else if (/^vd/.test(name)) {
    s = text(readText(path.join(dev, 'serial')));
  } else {
    // SCSI and libata (SATA) disks: VPD page 0x80, a 4-byte header then the serial.
    const vpd = readText(path.join(dev, 'device', 'vpd_pg80'));
    if (vpd && vpd.length > 4) s = text(vpd.slice(4).replace(/\0/g, ''));
    // USB disks: the serial of the USB device, further up the path.
    if (!s) {
      let p: string;
      try {
        p = fs.realpathSync(path.join(dev, 'device'));
      } catch {
        return null;
      }
      const top = path.join(sys, 'devices');
      while (p.startsWith(top + path.sep)) {
        if (fs.existsSync(path.join(p, 'idVendor')) && fs.existsSync(path.join(p, 'serial'))) {
          s = text(readText(path.join(p, 'serial')));
          break;
        }
        p = path.dirname(p);
      }
    }
  }
  return s;
}

function toDisk(d: LsblkDevice): DiskInfo {
  return {
    path: d.path,
    name: d.name,
    sizeBytes: Number(d.size),
    logicalSectorSize: Number(d['log-sec']),
    model: text(d.model),
    serial: text(d.serial) ?? sysfsSerial(d.name),
    removable: bool(d.rm),
    hotplug: bool(d.hotplug),
    readOnly: bool(d.ro),
    transport: text(d.tran),
    type: d.type,
  };
}

/** lsblk's view of one block device (a whole disk, or a loop device in tests). */
export async function describeDisk(path: string): Promise<DiskInfo> {
  if (!fs.existsSync(path)) throw new ClientError(`the disk ${path} does not exist`, 'disk_missing');
  const { stdout } = await run('lsblk', ['-J', '-b', '-d', '-o', COLUMNS, path]);
  const dev = (JSON.parse(stdout) as { blockdevices: LsblkDevice[] }).blockdevices[0];
  if (!dev) throw new ClientError(`lsblk does not know ${path}`, 'disk_missing');
  return toDisk(dev);
}

/** Every whole disk the kernel sees. */
export async function listDisks(): Promise<DiskInfo[]> {
  const { stdout } = await run('lsblk', ['-J', '-b', '-d', '-o', COLUMNS]);
  return (JSON.parse(stdout) as { blockdevices: LsblkDevice[] }).blockdevices.map(toDisk);
}

/** Why a disk may never be imaged, or null when it may. */
export function unsuitable(d: DiskInfo): string | null {
  if (d.type !== 'disk') return `it is a ${d.type} device, not a disk`;
  if (d.transport === 'usb') return 'it is a USB device';
  if (d.removable) return 'it is removable';
  if (d.hotplug) return 'it is hot-pluggable (USB, card reader, external enclosure)';
  if (d.readOnly) return 'it is read-only';
  if (/^(zram|ram|md|dm-|sr|fd|mmcblk\d+boot)/.test(d.name)) return 'it is not a physical internal disk';
  if (d.sizeBytes < 1 << 30) return 'it is smaller than 1 GiB';
  return null;
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
const label = (d: DiskInfo) => `${d.path} (${[d.model, d.serial && `serial ${d.serial}`, gib(d.sizeBytes)].filter(Boolean).join(', ')})`;

export interface ChooseOptions {
  /** The serial pinned on the host record: only that disk will do. */
  pinnedSerial?: string | null;
  /** A restore needs at least this many bytes. */
  minBytes?: number;
}

/** Picks the target disk among `disks` (see the rules at the top), or explains why none fits. */
export function chooseDisk(disks: DiskInfo[], opts: ChooseOptions = {}): DiskInfo {
  const candidates = disks.filter((d) => unsuitable(d) === null);
  let pick: DiskInfo | undefined;
  if (opts.pinnedSerial) {
    const want = opts.pinnedSerial.trim().toLowerCase();
    pick = disks.find((d) => d.serial?.toLowerCase() === want);
    if (!pick) {
      const seen = candidates.map(label).join('; ') || 'none';
      throw new ClientError(
        `the disk with serial ${opts.pinnedSerial} pinned on this PC is missing (internal disks found: ${seen}); replace the disk or change the pinned serial, nothing was written`,
        'pinned_disk_missing',
        {},
        { saysNothingWritten: true },
      );
    }
    const why = unsuitable(pick);
    if (why) throw new ClientError(`the pinned disk ${label(pick)} cannot be used: ${why}`, 'disk_unsuitable');
  } else {
    pick = [...candidates].sort((a, b) => b.sizeBytes - a.sizeBytes)[0];
    if (!pick) {
      const all = disks.map((d) => `${label(d)}: ${unsuitable(d)}`).join('; ') || 'the kernel sees no disk at all';
      throw new ClientError(`no internal disk found (${all}); check the disk cable or the SATA/NVMe mode in the firmware`, 'no_disk');
    }
  }
  checkSize(pick, opts.minBytes);
  return pick;
}

export function checkSize(d: DiskInfo, minBytes: number | undefined): void {
  if (minBytes !== undefined && d.sizeBytes < minBytes) {
    throw new ClientError(`the disk ${label(d)} is smaller than this image needs (${gib(minBytes)}); nothing was written`, 'disk_too_small', {}, { saysNothingWritten: true });
  }
}
