// Activates the site's gated tags once their category is allowed:
//   <script type="text/plain" data-consent="advertising" src="...">  and inline scripts,
//   <iframe data-consent="..." data-consent-src="...">, <img data-consent="..." data-consent-src="...">.
// Scripts run in document order, each exactly once: an external script is awaited before
// the next gated script runs. Tags added to the DOM later are caught by a MutationObserver.
// With auto-blocking, a script, iframe or img that loads from a held vendor host is put
// in the second form first (autoblock.js). A held iframe shows a placeholder until it loads.
import { hostname, interceptLoads, vendorOf } from "./autoblock.js";

const SELECTOR = "script[type='text/plain'][data-consent],[data-consent][data-consent-src]";
const SOURCES = "script[src],iframe[src],img[src]";

// hosts: [host, slug, vendor name] per vendor host (autoblock.js), to name what a
// placeholder holds back and, with autoBlocking, what to hold back.
// placeholder(iframe, vendor, slug, load) shows one and returns what removes it.
export function gateTags(allowed, hosts, autoBlocking, placeholder) {
  const seen = new WeakSet();
  const placeholders = new WeakMap();
  const queue = [];
  let busy = false;

  // The category that holds back a load from this URL (the element's own data-consent
  // first): a vendor's, not allowed, and not released by the visitor.
  const held = (url, tag) => {
    const vendor = vendorOf(hosts, url);
    const category = vendor && ((tag && tag.getAttribute("data-consent")) || vendor[1]);
    return !seen.has(tag) && !allowed(category) && category;
  };
  if (autoBlocking) interceptLoads(held);

  function release(tag) {
    seen.add(tag);
    queue.push(tag);
    const remove = placeholders.get(tag);
    if (remove) remove();
  }

  function run() {
    while (!busy && queue.length) {
      const tag = queue.shift();
      const src = tag.getAttribute("data-consent-src");
      if (src !== null) {
        // A script held in place runs in the order it is released (for an iframe or img
        // async is a property nothing reads).
        tag.async = false;
        tag.removeAttribute("data-consent-src");
        // Chromium drops a src given to an iframe in the microtask after the parser
        // inserted it (a returning visitor's embeds stayed blank): while the page is
        // parsed, an iframe gets it a task later.
        if (tag.tagName === "IFRAME" && document.readyState === "loading") setTimeout(() => (tag.src = src));
        else tag.src = src;
        continue;
      }
      const script = document.createElement("script");
      // Released: its own attributes are not held back again while they are copied.
      seen.add(script);
      for (const { name, value } of tag.attributes) if (name !== "type") script.setAttribute(name, value);
      const type = tag.getAttribute("data-consent-type");
      if (type) script.type = type;
      // Browsers hide the nonce attribute's value; the property keeps it.
      script.nonce = tag.nonce;
      script.text = tag.text;
      if (script.src) {
        script.async = false;
        busy = true;
        script.onload = script.onerror = () => {
          busy = false;
          run();
        };
      }
      tag.replaceWith(script);
    }
  }

  const found = (root, selector) =>
    (root.matches && root.matches(selector) ? [root] : []).concat(root.querySelectorAll ? [...root.querySelectorAll(selector)] : []);

  function scan(root) {
    // An element the parser inserted with a src to hold back: set again through the gate,
    // then removed. One with data-consent is the site's own gating.
    if (autoBlocking) {
      for (const tag of found(root, SOURCES)) {
        const src = tag.getAttribute("src");
        if (!tag.hasAttribute("data-consent") && held(src, tag)) {
          tag.setAttribute("src", src);
          tag.removeAttribute("src");
        }
      }
    }
    for (const tag of found(root, SELECTOR)) {
      const category = tag.getAttribute("data-consent");
      if (seen.has(tag)) continue;
      if (allowed(category)) release(tag);
      else if (tag.tagName === "IFRAME" && !placeholders.has(tag)) {
        const url = tag.getAttribute("data-consent-src");
        const vendor = vendorOf(hosts, url);
        placeholders.set(tag, placeholder(tag, vendor ? vendor[2] : hostname(url), category, () => {
          release(tag);
          run();
        }));
      }
    }
    run();
  }

  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) scan(node);
  }).observe(document, { childList: true, subtree: true });
  scan(document);
  // Call again after a decision: activates what the new choice allows.
  return () => scan(document);
}
