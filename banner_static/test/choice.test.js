// The banner's reading of the `consent` cookie. The cases in choice-cases.json are shared
// with tests/security/test_opt_out_lists_and_two_cookies.py, which runs them against the
// server's reading (consent/choice.py): both must pick the same cookie.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseChoice, pickChoice } from "../src/choice.js";

const cases = JSON.parse(readFileSync(new URL("./choice-cases.json", import.meta.url)));

for (const { why, name, cookies, chosen } of cases) {
  test(`picks the cookie the server picks: ${why}`, () => {
    const picked = pickChoice(cookies, name);
    assert.deepEqual(picked, chosen === null ? undefined : parseChoice(chosen));
    if (chosen !== null) assert.ok(picked, "the chosen value parses");
  });
}

test("slugs named like Object's properties are plain keys, never inherited", () => {
  const choice = pickChoice(
    "consent=id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=1&t=1&m=custom&constructor=0&__proto__=1",
    "consent",
  );
  assert.equal(choice.on.constructor, false);
  assert.equal(choice.on.__proto__, true);
  assert.equal(Object.getPrototypeOf(choice.on), null);
  assert.equal(choice.on.toString, undefined);
  assert.equal({}.polluted, undefined);
});

test("a choice without categories allows none of them", () => {
  const choice = parseChoice("id=3f2c7b1e-9d4a-4c1b-8e2f-5a6b7c8d9e0f&v=1&t=1&m=reject_all");
  for (const slug of ["constructor", "toString", "hasOwnProperty", "__proto__", "valueOf"]) {
    assert.equal(choice.on[slug], undefined, slug);
  }
});
