/**
 * `npm run ha:down`: stop every process `npm run ha:up` started (by the pids in its state file,
 * $TMPDIR/atp-ha/state.json) and remove its temporary directory (ATP_HA_KEEP=1 keeps it).
 * Exits 1 if something could not be stopped.
 */
import { readState } from './lib.js';
import { stopAll } from './stop.js';

const state = readState();
if (!state) {
  console.log('ha:down: nothing to stop (no state file)');
} else {
  const t0 = Date.now();
  try {
    await stopAll(state);
    console.log(`ha:down: stopped ${state.procs.length} processes, removed ${state.baseDir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(`ha:down: ${(e as Error).message}`);
    process.exit(1);
  }
}
