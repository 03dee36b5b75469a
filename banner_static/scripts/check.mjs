// Fails when a dist/ file is not what the source builds to, and prints each one's size.
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { bundle, VARIANTS } from "./build.mjs";

for (const [name, flags] of Object.entries(VARIANTS)) {
  const dist = fileURLToPath(new URL("../dist/" + name, import.meta.url));
  const built = await bundle(flags);
  const committed = await readFile(dist, "utf8").catch(() => "");
  const gzip = gzipSync(built, { level: 9 }).length;
  console.log(`dist/${name}: ${built.length} bytes, ${gzip} bytes gzip -9 (without the site config)`);
  if (built !== committed) {
    console.error(`dist/${name} is out of date: run \`npm run build\` and commit it.`);
    process.exit(1);
  }
}
