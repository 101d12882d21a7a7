"""``bench predict`` (issue 21, item 2): image files prepared as the run's dataset was made, and
answered by its saved models. MNIST test images written as PNG and read back give the run's own
test predictions; a file that is not an image, or too large, is an error for that file alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image
from test_saved_models import make_saved_run

from bench.datasets import get_dataset
from bench.errors import BenchInputError
from bench.images_in import prepare

MNIST_SPEC = {"shape": [1, 28, 28], "preparation": "mnist", "background": "dark"}
DIGITS_SPEC = {"shape": [1, 8, 8], "preparation": "digits", "background": "dark"}


def write_png(pixels: np.ndarray, path: Path) -> Path:
    """``pixels`` in [0, 1] as an 8-bit grey PNG."""
    Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def test_mnist_test_images_come_back_as_their_own_pixels(mnist_dir: Path, tmp_path: Path) -> None:
    """MNIST's procedure applied to an MNIST image (already cropped, fitted and centred) changes
    it by at most one grey level."""
    X = get_dataset("mnist").load(mnist_dir).X_test[:300]
    for i, row in enumerate(X):
        prepared = prepare(write_png(row.reshape(28, 28), tmp_path / f"{i}.png"), MNIST_SPEC)
        assert prepared.shape == (784,) and np.abs(prepared - row).max() <= 1 / 255 + 1e-6, i


def test_a_16_bit_image_is_read_at_its_own_depth(mnist_dir: Path, tmp_path: Path) -> None:
    row = get_dataset("mnist").load(mnist_dir).X_test[0]
    deep = tmp_path / "deep.png"
    Image.fromarray(np.round(row.reshape(28, 28) * 65535).astype(np.uint16)).save(deep)
    assert Image.open(deep).mode.startswith("I;16")
    assert np.abs(prepare(deep, MNIST_SPEC) - row).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize(("paper", "ink"), [(0.92, 0.8), (0.42, 0.32)])  # white paper; paper in dim light
def test_dark_ink_on_light_paper_off_centre_on_a_large_canvas_is_found(
    mnist_dir: Path, tmp_path: Path, paper: float, ink: float
) -> None:
    """As a photo of paper gives it: light, noisy ground, the digit five times larger, anywhere."""
    X = get_dataset("mnist").load(mnist_dir).X_test[:60]
    rng = np.random.default_rng(0)
    correlations = []
    for i, row in enumerate(X):
        big = np.asarray(Image.fromarray(row.reshape(28, 28)).resize((140, 140), Image.Resampling.BICUBIC))
        canvas = np.full((300, 420), paper) + rng.normal(0, 0.02, (300, 420))
        top, left = rng.integers(0, 160), rng.integers(0, 280)
        canvas[top : top + 140, left : left + 140] -= ink * np.clip(big, 0, 1)
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)).save(path, quality=85)
        correlations.append(np.corrcoef(prepare(path, MNIST_SPEC), row)[0, 1])
    assert np.median(correlations) > 0.85 and np.min(correlations) > 0.5


def test_thin_pen_strokes_on_a_large_canvas_are_thickened_as_mnist_s(mnist_dir: Path, tmp_path: Path) -> None:
    """Strokes a few pixels wide on a 280-pixel digit would shrink to faint hairs in 20x20."""
    from scipy import ndimage

    X = get_dataset("mnist").load(mnist_dir).X_test[:40]
    thin_correlations, thick_correlations = [], []
    for i, row in enumerate(X):
        bold = np.asarray(Image.fromarray(row.reshape(28, 28)).resize((280, 280), Image.Resampling.BICUBIC)) > 0.5
        for strokes, found in ((ndimage.binary_erosion(bold, iterations=9), thin_correlations), (bold, thick_correlations)):
            canvas = np.ones((500, 600))
            canvas[100:380, 200:480][strokes] = 0.1
            found.append(np.corrcoef(prepare(write_png(canvas, tmp_path / f"{i}.png"), MNIST_SPEC), row)[0, 1])
    assert np.median(thick_correlations) > 0.85 and np.median(thin_correlations) > 0.7


def test_digits_images_drawn_large_and_dark_on_white_come_back_as_8x8_levels(tmp_path: Path) -> None:
    X = get_dataset("digits").load().X_test[:100]
    errors = []
    for i, row in enumerate(X):
        drawn = 1.0 - np.kron(row.reshape(8, 8), np.ones((4, 4)))  # 32x32, dark ink on white
        prepared = prepare(write_png(drawn, tmp_path / f"{i}.png"), DIGITS_SPEC)
        assert set(np.round(prepared * 16).astype(int)) <= set(range(17))  # 0-16 levels
        errors.append(np.abs(prepared - row).mean())
    assert np.median(errors) < 0.1


def test_another_dataset_s_images_are_fitted_to_its_shape_and_background(tmp_path: Path) -> None:
    """A colour dataset on a dark ground: a red square on white is inverted, fitted (aspect kept)
    and centred channel-first; a grey dataset on a light ground keeps a white ground white."""
    photo = np.ones((40, 80, 3))
    photo[10:30, 30:50] = (1.0, 0.0, 0.0)
    path = tmp_path / "square.png"
    Image.fromarray((photo * 255).astype(np.uint8)).save(path)
    colour = prepare(path, {"shape": [3, 12, 10], "preparation": "resize", "background": "dark"}).reshape(3, 12, 10)
    assert colour.shape == (3, 12, 10)
    assert np.allclose(colour[:, :3], 0) and np.allclose(colour[:, 8:], 0)  # 10 wide by 5 high, centred: padding
    assert colour[1:, 5, 4:6].min() > 0.9 and colour[0, 5, 4:6].max() < 0.1  # red inverted: no red, full green and blue
    grey = prepare(path, {"shape": [1, 16, 16], "preparation": "resize", "background": "light"}).reshape(16, 16)
    assert grey[0, 0] == pytest.approx(1.0) and grey[8, 8] < 0.5


def test_the_help_states_the_size_limits_bench_applies() -> None:
    from bench import images_in, predict

    assert f"{images_in.MAX_IMAGE_BYTES // 2**20} MiB or {images_in.MAX_IMAGE_PIXELS // 10**6} megapixels" == predict.LIMITS


def test_a_blank_image_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchInputError, match="no ink found"):
        prepare(write_png(np.ones((50, 50)), tmp_path / "blank.png"), MNIST_SPEC)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_saved_run(tmp_path_factory.mktemp("predict"), ["svm", "logreg"])


def _drawn_digits(run: Any, folder: Path, count: int) -> list[Path]:
    """Test images of the run, drawn 4x larger, dark on white, as PNG."""
    X = run.final_data.X_test[:count]
    return [write_png(1.0 - np.kron(row.reshape(8, 8), np.ones((4, 4))), folder / f"{i:03d}.png") for i, row in enumerate(X)]


def test_bench_predict_answers_every_image_and_family_and_reports_bad_files_last(
    digits_run: Any, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = _drawn_digits(digits_run, tmp_path, 30)
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    big = write_png(np.random.default_rng(0).random((200, 200)), tmp_path / "big.png")  # incompressible
    monkeypatch.setattr("bench.images_in.MAX_IMAGE_BYTES", big.stat().st_size - 1)
    args = [str(images[0]), str(text), *map(str, images[1:]), str(big)]
    result = cli("predict", str(digits_run.run_dir), *args, "--family", "svm,logreg", "--json")
    assert result.returncode == 2
    out = json.loads(result.stdout)
    errors = {Path(e["image"]).name: e["error"] for e in out["errors"]}
    assert set(errors) == {"notes.png", "big.png"}
    assert "not an image Pillow can read" in errors["notes.png"] and "more than the" in errors["big.png"]
    assert result.stderr.count("error:") == 2 and "Traceback" not in result.stderr
    rows = out["predictions"]
    assert [(Path(r["image"]).name, r["family"]) for r in rows] == [(p.name, f) for p in images for f in ("svm", "logreg")]
    for family in ("svm", "logreg"):
        answers = [r for r in rows if r["family"] == family]
        labels = np.array([r["class"] for r in answers])
        assert np.mean(labels == digits_run.outs[family]["predicted"][:30]) >= 0.8
        for r in answers:
            assert len(r["top"]) == 3 and r["top"][0]["probability"] >= r["top"][1]["probability"] >= r["top"][2]["probability"]
            assert r["kind"] == ("score" if family == "svm" else "probability")
            assert r["probability"] == next(t["probability"] for t in r["top"] if t["class"] == r["class"])


def test_bench_predict_prints_one_line_per_image_and_family(digits_run: Any, tmp_path: Path, cli: Any) -> None:
    images = _drawn_digits(digits_run, tmp_path, 2)
    result = cli("predict", str(digits_run.run_dir), *map(str, images), "--family", "all")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4 and all("top 3: " in line for line in lines)
    assert lines[0].startswith(f"{images[0]}  logreg  ") and "  p=" in lines[0]  # all: in the registry's order
    assert lines[1].startswith(f"{images[0]}  svm  ") and "  score=" in lines[1]  # an SVM's scores are not probabilities


def test_a_model_of_another_library_major_version_answers_with_one_warning_line(tmp_path: Path, cli: Any) -> None:
    run = make_saved_run(tmp_path / "results", ["knn"])
    card_path = run.run_dir / "models" / "knn-seed0.json"
    card = json.loads(card_path.read_text())
    card["versions"]["scikit-learn"] = "0.24.2"
    card_path.write_text(json.dumps(card))
    image = _drawn_digits(run, tmp_path, 1)[0]
    result = cli("predict", str(run.run_dir), str(image), "--family", "knn")
    assert result.returncode == 0 and len(result.stdout.strip().splitlines()) == 1
    assert result.stderr.strip().startswith("warning: ") and "saved with scikit-learn 0.24.2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "no run folder at nowhere"),
        (["RUN", "--family", "tree"], "has no saved tree model; saved: logreg, svm"),
        (["RUN", "--family", "nope"], "unknown family 'nope'"),
    ],
)
def test_bench_predict_names_what_is_wrong(digits_run: Any, tmp_path: Path, cli: Any, args: list[str], message: str) -> None:
    image = _drawn_digits(digits_run, tmp_path, 1)[0]
    args = [str(digits_run.run_dir) if a == "RUN" else a for a in args]
    result = cli("predict", args[0], str(image), *args[1:])
    assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.slow
def test_mnist_test_images_as_png_agree_with_the_run_s_predictions(mnist_dir: Path, tmp_path: Path) -> None:
    """The issue's check: 1,000 MNIST test images written as PNG and read back through ``bench
    predict``, with the run's svm and with its winner, agree with predictions.parquet on at least
    99.5% of them."""
    import bench

    result = run_cli(
        "run", "--family", "svm,knn", "--dataset", "mnist", "--data-dir", str(mnist_dir), "--train-size", "3000",
        "--trials", "2", "--results-dir", str(tmp_path / "results"), "--no-progress", timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "results").iterdir()
    X = get_dataset("mnist").load(mnist_dir).X_test[:1000]
    folder = tmp_path / "png"
    folder.mkdir()
    images = [write_png(row.reshape(28, 28), folder / f"{i:04d}.png") for i, row in enumerate(X)]
    predictions = bench.load(run_dir).predictions
    for family in ("svm", None):
        result = run_cli("predict", str(run_dir), *map(str, images), "--json", *(["--family", family] if family else []))
        assert result.returncode == 0, result.stderr[-2000:]
        rows = json.loads(result.stdout)["predictions"]
        answered = {r["family"] for r in rows}
        assert len(rows) == 1000 and len(answered) == 1
        expected = predictions[predictions["family"] == answered.pop()].sort_values("test_index")["y_pred"].to_numpy()[:1000]
        agreement = np.mean(np.array([r["class"] for r in rows]) == expected)
        assert agreement >= 0.995, (family, agreement)
