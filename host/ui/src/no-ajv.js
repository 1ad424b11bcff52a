// @rjsf/core's test helper (getTestRegistry) imports RJSF's Ajv validator;
// the console never calls it, and Ajv cannot run under the console's CSP
// (it compiles with `new Function`). This stands in for it at build time.
export default {};
export function customizeValidator() {
  throw new Error("the Ajv validator is not part of the console");
}
