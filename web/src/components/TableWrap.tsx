// A table that scrolls sideways on a narrow screen: the scrolling region is focusable and named, so a
// keyboard user can scroll it too (axe: scrollable-region-focusable). With `cards`, a phone shows each row
// as a card instead, every cell after its column's name (the cells' data-label; styles.css).
import type { ReactNode } from 'react';

export function TableWrap({ label, cards = false, children }: { label: string; cards?: boolean; children: ReactNode }) {
  return (
    <div className={cards ? 'table-wrap cards' : 'table-wrap'} role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
