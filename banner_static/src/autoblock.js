// Auto-blocking (config.autoBlocking): what loads from a vendor's host is held back until the
// vendor's category is allowed, without any change to the site's markup. A held script,
// iframe or img gets the gated form tags.js activates: its src moves to data-consent-src
// and data-consent names the category, so it loads later in document order, once. (A
// script without src and without text does nothing when inserted; given its src later,
// it runs, parser-inserted or not.)
//
// Where a load can start, and where it is caught:
// - an element's src set by code (createElement + src, setAttribute, new Image()): the src
//   setters of script, iframe and img, and setAttribute, write the gated form instead,
//   before the element is ever inserted;
// - HTML strings (innerHTML, insertAdjacentHTML, createContextualFragment, document.write):
//   their script, iframe and img tags are rewritten to the gated form before the browser
//   parses them;
// - the page's own HTML after the banner script: tags.js's MutationObserver sees each
//   element before it runs or loads. Chromium's preload scanner reads ahead of the parser
//   and may already have requested an external script or image by then, so Django sites
//   have their HTML rewritten on the server too (consent/autoblock.py);
// - fetch, XMLHttpRequest and navigator.sendBeacon: refused (a network error; false), never
//   queued: sent later, they would report what happened before consent.

// [host, category slug, vendor name] for each vendor host. "*.x" and "x:8443" hold back "x"
// and its subdomains on any port: when in doubt, hold back.
export const vendorHosts = (categories) =>
  categories.flatMap(({ slug, vendors }) =>
    vendors.flatMap(({ name, hosts }) => (hosts || []).map((host) => [host.replace(/^\*\.|:\d+$/g, "").toLowerCase(), slug, name])));

// The host a URL loads from ("" for none: not a URL).
export function hostname(url, base = document.baseURI) {
  try {
    return new URL(url, base).hostname.replace(/\.$/, "");
  } catch {
    return "";
  }
}

// The [host, slug, name] entry of the vendor a URL loads from, if any.
export function vendorOf(hosts, url, base) {
  const host = url && hostname(url, base);
  return host && hosts.find(([vendor]) => host === vendor || host.endsWith("." + vendor));
}

// The same HTML with each script, iframe and img tag that would load from a held host in
// its gated form; held(url) gives the category holding it back. A tag that carries
// data-consent already is the site's own gating and stays as it is.
export const gateHTML = (html, held) =>
  typeof html === "string"
    ? html.replace(/<(script|iframe|img)\b[^>]*>/gi, (tag) => {
      const src = !/\sdata-consent\s*=/i.test(tag) && /[\s/]src\s*=\s*["']?([^\s"'>]+)/i.exec(tag);
      const category = src && held(src[1]);
      return category ? tag.replace(/([\s/])src(?=\s*=)/gi, `$1data-consent="${category}" data-consent-src`) : tag;
    })
    : html; // TrustedHTML is left as it is: a rewritten string would break the site's policy.

// Installs the interceptors; held(url, element) gives the category that holds a load back,
// or nothing.
export function interceptLoads(held) {
  const define = (proto, name, set) =>
    Object.defineProperty(proto, name, { ...Object.getOwnPropertyDescriptor(proto, name), set });
  const wrap = (object, name, wrapper) => {
    object[name] = wrapper(object[name]);
  };
  const element = Element.prototype;
  const { setAttribute } = element;

  element.setAttribute = function (name, value) {
    const category = /^src$/i.test(name) && /^(SCRIPT|IFRAME|IMG)$/.test(this.tagName) && held(value, this);
    if (category) {
      setAttribute.call(this, "data-consent", category);
      name = "data-consent-src";
    }
    setAttribute.call(this, name, value);
  };
  for (const tag of [HTMLScriptElement, HTMLIFrameElement, HTMLImageElement]) {
    define(tag.prototype, "src", function (value) {
      this.setAttribute("src", value);
    });
  }

  const rewrite = (html) => gateHTML(html, held);
  const { set } = Object.getOwnPropertyDescriptor(element, "innerHTML");
  define(element, "innerHTML", function (html) {
    set.call(this, rewrite(html));
  });
  for (const [proto, name] of [[element, "insertAdjacentHTML"], [Range.prototype, "createContextualFragment"], [Document.prototype, "write"]]) {
    wrap(proto, name, (method) => function (...args) {
      return method.apply(this, args.map(rewrite));
    });
  }

  // Refused as the network refuses: pointed at port 1, which browsers never connect to
  // (Fetch's "bad port" list), the request fails at once, as an error, and nothing leaves.
  // Wrapped in place: the banner still defines no global of its own.
  const refused = "https://0.0.0.0:1/";
  wrap(window, "fetch", (fetch) => function (input, init) {
    return fetch.call(this, held((input && input.url) || input) ? refused : input, init);
  });
  wrap(XMLHttpRequest.prototype, "open", (open) => function (method, url) {
    if (held(url)) arguments[1] = refused;
    return open.apply(this, arguments);
  });
  wrap(navigator, "sendBeacon", (sendBeacon) => function (url) {
    return !held(url) && sendBeacon.apply(this, arguments);
  });
}
