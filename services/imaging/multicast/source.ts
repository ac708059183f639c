// What a run's multicast session sends, read from the image store: the version's chunks in disk order
// (each once, with its stored size, from its published manifest) and each chunk's stored bytes.
import fs from 'node:fs';
import { parseManifest } from '../format.js';
import { streamOrder } from '../client/multicast-records.js';
import type { ImageStore } from '../store.js';

export interface SessionSource {
  chunks(versionId: number): Promise<Array<{ id: string; storedSize: number }>>;
  read(id: string): Promise<Buffer>;
}

export function storeSource(store: Pick<ImageStore, 'readManifest' | 'chunkPath'>): SessionSource {
  return {
    async chunks(versionId) {
      const m = parseManifest(JSON.parse((await store.readManifest(versionId)).toString('utf8')));
      return streamOrder(m).map((c) => ({ id: c.id, storedSize: c.storedSize }));
    },
    read: (id) => fs.promises.readFile(store.chunkPath(id)),
  };
}
