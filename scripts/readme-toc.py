#!/usr/bin/env python3
"""Writes README.md's `## Contents` (every `##` and `###` heading, linked) anew, in place, right
after the introduction (before `## Quick start`). Run it after adding or renaming a section;
tests/e2e/test_readme.py fails while the table is out of date."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def main() -> None:
    text = README.read_text()
    text = re.sub(r"^## Contents\n.*?(?=^## )", "", text, flags=re.S | re.M)
    lines, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        match = None if in_code else re.match(r"^(#{2,3}) (.*)$", line)
        if match:
            indent = "  " * (len(match.group(1)) - 2)
            title = match.group(2).strip()
            lines.append(f"{indent}- [{title.replace('`', '')}](#{slug(title)})")
    toc = "## Contents\n\n" + "\n".join(lines) + "\n\n"
    index = text.index("## Quick start")
    README.write_text(text[:index] + toc + text[index:])


if __name__ == "__main__":
    main()
