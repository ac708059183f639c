// One PC's way through a room run, as a pure rule: from the PC's state, what happened and the run's
// settings, its next state, the sentence its timeline records, and what the edges must do (create or
// cancel its task, send a magic packet, set or clear its deadline). BullMQ, the database and the
// network sit at the edges (the run's worker); this file does no I/O and never throws.
//
//   queued ──start──▶ waking ──script fetched──▶ booted ──hello──▶ restoring ──verify──▶ verifying ──task done──▶ done
//     │  └─start, PC in use and "skip PCs in use"──▶ skipped                                                      │
//     │           waking ──deadline──▶ waking (wake again, attempt n+1 ≤ wakeAttempts) | failed "did not wake"
//     │     booted, restoring, verifying ──deadline (no word from the PC)──▶ failed "stopped answering"
//     │     booted, restoring, verifying ──task failed──▶ failed (the client's reason)
//   every open state ──cancel (a person, or the end of the run's window)──▶ cancelled
//
// Rules:
// - The restore task is created before the first magic packet, so that the PC's first network boot
//   already finds it (the iPXE script sends it to the client). Without the 'wake' step the PC is started
//   by hand: no packet is sent and the deadline is the same.
// - A PC counts as booted when it fetched its iPXE script after the run started; a hello may come
//   before the script is seen (the edges may miss it): it moves a waking PC straight to restoring.
// - Every deadline is relative ("so many ms from now"): the edges turn it into a delayed job. A deadline
//   event that arrives in a state without a deadline (a late timer) is ignored, never a failure.
// - done, failed, skipped and cancelled are final. An event that does not apply is ignored with a
//   reason, never an error: the edges may deliver late or twice (retried jobs, a restarted worker).
// - A reason has a code and parameters (the UI translates them; French first) and an English text.

export const PC_STATES = ['queued', 'waking', 'booted', 'restoring', 'verifying', 'done', 'failed', 'skipped', 'cancelled'] as const;
export type PcState = (typeof PC_STATES)[number];
export const FINAL_PC_STATES: readonly PcState[] = ['done', 'failed', 'skipped', 'cancelled'];
export const isFinal = (s: PcState) => FINAL_PC_STATES.includes(s);

/** The steps a run can take, in their order. Later issues add identity and software between verify and poweroff. */
export const STEPS = ['wake', 'restore', 'verify', 'poweroff'] as const;
export type Step = (typeof STEPS)[number];
/** restore and verify are not optional: a restore is always verified before it is called done. */
export const REQUIRED_STEPS: readonly Step[] = ['restore', 'verify'];

export interface PipelineSettings {
  steps: readonly Step[];
  /** How long a PC has to fetch its iPXE script after a magic packet (or after the start, without 'wake'). */
  wakeTimeoutMs: number;
  /** Magic packets sent before the PC is given up ("did not wake"); at least 1. */
  wakeAttempts: number;
  /** Longest silence of a booted PC (no hello, no progress) before it is given up. */
  silenceTimeoutMs: number;
  /** A PC found in use at the start is skipped, never erased. */
  skipInUse: boolean;
}

export const DEFAULT_PIPELINE: PipelineSettings = {
  steps: STEPS,
  wakeTimeoutMs: 5 * 60_000,
  wakeAttempts: 3,
  silenceTimeoutMs: 10 * 60_000,
  skipInUse: true,
};

/** What the machine remembers of a PC between events (the database keeps it). */
export interface PcMemory {
  state: PcState;
  /** Magic packets sent so far. */
  wakeAttempts: number;
}

export type PcEvent =
  /** The run gives this PC a slot. inUse: the edges' probe (it answers on the network and has not network-booted since the run started). */
  | { type: 'start'; inUse: boolean; /** The port that answered, and how (open, or refused: the host is up). */ port?: number; answer?: 'open' | 'refused'; /** The worker sends its sessions' multicast probe: a multicast PC listens this long for it (ms). */ probeListenMs?: number }
  /** The deadline the last decision set has passed. */
  | { type: 'deadline' }
  /** The PC fetched its iPXE script. */
  | { type: 'script-fetched' }
  /** The client's hello claimed the restore task. */
  | { type: 'task-running' }
  /** The client reported progress; phase as the client names it. */
  | { type: 'task-progress'; phase: string }
  | { type: 'task-done' }
  | { type: 'task-failed'; code: string | null; message: string; diskState: string | null }
  /** The task was cancelled outside the run (a person cancelled it on its own). */
  | { type: 'task-cancelled' }
  /** windowEnd: the window's end as people read it ('06:00', local time), for the reason. */
  | { type: 'cancel'; why: 'person' | 'window-end'; windowEnd?: string };

