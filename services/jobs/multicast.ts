// The multicast sessions of room runs (issue 14): one udp-sender per run that has multicast PCs
// (runs/delivery.ts), started by the PCs' jobs before the first of them starts (its restore task
// carries the session's ports), run by multicast/sender.ts on a group and port pair of session.ts's
// allocator, and recorded on the run (runs.mcast_*: state, slot, owner, outcome).
//
// Rules:
// - One session per run, whatever asks: ensure() is idempotent in this worker (keyed by run id), and
//   the run's row is claimed (RunService.sessions.claimSession) so that another worker does not send it
//   too. The owner says it is alive every beatMs; a session whose owner has been silent three beats
//   (a killed worker) is taken over on the same slot, since the PCs' tasks name its ports.
// - Its bounds come from the run: min-receivers is the number of the run's open multicast PCs, the
//   wait for more PCs after the first one joined is one wake timeout, and with no PC at all it gives
//   up after all the wake attempts (sessionBounds); the rest from the settings (interface, rate...).
// - Before a session is claimed, the network pre-flight (network/service.ts, cached a few minutes per
//   interface) runs when one is given: a verdict of unicast ends the session at once with its reason
//   (the run's PCs restore over HTTP, never a silent stall); its warnings (another PXE server, no IGMP
//   querier) are kept in the session's outcome, which the run's answer and report show.
// - With `probe` on, the session's multicast probe (imaging/multicast/probe.ts) is sent for as long as
//   the session is (after a passing pre-flight): its PCs' tasks tell them to listen for it first
//   (probeListenMs), and a PC that hears none restores over HTTP at once with that reason. A probe
//   that could not start (or a session another worker sends) tells no PC to listen.
// - A session that ended is recorded with the sender's report and never sent again. stop() ends a
//   run's session (the run was cancelled or ended); close() stops this worker's sessions without
//   recording an end, so that the next worker takes them over.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Logger } from '../core/logger.js';
import type { PreflightResult } from '../network/preflight.js';
import { ProbeSender, type ProbeSenderOptions } from '../imaging/multicast/probe-send.js';
import { PROBE_PORT, probeGroup } from '../imaging/multicast/probe.js';
import { sendSession, type SenderReport } from '../imaging/multicast/sender.js';
import { checkSettings, SessionAllocator, type MulticastSettings, type SessionSlot } from '../imaging/multicast/session.js';
import type { SessionSource } from '../imaging/multicast/source.js';
import { sessionBounds } from '../runs/delivery.js';
import { isFinal } from '../runs/pipeline.js';
import type { RunService } from '../runs/service.js';

export interface RunSessionOptions {
  /** The server's settings (interface at least); the bounds of each session come from its run. */
  settings: Partial<MulticastSettings> & { interface: string };
  source: SessionSource;
  /** How often the owner says it is alive (default 10 s); a session silent three beats is taken over. */
  beatMs?: number;
  program?: string;
  /** Runs udp-sender through another program (tests: ip netns exec NS). */
  prefix?: string[];
  /** The network pre-flight (network/service.ts Preflight): absent, none is run. */
  preflight?: { check(o: { waitQuerier: boolean }): Promise<PreflightResult> };
  /** The session's multicast probe (probe.ts): absent, none is sent and the PCs do not listen for one. */
  probe?: { listenMs?: number; intervalMs?: number; burstCount?: number; burstEveryMs?: number; /** Makes the sender (default ProbeSender, in this process; tests: one in a namespace). */ sender?: (o: ProbeSenderOptions) => ProbeLike };
}

/** What a run's session keeps of its pre-flight: the verdict and the sentences (en, fr). */
export function preflightSummary(p: PreflightResult): { at: string; verdict: 'multicast' | 'unicast'; fallback: { code: string; text: string; fr: string } | null; warnings: Array<{ code: string; text: string; fr: string }> } {
  const short = (r: { code: string; text: string; fr: string }) => ({ code: r.code, text: r.text, fr: r.fr });
  return { at: p.at, verdict: p.verdict, fallback: p.fallback ? short(p.fallback) : null, warnings: p.warnings.map(short) };
}

interface Live {
  abort: AbortController;
  /** The session is claimed (or known not to be this worker's). */
  ready: Promise<void>;
  done: Promise<void>;
}

/** A running probe: ProbeSender, or what a test makes. */
export interface ProbeLike {
  start(): Promise<void>;
  stop(): void;
}

