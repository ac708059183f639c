// SOLIDWORKS 2025 from an administrative image made with the SOLIDWORKS Installation Manager (serial
// numbers, products and options are set in the image with sldAdminOptionEditor.exe). StartSWInstall.exe
// hands over to sldIM.exe and exits at once: the agent waits for sldIM.exe. The image is unpacked to
// a short path (the image's path must stay under 58 characters). The SolidNetWork licence servers
// (SERVERLIST, port@host;port@host) are written where the FlexNet client reads them.
import type { RecipeInput } from '../recipe.js';

export const solidworks: RecipeInput = {
  installerTechnology: 'solidworks_admin_image',
  uploads: [
    {
      name: 'swadmin.zip',
      label: {
        fr: 'L’image administrative zippée (StartSWInstall.exe à la racine du zip), faite avec l’Installation Manager et réglée avec l’Admin Image Option Editor (numéros de série, produits)',
        en: 'The administrative image, zipped (StartSWInstall.exe at the root of the zip), made with the Installation Manager and set with the Admin Image Option Editor (serial numbers, products)',
      },
    },
  ],
  toConfirm: [
    { fr: 'StartSWInstall.exe /install /now installe sans question sous SYSTEM et sldIM.exe est le seul processus à attendre', en: 'StartSWInstall.exe /install /now installs without a question as SYSTEM and sldIM.exe is the only process to wait for' },
    { fr: 'la valeur SW_D_LICENSE_FILE de HKLM\\SOFTWARE\\FLEXlm License Manager est celle que SOLIDWORKS lit pour SERVERLIST (sinon la régler dans l’image)', en: 'the value SW_D_LICENSE_FILE of HKLM\\SOFTWARE\\FLEXlm License Manager is the one SOLIDWORKS reads for SERVERLIST (else set it in the image)' },
    { fr: 'le nom affiché et la version dans la clé Uninstall, et le dossier %SystemDrive%\\SWADMIN à effacer après l’installation', en: 'the display name and version in the Uninstall key, and the %SystemDrive%\\SWADMIN folder to remove after the install' },
  ],
  manifest: {
    id: 'solidworks-2025',
    name: 'SOLIDWORKS 2025',
    version: '2025.0-1',
    publisher: 'Dassault Systèmes SolidWorks Corp.',
    install: {
      command:
        'cmd.exe /d /s /c "mkdir %SystemDrive%\\SWADMIN 2>nul & tar -xf swadmin.zip -C %SystemDrive%\\SWADMIN && reg add "HKLM\\SOFTWARE\\FLEXlm License Manager" /v SW_D_LICENSE_FILE /t REG_SZ /d "{{SERVERLIST}}" /f && %SystemDrive%\\SWADMIN\\StartSWInstall.exe /install /now"',
      timeoutMinutes: 240,
      waitForProcesses: ['sldIM.exe'],
    },
    uninstall: { command: '%SystemDrive%\\SWADMIN\\StartSWInstall.exe /uninstall /now', timeoutMinutes: 120 },
    properties: [
      {
        name: 'SERVERLIST', type: 'string', required: true, pattern: '\\d{1,5}@[A-Za-z0-9.-]+(;\\d{1,5}@[A-Za-z0-9.-]+)*',
        label: { fr: 'Serveurs SolidNetWork (port@hôte, séparés par ;)', en: 'SolidNetWork servers (port@host, separated by ;)' },
        help: { fr: 'Par exemple 25734@licences.lycee.local, sans ; à la fin', en: 'For example 25734@licences.lycee.local, no trailing ;' },
      },
    ],
    detection: {
      type: 'all',
      rules: [
        { type: 'uninstall_entry', displayName: 'SOLIDWORKS 2025*' },
        { type: 'file_version', path: '%ProgramFiles%\\SOLIDWORKS Corp\\SOLIDWORKS\\SLDWORKS.exe', minVersion: '33' },
      ],
    },
  },
};
