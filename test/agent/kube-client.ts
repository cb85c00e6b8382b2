// TEST INFRASTRUCTURE. The few apiserver calls the test node agent makes: JSON requests with the kubeconfig's
// credentials, and a watch (client-node's Watch) that is restarted when it ends.
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { readJsonResponse } from '../controlplane/json-response.js';

export interface KubeResponse {
  status: number;
  body: any;
}

export class KubeClient {
  private constructor(readonly kc: KubeConfig, private readonly server: string) {}

  static fromFile(kubeconfigPath: string): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new Error(`kubeconfig ${kubeconfigPath}: the current context has no cluster server`);
    return new KubeClient(kc, server);
  }

  /** One request; resolves for every HTTP status (callers check it), rejects on transport errors. */
  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
    const opts: RequestOptions = { method, headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data !== undefined) {
      opts.headers = { ...opts.headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) };
    }
    return new Promise((resolve, reject) => {
      const req = httpsRequest(new URL(path, this.server), opts, (res) => {
        readJsonResponse(res).then(resolve, reject);
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
  }

  /** Like request, but throws unless the status is one of `ok`. */
  async expect(ok: number[], method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
    const r = await this.request(method, path, body, contentType);
    if (!ok.includes(r.status)) {
      throw new Error(`${method} ${path}: HTTP ${r.status} ${typeof r.body === 'string' ? r.body : r.body?.message ?? ''}`);
    }
    return r.body;
  }

  /** Watches `path` until stop(); every event goes to onEvent. A watch that ends is reopened after a short pause
   * (without a resourceVersion, so it starts with the current objects as ADDED events, as a fresh list would). */
  watch(path: string, params: Record<string, string>, onEvent: (type: string, obj: any) => void): { stop(): void } {
    const w = new Watch(this.kc);
    let stopped = false;
    let abort: AbortController | undefined;
    const open = (): void => {
      if (stopped) return;
      w.watch(path, params, onEvent, () => {
        if (!stopped) setTimeout(open, 500).unref();
      }).then((a) => {
        abort = a;
        if (stopped) a.abort();
      }, () => {
        if (!stopped) setTimeout(open, 1000).unref();
      });
    };
    open();
    return {
      stop: () => {
        stopped = true;
        abort?.abort();
      },
    };
  }
}
