// The hardware facts a PC's boot client sends with POST /api/v1/boot/hello (what
// images/client/rootfs/roomcast/lib/facts.sh gathers), for tests and benchmarks that play the PC
// without booting one: a UEFI Dell OptiPlex with 8 GiB of RAM, one disk (sda) and one NIC.

/** A plausible school PC with this MAC; `extra` replaces whole top-level fields. */
export function hardwareFacts(mac: string, extra: Record<string, unknown> = {}) {
  return {
    mac,
    firmware: 'uefi',
    system: { vendor: 'Dell Inc.', model: 'OptiPlex 7010', serial: '5XYZ123', uuid: '4c4c4544-0035-5810-8059-b5c04f5a3132' },
    bios: { vendor: 'Dell Inc.', version: 'A29', date: '06/28/2018' },
    cpu: { model: 'Intel(R) Core(TM) i5-3470 CPU @ 3.20GHz', cores: 4, threads: 4 },
    memoryBytes: 8 * 2 ** 30,
    disks: [{ name: 'sda', model: 'ST500DM002-1BD142', serial: 'Z3TABCDE', sizeBytes: 500107862016, rotational: true, transport: 'sata' }],
    nics: [{ name: 'eno1', mac: mac.toUpperCase(), speedMbps: 1000, driver: 'e1000e' }],
    ...extra,
  };
}

export interface PcFacts {
  mac: string;
  /** The system's serial number and SMBIOS UUID. */
  serial: string;
  uuid: string;
  cpu: { model: string; cores: number; threads: number };
  /** The one disk, sda. */
  disk: { model: string; serial: string; sizeBytes: number };
}

/** The hello request body of a PC whose serials, CPU and disk a test chooses (the imaging tests pin disks by serial). */
export function helloFacts(pc: PcFacts) {
  return hardwareFacts(pc.mac, {
    system: { vendor: 'Dell Inc.', model: 'OptiPlex 7090', serial: pc.serial, uuid: pc.uuid },
    cpu: pc.cpu,
    disks: [{ name: 'sda', model: pc.disk.model, serial: pc.disk.serial, sizeBytes: pc.disk.sizeBytes }],
  });
}
