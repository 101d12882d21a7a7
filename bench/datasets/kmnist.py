"""Kuzushiji-MNIST (Clanuwat et al. 2018, ROIS-CODH): ten cursive hiragana in MNIST's IDX format.

Looked up as MNIST is (``--data-dir``, ``$BENCH_DATA_DIR``, the cache, system folders, then a
download from the publisher). The publisher lists no checksums; the MD5s here are of the
publisher's own ``.gz`` files as torchvision records them (pytorch/vision,
``torchvision/datasets/mnist.py``, class ``KMNIST``), so the ``.gz`` files are read as published.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.datasets.base import register_dataset
from bench.datasets.idx import load_archive_verified, md5
from bench.datasets.mnist_like import IdxDataset


@register_dataset
class Kmnist(IdxDataset):
    name = "kmnist"
    description = "Kuzushiji-MNIST (Clanuwat et al. 2018): 10 cursive hiragana, official 60k/10k split"
    image_shape = (28, 28)
    #: The romanised hiragana of kmnist_classmap.csv, by label: お き す つ な は ま や れ を.
    class_names = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    sha256: ClassVar[dict[str, str]] = {}
    gz_only: ClassVar[bool] = True
    #: MD5 of each published .gz file (source: the module docstring).
    gz_md5: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte": "7320c461ea6c1c855c0b718fb2a4b134",
    }
    mirrors = ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",)
    system_dirs = ("/usr/share/datasets/kmnist",)

    def payload_matches(self, stem: str, payload: bytes, url: str) -> bool:
        return md5(payload) == self.gz_md5[stem]

    def verified(self, path: Path, stem: str) -> tuple[np.ndarray, str]:
        return load_archive_verified(path, self.gz_md5[stem], self.name)
