"""One registry pattern: registration, did-you-mean errors, config-schema validation, CLI listing,
and a new role that is one class in one file."""

import numpy as np
import pytest
from typer.testing import CliRunner

from superalign.cli import app
from superalign.errors import ConfigError
from superalign.oversight import ATTACKERS, CRITICS, POLICIES, BaseAttacker, LoopConfig, OversightError, Query
from superalign.registry import Registry
from superalign.w2s import ExperimentConfig


def test_register_lookup_and_suggestions():
    reg = Registry("widget")

    @reg.register("sprocket")
    class Sprocket:
        """Turns things."""

    assert reg.get("sprocket") is Sprocket and "sprocket" in reg and reg.names() == ["sprocket"]
    assert reg.summary("sprocket") == "Turns things."
    with pytest.raises(ConfigError, match=r"unknown widget 'sprockt' \(did you mean 'sprocket'\?\); known: sprocket"):
        reg.get("sprockt")
    with pytest.raises(ConfigError, match="unknown widget 'zzz'; known: sprocket"):
        reg.get("zzz")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("sprocket", object())


def test_a_redefinition_replaces_the_entry_and_anything_else_under_a_taken_name_is_an_error():
    from superalign.losses import LOSSES
    from superalign.registry import code_identity

    reg = Registry("widget")

    def define():
        def turn():
            return 1

        return turn

    first, again = define(), define()  # the same module and qualified name: a script or notebook cell run again
    reg.add("turn", first)
    reg.add("turn", again)
    assert reg.get("turn") is again

    def other():
        return 2

    with pytest.raises(ValueError, match="registered twice"):
        reg.add("turn", other)
    reg.add("thing", spec := object())
    reg.add("thing", spec)  # the same object again is fine; another instance is not
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("thing", object())
    assert code_identity(LOSSES["xent"]) is None  # the library's code is keyed by its versions
    assert len(code_identity(first)) == 16 and code_identity(first) != code_identity(other)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("attackers=[pool,perturbb]", "unknown attacker 'perturbb' (did you mean 'perturb'?)"),
        ("critic=wek", "unknown critic 'wek' (did you mean 'weak'?)"),
        ("policy=disagree", "unknown selection policy 'disagree' (did you mean 'disagreement'?)"),
    ],
)
def test_loop_config_validates_role_names_with_suggestions(override, expected):
    with pytest.raises(ConfigError) as e:
        LoopConfig.load(None, [override])
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_policies_raise_the_oversight_error():
    with pytest.raises(OversightError, match="unknown selection policy"):
        POLICIES.get("psychic")


def test_a_new_attacker_is_one_registered_class(monkeypatch):
    class EchoAttacker(BaseAttacker):
        """Proposes the first pool items unchanged."""

        name = "echo"

        @classmethod
        def from_context(cls, ctx):
            return cls()

        def propose(self, learner, pool, n, rng):
            return list(pool[:n])

        def success(self, learner, probe, rng):
            return {"success": 0.0, "n": 0}

    monkeypatch.setitem(ATTACKERS._items, "echo", EchoAttacker)
    cfg = LoopConfig.load(None, ["attackers=[echo]"])
    assert (
        cfg.attackers == ["echo"]
        and ATTACKERS.get("echo")
        .from_context(None)
        .propose(None, [Query("p:0", "x", "p:0", "pool")], 1, np.random.default_rng(0))[0]
        .id
        == "p:0"
    )


def test_cli_lists_every_registry():
    out = CliRunner().invoke(app, ["registry"], env={"COLUMNS": "200"}).output
    for name in (
        "tasks",
        "losses",
        "methods",
        "attackers",
        "critics",
        "policies",
        "sentiment",
        "gce",
        "knn_relabel",
        "perturb",
        "generative",
        "weak",
        "llm",
        "disagreement",
    ):
        assert name in out, name
    assert set(CRITICS.names()) == {"weak", "llm"}
    r = CliRunner().invoke(app, ["registry", "attacker"])
    assert "did you mean 'attackers'" in str(r.exception)


def test_methods_listing_shows_types_ranges_and_defaults():
    out = CliRunner().invoke(app, ["methods"], env={"COLUMNS": "250"}).output
    assert (
        "q=0.7 (float in (0, 1])" in out and "keep=0.5 (float in (0, 1])" in out and "rounds=2 (int in [1, inf))" in out
    )


def test_config_hashes_are_unchanged_so_cached_runs_stay_valid():
    """A run's identity is the hash of its resolved config: moving fields between classes must not change it."""
    assert ExperimentConfig().hash() == "76e8409917a6"
    assert LoopConfig().hash() == "01334d20f25e"
    # the rounds key also holds the code version (ROUNDS_VERSION, the package version): it moves with them
    assert LoopConfig().rounds_key() == "cbfb04b3ba25"
