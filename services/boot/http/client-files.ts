// The boot client's kernel, initrd and imaging part (imaging.img, loaded for captures and restores), from config.clientDir, with Range support (a retried or
// resumed download asks for the rest). Fixed names only: no path from the request reaches the disk.
import fs from 'node:fs';
import type { Response } from 'express';
import { AppError } from '../../core/errors.js';

export const CLIENT_FILES = ['vmlinuz', 'initrd.img', 'imaging.img'] as const;
export type ClientFile = (typeof CLIENT_FILES)[number];

export async function sendClientFile(res: Response, clientDir: string, name: ClientFile): Promise<void> {
  const stat = await fs.promises.stat(`${clientDir}/${name}`).catch(() => null);
  if (!stat?.isFile()) {
    const script = name === 'imaging.img' ? 'build-imaging.sh' : 'build.sh';
    throw new AppError(404, 'client_missing', `the boot client's ${name} is not in ${clientDir}; build it with \`bash images/client/${script} ${clientDir}\``);
  }
  await new Promise<void>((resolve, reject) => {
    res.sendFile(
      name,
      { root: clientDir, acceptRanges: true, lastModified: true, cacheControl: false, dotfiles: 'deny', headers: { 'Content-Type': 'application/octet-stream' } },
      (err) => {
        // A PC that hangs up mid-transfer is not an error of ours; before any byte went out, it is reported.
        if (err && !res.headersSent) reject(err);
        else resolve();
      },
    );
  });
}
