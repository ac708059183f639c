// The one table from a server problem code (the `code` of application/problem+json, services/core/errors.ts)
// to the catalogue message that says it to a person: what happened and what to do. Every code the server
// can answer has an entry (test/web/problems-table.test.ts reads the server's source and checks). A code
// not in it (a newer server) is said by its HTTP status.
import type { MessageKey } from '../i18n/index.js';
import { ApiError, NetworkError } from './client.js';

export const PROBLEM_CODES = [
  // sessions, accounts, tokens
  'unauthenticated', 'invalid_credentials', 'too_many_attempts', 'csrf_failed', 'forbidden', 'password_change_required', 'weak_password',
  'wrong_password', 'username_taken', 'last_admin', 'cannot_delete_self', 'role_too_high', 'invalid_token', 'rate_limited',
  // requests
  'not_found', 'validation_failed', 'bad_json', 'bad_request', 'unsupported_media_type', 'payload_too_large', 'internal_error',
  // inventory, rooms, plan, registration
  'bad_mac', 'bad_ip', 'bad_subnet', 'name_empty', 'name_too_long', 'name_invalid', 'duplicate_mac', 'duplicate_name', 'duplicate_host',
  'duplicate_room', 'room_not_empty', 'unknown_room', 'unknown_host', 'import_rejected', 'cell_taken', 'plan_incomplete', 'plan_needs_room',
  'registration_closed', 'alert_acknowledged',
  // images and versions
  'bad_image_name', 'duplicate_image', 'unknown_image', 'unknown_version', 'image_required', 'image_gone', 'no_ready_version', 'version_not_ready',
  'version_damaged', 'version_in_use', 'version_capturing', 'insufficient_storage', 'store_unavailable', 'one_host_per_capture',
  'bad_answer_template', 'bad_answer_value', 'answer_file_none', 'secret_undecryptable', 'admin_password_none',
  // runs, schedules, tasks
  'in_another_run', 'not_in_room', 'empty_room', 'wake_not_configured', 'bad_steps', 'bad_options', 'bad_cron', 'bad_window', 'bad_time_zone',
  'window_over', 'once_too_far', 'run_running', 'nothing_to_retry', 'run_finished', 'run_pc_finished', 'run_pc_busy', 'unknown_kind',
  'task_finished', 'image_not_generalized',
  // network pre-flight
  'preflight_no_worker', 'preflight_failed',
  // the PCs' boot and imaging client (a person meets them in a task's or an alert's story)
  'mac_mismatch', 'token_elsewhere', 'not_a_task_token', 'task_gone', 'task_mismatch', 'task_failed', 'task_not_running', 'wrong_task_kind',
  'task_claimed', 'not_this_pc', 'host_gone', 'client_missing', 'bad_result', 'no_capture', 'capture_committed', 'capture_cancelled',
  'bad_manifest', 'manifest_missing', 'manifest_mismatch', 'bad_chunk', 'bad_hash', 'bad_digest', 'hash_mismatch',
  'chunk_too_large', 'chunk_not_expected', 'bad_chunk_list', 'chunk_size_changed', 'chunk_not_found', 'chunk_missing', 'chunks_missing', 'chunks_checking',
  // driver packs
  'driver_pack_name_taken', 'driver_pack_not_uploading', 'upload_offset_mismatch', 'upload_past_end', 'upload_incomplete', 'bad_content_range',
  'driver_pack_hash_mismatch', 'driver_pack_not_tar', 'driver_pack_unsafe_path', 'driver_pack_bad_entry', 'driver_pack_no_inf', 'driver_pack_not_yours',
  'driver_pack_missing',
  // software packages
  'software_package_exists', 'package_dependency_missing', 'package_dependency_cycle', 'software_values_invalid', 'software_file_complete',
  'software_file_hash_mismatch', 'software_file_incomplete', 'software_file_missing', 'not_a_host_token',
  // software assignments
  'software_dependency_unassigned', 'software_version_unknown', 'software_exclude_not_host', 'software_package_assigned',
] as const;

export type ProblemCode = (typeof PROBLEM_CODES)[number];

/** code → catalogue key (fr-problems.ts / en-problems.ts). */
export const PROBLEMS: Readonly<Record<ProblemCode, MessageKey>> = Object.fromEntries(PROBLEM_CODES.map((c) => [c, `problem.${c}`])) as Record<ProblemCode, MessageKey>;

export const isProblemCode = (code: string): code is ProblemCode => Object.hasOwn(PROBLEMS, code);

/** The message of a code the server gave (in an answer, a task's details, a run's reason), if known. */
export const problemKey = (code: string | null | undefined): MessageKey | null => (code && isProblemCode(code) ? PROBLEMS[code] : null);

/** Which message tells a person what went wrong, and its parameters. */
export function problemMessage(err: unknown): { key: MessageKey; params?: Record<string, string | number> } {
  if (err instanceof NetworkError || err instanceof TypeError) return { key: 'error.network' };
  if (err instanceof ApiError) {
    const known = problemKey(err.code);
    if (known) return { key: known };
    if (err.status === 401) return { key: PROBLEMS.unauthenticated };
    if (err.status === 403) return { key: PROBLEMS.forbidden };
    if (err.status === 404) return { key: PROBLEMS.not_found };
    if (err.status === 413) return { key: PROBLEMS.payload_too_large };
    if (err.status === 429) return { key: PROBLEMS.rate_limited };
    if (err.status >= 500) return { key: 'error.server' };
    return { key: 'error.unknown', params: { status: err.status } };
  }
  return { key: 'error.server' };
}
