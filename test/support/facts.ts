// The hardware facts a PC's boot client sends with POST /api/v1/boot/hello (what
// images/client/rootfs/roomcast/lib/facts.sh gathers), for tests and benchmarks that play the PC
// without booting one: a UEFI Dell OptiPlex 7090 with 8 GiB of RAM, one disk (sda) and one NIC (eth0).

const MIB = 1024 * 1024;

export interface PcFacts {
  mac: string;
  /** The system's serial number and SMBIOS UUID. */
  serial: string;
  uuid: string;
  cpu: { model: string; cores: number; threads: number };
  /** The one disk, sda. */
  disk: { model: string; serial: string; sizeBytes: number };
}

/** The hello request body of a PC with these facts. */
export function helloFacts(pc: PcFacts) {
  return {
    mac: pc.mac,
    firmware: 'uefi',
    system: { vendor: 'Dell Inc.', model: 'OptiPlex 7090', serial: pc.serial, uuid: pc.uuid },
    cpu: pc.cpu,
    memoryBytes: 8 * 1024 * MIB,
    disks: [{ name: 'sda', model: pc.disk.model, serial: pc.disk.serial, sizeBytes: pc.disk.sizeBytes }],
    nics: [{ name: 'eth0', mac: pc.mac, speedMbps: 1000 }],
  };
}
