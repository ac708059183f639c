// `npm run test:lab`: the network-boot lab (test/lab, ops/lab/lab.sh): real PXE firmware under QEMU
// (TCG) booting through roomcast's own proxyDHCP, TFTP and api in network namespaces. Needs root and
// Debian's qemu-system-x86 ipxe-qemu ovmf dnsmasq tcpdump busybox-static linux-image-amd64
// dmidecode cpio kmod redis-server curl ipxe, and for the imaging tests partclone ntfs-3g fdisk gdisk udpcast
// dosfstools mtools zstd (and the npm registry once, for the client's Node 22). Kept out of
// `npm test`: several minutes of QEMU. The files run one after the other, one PC at a time.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/lab/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 5 * 60_000,
    hookTimeout: 7 * 60_000,
    teardownTimeout: 3 * 60_000,
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results/vitest-lab.json' }]] : ['default'],
  },
});
