// MATLAB R2025b with the MATLAB Package Manager (mpm), offline, on a network licence.
// mpm installs and does not license: the network licence file network.lic is made from the licence
// server's host and port and copied into <matlabroot>\licenses.
import type { RecipeInput } from '../recipe.js';

export const matlab: RecipeInput = {
  installerTechnology: 'mpm',
  uploads: [
    { name: 'mpm.exe', label: { fr: 'mpm.exe pour Windows (site de MathWorks, « Get MATLAB Package Manager »)', en: 'mpm.exe for Windows (MathWorks site, "Get MATLAB Package Manager")' } },
    {
      name: 'matlab-source.zip',
      label: {
        fr: 'Le dossier fait par « mpm download --release=R2025b --destination=matlab-source --products MATLAB … » sur un PC relié à Internet, zippé (le dossier matlab-source à la racine du zip)',
        en: 'The folder made by "mpm download --release=R2025b --destination=matlab-source --products MATLAB …" on a PC with Internet access, zipped (the folder matlab-source at the root of the zip)',
      },
    },
  ],
  templates: [{ name: 'network.lic', lines: ['SERVER {{licenceHost}} ANY {{licencePort}}', 'USE_SERVER'] }],
  toConfirm: [
    { fr: 'mpm install --source accepte le dossier fait par mpm download et installe sans Internet', en: 'mpm install --source takes the folder made by mpm download and installs without Internet access' },
    { fr: 'le dossier licenses existe après l’installation (sinon la copie de network.lic échoue) et MATLAB prend la licence réseau au premier lancement', en: 'the licenses folder exists after the install (else copying network.lic fails) and MATLAB takes the network licence on first start' },
    { fr: 'la version de fichier de matlab.exe (25.2 attendu) et la désinstallation par mpm uninstall', en: 'the file version of matlab.exe (25.2 expected) and the uninstall with mpm uninstall' },
  ],
  manifest: {
    id: 'matlab-r2025b',
    name: 'MATLAB R2025b',
    version: '25.2-1',
    publisher: 'The MathWorks, Inc.',
    install: {
      command:
        'cmd.exe /d /s /c "tar -xf matlab-source.zip && mpm.exe install --source="%CD%\\matlab-source" --destination="%ProgramFiles%\\MATLAB\\R2025b" --products {{products}} && copy /y network.lic "%ProgramFiles%\\MATLAB\\R2025b\\licenses\\network.lic""',
      timeoutMinutes: 240,
    },
    uninstall: { command: 'mpm.exe uninstall --destination="%ProgramFiles%\\MATLAB\\R2025b" --products {{products}}', timeoutMinutes: 120 },
    properties: [
      {
        name: 'licenceHost', type: 'string', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9.-]*',
        label: { fr: 'Serveur de licences MATLAB (nom ou adresse)', en: 'MATLAB licence server (name or address)' },
        help: { fr: 'Par exemple licences.lycee.local', en: 'For example licences.lycee.local' },
      },
      { name: 'licencePort', type: 'number', integer: true, min: 1, max: 65535, default: 27000, label: { fr: 'Port du serveur de licences', en: 'Licence server port' } },
      {
        name: 'products', type: 'string', default: 'MATLAB', pattern: '[A-Za-z0-9_-]+( [A-Za-z0-9_-]+)*',
        label: { fr: 'Produits (séparés par des espaces)', en: 'Products (separated by spaces)' },
        help: { fr: 'Par exemple MATLAB Simulink Control_System_Toolbox : ceux téléchargés dans matlab-source.zip', en: 'For example MATLAB Simulink Control_System_Toolbox: those downloaded into matlab-source.zip' },
      },
    ],
    detection: {
      type: 'all',
      rules: [
        { type: 'file_version', path: '%ProgramFiles%\\MATLAB\\R2025b\\bin\\matlab.exe' },
        { type: 'file_version', path: '%ProgramFiles%\\MATLAB\\R2025b\\licenses\\network.lic' },
      ],
    },
  },
};
