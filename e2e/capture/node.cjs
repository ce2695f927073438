// Drives @sentry/node through the capture scenarios; run by the capture
// command as `node node.cjs <dsn> <recorder base url>` with NODE_PATH
// pointing at a node_modules that holds @sentry/node (see README.md).
"use strict";

const Sentry = require("@sentry/node");

const [dsn, base] = process.argv.slice(2);

// The label request itself must not be traced, or it becomes a span of its own.
async function label(name) {
  await Sentry.suppressTracing(() => fetch(`${base}/_label?name=node-${name}`));
}

async function main() {
  Sentry.init({
    dsn,
    release: "capture@1.0.0",
    environment: "test",
    serverName: "capture-host",
    tracesSampleRate: 1.0,
    enableLogs: true,
    sendClientReports: true,
    integrations: [],
    beforeSend(event) {
      return event.message === "dropped" ? null : event;
    },
  });

  await label("error");
  function parse(input) {
    return JSON.parse(input);
  }
  try {
    parse("{not json");
  } catch (err) {
    Sentry.captureException(err);
  }
  await Sentry.flush(5000);

  await label("message");
  Sentry.withScope((scope) => {
    scope.setTag("capture", "message");
    scope.setUser({ id: "42", email: "ada@example.com" });
    Sentry.captureMessage("disk almost full", "warning");
  });
  await Sentry.flush(5000);

  await label("transaction");
  await Sentry.startSpan({ name: "GET /orders/:id", op: "http.server" }, async () => {
    await Sentry.startSpan({ name: "SELECT * FROM orders WHERE id = $1", op: "db.sql" }, async () => {
      await new Promise((r) => setTimeout(r, 2));
    });
    Sentry.startSpan({ name: "order.html", op: "template.render" }, () => {
      Sentry.startSpan({ name: "fragment:order", op: "cache.get" }, () => {});
    });
  });
  await Sentry.flush(5000);

  await label("log");
  Sentry.logger.info("order placed", { order: "A-17", items: 3 });
  Sentry.logger.warn(Sentry.logger.fmt`retrying payment ${1} of ${3}`);
  Sentry.logger.error("payment declined", { fatal: false });
  await Sentry.flush(5000);

  await label("attachment");
  Sentry.withScope((scope) => {
    scope.addAttachment({ filename: "config.json", contentType: "application/json", data: '{"retries": 3,\n "timeout": "5s"}\n' });
    // Large enough (over 32 KiB) that the transport gzips the body.
    scope.addAttachment({ filename: "big.log", data: "line of a log file\n".repeat(2000) });
    Sentry.captureException(new Error("upload failed"));
  });
  await Sentry.flush(5000);

  await label("session");
  Sentry.startSession();
  Sentry.captureSession();
  Sentry.endSession();
  await Sentry.flush(5000);

  await label("client_report");
  for (let i = 0; i < 3; i++) Sentry.captureMessage("dropped");
  await Sentry.flush(5000);
  // Client reports go out when the process is about to exit, or on a timer.
  await Sentry.close(5000);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
