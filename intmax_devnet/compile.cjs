// Compiles a Solidity standard-JSON input read from stdin with the npm `solc` (solcjs, wasm) and
// writes the standard-JSON output to stdout. Called from intmax_devnet/compile.py: solcjs's own
// CLI prints an extra line before the JSON, so we call the library directly.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const input = fs.readFileSync(0, "utf8");
const root = process.argv[2];

function findImports(importPath) {
  const full = path.join(root, importPath);
  if (fs.existsSync(full)) return { contents: fs.readFileSync(full, "utf8") };
  return { error: `import not found: ${importPath}` };
}

process.stdout.write(solc.compile(input, { import: findImports }));
