// What a booted roomcast client reports at its hello (POST /api/v1/boot/hello): a plausible school PC.
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
