// English messages of the driver packs section of the Images page (spread into en.ts; same keys as fr-drivers.ts).
import type { frDrivers } from './fr-drivers.js';
import type { Message } from './index.js';

export const enDrivers: Record<keyof typeof frDrivers, Message> = {
  'drv.title': 'Driver packs',
  'drv.help':
    'A driver pack is a tar or tar.gz archive of the extracted drivers (.inf) of one PC model (tar -czf pack.tgz -C folder .). At each restore, a PC gets the pack of its vendor and model (as the PC reports them: see its page); * in the model stands for any characters.',
  'drv.empty': 'No driver pack yet.',
  'drv.name': 'Name',
  'drv.vendor': 'Vendor',
  'drv.model': 'Model',
  'drv.size': 'Size',
  'drv.state': 'State',
  'drv.files': 'Files',
  'drv.error': 'Error',
  'drv.actions': 'Actions',
  'drv.state.uploading': 'uploading ({percent} %)',
  'drv.state.ready': 'ready',
  'drv.state.damaged': 'damaged',
  'drv.add': 'Add a driver pack',
  'drv.archive': 'Archive (.tar, .tgz, .tar.gz)',
  'drv.send': 'Upload the pack',
  'drv.hashing': 'Computing the SHA-256 of {file}: {percent} %',
  'drv.uploading': 'Uploading {file}: {done} of {total} ({percent} %)',
  'drv.retrying': 'Connection lost: resuming the upload where the appliance stopped (attempt {attempt})…',
  'drv.ready': { one: 'Pack "{name}" ready: {count} file.', other: 'Pack "{name}" ready: {count} files.' },
  'drv.resume': 'Resume the upload of {name}',
  'drv.resumeWrongFile': "This file is not this pack's archive (its size or SHA-256 differs): choose the same file as when the upload began.",
  'drv.delete': 'Delete {name}',
  'drv.deleteConfirm': 'Delete the driver pack "{name}" and its files? PCs of this model will no longer get it at their next restore.',
  'drv.deleteBtn': 'Delete',
  'drv.deleted': 'Pack "{name}" deleted.',
};
