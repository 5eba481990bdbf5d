/** The routes an app serves, as `METHOD /path/{param}` (middleware entries excluded), sorted. */
export function servedRoutes(app: { routes: { method: string; path: string }[] }): string[] {
  return [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`))].sort();
}
