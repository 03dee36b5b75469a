// Google Consent Mode v2 (src/gcm.js): what Google's tags read from window.dataLayer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { consentDefault, consentUpdate } from "../src/gcm.js";

const pushed = () => globalThis.window.dataLayer.map((args) => Array.from(args));

test("the default denies every storage but security's and asks tags to wait", () => {
  globalThis.window = {};
  consentDefault();
  assert.deepEqual(pushed(), [[
    "consent",
    "default",
    {
      security_storage: "granted",
      analytics_storage: "denied",
      functionality_storage: "denied",
      personalization_storage: "denied",
      ad_storage: "denied",
      ad_user_data: "denied",
      ad_personalization: "denied",
      wait_for_update: 500,
    },
  ]]);
});

test("an update grants what each allowed category covers, appended to the site's dataLayer", () => {
  globalThis.window = { dataLayer: [["site", "event"]] };
  consentUpdate((slug) => slug === "functional");
  assert.deepEqual(pushed(), [
    ["site", "event"],
    [
      "consent",
      "update",
      {
        security_storage: "granted",
        analytics_storage: "granted",
        functionality_storage: "granted",
        personalization_storage: "granted",
        ad_storage: "denied",
        ad_user_data: "denied",
        ad_personalization: "denied",
      },
    ],
  ]);
  consentUpdate((slug) => slug === "advertising");
  assert.deepEqual(pushed()[2][2], {
    security_storage: "granted",
    analytics_storage: "denied",
    functionality_storage: "denied",
    personalization_storage: "denied",
    ad_storage: "granted",
    ad_user_data: "granted",
    ad_personalization: "granted",
  });
});