export type PcAction =
  | { do: 'create-task'; powerOff: boolean }
  | { do: 'wake'; attempt: number }
  | { do: 'cancel-task' };

export interface Reason {
  code: string;
  params: Record<string, string | number>;
  text: string;
}

export type PcDecision =
  | {
      ok: true;
      to: PcState;
      memory: PcMemory;
      reason: Reason;
      actions: PcAction[];
      /** ms from now; null clears the deadline; undefined leaves it as it is. */
      deadlineMs?: number | null;
    }
  | { ok: false; ignore: string };

const r = (code: string, text: string, params: Record<string, string | number> = {}): Reason => ({ code, params, text });
const minutes = (ms: number) => Math.round((ms / 60_000) * 10) / 10;

/** A sentence when the steps are not a valid pipeline, else null. */
export function checkSteps(steps: readonly string[]): string | null {
  const unknown = steps.filter((s) => !(STEPS as readonly string[]).includes(s));
  if (unknown.length) return `unknown step${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; the steps are ${STEPS.join(', ')}`;
  if (new Set(steps).size !== steps.length) return 'a step is listed twice';
  const missing = REQUIRED_STEPS.filter((s) => !steps.includes(s));
  if (missing.length) return `the steps must include ${missing.join(' and ')}: a restore is always verified before it is called done`;
  const order = steps.map((s) => STEPS.indexOf(s as Step));
  if (order.some((v, i) => i > 0 && v < order[i - 1]!)) return `the steps must keep their order: ${STEPS.join(' → ')}`;
  return null;
}

function didNotWake(s: PipelineSettings, attempts: number): Reason {
  const total = minutes(s.wakeTimeoutMs * Math.max(1, attempts));
  if (!s.steps.includes('wake'))
    return r('did_not_boot', `did not network-boot within ${total} min: start it by hand and check that it boots from the network first`, { minutes: total });
  return r(
    'did_not_wake',
    `did not wake after ${attempts} Wake-on-LAN attempt${attempts > 1 ? 's' : ''} over ${total} min: check that the PC is plugged in and that Wake-on-LAN is on in its BIOS`,
    { attempts, minutes: total },
  );
}

function inUse(e: Extract<PcEvent, { type: 'start' }>): Reason {
  if (e.port === undefined) return r('in_use', 'in use: it answered on the network and had not network-booted since the run started; it was left as it is');
  const how = e.answer === 'refused' ? `port ${e.port} refused the connection, so the PC is on` : `port ${e.port}`;
  return r('in_use', `in use: it answers on the network (${how}) and has not network-booted since the run started; it was left as it is`, { port: e.port, answer: e.answer ?? 'open' });
}

/** The client's failure, as the timeline says it: its own sentence, and what the disk is left like. */
function clientFailure(e: Extract<PcEvent, { type: 'task-failed' }>): Reason {
  const disk =
    e.diskState === 'untouched'
      ? ' The disk was not touched.'
      : e.diskState
        ? ' The disk is not bootable as it is: the PC will network-boot at its next start, and a new run restores it.'
        : '';
  const said = disk && !/[.!?]$/.test(e.message) ? `${e.message}.` : e.message;
  return r(e.code ?? 'restore_failed', `${said}${disk}`, { diskState: e.diskState ?? 'unknown' });
}

