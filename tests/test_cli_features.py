"""``jaki features``: meanings, a groove's values and the model's bands, as text and JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from jaki.cli.main import app
from jaki.features import FEATURE_MEANINGS, TUNER_FEATURES, bands_to_json
from jaki.weights import load_model

runner = CliRunner()


def test_json_gives_each_feature_its_meaning_range_bands_and_the_grooves_value(tiny_model_dir):
    result = runner.invoke(app, ["features", "--groove", "funk", "--model", str(tiny_model_dir), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(document) == list(TUNER_FEATURES)
    bands = bands_to_json(load_model(tiny_model_dir).bands)
    for feature, entry in document.items():
        assert entry["meaning"] == FEATURE_MEANINGS[feature]
        assert entry["bands"] == bands[feature]
    assert [document[f]["example"]["value"] for f in TUNER_FEATURES] == [16, 8, 8, 0.25]
    assert document["syncopation"]["range"] == [0, 90] and document["repetition"]["range"] == [0, 1]


def test_text_shows_the_grid_values_and_the_shipped_bands():
    result = runner.invoke(app, ["features", "--groove", "rock"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "closed x.x.x.x.x.x.x.x." in result.output
    assert "syncopation (0–90): rock has 1; low 0–6 · medium 7–11 · high 12–90" in result.output
    assert "repetition (0–1): rock has 0.75; low 0–0.222 · medium 0.25–0.5 · high 0.533–1" in result.output
    assert "measured inside one bar" in result.output and "terciles" in result.output


def test_an_unknown_groove_is_one_error_line():
    result = runner.invoke(app, ["features", "--groove", "polka"])
    assert result.exit_code == 2 and result.stderr.startswith("error: unknown groove 'polka'")
