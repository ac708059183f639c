// The morning report by e-mail (nodemailer over SMTP), when ROOMCAST_SMTP_URL and ROOMCAST_REPORT_TO
// are set: short, French by default, what needs a person first (report-html.ts reportText), the
// printable page attached as HTML. The SMTP URL may hold a password: it is never logged (only its host).
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from '../core/logger.js';
import { reportHtml, reportText } from './report-html.js';
import type { Lang, RunReport } from './report.js';

export interface MailSettings {
  /** smtp://user:password@host:port or smtps://… */
  smtpUrl: string;
  from: string;
  to: string[];
  lang: Lang;
}

export class ReportMailer {
  private readonly transport: Transporter;
  readonly host: string;

  constructor(
    private readonly settings: MailSettings,
    private readonly log: Logger,
  ) {
    this.transport = nodemailer.createTransport(settings.smtpUrl);
    this.host = new URL(settings.smtpUrl).host;
  }

  /** Sends one run's report; throws with a message that names the SMTP host, never its password. */
  async send(report: RunReport): Promise<void> {
    const { subject, text } = reportText(report, this.settings.lang);
    try {
      await this.transport.sendMail({ from: this.settings.from, to: this.settings.to, subject, text, html: reportHtml(report, this.settings.lang) });
    } catch (err) {
      throw new Error(`could not send the report of run ${report.run.id} through ${this.host}: ${(err as Error).message.replace(this.settings.smtpUrl, this.host)}`);
    }
    this.log.info({ run: report.run.id, to: this.settings.to, smtp: this.host }, 'run report e-mailed');
  }

  /** A short notice (a scheduled run that did not start): plain text, same recipients; the password never logged. */
  async notice(subject: string, text: string): Promise<void> {
    try {
      await this.transport.sendMail({ from: this.settings.from, to: this.settings.to, subject, text });
    } catch (err) {
      throw new Error(`could not send "${subject}" through ${this.host}: ${(err as Error).message.replace(this.settings.smtpUrl, this.host)}`);
    }
    this.log.info({ subject, to: this.settings.to, smtp: this.host }, 'notice e-mailed');
  }

  close(): void {
    this.transport.close();
  }
}
