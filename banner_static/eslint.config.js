// `npm run lint`. The banner runs on other people's pages, so besides the recommended
// rules: strict equality only, and no global of its own but window.Consent (its public
// API), window.dataLayer (Google Consent Mode's contract, see src/gcm.js) and window.__gpp
// (the IAB GPP CMP API's, src/gpp.js). NOTICE and OPT_OUT are the builds' variant flags (scripts/build.mjs).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  {
    rules: {
      eqeqeq: ["error", "always"],
    },
  },
  {
    files: ["src/**/*.js"],
    languageOptions: {
      sourceType: "module",
      globals: { ...globals.browser, NOTICE: "readonly", OPT_OUT: "readonly" },
    },
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector:
            "AssignmentExpression > MemberExpression.left[object.name=/^(window|self|globalThis)$/]" +
            ":not([property.name=/^(Consent|dataLayer|__gpp)$/])",
          message: "The banner defines no globals besides window.Consent.",
        },
      ],
    },
  },
  {
    files: ["scripts/**/*.mjs", "test/**/*.js", "eslint.config.js"],
    languageOptions: {
      sourceType: "module",
      globals: globals.node,
    },
  },
];
