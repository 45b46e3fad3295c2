// OpenAI-style HTTP errors: a status, an `{error: {message, type, param, code}}` body, and the HipError mapping.
import { toHipError } from '../errors';

export type ApiErrorType =
  'invalid_request_error' | 'authentication_error' | 'rate_limit_error' | 'server_error';

/** The JSON body of every error response, as the OpenAI API sends it. */
export interface ErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/** An error that becomes one HTTP response. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Extra response headers (Allow, Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 about one request field. */
export function invalidParam(param: string, message: string, code: string | null = null): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

/** Seconds a client told "queue full" should wait before trying again. */
export const RETRY_AFTER_SECONDS = 1;

/** Any error thrown while serving a request, as the response it should give. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const e = toHipError(error);
  switch (e.code) {
    case 'E_CONTEXT_FULL':
      return new ApiError(400, e.message, 'invalid_request_error', 'messages', 'context_length_exceeded');
    case 'E_INVALID_ARGUMENT':
    case 'E_TEMPLATE':
      return new ApiError(400, e.message, 'invalid_request_error', null, 'invalid_request');
    case 'E_BUSY':
      return new ApiError(429, e.message, 'rate_limit_error', null, 'rate_limit_exceeded', {
        'Retry-After': String(RETRY_AFTER_SECONDS),
      });
    case 'E_CANCELLED':
      return new ApiError(503, e.message, 'server_error', null, 'cancelled');
    default:
      return new ApiError(500, `[${e.code}] ${e.message}`, 'server_error', null, 'internal_error');
  }
}
