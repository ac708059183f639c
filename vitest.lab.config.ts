// `npm run test:lab`: the network-boot lab (test/lab, ops/lab/lab.sh): real PXE firmware under QEMU
// (TCG) booting through roomcast's own proxyDHCP, TFTP and api in network namespaces. Needs root and
// Debian's qemu-system-x86 ipxe-qemu ovmf dnsmasq tcpdump busybox-static linux-image-amd64
// dmidecode cpio kmod redis-server curl ipxe, and for the imaging tests partclone ntfs-3g fdisk gdisk udpcast
// dosfstools mtools zstd libhivex-bin (and the npm registry once, for the client's Node 22). Kept out of
// `npm test`: several minutes of QEMU.
//
// Each file builds a lab of its own (namespaces and a host link named per lab), so files run two at a
// time, one QEMU PC each for most of their time (TCG: one core per PC): first every file but load, side
// by side, then load alone, which starts three PCs and floods the LAN and would slow the others
// past their bounds. The boot clients are built once, under a lock (client-vm.ts buildClient).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    exclude: ['**/node_modules/**', 'dist/**'],
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 5 * 60_000,
    hookTimeout: 7 * 60_000,
    teardownTimeout: 3 * 60_000,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/vitest-lab.json' }]] : ['default'],
    projects: [
      { extends: true, test: { name: 'lab', include: ['test/lab/**/*.test.ts'], exclude: ['**/node_modules/**', 'dist/**', 'test/lab/load.test.ts'], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'lab-load', include: ['test/lab/load.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
