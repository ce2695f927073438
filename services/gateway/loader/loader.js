// Faultline's JavaScript loader: catches errors and unhandled rejections
// until the Sentry browser SDK is loaded, loads it (on the first error, on
// Sentry.onLoad or Sentry.forceLoad, at once when lazy is off), calls
// Sentry.init with the key's DSN and replays what it caught.
(function (w, d, cfg) {
  if (w.Sentry && w.Sentry.__loaderStub) {
    return; // a second copy of the loader on the page
  }
  var lazy = cfg.lazy;
  var me = d.currentScript;
  if (me && me.getAttribute('data-lazy') === 'no') {
    lazy = false;
  }
  var queue = [];
  var callbacks = [];
  var state = 0; // 0 waiting, 1 loading, 2 loaded

  function push(item) {
    queue.push(item);
    if (lazy && ('e' in item || 'p' in item || (item.f && (item.f.indexOf('capture') === 0 || item.f === 'showReportDialog')))) {
      load();
    }
  }

  var prevOnError = w.onerror;
  w.onerror = function () {
    if (state !== 2) {
      push({ e: [].slice.call(arguments) });
    }
    if (typeof prevOnError === 'function') {
      return prevOnError.apply(this, arguments);
    }
    return false;
  };
  var prevOnRejection = w.onunhandledrejection;
  w.onunhandledrejection = function (ev) {
    if (state !== 2) {
      push({ p: ev && 'reason' in ev ? ev.reason : ev });
    }
    if (typeof prevOnRejection === 'function') {
      return prevOnRejection.apply(this, arguments);
    }
  };

  var stub = { __loaderStub: true };
  stub.onLoad = function (cb) {
    if (state === 2) {
      cb();
      return;
    }
    callbacks.push(cb); // run once an error, a capture or forceLoad loads the SDK
  };
  stub.forceLoad = function () {
    lazy = false;
    load();
  };
  var names = ['init', 'captureException', 'captureMessage', 'captureEvent', 'addBreadcrumb', 'setUser', 'setTag', 'setTags',
    'setExtra', 'setExtras', 'setContext', 'withScope', 'configureScope', 'showReportDialog', 'addIntegration'];
  for (var i = 0; i < names.length; i++) {
    (function (name) {
      stub[name] = function () {
        push({ f: name, a: [].slice.call(arguments) });
      };
    })(names[i]);
  }
  w.Sentry = stub;

  function load() {
    if (state !== 0) {
      return;
    }
    state = 1;
    var s = d.createElement('script');
    s.src = cfg.url;
    s.crossOrigin = 'anonymous';
    s.addEventListener('load', loaded);
    s.addEventListener('error', function () {
      state = 0;
      if (w.console && w.console.error) {
        w.console.error('Sentry loader: the SDK bundle did not load from ' + cfg.url);
      }
    });
    (d.head || d.documentElement).appendChild(s);
  }

  function defaults(S) {
    var o = { dsn: cfg.dsn };
    var integrations = [];
    if (cfg.performance) {
      o.tracesSampleRate = 1;
      if (S.browserTracingIntegration) {
        integrations.push(S.browserTracingIntegration());
      }
    }
    if (cfg.replay) {
      o.replaysSessionSampleRate = 0.1;
      o.replaysOnErrorSampleRate = 1;
      if (S.replayIntegration) {
        integrations.push(S.replayIntegration());
      }
    }
    if (cfg.debug) {
      o.debug = true;
    }
    if (integrations.length) {
      o.integrations = function (given) {
        return given.concat(integrations);
      };
    }
    return o;
  }

  function loaded() {
    var S = w.Sentry;
    if (!S || S === stub || typeof S.init !== 'function') {
      state = 0;
      return;
    }
    w.SENTRY_SDK_SOURCE = 'loader';
    var realInit = S.init;
    var initialized = false;
    // Sentry.init as the application calls it: the key's settings under
    // the application's options.
    function init(options) {
      var o = defaults(S);
      for (var k in options) {
        if (Object.prototype.hasOwnProperty.call(options, k)) {
          o[k] = options[k];
        }
      }
      initialized = true;
      return realInit.call(S, o);
    }
    try {
      S.init = init;
    } catch (err) {
      // a frozen namespace: calls made after loading go to the SDK as they are
    }
    state = 2;
    try {
      // Calls queued on the stub before loading: init first, as an
      // application calling Sentry.init itself means.
      for (var i = 0; i < queue.length; i++) {
        if (queue[i].f === 'init') {
          init.apply(null, queue[i].a);
        }
      }
      if (typeof w.sentryOnLoad === 'function') {
        w.sentryOnLoad();
        w.sentryOnLoad = undefined;
      }
      for (var j = 0; j < callbacks.length; j++) {
        callbacks[j]();
      }
      if (!initialized && !(S.getClient && S.getClient())) {
        init({});
      }
    } catch (err) {
      if (w.console && w.console.error) {
        w.console.error(err);
      }
    }
    // What happened before the SDK was there goes to its handlers now.
    for (var q = 0; q < queue.length; q++) {
      var it = queue[q];
      try {
        if ('e' in it && typeof w.onerror === 'function') {
          w.onerror.apply(w, it.e);
        } else if ('p' in it && typeof w.onunhandledrejection === 'function') {
          w.onunhandledrejection({ reason: it.p });
        } else if (it.f && it.f !== 'init' && typeof S[it.f] === 'function') {
          S[it.f].apply(S, it.a);
        }
      } catch (err) {
        if (w.console && w.console.error) {
          w.console.error(err);
        }
      }
    }
    queue = [];
  }

  if (!lazy) {
    load();
  }
})(window, document, __CONFIG__);
