// The audit log's codes in words: an action ('user.create') and a target type ('host') have a message
// each (fr-problems.ts / en-problems.ts); test/web/catalogue-families.test.ts checks every action the
// server writes is here. A code a newer server writes is shown as it is.
import type { MessageKey } from '../i18n/index.js';

export const AUDIT_ACTIONS = [
  'auth.login', 'auth.login_failed', 'auth.logout', 'user.create', 'user.update', 'user.delete', 'user.password_change', 'token.create', 'token.delete',
  'room.create', 'room.update', 'room.delete', 'host.create', 'host.update', 'host.delete', 'host.move', 'host.register', 'hosts.import',
  'boot.registration_open', 'boot.registration_close', 'image.create', 'image.gc', 'image.version.capture', 'image.version.recapture',
  'image.version.publish', 'image.version.update', 'image.version.verify', 'image.version.repair', 'image.version.damage', 'image.version.fail',
  'image.version.delete', 'image.answer_file.update', 'image.answer_file.delete', 'host.admin_password.show', 'task.create', 'task.start', 'task.done', 'task.failed', 'task.cancel', 'run.start', 'run.cancel', 'run.pc.cancel',
  'schedule.create', 'schedule.update', 'schedule.delete', 'alert.acknowledge', 'driver_pack.create', 'driver_pack.rule', 'driver_pack.delete',
  'software_package.create', 'software_package.values', 'software_package.delete', 'software_assignment.assign', 'software_assignment.unassign',
  // alerts, written to the log as they are raised
  'boot.identity_mismatch', 'boot.claim_refused', 'boot.token_elsewhere', 'image.version.damaged',
] as const;

export const AUDIT_TARGETS = ['alert', 'api_token', 'driver_pack', 'host', 'image', 'inventory', 'room', 'run', 'schedule', 'setting', 'software_assignment', 'software_package', 'task', 'user'] as const;

const ACTIONS: ReadonlySet<string> = new Set(AUDIT_ACTIONS);
const TARGETS: ReadonlySet<string> = new Set(AUDIT_TARGETS);

export const auditActionKey = (action: string): MessageKey | null => (ACTIONS.has(action) ? (`audit.${action}` as MessageKey) : null);
export const auditTargetKey = (type: string): MessageKey | null => (TARGETS.has(type) ? (`auditTarget.${type}` as MessageKey) : null);
