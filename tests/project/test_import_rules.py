"""The house's import rules, as import-linter contracts in pyproject.toml ``[tool.importlinter]``
(as harlequin keeps its core free of Textual): ``wizard/`` never imports Textual or the screens,
the engine never imports the lab, a strategy imports nothing from the engine.

``lint-imports`` runs in a subprocess from the repository, on its source, with no cache."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES = {
    "wizard/ never imports Textual or the screens": (["wizard"], {"textual", "screens"}),
    "the engine never imports the lab": (["wizard.engine"], {"wizard.lab"}),
    "a strategy imports nothing from the engine": (["wizard.strategies"], {"wizard.engine"}),
}
LAYERS = "the house stands in layers: each imports only what stands below it"
LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def contracts() -> dict[str, dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_every_rule_is_a_forbidden_contract() -> None:
    found = contracts()
    for name, (sources, forbidden) in RULES.items():
        contract = found[name]
        assert contract["type"] == "forbidden", name
        assert contract["source_modules"] == sources, name
        assert set(contract["forbidden_modules"]) == forbidden, name


def test_the_code_keeps_every_import_rule() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for name in [*RULES, LAYERS]:
        assert f"{name} KEPT" in output, output


def test_one_layered_contract_holds_every_product_package_top_down() -> None:
    """The commands above the screens above the engine and the lab, the strategies below
    whatever renders and validates, the node agent and the leaves at the bottom; a package
    missing from the layers is nowhere in the contract."""
    contract = contracts()[LAYERS]
    assert contract["type"] == "layers"
    layers = [
        set(layer.replace("|", ":").replace(" ", "").split(":")) for layer in contract["layers"]
    ]
    where = {name: i for i, layer in enumerate(layers) for name in layer}
    assert (
        where["wizard.cli"] < where["wizard.commands"] < where["screens"] < where["wizard.engine"]
    )
    assert where["wizard.engine"] == where["wizard.lab"]
    assert where["wizard.render"] < where["wizard.validation"] < where["wizard.strategies"]
    assert where["wizard.strategies"] < where["wizard.plan"] < where["wizard.profile"]
    assert where["wizard.profile"] < where["wizard.agent"]
    product = {
        f"wizard.{p.stem}"
        for p in (REPO / "wizard").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and not p.name.startswith("__")
    }
    assert product - set(where) == set(), "packages of wizard/ outside the layers"
