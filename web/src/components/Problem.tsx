// The error of the inventory, images and system pages: the same sentence as ErrorMessage (one table of
// codes, ../api/problems.ts), without a retry button.
import { ErrorMessage } from './ErrorMessage.js';

export function Problem({ error }: { error: unknown }) {
  return <ErrorMessage error={error} />;
}
