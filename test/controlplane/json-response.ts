/** An HTTP response's status and body: parsed JSON, or the text when it is not JSON (apiserver errors can be plain). */
import type { IncomingMessage } from 'node:http';

export function readJsonResponse(res: IncomingMessage): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (text += d));
    res.on('error', reject);
    res.on('end', () => {
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON: keep the text */
      }
      resolve({ status: res.statusCode ?? 0, body });
    });
  });
}
