// The system page's accounts (admin): users (create with a one-time password, change role: chosen, then
// applied and confirmed; disable or enable) and API tokens (create: the secret shown once; revoke with a
// confirmation).
import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { adminKeys, useTokens, useUsers, type Role } from '../api/admin.js';
import { api, call } from '../api/client.js';
import { useI18n } from '../i18n/react.js';
import { Confirm } from './Confirm.js';
import { Problem } from './Problem.js';
import { TableWrap } from './TableWrap.js';

const ROLES: Role[] = ['viewer', 'technician', 'admin'];

function RoleSelect({ value, onChange, label }: { value: Role; onChange: (r: Role) => void; label?: string }) {
  const { t } = useI18n();
  return (
    <select value={value} onChange={(e) => onChange(e.target.value as Role)} aria-label={label}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {t(`role.${r}`)}
        </option>
      ))}
    </select>
  );
}

export function Users() {
  const { t, relative } = useI18n();
  const qc = useQueryClient();
  const users = useUsers();
  const [error, setError] = useState<unknown>(null);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('technician');
  const [created, setCreated] = useState<string | null>(null);
  // Roles chosen in the table, not yet applied (by user id); the one being confirmed.
  const [drafts, setDrafts] = useState<Record<number, Role>>({});
  const [changing, setChanging] = useState<{ id: number; name: string; from: Role; to: Role } | null>(null);
  const [busy, setBusy] = useState(false);

  const patch = async (id: number, body: { role?: Role; disabled?: boolean }) => {
    setError(null);
    setBusy(true);
    try {
      await call(api.PATCH('/api/v1/users/{id}', { params: { path: { id: String(id) } }, body }));
      if (body.role) setDrafts(({ [id]: _, ...rest }) => rest);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setChanging(null);
    }
    await qc.invalidateQueries({ queryKey: adminKeys.users });
  };
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const u = await call(api.POST('/api/v1/users', { body: { username: username.trim(), role, password } }));
      setCreated(u.username);
      setUsername('');
      setPassword('');
      await qc.invalidateQueries({ queryKey: adminKeys.users });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">{t('sys.users')}</h2>
      {users.isError && <Problem error={users.error} />}
      {users.data && (
        <TableWrap label={t('sys.users')} cards>
          <table data-testid="users">
            <thead>
              <tr>
                <th scope="col">{t('sys.username')}</th>
                <th scope="col">{t('sys.role')}</th>
                <th scope="col">{t('sys.status')}</th>
                <th scope="col">{t('pc.lastSeen')}</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => {
                const draft = drafts[u.id] ?? u.role;
                return (
                  <tr key={u.id}>
                    <td data-label={t('sys.username')}>{u.username}</td>
                    <td data-label={t('sys.role')}>
                      <div className="inline">
                        <RoleSelect value={draft} label={t('sys.roleOf', { name: u.username })} onChange={(r) => setDrafts((d) => ({ ...d, [u.id]: r }))} />
                        <button
                          type="button"
                          className="secondary"
                          disabled={draft === u.role || busy}
                          aria-label={t('sys.roleApplyFor', { name: u.username })}
                          onClick={() => setChanging({ id: u.id, name: u.username, from: u.role, to: draft })}
                        >
                          {t('sys.roleApply')}
                        </button>
                      </div>
                    </td>
                    <td data-label={t('sys.status')}>
                      <span>{u.disabled ? t('sys.disabled') : t('sys.active')}</span>{' '}
                      <button type="button" className="secondary" onClick={() => void patch(u.id, { disabled: !u.disabled })}>
                        {u.disabled ? t('sys.enable', { name: u.username }) : t('sys.disable', { name: u.username })}
                      </button>
                    </td>
                    <td data-label={t('pc.lastSeen')}>{u.lastLoginAt ? relative(u.lastLoginAt) : t('common.none')}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableWrap>
      )}
      {changing && (
        <Confirm
          text={t('sys.roleConfirm', { name: changing.name, from: t(`role.${changing.from}`), to: t(`role.${changing.to}`) })}
          action={t('sys.roleConfirmAction', { name: changing.name })}
          busy={busy}
          onConfirm={() => void patch(changing.id, { role: changing.to })}
          onCancel={() => setChanging(null)}
        />
      )}
      <h3>{t('sys.newUser')}</h3>
      <form className="stack" onSubmit={(e) => void create(e)} aria-label={t('sys.newUser')}>
        <label>
          {t('sys.username')}
          <input value={username} onChange={(e) => setUsername(e.target.value)} required maxLength={64} autoComplete="off" />
        </label>
        <label>
          {t('sys.role')}
          <RoleSelect value={role} onChange={setRole} />
        </label>
        <label>
          {t('sys.password')}
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={10} autoComplete="new-password" />
        </label>
        <p className="hint">{t('sys.passwordHelp')}</p>
        <div className="actions">
          <button type="submit">{t('sys.create')}</button>
        </div>
      </form>
      {created && (
        <p className="notice" role="status">
          {t('sys.userCreated', { name: created })}
        </p>
      )}
      {error !== null && <Problem error={error} />}
    </section>
  );
}

export function Tokens() {
  const { t, dateTime } = useI18n();
  const qc = useQueryClient();
  const tokens = useTokens();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [secret, setSecret] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<{ id: number; name: string } | null>(null);
  const [error, setError] = useState<unknown>(null);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await call(api.POST('/api/v1/tokens', { body: { name: name.trim(), role } }));
      setSecret({ name: r.name, token: r.token });
      setName('');
      await qc.invalidateQueries({ queryKey: adminKeys.tokens });
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (id: number) => {
    setError(null);
    try {
      await call(api.DELETE('/api/v1/tokens/{id}', { params: { path: { id: String(id) } } }));
      setRevoking(null);
      setSecret(null);
      await qc.invalidateQueries({ queryKey: adminKeys.tokens });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">{t('sys.tokens')}</h2>
      {tokens.isError && <Problem error={tokens.error} />}
      {tokens.data?.length === 0 && <p>{t('sys.noTokens')}</p>}
      {tokens.data && tokens.data.length > 0 && (
        <TableWrap label={t('sys.tokens')} cards>
          <table data-testid="tokens">
            <thead>
              <tr>
                <th scope="col">{t('sys.tokenName')}</th>
                <th scope="col">{t('sys.role')}</th>
                <th scope="col">{t('sys.tokenOwner')}</th>
                <th scope="col">{t('sys.tokenExpires')}</th>
                <th scope="col">{t('pc.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((k) => (
                <tr key={k.id}>
                  <td data-label={t('sys.tokenName')}>
                    {k.name} <span className="meta">({k.prefix}…)</span>
                  </td>
                  <td data-label={t('sys.role')}>{t(`role.${k.role}`)}</td>
                  <td data-label={t('sys.tokenOwner')}>{k.owner}</td>
                  <td data-label={t('sys.tokenExpires')}>{k.expiresAt ? dateTime(k.expiresAt) : t('sys.never')}</td>
                  <td data-label={t('pc.actions')}>
                    <button type="button" className="secondary" onClick={() => setRevoking({ id: k.id, name: k.name })}>
                      {t('sys.revoke', { name: k.name })}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {revoking && (
        <Confirm
          text={t('sys.revokeConfirm', { name: revoking.name })}
          action={t('sys.revoke', { name: revoking.name })}
          onConfirm={() => void revoke(revoking.id)}
          onCancel={() => setRevoking(null)}
        />
      )}
      <h3>{t('sys.newToken')}</h3>
      <form className="stack" onSubmit={(e) => void create(e)} aria-label={t('sys.newToken')}>
        <label>
          {t('sys.tokenName')}
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={64} autoComplete="off" />
        </label>
        <label>
          {t('sys.role')}
          <RoleSelect value={role} onChange={setRole} />
        </label>
        <div className="actions">
          <button type="submit">{t('sys.newToken')}</button>
        </div>
      </form>
      {secret && (
        <div className="notice stack" role="status" data-testid="token-secret">
          <p>{t('sys.tokenSecret')}</p>
          <label>
            {t('sys.tokenSecretLabel', { name: secret.name })}
            <input readOnly value={secret.token} className="secret" onFocus={(e) => e.target.select()} />
          </label>
        </div>
      )}
      {error !== null && <Problem error={error} />}
    </section>
  );
}
