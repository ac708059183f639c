// The hardware facts a booted roomcast client reports (POST /api/v1/boot/hello). Every string is
// bounded, every number non-negative; unknown keys are dropped, so the stored JSON has this shape only.
import { z } from 'zod';
import { normalizeMac } from '../../inventory/mac.js';

const text = (max: number) => z.string().trim().max(max);
const count = z.number().int().nonnegative().max(1_000_000);
const bytes = z.number().int().nonnegative();

/** A MAC the client read from a NIC: kept normalised when it is a unicast address, as sent otherwise. */
const nicMac = z
  .string()
  .trim()
  .max(32)
  .regex(/^[0-9A-Fa-f:.-]*$/, { error: 'hex digits with ":", "-" or "."' })
  .transform((v) => normalizeMac(v) ?? v.toLowerCase());

export const HardwareFactsSchema = z
  .object({
    mac: z.string().max(64).describe('the MAC the PC network-booted with (must be the boot token\'s)'),
    firmware: z.enum(['bios', 'uefi']),
    system: z.object({ vendor: text(128), model: text(128), serial: text(128), uuid: text(64) }),
    baseboard: z.object({ vendor: text(128), model: text(128), serial: text(128) }).partial().optional(),
    bios: z.object({ vendor: text(128), version: text(128), date: text(32) }).optional(),
    cpu: z.object({ model: text(256), cores: count, threads: count }),
    memoryBytes: bytes,
    disks: z
      .array(z.object({ name: text(64), model: text(128), serial: text(128), sizeBytes: bytes, rotational: z.boolean().optional(), transport: text(32).optional() }))
      .max(64),
    nics: z.array(z.object({ name: text(64), mac: nicMac, speedMbps: count.nullable().optional(), driver: text(64).optional() })).max(64),
    secureBoot: z.boolean().optional().describe('UEFI Secure Boot is on (the SecureBoot EFI variable); absent on BIOS or when unreadable'),
  })
  .meta({ id: 'HardwareFacts' });

export type HardwareFacts = z.output<typeof HardwareFactsSchema>;

/** What is stored in hosts.hardware (and shown as Host.hardware). */
export function hardwareJson(facts: HardwareFacts, reportedAt: string): string {
  const { mac: _mac, ...rest } = facts;
  return JSON.stringify({ ...rest, reportedAt });
}

// Values firmware vendors leave in the serial field when nobody filled it in.
const PLACEHOLDER_SERIALS = /^(|0+|1234567890|0123456789|none|n\/a|na|default string|to be filled by o\.e\.m\.|system serial number|not specified|not applicable|chassis serial number|serial number|empty|invalid|unknown|x+)$/i;

const realDiskSerial = (s: string | undefined) => (s && !PLACEHOLDER_SERIALS.test(s.trim()) ? s.trim() : null);

/**
 * Why a hello's disks are not this PC's (null when they are, or when it cannot be told): the pinned
 * disk must be present; otherwise at least one disk it reported before must be. A PC whose disks
 * report no serial is not judged.
 */
export function diskIdentityProblem(host: { disk_serial: string | null; hardware: string | null }, facts: HardwareFacts): string | null {
  const reported = facts.disks.map((d) => realDiskSerial(d.serial)).filter((s): s is string => s !== null);
  if (host.disk_serial) {
    if (reported.includes(host.disk_serial)) return null;
    return `its pinned disk ${host.disk_serial} is not in it (it reports ${reported.join(', ') || 'no disk serial'})`;
  }
  let known: string[] = [];
  try {
    const hw = host.hardware === null ? null : (JSON.parse(host.hardware) as { disks?: Array<{ serial?: string }> });
    known = (hw?.disks ?? []).map((d) => realDiskSerial(d.serial)).filter((s): s is string => s !== null);
  } catch {
    return null;
  }
  if (known.length === 0 || reported.length === 0 || reported.some((s) => known.includes(s))) return null;
  return `none of its disks is one it had before (had ${known.join(', ')}; reports ${reported.join(', ')})`;
}

/** The system serial when it looks like a real one, for the inventory's serial column. */
export function realSerial(facts: HardwareFacts): string | null {
  const s = facts.system.serial.trim();
  return PLACEHOLDER_SERIALS.test(s) || s.length > 64 ? null : s;
}
