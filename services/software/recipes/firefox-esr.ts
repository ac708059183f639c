// Firefox ESR 140 (MSI). Firefox's MSI is a wrapper that registers no product of its own: detection
// reads the Uninstall entry the real installer writes, and the uninstall runs Firefox's own uninstaller.
import type { RecipeInput } from '../recipe.js';

const onOff = [
  { value: 'true', label: { fr: 'Oui', en: 'Yes' } },
  { value: 'false', label: { fr: 'Non', en: 'No' } },
];

export const firefoxEsr: RecipeInput = {
  installerTechnology: 'msi',
  uploads: [{ name: 'Firefox.msi', label: { fr: 'Firefox ESR 140 pour Windows 64 bits en français (MSI, mozilla.org)', en: 'Firefox ESR 140 for 64-bit Windows in French (MSI, mozilla.org)' } }],
  toConfirm: [{ fr: 'le nom affiché (Mozilla Firefox … ESR) et la version dans la clé Uninstall', en: 'the display name (Mozilla Firefox … ESR) and the version in the Uninstall key' }],
  manifest: {
    id: 'firefox-esr',
    name: 'Firefox ESR',
    version: '140-1',
    publisher: 'Mozilla',
    install: {
      command: 'msiexec.exe /i Firefox.msi /qn /norestart DESKTOP_SHORTCUT={{desktopShortcut}} TASKBAR_SHORTCUT=false INSTALL_MAINTENANCE_SERVICE=false PREVENT_REBOOT_REQUIRED=true',
      timeoutMinutes: 20,
    },
    uninstall: { command: '"%ProgramFiles%\\Mozilla Firefox\\uninstall\\helper.exe" /S', timeoutMinutes: 20 },
    properties: [{ name: 'desktopShortcut', type: 'choice', default: 'true', choices: onOff, label: { fr: 'Raccourci sur le bureau', en: 'Desktop shortcut' } }],
    detection: {
      type: 'any',
      rules: [
        { type: 'uninstall_entry', displayName: 'Mozilla Firefox*ESR*', minVersion: '140' },
        { type: 'file_version', path: '%ProgramFiles%\\Mozilla Firefox\\firefox.exe', minVersion: '140' },
      ],
    },
  },
};
