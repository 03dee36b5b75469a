// Google Consent Mode v2. window.dataLayer is the contract Google tags read, so the
// banner pushes there without defining a global gtag of its own.
const STORAGE_BY_CATEGORY = {
  functional: ["analytics_storage", "functionality_storage", "personalization_storage"],
  advertising: ["ad_storage", "ad_user_data", "ad_personalization"],
};

function gtag() {
  (window.dataLayer = window.dataLayer || []).push(arguments);
}

function consentState(allowed) {
  const state = { security_storage: "granted" };
  for (const slug in STORAGE_BY_CATEGORY) {
    for (const type of STORAGE_BY_CATEGORY[slug]) state[type] = allowed(slug) ? "granted" : "denied";
  }
  return state;
}

// Must run before any gated tag: everything denied until the visitor decides.
export const consentDefault = () =>
  gtag("consent", "default", { ...consentState(() => false), wait_for_update: 500 });

export const consentUpdate = (allowed) => gtag("consent", "update", consentState(allowed));
