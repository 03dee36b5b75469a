// The two layers and the floating button, in an open shadow root so the site's CSS cannot
// reach in. Styles are adopted as a constructed stylesheet, which a strict CSP
// (style-src 'self') allows; browsers without it get a <style> with the script's nonce.
//
// First layer: a non-modal dialog over the bottom of the page (position: fixed, so it
// never moves the page's content). Second layer: the preferences dialog, in its own file
// (src/preferences.js), loaded the first time the visitor reaches for it.
import { h } from "./dom.js";
import { has, webUrl } from "./untrusted.js";
import { isRightToLeft } from "./language.js";
import banner from "./banner.css";

// The opt-out link's icon and status line: only in banner-optout.js.
const css = OPT_OUT ? banner + ".icon{vertical-align:middle}.status{display:block;font-size:.85em}" : banner;

// The California Privacy Protection Agency's opt-out icon: a blue and white toggle, a
// check on the white side and a cross on the blue. Decorative: the link's text says it.
const SVG = "http://www.w3.org/2000/svg";
function privacyChoicesIcon() {
  const svg = (tag, attributes, ...children) => {
    const element = document.createElementNS(SVG, tag);
    for (const name in attributes) element.setAttribute(name, attributes[name]);
    element.append(...children);
    return element;
  };
  return svg(
    "svg",
    { viewBox: "0 0 30 14", width: 30, height: 14, "aria-hidden": "true", class: "icon" },
    svg("rect", { x: 0.5, y: 0.5, width: 29, height: 13, rx: 6.5, fill: "#fff", stroke: "#06f" }),
    svg("path", { d: "M17 .5h6a6.5 6.5 0 0 1 0 13H13z", fill: "#06f" }),
    svg("path", { d: "M5 7.2l2.3 2.3L12 4.8", fill: "none", stroke: "#06f", "stroke-width": 1.6 }),
    svg("path", { d: "M19.5 4.5l5 5m0-5l-5 5", fill: "none", stroke: "#fff", "stroke-width": 1.6 }),
  );
}

