/**
 * The response contract every HTTP test checks: the service's own /openapi.json (fetched once per
 * app), compiled with ajv (JSON Schema 2020-12, as OpenAPI 3.1 uses) with every documented object
 * CLOSED — an object schema that does not say otherwise gets `unevaluatedProperties: false`, so a
 * field the document does not name fails. The document the service publishes is not changed: the
 * closing happens here, when compiling. An object that the document itself declares open
 * (`additionalProperties: {}`, e.g. RFC 9457 extension members of a problem) stays open.
 *
 * Checked per response: the operation exists (else the answer must be a problem document), the
 * status is declared for it, the content type is one declared for that status (no body where none
 * is declared), and the body matches the schema; a problem document's `status` equals the HTTP
 * status. A mismatch is one message naming the operation, the status and the JSON pointer of the
 * offending field.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

type Schema = Record<string, unknown>;
interface MediaType {
  schema?: Schema;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId?: string;
  responses?: Record<string, ResponseObject>;
}
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

/** What was answered, as the client saw it. */
export interface Answer {
  method: string;
  /** path with or without the query string */
  path: string;
  status: number;
  contentType: string | null;
  text: string;
}

export class ContractViolation extends Error {
  override name = 'ContractViolation';
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const BASE = 'https://contract.test/';
const COMPONENT_REF = '#/components/schemas/';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

const isObj = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A schema that describes an object with named members (these get closed). */
function describesObject(s: Schema): boolean {
  const t = s.type;
  return 'properties' in s || t === 'object' || (Array.isArray(t) && t.includes('object') && !('additionalProperties' in s));
}

/**
 * Copy `s` with every object closed. `open` = this schema is an allOf branch: its own members are
 * evaluated by the parent, which closes the whole (unevaluatedProperties sees through allOf,
 * anyOf and oneOf, while additionalProperties would reject its siblings' members).
 */
function close(s: unknown, open: boolean): unknown {
  if (Array.isArray(s)) return s.map((x) => close(x, false));
  if (!isObj(s)) return s;
  const out: Schema = {};
  const objectHere = describesObject(s) || Array.isArray(s.allOf);
  for (const [k, v] of Object.entries(s)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith(COMPONENT_REF)) {
      out.$ref = `${BASE}${open ? 'open' : 'closed'}/${encodeURIComponent(v.slice(COMPONENT_REF.length))}`;
    } else if (k === 'properties' || k === 'patternProperties' || k === '$defs' || k === 'dependentSchemas') {
      out[k] = Object.fromEntries(Object.entries(v as Schema).map(([p, x]) => [p, close(x, false)]));
    } else if (k === 'allOf') {
      out[k] = (v as unknown[]).map((x) => close(x, true));
    } else if (k === 'anyOf' || k === 'oneOf') {
      // alternatives under an object that names members itself are evaluated by it as a whole
      out[k] = (v as unknown[]).map((x) => close(x, describesObject(s)));
    } else if (k === 'items' || k === 'additionalProperties' || k === 'unevaluatedProperties' || k === 'not' || k === 'contains' || k === 'propertyNames') {
      out[k] = isObj(v) ? close(v, false) : v;
    } else if (k === 'prefixItems') {
      out[k] = (v as unknown[]).map((x) => close(x, false));
    } else {
      out[k] = v;
    }
  }
  if (!open && objectHere && !('additionalProperties' in s) && !('unevaluatedProperties' in s) && !('patternProperties' in s)) out.unevaluatedProperties = false;
  return out;
}

