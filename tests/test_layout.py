"""The package layout holds: dependencies point one way, and remote-code files import only what a Hub repo has."""

import ast
from pathlib import Path

import pytest

from modeling_v2xum.remote_code import REMOTE_CODE_MODULES


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("processing", "modeling_v2xum", "v2xum", "evaluate_metrics")
# What each part of the repository may import from the others (v2xum -> modeling_v2xum -> processing;
# v2xum -> evaluate_metrics; train_sft.py sits above v2xum; evaluate_metrics stands alone).
ALLOWED = {
    "processing": set(),
    "modeling_v2xum": {"processing"},
    "v2xum": {"modeling_v2xum", "processing", "evaluate_metrics"},
    "evaluate_metrics": set(),
    "train_sft": {"v2xum", "modeling_v2xum", "processing"},
}


def imported_modules(path: Path) -> set[str]:
    """Absolute top-level names a file imports (anywhere in it, functions included); relative imports are 'self'."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("self" if node.level else node.module.split(".")[0])
    return names


def sources(owner: str) -> list[Path]:
    return [ROOT / "train_sft.py"] if owner == "train_sft" else sorted((ROOT / owner).rglob("*.py"))


@pytest.mark.parametrize("owner", sorted(ALLOWED))
def test_dependencies_point_one_way(owner):
    files = sources(owner)
    assert files, f"no sources for {owner}"
    forbidden = (set(PACKAGES) | {"train_sft"}) - ALLOWED[owner] - {owner}
    offending = {str(f.relative_to(ROOT)): sorted(imported_modules(f) & forbidden) for f in files}
    assert {f: names for f, names in offending.items() if names} == {}


def test_the_vllm_plugin_stands_alone():
    """`v2xum-vllm` is its own distribution, installed in vLLM's environment: it imports none of this repository's
    packages (what it needs of them, it carries in `checkpoint_code`)."""
    files = sorted((ROOT / "v2xum-vllm" / "v2xum_vllm").rglob("*.py"))
    assert files
    forbidden = set(PACKAGES) | {"train_sft"}
    offending = {str(f.relative_to(ROOT)): sorted(imported_modules(f) & forbidden) for f in files}
    assert {f: names for f, names in offending.items() if names} == {}


def test_product_code_never_imports_test_helpers():
    """Test helpers (`v2xum.testing`, `tests`) serve tests; nothing the package runs depends on them."""
    product = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if p.name != "testing.py"]
    offending = {}
    for path in [*product, ROOT / "train_sft.py"]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([f"{'.' * node.level}{node.module or ''}"] if isinstance(node, ast.ImportFrom) else [])
            )
            bad = [n for n in names if n.split(".")[0] == "tests" or n in ("v2xum.testing", ".testing")]
            if bad:
                offending[str(path.relative_to(ROOT))] = bad
    assert offending == {}


def test_shipped_folders_hold_current_copies():
    """The demo model's remote code and each metric folder's shared files are real files, equal to their sources
    (`save_remote_code`, `python -m evaluate_metrics` refresh them)."""
    from evaluate_metrics import SHARED_FILES, shared_copy
    from modeling_v2xum.remote_code import remote_code_files
    from v2xum.resources import demo_model_dir

    carried = ROOT / "v2xum-vllm" / "v2xum_vllm" / "checkpoint_code"
    for folder in (demo_model_dir(), carried):
        for name, source in remote_code_files().items():
            copy = folder / name
            assert not copy.is_symlink() and copy.read_bytes() == source.read_bytes(), copy
    for module, names in SHARED_FILES.items():
        for name in names:
            copy = ROOT / "evaluate_metrics" / module / name
            assert not copy.is_symlink() and copy.read_text() == shared_copy(name), copy


def test_the_rule_catches_an_upward_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from v2xum.cli import main\n    import evaluate_metrics.scoring\n")
    assert {"v2xum", "evaluate_metrics"} <= imported_modules(module)


def test_remote_code_files_import_each_other_flatly():
    """In a Hub repository the remote-code files sit side by side: they may import each other only relatively
    (`from .summary import ...`), never through a package name."""
    for package, names in REMOTE_CODE_MODULES.items():
        for name in names:
            imported = imported_modules(ROOT / package / name)
            assert not imported & set(PACKAGES), f"{package}/{name} imports {sorted(imported & set(PACKAGES))}"


def test_each_package_owns_its_part():
    """The application lives in v2xum/, not in the model or I/O packages."""
    assert {p.stem for p in (ROOT / "modeling_v2xum").glob("*.py")} == {
        "__init__",
        "configuration_v2xum",
        "modeling_v2xum",
        "generation_v2xum",
        "pipeline_v2xum",
        "composition",
        "convert_v2xum_original",
        "remote_code",
        "projector_weights",
        "model_card",
    }
    assert {p.stem for p in (ROOT / "processing").glob("*.py")} == {
        "__init__",
        "processing_v2xum",
        "video_processing_v2xum",
        "video_decoding",
        "summary",
        "timeline",
    }
