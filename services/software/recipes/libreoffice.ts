// LibreOffice 25.8 (MSI), after the SambaEdu production recipe.
import type { RecipeInput } from '../recipe.js';

export const libreoffice: RecipeInput = {
  installerTechnology: 'msi',
  uploads: [{ name: 'LibreOffice_Win_x86-64.msi', label: { fr: 'LibreOffice 25.8 pour Windows x86-64 (MSI, libreoffice.org)', en: 'LibreOffice 25.8 for Windows x86-64 (MSI, libreoffice.org)' } }],
  toConfirm: [{ fr: 'le nom affiché et la version dans la clé Uninstall après une installation silencieuse', en: 'the display name and version in the Uninstall key after a silent install' }],
  manifest: {
    id: 'libreoffice',
    name: 'LibreOffice',
    version: '25.8-1',
    publisher: 'The Document Foundation',
    install: {
      command:
        'msiexec.exe /i LibreOffice_Win_x86-64.msi /qn /norestart /l*v "%WINDIR%\\Temp\\roomcast-libreoffice.log" ALLUSERS=1 ADDLOCAL=ALL CREATEDESKTOPLINK={{desktopShortcut}} ISCHECKFORPRODUCTUPDATES=0 RebootYesNo=No REGISTER_ALL_MSO_TYPES={{openMsOffice}}',
      timeoutMinutes: 30,
    },
    uninstall: { command: 'msiexec.exe /x LibreOffice_Win_x86-64.msi /qn /norestart', timeoutMinutes: 30 },
    properties: [
      { name: 'desktopShortcut', type: 'boolean', default: true, label: { fr: 'Raccourci sur le bureau', en: 'Desktop shortcut' } },
      { name: 'openMsOffice', type: 'boolean', default: false, label: { fr: 'Ouvrir les documents Microsoft Office avec LibreOffice', en: 'Open Microsoft Office documents with LibreOffice' } },
    ],
    detection: { type: 'uninstall_entry', displayName: 'LibreOffice*', minVersion: '25.8' },
  },
};
