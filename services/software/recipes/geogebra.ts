// GeoGebra Classic 6 (MSI), per machine.
import type { RecipeInput } from '../recipe.js';

export const geogebra: RecipeInput = {
  installerTechnology: 'msi',
  uploads: [{ name: 'GeoGebra.msi', label: { fr: 'GeoGebra Classic 6, installeur MSI (download.geogebra.org/installers/6.0)', en: 'GeoGebra Classic 6, MSI installer (download.geogebra.org/installers/6.0)' } }],
  toConfirm: [{ fr: 'ALLUSERS=2 sous SYSTEM installe pour tous les utilisateurs ; le nom affiché dans la clé Uninstall', en: 'ALLUSERS=2 as SYSTEM installs for all users; the display name in the Uninstall key' }],
  manifest: {
    id: 'geogebra-classic',
    name: 'GeoGebra Classic 6',
    version: '6.0-1',
    publisher: 'International GeoGebra Institute',
    install: { command: 'msiexec.exe /i GeoGebra.msi ALLUSERS=2 /qn /norestart /l*v "%WINDIR%\\Temp\\roomcast-geogebra.log"', timeoutMinutes: 20 },
    uninstall: { command: 'msiexec.exe /x GeoGebra.msi /qn /norestart', timeoutMinutes: 20 },
    detection: { type: 'uninstall_entry', displayName: 'GeoGebra Classic*', minVersion: '6.0' },
  },
};
