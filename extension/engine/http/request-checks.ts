// Checks every request passes before it is routed: a loopback Host and Origin (against DNS rebinding and other
// web pages), the bearer token when one is set, and, for bodies, the content type and a size cap.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError, invalidParam } from './api-error';

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost']);

function forbidden(message: string): ApiError {
  return new ApiError(403, message, 'invalid_request_error', null, 'forbidden');
}

/** 403 unless Host names the loopback address (a DNS-rebinding page sends its own name) and any Origin is local. */
export function checkLoopback(req: IncomingMessage): void {
  const host = req.headers.host ?? '';
  const name = host.replace(/:\d+$/, '').toLowerCase();
  if (!LOOPBACK_NAMES.has(name)) {
    throw forbidden(`the Host header must be 127.0.0.1 or localhost (with the port), got '${host}'`);
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let originName = '';
  try {
    originName = new URL(origin).hostname.toLowerCase();
  } catch {
    // An unparsable origin ("null") is not local.
  }
  if (!LOOPBACK_NAMES.has(originName))
    throw forbidden(`requests from web pages at ${origin} are not allowed`);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** 401 unless `Authorization: Bearer <token>` carries the token (compared in constant time). */
export function checkToken(req: IncomingMessage, token: string): void {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (match && timingSafeEqual(digest(match[1]), digest(token))) return;
  throw new ApiError(
    401,
    match
      ? 'Incorrect API key provided'
      : "You didn't provide an API key: send 'Authorization: Bearer <token>' with the --token the server was started with",
    'invalid_request_error',
    null,
    'invalid_api_key',
    { 'WWW-Authenticate': 'Bearer' },
  );
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(
    413,
    `the request body is over ${maxBytes} bytes`,
    'invalid_request_error',
    null,
    'request_too_large',
  );
}

/** Reads a JSON body: 415 unless Content-Type is application/json, 413 over `maxBytes`, 400 if it does not parse. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(
      415,
      `the request body must be JSON sent with 'Content-Type: application/json', got '${type || 'none'}'`,
      'invalid_request_error',
      null,
      'unsupported_media_type',
    );
  }
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  const body = await new Promise<Buffer>((resolve, reject) => {
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) reject(tooLarge(maxBytes));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw invalidParam(
      'body',
      `the request body is not valid JSON: ${(error as Error).message}`,
      'invalid_json',
    );
  }
}
