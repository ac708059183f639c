// LabVIEW 2025 Q3 with NI Package Manager: NIPM is installed silently first, then nipkg installs
// LabVIEW from an offline feed (the NI offline installer's contents, zipped). NI computer-based
// licences follow the Windows computer name: install after the PC has its final name (the identity
// step), and let the NI Volume License Manager hand out the licence.
import type { RecipeInput } from '../recipe.js';

export const labview: RecipeInput = {
  installerTechnology: 'ni_package_manager',
  uploads: [
    { name: 'NIPackageManager.exe', label: { fr: 'L’installeur de NI Package Manager (site de NI)', en: 'The NI Package Manager installer (NI site)' } },
    {
      name: 'labview-feed.zip',
      label: {
        fr: 'Le contenu de l’installeur hors ligne de LabVIEW (ISO ou dossier téléchargé), zippé : le flux nipkg à la racine du zip',
        en: 'The contents of the LabVIEW offline installer (ISO or downloaded folder), zipped: the nipkg feed at the root of the zip',
      },
    },
  ],
  toConfirm: [
    { fr: 'le dossier du flux hors ligne dans l’ISO de NI (celui que nipkg feed-add prend) et le nom exact du paquet LabVIEW', en: 'the offline feed folder inside NI’s ISO (the one nipkg feed-add takes) and the exact LabVIEW package name' },
    { fr: 'les codes -125071 et -126300 (un redémarrage est attendu) sur un vrai PC', en: 'exit codes -125071 and -126300 (a reboot is pending) on a real PC' },
    { fr: 'la licence : le PC a son nom définitif avant le premier lancement ; l’activation par le Volume License Manager', en: 'licensing: the PC has its final name before the first start; activation by the Volume License Manager' },
  ],
  manifest: {
    id: 'labview-2025',
    name: 'LabVIEW 2025 Q3',
    version: '25.3-1',
    publisher: 'National Instruments',
    install: {
      command:
        'cmd.exe /d /s /c "NIPackageManager.exe --passive --accept-eulas --prevent-reboot && mkdir %SystemDrive%\\NIFEED 2>nul & tar -xf labview-feed.zip -C %SystemDrive%\\NIFEED && "%ProgramFiles%\\National Instruments\\NI Package Manager\\nipkg.exe" feed-add --name=roomcast-labview %SystemDrive%\\NIFEED && "%ProgramFiles%\\National Instruments\\NI Package Manager\\nipkg.exe" feed-update && "%ProgramFiles%\\National Instruments\\NI Package Manager\\nipkg.exe" install --accept-eulas --prevent-reboot -y {{packages}}"',
      timeoutMinutes: 240,
    },
    uninstall: { command: '"%ProgramFiles%\\National Instruments\\NI Package Manager\\nipkg.exe" remove --accept-eulas -y {{packages}}', timeoutMinutes: 120 },
    properties: [
      {
        name: 'packages', type: 'string', default: 'ni-labview-2025-core-en', pattern: '[a-z0-9.-]+( [a-z0-9.-]+)*',
        label: { fr: 'Paquets NI (séparés par des espaces)', en: 'NI packages (separated by spaces)' },
        help: { fr: 'Par exemple ni-labview-2025-core-en ni-daqmx', en: 'For example ni-labview-2025-core-en ni-daqmx' },
      },
    ],
    detection: { type: 'file_version', path: '%ProgramFiles%\\National Instruments\\LabVIEW 2025\\LabVIEW.exe', minVersion: '25' },
    exitCodes: [
      { code: -125071, outcome: 'reboot_required', meaning: { fr: 'installé ; NI demande un redémarrage (à confirmer)', en: 'installed; NI asks for a reboot (to be confirmed)' } },
      { code: -126300, outcome: 'reboot_required', meaning: { fr: 'installé ; NI demande un redémarrage (à confirmer)', en: 'installed; NI asks for a reboot (to be confirmed)' } },
    ],
  },
};
