// The structure the README's "Layout" describes, checked: the import arrows (eslint.config.js), one
// writer per table, and files a newcomer can read in one go.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ESLint } from 'eslint';
import { afterAll, describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RULE = '@typescript-eslint/no-restricted-imports';

/** Every non-test TypeScript file under services/, relative to the repository. */
function serviceFiles(dir = path.join(repo, 'services')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return serviceFiles(p);
    return e.isFile() && p.endsWith('.ts') && !p.endsWith('.test.ts') ? [path.relative(repo, p)] : [];
  });
}

describe('import boundaries (npm run lint)', () => {
  const written: string[] = [];
  const eslint = new ESLint({ cwd: repo });
  /** Writes a probe file into the tree (where the config's globs apply), lints it, removes it. */
  async function lint(rel: string, source: string): Promise<string[]> {
    const file = path.join(repo, rel);
    expect(fs.existsSync(file), `${rel} already exists`).toBe(false);
    fs.writeFileSync(file, source);
    written.push(file);
    try {
      const [result] = await eslint.lintFiles([file]);
      return result!.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
  afterAll(() => {
    for (const f of written) fs.rmSync(f, { force: true });
  });

  const cases: Array<{ kind: string; file: string; bad: string; good: string; says: RegExp }> = [
    { kind: 'core importing a domain', file: 'services/core/zz-boundary-probe.ts', bad: "import { TaskService } from '../tasks/service.js';", good: "import { AppError } from './errors.js';", says: /core imports no domain/ },
    { kind: 'core importing the HTTP app', file: 'services/core/zz-boundary-probe.ts', bad: "import { createApp } from '../api/app.js';", good: "import type { Request } from 'express';", says: /core imports no domain, no HTTP app/ },
    { kind: 'core using Express at run time', file: 'services/core/zz-boundary-probe.ts', bad: "import express from 'express';", good: "import type { Response } from 'express';", says: /only the types of Express/ },
    { kind: 'a domain importing the app', file: 'services/inventory/zz-boundary-probe.ts', bad: "import { createApp } from '../api/app.js';", good: "import { defineRoute } from '../core/route.js';", says: /never imports the HTTP app/ },
    { kind: 'a domain importing the composition root', file: 'services/tasks/zz-boundary-probe.ts', bad: "import { buildServices } from '../container.js';", good: "import { HostRepository } from '../inventory/hosts.js';", says: /composition root/ },
    { kind: "boot's packet path importing tasks", file: 'services/boot/proxydhcp/zz-boundary-probe.ts', bad: "import { TaskService } from '../../tasks/service.js';", good: "import { KeyedTokenBucket } from '../../core/ratelimit.js';", says: /packet path imports no/ },
    { kind: "boot's packet path importing the database", file: 'services/boot/tftp/zz-boundary-probe.ts', bad: "import { openDatabase } from '../../core/db/index.js';", good: "import type { Logger } from '../../core/logger.js';", says: /packet path imports no/ },
    { kind: 'the imaging client importing the server side', file: 'services/imaging/client/zz-boundary-probe.ts', bad: "import { ImageStore } from '../store.js';", good: "import { parseManifest } from '../format.js';", says: /imports only the shared format/ },
    { kind: 'the imaging client importing a server package', file: 'services/imaging/client/zz-boundary-probe.ts', bad: "import { Kysely } from 'kysely';", good: "import { z } from 'zod';", says: /Node built-ins and zod only/ },
  ];

  for (const c of cases) {
    it(`refuses ${c.kind}, and lets the right import through`, async () => {
      const bad = await lint(c.file, `${c.bad}\nexport const probe = 1;\n`);
      expect(bad, `${c.file}: ${c.bad}`).toHaveLength(1);
      expect(bad[0]).toMatch(c.says);
      expect(await lint(c.file, `${c.good}\nexport const probe = 1;\n`), `${c.file}: ${c.good}`).toEqual([]);
    });
  }
});

describe('one writer per table', () => {
  // The module that owns each table: the only one that inserts, updates or deletes its rows.
  const OWNERS: Record<string, string> = {
    rooms: 'services/inventory/rooms.ts',
    hosts: 'services/inventory/hosts.ts',
    users: 'services/accounts/service.ts',
    sessions: 'services/accounts/service.ts',
    api_tokens: 'services/accounts/service.ts',
    audit_log: 'services/core/audit.ts',
    settings: 'services/core/settings.ts',
    tasks: 'services/tasks/repository.ts',
    images: 'services/imaging/repository.ts',
    image_versions: 'services/imaging/repository.ts',
    image_version_chunks: 'services/imaging/repository.ts',
    image_answer_files: 'services/imaging/answer-files.ts',
    host_admin_passwords: 'services/imaging/admin-passwords.ts',
    chunks: 'services/imaging/store.ts',
    alerts: 'services/alerts/repository.ts',
    runs: 'services/runs/repository.ts',
    run_pcs: 'services/runs/repository.ts',
    run_pc_events: 'services/runs/repository.ts',
    schedules: 'services/schedules/repository.ts',
    schedule_fires: 'services/schedules/repository.ts',
    driver_packs: 'services/drivers/repository.ts',
    software_package_versions: 'services/software/repository.ts',
    software_package_files: 'services/software/repository.ts',
    software_assignments: 'services/software/assignment-repository.ts',
  };

  it('names an owner for every table of the schema', () => {
    const schema = fs.readFileSync(path.join(repo, 'services/core/db/schema.ts'), 'utf8');
    const db = /export interface DB \{([^}]*)\}/.exec(schema)![1]!;
    const tables = [...db.matchAll(/^\s*([a-z_]+):/gm)].map((m) => m[1]);
    expect(tables.sort()).toEqual(Object.keys(OWNERS).sort());
  });

  it('finds every write to a table in its owner only', () => {
    const writes: string[] = [];
    for (const file of serviceFiles().filter((f) => !f.includes('/migrations'))) {
      const text = fs.readFileSync(path.join(repo, file), 'utf8');
      for (const m of text.matchAll(/\.(insertInto|updateTable|deleteFrom)\(\s*'([a-z_]+)/g)) {
        if (OWNERS[m[2]!] !== file) writes.push(`${file}: ${m[1]}('${m[2]}') (owner: ${OWNERS[m[2]!] ?? 'none'})`);
      }
    }
    expect(writes).toEqual([]);
    // The check sees the writes it is about (it would pass on a tree it cannot read otherwise).
    expect(fs.readFileSync(path.join(repo, OWNERS.tasks!), 'utf8')).toMatch(/updateTable\('tasks'\)/);
  });
});

describe('the imaging client bundle', () => {
  it('reads nothing outside services/imaging but the shared files the Dockerfile and the lab cache copy', async () => {
    const { IMAGING_SHARED } = await import('../lab/client-vm.js');
    const out = await build({ entryPoints: [path.join(repo, 'services/imaging/client/main.ts')], bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
    const inputs = Object.keys(out.metafile.inputs).filter((f) => !f.startsWith('node_modules/'));
    const shared = IMAGING_SHARED.map((f) => path.relative(repo, f));
    expect(inputs.filter((f) => !f.startsWith('services/imaging/') && !shared.includes(f))).toEqual([]);
    expect(inputs.some((f) => f.startsWith('services/imaging/client/'))).toBe(true);
    const dockerfile = fs.readFileSync(path.join(repo, 'images/appliance/Dockerfile'), 'utf8');
    for (const f of shared) expect(dockerfile, `the Dockerfile's imaging stage copies ${f}`).toContain(`COPY ${f} ${f}`);
  });
});

describe('file size', () => {
  it('keeps every file under services/ under 400 lines', () => {
    const files = serviceFiles();
    expect(files.length).toBeGreaterThan(50);
    const big = files.map((f) => ({ f, lines: fs.readFileSync(path.join(repo, f), 'utf8').split('\n').length })).filter((x) => x.lines > 400);
    expect(big).toEqual([]);
  });
});
