"""``dbhealth-rules generate|check``: write or verify the files generated from thresholds.yml."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from rulegen.index import render_index
from rulegen.kubernetes import render_prometheus_rule
from rulegen.model import ThresholdFile, ThresholdFileError, load
from rulegen.render import render_rules

THRESHOLDS = Path("rules/thresholds.yml")
RULES = Path("rules/dbhealth.rules.yml")
INDEX = Path("docs/runbooks/index.md")
PROMETHEUS_RULE = Path("deploy/kubernetes/prometheusrule.yaml")
RUNBOOKS = Path("docs/runbooks")

EXIT_DRIFT = 1
EXIT_INVALID = 2


def generated_files(spec: ThresholdFile) -> dict[Path, str]:
    """Repository-relative path → content of every generated file."""
    return {RULES: render_rules(spec), INDEX: render_index(spec),
            PROMETHEUS_RULE: render_prometheus_rule(spec)}


def _generate(root: Path, spec: ThresholdFile) -> int:
    for rel, text in generated_files(spec).items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return 0


def _check(root: Path, spec: ThresholdFile) -> int:
    problems = 0
    for rel, text in generated_files(spec).items():
        target = root / rel
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            problems += 1
            print(f"{target} differs from what thresholds.yml generates:", file=sys.stderr)
            sys.stderr.writelines(difflib.unified_diff(
                current.splitlines(keepends=True), text.splitlines(keepends=True),
                fromfile=f"{rel} (committed)", tofile=f"{rel} (generated)"))
    for slug, alert in sorted(spec.runbooks().items()):
        if not (root / RUNBOOKS / f"{slug}.md").is_file():
            problems += 1
            print(f"{alert}: runbook {RUNBOOKS / slug}.md is missing", file=sys.stderr)
    if problems:
        print("run `dbhealth-rules generate` and commit the result", file=sys.stderr)
        return EXIT_DRIFT
    print("generated files are up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dbhealth-rules", description=__doc__)
    parser.add_argument("command", choices=["generate", "check"],
                        help="generate: write the rule files; check: fail when they drift")
    parser.add_argument("--root", type=Path, default=Path(),
                        help="repository root holding rules/thresholds.yml (default: .)")
    args = parser.parse_args(argv)
    try:
        spec = load(args.root / THRESHOLDS)
    except ThresholdFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.command == "generate":
        return _generate(args.root, spec)
    return _check(args.root, spec)


if __name__ == "__main__":
    sys.exit(main())
