#!/usr/bin/env python3
"""Checks that Package.swift declares exactly what each target imports.

For every target of the root package: the modules its Swift files import (system modules such as
Foundation, Synchronization or Glibc left out) must equal the modules of its declared
dependencies (a product counts as the modules it vends). Prints each difference and exits 1 if
there is any; `make check-imports` runs it.
"""
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Modules that come with the toolchain or the OS: never declared.
SYSTEM = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Synchronization", "Glibc", "Musl",
    "Darwin", "Dispatch", "Testing", "XCTest", "_Concurrency", "os", "CoreFoundation",
}
# Products whose modules differ from their names.
PRODUCT_MODULES = {
    "_NIOFileSystem": {"_NIOFileSystem", "NIOFileSystem"},
}
IMPORT = re.compile(
    r"^\s*(?:@[A-Za-z_]+(?:\([^)]*\))?\s+)*(?:public |internal |package |private |fileprivate )?"
    r"import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z_0-9]*)"
)


def imports(directory: pathlib.Path) -> set[str]:
    found = set()
    for path in directory.rglob("*.swift"):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = IMPORT.match(line)
            if match:
                found.add(match.group(1))
    return found - SYSTEM


def declared(target: dict) -> dict[str, set[str]]:
    """Each declared dependency by name, with the modules it vends."""
    modules = {}
    for dependency in target["dependencies"]:
        kind, value = next(iter(dependency.items()))
        name = value[0]
        modules[name] = PRODUCT_MODULES.get(name, {name}) if kind == "product" else {name}
    return modules


def main() -> int:
    # A scratch path of its own: the manifest is read even while a build holds .build.
    manifest = json.loads(subprocess.run(
        ["swift", "package", "--scratch-path", str(ROOT / ".build-manifest"), "dump-package"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout)
    problems = 0
    for target in manifest["targets"]:
        if target["type"] in ("plugin", "system", "binary", "macro"):
            continue
        default = "Tests" if target["type"] == "test" else "Sources"
        path = ROOT / (target.get("path") or f"{default}/{target['name']}")
        used, listed = imports(path), declared(target)
        for module in sorted(used - set().union(*listed.values())):
            print(f"{target['name']}: imports {module} but does not declare it")
            problems += 1
        for name, modules in sorted(listed.items()):
            if not modules & used:
                print(f"{target['name']}: declares {name} but imports it nowhere")
                problems += 1
    if problems:
        print(f"{problems} difference(s) between Package.swift and the imports")
        return 1
    print(f"Package.swift declares exactly what each of its {len(manifest['targets'])} targets imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
