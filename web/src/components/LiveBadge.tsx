// Whether a page is live: "live" only once the server accepted its subscription (socket.io ack), "not
// live" when it refused it (no such room or run), "connecting" or "interrupted" meanwhile.
import type { LiveStatus } from '../api/live.js';
import { useLiveConnected } from '../api/useLive.js';
import { useI18n } from '../i18n/react.js';

export function LiveBadge({ status }: { status: LiveStatus }) {
  const { t } = useI18n();
  const connected = useLiveConnected();
  const live = connected && status === 'live';
  const text = live ? t('live.on') : status === 'refused' ? t('live.off') : connected ? t('live.connecting') : t('live.down');
  return (
    <span className="live" data-testid="live" data-connected={live} data-status={live ? 'live' : status === 'refused' ? 'refused' : connected ? 'pending' : 'down'}>
      {live ? '●' : '○'} {text}
    </span>
  );
}
