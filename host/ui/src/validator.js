// A react-jsonschema-form validator on @cfworker/json-schema (JSON Schema
// 2020-12, formats included). Ajv, RJSF's usual validator, compiles schemas
// into code with `new Function`, which the console's Content-Security-Policy
// forbids (no 'unsafe-eval'); cfworker interprets the schema instead.
import { Validator } from "@cfworker/json-schema";
import {
  createErrorHandler,
  getDefaultFormState,
  toErrorSchema,
  unwrapErrorHandler,
  validationDataMerge,
} from "@rjsf/utils";

// Keywords that only say "something inside failed": the inner error says what.
const WRAPPERS = new Set([
  "properties", "items", "prefixItems", "$ref", "allOf", "if", "then", "else",
  "contains", "additionalItems", "unevaluatedItems", "dependentSchemas",
  "propertyNames", "patternProperties",
]);

const compiled = new WeakMap();

/** A cfworker validator for `schema`, with the root's `$defs` beside it. */
function validatorFor(schema, rootSchema) {
  const key = schema;
  let byRoot = compiled.get(key);
  if (!byRoot) {
    byRoot = new Map();
    compiled.set(key, byRoot);
  }
  const rootKey = rootSchema ?? null;
  let v = byRoot.get(rootKey);
  if (!v) {
    const s = { ...schema };
    if (rootSchema && rootSchema !== schema && rootSchema.$defs && !s.$defs) {
      s.$defs = rootSchema.$defs;
      // A sub-schema's `#/$defs/...` resolves against the root's id.
      if (rootSchema.$id && !s.$id) s.$id = rootSchema.$id;
    }
    v = new Validator(s, "2020-12", false);
    byRoot.set(rootKey, v);
  }
  return v;
}

/** `#/a/0/b` -> `.a.0.b` (RJSF's property paths). */
function propertyOf(instanceLocation) {
  const parts = instanceLocation
    .replace(/^#\/?/, "")
    .split("/")
    .filter((p) => p !== "")
    .map((p) => decodeURIComponent(p).replace(/~1/g, "/").replace(/~0/g, "~"));
  return parts.length ? "." + parts.join(".") : "";
}

/** cfworker's output as RJSF validation errors. */
export function toRjsfErrors(output) {
  const out = [];
  const seen = new Set();
  for (const e of output.errors) {
    if (WRAPPERS.has(e.keyword)) continue;
    let property = propertyOf(e.instanceLocation);
    let message = e.error;
    if (e.keyword === "required") {
      const m = /required property "([^"]+)"/.exec(e.error);
      if (m) {
        property = `${property}.${m[1]}`;
        message = "is required";
      }
    }
    const key = `${property}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      name: e.keyword,
      property,
      message,
      params: {},
      stack: `${property || "."} ${message}`.trim(),
      schemaPath: e.keywordLocation,
    });
  }
  return out;
}

/** The validator object RJSF 6 expects. */
export const cfworkerValidator = {
  validateFormData(formData, schema, customValidate, transformErrors, uiSchema) {
    const raw = this.rawValidation(schema, formData);
    let errors = raw.errors;
    if (raw.validationError) errors = [...errors, { stack: raw.validationError.message }];
    if (typeof transformErrors === "function") errors = transformErrors(errors, uiSchema);
    const errorSchema = toErrorSchema(errors);
    if (typeof customValidate !== "function") return { errors, errorSchema };
    const data = getDefaultFormState(this, schema, formData, schema, true);
    const handler = customValidate(data, createErrorHandler(data), uiSchema, errorSchema);
    return validationDataMerge({ errors, errorSchema }, unwrapErrorHandler(handler));
  },
  isValid(schema, formData, rootSchema) {
    try {
      return validatorFor(schema, rootSchema).validate(formData === undefined ? null : formData).valid;
    } catch {
      return false;
    }
  },
  rawValidation(schema, formData) {
    try {
      const output = validatorFor(schema, schema).validate(formData === undefined ? {} : formData);
      return { errors: toRjsfErrors(output), validationError: undefined };
    } catch (e) {
      return { errors: [], validationError: e };
    }
  },
};
