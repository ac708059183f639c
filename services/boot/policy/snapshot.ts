// The boot policy as a snapshot the api keeps fresh in Redis, so the proxyDHCP decides each PC locally.
//
// Why: when a room wakes, 30 PCs and their retries send DISCOVERs within seconds, and a school that
// boots at once sends hundreds. Asking the api per PC (GET /boot/policy) made the boot role one
// client of the api among strangers: rate-limited as one address, slowed by whatever else the api was
// doing. The snapshot is small (the inventory's MACs, the registration window, the architectures
// the client runs on: ~20 KB for 800 PCs), the decision from it is a Set lookup, and Redis is the
// channel the roles already share and trust (bound to the appliance's loopback).
//
// The api writes `<prefix>:boot:policy` at start, after every change of a PC or of the registration
// window (events, debounced), and every minute; then it publishes on the same name. The boot role
// reads the key at start, on each notice and every 30 s, and keeps the last good snapshot through a
// Redis outage. Until it has one, it falls back to asking the api.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../../core/logger.js';
import type { RedisHandle } from '../../core/redis.js';
import type { BootDecision, BootPolicy } from '../proxydhcp/policy.js';

export const PolicySnapshotSchema = z.object({
  v: z.literal(1),
  /** When the api wrote it. */
  at: z.string(),
  /** Every known PC's MAC (lower-case aa:bb:cc:dd:ee:ff): answered. */
  macs: z.array(z.string()),
  /** Unknown PCs are answered until then (the registration window); null: closed. */
  registrationUntil: z.string().nullable(),
  /** PXE architectures (option 93) the roomcast client runs on; others are never answered. */
  arches: z.array(z.number().int()),
  /** The PCs whose last hello said Secure Boot is on / off (ROOMCAST_SECURE_BOOT=auto); absent from older apis. */
  secureBoot: z.object({ on: z.array(z.string()), off: z.array(z.string()) }).optional(),
});
export type PolicySnapshot = z.infer<typeof PolicySnapshotSchema>;

export const snapshotKey = (prefix: string) => `${prefix}:boot:policy`;

/** The decision a snapshot gives (pure). */
export function decideFromSnapshot(s: { macs: ReadonlySet<string>; registrationUntilMs: number | null; arches: ReadonlySet<number> }, mac: string, arch: number, now: number): BootDecision {
  if (!s.arches.has(arch)) return 'ignore';
  if (s.macs.has(mac)) return 'boot';
  return s.registrationUntilMs !== null && s.registrationUntilMs > now ? 'boot' : 'ignore';
}

export interface SnapshotPolicyOptions {
  /** Read the key again this often even without a notice. Default 30 s. */
  refreshMs?: number;
  now?: () => number;
}

/** The boot role's side: a BootPolicy answered from the latest snapshot, `fallback` until there is one. */
export class SnapshotPolicy {
  private sub: Redis | undefined;
  private get: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private current: { macs: Set<string>; registrationUntilMs: number | null; arches: Set<number>; at: string; secureBoot: Map<string, boolean> } | undefined;
  private reading: Promise<void> | undefined;
  private lastRaw: string | undefined;
  private readonly key: string;
  private readonly now: () => number;

  constructor(
    private readonly redis: Pick<RedisHandle, 'createClient' | 'prefix'>,
    private readonly fallback: BootPolicy,
    private readonly log: Logger,
    private readonly opts: SnapshotPolicyOptions = {},
  ) {
    this.key = snapshotKey(redis.prefix);
    this.now = opts.now ?? Date.now;
  }

  /** When the snapshot in use was written, or undefined before the first one. */
  get snapshotAt(): string | undefined {
    return this.current?.at;
  }

  readonly policy: BootPolicy = (mac, arch) => {
    const s = this.current;
    if (!s) return this.fallback(mac, arch);
    return Promise.resolve(decideFromSnapshot(s, mac, arch, this.now()));
  };

  /** What the PC's last hello said about Secure Boot (undefined: never said, or no snapshot yet). */
  readonly reported = (mac: string): Promise<boolean | undefined> => Promise.resolve(this.current?.secureBoot.get(mac));

  /** Subscribes and reads the snapshot once; a Redis that does not answer yet is retried in the background. */
  async start(): Promise<void> {
    const sub = (this.sub = this.redis.createClient());
    this.get = this.redis.createClient({ maxRetriesPerRequest: 1 });
    sub.on('error', (err: Error) => this.log.warn({ err: err.message }, 'boot policy: Redis subscriber error (it reconnects; the last snapshot stays in use)'));
    this.get.on('error', () => {});
    sub.on('message', (channel: string) => {
      if (channel === this.key) void this.refresh();
    });
    await Promise.race([sub.subscribe(this.key).then(() => this.refresh()), new Promise((r) => setTimeout(r, 3000))]);
    const every = this.opts.refreshMs ?? 30_000;
    this.timer = setInterval(() => void this.refresh(), every);
    this.timer.unref();
    if (!this.current) this.log.warn('boot policy: no snapshot in Redis yet; asking the api for each PC until the api writes one');
  }

  /** Reads the key; concurrent calls share one read. */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    let raw: string | null;
    try {
      raw = (await this.get?.get(this.key)) ?? null;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'boot policy: cannot read the snapshot from Redis; the last one stays in use');
      return;
    }
    if (raw === null || raw === this.lastRaw) return;
    let parsed: PolicySnapshot;
    try {
      parsed = PolicySnapshotSchema.parse(JSON.parse(raw));
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'boot policy: the snapshot in Redis is not valid; the last one stays in use');
      return;
    }
    this.lastRaw = raw;
    const first = !this.current;
    const until = parsed.registrationUntil === null ? null : Date.parse(parsed.registrationUntil);
    const secureBoot = new Map<string, boolean>([...(parsed.secureBoot?.off ?? []).map((m) => [m, false] as const), ...(parsed.secureBoot?.on ?? []).map((m) => [m, true] as const)]);
    this.current = { macs: new Set(parsed.macs), registrationUntilMs: Number.isFinite(until) ? until : null, arches: new Set(parsed.arches), at: parsed.at, secureBoot };
    this.log[first ? 'info' : 'debug']({ pcs: parsed.macs.length, registrationUntil: parsed.registrationUntil, at: parsed.at }, 'boot policy: snapshot loaded');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.reading;
    this.sub?.disconnect();
    this.get?.disconnect();
  }
}