// signal: the opt-out signal in force ("" for none); isOn(slug): whether an optional
// category is on; decide(on, method) records a decision; allow(slug) switches one on.
// base: the URL the configuration's relative URLs are relative to (the script's own).
export function createUI(config, lang, nonce, signal, isOn, decide, allow, base) {
  const texts = config.texts[lang];
  const dir = isRightToLeft(lang) ? "rtl" : "ltr";
  // The banner's shadow root and each placeholder's document get the banner's
  // stylesheet; the preferences layer adds its own.
  function style(root, sheetText = css, realm = window) {
    try {
      const sheet = new realm.CSSStyleSheet();
      sheet.replaceSync(sheetText);
      root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
    } catch {
      (root.head || root).append(h("style", { nonce }, sheetText));
    }
  }
  const host = h("consent-ui");
  const root = host.attachShadow({ mode: "open" });
  style(root);

  const button = (label, onclick, secondary) => h("button", { class: secondary ? "button secondary" : "button", onclick }, label);
  // What opens the preferences starts loading them as soon as the visitor points at it.
  const openButton = (label) => h("button", { class: "button secondary", onclick: () => open(), onpointerenter: load, onfocus: load }, label);
  const closeButton = (onclick) => h("button", { class: "close", "aria-label": texts.close, onclick }, "×");
  const privacyLink = () => webUrl(config.privacyUrl) && h("a", { href: config.privacyUrl }, texts.privacy);
  const acceptOrReject = (last) => [
    button(texts.acceptAll, () => decide(null, "accept_all")),
    button(texts.rejectAll, () => decide({}, "reject_all")),
    last,
  ];
  let opener;

  // Notice-only and opt-out models (banner-notice.js, banner-optout.js): a notice instead
  // of a question, and under opt-out a "Your Privacy Choices" link, with the CPPA's
  // opt-out icon, always shown.
  let dismissed;
  if (NOTICE) {
    try {
      dismissed = localStorage["consent:notice"];
    } catch {
      // Storage blocked: the notice shows on every page until the visitor decides.
    }
  }
  const bar = h(
    "div",
    { class: "bar", role: "dialog", "aria-labelledby": "banner-title", "aria-describedby": "banner-body", tabindex: -1, hidden: true },
    h("div", { class: "text" }, h("h2", { id: "banner-title" }, NOTICE ? texts.noticeTitle : texts.title), h("p", { id: "banner-body" }, NOTICE ? texts.noticeBody : texts.body, " ", privacyLink())),
    h(
      "div",
      { class: "buttons" },
      NOTICE
        ? [
          button(texts.ok, () => {
            try {
              localStorage["consent:notice"] = dismissed = 1;
            } catch {
              // Storage blocked: hidden on this page only.
            }
            render(false);
          }),
          OPT_OUT && button(texts.optOut, () => decide({ ...Object.fromEntries(config.categories.map(({ slug }) => [slug, isOn(slug)])), advertising: false }, "custom")),
          openButton(OPT_OUT ? texts.choices : texts.customise),
        ]
        : acceptOrReject(openButton(texts.customise)),
    ),
  );

  // The opt-out model's link is the law's, whatever the site set: always there.
  const reopenButton = (OPT_OUT || config.button) && h(
    "button",
    // (Not on focus: the button takes focus when a decision hides the first layer.)
    { class: "reopen", "aria-haspopup": "dialog", onclick: () => open(), onpointerenter: load },
    OPT_OUT ? [privacyChoicesIcon(), " ", texts.choices, signal && h("span", { class: "status" }, texts.honoured)] : texts.preferences,
  );
  const reloadNote = h(
    "div",
    { class: "reload", role: "status", hidden: true },
    button(texts.reload, () => location.reload()),
    closeButton(() => (reloadNote.hidden = true)),
  );

  const layers = h("div", { class: "root", lang, dir }, bar, reopenButton, reloadNote);
  root.append(layers);
  // The banner script runs in <head>, before <body> exists. It is mounted as soon as the
  // parser creates <body>: still before the first paint, and inside the document's body
  // where assistive technology and audits expect content.
  let whenMounted = () => {};
  function mount() {
    if (!document.body) return false;
    document.body.append(host);
    whenMounted();
    return true;
  }
  if (!mount()) {
    new MutationObserver((_, observer) => mount() && observer.disconnect())
      .observe(document.documentElement, { childList: true });
  }

  function deepActiveElement() {
    let active = document.activeElement;
    while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
    return active;
  }

  const isShown = (element) => element && element.isConnected && element.getClientRects().length > 0;

  // The preferences layer: loaded once, by a <script> with the banner's nonce (so a
  // strict CSP lets it run), when the visitor first points at or focuses a button that
  // opens it, or asks for it; opening waits for it. Where it cannot load, the first layer
  // shows instead: its buttons decide (and opt out) without it.
  let loading, overlay, show;
  function load() {
    return loading = loading || new Promise((resolve, reject) => {
      const script = h("script", { src: new URL(config.preferences, base), nonce, onload: () => resolve(script.panel), onerror: reject });
      document.head.append(script);
    }).then((make) => {
      [overlay, show] = make({
        texts, lang, signal, isOn, decide, button, closeButton, privacyLink, acceptOrReject, close,
        title: (OPT_OUT && texts.choices) || texts.preferences,
        style: (sheet) => style(root, sheet),
      });
      layers.append(overlay);
    }).catch(() => (loading = 0));
  }

  function open(from) {
    opener = from || deepActiveElement();
    load().then(() => {
      if (show) return show();
      render(false, true);
      bar.focus();
    });
  }

  function close() {
    if (!overlay || overlay.hidden) return;
    overlay.hidden = true;
    const target = [opener, reopenButton, bar].find(isShown);
    if (target) target.focus();
  }

  // Shows the first layer while the visitor has not decided (a notice: until they
  // decide or dismiss it), the floating button after (the opt-out link: always).
  // (again: even so, as when the preferences cannot load.)
  function render(decided, again) {
    if (NOTICE && dismissed && !again) decided = true;
    // (While the notice shows, its own "Your Privacy Choices" button is the link.)
    if (reopenButton) reopenButton.hidden = !decided;
    if (!decided && bar.hidden) {
      bar.hidden = false;
      // Screen readers announce the banner when it takes focus, unless the visitor is
      // already somewhere on the page.
      whenMounted = () => {
        const active = document.activeElement;
        if (!active || active === document.body) bar.focus({ preventScroll: true });
      };
      if (host.isConnected) whenMounted();
    } else if (decided) {
      bar.hidden = true;
      close();
      if (root.activeElement && !isShown(root.activeElement) && isShown(reopenButton)) reopenButton.focus();
    }
  }

  // A placeholder in a held iframe: what it is, "Load this once" and "Always allow
  // <category>", as a card like the preferences layer. It is the iframe's own content (an
  // empty same-origin srcdoc, filled from here and styled by a constructed sheet, which a
  // strict CSP allows), so it has the embed's size by construction and nothing moves when
  // the embed loads.
  function placeholder(frame, vendor, slug, load) {
    const name = (has(texts.categories, slug) && texts.categories[slug].name) || slug;
    // The embed replaces this document: focus stays on it, where the visitor was.
    const then = (action) => () => {
      action();
      frame.focus();
    };
    const show = () => {
      // Null for an iframe sandboxed without allow-same-origin: it stays empty.
      const doc = frame.contentDocument;
      if (!doc) return;
      style(doc, css, frame.contentWindow);
      doc.documentElement.lang = lang;
      doc.body.append(h(
        "div",
        { class: "root overlay", dir },
        h(
          "div",
          { class: "dialog" },
          h("p", {}, h("strong", {}, vendor), " · " + name),
          h(
            "div",
            { class: "buttons" },
            button(texts.loadOnce, then(load)),
            // Under GPC or DNT no category can be switched on; one embed can still load.
            !signal && button(texts.allowAlways.replace("%s", name), then(() => allow(slug)), true),
          ),
        ),
      ));
    };
    frame.addEventListener("load", show);
    frame.srcdoc = "";
    return () => {
      frame.removeEventListener("load", show);
      frame.removeAttribute("srcdoc");
    };
  }

  return [render, open, placeholder, () => (reloadNote.hidden = false)];
}
