// ArchiWIZARD (Graitec). No public documentation of a silent install or of its licensing was found:
// the technician picks the installer technology (shown by the installer's properties, or by running it
// with /? ; the opsi-setup-detector approach), which sets the standard silent switches. Everything here
// must be confirmed on a real PC, and the floating licence configuration asked of Graitec.
import type { RecipeInput } from '../recipe.js';

const switches = (value: string, fr: string, en: string) => ({ value, label: { fr, en } });

export const archiwizard: RecipeInput = {
  installerTechnology: 'to_detect',
  uploads: [{ name: 'ArchiWIZARD-setup.exe', label: { fr: 'L’installeur d’ArchiWIZARD (fourni par Graitec)', en: 'The ArchiWIZARD installer (from Graitec)' } }],
  toConfirm: [
    { fr: 'la technologie de l’installeur (Inno Setup, NSIS, InstallShield avec MSI) : aucune documentation publique', en: 'the installer technology (Inno Setup, NSIS, InstallShield with MSI): no public documentation' },
    { fr: 'l’installation silencieuse sous SYSTEM, les codes de sortie, le nom affiché dans la clé Uninstall', en: 'the silent install as SYSTEM, the exit codes, the display name in the Uninstall key' },
    { fr: 'la licence flottante (fichier ou registre) : à demander à Graitec ; pas de désinstallation tant qu’elle n’est pas connue', en: 'the floating licence (file or registry): ask Graitec; no uninstall until it is known' },
  ],
  manifest: {
    id: 'archiwizard',
    name: 'ArchiWIZARD',
    version: '2025-1',
    publisher: 'Graitec',
    install: { command: 'ArchiWIZARD-setup.exe {{silentSwitches}}', timeoutMinutes: 90 },
    properties: [
      {
        name: 'silentSwitches', type: 'choice', required: true,
        label: { fr: 'Technologie de l’installeur', en: 'Installer technology' },
        help: { fr: 'À vérifier sur un PC de test avant de déployer', en: 'Check on a test PC before deploying' },
        choices: [
          switches('/VERYSILENT /SUPPRESSMSGBOXES /NORESTART /SP-', 'Inno Setup', 'Inno Setup'),
          switches('/S', 'NSIS', 'NSIS'),
          switches('/s /v"/qn REBOOT=ReallySuppress"', 'InstallShield (avec MSI)', 'InstallShield (with MSI)'),
        ],
      },
    ],
    detection: { type: 'uninstall_entry', displayName: 'ArchiWIZARD*' },
  },
};
