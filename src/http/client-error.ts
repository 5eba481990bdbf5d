/**
 * Requests Node's HTTP parser rejects before the app sees them (a malformed request line or
 * header, a bad Content-Length, headers too large) get the same RFC 9457 problem+json as every
 * other error instead of Node's bare `400 Bad Request`, with a generated X-Request-Id like every
 * other response, then the connection is closed (the byte stream can no longer be trusted).
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { PROBLEM_BASE } from './problem.js';
import { REQUEST_ID_HEADER } from './request-id.js';

interface ClientErrorSource {
  on(event: 'clientError', listener: (err: Error & { code?: string }, socket: Duplex) => void): unknown;
}

export function answerMalformedRequests(server: ClientErrorSource): void {
  server.on('clientError', (err, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason, code, title] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'headers-too-large', 'Request headers too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'request-timeout', 'The request was not received in time']
          : [400, 'Bad Request', 'bad-request', 'Malformed HTTP request'];
    const body = JSON.stringify({ type: PROBLEM_BASE + code, title, status, code, detail: 'the request could not be parsed as HTTP/1.1' });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${REQUEST_ID_HEADER}: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
