// A table that scrolls sideways on a narrow screen: the scrolling region is focusable and named, so a
// keyboard user can scroll it too (axe: scrollable-region-focusable).
import type { ReactNode } from 'react';

export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
