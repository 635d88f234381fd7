#!/usr/bin/env python3
"""The folders are the layers: no library includes or links a layer above it.

Each folder of src/ (and operator/) may include, and link through CMake DEPS, only the folders
listed for it below; a folder not listed is an error too, so a new one has to take its place in
the picture. Run from anywhere: scripts/check-layers.py [REPO]. Exit 1 names every offending
line as FILE:LINE: what, allowed.
"""
import pathlib
import re
import sys

# Lowest first. Each entry: the folders it may use (itself always). Keep docs/architecture.md in
# step with this table.
ALLOWED = {
    "common": [],
    "kube_core": ["common"],
    "kube": ["kube_core", "common"],
    "runtime": ["kube", "kube_core", "common"],
    "api": ["kube_core", "common"],
    "placement": ["api", "kube_core", "common"],
    "telemetry": ["api", "kube_core", "common"],
    "config": ["telemetry", "api", "kube_core", "common"],
    "model": ["placement", "telemetry", "api", "kube_core", "common"],
    "training": ["model", "placement", "telemetry", "api", "kube_core", "common"],
    "scaling": ["model", "placement", "telemetry", "api", "kube_core", "common"],
    "rebalance": ["common"],
    "sim": ["api", "kube_core", "common"],
    "offline": ["rebalance", "scaling", "model", "sim", "placement", "telemetry", "api", "kube_core", "common"],
    "exposition": ["runtime", "kube", "kube_core", "common"],
    "controller": ["runtime", "config", "rebalance", "scaling", "model", "placement", "telemetry", "kube", "api",
                   "kube_core", "common"],
    "app": ["controller", "exposition", "config", "model", "placement", "telemetry", "runtime",
            "kube", "api", "kube_core", "common"],
    "simulator": ["cli_flags", "sim", "exposition", "runtime", "kube", "placement", "api",
                  "kube_core", "common"],
    "cli_flags": [],
    "cli": ["cli_flags", "training", "offline", "rebalance", "scaling", "model", "sim", "config", "telemetry",
            "placement", "api", "kube_core", "common"],
    "operator": ["cli_flags", "app", "controller", "exposition", "runtime", "kube", "config",
                 "rebalance", "scaling", "model", "telemetry", "placement", "api", "kube_core", "common"],
}
# CMake targets that are a folder's library under another name.
TARGET_FOLDER = {"sim_files": "sim"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')
LINK = re.compile(r"umbra::([a-z_]+)")


def main() -> int:
    repo = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else __file__).resolve()
    if repo.is_file():
        repo = repo.parent.parent
    problems = []
    folders = [p for p in (repo / "src").iterdir() if p.is_dir()] + [repo / "operator"]
    for folder in sorted(folders):
        name = folder.name
        if name not in ALLOWED:
            problems.append(f"{folder.relative_to(repo)}: a folder with no place in the layers "
                            "(add it to scripts/check-layers.py and docs/architecture.md)")
            continue
        allowed = set(ALLOWED[name]) | {name}
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".h", ".cc"):
                pattern, what = INCLUDE, "includes"
            elif path.name == "CMakeLists.txt":
                pattern, what = LINK, "links"
            else:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                for used in pattern.findall(line):
                    used = TARGET_FOLDER.get(used, used)
                    if used not in allowed and used in ALLOWED:
                        problems.append(f"{path.relative_to(repo)}:{n}: {name} {what} {used}, "
                                        f"above or beside it (allowed: {', '.join(sorted(allowed))})")
    for p in problems:
        print(p, file=sys.stderr)
    print(f"check-layers: {len(problems)} upward or sideways dependencies in {len(folders)} folders")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
