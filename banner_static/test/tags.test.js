// Tag gating (src/tags.js) on a tiny fake DOM (fake-dom.js): a gated tag runs only once
// its category is allowed, exactly once, in document order, an external script awaited
// before the next gated script runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Document, MutationObserver, browser, settle } from "./fake-dom.js";
import { gateTags } from "../src/tags.js";

const TRACKER = "https://tracker.example";

// The demo shop's gated tags (e2e/site/shop.html), as the parser leaves them. hosts and
// autoBlocking as gateTags takes them; placeholders shown are recorded in `shown`.
function shop({ hosts = [], autoBlocking = false } = {}) {
  let document = new Document();
  globalThis.document = document;
  globalThis.MutationObserver = MutationObserver;
  if (autoBlocking) ({ document } = browser());
  const gated = (category, name, attributes = {}, text = "/* code */") =>
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
  const shown = [];
  const placeholder = (frame, vendor, slug, load) => {
    const entry = { frame, vendor, slug, load, removed: false };
    shown.push(entry);
    return () => {
      entry.removed = true;
    };
  };
  const activate = gateTags((slug) => on.has(slug), hosts, autoBlocking, placeholder);
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
  return { document, gated, iframe, img, allow, load, shown };
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

test("a held iframe gets one placeholder, named by its host, which goes when it loads", async () => {
  const { iframe, allow, load, shown } = shop();
  await settle();
  assert.equal(shown.length, 1);
  assert.equal(shown[0].frame, iframe);
  assert.equal(shown[0].slug, "functional");
  // No vendor lists tracker.example: the placeholder names its host.
  assert.equal(shown[0].vendor, "tracker.example");
  allow();
  await settle();
  assert.equal(shown.length, 1, "scanned again, still one placeholder");
  allow("functional");
  assert.equal(shown[0].removed, true);
  load("ga");
  assert.equal(iframe.src, TRACKER + "/video.html");
});

test("the placeholder names the vendor whose host the iframe loads from", async () => {
  const { shown } = shop({ hosts: [["tracker.example", "functional", "Teapot Video"]] });
  await settle();
  assert.equal(shown[0].vendor, "Teapot Video");
});

test("Load this once loads that one iframe only, and records nothing", async () => {
  const { document, iframe, img, shown } = shop();
  const second = document.element("iframe", { "data-consent": "functional", "data-consent-src": TRACKER + "/other.html" });
  document.body.append(second);
  await settle();
  assert.equal(shown.length, 2);
  shown[0].load();
  assert.equal(iframe.src, TRACKER + "/video.html");
  assert.equal(shown[0].removed, true);
  assert.equal(second.getAttribute("src"), null);
  assert.equal(shown[1].removed, false);
  assert.equal(img.getAttribute("src"), null);
  assert.deepEqual(document.ran, []);
});

const HOSTS = [["googletagmanager.com", "functional", "Google Analytics"], ["facebook.com", "advertising", "Meta"]];

test("auto-blocking holds a parser-inserted vendor script, iframe and img until allowed", async () => {
  const { document, allow, load, shown } = shop({ hosts: HOSTS, autoBlocking: true });
  const gtag = document.element("script", { src: "https://www.googletagmanager.com/gtag/js?id=G-1", "data-name": "gtag" });
  const post = document.element("iframe", { src: "https://www.facebook.com/plugins/post.php" });
  const pixel = document.element("img", { src: "https://www.facebook.com/tr?id=1" });
  const app = document.element("script", { src: "https://shop.example/app.js", "data-name": "app" });
  // The page's HTML after the banner script: the parser inserts, observers look, then
  // each script is prepared at its end tag.
  document.parse(document.body, gtag, post, pixel, app);
  await settle();
  assert.deepEqual(document.loading.map(({ script }) => script.getAttribute("data-name")), ["app"], "only the site's own script");
  assert.equal(gtag.getAttribute("src"), null);
  assert.equal(gtag.getAttribute("data-consent-src"), "https://www.googletagmanager.com/gtag/js?id=G-1");
  assert.equal(gtag.getAttribute("data-consent"), "functional");
  assert.equal(post.getAttribute("src"), null);
  assert.equal(post.getAttribute("data-consent"), "advertising");
  assert.equal(pixel.getAttribute("data-consent-src"), "https://www.facebook.com/tr?id=1");
  assert.deepEqual(shown.map(({ vendor, slug }) => [vendor, slug]), [["tracker.example", "functional"], ["Meta", "advertising"]]);

  allow("functional");
  // app.js is the site's own and loads when it loads; ga.js, gated by the markup, comes
  // first in the document and is awaited before the held script.
  document.loading.splice(0, 1)[0].load();
  load("ga");
  assert.equal(gtag.src, "https://www.googletagmanager.com/gtag/js?id=G-1");
  assert.equal(gtag.async, false, "released scripts keep their order");
  assert.equal(document.loading.at(-1).script, gtag, "the held script itself starts loading");
  load("gtag");
  assert.deepEqual(document.ran, ["app", "ga", "inline-functional", "gtag"]);
  assert.equal(post.getAttribute("src"), null);
  allow("advertising");
  load("ads");
  assert.equal(post.src, "https://www.facebook.com/plugins/post.php");
  assert.equal(pixel.src, "https://www.facebook.com/tr?id=1");
  assert.equal(shown[1].removed, true);
});

test("auto-blocking leaves the site's own gated tags to their data-consent", async () => {
  const { document, allow } = shop({ hosts: [["tracker.example", "advertising", "Tracker"]], autoBlocking: true });
  await settle();
  // ga.js loads from the host of an advertising vendor but is gated as functional.
  allow("functional");
  assert.equal(document.loading[0].script.getAttribute("data-name"), "ga");
});
