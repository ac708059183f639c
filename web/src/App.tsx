// The routes of the web UI, the query client and the session guard.
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter, Navigate, Outlet, Route, Routes } from 'react-router';
import { setUnauthenticatedHandler } from './api/client.js';
import { ErrorMessage } from './components/ErrorMessage.js';
import { Layout } from './components/Layout.js';
import { PageGuard } from './components/PageGuard.js';
import { I18nProvider, useI18n } from './i18n/react.js';
import { InventoryPage } from './pages/InventoryPage.js';
import { PcPage } from './pages/PcPage.js';
import { ImagesPage } from './pages/ImagesPage.js';
import { SystemPage } from './pages/SystemPage.js';
import { LoginPage } from './pages/LoginPage.js';
import { NotFoundPage } from './pages/NotFoundPage.js';
import { PasswordPage } from './pages/PasswordPage.js';
import { RoomPage } from './pages/RoomPage.js';
import { RoomsPage } from './pages/RoomsPage.js';
import { RunPage } from './pages/RunPage.js';
import { RunsPage } from './pages/RunsPage.js';
import { sessionEnded, useSession } from './session.js';

const queryClient = new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: true, staleTime: 5_000 } } });
setUnauthenticatedHandler(() => sessionEnded(queryClient));

/** Pages behind the login: to the login page when logged out, to the password page when it must change. */
function RequireSession({ passwordPage = false }: { passwordPage?: boolean }) {
  const { t } = useI18n();
  const session = useSession();
  if (session.isPending) return <p className="loading" role="status">{t('app.loading')}</p>;
  if (session.isError) return <ErrorMessage error={session.error} onRetry={() => void session.refetch()} />;
  if (!session.data) return <Navigate to="/login" replace />;
  const must = session.data.user.mustChangePassword;
  if (must && !passwordPage) return <Navigate to="/password" replace />;
  if (!must && passwordPage) return <Navigate to="/rooms" replace />;
  return <Outlet />;
}

export function App() {
  return (
    <I18nProvider>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <Layout>
            <PageGuard>
              <Routes>
                <Route path="/login" element={<LoginPage />} />
                <Route element={<RequireSession passwordPage />}>
                  <Route path="/password" element={<PasswordPage />} />
                </Route>
                <Route element={<RequireSession />}>
                  <Route path="/" element={<Navigate to="/rooms" replace />} />
                  <Route path="/rooms" element={<RoomsPage />} />
                  <Route path="/rooms/:id" element={<RoomPage />} />
                  <Route path="/runs" element={<RunsPage />} />
                  <Route path="/runs/:id" element={<RunPage />} />
                  <Route path="/inventory" element={<InventoryPage />} />
                  <Route path="/pcs/:id" element={<PcPage />} />
                  <Route path="/images" element={<ImagesPage />} />
                  <Route path="/system" element={<SystemPage />} />
                  <Route path="*" element={<NotFoundPage />} />
                </Route>
              </Routes>
            </PageGuard>
          </Layout>
        </BrowserRouter>
      </QueryClientProvider>
    </I18nProvider>
  );
}
