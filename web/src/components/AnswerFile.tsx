// An image's Windows answer file (issue 15), for technicians, on the images page: on or off, workgroup
// or domain (OU, join account), the local Administrator (one password for all, or one per PC), region,
// the first-logon command and the template; and a preview of the file a chosen PC would get.
// Passwords are write-only: the page says whether one is stored and offers a field to replace it,
// never the value; the fields are emptied once saved. The preview comes from the server with every
// password shown as ******** (GET /api/v1/images/:id/answer-file/preview).
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { useHosts } from '../api/admin.js';
import { api, call, type Image, type Schemas } from '../api/client.js';
import { useI18n } from '../i18n/react.js';
import { Problem } from './Problem.js';

type View = Schemas['AnswerFile'];
type Preview = Schemas['AnswerFilePreview'];

const answerKey = (imageId: number) => ['images', imageId, 'answer-file'] as const;

/** Whether a password is stored, in words (never the password). */
function SecretState({ set }: { set: boolean }) {
  const { t } = useI18n();
  return <span className="meta" data-testid="secret-state" data-set={set}>{set ? t('ans.secretSet') : t('ans.secretNotSet')}</span>;
}

function AnswerFileForm({ imageId, view }: { imageId: number; view: View }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const uid = useId();
  const [enabled, setEnabled] = useState(view.enabled);
  const [mode, setMode] = useState<'workgroup' | 'domain'>(view.domain ? 'domain' : 'workgroup');
  const [workgroup, setWorkgroup] = useState(view.workgroup ?? 'WORKGROUP');
  const [domain, setDomain] = useState(view.domain?.name ?? '');
  const [ou, setOu] = useState(view.domain?.ou ?? '');
  const [joinUser, setJoinUser] = useState(view.domain?.joinUser ?? '');
  const [joinPassword, setJoinPassword] = useState('');
  const [perPc, setPerPc] = useState(view.adminPasswordPerPc);
  const [adminPassword, setAdminPassword] = useState('');
  const [removeAdmin, setRemoveAdmin] = useState(false);
  const [locale, setLocale] = useState(view.locale);
  const [inputLocale, setInputLocale] = useState(view.inputLocale);
  const [timeZone, setTimeZone] = useState(view.timeZone);
  const [agentCommand, setAgentCommand] = useState(view.agentCommand ?? '');
  const [custom, setCustom] = useState(view.template !== null);
  const [template, setTemplate] = useState(view.template ?? view.defaultTemplate);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const next = await call(
        api.PUT('/api/v1/images/{id}/answer-file', {
          params: { path: { id: String(imageId) } },
          body: {
            enabled,
            template: custom ? template : null,
            ...(mode === 'domain'
              ? { domain: { name: domain.trim(), ou: ou.trim() || null, joinUser: joinUser.trim(), ...(joinPassword ? { joinPassword } : {}) } }
              : { workgroup: workgroup.trim() || null, domain: null }),
            ...(perPc ? {} : removeAdmin ? { adminPassword: null } : adminPassword ? { adminPassword } : {}),
            adminPasswordPerPc: perPc,
            agentCommand: agentCommand.trim() || null,
            locale: locale.trim(),
            inputLocale: inputLocale.trim(),
            timeZone: timeZone.trim(),
          },
        }),
      );
      // The passwords leave the page once sent.
      setJoinPassword('');
      setAdminPassword('');
      setRemoveAdmin(false);
      qc.setQueryData(answerKey(imageId), next);
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="stack" onSubmit={(e) => void submit(e)} aria-label={t('ans.form')}>
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
        {t('ans.enabled')}
      </label>
      <fieldset className="stack">
        <legend>{t('ans.network')}</legend>
        <label className="check">
          <input type="radio" name={`${uid}-mode`} checked={mode === 'workgroup'} onChange={() => setMode('workgroup')} />
          {t('ans.workgroupMode')}
        </label>
        <label className="check">
          <input type="radio" name={`${uid}-mode`} checked={mode === 'domain'} onChange={() => setMode('domain')} />
          {t('ans.domainMode')}
        </label>
        {mode === 'workgroup' ? (
          <label>
            {t('ans.workgroup')}
            <input value={workgroup} maxLength={15} onChange={(e) => setWorkgroup(e.target.value)} />
          </label>
        ) : (
          <>
            <label>
              {t('ans.domain')}
              <input value={domain} required maxLength={253} placeholder="lycee.local" onChange={(e) => setDomain(e.target.value)} />
            </label>
            <label>
              {t('ans.ou')}
              <input value={ou} maxLength={1000} placeholder="OU=B204,OU=Postes,DC=lycee,DC=local" onChange={(e) => setOu(e.target.value)} />
            </label>
            <p className="hint">{t('ans.ouHelp')}</p>
            <label>
              {t('ans.joinUser')}
              <input value={joinUser} required maxLength={256} placeholder="LYCEE\joiner" autoComplete="off" onChange={(e) => setJoinUser(e.target.value)} />
            </label>
            <div>
              <span>{t('ans.joinPasswordState')} </span>
              <SecretState set={view.domain?.joinPassword.set ?? false} />
            </div>
            <label>
              {view.domain?.joinPassword.set ? t('ans.joinPasswordReplace') : t('ans.joinPassword')}
              <input type="password" value={joinPassword} maxLength={256} autoComplete="new-password" required={!view.domain?.joinPassword.set} onChange={(e) => setJoinPassword(e.target.value)} />
            </label>
          </>
        )}
      </fieldset>
      <fieldset className="stack">
        <legend>{t('ans.admin')}</legend>
        <label className="check">
          <input type="checkbox" checked={perPc} onChange={(e) => setPerPc(e.target.checked)} />
          {t('ans.perPc')}
        </label>
        <p className="hint">{t('ans.perPcHelp')}</p>
        <div>
          <span>{perPc ? t('ans.adminPasswordStateFallback') : t('ans.adminPasswordState')} </span>
          <SecretState set={view.adminPassword.set} />
        </div>
        {!perPc && (
          <>
            <label>
              {view.adminPassword.set ? t('ans.adminPasswordReplace') : t('ans.adminPassword')}
              <input type="password" value={adminPassword} maxLength={256} autoComplete="new-password" disabled={removeAdmin} onChange={(e) => setAdminPassword(e.target.value)} />
            </label>
            {view.adminPassword.set && (
              <label className="check">
                <input type="checkbox" checked={removeAdmin} onChange={(e) => setRemoveAdmin(e.target.checked)} />
                {t('ans.adminPasswordRemove')}
              </label>
            )}
          </>
        )}
      </fieldset>
      <fieldset className="stack">
        <legend>{t('ans.region')}</legend>
        <label>
          {t('ans.locale')}
          <input value={locale} required maxLength={10} onChange={(e) => setLocale(e.target.value)} />
        </label>
        <label>
          {t('ans.inputLocale')}
          <input value={inputLocale} required maxLength={200} onChange={(e) => setInputLocale(e.target.value)} />
        </label>
        <label>
          {t('ans.timeZone')}
          <input value={timeZone} required maxLength={64} onChange={(e) => setTimeZone(e.target.value)} />
        </label>
      </fieldset>
      <label>
        {t('ans.agentCommand')}
        <input value={agentCommand} maxLength={1000} onChange={(e) => setAgentCommand(e.target.value)} />
      </label>
      <p className="hint">{t('ans.agentCommandHelp')}</p>
      <label className="check">
        <input type="checkbox" checked={custom} onChange={(e) => setCustom(e.target.checked)} />
        {t('ans.custom')}
      </label>
      {custom && (
        <>
          <label>
            {t('ans.template')}
            <textarea value={template} rows={14} spellCheck={false} className="code" onChange={(e) => setTemplate(e.target.value)} />
          </label>
          <p className="hint">{t('ans.variables', { names: view.variables.map((v) => v.name).join(', ') })}</p>
        </>
      )}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {t('ans.save')}
        </button>
      </div>
      {saved && (
        <p className="notice" role="status">
          {t('ans.saved')}
        </p>
      )}
      {error !== null && <Problem error={error} />}
    </form>
  );
}

