// The page's language first (<html lang>), then the browser's, each matched exactly and
// then by its base language (de-AT -> de); the site's default when none is shipped.
import { has } from "./untrusted.js";

export function pickLanguage(config) {
  const shipped = Object.keys(config.texts);
  for (const wanted of [document.documentElement.lang, ...(navigator.languages || [])]) {
    const lower = (wanted || "").toLowerCase();
    const match = shipped.find((lang) => lang.toLowerCase() == lower) ||
      shipped.find((lang) => lang.toLowerCase() == lower.split("-")[0]);
    if (match) return match;
  }
  return has(config.texts, config.language) ? config.language : shipped[0];
}

export const isRightToLeft = (lang) => ["ar", "he", "fa", "ur"].includes(lang.split("-")[0]);
