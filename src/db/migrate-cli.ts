/** `npm run migrate`: apply migrations to DATABASE_URL (or the embedded PGlite) and exit. */
import { loadConfig } from '../config.js';
import { openDatabase } from './client.js';
import { migrateDatabase } from './migrate.js';

const config = loadConfig();
const database = await openDatabase(config);
await migrateDatabase(database, config.DATABASE_URL);
console.log(`migrations applied (${database.mode})`);
await database.close();
