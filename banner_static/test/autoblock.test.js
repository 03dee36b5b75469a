// Auto-blocking (src/autoblock.js) without a browser: which host a URL loads from, which
// vendor that is, how HTML strings are gated, and what the interceptors do, on fresh fake
// globals per test (fake-dom.js browser()). e2e/test_autoblock.py proves the same in
// Chromium with the vendors' own snippets. url-host-cases.json is shared with
// tests/test_autoblock.py: the server must read the same host from a URL as browsers do
// (Node's URL is the WHATWG parser browsers use), or hold back where it cannot know.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { browser } from "./fake-dom.js";
import { gateHTML, hostname, interceptLoads, vendorHosts, vendorOf } from "../src/autoblock.js";

const BASE = "https://shop.example/page";
const cases = JSON.parse(readFileSync(new URL("./url-host-cases.json", import.meta.url)));

for (const { why, url, browser: host } of cases) {
  test(`reads the host browsers load from: ${why}`, () => {
    assert.equal(hostname(url, BASE), host);
  });
}

const CATEGORIES = [
  { slug: "required", vendors: [{ name: "Shop CDN", hosts: ["cdn.shop.example"] }] },
  {
    slug: "functional",
    vendors: [
      { name: "Google Analytics", hosts: ["www.google-analytics.com", "WWW.GoogleTagManager.com"] },
      { name: "Support chat" },
    ],
  },
  { slug: "advertising", vendors: [{ name: "Google Ads", hosts: ["*.doubleclick.net", "ads.example:8443"] }] },
];
const HOSTS = vendorHosts(CATEGORIES);

test("vendor hosts: lower case, a wildcard or a port stands for the host and its subdomains", () => {
  assert.deepEqual(HOSTS, [
    ["cdn.shop.example", "required", "Shop CDN"],
    ["www.google-analytics.com", "functional", "Google Analytics"],
    ["www.googletagmanager.com", "functional", "Google Analytics"],
    ["doubleclick.net", "advertising", "Google Ads"],
    ["ads.example", "advertising", "Google Ads"],
  ]);
});

test("a URL belongs to the vendor of its host or of a parent domain, nothing else", () => {
  const vendor = (url) => (vendorOf(HOSTS, url, BASE) || [])[2];
  assert.equal(vendor("https://www.googletagmanager.com/gtag/js?id=G-1"), "Google Analytics");
  assert.equal(vendor("https://googleads.g.doubleclick.net/pagead/id"), "Google Ads");
  assert.equal(vendor("https://doubleclick.net/"), "Google Ads");
  assert.equal(vendor("https://ads.example/p.gif"), "Google Ads");
  assert.equal(vendor("https://notdoubleclick.net/"), undefined);
  assert.equal(vendor("https://doubleclick.net.evil.example/"), undefined);
  assert.equal(vendor("https://googletagmanager.com/"), undefined, "a parent of a vendor host is not the vendor");
  assert.equal(vendor("/gtag/js"), undefined);
  assert.equal(vendor(""), undefined);
  assert.equal(vendor(null), undefined);
});

// Held back: functional and advertising vendors; required ones are always allowed.
const held = (url) => {
  const vendor = vendorOf(HOSTS, url, BASE);
  return vendor && vendor[1] !== "required" && vendor[1];
};

test("HTML strings: vendor scripts, iframes and images get the gated form, nothing else changes", () => {
  const cases = [
    [
      '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>',
      '<script async data-consent="functional" data-consent-src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>',
    ],
    [
      "<IFRAME width=560 SRC='https://googleads.g.doubleclick.net/x' title=Ad></IFRAME>",
      "<IFRAME width=560 data-consent=\"advertising\" data-consent-src='https://googleads.g.doubleclick.net/x' title=Ad></IFRAME>",
    ],
    [
      '<img/src=https://ads.example/p.gif alt="">',
      '<img/data-consent="advertising" data-consent-src=https://ads.example/p.gif alt="">',
    ],
    // Every src of the tag moves: the browser uses the first, and must use none.
    [
      '<img src="https://ads.example/a.gif" src="https://ads.example/b.gif">',
      '<img data-consent="advertising" data-consent-src="https://ads.example/a.gif" data-consent="advertising" data-consent-src="https://ads.example/b.gif">',
    ],
  ];
  for (const [html, gated] of cases) assert.equal(gateHTML(html, held), gated);
  const untouched = [
    '<script src="https://cdn.shop.example/app.js"></script>',
    '<script src="/static/app.js"></script><img src="logo.png">',
    '<script type="text/plain" data-consent="advertising" src="https://www.googletagmanager.com/gtm.js"></script>',
    '<iframe data-consent="functional" data-consent-src="https://www.googletagmanager.com/ns.html"></iframe>',
    '<p data-src="https://ads.example/p.gif">a <imgs src="https://ads.example/p.gif"></p>',
    '<video src="https://ads.example/v.mp4"></video>',
  ];
  for (const html of untouched) assert.equal(gateHTML(html, held), html);
  const trusted = { toString: () => '<img src="https://ads.example/p.gif">' };
  assert.equal(gateHTML(trusted, held), trusted, "a TrustedHTML object is passed on as it is");
});

