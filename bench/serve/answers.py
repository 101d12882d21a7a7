"""One family's answer to one image, as ``bench serve`` returns it: ``bench predict``'s answer
(label, its probability, the top three; bench.predict.answer) with every class's probability
beside it, in the order of the model's classes, for the page's bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: What ``bench predict`` calls the image; a served request has no file name.
UPLOAD = "upload"


def family_answer(model: Any, row: np.ndarray) -> dict[str, Any]:
    """``model`` (a :class:`bench.models.SavedModel`) on one prepared row."""
    from bench.predict import answer

    X = np.asarray(row, dtype=np.float32).reshape(1, -1)
    label, proba = model.predict(X)[0], model.predict_proba(X)[0]
    out = answer(model, Path(UPLOAD), label, proba)
    del out["image"]
    names = model.class_names
    out["probabilities"] = [
        {
            "label": str(names[code]) if 0 <= code < len(names) else str(code),
            "class": int(code),
            "probability": round(float(p), 6),
        }
        for code, p in zip(model.classes_, proba, strict=True)
    ]
    return out
