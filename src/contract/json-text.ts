/**
 * JSON text known to be the serialisation of a `T` (a brand: the type says which shape the bytes
 * are). An answer that is stored as text and sent as those same bytes — a reservation's first
 * answer, its replays — travels as `JsonText<T>`, so it is serialised once and the HTTP layer can
 * still check it against the route's declared response type.
 */
export type JsonText<T> = string & { readonly __jsonOf?: T };

/** Serialise `value` (the one place a `JsonText` is made from a value). */
export function jsonText<T>(value: T): JsonText<T> {
  return JSON.stringify(value) as JsonText<T>;
}
