# SPDX-License-Identifier: GPL-2.0
"""Read what scripts/run-test.sh leaves in a test's result directory (KTAP of each
stage, the peer's output, the guests' consoles). For the Python the report scripts
embed: sys.path.insert(0, "scripts"); from results import read, grab."""
import re


def read(path):
    """The file's text, stripped; "" when it is missing."""
    try:
        with open(path, errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def grab(path, pattern, conv=str):
    """conv() of group 1 of the first line of the file that matches pattern, or None."""
    for line in read(path).splitlines():
        m = re.search(pattern, line)
        if m:
            return conv(m.group(1))
    return None
