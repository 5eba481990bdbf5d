/** Each test file gets its own Postgres database, created fresh and dropped afterwards. */
import { createScratchDatabase } from '../../bench/lib/db.js';

export const createTestDatabase = () => createScratchDatabase('atp_test');
