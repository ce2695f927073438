// A parser that throws on anything that is not a number.
export class Parser {
  constructor(text) {
    this.text = text;
  }

  parse() {
    const n = Number(this.text);
    if (Number.isNaN(n)) {
      this.fail("not a number: " + this.text);
    }
    return n;
  }

  fail(message) {
    const error = new TypeError(message);
    throw error;
  }
}