/** The next step for one PC. Pure; never throws. */
export function decidePc(m: PcMemory, e: PcEvent, s: PipelineSettings): PcDecision {
  if (isFinal(m.state)) return { ok: false, ignore: `the PC is already ${m.state}` };
  const to = (state: PcState, reason: Reason, actions: PcAction[] = [], deadlineMs?: number | null, memory: PcMemory = { ...m, state }): PcDecision => ({
    ok: true,
    to: state,
    memory: { ...memory, state },
    reason,
    actions,
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
  });
  const open = m.state !== 'queued';

  switch (e.type) {
    case 'cancel': {
      const end = e.windowEnd ? ` (${e.windowEnd})` : '';
      const reason =
        e.why !== 'window-end'
          ? r('cancelled', 'cancelled by a person')
          : open
            ? r('window_ended', `still running at the end of the window${end}: stopped cleanly; restore it again tonight (it network-boots at its next start)`, { end: e.windowEnd ?? '', started: 'yes' })
            : r('window_ended', `not started before the end of the window${end}: restore it again tonight, or allow more PCs at once`, { end: e.windowEnd ?? '', started: 'no' });
      return to('cancelled', reason, open ? [{ do: 'cancel-task' }] : [], null);
    }
    case 'start': {
      if (m.state !== 'queued') return { ok: false, ignore: `the PC has started already (${m.state})` };
      if (e.inUse && s.skipInUse)
        return to('skipped', inUse(e), [], null);
      const wake = s.steps.includes('wake');
      const reason = wake ? r('waking', 'Wake-on-LAN sent (attempt 1)', { attempt: 1 }) : r('waiting_boot', 'waiting for the PC to be started by hand and to network-boot');
      return to('waking', reason, [{ do: 'create-task', powerOff: s.steps.includes('poweroff') }, ...(wake ? [{ do: 'wake' as const, attempt: 1 }] : [])], s.wakeTimeoutMs, {
        state: 'waking',
        wakeAttempts: wake ? 1 : 0,
      });
    }
    case 'deadline': {
      if (m.state === 'waking') {
        const wake = s.steps.includes('wake');
        if (wake && m.wakeAttempts < s.wakeAttempts) {
          const attempt = m.wakeAttempts + 1;
          return to('waking', r('waking', `no network boot yet: Wake-on-LAN sent again (attempt ${attempt})`, { attempt }), [{ do: 'wake', attempt }], s.wakeTimeoutMs, {
            state: 'waking',
            wakeAttempts: attempt,
          });
        }
        return to('failed', didNotWake(s, Math.max(1, m.wakeAttempts)), [{ do: 'cancel-task' }], null);
      }
      if (m.state === 'queued') return { ok: false, ignore: 'a queued PC has no deadline' };
      const mins = minutes(s.silenceTimeoutMs);
      const where = m.state === 'booted' ? 'after its network boot, before the restore started' : `while ${m.state}`;
      return to(
        'failed',
        r('silent', `stopped answering ${where} (no word for ${mins} min): check the PC's screen and its network cable`, { minutes: mins, state: m.state }),
        [{ do: 'cancel-task' }],
        null,
      );
    }
    case 'script-fetched': {
      if (m.state !== 'waking') return { ok: false, ignore: `a script fetch does not move a ${m.state} PC` };
      return to('booted', r('booted', 'network-booted: it fetched its boot script'), [], s.silenceTimeoutMs);
    }
    case 'task-running': {
      if (m.state !== 'waking' && m.state !== 'booted') return { ok: false, ignore: `a hello does not move a ${m.state} PC` };
      return to('restoring', r('restoring', 'the boot client started the restore'), [], s.silenceTimeoutMs);
    }
    case 'task-progress': {
      if (m.state === 'restoring' && e.phase === 'verify') return to('verifying', r('verifying', 'reading back what was written'), [], s.silenceTimeoutMs);
      if (m.state === 'restoring' || m.state === 'verifying') return { ok: false, ignore: 'progress in the same state' };
      if (m.state === 'waking' || m.state === 'booted') return to('restoring', r('restoring', 'the boot client started the restore'), [], s.silenceTimeoutMs);
      return { ok: false, ignore: `progress does not move a ${m.state} PC` };
    }
    case 'task-done': {
      if (m.state === 'queued') return { ok: false, ignore: 'a queued PC has no task' };
      const off = s.steps.includes('poweroff');
      return to('done', r('done', off ? 'restored and verified; the PC powers off' : 'restored and verified; the PC is left on'), [], null);
    }
    case 'task-failed': {
      if (m.state === 'queued') return { ok: false, ignore: 'a queued PC has no task' };
      return to('failed', clientFailure(e), [], null);
    }
    case 'task-cancelled': {
      if (m.state === 'queued') return { ok: false, ignore: 'a queued PC has no task' };
      return to('cancelled', r('task_cancelled', 'its restore task was cancelled outside the run'), [], null);
    }
  }
}
