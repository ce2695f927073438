// The page script of e2e/sourcemaps' browser test, bundled by esbuild for the
// browser: starts @sentry/browser with window.FAULTLINE's dsn and release and
// defines window.throwFromApp(), which makes the app bundle's
// globalThis.parseApp throw, captures the error, waits until it is sent and
// resolves to its event id.
//
// As in sourcemaps.mjs, parseApp runs as a promise reaction that nothing
// awaits, so the error's stack holds the app bundle's frames only.
import * as Sentry from "@sentry/browser";

Sentry.init({ dsn: window.FAULTLINE.dsn, release: window.FAULTLINE.release });

window.throwFromApp = async () => {
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
  return id;
};
