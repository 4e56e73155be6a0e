"""One settings helper: a field declares its default, help and allowed values once, and the CLI,
the web form and the API refuse the same bad value with the same one-line error."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from brushwork.cli import app
from brushwork.core.errors import SettingsError
from brushwork.core.settings import Settings, choices, parse_text, setting
from brushwork.gatys import StylizeSettings
from brushwork.harmonization import HarmonizeSettings
from brushwork.web.app import read_form


@dataclass(frozen=True)
class _Toy(Settings):
    mode: str = setting("a", "A mode.", choices=("a", "b"))
    weight: float = setting(1.0, "A weight.", minimum=0)
    weights: tuple[float, ...] | None = setting(None, "Weights.", minimum=0, nonzero=True)
    count: int | None = setting(None, "A count.", minimum=1, maximum=10)


@pytest.mark.parametrize(("changes", "words"), [
    ({"mode": "c"}, "mode must be one of a, b"),
    ({"weight": -1.0}, "weight must be at least 0"),
    ({"weight": float("nan")}, "weight must be a finite number"),
    ({"weights": (1.0, -1.0)}, "weights must be at least 0"),
    ({"weights": (0.0, 0.0)}, "must not be all zero"),
    ({"weights": (float("nan"), 1.0)}, "finite"),
    ({"count": 11}, "count must be between 1 and 10"),
])
def test_declared_constraints_are_enforced(changes, words):
    with pytest.raises(SettingsError, match=words):
        _Toy(**changes)


def test_valid_values_pass_and_choices_are_readable():
    assert _Toy(mode="b", weights=(0.0, 2.0), count=None).mode == "b"
    assert choices(_Toy, "mode") == ("a", "b") and choices(_Toy, "weight") is None
    assert choices(StylizeSettings, "quality") == ("draft", "normal", "high", "single")


def test_text_is_parsed_the_same_for_every_front_end():
    assert parse_text(_Toy, "weights", "1, 2.5") == (1.0, 2.5)
    assert parse_text(_Toy, "count", "") is None and parse_text(_Toy, "count", "3") == 3
    with pytest.raises(SettingsError, match="comma-separated numbers"):
        parse_text(_Toy, "weights", "1,x")
    with pytest.raises(SettingsError, match="whole number"):
        parse_text(_Toy, "count", "2.5")


def test_cli_web_and_api_refuse_a_bad_value_alike(tmp_path):
    with pytest.raises(SettingsError) as api:
        StylizeSettings(style_layer_weights=(-1.0, 1, 1, 1, 1))
    with pytest.raises(SettingsError) as web:
        read_form(StylizeSettings, StylizeSettings(), ["style_layer_weights"], ["-1,1,1,1,1"])
    assert str(api.value) == str(web.value)
    photo = tmp_path / "p.png"
    cli = CliRunner().invoke(app, ["stylize", str(photo), str(photo), "-o", str(tmp_path / "o.png"),
                                   "--style-layer-weights=-1,1,1,1,1"])
    assert cli.exit_code == 4 and str(api.value) in cli.output


def test_cli_lists_and_checks_the_choices():
    result = CliRunner().invoke(app, ["stylize", "--help"], env={"COLUMNS": "200"})
    assert "draft|normal|high|single" in result.output
    bad = CliRunner().invoke(app, ["harmonize", "a", "b", "c", "-o", "x.png", "--quality", "bogus"])
    assert bad.exit_code == 4 and "bogus" in bad.output and "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1


def test_style_level_is_limited_to_its_documented_range():
    with pytest.raises(SettingsError, match="style-level must be between 1 and 10"):
        HarmonizeSettings(style_level=20.0)
