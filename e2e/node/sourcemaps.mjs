// Loads a bundle built by esbuild (BUNDLE, a CommonJS file that sets
// globalThis.parseApp), makes it throw, and sends the error with @sentry/node
// to FAULTLINE_DSN under RELEASE. Prints {"id": "<event id>"}.
//
// parseApp runs as a promise reaction that nothing awaits (V8 would add the
// awaiting function as an "async" frame), so the error's stack holds the
// bundle's frames only: no frame of this script, which the browser test's
// page (browser.mjs) does not have. The same error thrown in both runtimes
// then has the same in-app frames, and e2e/sourcemaps checks that the two
// events land in one issue.
import { createRequire } from "node:module";
import * as Sentry from "@sentry/node";

Sentry.init({ dsn: process.env.FAULTLINE_DSN, release: process.env.RELEASE });
const require = createRequire(import.meta.url);
require(process.env.BUNDLE);
const error = await new Promise((settle) => {
  Promise.resolve("y").then(globalThis.parseApp).then(() => settle(undefined), settle);
});
if (!error) {
  throw new Error("parseApp did not throw");
}
const id = Sentry.captureException(error);
if (!(await Sentry.flush(20000))) {
  throw new Error("Sentry.flush timed out");
}
console.log(JSON.stringify({ id }));
