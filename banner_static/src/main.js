// Wires the modules together: reads the stored choice and the opt-out signals, sets
// Google Consent Mode's defaults before any gated tag can run, gates the tags, shows the
// banner when a decision is needed and exposes window.Consent.
import { readChoice, writeChoice, expireCookies, lifetime } from "./cookie-store.js";
import { optOutSignal } from "./signals.js";
import { consentDefault, consentUpdate } from "./gcm.js";
import { gateTags } from "./tags.js";
import { vendorHosts, vendorOf } from "./autoblock.js";
import { postDecision, retryQueued } from "./api.js";
import { pickLanguage } from "./language.js";
import { createUI } from "./ui.js";
import { startGpp } from "./gpp.js";
import { has } from "./untrusted.js";

const uuid = () =>
  "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
    (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));

export default function start(config) {
  // Embedded twice (a template and a tag manager, say): the first one is in charge.
  if (window.Consent) return;
  consentDefault();
  const script = document.currentScript;
  const base = (script && script.src) || location.href;
  const endpoint = new URL(config.endpoint, base).href;
  const categories = config.categories;
  const optional = categories.filter((category) => !category.required).map((category) => category.slug);
  const lang = pickLanguage(config, [document.documentElement.lang, ...(navigator.languages || [])]);
  const signal = optOutSignal(config.adpc);
  const stored = readChoice(config.cookie.name);
  // A choice made under an older policy version no longer counts: nothing optional runs
  // until the visitor decides again. Neither does one a signal made once the signal is
  // gone: the visitor never chose. The consent id is kept so the records stay linked.
  // A choice lasts as long as its cookie, by its own clock too: a refusal refusalDays (not
  // asked again before), anything allowed consentDays.
  let choice = stored && stored.v === config.policyVersion && (signal || !/^(gpc|dnt|adpc)$/.test(stored.m)) &&
    Date.now() / 1e3 - stored.t < lifetime(config.cookie, stored) ? stored : null;
  let id = stored && stored.id;

  // No answer means no under opt-in (banner.js); yes under the notice-only and opt-out
  // models (banner-notice.js, banner-optout.js), until the visitor or a signal says no.
  const isOn = (slug) => !signal && (choice ? !!choice.on[slug] : NOTICE);
  const allowed = (slug) => categories.some((category) => category.slug === slug && category.required) || isOn(slug);

  const hosts = vendorHosts(categories);
  let sent;

  const get = () => ({
    id: id || null,
    policyVersion: config.policyVersion,
    method: choice ? choice.m : null,
    time: choice ? choice.t : null,
    decided: !!choice,
    signal: signal || null,
    categories: Object.fromEntries(categories.map(({ slug }) => [slug, allowed(slug)])),
  });

  function decide(on, method) {
    // An opt-out signal overrides everything: the only decision recorded is the signal's.
    if (signal && method !== signal) return;
    const ran = optional.filter(allowed);
    const before = choice || stored;
    // No prototype: "__proto__" is a slug like any other, and an unknown key is no yes.
    const next = Object.create(null);
    for (const slug of optional) next[slug] = !signal && (on ? has(on, slug) && !!on[slug] : true);
    const withdrawn = ran.some((slug) => !next[slug]);
    if (method === "custom" && withdrawn) method = "withdraw";
    id = id || uuid();
    choice = { id, v: config.policyVersion, t: Math.floor(Date.now() / 1000), m: method, on: next };
    writeChoice(config.cookie, choice);
    sent = postDecision(endpoint, {
      consent_id: id,
      // Lets the platform recognise this decision if it is resent after a lost answer.
      decision_id: uuid(),
      categories: next,
      policy_version: config.policyVersion,
      method,
      language: lang,
      page_url: location.href,
    });
    consentUpdate(allowed);
    if (OPT_OUT) gppUpdate();
    activateTags();
    // What was on (under the notice models, with no choice yet: everything) and is now
    // off loses its cookies. A choice's `on` has no prototype: a slug named like one of
    // Object's properties is no yes.
    const off = optional.filter((slug) => (before ? before.on[slug] : NOTICE) && !next[slug]);
    expireCookies(categories.flatMap((category) => (off.includes(category.slug) ? category.cookies : [])), config.cookie.domain);
    render(true);
    if (withdrawn) offerReload();
    document.dispatchEvent(new CustomEvent("consent:change", { detail: get() }));
  }

  const set = (on) => decide({ ...(choice && choice.on), ...on }, "custom");
  const [render, open, placeholder, offerReload] = createUI(config, lang, script && script.nonce, signal, isOn, decide, (slug) => set({ [slug]: true }), base);
  const activateTags = gateTags(allowed, hosts, config.autoBlocking, placeholder);

  // A Content-Security-Policy cannot change once its page has loaded (Django sites list
  // only allowed vendors: consent.csp), so what a vendor the visitor just allowed loads
  // is blocked by it (a pixel, a beacon, a script without our nonce). Then the page
  // reloads once, after the decision was sent, to run under the new policy. (A site
  // whose own policy leaves out a vendor it uses reloads once after each decision.)
  addEventListener("securitypolicyviolation", (event) => {
    const vendor = vendorOf(hosts, event.blockedURI);
    if (sent && vendor && allowed(vendor[1])) {
      sent.then(() => location.reload());
      sent = 0;
    }
  });

  // Earlier decisions the platform has not acknowledged yet; before this view's own.
  retryQueued();
  addEventListener("online", retryQueued);

  // GPP's US National section, where the opt-out model applies: kept in step with every
  // decision and signal.
  const gpp = OPT_OUT && startGpp();
  const gppUpdate = () => gpp(true, !allowed("advertising"), signal === "gpc");
  if (OPT_OUT) gppUpdate();
  if (signal && !(choice && choice.m === signal)) decide({}, signal);
  else if (choice || NOTICE) consentUpdate(allowed);
  render(!!(choice || signal));

  // Any [data-consent-open] element reopens the preferences, also from the keyboard when
  // the site used an element that is not a link or button.
  const opener = (event) => {
    const element = event.target.closest && event.target.closest("[data-consent-open]");
    if (element && (event.type === "click" || ((event.key === "Enter" || event.key === " ") && !/^(A|BUTTON)$/.test(element.tagName)))) {
      event.preventDefault();
      open(element);
    }
  };
  document.addEventListener("click", opener);
  document.addEventListener("keydown", opener);

  window.Consent = {
    version: config.policyVersion,
    get,
    allowed,
    open: () => open(),
    acceptAll: () => decide(null, "accept_all"),
    rejectAll: () => decide({}, "reject_all"),
    set,
  };
}
