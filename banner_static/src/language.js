// Which shipped language the banner speaks: the first wanted language (the page's
// <html lang>, then the browser's, in main.js) that is shipped, matched exactly and then
// by its base language (de-AT -> de); else the site's default, else the first shipped.
// No DOM here: it runs under `node --test` as well.
import { has } from "./untrusted.js";

export function pickLanguage(config, wanted) {
  const shipped = Object.keys(config.texts);
  for (const language of wanted) {
    const lower = (language || "").toLowerCase();
    const match = shipped.find((lang) => lang.toLowerCase() === lower) ||
      shipped.find((lang) => lang.toLowerCase() === lower.split("-")[0]);
    if (match) return match;
  }
  return has(config.texts, config.language) ? config.language : shipped[0];
}

export const isRightToLeft = (lang) => ["ar", "he", "fa", "ur"].includes(lang.split("-")[0]);
