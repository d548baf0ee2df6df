import http from 'node:http';

export interface ReportAnswer {
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | undefined;
}

/**
 * A viewer's report (POST /api/v1/reports, no account) sent from the loopback address `from`
 * (127.0.0.x): each address is a distinct source to the gateway's rate limit and independent-report count.
 */
export function postReport(port: number, from: string, body: Record<string, unknown>): Promise<ReportAnswer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/reports',
        method: 'POST',
        localAddress: from,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
            retryAfter: res.headers['retry-after'] as string | undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
