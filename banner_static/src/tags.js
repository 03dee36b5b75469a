// Activates the site's gated tags once their category is allowed:
//   <script type="text/plain" data-consent="advertising" src="...">  and inline scripts,
//   <iframe data-consent="..." data-consent-src="...">, <img data-consent="..." data-consent-src="...">.
// Scripts run in document order, each exactly once: an external script is awaited before
// the next gated script runs. Tags added to the DOM later are caught by a MutationObserver.

const SELECTOR = "script[type='text/plain'][data-consent],[data-consent][data-consent-src]";

export function gateTags(allowed) {
  const seen = new WeakSet();
  const queue = [];
  let busy = false;

  function run() {
    while (!busy && queue.length) {
      const tag = queue.shift();
      if (tag.tagName !== "SCRIPT") {
        tag.src = tag.getAttribute("data-consent-src");
        tag.removeAttribute("data-consent-src");
        continue;
      }
      const script = document.createElement("script");
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

  function scan(root) {
    const found = root.matches && root.matches(SELECTOR) ? [root] : [];
    for (const tag of root.querySelectorAll ? root.querySelectorAll(SELECTOR) : []) found.push(tag);
    for (const tag of found) {
      if (!seen.has(tag) && allowed(tag.getAttribute("data-consent"))) {
        seen.add(tag);
        queue.push(tag);
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
