// The engine's error type: every failure that reaches a user carries a stable code and says what to do.

export type HipErrorCode =
  | 'E_USAGE'
  | 'E_MODEL_NOT_FOUND'
  | 'E_CONFIG'
  | 'E_UNSUPPORTED'
  | 'E_SAFETENSORS'
  | 'E_WEIGHTS'
  | 'E_TOKENIZER'
  | 'E_TEMPLATE'
  | 'E_CANCELLED'
  | 'E_ADDON_NOT_FOUND'
  | 'E_INVALID_ARGUMENT'
  | 'E_MODEL_FILE'
  | 'E_OUT_OF_MEMORY'
  | 'E_BACKEND_UNAVAILABLE'
  | 'E_BUSY'
  | 'E_CONTEXT_FULL'
  | 'E_DISPOSED'
  | 'E_SNAPSHOT'
  | 'E_WORKSPACE'
  | 'E_INTERNAL';

export class HipError extends Error {
  readonly code: HipErrorCode;

  constructor(code: HipErrorCode, message: string) {
    super(message);
    this.name = 'HipError';
    this.code = code;
  }
}

/** Wraps anything thrown (including coded errors from the native addon) as a HipError. */
export function toHipError(error: unknown): HipError {
  if (error instanceof HipError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('E_')) return new HipError(code as HipErrorCode, message);
  return new HipError('E_INTERNAL', message);
}
