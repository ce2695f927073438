(() => {
  // src/node_modules/leftpad/index.js
  function pad(s, n) {
    while (s.length < n) {
      s = " " + s;
    }
    return s;
  }

  // src/parser.js
  var Parser = class {
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
  };

  // src/app.js
  function main(input) {
    const parser = new Parser(input);
    const value = parser.parse();
    return pad(String(value), 8);
  }
  function explode(reason) {
    const detail = { reason, at: Date.now() };
    throw new Error("boom: " + detail.reason);
  }
  function run(input) {
    try {
      return main(input);
    } catch (err) {
      explode(err.message);
    }
  }
  globalThis.runApp = run;
  globalThis.parseApp = main;
})();
//# sourceMappingURL=app.js.map
