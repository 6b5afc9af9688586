'use strict';
// The console suite starts coffer exactly as the Node.js SDK suite does (a fresh data dir, a
// free port, a known bootstrap key, and on PostgreSQL when COFFER_TEST_DATABASE_URL says so);
// stop() checks the log and the store for leaked secrets. Only built-in modules are loaded
// from there, so this package needs none of the SDKs.
const { SENTINEL, startCoffer } = require('../../node/lib/coffer');

module.exports = { SENTINEL, startCoffer };
