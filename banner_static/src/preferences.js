// The second layer, dist/preferences.js: a modal dialog with a switch per category and
// its vendors and cookies. Most visitors answer on the first layer and never open it, so
// it is not in the banner's own script: the banner loads it the first time the visitor
// reaches for it (ui.js), from /c/SITE_KEY/preferences.js, which appends what only this
// layer shows (the categories' descriptions, each vendor's and each cookie's details and
// their words, per language) as `data`. The dialog traps Tab, closes on Esc and gives
// focus back to whatever opened it (ui.js).
import { h } from "./dom.js";
import { has, webUrl } from "./untrusted.js";
import css from "./preferences.css";

// The banner reads the layer from the <script> element it added.
export default function register(data) {
  document.currentScript.panel = (ui) => build(ui, data);
}

const FOCUSABLE = "button,input:not(:disabled),a[href],summary";

// ui: what the first layer shares (ui.js): its words, the opt-out signal in force,
// isOn(slug), decide(on, method), its button makers and close().
function build(ui, data) {
  const { texts: first, signal, button, close } = ui;
  const own = data.texts[ui.lang] || {};
  const texts = { ...first, ...own };
  ui.style(css);

  const switches = Object.create(null);
  const sections = data.categories.map(({ slug, required, vendors, cookies }) => {
    const words = {
      ...(has(first.categories, slug) && first.categories[slug]),
      ...(has(own.categories || {}, slug) && own.categories[slug]),
    };
    const details = (summary, items, item) => items.length > 0 && h(
      "details",
      {},
      h("summary", {}, `${summary} (${items.length})`),
      h("ul", {}, items.map((entry) => h("li", {}, ...item(entry)))),
    );
    return h(
      "section",
      { class: "category" },
      h(
        "div",
        { class: "row" },
        h("h3", {}, h("label", { for: "switch-" + slug }, words.name || slug)),
        required && h("span", { class: "muted" }, texts.alwaysOn),
        (switches[slug] = h("input", {
          type: "checkbox",
          role: "switch",
          class: "switch",
          id: "switch-" + slug,
          "aria-describedby": "about-" + slug,
          disabled: required || signal,
        })),
      ),
      h("p", { class: "muted", id: "about-" + slug }, words.description),
      details(texts.vendors, vendors, (vendor) => [
        h("strong", {}, vendor.name),
        vendor.description && [" ", vendor.description],
        webUrl(vendor.privacyUrl) && [" ", h("a", { href: vendor.privacyUrl, "aria-label": texts.privacy + ": " + vendor.name }, texts.privacy)],
      ]),
      details(texts.cookies, cookies, ({ name, days, vendor, purpose }) => [
        h("code", {}, name),
        " · " + (typeof days === "number" ? days + " " + (days === 1 ? texts.day : texts.days) : texts.session),
        vendor && " · " + vendor,
        purpose && h("br"),
        purpose,
      ]),
    );
  });

  const isShown = (element) => element.getClientRects().length > 0;
  function trapKeys(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    } else if (event.key === "Tab") {
      const focusable = [...dialog.querySelectorAll(FOCUSABLE)].filter(isShown);
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      const active = dialog.getRootNode().activeElement;
      if (event.shiftKey ? active === first || active === dialog : active === last) {
        event.preventDefault();
        (event.shiftKey ? last : first).focus();
      }
    }
  }

  const dialog = h(
    "div",
    { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "preferences-title", tabindex: -1, onkeydown: trapKeys },
    h("div", { class: "header" }, h("h2", { id: "preferences-title" }, ui.title), ui.closeButton(close)),
    signal && h("p", { class: "note", role: "status" }, texts.honoured),
    h("p", {}, texts.body, " ", ui.privacyLink()),
    sections,
    h(
      "div",
      { class: "buttons" },
      signal
        ? button(texts.close, close)
        : ui.acceptOrReject(button(texts.save, () => {
          const on = Object.create(null);
          for (const slug in switches) on[slug] = switches[slug].checked;
          ui.decide(on, "custom");
        }, true)),
    ),
  );
  const overlay = h("div", { class: "overlay", hidden: true, onclick: (event) => event.target === overlay && close() }, dialog);
  // Shown with each switch as the visitor's choice stands now.
  const show = () => {
    for (const { slug, required } of data.categories) switches[slug].checked = required || ui.isOn(slug);
    overlay.hidden = false;
    dialog.focus();
  };
  return [overlay, show];
}
