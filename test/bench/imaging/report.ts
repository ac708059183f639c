// The results of the imaging benchmark: results/imaging.json and results/imaging.md (tables of
// capture and restore times, store size, differential restore, CPU, the server's per-chunk costs,
// the checks and any restore failure), written only at scale 1; printed either way.
import type { Manifest } from '../../../services/imaging/format.js';
import { zstdEngine } from '../../../services/imaging/zstd.js';
import { environment, markdownTable, writeResults } from '../harness.js';
import { checkText, duplicateWindows, type Check, type RestoreFailure } from './checks.js';
import { BALLAST_MB, type ChunkCosts } from './chunk-costs.js';
import { MIB, div, execFileP, load, mb, mbOf, name, peakRssMb, perSec, round, type DirSize } from './common.js';
import { DISK_MIB, LAYOUT, type PlannedFile } from './disk.js';
import type { RefCapture, RefRestore } from './reference.js';
import type { ClientRun, ClientRuntime, RoomcastRun } from './roomcast.js';

/** What index.ts measured and checked, under the names it gave them. */
export interface Measured {
  scale: number;
  plan: PlannedFile[];
  fileBytes: number;
  buildSec: number;
  /** performance.now() at the start, the load average then, and around each measured step. */
  started: number;
  loadAtStart: number[];
  phaseLoad: Record<string, { start: number[]; end: number[] }>;
  rt: ClientRuntime;
  /** The api process's Node and how it checked uploaded chunks. */
  api: { nodeVersion: string; intakeEngine: string; note: string };
  apiPid: number;
  serverRssAfterCapture: number | null;
  refCap1: RefCapture;
  refRes1: RefRestore;
  refCap2: RefCapture;
  rcCap1: RoomcastRun;
  rcRes1: RoomcastRun;
  rcCap2: RoomcastRun;
  rcDiff: RoomcastRun;
  rcFull2: RoomcastRun;
  m1: Manifest;
  used1: number;
  used2: number;
  store1: DirSize;
  store2: DirSize;
  manifestsBytes: number;
  changes: PlannedFile[];
  changedBytes: number;
  refCheck1: Check;
  rcCheck1: Check;
  diffCheck: Check;
  fullCheck2: Check;
  failures: RestoreFailure[];
  costs: ChunkCosts | null;
}

