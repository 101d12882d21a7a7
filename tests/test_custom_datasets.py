"""``--dataset PATH``: image folders, IDX folders and .npz files read, checked and refused.

The helpers at the top write small synthetic datasets in each format (tests/test_custom_runs.py
runs searches on them); the tests here call the loaders and the CLI in-process, without Ray.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from bench.datasets import LoadedDataset, get_dataset
from bench.datasets.base import is_path
from bench.datasets.custom import CustomDataset
from bench.datasets.duplicates import copies_in_train, with_duplicates
from bench.errors import BenchInputError

IDX_TYPES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C}


# ------------------------------------------------------------------------------------- writers
def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` in the IDX format: magic (0, 0, type, ndim), big-endian sizes, the values."""
    array = np.ascontiguousarray(array)
    header = bytes([0, 0, IDX_TYPES[array.dtype], array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path


def write_idx_folder(
    folder: Path,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    prefix: str = "",
    test_stem: str = "t10k",
) -> Path:
    """The four files of an MNIST-layout folder, gzip-compressed (as MNIST and KMNIST ship them)."""
    write_idx(folder / f"{prefix}train-images-idx3-ubyte", train[0])
    write_idx(folder / f"{prefix}train-labels-idx1-ubyte", train[1].astype(np.uint8))
    write_idx(folder / f"{prefix}{test_stem}-images-idx3-ubyte", test[0])
    write_idx(folder / f"{prefix}{test_stem}-labels-idx1-ubyte", test[1].astype(np.uint8))
    return folder


def random_images(n: int, shape: tuple[int, ...], classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images, each its class's pattern plus noise (learnable), and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    base = rng.integers(0, 256, size=(classes, *shape))
    noise = rng.integers(-40, 41, size=(n, *shape))
    return np.clip(base[labels] + noise, 0, 255).astype(np.uint8), labels


def write_image_folder(root: Path, split: str, images: np.ndarray, labels: np.ndarray, start: int = 0) -> Path:
    """``root/split/<label>/<i>.png``: one PNG per image (grey for (h, w), RGB for (h, w, 3))."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels, strict=True), start=start):
        folder = root / split / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")
    return root


def grey_folder(root: Path, n_train: int = 30, n_test: int = 12, classes: int = 3, size: int = 8, seed: int = 0) -> Path:
    X, y = random_images(n_train + n_test, (size, size), classes, seed)
    write_image_folder(root, "train", X[:n_train], y[:n_train])
    return write_image_folder(root, "test", X[n_train:], y[n_train:], start=n_train)


def load(path: Path) -> LoadedDataset:
    return get_dataset(str(path)).load()


# ------------------------------------------------------------------------------- what --dataset means
def test_a_registered_name_is_the_registered_dataset_even_beside_a_folder_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grey_folder(tmp_path / "digits")
    monkeypatch.chdir(tmp_path)
    assert not is_path("digits") and get_dataset("digits").name == "digits"
    assert is_path("./digits") and isinstance(get_dataset("./digits"), CustomDataset)


def test_the_cli_keeps_names_and_makes_paths_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.cli import build_parser

    grey_folder(tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    parse = build_parser().parse_args
    assert parse(["run", "--dataset", "mnist"]).dataset == "mnist"
    assert parse(["run", "--dataset", "mine"]).dataset == str(tmp_path.resolve() / "mine")
    assert parse(["run"]).drop_test_duplicates is False
    assert parse(["run", "--drop-test-duplicates"]).drop_test_duplicates is True


def test_the_cli_and_the_registry_describe_paths_alike() -> None:
    from bench import cli
    from bench.datasets.base import PATH_FORMS

    assert cli.DATASET_PATHS == PATH_FORMS


# ------------------------------------------------------------------------------- image folders
def test_a_grey_image_folder_loads_with_classes_from_folder_names(tmp_path: Path) -> None:
    loaded = load(grey_folder(tmp_path / "grey", n_train=30, n_test=12, classes=3))
    assert loaded.class_names == ("class_0", "class_1", "class_2")
    assert loaded.X_train.shape == (30, 64) and loaded.X_test.shape == (12, 64)
    assert loaded.image_shape == (8, 8) and loaded.channels == 1
    assert loaded.X_train.dtype == np.float32 and loaded.X_train.min() >= 0 and loaded.X_train.max() <= 1
    assert loaded.details["class_counts"] == {
        "train": dict.fromkeys(loaded.class_names, 10),
        "test": dict.fromkeys(loaded.class_names, 4),
    }
    assert loaded.details["path"] == str((tmp_path / "grey").resolve())
    assert loaded.name == f"grey-{loaded.details['content_sha256'][:8]}"
    assert loaded.checksums == {"content": loaded.details["content_sha256"]}


def test_the_pixels_are_the_files_pixels(tmp_path: Path) -> None:
    X, y = random_images(12, (6, 5), 2)
    write_image_folder(tmp_path / "f", "train", X[:8], y[:8])
    write_image_folder(tmp_path / "f", "test", X[8:], y[8:], start=8)
    loaded = load(tmp_path / "f")
    np.testing.assert_allclose(loaded.X_train.reshape(8, 6, 5), X[:8] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(loaded.y_test, y[8:])


def test_rows_follow_the_numbers_in_file_names_across_classes(tmp_path: Path) -> None:
    """Running numbers, unpadded, keep an exported set's order (2.png before 10.png, whatever the
    class), so its search folds are the original's."""
    from PIL import Image

    X, y = random_images(18, (4, 4), 3)
    for i in range(18):
        folder = tmp_path / "n" / ("train" if i < 12 else "test") / f"c{y[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(X[i]).save(folder / f"{i}.png")
    loaded = load(tmp_path / "n")
    np.testing.assert_allclose(loaded.X_train.reshape(12, 4, 4), X[:12] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(loaded.y_train, y[:12])


def test_the_checksum_is_stable_and_follows_the_content(tmp_path: Path) -> None:
    from PIL import Image

    root = grey_folder(tmp_path / "g")
    first, again = load(root), load(root)
    assert first.details["content_sha256"] == again.details["content_sha256"]
    one = next((root / "test" / "class_1").iterdir())
    pixels = np.asarray(Image.open(one)).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(one)
    assert load(root).details["content_sha256"] != first.details["content_sha256"]


def test_a_colour_folder_is_read_channel_first(tmp_path: Path) -> None:
    X, y = random_images(15, (32, 32, 3), 3)
    write_image_folder(tmp_path / "c", "train", X[:12], y[:12])
    write_image_folder(tmp_path / "c", "test", X[12:], y[12:], start=12)
    loaded = load(tmp_path / "c")
    assert loaded.channels == 3 and loaded.image_shape == (32, 32)
    assert loaded.X_train.shape == (12, 3 * 32 * 32)
    first = loaded.X_train[0].reshape(3, 32, 32)  # image 0 of class_0
    np.testing.assert_allclose(first.transpose(1, 2, 0), X[0] / 255.0, atol=1e-7)
    assert loaded.details["channels"] == 3


def test_grey_stored_as_rgb_stays_grey_and_one_colour_image_makes_all_colour(tmp_path: Path) -> None:
    X, y = random_images(12, (8, 8), 2)
    rgb = np.repeat(X[..., None], 3, axis=3)
    write_image_folder(tmp_path / "g", "train", rgb[:8], y[:8])
    write_image_folder(tmp_path / "g", "test", rgb[8:], y[8:], start=8)
    assert load(tmp_path / "g").channels == 1
    rgb[9, 0, 0] = (255, 0, 0)
    write_image_folder(tmp_path / "g", "test", rgb[8:], y[8:], start=8)
    loaded = load(tmp_path / "g")
    assert loaded.channels == 3 and loaded.X_train.shape == (8, 3 * 64)


def test_other_sizes_are_resized_to_the_most_common_and_counted(tmp_path: Path) -> None:
    from PIL import Image

    root = grey_folder(tmp_path / "m", n_train=30, n_test=12)
    odd = sorted((root / "train" / "class_2").iterdir())[:3]
    for path in odd:
        Image.new("L", (11, 7), 200).save(path)
    loaded = load(root)
    assert loaded.image_shape == (8, 8)
    assert loaded.details["resized_images"] == 3 and loaded.details["image_sizes_found"] == 2


def test_a_folder_without_test_gets_a_fixed_stratified_split(tmp_path: Path) -> None:
    X, y = random_images(50, (8, 8), 2)
    write_image_folder(tmp_path / "t", "train", X, y)
    first, second = load(tmp_path / "t"), load(tmp_path / "t")
    assert (len(first.y_train), len(first.y_test)) == (40, 10)
    assert np.bincount(first.y_test).tolist() == [5, 5]
    np.testing.assert_array_equal(first.X_test, second.X_test)
    assert "stratified" in first.details["test_split"]


# ------------------------------------------------------------------------------- IDX and npz
def test_an_idx_folder_of_another_size_and_class_count(tmp_path: Path) -> None:
    X, y = random_images(70, (20, 20), 7)
    write_idx_folder(tmp_path / "k", (X[:56], y[:56]), (X[56:], y[56:]))
    loaded = load(tmp_path / "k")
    assert loaded.image_shape == (20, 20) and loaded.class_names == tuple(str(i) for i in range(7))
    assert loaded.X_train.shape == (56, 400)
    np.testing.assert_allclose(loaded.X_test[3].reshape(20, 20), X[59] / 255.0, atol=1e-7)
    assert loaded.details["format"] == "IDX folder"


def test_an_idx_checksum_ignores_the_gzip_wrapper(tmp_path: Path) -> None:
    X, y = random_images(20, (8, 8), 2)
    write_idx_folder(tmp_path / "gz", (X[:16], y[:16]), (X[16:], y[16:]))
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = gzip.decompress((tmp_path / "gz" / f"{name}.gz").read_bytes())
        (tmp_path / "plain").mkdir(exist_ok=True)
        (tmp_path / "plain" / name).write_bytes(raw)
    assert load(tmp_path / "gz").details["content_sha256"] == load(tmp_path / "plain").details["content_sha256"]


def test_an_npz_with_string_labels_and_float_colour_images(tmp_path: Path) -> None:
    X, y = random_images(24, (10, 12, 3), 2)
    names = np.array(["cat", "dog"])[y]
    np.savez_compressed(
        tmp_path / "pets.npz", X_train=X[:18] / 255.0, y_train=names[:18], X_test=X[18:] / 255.0, y_test=names[18:]
    )
    loaded = load(tmp_path / "pets.npz")
    assert loaded.class_names == ("cat", "dog") and loaded.channels == 3 and loaded.image_shape == (10, 12)
    assert loaded.name.startswith("pets-")
    np.testing.assert_array_equal(loaded.y_test, y[18:])


def test_an_npz_checksum_is_over_the_arrays_not_the_zip(tmp_path: Path) -> None:
    X, y = random_images(20, (8, 8), 2)
    arrays = {"X_train": X[:16], "y_train": y[:16], "X_test": X[16:], "y_test": y[16:]}
    np.savez(tmp_path / "a.npz", **arrays)
    np.savez_compressed(tmp_path / "b.npz", **arrays)
    assert load(tmp_path / "a.npz").details["content_sha256"] == load(tmp_path / "b.npz").details["content_sha256"]


# ------------------------------------------------------------------------------- duplicates
def test_planted_duplicates_are_counted_exactly_and_can_be_dropped(tmp_path: Path) -> None:
    X, y = random_images(60, (8, 8), 3)
    test_X, test_y = X[40:].copy(), y[40:].copy()
    planted = [0, 3, 7, 11, 19]
    test_X[planted] = X[[5, 6, 7, 8, 9]]  # exact copies of training images
    write_image_folder(tmp_path / "d", "train", X[:40], y[:40])
    write_image_folder(tmp_path / "d", "test", test_X, test_y, start=40)
    loaded = load(tmp_path / "d")
    assert int(copies_in_train(loaded).sum()) == len(planted)
    kept = with_duplicates(loaded)
    assert kept.details["duplicates"] == {"test_images_in_train": 5, "dropped_from_test": 0} and len(kept.y_test) == 20
    dropped = with_duplicates(loaded, drop=True)
    assert dropped.details["duplicates"] == {"test_images_in_train": 5, "dropped_from_test": 5}
    assert len(dropped.y_test) == 15 and not copies_in_train(dropped).any()
    assert sum(dropped.details["class_counts"]["test"].values()) == 15


def test_duplicates_of_a_registered_dataset_are_hashed_from_its_arrays() -> None:
    loaded = get_dataset("digits").load()
    copied = type(loaded)(
        **{
            **loaded.__dict__,
            "X_test": np.concatenate([loaded.X_test, loaded.X_train[:4]]),
            "y_test": np.concatenate([loaded.y_test, loaded.y_train[:4]]),
        }
    )
    base = int(copies_in_train(loaded).sum())
    assert int(copies_in_train(copied).sum()) == base + 4


# ------------------------------------------------------------------------------- refusals
def _refused(cli, tmp_path: Path, dataset: Path, *needles: str, extra: tuple[str, ...] = ()) -> str:
    results = tmp_path / "results"
    result = cli("run", "--family", "logreg", "--dataset", str(dataset), "--trials", "1", "--results-dir", str(results), *extra)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert not results.exists() or not any(results.iterdir()), "a run folder was left behind"
    return lines[0]


def test_an_empty_class_folder_is_refused(cli, tmp_path: Path) -> None:
    root = grey_folder(tmp_path / "e")
    (root / "train" / "class_9").mkdir()
    _refused(cli, tmp_path, root, str(root / "train" / "class_9"), "empty")


def test_a_single_class_is_refused(cli, tmp_path: Path) -> None:
    X, _ = random_images(12, (8, 8), 1)
    write_image_folder(tmp_path / "s", "train", X[:8], np.zeros(8, int))
    write_image_folder(tmp_path / "s", "test", X[8:], np.zeros(4, int), start=8)
    _refused(cli, tmp_path, tmp_path / "s", "single class", "'class_0'")


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n truncated"])
def test_a_file_that_is_not_an_image_is_refused_by_name(cli, tmp_path: Path, content: bytes) -> None:
    root = grey_folder(tmp_path / "n")
    bad = root / "train" / "class_1" / "notes.png"
    bad.write_bytes(content)
    _refused(cli, tmp_path, root, str(bad), "not an image")


def test_a_test_label_unseen_in_training_is_refused(cli, tmp_path: Path) -> None:
    root = grey_folder(tmp_path / "u")
    X, _ = random_images(2, (8, 8), 1)
    write_image_folder(root, "test", X, np.full(2, 7), start=900)
    _refused(cli, tmp_path, root, "unseen in training", "'class_7'")


def test_an_npz_with_an_object_array_is_refused(cli, tmp_path: Path) -> None:
    X, y = random_images(20, (8, 8), 2)
    labels = np.array([f"c{v}" for v in y], dtype=object)
    np.savez(tmp_path / "obj.npz", X_train=X[:16], y_train=labels[:16], X_test=X[16:], y_test=labels[16:])
    line = _refused(cli, tmp_path, tmp_path / "obj.npz", str(tmp_path / "obj.npz"), "y_train", "object array")
    assert "unpickle" in line


def test_an_npz_missing_arrays_is_refused_with_what_it_holds(cli, tmp_path: Path) -> None:
    np.savez(tmp_path / "few.npz", X_train=np.zeros((4, 8, 8), np.uint8), labels=np.zeros(4, int))
    _refused(cli, tmp_path, tmp_path / "few.npz", "lacks y_train, X_test, y_test", "X_train, labels")


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({"X_train": np.full((8, 4, 4), 2.0)}, "outside 0-1"),
        ({"X_train": np.zeros((8, 4), np.uint8)}, "(n, height, width)"),
        ({"y_train": np.linspace(0, 1, 8)}, "float64 labels"),
    ],
)
def test_npz_values_outside_the_formats_are_refused(cli, tmp_path: Path, arrays: dict, needle: str) -> None:
    X, y = random_images(12, (4, 4), 2)
    base = {"X_train": X[:8], "y_train": y[:8], "X_test": X[8:], "y_test": y[8:]}
    np.savez(tmp_path / "bad.npz", **{**base, **arrays})
    _refused(cli, tmp_path, tmp_path / "bad.npz", needle, str(tmp_path / "bad.npz"))


def test_a_path_that_is_no_dataset_is_refused(cli, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "readme.txt").write_text("hello")
    _refused(cli, tmp_path, tmp_path / "plain", str(tmp_path / "plain"), "an image folder", ".npz")


def test_a_missing_path_is_refused_by_the_parser(cli, tmp_path: Path) -> None:
    _refused(cli, tmp_path, tmp_path / "nowhere", "nowhere", "no such file or folder")


def test_an_idx_folder_missing_a_file_names_it(cli, tmp_path: Path) -> None:
    X, y = random_images(20, (8, 8), 2)
    folder = write_idx_folder(tmp_path / "i", (X[:16], y[:16]), (X[16:], y[16:]))
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    _refused(cli, tmp_path, folder, "t10k-labels-idx1-ubyte", str(folder))


def test_dropping_duplicates_that_are_the_whole_test_set_is_refused(cli, tmp_path: Path) -> None:
    X, y = random_images(20, (8, 8), 2)
    np.savez(tmp_path / "same.npz", X_train=X, y_train=y, X_test=X[:4], y_test=y[:4])
    _refused(cli, tmp_path, tmp_path / "same.npz", "--drop-test-duplicates", extra=("--drop-test-duplicates",))


# ------------------------------------------------------------------------------- the manifest
def test_the_manifest_fields_of_a_users_dataset_pass_the_readers_checks(tmp_path: Path) -> None:
    from bench.manifest import _check_shape

    loaded = with_duplicates(load(grey_folder(tmp_path / "m")))
    manifest = {"run_id": "r", "dataset": {"name": loaded.name, "image_shape": list(loaded.image_shape), **loaded.details}}
    _check_shape(json.loads(json.dumps(manifest)), tmp_path / "manifest.json")
    bad = {**manifest, "dataset": {**manifest["dataset"], "channels": "three"}}
    with pytest.raises(BenchInputError, match=r"dataset\.channels"):
        _check_shape(bad, tmp_path / "manifest.json")


def test_an_idx_folder_whose_labels_do_not_match_its_images_names_both(cli, tmp_path: Path) -> None:
    X, y = random_images(20, (8, 8), 2)
    folder = write_idx_folder(tmp_path / "c", (X[:16], y[:15]), (X[16:], y[16:]))
    _refused(cli, tmp_path, folder, "train-labels-idx1-ubyte", "for 16 images", "train-images-idx3-ubyte")


def test_a_resume_follows_a_dataset_path_only_when_given_again(tmp_path: Path) -> None:
    """A run folder is someone's data: the dataset path it names is read only inside the folder
    or when the resuming user passes it again (--data-dir), like a saved data folder."""
    from bench.manifest import saved_options

    run_dir = tmp_path / "run"
    (run_dir / "data").mkdir(parents=True)
    outside = grey_folder(tmp_path / "elsewhere")
    manifest = {"options": {"families": ["svm"], "dataset": str(outside)}}
    with pytest.raises(BenchInputError, match="outside the run folder.*--data-dir"):
        saved_options(manifest, run_dir)
    values, _ = saved_options(manifest, run_dir, data_dir=outside)
    assert values["dataset"] == str(outside.resolve()) and values["data_dir"] is None
    inside = grey_folder(run_dir / "data")
    values, _ = saved_options({"options": {"families": ["svm"], "dataset": "data"}}, run_dir)
    assert values["dataset"] == str(inside.resolve())
    values, _ = saved_options({"options": {"families": ["svm"], "dataset": "digits"}}, run_dir)
    assert values["dataset"] == "digits"  # a registered name is never a path


def test_a_resume_refuses_data_whose_content_changed(tmp_path: Path) -> None:
    from rich.console import Console

    from bench.runner import Run, RunOptions

    data = grey_folder(tmp_path / "mine")
    searched = load(data).name
    run_dir = tmp_path / "results" / "20260101-000000-mine-svm-abcd"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": run_dir.name, "dataset": {"name": searched}}))
    options = RunOptions(families=["svm"], dataset=str(data), results_dir=tmp_path / "results")
    quiet = Console(file=open(tmp_path / "console.txt", "w"))
    assert Run(options, quiet, resume_dir=run_dir).loaded.name == searched  # the same data: goes on
    grey_folder(tmp_path / "mine", seed=1)  # the same names, other pixels
    with pytest.raises(BenchInputError, match="content differs"):
        Run(options, quiet, resume_dir=run_dir)


def test_the_report_shows_the_duplicates_and_where_the_data_came_from() -> None:
    from bench.report.tables import manifest_html

    dataset = {"name": "mine-0a1b2c3d", "path": "/data/<b>mine</b>", "content_sha256": "0a1b2c3d" * 8,
               "duplicates": {"test_images_in_train": 3, "dropped_from_test": 0}}
    page = manifest_html({"run_id": "r", "dataset": dataset})
    assert "test images also in training" in page and "3, kept in the test set" in page
    assert "&lt;b&gt;mine&lt;/b&gt;" in page and "<b>mine" not in page and "0a1b2c3d" * 8 in page
    dropped = manifest_html({"run_id": "r", "dataset": {**dataset, "duplicates": {"test_images_in_train": 3, "dropped_from_test": 3}}})
    assert "3, dropped from the test set" in dropped


def test_image_size_resizes_every_image_and_names_the_size(tmp_path: Path) -> None:
    from PIL import Image

    root = grey_folder(tmp_path / "m", n_train=30, n_test=12)
    for path in sorted((root / "train" / "class_2").iterdir())[:3]:
        Image.new("L", (11, 7), 200).save(path)
    dataset = get_dataset(str(root))
    dataset.image_size = "6x5"
    loaded = dataset.load()
    assert loaded.image_shape == (6, 5) and loaded.X_train.shape[1] == 30
    assert loaded.details["resized_images"] == 42 and loaded.details["image_size"] == "6x5 (--image-size)"
    assert loaded.name == f"{load(root).name}-6x5"  # other pixels, another name: never pooled with the unresized


def test_image_size_is_refused_where_nothing_is_resized(cli, tmp_path: Path) -> None:
    X, y = random_images(40, (8, 8), 2)
    np.savez(tmp_path / "a.npz", X_train=X[:30], y_train=y[:30], X_test=X[30:], y_test=y[30:])
    _refused(cli, tmp_path, tmp_path / "a.npz", "--image-size 6x6", "only an image folder", extra=("--image-size", "6",))
    _refused(cli, tmp_path, Path("digits"), "--image-size", "digits", extra=("--image-size", "6x6"))
    result = cli("run", "--family", "logreg", "--image-size", "0x6")
    assert result.returncode == 2 and "'0x6' is not a size" in result.stderr


def test_digits_written_out_as_an_image_folder_come_back_as_digits(tmp_path: Path) -> None:
    """The issue's check in arrays: digits as PNGs (levels scaled to 0-255, one folder per class,
    train/test as bench splits them, running numbers) load as the same images in the same order,
    so a search on the folder sees digits' folds (by hand, svm scored 0.9944 on both)."""
    digits = get_dataset("digits").load()
    to_png = lambda X: np.rint(X.reshape(-1, 8, 8) * 255).astype(np.uint8)  # noqa: E731
    write_image_folder(tmp_path / "d", "train", to_png(digits.X_train), digits.y_train)
    write_image_folder(tmp_path / "d", "test", to_png(digits.X_test), digits.y_test, start=len(digits.y_train))
    folder = load(tmp_path / "d")
    assert folder.class_names == tuple(f"class_{c}" for c in range(10))
    np.testing.assert_array_equal(folder.y_train, digits.y_train)
    np.testing.assert_array_equal(folder.y_test, digits.y_test)
    np.testing.assert_allclose(folder.X_train, digits.X_train, atol=0.5 / 255)
    np.testing.assert_allclose(folder.X_test, digits.X_test, atol=0.5 / 255)
