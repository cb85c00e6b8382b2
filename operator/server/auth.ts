// Bearer-token authentication and authorization through the apiserver, as kube-rbac-proxy does it: TokenReview
// says who the token belongs to, SubjectAccessReview whether that user may get/list simclrjobs (or GET a
// non-resource path such as /metrics). Results are cached briefly so a dashboard does not hammer the apiserver.
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, PLURAL } from '../api/schema.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export type Access =
  | { kind: 'resource'; verb: 'get' | 'list' | 'watch'; namespace?: string; name?: string;
    /** Another resource than simclrjobs (e.g. core pods); default simclrjobs.simclr.dev. */
    resource?: { group: string; resource: string } }
  | { kind: 'path'; path: string };

export interface Authenticator {
  /** The user of a token, or undefined when the token is not valid. Throws when the apiserver cannot be asked. */
  authenticate(token: string): Promise<UserInfo | undefined>;
  authorize(user: UserInfo, access: Access): Promise<boolean>;
}

class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();

  constructor(private readonly ttlMs: number, private readonly max = 1000) {}

  async get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.expires > Date.now()) return hit.value;
    const value = await load();
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs });
    return value;
  }
}

export class KubeAuthenticator implements Authenticator {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly tokens: TtlCache<UserInfo | undefined>;
  private readonly decisions: TtlCache<boolean>;

  /** `audience`: accept only tokens minted for it (`kubectl create token <sa> --audience <it>`), so a token meant for
   * the apiserver or another service cannot be replayed here; undefined accepts the apiserver's own audience. */
  constructor(kc: KubeConfig, private readonly audience?: string, cacheMs = 10_000) {
    this.authn = kc.makeApiClient(AuthenticationV1Api);
    this.authz = kc.makeApiClient(AuthorizationV1Api);
    this.tokens = new TtlCache(cacheMs);
    this.decisions = new TtlCache(cacheMs);
  }

  authenticate(token: string): Promise<UserInfo | undefined> {
    return this.tokens.get(token, async () => {
      const review = await this.authn.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview',
          spec: { token, ...(this.audience !== undefined && { audiences: [this.audience] }) } },
      });
      const s = review.status;
      if (s?.authenticated !== true || s.user?.username === undefined) return undefined;
      // The apiserver answers with the audiences the token is valid for; it must include ours.
      if (this.audience !== undefined && !(s.audiences ?? []).includes(this.audience)) return undefined;
      return { username: s.user.username, uid: s.user.uid, groups: s.user.groups ?? [] };
    });
  }

  authorize(user: UserInfo, access: Access): Promise<boolean> {
    return this.decisions.get(JSON.stringify([user, access]), async () => {
      const spec = {
        user: user.username,
        uid: user.uid,
        groups: user.groups,
        ...(access.kind === 'path'
          ? { nonResourceAttributes: { path: access.path, verb: 'get' } }
          : { resourceAttributes: { group: access.resource?.group ?? GROUP, resource: access.resource?.resource ?? PLURAL,
              verb: access.verb, namespace: access.namespace, name: access.name } }),
      };
      const review = await this.authz.createSubjectAccessReview({
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
      });
      return review.status?.allowed === true;
    });
  }
}