/** Writes the results (at scale 1) and prints them; a failed check sets the exit code. */
export async function writeReport(m: Measured, log: (message: string) => void): Promise<void> {
  const { scale, plan, fileBytes, buildSec, started, loadAtStart, phaseLoad, rt, api, apiPid, serverRssAfterCapture } = m;
  const { refCap1, refRes1, refCap2, rcCap1, rcRes1, rcCap2, rcDiff, rcFull2, m1, used1, used2, store1, store2, manifestsBytes } = m;
  const { changes, changedBytes, refCheck1, rcCheck1, diffCheck, fullCheck2, failures, costs } = m;
  const env = environment();
  const nodes = { server: `${api.nodeVersion} (uploads with Content-Digest; chunk checks: ${api.intakeEngine}; ${api.note})`, bench: `${process.version} (zstd: ${zstdEngine})`, client: `${rt.nodeVersion} (${rt.kind}; zstd: ${rt.zstdEngine})` };
  const versions = {
    partclone: (await execFileP('sh', ['-c', 'partclone.restore -v 2>&1 | head -1'])).stdout.trim(),
    zstd: (await execFileP('zstd', ['--version'])).stdout.trim(),
    ntfs3g: (await execFileP('sh', ['-c', 'ntfs-3g --version 2>&1 | head -1'])).stdout.trim(),
  };
  const refUsed1 = refCap1.parts.reduce((s, p) => s + (p.usedBytes ?? 0), 0);
  const checks = { referenceRestoreV1: refCheck1, roomcastRestoreV1: rcCheck1, roomcastDifferentialV2: diffCheck, roomcastFullV2: fullCheck2 };
  const allOk = Object.values(checks).every((c) => c.ok) && failures.length === 0;
  const dup1 = duplicateWindows(m1);
  if (!allOk) process.exitCode = 1;

  const rows = {
    captureV1: { referenceSec: refCap1.sec, roomcastSec: rcCap1.sec, usedBytes: used1 },
    restoreV1: { referenceSec: refRes1.sec, roomcastSec: rcRes1.sec, roomcastWriteSec: rcRes1.phases.restore ?? null, roomcastVerifySec: rcRes1.phases.verify ?? null, usedBytes: used1 },
    captureV2: { referenceSec: refCap2.sec, roomcastSec: rcCap2.sec, usedBytes: used2 },
  };
  const speed = (row: { referenceSec: number; roomcastSec: number; usedBytes: number }) => ({
    referenceMBps: perSec(row.usedBytes, row.referenceSec),
    roomcastMBps: perSec(row.usedBytes, row.roomcastSec),
    timeRatio: div(row.roomcastSec, row.referenceSec),
    throughputRatio: div(row.referenceSec, row.roomcastSec),
  });
  const store = {
    referenceV1Bytes: refCap1.bytes,
    referenceV2Bytes: refCap2.bytes,
    referenceBothBytes: refCap1.bytes + refCap2.bytes,
    roomcastAfterV1Bytes: store1.apparent,
    roomcastAfterV2Bytes: store2.apparent,
    roomcastAfterV2AllocatedBytes: store2.allocated,
    roomcastChunkFiles: store2.files,
    roomcastManifestsBytes: manifestsBytes,
    ratioBoth: div(store2.apparent, refCap1.bytes + refCap2.bytes, 3),
    ratioOneVersion: div(store1.apparent, refCap1.bytes, 3),
    v2UploadedChunks: rcCap2.details.uploadedChunks,
    v2UploadedBytes: rcCap2.details.uploadedBytes,
    v2Chunks: rcCap2.details.chunks,
  };
  const diff = {
    changedFiles: changes.length,
    changedBytes,
    changedShare: round(changedBytes / used1, 4),
    full: { sec: rcFull2.sec, fetchedBytes: rcFull2.details.fetchedBytes, fetchedChunks: rcFull2.details.fetchedChunks, writtenBytes: rcFull2.details.writtenBytes, phases: rcFull2.phases },
    differential: { sec: rcDiff.sec, fetchedBytes: rcDiff.details.fetchedBytes, fetchedChunks: rcDiff.details.fetchedChunks, writtenBytes: rcDiff.details.writtenBytes, skippedChunks: rcDiff.details.skippedChunks, phases: rcDiff.phases },
    bytesRatio: div(rcDiff.details.fetchedBytes ?? null, rcFull2.details.fetchedBytes ?? null, 3),
    timeRatio: div(rcDiff.sec, rcFull2.sec),
    referenceRestoreMovesBytes: refCap2.bytes,
  };
  const serverPeakRssMb = peakRssMb(apiPid);
  const both = (r: ClientRun) => ({ client: r.clientCpuSec, clientUser: r.clientUserSec, server: r.serverCpuSec, serverUser: r.serverUserSec, total: r.clientCpuSec === null ? null : round(r.clientCpuSec + r.serverCpuSec) });
  /** "total (user)" CPU seconds, for the table. */
  const withUser = (total: number | null, user: number | null) => (total === null ? null : user === null ? String(total) : `${total} (${user})`);
  const cpu = {
    referenceCaptureV1: refCap1.cpuSec,
    roomcastCaptureV1: both(rcCap1),
    referenceRestoreV1: refRes1.cpuSec,
    roomcastRestoreV1: both(rcRes1),
    referenceCaptureV2: refCap2.cpuSec,
    roomcastCaptureV2: both(rcCap2),
    roomcastDifferentialV2: both(rcDiff),
    roomcastFullV2: both(rcFull2),
    clientMaxRssMb: Math.max(rcCap1.clientMaxRssMb ?? 0, rcRes1.clientMaxRssMb ?? 0) || null,
    serverPeakRssMbAfterCaptureV1: serverRssAfterCapture,
    serverPeakRssMb,
    /** The api's CPU seconds per GB (10^9 bytes) of used data captured by capture v1. */
    apiCpuSecPerGbCaptureV1: round(rcCap1.serverCpuSec / (used1 / 1e9), 2),
  };
  const totalSec = round((performance.now() - started) / 1000, 1);
  const json = {
    name,
    environment: { ...env, loadAtStart, loadAtEnd: load(), loadPerPhase: phaseLoad, nodes, client: rt, versions },
    data: {
      scale,
      diskBytes: DISK_MIB * MIB,
      layout: LAYOUT,
      files: plan.length,
      fileBytes,
      usedBytesV1: used1,
      usedBytesV2: used2,
      partcloneUsedBytesV1: refUsed1,
      buildSec,
      compressionRatioZstd3: round(refCap1.bytes / used1, 3),
    },
    capture: { v1: { ...rows.captureV1, ...speed(rows.captureV1), roomcastPhases: rcCap1.phases, details: rcCap1.details, referenceParts: refCap1.parts }, v2: { ...rows.captureV2, ...speed(rows.captureV2), roomcastPhases: rcCap2.phases, details: rcCap2.details } },
    restore: { v1: { ...rows.restoreV1, ...speed(rows.restoreV1), roomcastPhases: rcRes1.phases, details: rcRes1.details, referenceParts: refRes1.parts } },
    store,
    differentialRestore: diff,
    cpuSec: cpu,
    serverChunkCosts: costs,
    checks: { allOk, ...checks },
    restoreFailures: failures,
    repeatedWindowsV1: dup1,
    totalSec,
  };

  const c1 = json.capture.v1;
  const c2 = json.capture.v2;
  const r1 = json.restore.v1;
  const writeOnlyRatio = div(r1.roomcastWriteSec, r1.referenceSec);
  const md: string[] = [
    '# Imaging benchmark',
    '',
    `${env.date} · ${env.cpuCount} CPU (${env.cpuModel}) · ${env.platform} · load average ${loadAtStart.join(' / ')} at the start, ${json.environment.loadAtEnd.join(' / ')} at the end (1/5/15 min; the machine is shared)`,
    '',
    ...(allOk ? [] : ['**CORRECTNESS FAILURE: a restore failed or a restored disk does not match its source; the numbers of that restore are worthless until it is fixed. See "Checks" and "Restore failures".**', '']),
    `Data: a ${(DISK_MIB / 1024).toFixed(1)} GiB GPT disk (ESP FAT32 100 MiB, MSR 16 MiB, NTFS 2.5 GiB through ntfs-3g, ext4 1.5 GiB) on a sparse file, ${plan.length} files of ${mb(fileBytes)} MB (programs, installers and media, text; deterministic), **${mb(used1)} MB used** (roomcast's used extents; partclone counts ${mb(refUsed1)} MB); zstd -3 keeps ${Math.round(json.data.compressionRatioZstd3 * 100)} % of it.${scale !== 1 ? ` **Scale ${scale}: a trial run with part of the data.**` : ''}`,
    '',
    `Reference (FOG/Clonezilla): \`partclone.<fs> -c -s <partition loop> -o - | zstd -3 -T0 > file\` per partition (partclone.dd for the MSR), \`sfdisk --dump\` and the boot code with dd; back: sfdisk, dd, \`zstd -dc file | partclone.restore -s - -o <loop>\` and \`blockdev --flushbufs\` per partition. ${versions.partclone}, ${versions.zstd.replace(/^\*+ ?/, '').split(',')[0]}.`,
    '',
    `roomcast: the api in its own process (test/support/app.ts startTestApp under tsx: **Node ${api.nodeVersion}**, SQLite, Redis; ${api.note}; the client sends each chunk with a Content-Digest, the api checks the transfer, answers 202 and checks the content in the background: ${api.intakeEngine}); the client ${rt.kind === 'node22-bundle' ? `as the boot client runs it: the esbuild bundle under Node ${rt.nodeVersion} (zstd: node:zlib), a subprocess whose worker threads read, hash, compress and decompress (client/hasher.ts, compressor.ts, decoder.ts) while its main thread moves the chunks` : `**in the bench process under Node ${process.version} (no Node 22: ${rt.note})**`}, on a loop device over the disk file, 4 chunks in flight, over HTTP on 127.0.0.1 (node:http, keep-alive; an upload read by the api into its file as it arrives). Its restore includes re-reading and hashing everything it wrote (the reference checks nothing after writing). Both run with glibc's malloc settings of services/imaging/malloc.ts (GLIBC_TUNABLES), as the appliance image and the boot client run them. Client and server share the same 2 cores, as partclone and zstd do.`,
    '',
    '## Capture and restore',
    '',
    markdownTable(
      ['operation', 'reference s', 'roomcast s', 'reference MB/s', 'roomcast MB/s', 'roomcast ÷ reference, time', 'roomcast ÷ reference, throughput'],
      [
        ['capture v1', c1.referenceSec, c1.roomcastSec, c1.referenceMBps, c1.roomcastMBps, c1.timeRatio, c1.throughputRatio],
        ['restore v1 onto a blank disk', r1.referenceSec, r1.roomcastSec, r1.referenceMBps, r1.roomcastMBps, r1.timeRatio, r1.throughputRatio],
        ['capture v2 (5 % changed; roomcast uploads only new chunks)', c2.referenceSec, c2.roomcastSec, c2.referenceMBps, c2.roomcastMBps, c2.timeRatio, c2.throughputRatio],
      ],
    ),
    '',
    `MB/s = used bytes (${mb(used1)} MB) per second of wall time, MB = 10^6 bytes. roomcast phases: capture v1 ${Object.entries(rcCap1.phases).map(([k, v]) => `${k} ${v} s`).join(', ')}; restore v1 ${Object.entries(rcRes1.phases).map(([k, v]) => `${k} ${v} s`).join(', ')} (without the read-back check the restore takes ${writeOnlyRatio ?? '–'} × the reference's time); the client's own account (${stagesOf(rcRes1)}). Capture v2: ${c2.details.uploadedChunks} of ${c2.details.chunks} chunks uploaded.`,
    '',
    '## Store size after two versions',
    '',
    markdownTable(
      ['what', 'reference: partclone .zst files, MB', 'roomcast: chunks in the store, MB', 'roomcast ÷ reference'],
      [
        ['version 1', mb(store.referenceV1Bytes), mb(store.roomcastAfterV1Bytes), store.ratioOneVersion],
        ['versions 1 and 2', mb(store.referenceBothBytes), mb(store.roomcastAfterV2Bytes), store.ratioBoth],
      ],
    ),
    '',
    `Version 2 rewrote ${diff.changedFiles} files, ${mb(changedBytes)} MB (${round(diff.changedShare * 100, 1)} % of the used bytes); its capture uploaded ${store.v2UploadedChunks} chunks (${mb(store.v2UploadedBytes ?? 0)} MB compressed). Store = \`du -sb\` of images/chunks (${store.roomcastChunkFiles} files, ${mb(store.roomcastAfterV2AllocatedBytes)} MB allocated on disk); the manifests add ${Math.round(manifestsBytes / 1024)} KiB. Version 1 has ${dup1.windows} windows and ${dup1.distinct} distinct contents (${dup1.repeatedZero} windows repeat the all-zero content, ${dup1.repeatedOther} another window's), so dedup inside one version saves little: the gain is across versions.`,
    '',
    '## Differential restore of version 2',
    '',
    markdownTable(
      ['restore of version 2', 'chunks fetched', 'MB fetched', 'MB written', 's'],
      [
        ['full, onto a blank disk', diff.full.fetchedChunks ?? null, mbOf(diff.full.fetchedBytes), mbOf(diff.full.writtenBytes), diff.full.sec],
        ['differential, over a disk holding version 1', diff.differential.fetchedChunks ?? null, mbOf(diff.differential.fetchedBytes), mbOf(diff.differential.writtenBytes), diff.differential.sec],
        ['differential ÷ full', div(diff.differential.fetchedChunks ?? null, diff.full.fetchedChunks ?? null, 3), diff.bytesRatio, div(diff.differential.writtenBytes ?? null, diff.full.writtenBytes ?? null, 3), diff.timeRatio],
      ],
    ),
    '',
    `Phases: full ${Object.entries(rcFull2.phases).map(([k, v]) => `${k} ${v} s`).join(', ')}; differential ${Object.entries(rcDiff.phases).map(([k, v]) => `${k} ${v} s`).join(', ')}. The differential restore patched ${rcDiff.details.patchedChunks ?? '–'} windows block by block (64 KiB blocks, format v3) and skipped ${rcDiff.details.skippedChunks ?? '–'}. Client's account: full (${stagesOf(rcFull2)}); differential (${stagesOf(rcDiff)}). The reference has no differential restore: it moves its whole image again (${mb(refCap2.bytes)} MB).`,
    '',
    '## CPU',
    '',
    markdownTable(
      ['operation', 'reference CPU s', 'roomcast client CPU s', 'roomcast api CPU s', 'roomcast ÷ reference, CPU'],
      [
        ['capture v1', withUser(cpu.referenceCaptureV1, refCap1.userSec), withUser(cpu.roomcastCaptureV1.client, cpu.roomcastCaptureV1.clientUser), withUser(cpu.roomcastCaptureV1.server, cpu.roomcastCaptureV1.serverUser), div(cpu.roomcastCaptureV1.total, cpu.referenceCaptureV1)],
        ['restore v1 onto a blank disk', withUser(cpu.referenceRestoreV1, refRes1.userSec), withUser(cpu.roomcastRestoreV1.client, cpu.roomcastRestoreV1.clientUser), withUser(cpu.roomcastRestoreV1.server, cpu.roomcastRestoreV1.serverUser), div(cpu.roomcastRestoreV1.total, cpu.referenceRestoreV1)],
        ['capture v2', withUser(cpu.referenceCaptureV2, refCap2.userSec), withUser(cpu.roomcastCaptureV2.client, cpu.roomcastCaptureV2.clientUser), withUser(cpu.roomcastCaptureV2.server, cpu.roomcastCaptureV2.serverUser), div(cpu.roomcastCaptureV2.total, cpu.referenceCaptureV2)],
        ['restore v2, differential over v1', null, withUser(cpu.roomcastDifferentialV2.client, cpu.roomcastDifferentialV2.clientUser), withUser(cpu.roomcastDifferentialV2.server, cpu.roomcastDifferentialV2.serverUser), null],
        ['restore v2 onto a blank disk', null, withUser(cpu.roomcastFullV2.client, cpu.roomcastFullV2.clientUser), withUser(cpu.roomcastFullV2.server, cpu.roomcastFullV2.serverUser), null],
      ],
    ),
    '',
    `**The api's CPU per GB captured (capture v1): ${cpu.apiCpuSecPerGbCaptureV1} s/GB** (api Node ${api.nodeVersion}; before the background intake: about 25 s/GB, 59.6 s for 2.39 GB on Node 20 with one zstd process per chunk, 2026-11-29).`,
    '',
    `User + system seconds, user seconds in brackets (the rest is the kernel's work: reads, writes, copies): GNU time for the pipelines and the client (with the programs they ran); /proc for the api process and the zstd programs it spawned. CPU time depends less than wall time on what else the shared machine runs. Peak RSS: client ${cpu.clientMaxRssMb ?? '–'} MB, api ${serverPeakRssMb ?? '–'} MB.`,
    '',
    markdownTable(
      ['measured step', 'load at start (1/5/15 min)', 'load at end'],
      Object.entries(phaseLoad).map(([k, v]) => [k, v.start.join(' / '), v.end.join(' / ')]),
    ),
    '',
    ...(costs
      ? [
          '## The server\'s per-chunk costs',
          '',
          markdownTable(
            ['what', `${costs.chunks} chunks (${costs.compressedMb} MB stored, ${costs.rawMb} MB raw), s`],
            [
              [`decompress as the api did on upload before the intake (and still does for an upload without Content-Digest on Node 20): one zstd process per chunk; process RSS ${costs.spawnerRssMb} MB`, costs.perChunkSpawnSec],
              [`the same, the process holding ${BALLAST_MB} MB more (RSS ${costs.spawnerBigRssMb} MB)`, costs.perChunkSpawnBigSec],
              ['the same frames through one zstd process', costs.oneProcessSec],
              ['the same frames with node:zlib (Node 22)', costs.nodeZlibSec],
              ['write as the store does (tmp, fsync, rename, fsync dir)', costs.durableWriteSec],
              ['write without the fsyncs', costs.plainWriteSec],
            ],
          ),
          '',
          `One chunk at a time. Process start per chunk: ${costs.spawnOverheadMsPerChunk} ms at ${costs.spawnerRssMb} MB RSS, ${round(((costs.perChunkSpawnBigSec - costs.oneProcessSec) / costs.chunks) * 1000, 1)} ms at ${costs.spawnerBigRssMb} MB (fork copies the parent's page tables); capture v1 uploaded ${rcCap1.details.uploadedChunks} chunks.`,
          '',
        ]
      : []),
    '## Checks',
    '',
    markdownTable(
      ['restore', 'result', 'check s'],
      [
        ['reference, v1 onto a blank disk', checkText(refCheck1), refCheck1.sec],
        ['roomcast, v1 onto a blank disk', checkText(rcCheck1), rcCheck1.sec],
        ['roomcast, v2 over v1 (differential)', checkText(diffCheck), diffCheck.sec],
        ['roomcast, v2 onto a blank disk', checkText(fullCheck2), fullCheck2.sec],
      ],
    ),
    '',
    ...(failures.length
      ? [
          '## Restore failures',
          '',
          markdownTable(
            ['restore', 'what the client said', 'windows left wrong (first ones)', 'run again'],
            failures.map((f) => [
              f.label,
              f.error.slice(0, 200),
              `${f.badWindowCount}: ${f.badWindows.slice(0, 3).map((w) => `${w.where} +${w.offset} (its content in ${w.sameHashWindows} windows)`).join('; ')}`,
              f.retry.ok ? `ok, ${f.retry.fetchedChunks} chunks fetched, ${f.retry.sec} s` : `FAILED: ${f.retry.error ?? ''}`,
            ]),
          ),
          '',
          `The table's time for such a restore is the failed run's. Version 1 has ${dup1.windows} windows, ${dup1.distinct} distinct contents: ${dup1.repeatedZero} windows repeat the all-zero content and ${dup1.repeatedOther} repeat another window's.`,
          '',
        ]
      : []),
    `Every file of the ESP, NTFS and ext4 partitions read back (mtools, ntfs-3g, mount) and compared by SHA-256 with what was written; fsck.vfat -n, ntfsfix --no-action, e2fsck -fn. Bench total ${totalSec} s (disk built in ${buildSec} s).`,
  ];
  if (scale === 1) {
    const written = writeResults(name, json, md.join('\n'));
    process.stdout.write(`\n${md.join('\n')}\n\nwritten: ${written.json}, ${written.md}\n`);
  } else {
    process.stdout.write(`\n${md.join('\n')}\n\nBENCH_IMAGING_SCALE=${scale}: a trial; results/imaging.* left as they were\n`);
  }
  if (!allOk) log('imaging: CORRECTNESS FAILURE: a restored disk differs from its source (see the Checks table)');
}

/** The client's "restore timings" log line (seconds per stage; stages that overlap are summed over their concurrent runs). */
function stagesOf(r: { log: string[] }): string {
  return r.log.find((l) => l.startsWith('roomcast: restore timings: '))?.slice('roomcast: restore timings: '.length) ?? 'not logged';
}
