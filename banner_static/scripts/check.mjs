// Fails when dist/banner.js is not what the source builds to, and prints its size.
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { bundle } from "./build.mjs";

const dist = fileURLToPath(new URL("../dist/banner.js", import.meta.url));
const built = await bundle();
const committed = await readFile(dist, "utf8").catch(() => "");
const gzip = gzipSync(built, { level: 9 }).length;
console.log(`dist/banner.js: ${built.length} bytes, ${gzip} bytes gzip -9 (without the site config)`);
if (built !== committed) {
  console.error("dist/banner.js is out of date: run `npm run build` and commit it.");
  process.exit(1);
}
