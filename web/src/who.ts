// Who did something, in words: the server names a person by their username, and the rest by a code
// ('schedule:3', 'machine:02:…', 'token:name (user)', 'system', 'cli'), which the UI never shows raw.
import { useI18n } from './i18n/react.js';

export function useWho(): (name: string) => string {
  const { t } = useI18n();
  return (name) => {
    const [kind, rest] = [name.slice(0, name.indexOf(':')), name.slice(name.indexOf(':') + 1)];
    if (kind === 'schedule') return t('who.schedule', { id: rest });
    if (kind === 'machine') return t('who.machine', { mac: rest });
    if (kind === 'token') return t('who.token', { name: rest });
    if (name === 'system') return t('who.system');
    if (name === 'cli') return t('who.cli');
    return name;
  };
}
