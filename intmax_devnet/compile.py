"""Compile the devnet contracts and keep their artifacts committed.

Deploying the devnet needs no compiler: `artifacts/<Contract>.json` (ABI and bytecode) are
committed. `python -m intmax_devnet.compile` recompiles them; `--check` exits non-zero when the
committed artifacts differ from a fresh compile (a test runs it, so stale artifacts fail CI).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CONTRACTS_DIR = PACKAGE_DIR / "contracts"
ARTIFACTS_DIR = PACKAGE_DIR / "artifacts"
COMPILE_SCRIPT = PACKAGE_DIR / "compile.cjs"
PROJECT_ROOT = PACKAGE_DIR.parent

# Pinned so that artifacts are reproducible: solcjs defaults to the newest EVM (osaka), which the
# pinned anvil may not run by default. cancun has PUSH0, MCOPY and transient storage.
EVM_VERSION = "cancun"
SOLC_VERSION = "0.8.37"


def standard_json_input() -> dict:
    sources = {
        str(path.relative_to(CONTRACTS_DIR)): {"content": path.read_text()}
        for path in sorted(CONTRACTS_DIR.rglob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": 200},
            # Withdrawal.submitWithdrawalProof has enough locals to need the IR pipeline.
            "viaIR": True,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def compile_contracts() -> dict[str, dict]:
    """Return {contract name: artifact} for every contract in contracts/ (not interfaces or libraries)."""
    solc_js = PROJECT_ROOT / "node_modules" / "solc"
    if not solc_js.exists():
        raise SystemExit("npm package 'solc' is missing: run `npm install` in the project root first")
    result = subprocess.run(
        ["node", str(COMPILE_SCRIPT), str(CONTRACTS_DIR)],
        input=json.dumps(standard_json_input()),
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    output = json.loads(result.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise SystemExit("\n".join(e["formattedMessage"] for e in errors))
    artifacts: dict[str, dict] = {}
    for source, contracts in output["contracts"].items():
        for name, compiled in contracts.items():
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode:  # interfaces and abstract contracts
                continue
            if name in artifacts:
                raise SystemExit(f"two contracts are named {name}; artifact names must be unique")
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "compiler": {"solc": SOLC_VERSION, "evmVersion": EVM_VERSION},
                "abi": compiled["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


def _render(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def write_artifacts(artifacts: dict[str, dict]) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    for stale in ARTIFACTS_DIR.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    for name, artifact in artifacts.items():
        (ARTIFACTS_DIR / f"{name}.json").write_text(_render(artifact))


def stale_artifacts(artifacts: dict[str, dict]) -> list[str]:
    """Names whose committed artifact is missing, extra or differs from `artifacts`."""
    committed = {p.stem: p.read_text() for p in ARTIFACTS_DIR.glob("*.json")}
    names = set(committed) | set(artifacts)
    return sorted(n for n in names if n not in artifacts or committed.get(n) != _render(artifacts[n]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed artifacts are stale")
    args = parser.parse_args(argv)
    artifacts = compile_contracts()
    if args.check:
        stale = stale_artifacts(artifacts)
        if stale:
            print("stale devnet artifacts: " + ", ".join(stale), file=sys.stderr)
            print("run: python -m intmax_devnet.compile", file=sys.stderr)
            return 1
        print(f"{len(artifacts)} devnet artifacts are up to date")
        return 0
    write_artifacts(artifacts)
    print(f"wrote {len(artifacts)} artifacts to {ARTIFACTS_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
