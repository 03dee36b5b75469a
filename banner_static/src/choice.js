// The stored choice's grammar, and which `consent` cookie counts when the browser holds
// two (one host-only and one for the parent domain, say): the newest valid one by its
// time t, a tie going to the greater value. consent/choice.py reads the cookie by the
// same rules, so the server enforces the choice the banner shows. No DOM here: it runs
// under `node --test` as well.
const VALUE = /^[\w&=-]{1,4096}$/;
const NUMBER = /^\d{1,10}$/;
const ID = /^[\da-f]{8}(-[\da-f]{4}){3}-[\da-f]{12}$/;
const METHOD = /^(accept_all|reject_all|custom|gpc|dnt|adpc|withdraw)$/;
const FIELD = /^(id|v|t|m)$/;

// {id, v, t, m, on: {slug: bool}}, or undefined when the value is malformed or forged.
// `on` has no prototype: a category slugged "constructor" or "__proto__" is just a key.
export function parseChoice(value) {
  if (!VALUE.test(value)) return;
  const fields = Object.create(null);
  for (const pair of value.split("&")) {
    const at = pair.indexOf("=");
    const key = pair.slice(0, at);
    if (at < 0 || key in fields) return;
    fields[key] = pair.slice(at + 1);
  }
  const { id, v, t, m } = fields;
  if (!ID.test(id) || !NUMBER.test(v) || !NUMBER.test(t) || !METHOD.test(m)) return;
  const on = Object.create(null);
  for (const key in fields) {
    if (FIELD.test(key)) continue;
    if (!/^[01]$/.test(fields[key])) return;
    on[key] = fields[key] === "1";
  }
  return { id, v: +v, t: +t, m, on };
}

const trim = (text) => text.replace(/^[ \t]+|[ \t]+$/g, "");

// The choice in a Cookie header or document.cookie string.
export function pickChoice(cookies, name) {
  let best, bestValue;
  for (const pair of cookies.split(";")) {
    const at = pair.indexOf("=");
    // A quoted value (RFC 6265 §4.1.1) is the same value.
    const value = trim(pair.slice(at + 1)).replace(/^"(.*)"$/, "$1");
    if (at < 0 || trim(pair.slice(0, at)) !== name) continue;
    const choice = parseChoice(value);
    if (choice && (!best || choice.t > best.t || (choice.t === best.t && value > bestValue))) {
      best = choice;
      bestValue = value;
    }
  }
  return best;
}
