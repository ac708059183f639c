// The boot client's kernel, initrd and imaging part (imaging.img, loaded for captures and restores), from config.clientDir, with Range support (a retried or
// resumed download asks for the rest). Fixed names only: no path from the request reaches the disk.
import fs from 'node:fs';
import type { Request, Response } from 'express';
import { AppError } from '../../core/errors.js';
import { wholeForLongSuffix } from '../../core/route.js';

export const CLIENT_FILES = ['vmlinuz', 'initrd.img', 'imaging.img'] as const;
export type ClientFile = (typeof CLIENT_FILES)[number];

/** Which boot client files `clientDir` lacks (empty: a PC can run every task). */
export async function missingClientFiles(clientDir: string): Promise<ClientFile[]> {
  const present = await Promise.all(CLIENT_FILES.map((name) => fs.promises.stat(`${clientDir}/${name}`).then((s) => s.isFile(), () => false)));
  return CLIENT_FILES.filter((_, i) => !present[i]);
}

/** One sentence for the log and /api/health: what fails without the missing files, and how to get them. */
export function missingClientAdvice(clientDir: string, missing: ClientFile[]): string {
  const what = missing.includes('vmlinuz') || missing.includes('initrd.img') ? 'PCs cannot start the roomcast client (inventory, registration, capture, restore)' : 'PCs cannot capture or restore (imaging.img is the imaging part)';
  return `boot client incomplete in ${clientDir}: ${missing.join(', ')} missing, so ${what}; the appliance image carries them (rebuild it: docker compose build), or from a checkout: npm run client`;
}

export async function sendClientFile(req: Request, res: Response, clientDir: string, name: ClientFile): Promise<void> {
  const stat = await fs.promises.stat(`${clientDir}/${name}`).catch(() => null);
  if (!stat?.isFile()) {
    throw new AppError(404, 'client_missing', missingClientAdvice(clientDir, [name]));
  }
  wholeForLongSuffix(req, stat.size);
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
