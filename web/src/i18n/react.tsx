// The language as React state: useI18n() gives t(), the current language and its setter.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { formatDateTime, formatDuration, formatRelative, storeLang, storedLang, translate, type Lang, type MessageKey, type Params } from './index.js';

export interface I18n {
  lang: Lang;
  setLang(lang: Lang): void;
  t(key: MessageKey, params?: Params): string;
  dateTime(iso: string): string;
  relative(iso: string): string;
  duration(seconds: number): string;
}

const I18nContext = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(storedLang);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const setLang = useCallback((l: Lang) => {
    storeLang(l);
    setLangState(l);
  }, []);
  const value = useMemo<I18n>(
    () => ({
      lang,
      setLang,
      t: (key, params) => translate(lang, key, params),
      dateTime: (iso) => formatDateTime(lang, iso),
      relative: (iso) => formatRelative(lang, iso),
      duration: (s) => formatDuration(lang, s),
    }),
    [lang, setLang],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const v = useContext(I18nContext);
  if (!v) throw new Error('useI18n outside I18nProvider');
  return v;
}

/** Sets the document's title to "<page> — roomcast" while the page is shown. */
export function useTitle(page: string | undefined): void {
  useEffect(() => {
    document.title = page ? `${page} — roomcast` : 'roomcast';
  }, [page]);
}
