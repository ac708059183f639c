// Builds the TFTP data pump (services/boot/tftp/pump/pump.c) into dist/bin/roomcast-tftp-pump, or
// into the path given as the first argument (the tests build their own copy). Without a C compiler
// it says so and stops without failing: the TFTP server then serves with its Node engine
// (ROOMCAST_TFTP_ENGINE=auto), only slower. Written to a temporary name, then renamed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'services/boot/tftp/pump/pump.c');
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist/bin/roomcast-tftp-pump'));
const cc = process.env.CC ?? 'cc';

fs.mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
try {
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-o', tmp, source], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  fs.rmSync(tmp, { force: true });
  if (err.code === 'ENOENT') {
    console.warn(`build-pump: no C compiler (${cc}): the TFTP server will serve with its Node engine (slower than tftpd-hpa)`);
    process.exit(0);
  }
  console.error(`build-pump: ${cc} failed to build ${source}`);
  process.exit(1);
}
fs.renameSync(tmp, out);
console.log(`build-pump: ${path.relative(process.cwd(), out) || out}`);
