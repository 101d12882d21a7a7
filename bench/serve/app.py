"""Ray Serve deployments of ``bench serve``: one per family, and the HTTP ingress in front.

One deployment per family rather than one that holds every model: each family's model loads in
a replica (a process) of its own, so the families of a request predict at the same time on
different cores, a slow one (k-NN holds its training set; a network imports PyTorch) delays
only its own answer, and a family's replica that fails is restarted alone. Each asks for a
fraction of a CPU (:func:`cpu_share`), so all eight families and the ingress fit on a 2-core
machine; Ray counts the fractions for placement only, and a replica computes on a whole core
when one is free.

The ingress reads the request (up to ``max_bytes``; 413 beyond), prepares the image once per
input shape the run's models take (bench.serve.upload; 400 with the reason when it is not an
image), asks the families' deployments, and answers JSON. ``GET /`` is the drawing page,
``GET /info`` what the page shows before the first answer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from importlib import resources
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from bench.errors import BenchInputError
from bench.serve.loopback import replica_on_loopback

#: Most CPU each replica asks for; fewer when more replicas share the cluster (cpu_share).
MAX_SHARE = 0.25
#: Requests a replica takes at once; the rest wait in Serve's queue.
FAMILY_ONGOING, INGRESS_ONGOING = 16, 64


def cpu_share(replicas: int, cpus: float) -> float:
    """The CPU each of ``replicas`` asks for: at most :data:`MAX_SHARE`, and together at most
    90% of ``cpus`` (rounded down to hundredths, at least 0.01)."""
    return max(0.01, min(MAX_SHARE, int(100 * 0.9 * cpus / max(replicas, 1)) / 100))


class FamilyModel:
    """One family's saved model, loaded (and checked: SHA-256, trusted types) in the replica."""

    def __init__(self, run_dir: str, family: str, seed: int, sampler: str | None, loopback: bool) -> None:
        from threadpoolctl import threadpool_limits

        from bench.models import load_model

        if loopback:
            replica_on_loopback()
        threadpool_limits(1)  # replicas share the cores: one thread each, no oversubscription
        self.model = load_model(run_dir, family, seed, sampler, threads=1)

    def predict(self, row: Any) -> dict[str, Any]:
        from bench.serve.answers import family_answer

        return family_answer(self.model, row)


def page_html() -> str:
    return resources.files("bench.serve").joinpath("page.html").read_text(encoding="utf-8")


def content_security_policy(page: str) -> str:
    """The page may run its own inline script and style (by their SHA-256) and fetch from its
    own origin; nothing else."""

    def hashes(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'" for text in found)

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={"X-Content-Type-Options": "nosniff"})


class Ingress:
    """HTTP: ``GET /`` the page, ``GET /info`` the run and its families, ``POST /predict`` an
    image (``?family=svm,knn`` for some families only)."""

    def __init__(
        self, models: dict[str, Any], info: dict[str, Any], specs: dict[str, dict[str, Any]], max_bytes: int, loopback: bool
    ) -> None:
        if loopback:
            replica_on_loopback()
        self.models = models  # family -> DeploymentHandle (Serve swaps the bound deployments for handles)
        self.info = info
        self.specs = specs
        self.max_bytes = max_bytes
        self.page = page_html()
        self.page_headers = {"Content-Security-Policy": content_security_policy(self.page), "X-Content-Type-Options": "nosniff"}

    async def __call__(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        routes = {"/": ("GET", self._page), "/info": ("GET", self._info), "/predict": ("POST", self._predict)}
        if path not in routes:
            return _error(404, f"no such page: {path[:100]}; try GET /, GET /info or POST /predict")
        allowed, handler = routes[path]
        if method != allowed and not (allowed == "GET" and method == "HEAD"):
            return _error(405, f"{path} takes {allowed}")
        return await handler(request)

    async def _page(self, request: Request) -> Response:
        return HTMLResponse(self.page, headers=self.page_headers)

    async def _info(self, request: Request) -> Response:
        return JSONResponse(self.info)

    async def _predict(self, request: Request) -> Response:
        from bench.serve.upload import TooLarge, prepare_upload, read_limited

        try:
            families = self._families(request.query_params.get("family"))
            body = await read_limited(request.headers.get("content-length"), request.stream(), self.max_bytes)
            specs = {family: self.specs[family] for family in families}
            keys = {family: json.dumps(spec, sort_keys=True) for family, spec in specs.items()}  # one preparation per shape
            rows = await asyncio.to_thread(prepare_upload, body, {keys[f]: specs[f] for f in families})
        except TooLarge as exc:
            return _error(413, str(exc))
        except BenchInputError as exc:
            return _error(400, str(exc))
        answers = await asyncio.gather(*(self.models[family].predict.remote(rows[keys[family]]) for family in families))
        return JSONResponse({"run": self.info["run"], "predictions": list(answers)})

    def _families(self, asked: str | None) -> list[str]:
        if asked is None:
            return list(self.models)
        names = list(dict.fromkeys(name.strip() for name in asked.split(",") if name.strip()))
        unknown = [name for name in names if name not in self.models]
        if unknown or not names:
            raise BenchInputError(f"family {(unknown or [''])[0][:40]!r} is not served here; served: {', '.join(self.models)}")
        return names


#: The deployments (the classes stay plain, so replicas import them from this module by name).
FAMILY_DEPLOYMENT: Any = serve.deployment(FamilyModel, max_ongoing_requests=FAMILY_ONGOING, max_constructor_retry_count=1)
INGRESS_DEPLOYMENT: Any = serve.deployment(Ingress, max_ongoing_requests=INGRESS_ONGOING, max_constructor_retry_count=1)


def build(run_dir: str, chosen: list[dict[str, Any]], info: dict[str, Any], max_bytes: int, cpus: float, loopback: bool) -> Any:
    """The application: ``chosen`` holds, per family, its ``family``, ``seed``, ``sampler`` and
    ``spec`` (the card's ``input``); ``loopback``: a local instance, whose replicas listen on
    127.0.0.1 only (bench.serve.loopback)."""
    share = cpu_share(len(chosen) + 1, cpus)
    models = {
        c["family"]: FAMILY_DEPLOYMENT.options(name=f"model-{c['family']}", ray_actor_options={"num_cpus": share}).bind(
            run_dir, c["family"], c["seed"], c["sampler"], loopback
        )
        for c in chosen
    }
    specs = {c["family"]: c["spec"] for c in chosen}
    return INGRESS_DEPLOYMENT.options(ray_actor_options={"num_cpus": share}).bind(models, info, specs, max_bytes, loopback)
