// The api's side of the boot policy snapshot (boot/policy/snapshot.ts): writes which PCs the proxyDHCP
// answers into Redis at start, shortly after every change of a PC or of the registration window
// (events, so also changes made by the worker), and every minute in case a notice was lost.
import type { Redis } from 'ioredis';
import type { EventBus } from '../../core/events.js';
import type { Logger } from '../../core/logger.js';
import type { RedisHandle } from '../../core/redis.js';
import type { HostRepository } from '../../inventory/hosts.js';
import { snapshotKey, type PolicySnapshot } from '../policy/snapshot.js';
import type { RegistrationWindow } from './registration.js';
import { SUPPORTED_ARCHES } from './service.js';

export interface PublisherOptions {
  /** Changes closer together than this are written once. Default 100 ms. */
  debounceMs?: number;
  /** Written again this often anyway. Default 60 s. */
  everyMs?: number;
}

export class BootPolicyPublisher {
  private client: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private again = false;
  private offEvents: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly redis: Pick<RedisHandle, 'createClient' | 'prefix'>,
    private readonly hosts: Pick<HostRepository, 'macs' | 'secureBootReports'>,
    private readonly registration: Pick<RegistrationWindow, 'until'>,
    private readonly events: EventBus,
    private readonly log: Logger,
    private readonly opts: PublisherOptions = {},
  ) {}

  /** Writes the first snapshot (a failure is logged, and retried by the periodic write). */
  async start(): Promise<void> {
    this.client = this.redis.createClient({ maxRetriesPerRequest: 2 });
    this.client.on('error', () => {});
    const soon = () => this.soon();
    this.offEvents = [
      this.events.on('host.changed', (e) => {
        if (e.change !== 'seen') soon();
      }),
      this.events.on('boot.registration', soon),
    ];
    this.timer = setInterval(() => void this.publish(), this.opts.everyMs ?? 60_000);
    this.timer.unref();
    await this.publish();
  }

  private soon(): void {
    if (this.debounce || this.stopped) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.publish();
    }, this.opts.debounceMs ?? 100);
  }

  /** Writes the snapshot now (a write already running is followed by one more). */
  publish(): Promise<void> {
    if (this.writing) {
      this.again = true;
      return this.writing;
    }
    this.writing = this.write()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'boot policy: could not write the snapshot to Redis (retried within a minute); PCs added meanwhile may not be answered'))
      .finally(() => {
        this.writing = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.publish();
        }
      });
    return this.writing;
  }

  private async write(): Promise<void> {
    if (!this.client || this.stopped) return;
    const snapshot: PolicySnapshot = {
      v: 1,
      at: new Date().toISOString(),
      macs: await this.hosts.macs(),
      registrationUntil: await this.registration.until(),
      arches: [...SUPPORTED_ARCHES],
      // New facts arrive with 'seen' changes, which do not trigger a write: the periodic one carries them.
      secureBoot: await this.hosts.secureBootReports(),
    };
    const key = snapshotKey(this.redis.prefix);
    await this.client.multi().set(key, JSON.stringify(snapshot)).publish(key, snapshot.at).exec();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offEvents) off();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    await this.writing;
    this.client?.disconnect();
  }
}
