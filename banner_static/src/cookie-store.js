// The visitor's choice lives in one first-party cookie, so it is per browser and needs
// no login: id=<uuid>&v=<policy version>&t=<unix seconds>&m=<method>&<slug>=1|0...
import { pickChoice } from "./choice.js";

export const readChoice = (name) => pickChoice(document.cookie, name);

// `on` maps every optional category slug to a boolean.
// How long a choice lasts, in seconds: consentDays when it allows anything, else
// refusalDays (a refusal is not asked again before then).
export const lifetime = (cookie, choice) =>
  (Object.values(choice.on).includes(true) ? cookie.consentDays : cookie.refusalDays) * 86400;

export function writeChoice(cookie, choice) {
  let value = `id=${choice.id}&v=${choice.v}&t=${choice.t}&m=${choice.m}`;
  for (const slug in choice.on) value += `&${slug}=${choice.on[slug] ? 1 : 0}`;
  setCookie(cookie.name + "=" + value, lifetime(cookie, choice), "/", cookie.domain);
}

function setCookie(nameValue, maxAge, path, domain) {
  // A ";" or "," from the configuration would add attributes of its own: not written.
  if (/[;,\s]/.test(nameValue + path + (domain || ""))) return;
  document.cookie = nameValue + "; Max-Age=" + maxAge + "; Path=" + path +
    (domain ? "; Domain=" + domain : "") + "; SameSite=Lax" +
    (location.protocol === "https:" ? "; Secure" : "");
}

const globToRegExp = (glob) =>
  RegExp("^" + glob.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");

// Deletes a withdrawn category's cookies. A cookie can only be deleted with the domain and
// path it was set with, and the browser does not tell us those, so every plausible
// variant is expired: no domain, the host and each parent domain with and without a
// leading dot, the declared domains; the declared path, "/", the current path and its
// parents.
export function expireCookies(definitions, siteDomain) {
  const present = document.cookie.split("; ").map((pair) => pair.split("=")[0]);
  const host = location.hostname.split(".");
  const domains = ["", siteDomain, ...host.flatMap((_, i) => [host.slice(i).join("."), "." + host.slice(i).join(".")])];
  const paths = location.pathname.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/") || "/");
  for (const { name, domain, path } of definitions) {
    for (const cookie of name.includes("*") ? present.filter((present) => globToRegExp(name).test(present)) : [name]) {
      for (const d of new Set(domains.concat(domain || []))) {
        for (const p of new Set(paths.concat(path || []))) setCookie(cookie + "=", 0, p, d);
      }
    }
  }
}
