// The two layers and the floating button, in an open shadow root so the site's CSS cannot
// reach in. Styles are adopted as a constructed stylesheet, which a strict CSP
// (style-src 'self') allows; browsers without it get a <style> with the script's nonce.
//
// First layer: a non-modal dialog over the bottom of the page (position: fixed, so it
// never moves the page's content). Second layer: a modal dialog that traps Tab, closes on
// Esc and gives focus back to whatever opened it.
import { h } from "./dom.js";
import { has, webUrl } from "./untrusted.js";
import css from "./banner.css";

const FOCUSABLE = "button,input:not(:disabled),a[href],summary";

export function createUI({ config, texts, lang, rtl, nonce, signal, isOn, decide, allow }) {
  // The banner's shadow root and each placeholder's document get the one stylesheet.
  function style(root, realm = window) {
    try {
      const sheet = new realm.CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } catch {
      (root.head || root).append(h("style", { nonce }, css));
    }
  }
  const host = h("consent-ui");
  const root = host.attachShadow({ mode: "open" });
  style(root);

  const button = (label, onclick, extra) => h("button", { class: extra ? "button " + extra : "button", onclick }, label);
  const closeButton = (onclick) => h("button", { class: "close", "aria-label": texts.close, onclick }, "×");
  const privacyLink = webUrl(config.privacyUrl) && h("a", { href: config.privacyUrl }, texts.privacy);
  let opener;

  const bar = h(
    "div",
    { class: "bar", role: "dialog", "aria-labelledby": "banner-title", "aria-describedby": "banner-body", tabindex: -1, hidden: true },
    h("div", { class: "text" }, h("h2", { id: "banner-title" }, texts.title), h("p", { id: "banner-body" }, texts.body, " ", privacyLink)),
    h(
      "div",
      { class: "buttons" },
      button(texts.acceptAll, () => decide(null, "accept_all")),
      button(texts.rejectAll, () => decide({}, "reject_all")),
      button(texts.customise, () => open(), "secondary"),
    ),
  );

  const switches = Object.create(null);
  const lifetime = (days) => (typeof days === "number" ? days + " " + (days === 1 ? texts.day : texts.days) : texts.session);
  const sections = config.categories.map(({ slug, required, vendors, cookies }) => {
    const words = (has(texts.categories, slug) && texts.categories[slug]) || { name: slug };
    switches[slug] = h("input", {
      type: "checkbox",
      role: "switch",
      class: "switch",
      id: "switch-" + slug,
      "aria-describedby": "about-" + slug,
      disabled: required || signal,
    });
    return h(
      "section",
      { class: "category" },
      h(
        "div",
        { class: "row" },
        h("h3", {}, h("label", { for: "switch-" + slug }, words.name)),
        required && h("span", { class: "muted" }, texts.alwaysOn),
        switches[slug],
      ),
      h("p", { class: "muted", id: "about-" + slug }, words.description),
      vendors.length > 0 && h(
        "details",
        {},
        h("summary", {}, `${texts.vendors} (${vendors.length})`),
        h("ul", {}, vendors.map((vendor) => h(
          "li",
          {},
          h("strong", {}, vendor.name),
          vendor.description && [" ", vendor.description],
          webUrl(vendor.privacyUrl) && [" ", h("a", { href: vendor.privacyUrl, "aria-label": texts.privacy + ": " + vendor.name }, texts.privacy)],
        ))),
      ),
      cookies.length > 0 && h(
        "details",
        {},
        h("summary", {}, `${texts.cookies} (${cookies.length})`),
        h("ul", {}, cookies.map((cookie) => h(
          "li",
          {},
          h("code", {}, cookie.name),
          " · " + lifetime(cookie.days),
          cookie.vendor && " · " + cookie.vendor,
          cookie.purpose && h("br"),
          cookie.purpose,
        ))),
      ),
    );
  });

  const save = () => {
    const on = Object.create(null);
    for (const slug in switches) on[slug] = switches[slug].checked;
    decide(on, "custom");
  };
  const dialog = h(
    "div",
    { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "preferences-title", tabindex: -1, onkeydown: trapKeys },
    h("div", { class: "header" }, h("h2", { id: "preferences-title" }, texts.preferences), closeButton(() => close())),
    signal && h("p", { class: "note", role: "status" }, texts.honoured),
    h("p", {}, texts.body, " ", privacyLink && privacyLink.cloneNode(true)),
    sections,
    h(
      "div",
      { class: "buttons" },
      signal
        ? button(texts.close, () => close())
        : [
          button(texts.acceptAll, () => decide(null, "accept_all")),
          button(texts.rejectAll, () => decide({}, "reject_all")),
          button(texts.save, save, "secondary"),
        ],
    ),
  );
  const overlay = h("div", { class: "overlay", hidden: true, onclick: (event) => event.target === overlay && close() }, dialog);
  const reopenButton = config.button && h("button", { class: "reopen", "aria-haspopup": "dialog", onclick: () => open() }, texts.preferences);
  const reloadNote = h(
    "div",
    { class: "reload", role: "status", hidden: true },
    button(texts.reload, () => location.reload()),
    closeButton(() => { reloadNote.hidden = true; }),
  );

  root.append(h("div", { class: "root", lang, dir: rtl ? "rtl" : "ltr" }, bar, reopenButton, reloadNote, overlay));
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

  function open(from) {
    opener = from || deepActiveElement();
    for (const { slug, required } of config.categories) switches[slug].checked = required || isOn(slug);
    overlay.hidden = false;
    dialog.focus();
  }

  function close() {
    if (overlay.hidden) return;
    overlay.hidden = true;
    const target = [opener, reopenButton, bar].find(isShown);
    if (target) target.focus();
  }

  function trapKeys(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    } else if (event.key === "Tab") {
      const focusable = [...dialog.querySelectorAll(FOCUSABLE)].filter(isShown);
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      const active = root.activeElement;
      if (event.shiftKey ? active === first || active === dialog : active === last) {
        event.preventDefault();
        (event.shiftKey ? last : first).focus();
      }
    }
  }

  // Shows the first layer while the visitor has not decided, the floating button after.
  function render(decided) {
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
      style(doc, frame.contentWindow);
      doc.documentElement.lang = lang;
      doc.body.append(h(
        "div",
        { class: "root overlay", dir: rtl ? "rtl" : "ltr" },
        h(
          "div",
          { class: "dialog" },
          h("p", {}, h("strong", {}, vendor), " · " + name),
          h(
            "div",
            { class: "buttons" },
            button(texts.loadOnce, then(load)),
            // Under GPC or DNT no category can be switched on; one embed can still load.
            !signal && button(texts.allowAlways.replace("%s", name), then(() => allow(slug)), "secondary"),
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

  return {
    render,
    open,
    placeholder,
    offerReload: () => { reloadNote.hidden = false; },
  };
}
