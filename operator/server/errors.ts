// The one catalogue of coded errors the REST API returns, as { error: { code, message, statusCode } }.
export const ERRORS = {
  ROUTE_NOT_FOUND: { statusCode: 404, message: 'no such route' },
  JOB_NOT_FOUND: { statusCode: 404, message: 'no such SimCLRJob' },
  PREVIEW_NOT_FOUND: { statusCode: 404, message: 'no augmentation grid read from rank 0 yet' },
  BAD_REQUEST: { statusCode: 400, message: 'invalid request' },
  UNAUTHENTICATED: { statusCode: 401, message: 'a valid bearer token is required' },
  FORBIDDEN: { statusCode: 403, message: 'not allowed' },
  AUTH_UNAVAILABLE: { statusCode: 503, message: 'could not check the token with the apiserver' },
  NOT_READY: { statusCode: 503, message: 'caches not synced yet' },
  DASHBOARD_NOT_BUILT: { statusCode: 503, message: 'the dashboard is not built into this operator: run `make build`' },
  INTERNAL: { statusCode: 500, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  readonly statusCode: number;

  constructor(readonly code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail === undefined ? ERRORS[code].message : `${ERRORS[code].message}: ${detail}`, options);
    this.statusCode = ERRORS[code].statusCode;
  }

  toJSON(): { error: { code: ErrorCode; message: string; statusCode: number } } {
    return { error: { code: this.code, message: this.message, statusCode: this.statusCode } };
  }
}

/** JSON schema of the error body, shared by every route's responses. */
export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'statusCode'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS) },
        message: { type: 'string' },
        statusCode: { type: 'integer' },
      },
    },
  },
} as const;
