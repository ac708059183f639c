// Errors that reach an API client. Every error has a stable machine code and a sentence a person can act on;
// the API turns them into application/problem+json (RFC 9457).

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  errors?: Array<{ path: string; message: string }> | unknown[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly errors?: ProblemDetails['errors'],
  ) {
    super(detail);
  }

  toProblem(): ProblemDetails {
    return {
      type: `https://roomcast.invalid/problems/${this.code}`,
      title: TITLES[this.status] ?? 'Error',
      status: this.status,
      code: this.code,
      detail: this.message,
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }
}

export const notFound = (what: string, id: string | number) =>
  new AppError(404, 'not_found', `${what} ${JSON.stringify(id)} does not exist`);

export const conflict = (code: string, detail: string) => new AppError(409, code, detail);
