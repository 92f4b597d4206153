"""The README and the docs site are true as printed: every ```python block runs, each in a fresh process, in a folder
holding what the pages name (`tiny-v2xum` from `v2xum init-tiny`, `my_video.mp4`, `other.mp4`, the metric folders);
blocks that load transformers alone run with this package made unimportable. ```py blocks (they need downloads)
compile. Local links point at files that exist."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from v2xum.cli import main as v2xum
from v2xum.testing import write_numbered_video


ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK_PACKAGE = 'import sys; sys.modules.update({m: None for m in ("modeling_v2xum", "processing", "v2xum")})\n'


def _blocks(language: str) -> list[tuple[str, str]]:
    return [
        (f"{page.relative_to(ROOT)} block {i}", code)
        for page in PAGES
        for i, code in enumerate(re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), flags=re.S | re.M))
    ]


def test_pages_have_python_blocks():
    assert len(_blocks("python")) >= 6 and _blocks("py")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert v2xum(["init-tiny", "tiny-v2xum"]) == 0
    finally:
        os.chdir(cwd)
    write_numbered_video(root / "my_video.mp4", 36, fps=12)
    write_numbered_video(root / "other.mp4", 20, fps=10)
    (root / "evaluate_metrics").symlink_to(ROOT / "evaluate_metrics")
    return root


@pytest.mark.parametrize("name, code", _blocks("python"), ids=[name for name, _ in _blocks("python")])
def test_python_block_runs_as_printed(name, code, workdir):
    without_package = "trust_remote_code=True" in code and "import modeling_v2xum" not in code
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(workdir / "modules")}
    result = subprocess.run(
        [sys.executable, "-c", (BLOCK_PACKAGE if without_package else "") + code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{name}:\n{code}\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("name, code", _blocks("py"), ids=[name for name, _ in _blocks("py")])
def test_download_block_compiles(name, code):
    compile(code, name, "exec")


def test_local_links_exist():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+://", target) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
