#!/usr/bin/env python3
"""Man page parts generated from the built binaries' --help, so pages and --help never disagree.

usage: manpage.py commands HYVCTL OUT            help2man include with a [COMMANDS] section: the
                                                 --help of every hyvctl subcommand (recursively)
       manpage.py conf HYVD VERSION INCLUDE OUT  hyvd.conf(5): one entry per hyvd option (its long
                                                 name, default and help), plus INCLUDE's sections
INCLUDE uses help2man's include syntax: "[SECTION]" lines, each followed by roff text.
"""
import re
import subprocess
import sys


def help_of(*argv):
    return subprocess.run(list(argv) + ["--help"], check=True, capture_output=True, text=True).stdout


def roff_text(line):
    line = line.replace("\\", "\\e")
    return "\\&" + line if line.startswith((".", "'")) else line


def section(help_text, title):
    """Lines of one "Title:" block of CLI11's help, up to the next blank line."""
    lines = help_text.splitlines()
    if f"{title}:" not in lines:
        return []
    start = lines.index(f"{title}:") + 1
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line)
    return block


def commands(hyvctl, out_path):
    out = ["[COMMANDS]"]

    def describe(path):
        text = help_of(hyvctl, *path)
        subcommands = [line.split()[0] for line in section(text, "Subcommands")]
        if subcommands:
            for name in subcommands:
                describe(path + [name])
            return
        lines = text.splitlines()
        usage = next(line for line in lines if line.startswith("Usage: "))[len("Usage: "):]
        out.extend([".TP", ".B " + roff_text(usage), roff_text(lines[0])])
        details = section(text, "Positionals") + [
            line for line in section(text, "Options") if not line.strip().startswith("-h,--help")]
        if details:
            out.extend([".RS", ".nf"] + [roff_text(line[2:]) for line in details] + [".fi", ".RE"])

    for name in [line.split()[0] for line in section(help_of(hyvctl), "Subcommands")]:
        describe([name])
    with open(out_path, "w") as f:
        f.write("\n".join(out) + "\n")


OPTION = re.compile(r"^  (?:-\w,)?--([a-z][a-z0-9-]*)(?:[ =](\S+(?: \S+)*?))?(?:\s{2,}(.*))?$")


def conf_entries(hyvd):
    entries = []
    for line in section(help_of(hyvd), "Options"):
        match = OPTION.match(line)
        if match:
            name, spec, text = match.groups()
            entries.append([name, spec or "", [text] if text else []])
        elif entries and line.startswith(" " * 20):
            entries[-1][2].append(line.strip())
    return [e for e in entries if e[0] not in ("help", "version", "config")]


def include_sections(path):
    sections, current = [], None
    with open(path) as f:
        for line in f.read().splitlines():
            if re.fullmatch(r"\[[A-Z ]+\]", line):
                current = [line[1:-1], []]
                sections.append(current)
            elif current is not None:
                current[1].append(line)
    return sections


def value_kind(spec):
    """CLI11's type column ("UINT:INT in [1 - 1024]", "TEXT:{a,b}") as words; the default as written in the file."""
    kind, _, default = spec.partition("=")
    base, _, check = kind.partition(":")
    words = {"TEXT": "string", "UINT": "integer", "INT": "integer", "BOOLEAN": "true or false", "": "true or false"}
    text = words.get(base, base.lower())
    if check.startswith("{"):
        text = "one of " + ", ".join(check.strip("{}").split(","))
    elif (bounds := re.search(r"in \[(\S+) - (\S+)\]", check)):
        text = f"integer {bounds[1]}..{bounds[2]}"
    if text == "true or false" and default in ("0", "1"):
        default = "true" if default == "1" else "false"
    return text, default


def conf(hyvd, version, include, out_path):
    sections = dict((name, body) for name, body in include_sections(include))
    out = [f'.TH HYVD.CONF 5 "" "hyvd {version}" "File Formats"', ".SH NAME"] + sections.pop("NAME")
    for name in ("SYNOPSIS", "DESCRIPTION"):
        out += [".SH " + name] + sections.pop(name)
    out.append(".SH SETTINGS")
    for name, spec, text in conf_entries(hyvd):
        kind, default = value_kind(spec)
        head = f"\\fB{name}\\fR = \\fI{roff_text(kind)}\\fR"
        out += [".TP", head + (f" (default: {roff_text(default)})" if default else ""), roff_text(" ".join(text))]
    for name, body in sections.items():
        out += [".SH " + name] + body
    with open(out_path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "commands":
        commands(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "conf":
        conf(*sys.argv[2:])
    else:
        sys.exit(__doc__)
