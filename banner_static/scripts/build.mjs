// Builds one minified function expression `(function(config){...})` per privacy model:
// dist/banner.js (opt-in), dist/banner-notice.js (notice-only: the notice instead of the
// question) and dist/banner-optout.js (the notice, the "Your Privacy Choices" link and the
// GPP API). NOTICE and OPT_OUT are constants in each build, so esbuild drops the code a
// model does not use: opt-in visitors never download the notice or GPP.
// The script endpoint appends `(` + the site's config JSON + `);`, so the served file
// runs the banner with its configuration and needs no build at request time.
// dist/preferences.js is the second layer, the same for every model, which the banner
// loads when the visitor opens it; its endpoint appends that layer's data the same way.
// esbuild bundles the modules and inlines the CSS; terser then compresses the bundle
// further (about 350 bytes gzip -9 below esbuild's own minification, which the 8 KB bar
// on the served script needs).
import { build, transform } from "esbuild";
import { minify } from "terser";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("..", import.meta.url));

export const VARIANTS = {
  "banner.js": { NOTICE: false, OPT_OUT: false },
  "banner-notice.js": { NOTICE: true, OPT_OUT: false },
  "banner-optout.js": { NOTICE: true, OPT_OUT: true },
  "preferences.js": { NOTICE: false, OPT_OUT: false, entry: "preferences.js" },
};

export async function bundle({ entry = "main.js", ...flags } = VARIANTS["banner.js"]) {
  const inlineCss = {
    name: "inline-css",
    setup(builder) {
      builder.onLoad({ filter: /\.css$/ }, async ({ path }) => {
        const css = await transform(await readFile(path, "utf8"), { loader: "css", minify: true });
        return { contents: css.code.trim(), loader: "text" };
      });
    },
  };
  const result = await build({
    stdin: { contents: `import start from "./${entry}"; start(config);`, resolveDir: dir + "src" },
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2020",
    legalComments: "none",
    write: false,
    plugins: [inlineCss],
    define: Object.fromEntries(Object.entries(flags).map(([name, on]) => [name, String(on)])),
    // `config` is the wrapping function's parameter, so the banner defines no globals.
    banner: { js: "(function(config){" },
    footer: { js: "})" },
  });
  const compressed = await minify(result.outputFiles[0].text, {
    ecma: 2020,
    // The file is one expression, which must survive as it is. Function declarations
    // hoisted to the top of their scope, and only simple functions inlined: both keep
    // the code's meaning and make it smaller once gzipped.
    compress: { passes: 3, expression: true, hoist_funs: true, inline: 1 },
    mangle: true,
    format: { comments: false },
  });
  return compressed.code.replace(/;$/, "") + "\n";
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await mkdir(dir + "dist", { recursive: true });
  for (const [name, flags] of Object.entries(VARIANTS)) await writeFile(dir + "dist/" + name, await bundle(flags));
}
