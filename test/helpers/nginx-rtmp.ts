import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Debian's nginx with libnginx-mod-rtmp, started for a test on loopback with a generated config: an RTMP
 * application whose notify callbacks point at a running modgate, and the rtmp_control location.
 */

export const NGINX = process.env.MODGATE_TEST_NGINX ?? '/usr/sbin/nginx';
export const RTMP_MODULE = process.env.MODGATE_TEST_NGINX_RTMP_MODULE ?? '/usr/lib/nginx/modules/ngx_rtmp_module.so';

/** Why nginx-rtmp tests cannot run here, or null when they can. */
export function nginxRtmpMissing(): string | null {
  if (!existsSync(NGINX)) return `no nginx at ${NGINX} (apt-get install nginx, or set MODGATE_TEST_NGINX)`;
  if (!existsSync(RTMP_MODULE)) return `no nginx-rtmp module at ${RTMP_MODULE} (apt-get install libnginx-mod-rtmp)`;
  return null;
}

/** A port the OS says is free now (the tiny race until nginx binds it is acceptable in tests). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface NginxRtmpOptions {
  dir: string;
  /** The hook URL (with its ?secret=) for on_publish, on_update and on_publish_done. */
  hookUrl: string;
  /** notify_update_timeout, e.g. `2s` (nginx's default is 30s). */
  updateTimeout?: string;
  app?: string;
  /** The control port, when the caller must know it before nginx starts (default: a free one). */
  controlPort?: number;
  /** Further applications without any notify callback (a baseline beside the moderated one). */
  extraApps?: string[];
}

export interface NginxRtmp {
  rtmpPort: number;
  controlPort: number;
  proc: ChildProcess;
  /** The application block's lines, as the README tells an operator to add them. */
  config: string;
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * The one nginx.conf template of the tests and benchmarks (scripts/bench/nginx-rtmp.ts, hooks.ts). With
 * `hooks` the application is moderated by modgate (its notify callbacks) and an http block serves
 * rtmp_control; without, it is a bare `live on` application (the relay benchmark's baseline).
 */
export function nginxConfig(o: {
  dir: string;
  rtmpPort: number;
  app: string;
  hooks?: { hookUrl: string; updateTimeout: string; controlPort: number };
  extraApps?: string[];
  logLevel?: 'info' | 'warn';
  workerConnections?: number;
}): string {
  const d = o.dir;
  const h = o.hooks;
  const app = h
    ? `    application ${o.app} {
      live on;
      # A new player (modgate's sampler too) starts at a keyframe, video first: with audio ahead of the
      # first video frame, ffmpeg's quick probe finds no video stream and the sampler cannot start.
      wait_key on;
      wait_video on;
      # modgate: the publish gate, the periodic re-check, and the end of a publish.
      on_publish ${h.hookUrl};
      on_update ${h.hookUrl};
      on_publish_done ${h.hookUrl};
      notify_update_timeout ${h.updateTimeout};
      notify_method post;
    }
`
    : `    application ${o.app} {
      live on;
    }
`;
  const rtmp = `load_module ${RTMP_MODULE};
daemon off;
master_process off;
worker_processes 1;
error_log ${d}/error.log ${o.logLevel ?? 'info'};
pid ${d}/nginx.pid;
events { worker_connections ${o.workerConnections ?? 512}; }
rtmp {
  server {
    listen 127.0.0.1:${o.rtmpPort};
    chunk_size 4096;
${app}${(o.extraApps ?? []).map((a) => `    application ${a} { live on; }\n`).join('')}  }
}
`;
  if (!h) return rtmp;
  return `${rtmp}http {
  access_log off;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  server {
    listen 127.0.0.1:${h.controlPort};
    location /control { rtmp_control all; }
  }
}
`;
}

async function waitPort(port: number, proc: ChildProcess, timeoutMs: number, errorLog: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited (${proc.exitCode}): ${errorLog().slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within ${timeoutMs} ms: ${errorLog().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startNginxRtmp(o: NginxRtmpOptions): Promise<NginxRtmp> {
  mkdirSync(o.dir, { recursive: true });
  const rtmpPort = await freePort();
  const controlPort = o.controlPort ?? (await freePort());
  const config = nginxConfig({
    dir: o.dir,
    rtmpPort,
    hooks: { hookUrl: o.hookUrl, updateTimeout: o.updateTimeout ?? '30s', controlPort },
    app: o.app ?? 'live',
    ...(o.extraApps ? { extraApps: o.extraApps } : {}),
  });
  const file = path.join(o.dir, 'nginx.conf');
  writeFileSync(file, config);
  const proc = spawn(NGINX, ['-p', o.dir, '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  const errorLog = () => {
    try {
      return stderr + readFileSync(path.join(o.dir, 'error.log'), 'utf8');
    } catch {
      return stderr;
    }
  };
  await waitPort(rtmpPort, proc, 15_000, errorLog);
  await waitPort(controlPort, proc, 15_000, errorLog);
  return {
    rtmpPort,
    controlPort,
    proc,
    config,
    errorLog,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * A TCP forwarder in front of nginx's control port that a test can switch to refusing connections:
 * "the control call is lost" without touching nginx.
 */
export async function controlProxy(targetPort: () => number): Promise<{ port: number; block(on: boolean): void; close(): Promise<void>; connections: number }> {
  let blocked = false;
  const state = { connections: 0 };
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    state.connections++;
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort(), '127.0.0.1');
    open.add(client);
    client.once('close', () => open.delete(client));
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    block(on) {
      blocked = on;
      // Kept-alive connections from before would still carry calls: a blocked control port has none.
      if (on) for (const c of open) c.destroy();
    },
    get connections() {
      return state.connections;
    },
    close: () => {
      for (const c of open) c.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