test("HTML strings: an allowed category is not rewritten", () => {
  const html = '<script src="https://www.googletagmanager.com/gtag/js"></script>';
  assert.equal(gateHTML(html, () => false), html);
});

function installed() {
  const fake = browser();
  const on = new Set();
  interceptLoads((url) => {
    const category = held(url);
    return !on.has(category) && category;
  });
  const { window, Range, XMLHttpRequest, navigator } = globalThis;
  return { ...fake, on, window, Range, XMLHttpRequest, navigator };
}

test("a src set by code on a script, iframe or img is held before the element exists in the page", () => {
  const { document } = installed();
  const script = document.createElement("script");
  script.src = "https://www.googletagmanager.com/gtag/js?id=G-1";
  assert.equal(script.getAttribute("src"), null);
  assert.equal(script.getAttribute("data-consent-src"), "https://www.googletagmanager.com/gtag/js?id=G-1");
  assert.equal(script.getAttribute("data-consent"), "functional");
  const frame = document.createElement("iframe");
  frame.setAttribute("SRC", "https://googleads.g.doubleclick.net/x");
  assert.equal(frame.getAttribute("SRC"), null);
  assert.equal(frame.getAttribute("data-consent-src"), "https://googleads.g.doubleclick.net/x");
  const pixel = document.createElement("img");
  pixel.src = "https://ads.example/p.gif";
  assert.equal(pixel.getAttribute("data-consent"), "advertising");
});

test("a src that is no held vendor's, or on another element, is set as it is", () => {
  const { document, on } = installed();
  const app = document.createElement("script");
  app.src = "/static/app.js";
  assert.equal(app.getAttribute("src"), "/static/app.js");
  const cdn = document.createElement("img");
  cdn.src = "https://cdn.shop.example/logo.png";
  assert.equal(cdn.getAttribute("src"), "https://cdn.shop.example/logo.png");
  const div = document.createElement("div");
  div.setAttribute("src", "https://ads.example/p.gif");
  assert.equal(div.getAttribute("src"), "https://ads.example/p.gif");
  on.add("functional");
  const gtag = document.createElement("script");
  gtag.src = "https://www.googletagmanager.com/gtag/js";
  assert.equal(gtag.getAttribute("src"), "https://www.googletagmanager.com/gtag/js", "allowed by then");
  assert.equal(gtag.getAttribute("data-consent"), null);
});

test("innerHTML, insertAdjacentHTML, createContextualFragment and document.write get gated HTML", () => {
  const { document, html, Range } = installed();
  const tag = '<iframe src="https://googleads.g.doubleclick.net/x"></iframe>';
  const gated = '<iframe data-consent="advertising" data-consent-src="https://googleads.g.doubleclick.net/x"></iframe>';
  const div = document.createElement("div");
  div.innerHTML = tag;
  div.insertAdjacentHTML("beforeend", tag);
  new Range().createContextualFragment(tag);
  document.write(tag);
  assert.deepEqual(html, [gated, gated, gated, gated]);
});

test("fetch, XMLHttpRequest and sendBeacon to a held host are refused; others pass", async () => {
  const { sent, on, window, XMLHttpRequest, navigator } = installed();
  const collect = "https://www.google-analytics.com/g/collect?v=2";
  window.fetch(collect);
  window.fetch({ url: collect, method: "POST" });
  new XMLHttpRequest().open("POST", collect);
  assert.equal(navigator.sendBeacon(collect, "data"), false);
  window.fetch("/api/cart");
  new XMLHttpRequest().open("GET", "https://cdn.shop.example/x.json");
  assert.equal(navigator.sendBeacon("/beacon", "data"), true);
  // Refused as a network error: sent to port 1, which no browser connects to.
  assert.deepEqual(sent, [
    ["fetch", "https://0.0.0.0:1/"],
    ["fetch", "https://0.0.0.0:1/"],
    ["xhr", "https://0.0.0.0:1/"],
    ["fetch", "/api/cart"],
    ["xhr", "https://cdn.shop.example/x.json"],
    ["beacon", "/beacon"],
  ]);
  on.add("functional");
  window.fetch(collect);
  assert.equal(navigator.sendBeacon(collect, "data"), true);
  assert.deepEqual(sent.slice(-2), [["fetch", collect], ["beacon", collect]]);
});
