/**
 * The rules document's shape lives in src/contract/rules.ts (one definition per shape, issue 18);
 * this module re-exports it for the importers that have not moved yet.
 */
export * from '../contract/rules.js';
