// Drives @sentry/node against a faultline server for the Go end-to-end tests
// (e2e/sentrynode). Usage: FAULTLINE_DSN=... node run.mjs SCENARIO
// Each scenario sends what a real application would, flushes, and prints one
// JSON line on stdout with what the SDK returned (event ids, trace ids), which
// the Go test compares with what the INGEST stream holds.
import * as http from "node:http";
import * as Sentry from "@sentry/node";

const dsn = process.env.FAULTLINE_DSN;
if (!dsn) {
  console.error("FAULTLINE_DSN is not set");
  process.exit(2);
}

function init(options = {}) {
  Sentry.init({
    dsn,
    release: "e2e-node@1.0.0",
    environment: "e2e",
    debug: process.env.SENTRY_DEBUG === "1",
    ...options,
  });
}

async function flush() {
  if (!(await Sentry.flush(20000))) {
    throw new Error("Sentry.flush timed out");
  }
}

// checkout runs a root span with two children and returns its trace id.
function checkout() {
  return Sentry.startSpan({ name: "POST /checkout", op: "http.server" }, async (root) => {
    Sentry.startSpan({ name: "SELECT * FROM orders WHERE id = $1", op: "db.query" }, () => {});
    await Sentry.startSpan({ name: "POST https://payments.example/charge", op: "http.client" }, async () => {
      await new Promise((r) => setTimeout(r, 5));
    });
    return root.spanContext().traceId;
  });
}

const scenarios = {
  // An exception with a cause (linked errors) and a message.
  async errors() {
    init();
    const cause = new TypeError("card number is not a string");
    const exception = Sentry.captureException(new Error("checkout failed", { cause }));
    const message = Sentry.withScope((scope) => {
      scope.setTag("feature", "e2e");
      scope.setLevel("warning");
      return Sentry.captureMessage("disk almost full on /var");
    });
    await flush();
    return { exception, message };
  },

  // An event with two attachments.
  async attachment() {
    init();
    const id = Sentry.withScope((scope) => {
      scope.addAttachment({ filename: "request.json", data: '{"order":42}', contentType: "application/json" });
      scope.addAttachment({ filename: "dump.bin", data: new Uint8Array([0, 1, 2, 10, 255]) });
      return Sentry.captureException(new Error("order rejected"));
    });
    await flush();
    return { event_id: id };
  },

  // A transaction with two child spans, sent the classic way (one
  // transaction event) with traceLifecycle "static".
  async transaction() {
    let eventId = "";
    init({
      tracesSampleRate: 1,
      traceLifecycle: "static",
      beforeSendTransaction(event) {
        eventId = event.event_id;
        return event;
      },
    });
    const traceId = await checkout();
    await flush();
    return { event_id: eventId, trace_id: traceId };
  },

  // The same spans streamed as span items (v11's default trace lifecycle).
  async spans() {
    init({ tracesSampleRate: 1 });
    const traceId = await checkout();
    await flush();
    return { trace_id: traceId };
  },

  // Release health: the process session (updated by an error, then ended),
  // and request sessions of an HTTP server the SDK instruments, sent as an
  // aggregate.
  async sessions() {
    init();
    const errorId = Sentry.captureException(new Error("session breaker"));
    await flush();
    Sentry.endSession();
    const server = http.createServer((req, res) => {
      res.end("ok");
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/hello`);
      await res.text();
    }
    await new Promise((r) => server.close(r));
    await flush();
    return { error_id: errorId, requests: 3 };
  },

  // Structured logs through Sentry.logger.
  async logs() {
    init({ enableLogs: true });
    Sentry.logger.info("order placed", { order_id: 42 });
    Sentry.logger.warn(Sentry.logger.fmt`stock low for ${"sku-7"}`);
    await flush();
    return { logs: 2 };
  },

  // An event dropped in beforeSend is counted in a client report.
  async client_report() {
    init({
      beforeSend(event) {
        return event.message === "drop me" ? null : event;
      },
    });
    Sentry.captureMessage("drop me");
    await flush();
    return {};
  },

  // Sends BACKOFF_EVENTS errors one after another, flushing after each, so
  // that the SDK sees each answer before the next send; after a 429 it drops
  // the rest itself. Prints how many it captured.
  async backoff() {
    init({ integrations: (all) => all.filter((i) => i.name !== "ProcessSession") });
    const n = Number(process.env.BACKOFF_EVENTS || "10");
    const ids = [];
    for (let i = 0; i < n; i++) {
      ids.push(Sentry.captureException(new Error(`backoff ${i}`)));
      await flush();
    }
    return { event_ids: ids };
  },
};

const name = process.argv[2];
const scenario = scenarios[name];
if (!scenario) {
  console.error(`unknown scenario ${JSON.stringify(name)}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
const result = await scenario();
process.stdout.write(JSON.stringify(result) + "\n");
