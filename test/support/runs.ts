// Room-run fixtures: a ready image version written through the image repository as a capture leaves
// it (no chunks on disk: for runs tested without a client), and the machine identity of a PC's task.
import type { MachineAuth } from '../../services/core/auth.js';
import type { Services } from '../../services/container.js';
import type { Database } from '../../services/core/db/index.js';

type WithDb = Pick<Services, 'tasks' | 'events' | 'images'> & { database: Database };
type WithStore = WithDb & Pick<Services, 'store'>;

const actor = { userId: null, name: 'tech', ip: null };

const MIB4 = 4 << 20;

/**
 * A new ready version of `imageId` made of these 4 MiB chunks (recorded in the store, stored at half
 * their size), captured (on paper) from host `ref`: the delivery and plan tests compare versions by them.
 */
export async function publishChunkedVersion(s: WithStore, imageId: number, hashes: string[], ref: { id: number; mac: string }): Promise<number> {
  await s.store.recordChunks(hashes.map((h) => ({ hash: h, size: MIB4, storedSize: MIB4 / 2 })));
  const capture = await s.tasks.create(actor, [ref.id], 'capture', { imageId });
  const number = await s.events.transaction(s.database.db, async (tx) => {
    const stats = { chunk_size: MIB4, disk_bytes: 1 << 30, used_bytes: hashes.length * MIB4, stored_bytes: (hashes.length * MIB4) / 2, chunk_count: hashes.length };
    const v = await s.images.insertCapturing(tx, { imageId, notes: null, createdBy: 'tech', sourceHostId: ref.id, source: { mac: ref.mac, serial: null, ip: null }, taskId: capture.created[0]!, stats, hashes });
    await s.images.publish(tx, { id: v.id, image_id: imageId, number: v.number }, { storedBytes: stats.stored_bytes, chunkCount: hashes.length, manifestSha256: 'b'.repeat(64) });
    return v.number;
  });
  await s.tasks.cancel(actor, capture.created[0]!);
  return number;
}

/** A new ready version of `imageId`, captured (on paper) from host `refHostId`. */
export async function publishVersion(s: WithDb, imageId: number, ref: { id: number; mac: string }): Promise<number> {
  const capture = await s.tasks.create(actor, [ref.id], 'capture', { imageId });
  const number = await s.events.transaction(s.database.db, async (tx) => {
    const v = await s.images.insertCapturing(tx, {
      imageId,
      notes: null,
      createdBy: 'tech',
      sourceHostId: ref.id,
      source: { mac: ref.mac, serial: null, ip: null },
      taskId: capture.created[0]!,
      stats: { chunk_size: 4 << 20, disk_bytes: 1 << 30, used_bytes: 1 << 20, stored_bytes: 1 << 19, chunk_count: 1 },
      hashes: ['a'.repeat(64)],
    });
    await s.images.publish(tx, { id: v.id, image_id: imageId, number: v.number }, { storedBytes: 1 << 19, chunkCount: 1, manifestSha256: 'b'.repeat(64) });
    return v.number;
  });
  await s.tasks.cancel(actor, capture.created[0]!);
  return number;
}

/** What a PC's boot client shows the api for its task (as its boot token would). */
export const machineOf = (mac: string, taskId: number, hostId: number): MachineAuth => ({ purpose: 'task', mac, taskId, hostId, exp: 0, actor: { userId: null, name: `machine:${mac}`, ip: '127.0.0.1' } });