/** The file a chosen PC would get, passwords masked by the server. */
function AnswerFilePreview({ imageId }: { imageId: number }) {
  const { t } = useI18n();
  const hosts = useHosts('all');
  const [hostId, setHostId] = useState('');
  const [shown, setShown] = useState<Preview | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!hostId) return;
    setBusy(true);
    setError(null);
    try {
      setShown(await call(api.GET('/api/v1/images/{id}/answer-file/preview', { params: { path: { id: String(imageId) }, query: { hostId } } })));
    } catch (err) {
      setShown(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="stack">
      <p className="meta">{t('ans.previewHelp')}</p>
      <form className="inline" onSubmit={(e) => void submit(e)} aria-label={t('ans.preview')}>
        <label>
          {t('ans.previewPc')}
          <select value={hostId} required onChange={(e) => setHostId(e.target.value)}>
            <option value="">{t('img.choosePc')}</option>
            {(hosts.data ?? []).map((h) => (
              <option key={h.id} value={h.id}>
                {h.room ? `${h.name} (${h.room})` : h.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="secondary" disabled={busy || !hostId}>
          {t('ans.previewBtn')}
        </button>
      </form>
      {shown && (
        <>
          <p className="meta">
            {t('ans.previewOf', { name: shown.hostName })} {shown.masked.length > 0 && t('ans.previewMasked')}
          </p>
          {!shown.enabled && <p className="notice">{t('ans.previewOff')}</p>}
          {shown.masked.includes('perPcAdminPassword') && <p className="meta">{t('ans.previewPerPc')}</p>}
          <pre className="xml-preview" data-testid="answer-preview" tabIndex={0} aria-label={t('ans.previewOf', { name: shown.hostName })}>
            <code>{shown.xml}</code>
          </pre>
        </>
      )}
      {error !== null && <Problem error={error} />}
    </div>
  );
}

/** The answer file section of one image's card: closed until opened, then read from the server. */
export function AnswerFile({ image }: { image: Image }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const view = useQuery({
    queryKey: answerKey(image.id),
    enabled: open,
    queryFn: () => call(api.GET('/api/v1/images/{id}/answer-file', { params: { path: { id: String(image.id) } } })),
  });
  return (
    <details className="answer-file" data-testid="answer-file" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>{t('ans.title')}</summary>
      <div className="stack">
        <p className="meta">{t('ans.help')}</p>
        {view.isPending && open && <p role="status">{t('app.loading')}</p>}
        {view.isError && <Problem error={view.error} />}
        {view.data && (
          <>
            <p data-testid="answer-file-state" data-enabled={view.data.enabled}>
              {view.data.enabled ? t('ans.on') : t('ans.off')}
            </p>
            <AnswerFileForm imageId={image.id} view={view.data} />
            <h3>{t('ans.preview')}</h3>
            <AnswerFilePreview imageId={image.id} />
          </>
        )}
      </div>
    </details>
  );
}
