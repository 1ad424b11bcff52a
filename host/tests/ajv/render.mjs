// Renders every exported request and account schema with
// react-jsonschema-form 6 (its Ajv 2020-12 validator) on the server side and
// reports any "Unsupported field schema", any console error, and the form
// data each form starts with.
//
//   node render.mjs SCHEMA_DIR
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import React from "react";
import { renderToString } from "react-dom/server";
import Form from "@rjsf/core";
import { getDefaultFormState } from "@rjsf/utils";
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv2020 from "ajv/dist/2020.js";

const dir = process.argv[2];
const files = [];
const walk = (d) => { for (const n of readdirSync(d)) { const p = join(d, n); if (statSync(p).isDirectory()) walk(p); else if (/(request|account)\.json$/.test(n)) files.push(p); } };
walk(dir);
const validator = customizeValidator({ AjvClass: Ajv2020 });
const problems = [];
const defaults = {};
const origError = console.error;
for (const f of files.sort()) {
  const schema = JSON.parse(readFileSync(f, "utf8"));
  const errs = [];
  console.error = (...a) => errs.push(a.map(String).join(" "));
  let html = "";
  try {
    html = renderToString(React.createElement(Form.default ?? Form, { schema, validator }));
  } catch (e) { errs.push("threw: " + e.message); }
  console.error = origError;
  if (html.includes("Unsupported field schema")) problems.push(`${relative(dir, f)}: unsupported field`);
  // An alternative without a title is drawn as "… option 1": unclear.
  if (/\boption \d/i.test(html.replace(/<[^>]+>/g, " "))) problems.push(`${relative(dir, f)}: an untitled alternative`);
  // What the form starts with: it must not pre-fill what a plain request
  // cannot send (an empty list item, a null).
  defaults[relative(dir, f)] = getDefaultFormState(validator, schema, undefined, schema);
  for (const e of errs) problems.push(`${relative(dir, f)}: console.error: ${e.slice(0, 300)}`);
}
console.log(JSON.stringify({ rendered: files.length, problems, defaults }, null, 1));
