// Routes of images' Windows answer files (answer-files.ts): for people, /api/v1/images/:id/answer-file
// (technician; the passwords are write-only); for the boot client, /api/v1/client/answer-file (the
// task token: the answer file of that PC, for its running restore).
import { z } from 'zod';
import { decimal, defineRoute, idParam, type AnyRoute } from '../core/route.js';
import { SECRET_MASK, type AnswerFiles } from './answer-files.js';

/** No control characters (XML cannot hold most of them; none belongs in these values). */
const text = (max: number) => z.string().trim().min(1).max(max).regex(/^[^\p{Cc}]*$/u, { error: 'no control characters (tabs, line breaks…)' });
const secret = z.string().min(1).max(256).regex(/^[^\p{Cc}]*$/u, { error: 'no control characters' });
const SetSchema = z.object({ set: z.boolean().describe('whether a value is stored (it is never shown)') });

const InputSchema = z
  .object({
    enabled: z.boolean().describe('false: restores write no answer file for this image'),
    template: z.string().min(1).max(200_000).nullable().optional().describe('a handlebars (strict) unattend.xml template; null or left out: the built-in one (defaultTemplate)'),
    workgroup: z.string().regex(/^[A-Za-z0-9!@#$%^&'()._~-]{1,15}$/, { error: 'a workgroup name: 1 to 15 letters, digits or -_.' }).nullable().optional().describe('left out with no domain: WORKGROUP'),
    domain: z
      .object({
        name: z.string().regex(/^(?=.{1,253}$)[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*$/, { error: 'a DNS domain name such as lycee.local' }),
        ou: text(1000).nullable().optional().describe('distinguished name of the OU the computer account goes to, e.g. OU=B204,DC=lycee,DC=local'),
        joinUser: text(256).describe('account allowed to join computers, e.g. LYCEE\\joiner'),
        joinPassword: secret.optional().describe('write-only; left out: the stored one is kept'),
      })
      .strict()
      .nullable()
      .optional()
      .describe('the domain to join in the specialize pass (null: a workgroup)'),
    adminPassword: secret.nullable().optional().describe('the local Administrator password, write-only; left out: kept; null: removed'),
    adminPasswordPerPc: z.boolean().optional().describe('true: each PC gets a random local Administrator password of its own (shown to technicians on demand, audited) instead of adminPassword'),
    agentCommand: text(1000).nullable().optional().describe('the command run at the first logon (it will start the roomcast agent)'),
    locale: z.string().regex(/^[a-z]{2,3}-[A-Z]{2}$/, { error: 'a locale such as fr-FR' }).optional(),
    inputLocale: z.string().regex(/^[0-9a-fA-F]{4}:[0-9a-fA-F]{8}(;[0-9a-fA-F]{4}:[0-9a-fA-F]{8})*$/, { error: 'keyboards such as 040c:0000040c' }).optional(),
    timeZone: z.string().regex(/^[A-Za-z0-9 .()+-]{1,64}$/, { error: 'a Windows time zone name such as Romance Standard Time' }).optional(),
  })
  .strict();

const ViewSchema = z
  .object({
    imageId: z.number().int(),
    enabled: z.boolean(),
    template: z.string().nullable().describe('null: the built-in template'),
    defaultTemplate: z.string(),
    variables: z.array(z.object({ name: z.string(), meaning: z.string() })).describe('what a template may use'),
    workgroup: z.string().nullable(),
    domain: z.object({ name: z.string(), ou: z.string().nullable(), joinUser: z.string(), joinPassword: SetSchema }).nullable(),
    adminPassword: SetSchema,
    adminPasswordPerPc: z.boolean(),
    agentCommand: z.string().nullable(),
    locale: z.string(),
    inputLocale: z.string(),
    timeZone: z.string(),
    updatedBy: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .meta({ id: 'AnswerFile' });

const PreviewSchema = z
  .object({
    imageId: z.number().int(),
    hostId: z.number().int(),
    hostName: z.string().describe("the PC's name in the inventory, its ComputerName"),
    enabled: z.boolean().describe('false: restores write no answer file for this image now (the file is the one they would write once answer files are on)'),
    xml: z.string().describe(`the unattend.xml the PC would get, every password replaced by ${SECRET_MASK}`),
    masked: z.array(z.enum(['domainJoinPassword', 'adminPassword', 'perPcAdminPassword'])).describe(`the passwords the file holds, each shown as ${SECRET_MASK}`),
  })
  .meta({ id: 'AnswerFilePreview' });

const StatusSchema = z
  .object({
    hostId: z.number().int(),
    set: z.boolean().describe('whether roomcast gave this PC a local Administrator password of its own'),
    setAt: z.string().nullable(),
    taskId: z.number().int().nullable().describe('the restore task whose answer file carried it'),
    previous: z.object({ setAt: z.string(), taskId: z.number().int().nullable() }).nullable(),
  })
  .meta({ id: 'AdminPasswordStatus' });

const RevealSchema = z
  .object({
    hostId: z.number().int(),
    hostName: z.string(),
    password: z.string(),
    setAt: z.string(),
    taskId: z.number().int().nullable(),
    previous: z.object({ password: z.string(), setAt: z.string(), taskId: z.number().int().nullable() }).nullable().describe('the one before: the PC still has it when its newest restore stopped before Windows started'),
  })
  .meta({ id: 'AdminPasswordReveal' });

export function answerFileRoutes(answers: AnswerFiles): AnyRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/api/v1/hosts/:id/admin-password', tag: 'inventory', access: 'technician',
      summary: "Whether the PC has a local Administrator password of its own from roomcast, and when it was given (never the password)",
      params: idParam, response: StatusSchema, errors: { 404: 'not_found' },
      handler: ({ params }) => answers.adminPasswords.status(params.id),
    }),
    defineRoute({
      method: 'post', path: '/api/v1/hosts/:id/admin-password/reveal', tag: 'inventory', access: 'technician',
      summary: "Show the PC's local Administrator password (and the one before); every showing is written to the audit log",
      params: idParam, response: RevealSchema, errors: { 404: 'not_found | admin_password_none', 409: 'secret_undecryptable' },
      handler: async ({ auth, params, res }) => {
        res.set('Cache-Control', 'no-store');
        return answers.adminPasswords.reveal(auth!.actor, params.id);
      },
    }),
    defineRoute({
      method: 'get', path: '/api/v1/images/:id/answer-file', tag: 'images', access: 'technician',
      summary: "The image's Windows answer file settings (passwords only as { set })", params: idParam, response: ViewSchema, errors: { 404: 'not_found' },
      handler: ({ params }) => answers.get(params.id),
    }),
    defineRoute({
      method: 'put', path: '/api/v1/images/:id/answer-file', tag: 'images', access: 'technician',
      summary: 'Set the image\'s Windows answer file (unattend.xml, written to Windows/Panther after each restore). The template is checked: strict handlebars, known variables only, well-formed XML',
      params: idParam, body: InputSchema, response: ViewSchema, errors: { 400: 'bad_answer_template | bad_answer_value', 404: 'not_found' },
      handler: ({ auth, params, body }) => answers.put(auth!.actor, params.id, body),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/images/:id/answer-file/preview', tag: 'images', access: 'technician',
      summary: `The answer file a PC would get from this image now, rendered as for its restore, every password shown as ${SECRET_MASK} (nothing is changed: no per-PC password is made)`,
      params: idParam, query: z.object({ hostId: decimal('hostId', 1) }), response: PreviewSchema,
      errors: { 400: 'bad_answer_value', 404: 'not_found', 409: 'secret_undecryptable' },
      handler: async ({ params, query, res }) => {
        res.set('Cache-Control', 'no-store');
        return answers.preview(params.id, query.hostId);
      },
    }),
    defineRoute({
      method: 'delete', path: '/api/v1/images/:id/answer-file', tag: 'images', access: 'technician',
      summary: "Remove the image's answer file and its passwords (restores write none)", params: idParam, response: null, errors: { 404: 'not_found' },
      handler: ({ auth, params }) => answers.remove(auth!.actor, params.id),
    }),
    defineRoute({
      method: 'get', path: '/api/v1/client/answer-file', tag: 'client', access: 'machine',
      summary: "Restore: the answer file (unattend.xml) of the PC this task token belongs to, rendered for its running restore; 404 answer_file_none when the image has none",
      response: { mediaType: 'application/xml' },
      errors: { 403: 'not_a_task_token | task_mismatch', 404: 'task_gone | answer_file_none', 409: 'task_not_running | task_failed | wrong_task_kind | secret_undecryptable (not retried: the passwords must be set again)' },
      handler: async ({ machine, res }) => {
        res.set('Cache-Control', 'no-store');
        return answers.renderFor(machine!);
      },
    }),
  ];
}
