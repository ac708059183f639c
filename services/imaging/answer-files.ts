// An image's Windows answer file (issue 15): on or off, its unattend.xml template (null: the built-in
// one, unattend.ts), the values it is rendered with, and two secrets (the domain-join password and the
// local Administrator password), sealed with the site key (core/crypto.ts) before they reach the table.
//
// Rules:
// - The secrets are write-only: no answer holds them (a view says { set: true|false }), no audit entry
//   or log line either (the audit says "domain join password changed").
// - An answer file is rendered only for the PC whose task token the request carries, for its running
//   restore task (TaskService.machineTask): the PC's name is the inventory's at that moment.
// - A technician's preview (preview) is the same rendering for a chosen PC, every secret replaced by
//   SECRET_MASK; it changes nothing (no per-PC password is made for it).
// - This module is the one writer of image_answer_files; every change is one transaction with its audit.
import type { Kysely, Selectable } from 'kysely';
import { writeAudit, type Actor } from '../core/audit.js';
import type { MachineAuth } from '../core/auth.js';
import { openSecret, sealSecret } from '../core/crypto.js';
import { nowIso, type DB } from '../core/db/index.js';
import { AppError, notFound } from '../core/errors.js';
import type { TaskService } from '../tasks/service.js';
import { RestoreParamsSchema } from './kinds.js';
import { ANSWER_DEFAULTS, ANSWER_VARIABLES, checkTemplate, DEFAULT_TEMPLATE, renderAnswerFile, type AnswerValues } from './unattend.js';
import { AdminPasswords } from './admin-passwords.js';
import { ANSWER_FILE_DRIVER_PATH } from './driver-pack.js';

export interface AnswerFileInput {
  enabled: boolean;
  template?: string | null;
  workgroup?: string | null;
  /** joinPassword left out: the stored one is kept. */
  domain?: { name: string; ou?: string | null; joinUser: string; joinPassword?: string } | null;
  /** Left out: kept; null: removed. */
  adminPassword?: string | null;
  /** true: each PC gets a random password of its own (admin-passwords.ts) instead of adminPassword. */
  adminPasswordPerPc?: boolean;
  agentCommand?: string | null;
  locale?: string;
  inputLocale?: string;
  timeZone?: string;
}

export interface AnswerFileView {
  imageId: number;
  enabled: boolean;
  template: string | null;
  defaultTemplate: string;
  variables: Array<{ name: string; meaning: string }>;
  workgroup: string | null;
  domain: { name: string; ou: string | null; joinUser: string; joinPassword: { set: boolean } } | null;
  adminPassword: { set: boolean };
  adminPasswordPerPc: boolean;
  agentCommand: string | null;
  locale: string;
  inputLocale: string;
  timeZone: string;
  updatedBy: string | null;
  updatedAt: string | null;
}

/** What a technician sees of a PC's answer file (preview): the file with every secret as SECRET_MASK. */
export interface AnswerFilePreview {
  imageId: number;
  hostId: number;
  hostName: string;
  /** false: restores write no answer file for this image now; the file is the one they would write once on. */
  enabled: boolean;
  xml: string;
  /** The secrets the file holds, each shown as SECRET_MASK. */
  masked: Array<'domainJoinPassword' | 'adminPassword' | 'perPcAdminPassword'>;
}

/** What every secret becomes in a preview. */
export const SECRET_MASK = '********';

type Row = Selectable<DB['image_answer_files']>;

const context = (imageId: number, field: string) => `image:${imageId}:${field}`;

