#!/usr/bin/env python3
"""Fail on `CMD | grep -q` in shell scripts that set pipefail.

grep -q exits at its first match; if CMD still has output to write it dies of SIGPIPE, and
under pipefail the pipeline then fails although the line was found (a CI run failed this way
on `hyvctl --json events | grep -q`). Write `grep -q PATTERN <<<"$(CMD)"` instead.
Pipelines inside quoted strings (`sh -c "... | grep -q ..."`) run without pipefail and are
not flagged.
usage: pipefail_grep.py REPO_ROOT
"""
import pathlib
import re
import sys

QUIET_GREP = re.compile(r"(?<!\|)\|\s*grep\s+(-[A-Za-z]*q|(-[A-Za-z]+\s+)*-q)\b")
QUOTED = re.compile(r"'[^']*'|\"(\\.|[^\"\\])*\"")


def offending_lines(script: pathlib.Path):
    text = script.read_text(errors="replace")
    if "pipefail" not in text:
        return
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split(" #", 1)[0]
        if code.lstrip().startswith("#"):
            continue
        if QUIET_GREP.search(QUOTED.sub("''", code)):
            yield number, line.strip()


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    scripts = [p for p in root.rglob("*.sh") if not {"build", ".git"} & set(p.relative_to(root).parts)]
    found = 0
    for script in sorted(scripts):
        for number, line in offending_lines(script):
            found += 1
            print(f"{script.relative_to(root)}:{number}: `| grep -q` under pipefail fails when the writer "
                  f"gets SIGPIPE; use grep -q PATTERN <<<\"$(CMD)\": {line}")
    print(f"{len(scripts)} scripts checked, {found} pipeline(s) flagged")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
