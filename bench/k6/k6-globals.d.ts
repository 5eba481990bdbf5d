// The k6 runtime provides `console` (log/info/warn/error/debug), but
// @types/k6 leaves it to lib "dom", which would also admit browser-only
// globals (fetch, window, ...) that k6 does not have. Declare just this.
export {};

declare global {
    interface Console {
        log(...args: unknown[]): void;
        info(...args: unknown[]): void;
        warn(...args: unknown[]): void;
        error(...args: unknown[]): void;
        debug(...args: unknown[]): void;
    }
    var console: Console;
}
