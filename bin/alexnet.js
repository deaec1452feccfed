#!/usr/bin/env node
// The `alexnet` command. The TypeScript sources are compiled to dist/ by `npm run build`
// (run automatically by `npm install`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
