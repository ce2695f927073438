// Loads a bundle built by esbuild (BUNDLE, a CommonJS file that sets
// globalThis.parseApp), makes it throw, and sends the error with @sentry/node
// to FAULTLINE_DSN under RELEASE. Prints {"id": "<event id>"}.
import { createRequire } from "node:module";
import * as Sentry from "@sentry/node";

Sentry.init({ dsn: process.env.FAULTLINE_DSN, release: process.env.RELEASE });
const require = createRequire(import.meta.url);
require(process.env.BUNDLE);
let id;
try {
  globalThis.parseApp("y");
} catch (e) {
  id = Sentry.captureException(e);
}
if (!(await Sentry.flush(20000))) {
  throw new Error("Sentry.flush timed out");
}
console.log(JSON.stringify({ id }));
