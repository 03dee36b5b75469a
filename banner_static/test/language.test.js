// Which language the banner speaks (src/language.js): the page's, then the browser's,
// each exactly and then by its base language, else the site's default.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pickLanguage, isRightToLeft } from "../src/language.js";

const config = (languages, language = "en") => ({
  language,
  texts: Object.fromEntries(languages.map((lang) => [lang, { title: lang }])),
});

test("the first wanted language that is shipped wins, in the order given", () => {
  assert.equal(pickLanguage(config(["en", "de", "fr"]), ["fr", "de"]), "fr");
  assert.equal(pickLanguage(config(["en", "de", "fr"]), ["ja", "de", "fr"]), "de");
});

test("a regional tag falls back to its base language (de-AT -> de)", () => {
  assert.equal(pickLanguage(config(["en", "de"]), ["de-AT"]), "de");
});

test("an exact regional match beats the base language", () => {
  assert.equal(pickLanguage(config(["en", "pt", "pt-BR"]), ["pt-BR"]), "pt-BR");
});

test("an earlier base-language match beats a later exact one", () => {
  assert.equal(pickLanguage(config(["en", "de", "fr"]), ["de-CH", "fr"]), "de");
});

test("matching ignores case, and answers with the shipped spelling", () => {
  assert.equal(pickLanguage(config(["en", "pt-BR"]), ["PT-br"]), "pt-BR");
  assert.equal(pickLanguage(config(["en", "DE"]), ["de-at"]), "DE");
});

test("a missing page language (no <html lang>) is skipped", () => {
  assert.equal(pickLanguage(config(["en", "es"]), ["", undefined, null, "es-MX"]), "es");
});

test("nothing shipped that is wanted: the site's default", () => {
  assert.equal(pickLanguage(config(["de", "en", "fr"], "fr"), ["ja", "ja-JP"]), "fr");
  assert.equal(pickLanguage(config(["de", "en"], "en"), []), "en");
});

test("a default that is not shipped, or not an own key, gives the first shipped language", () => {
  assert.equal(pickLanguage(config(["de", "fr"], "en"), ["ja"]), "de");
  assert.equal(pickLanguage(config(["de", "fr"], "constructor"), ["ja"]), "de");
  assert.equal(pickLanguage(config(["de", "fr"], "__proto__"), []), "de");
});

test("right-to-left languages, by their base language", () => {
  for (const lang of ["ar", "he", "fa", "ur", "ar-EG", "he-IL"]) assert.equal(isRightToLeft(lang), true, lang);
  for (const lang of ["en", "de-AT", "arn", "hr"]) assert.equal(isRightToLeft(lang), false, lang);
});
