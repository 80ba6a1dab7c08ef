#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes kms11(1): the hand-written page doc/kms11.1.in with @COMMANDS@ replaced by every command of the built
CLI and every option of each, read from the CLI's own --help, so the page cannot miss one.
usage: mkman.py KMS11 TEMPLATE OUTPUT VERSION"""
import re
import subprocess
import sys


def run(cli, args):
    p = subprocess.run([cli] + args + ["--help"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    return p.returncode, p.stdout


def esc(text):
    """Text for a troff line: backslashes and hyphens escaped, no leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def commands(cli):
    rc, out = run(cli, [])
    if rc != 0:
        sys.exit(f"mkman: {cli} --help exited {rc}")
    seen = []
    for line in out.splitlines():
        if not line.startswith("  "):
            continue
        words = line.split()
        for n in (2, 1):
            cmd = words[:n]
            rc, text = run(cli, cmd)
            if rc == 0 and text.startswith("usage: kms11 " + " ".join(cmd) + " "):
                if cmd not in seen:
                    seen.append(cmd)
                break
        else:
            sys.exit(f"mkman: no command in the help line {line!r}")
    return seen


def section(cli, cmd):
    rc, out = run(cli, cmd)
    lines = out.splitlines()
    usage = lines[0][len("usage: "):]
    what = lines[1].strip()
    opts = []
    for line in lines[lines.index("options:") + 1:]:
        m = re.match(r"^  (\S.*?)\s{2,}(\S.*)$", line)
        if not m:
            sys.exit(f"mkman: cannot read the option line {line!r} of kms11 {' '.join(cmd)}")
        opts.append(m.groups())
    page = [".SS " + esc(usage), esc(what) + "."]
    for flag, text in opts:
        page += [".TP", ".B " + esc(flag), esc(text)]
    return page


def main():
    cli, template, output, version = sys.argv[1:5]
    body = []
    for cmd in commands(cli):
        body += section(cli, cmd)
    page = open(template, encoding="utf-8").read()
    page = page.replace("@VERSION@", version).replace("@COMMANDS@", "\n".join(body))
    with open(output, "w", encoding="utf-8") as f:
        f.write(page)


main()