export class AnswerFiles {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly tasks: TaskService,
    private readonly hostName: (hostId: number, db: Kysely<DB>) => Promise<string | null>,
    /** The site's secret key (read or made on first use). */
    private readonly key: () => Buffer,
    /** Whether a driver pack matches this PC's model now (drivers/service.ts); the client copies it to ANSWER_FILE_DRIVER_PATH. */
    private readonly hasDriverPack: (hostId: number) => Promise<boolean> = async () => false,
  ) {
    this.adminPasswords = new AdminPasswords(db, key);
  }

  /** The PCs' own local Administrator passwords, when an image's answer file gives one per PC. */
  readonly adminPasswords: AdminPasswords;

  private row(imageId: number, db: Kysely<DB> = this.db) {
    return db.selectFrom('image_answer_files').selectAll().where('image_id', '=', imageId).executeTakeFirst();
  }

  private async image(imageId: number, db: Kysely<DB>) {
    const image = await db.selectFrom('images').select(['id', 'name']).where('id', '=', imageId).executeTakeFirst();
    if (!image) throw notFound('image', imageId);
    return image;
  }

  private toView(imageId: number, r: Row | undefined): AnswerFileView {
    return {
      imageId,
      enabled: Boolean(r?.enabled),
      template: r?.template ?? null,
      defaultTemplate: DEFAULT_TEMPLATE,
      variables: ANSWER_VARIABLES,
      workgroup: r ? r.workgroup : ANSWER_DEFAULTS.workgroup,
      domain: r?.domain_name ? { name: r.domain_name, ou: r.domain_ou, joinUser: r.domain_join_user ?? '', joinPassword: { set: r.domain_join_password !== null } } : null,
      adminPassword: { set: Boolean(r?.admin_password) },
      adminPasswordPerPc: Boolean(r?.admin_password_per_pc),
      agentCommand: r?.agent_command ?? null,
      locale: r?.locale ?? ANSWER_DEFAULTS.locale,
      inputLocale: r?.input_locale ?? ANSWER_DEFAULTS.inputLocale,
      timeZone: r?.time_zone ?? ANSWER_DEFAULTS.timeZone,
      updatedBy: r?.updated_by ?? null,
      updatedAt: r?.updated_at ?? null,
    };
  }

  async get(imageId: number): Promise<AnswerFileView> {
    await this.image(imageId, this.db);
    return this.toView(imageId, await this.row(imageId));
  }

  /** Sets the image's answer file; secrets left out are kept. 400 bad_answer_template / bad_answer_value. */
  async put(actor: Actor, imageId: number, input: AnswerFileInput): Promise<AnswerFileView> {
    if (input.template != null) checkTemplate(input.template);
    if (input.domain && input.workgroup) throw new AppError(400, 'bad_answer_value', 'give a workgroup or a domain to join, not both');
    return this.db.transaction().execute(async (trx) => {
      await this.image(imageId, trx);
      const before = await this.row(imageId, trx);
      const joinPassword = input.domain
        ? input.domain.joinPassword !== undefined
          ? sealSecret(this.key(), input.domain.joinPassword, context(imageId, 'domainJoinPassword'))
          : (before?.domain_join_password ?? null)
        : null;
      if (input.domain && joinPassword === null) throw new AppError(400, 'bad_answer_value', 'joining a domain needs domain.joinPassword, the password of domain.joinUser');
      const adminPassword = input.adminPassword === undefined ? (before?.admin_password ?? null) : input.adminPassword === null ? null : sealSecret(this.key(), input.adminPassword, context(imageId, 'adminPassword'));
      const values = {
        enabled: input.enabled ? 1 : 0,
        template: input.template ?? null,
        workgroup: input.domain ? null : (input.workgroup ?? ANSWER_DEFAULTS.workgroup),
        domain_name: input.domain?.name ?? null,
        domain_ou: input.domain?.ou ?? null,
        domain_join_user: input.domain?.joinUser ?? null,
        domain_join_password: joinPassword,
        admin_password: adminPassword,
        admin_password_per_pc: input.adminPasswordPerPc ? 1 : 0,
        agent_command: input.agentCommand ?? null,
        locale: input.locale ?? ANSWER_DEFAULTS.locale,
        input_locale: input.inputLocale ?? ANSWER_DEFAULTS.inputLocale,
        time_zone: input.timeZone ?? ANSWER_DEFAULTS.timeZone,
        updated_by: actor.name,
        updated_at: nowIso(),
      };
      if (before) await trx.updateTable('image_answer_files').set(values).where('image_id', '=', imageId).execute();
      else await trx.insertInto('image_answer_files').values({ image_id: imageId, ...values }).execute();
      // What changed, secrets only by name.
      const secrets: string[] = [];
      if ((before?.domain_join_password ?? null) !== joinPassword) secrets.push(joinPassword === null ? 'domain join password removed' : 'domain join password changed');
      if ((before?.admin_password ?? null) !== adminPassword) secrets.push(adminPassword === null ? 'local administrator password removed' : 'local administrator password changed');
      await writeAudit(trx, actor, {
        action: 'image.answer_file.update',
        targetType: 'image',
        targetId: imageId,
        details: {
          enabled: input.enabled,
          template: input.template == null ? 'default' : 'custom',
          workgroup: values.workgroup,
          adminPasswordPerPc: Boolean(input.adminPasswordPerPc),
          domain: input.domain ? { name: input.domain.name, ou: input.domain.ou ?? null, joinUser: input.domain.joinUser } : null,
          ...(secrets.length ? { secrets } : {}),
        },
      });
      return this.toView(imageId, await this.row(imageId, trx));
    });
  }

  /** Removes the image's answer file and its secrets (restores write none). */
  async remove(actor: Actor, imageId: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.image(imageId, trx);
      const gone = await trx.deleteFrom('image_answer_files').where('image_id', '=', imageId).executeTakeFirst();
      if (Number(gone.numDeletedRows) > 0) await writeAudit(trx, actor, { action: 'image.answer_file.delete', targetType: 'image', targetId: imageId });
    });
  }

  /** The answer file of the PC this task token belongs to, for its running restore. */
  async renderFor(machine: MachineAuth): Promise<string> {
    const task = await this.tasks.machineTask(machine, ['restore']);
    const { imageId, image } = RestoreParamsSchema.parse(this.tasks.kinds.paramsOf(task));
    const r = await this.row(imageId);
    if (!r?.enabled) throw new AppError(404, 'answer_file_none', `image "${image}" has no answer file (answer files are off for it): Windows keeps the settings the image was captured with`);
    const computerName = await this.hostName(task.host_id, this.db);
    if (!computerName) throw new AppError(404, 'task_gone', `the PC of task ${task.id} is no longer in the inventory`);
    return this.renderHost(imageId, image, r, task.host_id, computerName, { show: (secret) => secret, perPc: () => this.adminPasswords.issue(task.host_id, task.id) });
  }

  /**
   * What PC `hostId` would get from the image's answer file now, for a technician: the same rendering
   * as renderFor, each secret replaced by SECRET_MASK. The stored secrets are opened (a file the client
   * could not get, 409 secret_undecryptable, is refused here too) but never put in the file; no per-PC
   * password is made. With answer files off (or never set), the file the PC would get once they are on.
   */
  async preview(imageId: number, hostId: number): Promise<AnswerFilePreview> {
    const image = await this.image(imageId, this.db);
    const hostName = await this.hostName(hostId, this.db);
    if (!hostName) throw notFound('host', hostId);
    const r = await this.row(imageId);
    const xml = await this.renderHost(imageId, image.name, r, hostId, hostName, { show: () => SECRET_MASK, perPc: async () => SECRET_MASK });
    const masked: AnswerFilePreview['masked'] = [];
    if (r?.domain_name && r.domain_join_password !== null) masked.push('domainJoinPassword');
    if (r?.admin_password_per_pc) masked.push('perPcAdminPassword');
    else if (r?.admin_password) masked.push('adminPassword');
    return { imageId, hostId, hostName, enabled: Boolean(r?.enabled), xml, masked };
  }

  /**
   * The answer file of PC `hostId` from the image's row (none: the defaults). `show` turns each stored
   * secret, once opened, into what the file holds; `perPc` gives the PC's own Administrator password.
   */
  private async renderHost(
    imageId: number,
    image: string,
    r: Row | undefined,
    hostId: number,
    computerName: string,
    secrets: { show: (secret: string) => string; perPc: () => Promise<string> },
  ): Promise<string> {
    const open = (sealed: string | null, field: string) => {
      if (sealed === null) return null;
      let secret: string;
      try {
        secret = openSecret(this.key(), sealed, context(imageId, field));
      } catch {
        throw new AppError(409, 'secret_undecryptable', `the passwords of image "${image}"'s answer file cannot be decrypted with this server's secret key (ROOMCAST_SECRET_KEY, or secret.key in the data directory, changed?): set them again on the image`);
      }
      return secrets.show(secret);
    };
    const values: AnswerValues = {
      computerName,
      workgroup: r?.domain_name ? null : (r?.workgroup ?? ANSWER_DEFAULTS.workgroup),
      domain: r?.domain_name ? { name: r.domain_name, ou: r.domain_ou, joinUser: r.domain_join_user ?? '', joinPassword: open(r.domain_join_password, 'domainJoinPassword') ?? '' } : null,
      locale: r?.locale ?? ANSWER_DEFAULTS.locale,
      inputLocale: r?.input_locale ?? ANSWER_DEFAULTS.inputLocale,
      timeZone: r?.time_zone ?? ANSWER_DEFAULTS.timeZone,
      adminPassword: r?.admin_password_per_pc ? await secrets.perPc() : open(r?.admin_password ?? null, 'adminPassword'),
      agentCommand: r?.agent_command ?? null,
      driverPath: (await this.hasDriverPack(hostId)) ? ANSWER_FILE_DRIVER_PATH : null,
    };
    return renderAnswerFile(r?.template ?? null, values);
  }
}
