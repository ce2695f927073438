import { pad } from "leftpad";
import { Parser } from "./parser.js";

// The application: reads a line and fails on bad input.
export function main(input) {
  const parser = new Parser(input);
  const value = parser.parse();
  return pad(String(value), 8);
}

export function explode(reason) {
  const detail = { reason: reason, at: Date.now() };
  throw new Error("boom: " + detail.reason);
}

export function run(input) {
  try {
    return main(input);
  } catch (err) {
    explode(err.message);
  }
}

globalThis.runApp = run;
globalThis.parseApp = main;
