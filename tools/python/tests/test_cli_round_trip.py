"""Model files are shared with the command line, in both directions, with the same predictions."""
import csv
import json

import numpy as np
import pytest

import skipper
from conftest import run_cli


def cli_probabilities(cli, model, data_dir, tmp_path):
    out = tmp_path / "predictions.csv"
    run_cli(cli, "predict", f"model={model}", f"data={data_dir}", f"output_result={out}")
    with open(out) as handle:
        return np.array([float(row["probability"]) for row in csv.DictReader(handle)])


def cli_eval_accuracy(cli, model, data_dir, tmp_path):
    out = tmp_path / "metrics.json"
    run_cli(cli, "eval", f"model={model}", f"data={data_dir}", f"metrics_out={out}")
    return json.loads(out.read_text())["metrics"]["accuracy"]


@pytest.mark.filterwarnings("ignore:.*hist_user_behavior_reason_end")
@pytest.mark.parametrize("as_frame", [False, True])
def test_gbdt_trained_in_python_predicts_the_same_in_skipper(cli, sample_dir, tmp_path, as_frame):
    data = skipper.read_mssd(sample_dir, task="seed", as_frame=as_frame)
    model = skipper.GBDTClassifier(n_estimators=20, learning_rate=0.09, max_depth=5)
    if as_frame:
        model.fit(data.data, data.target)  # category columns become categorical features
    else:
        model.fit(data.data, data.target, feature_name=data.feature_names, categorical_feature=data.categorical_feature)
    assert model._model.categorical == data.categorical
    path = tmp_path / "python_gbdt.bin"
    model.save_model(path)
    ours = model.predict_proba(data.data)[:, 1]
    np.testing.assert_allclose(cli_probabilities(cli, path, sample_dir, tmp_path), ours, rtol=0, atol=5e-7)
    accuracy = np.mean((ours.astype(np.float32) >= 0.5) == (data.target > 0.5))  # as the engine thresholds
    assert cli_eval_accuracy(cli, path, sample_dir, tmp_path) == pytest.approx(accuracy, abs=1e-12)


@pytest.mark.filterwarnings("ignore:.*hist_user_behavior_reason_end")
def test_gbdt_trained_by_skipper_predicts_the_same_in_python(cli, sample_dir, tmp_path):
    path = tmp_path / "cli_gbdt.bin"
    run_cli(cli, "train", "gbdt", "task=seed", f"data={sample_dir}", "num_iterations=20", f"output_model={path}")
    model = skipper.GBDTClassifier().load_model(path)
    data = skipper.read_mssd(sample_dir, task="seed")
    np.testing.assert_allclose(model.predict_proba(data.data)[:, 1], cli_probabilities(cli, path, sample_dir, tmp_path),
                               rtol=0, atol=5e-7)
    assert model.feature_name_ == data.feature_names


def test_session_gbdt_both_ways(cli, sample_dir, tmp_path):
    data = skipper.read_mssd(sample_dir, task="session")
    model = skipper.GBDTClassifier(n_estimators=10).fit(data.data, data.target, feature_name=data.feature_names,
                                                        categorical_feature=data.categorical_feature)
    path = tmp_path / "session_gbdt.bin"
    model.save_model(path)
    np.testing.assert_allclose(cli_probabilities(cli, path, sample_dir, tmp_path), model.predict_proba(data.data)[:, 1],
                               rtol=0, atol=5e-7)


@pytest.mark.filterwarnings("ignore:.*hist_user_behavior_reason_end")
def test_seed_lstm_both_ways(cli, sample_dir, tmp_path):
    data = skipper.read_mssd(sample_dir, task="seed")
    model = skipper.LSTMClassifier(epochs=1, hidden_size=8, num_layers=1, batch_size=256, device="cpu")
    model.fit(data.data, data.target, feature_name=data.feature_names, categorical_feature=data.categorical_feature)
    path = tmp_path / "python_lstm.bin"
    model.save_model(path)
    np.testing.assert_allclose(cli_probabilities(cli, path, sample_dir, tmp_path), model.predict_proba(data.data)[:, 1],
                               rtol=0, atol=5e-6)
    cli_path = tmp_path / "cli_lstm.bin"
    run_cli(cli, "train", "lstm", "task=seed", f"data={sample_dir}", "epochs=1", "hidden_size=8", "num_layers=1",
            "device=cpu", f"output_model={cli_path}")
    loaded = skipper.LSTMClassifier().load_model(cli_path)
    np.testing.assert_allclose(loaded.predict_proba(data.data)[:, 1], cli_probabilities(cli, cli_path, sample_dir, tmp_path),
                               rtol=0, atol=5e-6)


def test_session_lstm_both_ways(cli, sample_dir, tmp_path):
    seq = skipper.read_mssd(sample_dir, task="session", form="sequences")
    model = skipper.LSTMClassifier(epochs=1, hidden_size=8, num_layers=1, batch_size=32, device="cpu")
    model.fit(seq.data, seq.target, mask=seq.predict_mask, step_mask=seq.step_mask, feature_name=seq.feature_names)
    path = tmp_path / "python_session_lstm.bin"
    model.save_model(path)
    ours = model.predict_proba(seq.data, step_mask=seq.step_mask)[..., 1][seq.predict_mask > 0]
    np.testing.assert_allclose(cli_probabilities(cli, path, sample_dir, tmp_path), ours, rtol=0, atol=5e-6)
    cli_path = tmp_path / "cli_session_lstm.bin"
    run_cli(cli, "train", "lstm", "task=session", f"data={sample_dir}", "epochs=1", "hidden_size=8", "num_layers=1",
            "device=cpu", f"output_model={cli_path}")
    loaded = skipper.LSTMClassifier().load_model(cli_path)
    theirs = loaded.predict_proba(seq.data, step_mask=seq.step_mask)[..., 1][seq.predict_mask > 0]
    np.testing.assert_allclose(theirs, cli_probabilities(cli, cli_path, sample_dir, tmp_path), rtol=0, atol=5e-6)
