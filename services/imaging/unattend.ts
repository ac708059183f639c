// Windows answer files (unattend.xml), rendered per PC from an image's handlebars template (issue 15).
// The boot client writes the result to Windows/Panther/unattend.xml on the restored disk, where Windows
// setup reads it at the first start of a generalized (sysprepped) image: the specialize pass (name,
// domain or workgroup, time zone) then the oobeSystem pass (locale, OOBE pages hidden, the local
// Administrator, the first-logon command that starts the roomcast agent).
//
// Rules:
// - Handlebars with strict: true and no HTML escaping: every value is XML-escaped here before it goes
//   in (Handlebars' HTML escaping also leaves out characters XML cannot hold at all, such as U+0001).
// - A template may use only ANSWER_VARIABLES (checked at save time by rendering it with sample values in
//   both shapes: workgroup and domain), helpers only `if`, `unless`, `with` and `each`, and must render
//   to well-formed XML whose root is the unattend element of urn:schemas-microsoft-com:unattend.
// - The default template (DEFAULT_TEMPLATE) is the one an image with answer files on and no template of
//   its own gets. SkipMachineOOBE and SkipUserOOBE are deprecated since Windows 8 and left out.
import Handlebars from 'handlebars';
import { AppError } from '../core/errors.js';
import { parseXml, xmlEscape, XmlError, type XmlElement } from './xml.js';

export const UNATTEND_NS = 'urn:schemas-microsoft-com:unattend';

/** The values a template is rendered with (all strings, XML-escaped; domain null in a workgroup). */
export interface AnswerValues {
  computerName: string;
  workgroup: string | null;
  domain: { name: string; ou: string | null; joinUser: string; joinPassword: string } | null;
  locale: string;
  inputLocale: string;
  timeZone: string;
  adminPassword: string | null;
  agentCommand: string | null;
}

/** What a template may use, as the API lists it. */
export const ANSWER_VARIABLES: Array<{ name: string; meaning: string }> = [
  { name: 'computerName', meaning: "the PC's name in the inventory (as typed; Windows upper-cases it)" },
  { name: 'workgroup', meaning: 'the workgroup to join (null when the PC joins a domain)' },
  { name: 'domain', meaning: 'null, or the domain to join: domain.name, domain.ou (null: the default container), domain.joinUser, domain.joinPassword' },
  { name: 'locale', meaning: 'UI, system and user locale, e.g. fr-FR' },
  { name: 'inputLocale', meaning: 'keyboard, e.g. 040c:0000040c (French AZERTY)' },
  { name: 'timeZone', meaning: 'Windows time zone name, e.g. Romance Standard Time' },
  { name: 'adminPassword', meaning: 'the local Administrator password (null: none set by the answer file)' },
  { name: 'agentCommand', meaning: 'the command run at the first logon that starts the roomcast agent (null: none)' },
];

const REGION = { locale: 'fr-FR', inputLocale: '040c:0000040c', timeZone: 'Romance Standard Time' } as const;
export const ANSWER_DEFAULTS = { ...REGION, workgroup: 'WORKGROUP' } as const;

const COMPONENT = (name: string) =>
  `<component name="${name}" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`;
const INTERNATIONAL = `    ${COMPONENT('Microsoft-Windows-International-Core')}
      <InputLocale>{{inputLocale}}</InputLocale>
      <SystemLocale>{{locale}}</SystemLocale>
      <UILanguage>{{locale}}</UILanguage>
      <UserLocale>{{locale}}</UserLocale>
    </component>`;

export const DEFAULT_TEMPLATE = `<?xml version="1.0" encoding="utf-8"?>
<!-- roomcast: rendered for {{computerName}} -->
<unattend xmlns="${UNATTEND_NS}">
  <settings pass="specialize">
    ${COMPONENT('Microsoft-Windows-Shell-Setup')}
      <ComputerName>{{computerName}}</ComputerName>
      <TimeZone>{{timeZone}}</TimeZone>
    </component>
${INTERNATIONAL}
    ${COMPONENT('Microsoft-Windows-UnattendedJoin')}
      <Identification>
{{#if domain}}
        <Credentials>
          <Domain>{{domain.name}}</Domain>
          <Username>{{domain.joinUser}}</Username>
          <Password>{{domain.joinPassword}}</Password>
        </Credentials>
        <JoinDomain>{{domain.name}}</JoinDomain>
{{#if domain.ou}}
        <MachineObjectOU>{{domain.ou}}</MachineObjectOU>
{{/if}}
{{else}}
        <JoinWorkgroup>{{workgroup}}</JoinWorkgroup>
{{/if}}
      </Identification>
    </component>
  </settings>
  <settings pass="oobeSystem">
${INTERNATIONAL}
    ${COMPONENT('Microsoft-Windows-Shell-Setup')}
      <TimeZone>{{timeZone}}</TimeZone>
      <OOBE>
        <HideEULAPage>true</HideEULAPage>
        <HideOEMRegistrationScreen>true</HideOEMRegistrationScreen>
        <HideOnlineAccountScreens>true</HideOnlineAccountScreens>
        <HideWirelessSetupInOOBE>true</HideWirelessSetupInOOBE>
{{#if adminPassword}}
        <HideLocalAccountScreen>true</HideLocalAccountScreen>
{{/if}}
        <ProtectYourPC>3</ProtectYourPC>
      </OOBE>
{{#if adminPassword}}
      <UserAccounts>
        <AdministratorPassword>
          <Value>{{adminPassword}}</Value>
          <PlainText>true</PlainText>
        </AdministratorPassword>
      </UserAccounts>
{{#if agentCommand}}
      <AutoLogon>
        <Username>Administrator</Username>
        <Password>
          <Value>{{adminPassword}}</Value>
          <PlainText>true</PlainText>
        </Password>
        <Enabled>true</Enabled>
        <LogonCount>1</LogonCount>
      </AutoLogon>
{{/if}}
{{/if}}
{{#if agentCommand}}
      <FirstLogonCommands>
        <SynchronousCommand wcm:action="add">
          <Order>1</Order>
          <CommandLine>{{agentCommand}}</CommandLine>
          <Description>roomcast agent</Description>
        </SynchronousCommand>
      </FirstLogonCommands>
{{/if}}
    </component>
  </settings>
</unattend>
`;

