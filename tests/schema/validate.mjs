// validate.mjs: check Kubernetes manifests against the schemas of kubernetes-models
// (https://github.com/tommy351/kubernetes-models-ts), offline.
//
//   node tests/schema/validate.mjs [--modules DIR] FILE...
//
// Each YAML document of each FILE is matched by apiVersion and kind to a model class:
// Flux's groups (*.toolkit.fluxcd.io) from @kubernetes-models/flux-cd, generated from
// Flux's Go API types; everything else from kubernetes-models, generated from Kubernetes'
// OpenAPI document. The class's validate() runs the JSON schema (types, enums, required
// fields, formats). An apiVersion/kind neither package has is a failure, not a pass.
//
// Not checked: unknown fields. The packages compile their schemas to ajv functions without
// additionalProperties: false and ship no schema document to check against, so a misspelt
// optional field passes. Nor are most kubebuilder markers of Flux's CRDs in the schemas
// generated from its Go types: an interval of "1 hour" passes.
//
// Prints one line per document, "FILE[#N] KIND/NAME: ok" or "... FAIL" followed by one
// indented "PATH: MESSAGE" line per schema error, and exits 1 if any document failed,
// 2 if the packages are not installed or an argument is wrong.
//
// The packages are installed by scripts/install-tools.sh from package.json and
// package-lock.json beside this file into .tools/schema/node_modules (the default
// for --modules). A bare `import "kubernetes-models/v1"` would look only in node_modules
// folders above this file, so each is imported by the file its package.json exports for
// "import" (or "node").

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const INSTALL_HINT = "run `bash scripts/install-tools.sh` to install them";

function usage(message) {
  process.stderr.write(`validate.mjs: ${message}\nusage: node validate.mjs [--modules DIR] FILE...\n`);
  process.exit(2);
}

function parseArgs(argv) {
  let modules = resolve(HERE, "../../.tools/schema/node_modules");
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--modules") {
      if (i + 1 >= argv.length) usage("--modules needs a directory");
      modules = resolve(argv[++i]);
    } else if (argv[i].startsWith("-")) {
      usage(`unknown option ${argv[i]}`);
    } else {
      files.push(argv[i]);
    }
  }
  if (files.length === 0) usage("no FILE given");
  return { modules, files };
}

const { modules, files } = parseArgs(process.argv.slice(2));

// import(PACKAGE/SUBPATH) as Node would from inside `modules`; null if the package does
// not export SUBPATH (an apiVersion it does not have).
async function load(pkg, subpath) {
  const dir = join(modules, pkg);
  const manifest = join(dir, "package.json");
  if (!existsSync(manifest)) {
    process.stderr.write(`validate.mjs: ${pkg} is not installed in ${modules}; ${INSTALL_HINT}\n`);
    process.exit(2);
  }
  const exported = JSON.parse(readFileSync(manifest, "utf8")).exports ?? {};
  const entry = exported[subpath === "" ? "." : `./${subpath}`];
  const target = typeof entry === "string" ? entry : (entry?.import ?? entry?.node);
  if (typeof target !== "string") return null;
  return import(pathToFileURL(join(dir, target)).href);
}

const yamlModule = await load("yaml", "");
const YAML = yamlModule.default ?? yamlModule;

// The model class for apiVersion/kind, or an error string.
const packages = new Map();
async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || apiVersion === "" || typeof kind !== "string" || kind === "") {
    return "no apiVersion or kind";
  }
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  const pkg = group.endsWith(".toolkit.fluxcd.io") ? "@kubernetes-models/flux-cd" : "kubernetes-models";
  const key = `${pkg} ${apiVersion}`;
  if (!packages.has(key)) packages.set(key, await load(pkg, apiVersion));
  const mod = packages.get(key);
  const model = mod?.[kind];
  // Every export of a version module is a class; only the top-level kinds carry their
  // own apiVersion and kind.
  if (typeof model !== "function" || model.apiVersion !== apiVersion || model.kind !== kind) {
    return `unknown apiVersion/kind ${apiVersion} ${kind}: not in ${pkg}`;
  }
  return model;
}

// "PATH: MESSAGE" lines for a ValidationError of @kubernetes-models/validate (ajv errors,
// messages in English by ajv-i18n).
function describe(error) {
  if (!Array.isArray(error?.errors)) return [`/: ${error?.message ?? error}`];
  return error.errors.map((e) => {
    let path = e.instancePath || "";
    let detail = "";
    if (e.keyword === "required") path += `/${e.params.missingProperty}`;
    if (e.keyword === "enum") detail = ` (${e.params.allowedValues.join(", ")})`;
    return `${path || "/"}: ${e.message}${detail}`;
  });
}

let failed = 0;
for (const file of files) {
  let docs;
  try {
    docs = YAML.parseAllDocuments(readFileSync(file, "utf8"), { prettyErrors: true });
  } catch (e) {
    console.log(`${file}: FAIL\n    /: ${e.message}`);
    failed++;
    continue;
  }
  let n = 0;
  for (const doc of docs) {
    n++;
    const where = docs.length > 1 ? `${file}#${n}` : file;
    const problems = [...doc.errors, ...doc.warnings].map((e) => `/: yaml: ${e.message.split("\n")[0]}`);
    const obj = problems.length ? null : doc.toJS({ maxAliasCount: 100 });
    if (obj === null && problems.length === 0) continue; // an empty document
    let label = "?";
    if (problems.length === 0) {
      if (typeof obj !== "object" || Array.isArray(obj)) {
        problems.push("/: a document must be a mapping");
      } else {
        label = `${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}`;
        const model = await modelFor(obj.apiVersion, obj.kind);
        if (typeof model === "string") {
          problems.push(`/: ${model}`);
        } else {
          try {
            new model(obj).validate();
          } catch (e) {
            problems.push(...describe(e));
          }
        }
      }
    }
    if (problems.length === 0) {
      console.log(`${where} ${label}: ok`);
    } else {
      failed++;
      console.log(`${where} ${label}: FAIL`);
      for (const p of problems) console.log(`    ${p}`);
    }
  }
}
process.exit(failed ? 1 : 0);
