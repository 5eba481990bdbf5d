/**
 * 405 Method Not Allowed for a path the app serves with other methods. The methods are derived
 * from the router's own registered routes (`app.routes`), never from a hand-kept list, so a new
 * route is covered the moment it is registered. HEAD is allowed wherever GET is (Hono answers
 * HEAD with the GET handler, without the body).
 */
import { TrieRouter } from 'hono/router/trie-router';

interface RouteInfo {
  method: string;
  path: string;
}

/**
 * A lookup from a request path to the methods the app serves there (empty: no route has that
 * path, a plain 404). Built on first use, after every route is registered.
 */
export function allowedMethods(app: { routes: readonly RouteInfo[] }): (path: string) => string[] {
  let router: TrieRouter<string> | undefined;
  const build = () => {
    const r = new TrieRouter<string>();
    // every route under the wildcard method, carrying its real method: one match lists them all
    for (const { method, path } of app.routes) if (method !== 'ALL') r.add('ALL', path, method);
    return r;
  };
  return (path) => {
    router ??= build();
    const methods = new Set(router.match('GET', path)[0].map(([method]) => method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}