function templateRegex(template: string): RegExp {
  const src = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${src}$`);
}

function pointer(e: ErrorObject): string {
  const extra = (e.params as Record<string, unknown>).unevaluatedProperty ?? (e.params as Record<string, unknown>).additionalProperty;
  const esc = (x: string) => x.replace(/~/g, '~0').replace(/\//g, '~1');
  const p = typeof extra === 'string' ? `${e.instancePath}/${esc(extra)}` : e.instancePath;
  return p || '/';
}

function describe(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'unevaluatedProperties' || e.keyword === 'additionalProperties') return 'is not in the document (closed object)';
  if (e.keyword === 'required') return `${e.message}`;
  if (e.keyword === 'enum') return `${e.message}: ${JSON.stringify(params.allowedValues)}`;
  return e.message ?? e.keyword;
}

export class Contract {
  private readonly ajv: Ajv2020;
  private readonly ops: { method: string; template: string; regex: RegExp; literal: boolean; op: Operation }[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly problem: ValidateFunction;

  constructor(readonly doc: OpenApiDocument) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
      this.ajv.addSchema({ ...(close(schema, false) as Schema), $id: `${BASE}closed/${encodeURIComponent(name)}` });
      this.ajv.addSchema({ ...(close(schema, true) as Schema), $id: `${BASE}open/${encodeURIComponent(name)}` });
    }
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (METHODS.includes(method)) this.ops.push({ method: method.toUpperCase(), template, regex: templateRegex(template), literal: !template.includes('{'), op });
      }
    }
    // literal paths win over templates (`/v1/supply` before `/v1/supply/{id}`), fewer parameters first
    this.ops.sort((a, b) => Number(b.literal) - Number(a.literal) || a.template.split('{').length - b.template.split('{').length);
    const problem = doc.components?.schemas?.Problem;
    if (!problem) throw new Error('the OpenAPI document has no Problem schema');
    this.problem = this.ajv.getSchema(`${BASE}closed/Problem`)!;
  }

  /** The documented operation for a request, as `METHOD /template`, or undefined. */
  operation(method: string, path: string): { name: string; op: Operation } | undefined {
    const bare = path.split('?')[0]!;
    const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
    const hit = this.ops.find((o) => o.method === m && o.regex.test(bare));
    return hit && { name: `${hit.method} ${hit.template}`, op: hit.op };
  }

  /** Every way the answer departs from the document ([] when it matches). */
  violations(a: Answer): string[] {
    const found = this.operation(a.method, a.path);
    const name = found?.name ?? `${a.method.toUpperCase()} ${a.path.split('?')[0]} (not a documented operation)`;
    const where = `${name} → ${a.status}`;
    const media = (a.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    const head = a.method.toUpperCase() === 'HEAD';

    if (!found) {
      // an undocumented route may only refuse, with a problem document
      if (a.status < 400) return [`${where}: answered ${a.status} for a route the document does not list`];
      return this.checkBody(where, 'application/problem+json', media, a, this.problem);
    }
    const responses = found.op.responses ?? {};
    const declared = responses[String(a.status)] ?? responses[`${String(a.status)[0]}XX`] ?? responses.default;
    if (!declared) return [`${where}: status ${a.status} is not declared for this operation (declared: ${Object.keys(responses).join(', ')})`];
    const content = declared.content ?? {};
    const types = Object.keys(content);
    if (types.length === 0) {
      return a.text.length > 0 && !head ? [`${where}: a body where the document declares none (${media || 'no content type'})`] : [];
    }
    const type = types.find((t) => t.toLowerCase() === media);
    if (!type) return [`${where}: content type ${a.contentType ?? '(none)'} is not declared (declared: ${types.join(', ')})`];
    if (head) return [];
    const schema = content[type]!.schema;
    if (!schema) return [];
    const key = `${name} ${a.status} ${type}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(close(schema, false) as Schema);
      this.compiled.set(key, validate);
    }
    return this.checkBody(where, type, media, a, validate);
  }

  private checkBody(where: string, expected: string, media: string, a: Answer, validate: ValidateFunction): string[] {
    if (media !== expected.toLowerCase()) return [`${where}: content type ${a.contentType ?? '(none)'}, expected ${expected}`];
    if (!/json$/.test(media)) {
      return validate(a.text) ? [] : this.errors(where, validate);
    }
    let body: unknown;
    try {
      body = JSON.parse(a.text);
    } catch {
      return [`${where}: ${media} body is not JSON: ${a.text.slice(0, 120)}`];
    }
    const out = validate(body) ? [] : this.errors(where, validate);
    if (media === 'application/problem+json' && isObj(body) && body.status !== a.status) out.push(`${where}: /status is ${JSON.stringify(body.status)}, the HTTP status is ${a.status}`);
    return out;
  }

  private errors(where: string, validate: ValidateFunction): string[] {
    const errs = (validate.errors ?? []).filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if');
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const e of errs.length ? errs : (validate.errors ?? [])) {
      const line = `${where}: ${pointer(e)} ${describe(e)}`;
      if (!seen.has(line)) lines.push(line), seen.add(line);
    }
    return lines.slice(0, 8);
  }

  /** Throw a ContractViolation when the answer departs from the document. */
  assert(a: Answer, body?: unknown): void {
    const v = this.violations(a);
    if (v.length === 0) return;
    const shown = body === undefined ? a.text : JSON.stringify(body);
    throw new ContractViolation(`response does not match /openapi.json:\n  ${v.join('\n  ')}\n  body: ${shown.length > 600 ? `${shown.slice(0, 600)}…` : shown}`);
  }
}

type Fetchable = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };
const contracts = new WeakMap<object, Promise<Contract>>();

/** The contract of an app (or of any object with `request`), fetched once from its /openapi.json. */
export function contractOf(app: Fetchable): Promise<Contract> {
  let c = contracts.get(app);
  if (!c) {
    c = (async () => {
      const res = await app.request('/openapi.json');
      if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
      return new Contract((await res.json()) as OpenApiDocument);
    })();
    c.catch(() => contracts.delete(app));
    contracts.set(app, c);
  }
  return c;
}

/** Check a Response (read from a clone; the original stays unread) and return it. */
export async function checked(app: Fetchable, method: string, path: string, res: Response): Promise<Response> {
  const text = await res.clone().text();
  (await contractOf(app)).assert({ method, path, status: res.status, contentType: res.headers.get('content-type'), text });
  return res;
}