export class RunSessions {
  private readonly allocator: SessionAllocator;
  private readonly live = new Map<number, Live>();
  /** Runs whose session ended, or that have none: not looked at again until stop(). */
  private readonly settled = new Set<number>();
  /** Runs whose session's probe this worker sends. */
  private readonly probing = new Set<number>();
  private readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly beatMs: number;
  private readonly settings: MulticastSettings;
  private closing = false;

  constructor(
    private readonly runs: RunService,
    private readonly o: RunSessionOptions,
    private readonly log: Logger,
  ) {
    this.settings = checkSettings(o.settings);
    this.allocator = new SessionAllocator(this.settings);
    this.beatMs = o.beatMs ?? 10_000;
  }

  /**
   * How long a PC of the run listens for its session's probe before joining it; null when this worker
   * does not send one for the run (no probe set, or it could not start, or another worker sends the
   * session): then the PC joins without listening, never sent to HTTP by a probe nobody sends.
   */
  probeListenMs(runId: number): number | null {
    return this.o.probe && this.probing.has(runId) ? (this.o.probe.listenMs ?? 4000) : null;
  }

  /** The run's session is being sent (by this worker or another live one), or has ended, or the run has none. */
  async ensure(runId: number): Promise<void> {
    if (this.closing || this.settled.has(runId)) return;
    // Every PC waits for the claim (after the pre-flight): a PC whose task was made before would restore over HTTP.
    const running = this.live.get(runId);
    if (running) return Promise.race([running.ready, running.done]);
    const abort = new AbortController();
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));
    const live: Live = {
      abort,
      ready,
      done: this.run(runId, abort.signal, started)
        .catch((err: Error) => this.log.warn({ run: runId, err: err.message }, 'multicast: the session failed; its PCs restore over HTTP'))
        .finally(() => this.live.get(runId) === live && this.live.delete(runId)),
    };
    this.live.set(runId, live);
    // The PC's task is made once the session is claimed (or known not to be this worker's).
    await Promise.race([ready, live.done]);
  }

  /** Ends the run's session (the run was cancelled or ended); its end is recorded. */
  async stop(runId: number): Promise<void> {
    this.settled.add(runId);
    const l = this.live.get(runId);
    if (!l) return;
    l.abort.abort();
    await l.done;
  }

  /** Stops this worker's sessions without recording an end: another worker takes them over. */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.live.values()];
    for (const l of all) l.abort.abort();
    await Promise.all(all.map((l) => l.done));
  }

  private async run(runId: number, signal: AbortSignal, started: () => void): Promise<void> {
    const view = await this.runs.view(runId);
    const pcs = view.pcs.filter((p) => p.delivery?.path === 'multicast' && !isFinal(p.state));
    if (view.state !== 'running' || view.multicast?.state === 'ended' || !pcs.length || view.version.id === null) {
      this.settled.add(runId);
      return;
    }
    const now = Date.now();
    const busy = new Set((await this.runs.sessions.sendingSlots(new Date(now - 3 * this.beatMs).toISOString())).filter((s) => s.runId !== runId).map((s) => s.slot));
    // A session taken over keeps its slot: the PCs' tasks name its ports.
    const known = view.multicast?.state === 'sending' && view.multicast.portBase !== null ? this.slotOf(view.multicast.portBase) : null;
    const slot = known !== null ? this.allocator.reserve(known) : this.allocator.take(busy);
    if (!slot) {
      this.log.warn({ run: runId, running: this.allocator.running }, 'multicast: no free session slot; the run\'s PCs restore over HTTP');
      return;
    }
    let probe: ProbeLike | null = null;
    try {
      const preflight = this.o.preflight ? preflightSummary(await this.o.preflight.check({ waitQuerier: false })) : null;
      if (!(await this.runs.sessions.claimSession(runId, this.owner, slot, new Date(now).toISOString(), new Date(now - 3 * this.beatMs).toISOString()))) return;
      if (preflight?.fallback) {
        started();
        const detail = `the network pre-flight failed: ${preflight.fallback.text}`;
        await this.runs.sessions.endSession(runId, this.owner, { ok: false, reason: 'preflight_failed', detail, streamBytes: 0, joined: [], dropped: [], seconds: 0, preflight }, new Date().toISOString());
        this.settled.add(runId);
        this.log.warn({ run: runId, code: preflight.fallback.code }, `multicast: ${detail}`);
        return;
      }
      for (const w of preflight?.warnings ?? []) this.log.warn({ run: runId, code: w.code }, `multicast pre-flight: ${w.text}`);
      // The probe first: the PCs' tasks, made once the session is claimed, tell them to listen for it.
      probe = await this.startProbe(runId, slot);
      started();
      await this.send(runId, view.version.id, pcs.length, view.options, slot, signal, preflight);
    } finally {
      probe?.stop();
      this.probing.delete(runId);
      this.allocator.release(slot);
    }
  }

  /** The session's probe, sent until the session ends; a probe that cannot start is logged, and its PCs are not told to listen for it. */
  private async startProbe(runId: number, slot: SessionSlot): Promise<ProbeLike | null> {
    if (!this.o.probe) return null;
    const { listenMs: _, sender = (o) => new ProbeSender(o), ...pace } = this.o.probe;
    const p = sender({ iface: this.settings.interface, group: probeGroup(slot.slot), port: PROBE_PORT, runId, slot: slot.slot, ttl: this.settings.ttl, ...pace });
    try {
      await p.start();
      this.probing.add(runId);
      this.log.info({ run: runId, group: probeGroup(slot.slot), port: PROBE_PORT }, 'multicast: probe sent');
      return p;
    } catch (err) {
      p.stop();
      this.log.warn({ run: runId, err: (err as Error).message }, 'multicast: the probe could not be sent; the PCs join the session without listening for it');
      return null;
    }
  }

  private slotOf(portBase: number): number | null {
    const k = (portBase - this.settings.portBase) / 2;
    return Number.isInteger(k) ? k : null;
  }

  private async send(runId: number, versionId: number, receivers: number, options: { wakeTimeoutMinutes: number; wakeAttempts: number }, slot: SessionSlot, signal: AbortSignal, preflight: ReturnType<typeof preflightSummary> | null): Promise<void> {
    const b = sessionBounds(options);
    const settings = checkSettings({ ...this.settings, minReceivers: Math.min(1000, receivers), maxWaitSec: b.maxWaitSec, startTimeoutSec: b.startTimeoutSec });
    const beat = setInterval(() => {
      void this.runs.sessions.beatSession(runId, this.owner, new Date().toISOString()).then(
        (mine) => mine || (this.log.warn({ run: runId }, 'multicast: another worker holds this session now; stopping it here'), this.closing || this.stopHere(runId)),
        (err: Error) => this.log.warn({ run: runId, err: err.message }, 'multicast: could not record that the session is alive'),
      );
    }, this.beatMs);
    let report: SenderReport | { ok: false; reason: string; detail: string; streamBytes: number; joined: string[]; dropped: string[]; seconds: number };
    try {
      const chunks = await this.o.source.chunks(versionId);
      if (signal.aborted) throw new Error('the session was cancelled');
      this.log.info({ run: runId, group: slot.group, portBase: slot.portBase, receivers, chunks: chunks.length }, 'multicast: session starts');
      report = await sendSession({ settings, slot, versionId, chunks, read: this.o.source.read, signal, log: (line) => this.log.info({ run: runId }, line), ...(this.o.program ? { program: this.o.program } : {}), ...(this.o.prefix ? { prefix: this.o.prefix } : {}) });
    } catch (err) {
      report = { ok: false, reason: 'stream_failed', detail: `the session could not start: ${(err as Error).message}`, streamBytes: 0, joined: [], dropped: [], seconds: 0 };
    } finally {
      clearInterval(beat);
    }
    // Stopped by close(): not an end of the session, the next worker sends it again.
    if (this.closing && signal.aborted) return;
    const { ok, reason, detail, streamBytes, joined, dropped, seconds } = report;
    await this.runs.sessions.endSession(runId, this.owner, { ok, reason, detail, streamBytes, joined, dropped, seconds, preflight }, new Date().toISOString());
    this.settled.add(runId);
    this.log.info({ run: runId, ok, reason, streamBytes, joined: joined.length, dropped: dropped.length }, `multicast: session ended: ${detail}`);
  }

  /** The session moved to another worker: this one stops sending without recording an end. */
  private stopHere(runId: number): void {
    this.settled.add(runId);
    this.live.get(runId)?.abort.abort();
  }
}
