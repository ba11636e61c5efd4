// Validates element template files against the published Camunda 7 element template schema.
// Usage: node validate-templates.mjs FILE... ; prints one JSON report per file, exits 1 if any
// template is invalid (the report names the template and every schema error).
import { readFileSync } from "node:fs";
import { validateAll } from "@bpmn-io/element-templates-validator";

let failed = false;
const reports = process.argv.slice(2).map((file) => {
  const templates = JSON.parse(readFileSync(file, "utf8"));
  const list = Array.isArray(templates) ? templates : [templates];
  const { valid, results } = validateAll(list);
  failed ||= !valid;
  return {
    file,
    valid,
    templates: results.map((r) => ({ id: r.object && r.object.id, valid: r.valid, errors: r.errors })),
  };
});
console.log(JSON.stringify(reports, null, 2));
process.exit(failed ? 1 : 0);
