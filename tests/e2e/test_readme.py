"""The README as its readers use it: the two quick-start commands, the operator install block run
as written (with its paths moved under a scratch root), and a table of contents that lists every
section."""

from __future__ import annotations

import grp
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from conftest import REPO_ROOT, authgate_binary

README = REPO_ROOT / "README.md"


def section(title_prefix: str) -> str:
    """The text of the ``##`` section whose title starts with ``title_prefix``."""
    text = README.read_text()
    match = re.search(rf"^## {re.escape(title_prefix)}.*?$(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"README.md has no section '## {title_prefix}…'"
    return match.group(1)


def shell_blocks(text: str) -> list[list[str]]:
    """The ```sh blocks of ``text``, as their command lines (comments and blank lines dropped)."""
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [
        [line for line in (raw.split("#", 1)[0].strip() for raw in block.splitlines()) if line]
        for block in blocks
    ]


def _toc_script():
    """scripts/readme-toc.py, the one place that knows GitHub's anchor of a heading."""
    spec = importlib.util.spec_from_file_location("readme_toc", REPO_ROOT / "scripts" / "readme-toc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


slug = _toc_script().slug


def test_quick_start_is_two_commands_run_it_and_test_it():
    blocks = shell_blocks(section("Quick start"))
    assert blocks, "no ```sh block in the quick start"
    assert blocks[0] == ["swift run authgate demo", "scripts/test.sh"], blocks[0]
    assert len(blocks) == 1, f"the quick start has more command blocks: {blocks[1:]}"
    # The test command installs what it needs: no third command on a fresh machine.
    test_sh = (REPO_ROOT / "scripts" / "test.sh").read_text()
    assert "scripts/install-test-deps.sh" in test_sh
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "exec scripts/test.sh" in ci


def test_operator_install_block_leaves_a_config_and_secrets_the_service_user_can_read():
    """The install block as an operator types it, with /etc/authgate, /usr/local/bin and the unit
    directory moved under a scratch root; `useradd` and `runuser` are real (the suite runs as
    root, as CI does). The block ends by running check-config as the service user, which fails
    if the user cannot read the file."""
    assert os.geteuid() == 0, "the install block needs root (useradd, install -o/-g); CI runs as root"
    blocks = shell_blocks(section("Operator quick start"))
    install = blocks[0]
    assert any(line.startswith("useradd") or "useradd" in line for line in install), install
    root = Path(tempfile.mkdtemp(prefix="authgate-install-"))
    try:
        root.chmod(0o755)
        binary = str(authgate_binary())
        script = []
        for line in install:
            if line.startswith("swift build"):
                continue  # the suite's binary stands in for the release build
            line = line.replace(".build/release/authgate", binary)
            line = line.replace("/usr/local/bin/authgate", f"{root}/bin/authgate")
            line = line.replace("/etc/systemd/system/", f"{root}/systemd/")
            line = line.replace("/etc/authgate", f"{root}/etc/authgate")
            line = line.replace("-- authgate ", f"-- {root}/bin/authgate ")
            script.append(line)
        (root / "bin").mkdir()
        (root / "systemd").mkdir()
        (root / "etc").mkdir()
        for directory in (root / "bin", root / "systemd", root / "etc"):
            directory.chmod(0o755)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"install block failed:\n{chr(10).join(script)}\n{result.stdout}{result.stderr}"
        assert ": OK (" in result.stdout, result.stdout
        config_dir = root / "etc" / "authgate"
        for path, mode in ((config_dir / "gateway.conf", 0o640), (config_dir / "authgate.env", 0o640)):
            info = path.stat()
            assert stat.S_IMODE(info.st_mode) == mode, f"{path}: mode {oct(info.st_mode)}"
            assert info.st_uid == 0, f"{path} should belong to root"
            assert info.st_gid == grp.getgrnam("authgate").gr_gid, f"{path} should belong to group authgate"
        assert stat.S_IMODE(config_dir.stat().st_mode) == 0o750
        # The environment file is readable by the service user and by nobody else.
        readable = subprocess.run(
            ["runuser", "-u", "authgate", "--", "cat", str(config_dir / "authgate.env")], capture_output=True
        )
        assert readable.returncode == 0, readable.stderr
        other = subprocess.run(
            ["runuser", "-u", "nobody", "--", "cat", str(config_dir / "gateway.conf")], capture_output=True
        )
        assert other.returncode != 0, "the config must not be world-readable"
        unit = (root / "systemd" / "authgate.service").read_text()
        assert "EnvironmentFile=-/etc/authgate/authgate.env" in unit
        assert "User=authgate" in unit
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_table_of_contents_lists_every_section():
    text = README.read_text()
    match = re.search(r"^## Contents\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no '## Contents' section"
    links = re.findall(r"\]\(#([^)]+)\)", match.group(1))
    # Headings inside code blocks are not headings.
    in_code = False
    real = []
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"^#{2,3} ", line) and line.strip() != "## Contents":
            real.append(line.lstrip("#").strip())
    assert real, "no headings found"
    missing = [h for h in real if slug(h) not in links]
    assert not missing, f"sections missing from the table of contents: {missing}"
    anchors = {slug(h) for h in real}
    dangling = [link for link in links if link not in anchors]
    assert not dangling, f"table of contents links to no heading: {dangling}"