/** Sample values a template is checked with at save time, in both shapes (workgroup, domain with an OU). */
export const SAMPLE_VALUES: AnswerValues[] = [
  { computerName: 'B204-PC01', workgroup: 'WORKGROUP', domain: null, ...REGION, adminPassword: 'S<ample>&"pw\'', agentCommand: 'C:\\roomcast\\agent.cmd "a&b"' },
  {
    computerName: 'B204-PC01',
    workgroup: null,
    domain: { name: 'lycee.local', ou: 'OU=B204,OU=Postes,DC=lycee,DC=local', joinUser: 'LYCEE\\joiner', joinPassword: 'p<&>"\'w' },
    ...REGION,
    adminPassword: null,
    agentCommand: null,
  },
];

const ALLOWED_HELPERS = new Set(['if', 'unless', 'with', 'each']);

/** The XML-escaped copy of the values (what a template sees). */
function escaped(v: AnswerValues): Record<string, unknown> {
  const e = (s: string | null) => (s === null ? null : xmlEscape(s));
  return {
    computerName: e(v.computerName),
    workgroup: e(v.workgroup),
    domain: v.domain && { name: e(v.domain.name), ou: e(v.domain.ou), joinUser: e(v.domain.joinUser), joinPassword: e(v.domain.joinPassword) },
    locale: e(v.locale),
    inputLocale: e(v.inputLocale),
    timeZone: e(v.timeZone),
    adminPassword: e(v.adminPassword),
    agentCommand: e(v.agentCommand),
  };
}

const bad = (message: string) => new AppError(400, 'bad_answer_template', message);

/** Compiles a template (strict); 400 bad_answer_template when it does not parse or uses a helper it may not. */
function compile(template: string): Handlebars.TemplateDelegate {
  const env = Handlebars.create();
  let ast: hbs.AST.Program;
  try {
    ast = env.parse(template);
  } catch (err) {
    throw bad(`the template is not valid handlebars: ${(err as Error).message.split('\n')[0]}`);
  }
  const helpers: string[] = [];
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as { type?: string; path?: { original?: string }; params?: unknown[] };
    if ((n.type === 'BlockStatement' || (n.type === 'MustacheStatement' && n.params?.length)) && n.path?.original) helpers.push(n.path.original);
    if (n.type === 'PartialStatement' || n.type === 'PartialBlockStatement' || n.type === 'DecoratorBlock' || n.type === 'Decorator') helpers.push('>partial');
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) v.forEach(visit);
      else visit(v);
    }
  };
  visit(ast);
  const unknown = [...new Set(helpers.filter((h) => !ALLOWED_HELPERS.has(h)))];
  if (unknown.length) throw bad(`the template uses ${unknown.join(', ')}: only {{#if}}, {{#unless}}, {{#with}} and {{#each}} blocks and the variables ${ANSWER_VARIABLES.map((v) => v.name).join(', ')} are allowed`);
  return env.compile(template, { strict: true, noEscape: true, knownHelpersOnly: true, knownHelpers: { if: true, unless: true, with: true, each: true } });
}

/** Renders a compiled template; errors name the unknown variable or the XML problem. */
function renderWith(fn: Handlebars.TemplateDelegate, values: AnswerValues): { xml: string; root: XmlElement } {
  let xml: string;
  try {
    xml = fn(escaped(values));
  } catch (err) {
    if (err instanceof XmlError) throw new AppError(400, 'bad_answer_value', `a value cannot go into an answer file: ${err.message}`);
    const m = /"([^"]+)" not defined/.exec((err as Error).message);
    throw bad(m ? `the template uses "${m[1]}", which is not a variable of answer files; use one of ${ANSWER_VARIABLES.map((v) => v.name).join(', ')}` : `the template does not render: ${(err as Error).message}`);
  }
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    throw bad(`the rendered answer file is not well-formed XML: ${(err as Error).message}`);
  }
  if (root.local !== 'unattend' || root.ns !== UNATTEND_NS) throw bad(`the root element must be <unattend xmlns="${UNATTEND_NS}">, not <${root.name}>`);
  return { xml, root };
}

/** Checks a template at save time: compiles, renders with the sample values in both shapes, is well-formed XML. */
export function checkTemplate(template: string): void {
  const fn = compile(template);
  for (const sample of SAMPLE_VALUES) renderWith(fn, sample);
}

/** The answer file of one PC. */
export function renderAnswerFile(template: string | null, values: AnswerValues): string {
  return renderWith(compile(template ?? DEFAULT_TEMPLATE), values).xml;
}
