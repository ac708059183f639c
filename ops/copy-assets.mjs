// Copies the non-TypeScript files the services read at run time (iPXE templates) next to the compiled code.
import fs from 'node:fs';

const ASSETS = ['services/boot/http/templates'];
for (const dir of ASSETS) {
  fs.cpSync(dir, `dist/${dir}`, { recursive: true });
}
