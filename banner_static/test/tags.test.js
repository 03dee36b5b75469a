// Tag gating (src/tags.js) on a tiny fake DOM (fake-dom.js): a gated tag runs only once
// its category is allowed, exactly once, in document order, an external script awaited
// before the next gated script runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Document, MutationObserver, settle } from "./fake-dom.js";
import { gateTags } from "../src/tags.js";

const TRACKER = "https://tracker.example";

// The demo shop's gated tags (e2e/site/shop.html), as the parser leaves them.
function shop() {
  const document = new Document();
  globalThis.document = document;
  globalThis.MutationObserver = MutationObserver;
  const gated = (category, name, attributes = {}, text = "") =>
    document.element(
      "script",
      { type: "text/plain", "data-consent": category, "data-name": name, nonce: "n0nce", ...attributes },
      text,
    );
  document.head.append(
    gated("functional", "ga", { src: TRACKER + "/ga.js" }),
    gated("functional", "inline-functional"),
    gated("advertising", "ads", { src: TRACKER + "/ads.js" }),
    gated("advertising", "inline-advertising"),
  );
  const iframe = document.element("iframe", { "data-consent": "functional", "data-consent-src": TRACKER + "/video.html" });
  const img = document.element("img", { "data-consent": "advertising", "data-consent-src": TRACKER + "/p.gif" });
  document.body.append(iframe, img);
  const on = new Set();
  const activate = gateTags((slug) => on.has(slug));
  const allow = (...slugs) => {
    for (const slug of slugs) on.add(slug);
    activate();
  };
  // Loads the external script now loading, and checks it is the one expected.
  const load = (name) => {
    const pending = document.loading.shift();
    assert.equal(pending && pending.script.getAttribute("data-name"), name);
    pending.load();
  };
  return { document, gated, iframe, img, allow, load };
}

test("nothing gated runs, loads or is requested before its category is allowed", async () => {
  const { document, iframe, img } = shop();
  await settle();
  assert.deepEqual(document.ran, []);
  assert.deepEqual(document.loading, []);
  assert.equal(iframe.getAttribute("src"), null);
  assert.equal(img.getAttribute("src"), null);
  assert.equal(document.querySelectorAll("script[type='text/plain']").length, 4);
});

test("allowed scripts run in document order, each external one awaited first", async () => {
  const { document, iframe, img, allow, load } = shop();
  allow("functional", "advertising");
  // ga.js is loading: the inline script after it waits, or it would find no library.
  assert.deepEqual(document.ran, []);
  assert.equal(document.loading.length, 1);
  load("ga");
  assert.deepEqual(document.ran, ["ga", "inline-functional"]);
  assert.equal(iframe.getAttribute("src"), null, "the iframe comes after ads.js");
  load("ads");
  assert.deepEqual(document.ran, ["ga", "inline-functional", "ads", "inline-advertising"]);
  assert.equal(iframe.src, TRACKER + "/video.html");
  assert.equal(img.src, TRACKER + "/p.gif");
  assert.equal(iframe.getAttribute("data-consent-src"), null);
  await settle();
  assert.deepEqual(document.loading, []);
});

test("an external script that fails to load does not hold back the next", () => {
  const { document, allow } = shop();
  allow("functional");
  document.loading.shift().fail();
  assert.deepEqual(document.ran, ["inline-functional"]);
});

test("only the allowed category runs; another allowed later runs then, the first not again", async () => {
  const { document, iframe, img, allow, load } = shop();
  allow("functional");
  load("ga");
  await settle();
  assert.deepEqual(document.ran, ["ga", "inline-functional"]);
  assert.equal(iframe.src, TRACKER + "/video.html");
  assert.equal(img.getAttribute("src"), null);
  assert.deepEqual(document.loading, []);
  assert.equal(document.querySelectorAll("script[type='text/plain'][data-consent='advertising']").length, 2);

  allow("advertising");
  load("ads");
  await settle();
  assert.deepEqual(document.ran, ["ga", "inline-functional", "ads", "inline-advertising"]);
  assert.equal(img.src, TRACKER + "/p.gif");
  assert.deepEqual(document.loading, []);
});

test("each tag runs once, however often it is scanned or reported", async () => {
  const { document, allow, load } = shop();
  allow("functional", "advertising");
  allow("functional", "advertising");
  load("ga");
  load("ads");
  allow("functional");
  await settle();
  allow("advertising");
  await settle();
  assert.deepEqual(document.ran, ["ga", "inline-functional", "ads", "inline-advertising"]);
  assert.deepEqual(document.loading, []);
});

test("the live script keeps every attribute but type, the nonce, and data-consent-type", () => {
  const { document, gated, allow } = shop();
  const module = gated("functional", "module", { src: TRACKER + "/m.js", "data-consent-type": "module", id: "m" });
  document.body.append(module);
  allow("functional");
  document.loading.shift().load();
  const live = document.loading[0].script;
  assert.notEqual(live, module);
  assert.equal(module.isConnected, false, "the placeholder is replaced");
  assert.equal(live.isConnected, true);
  assert.equal(live.type, "module");
  assert.equal(live.nonce, "n0nce");
  assert.equal(live.async, false);
  assert.deepEqual(
    Object.fromEntries(live.attributes.map(({ name, value }) => [name, value])),
    {
      "data-consent": "functional",
      "data-name": "module",
      nonce: "",
      src: TRACKER + "/m.js",
      "data-consent-type": "module",
      id: "m",
      type: "module",
    },
  );
});

test("an inline script runs with its own code and without a type", () => {
  const { document, gated, allow } = shop();
  document.body.append(gated("advertising", "", {}, "window.__ran.push('x')"));
  allow("advertising");
  document.loading.shift().load();
  assert.deepEqual(document.ran, ["ads", "inline-advertising", "window.__ran.push('x')"]);
  const live = document.querySelectorAll("script").at(-1);
  assert.equal(live.type, "");
  assert.equal(live.nonce, "n0nce");
});

test("tags added later are caught when allowed, also inside an added element, and not otherwise", async () => {
  const { document, gated, allow, load } = shop();
  allow("functional");
  load("ga");
  const section = document.element("section");
  section.append(gated("functional", "nested-functional"));
  document.body.append(gated("functional", "added-functional"), gated("advertising", "added-advertising"), section);
  await settle();
  assert.deepEqual(document.ran, ["ga", "inline-functional", "added-functional", "nested-functional"]);
  assert.deepEqual(document.loading, []);
});
