#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Takes the fenced blocks out of README.md, so that tests run them exactly as written.

usage: readme-blocks.py README OUTDIR

Every fenced block must follow a marker line saying who runs it:
  <!-- example: NAME -->                  shell, run against the build by the readme suite (blocks of one NAME
                                          run in order, as one script)
  <!-- example: installed-sh NAME -->     shell, run on the installed packages by tests/readme-installed.sh
  <!-- example: installed-file PATH -->   a file that tests/readme-installed.sh writes to PATH
  <!-- example: output NAME -->           what kms11 prints, compared with the real output by a test
  <!-- example: ci -->                    a command CI itself runs (.ci/run)
Writes each block to OUTDIR/NN and one line "NN KIND NAME" per block to OUTDIR/index (KIND "sh" for the first form,
NAME "-" for ci). A fenced block without a marker is an error (exit 1, naming its line): no example goes unrun.
"""
import os
import re
import sys

MARK = re.compile(r"^<!-- example: (?:(installed-sh|installed-file|output) )?(\S+) -->$")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
    out = sys.argv[2]
    os.makedirs(out)
    index, unmarked = [], []
    mark = None
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if m:
            kind, name = m.group(1) or "sh", m.group(2)
            if kind == "sh" and name == "ci":
                kind, name = "ci", "-"
            mark = (kind, name)
        elif lines[i].startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if j == len(lines):
                sys.exit("%s:%d: a fenced block that does not end" % (sys.argv[1], i + 1))
            if mark is None:
                unmarked.append(i + 1)
            else:
                no = "%02d" % (len(index) + 1)
                with open(os.path.join(out, no), "w", encoding="utf-8") as f:
                    f.write("\n".join(lines[i + 1:j]) + "\n")
                index.append("%s %s %s\n" % (no, mark[0], mark[1]))
            mark, i = None, j
        elif lines[i].strip():
            # A marker belongs to the block right after it (blank lines apart).
            mark = None
        i += 1
    with open(os.path.join(out, "index"), "w", encoding="utf-8") as f:
        f.writelines(index)
    if unmarked:
        sys.exit("%s: fenced blocks without an example marker (nothing runs them), at lines %s"
                 % (sys.argv[1], ", ".join(map(str, unmarked))))


if __name__ == "__main__":
    main()
