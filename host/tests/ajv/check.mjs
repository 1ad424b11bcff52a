// Compiles every JSON Schema under a folder with Ajv (draft 2020-12,
// strict mode, standard formats) and, given a corpus file, validates each
// of its documents against its schema and prints the verdicts as JSON.
//
//   node check.mjs SCHEMA_DIR [CORPUS.json]
//
// CORPUS.json: [{"schema": "esnekpos/refund.request.json", "doc": {...}}, ...]
// Output: {"compiled": N, "errors": [...], "verdicts": [true|false, ...]}
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [dir, corpusFile] = process.argv.slice(2);
const files = [];
const walk = (d) => {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".json") && name !== "index.json" && name !== "openapi.json") files.push(p);
  }
};
walk(dir);
const validators = {};
const errors = [];
for (const f of files.sort()) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  try {
    validators[relative(dir, f)] = ajv.compile(JSON.parse(readFileSync(f, "utf8")));
  } catch (e) {
    errors.push(`${relative(dir, f)}: ${e.message}`);
  }
}
const verdicts = [];
if (corpusFile) {
  for (const { schema, doc } of JSON.parse(readFileSync(corpusFile, "utf8"))) {
    const v = validators[schema];
    verdicts.push(v ? v(doc) : null);
  }
}
console.log(JSON.stringify({ compiled: Object.keys(validators).length, errors, verdicts }));
