"""A reproduction run: published rows as Ray tasks, tables written as each repeat finishes.

One task per (row, repeat), one CPU each, so a Ray cluster reproduces a whole table in
parallel. The raw pixels of each dataset go into the object store once. Results land in a run
folder like ``bench run`` writes (``manifest.json`` with ``"kind": "reproduce"``), so
``bench.load`` reads them; every write is atomic, so an interruption loses nothing finished.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.cluster import check_address, ray_session
from bench.errors import BenchInputError
from bench.manifest import build_manifest
from bench.reproduce.data import RawData, check_protocol, load_raw
from bench.reproduce.estimator import check_sklearn, seeded
from bench.reproduce.plan import Plan, PlannedRow
from bench.reproduce.tables import final_record, frame, row_key, sample_records, trial_record
from bench.reproduce.task import CPUS_PER_TASK, run_job
from bench.results import check_writable, write_json, write_table


@dataclass
class ReproduceOptions:
    """What ``bench reproduce`` was asked for; the CLI fills it, tests may build it directly."""

    sources: list[str]
    datasets: list[str] | None = None
    only: list[str] | None = None
    repeats: int | None = None
    data_dir: Path | None = None
    results_dir: Path = Path("results")
    address: str | None = None
    name: str | None = None
    command: str = ""


def make_run_id(name: str | None, datasets: list[str], sources: list[str]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    dataset = datasets[0] if len(datasets) == 1 else "multi"
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", name or "-".join(sources))[:40].strip("._-") or "baselines"
    return f"{stamp}-{dataset}-reproduce-{label}-{secrets.token_hex(2)}"


def _ray_entry(job: dict[str, Any], data: RawData) -> dict[str, Any]:
    return run_job(job, data)


class Reproduction:
    """Owns one reproduction's run folder and tables; validates everything before computing."""

    def __init__(self, options: ReproduceOptions, plan: Plan) -> None:
        if not plan.rows:
            raise BenchInputError("nothing to re-run: the selected rows are reference-only")
        check_sklearn()
        self.options = options
        self.plan = plan
        check_writable(Path(options.results_dir))
        check_address(options.address)
        self.data: dict[str, RawData] = {d: load_raw(d, options.data_dir) for d in plan.datasets}
        for row in plan.rows:
            check_protocol(row.protocol, row.dataset, self.data[row.dataset].has_official_split)
        self.run_id = make_run_id(options.name, plan.datasets, sorted({r.source for r in plan.rows}))
        self.run_dir = check_writable(Path(options.results_dir) / self.run_id).resolve()
        self.rows: dict[str, PlannedRow] = {row_key(r): r for r in plan.rows}
        self.jobs: list[dict[str, Any]] = [
            {"key": key, "repeat": repeat, "seed": seed, "protocol": row.protocol, "spec": seeded(row.spec, seed)}
            for key, row in self.rows.items()
            for repeat, seed in enumerate(row.seeds)
        ]
        self.trials: dict[str, list[dict[str, Any]]] = {key: [] for key in self.rows}
        self.samples: list[dict[str, Any]] = []
        self.started = datetime.now(timezone.utc).isoformat()
        self.status = "running"
        self.cluster: dict[str, Any] = {}

    # ----------------------------------------------------------------- writing
    def final_frame(self) -> Any:
        return frame([final_record(self.run_id, row, self.trials[key]) for key, row in self.rows.items() if self.trials[key]])

    def manifest(self) -> dict[str, Any]:
        datasets = {
            name: {
                "name": name,
                "source": d.source,
                "checksums_sha256": d.checksums,
                "image_shape": list(d.image_shape),
                "class_names": list(d.class_names),
            }
            for name, d in self.data.items()
        }
        sources: dict[str, dict[str, Any]] = {}
        for row in self.plan.rows:
            sources.setdefault(row.source, {"citation": row.citation, "url": row.url, "tolerance": row.tolerance, "rows": 0})
            sources[row.source]["rows"] += 1
        extra = {"dataset": next(iter(datasets.values()))} if len(datasets) == 1 else {}
        return build_manifest(
            run_id=self.run_id,
            kind="reproduce",
            name=self.options.name,
            **({"command": self.options.command} if self.options.command else {}),
            status=self.status,
            started_at=self.started,
            finished_at=datetime.now(timezone.utc).isoformat() if self.status != "running" else None,
            options={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.options).items()},
            sources=sources,
            datasets=datasets,
            **extra,
            rows=len(self.rows),
            tasks=len(self.jobs),
            cpus_per_task=CPUS_PER_TASK,
            cluster=self.cluster,
        )

    def write(self) -> None:
        """Write every table and the manifest, atomically; safe to call at any point."""
        trials = [t for key in self.rows for t in sorted(self.trials[key], key=lambda t: t["repeat"])]
        write_table(frame(trials), self.run_dir / "trials.parquet")
        write_table(self.final_frame(), self.run_dir / "final.parquet")
        if self.samples:
            write_table(frame(self.samples), self.run_dir / "samples.parquet")
        write_json(self.manifest(), self.run_dir / "manifest.json")

    # ----------------------------------------------------------------- running
    def execute(self, on_result: Callable[[dict[str, Any], int, int], None] | None = None) -> Path:
        """Run every job as a Ray task; returns the run folder."""
        self.write()
        with ray_session(self.options.address) as resources:
            import ray

            self.cluster = {"resources": resources, "nodes": len([n for n in ray.nodes() if n.get("Alive")])}
            refs = {name: ray.put(data) for name, data in self.data.items()}
            remote = ray.remote(num_cpus=CPUS_PER_TASK, max_retries=0)(_ray_entry)
            pending = {remote.remote(job, refs[self.rows[job["key"]].dataset]): job for job in self.jobs}
            try:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    job = pending.pop(ready[0])
                    try:
                        result = ray.get(ready[0])
                    except Exception as exc:  # noqa: BLE001 - the worker died (memory, signal): a failed repeat
                        result = {
                            "status": "failed",
                            "repeat": job["repeat"],
                            "seed": job["seed"],
                            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:2000]}",
                        }
                    self._record(job, result)
                    self.write()
                    if on_result:
                        on_result(self.trials[job["key"]][-1], len(self.jobs) - len(pending), len(self.jobs))
                self.status = "finished"
            except KeyboardInterrupt:
                self.status = "interrupted"
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
            finally:
                if self.status == "running":
                    self.status = "failed"
                self.write()
        return self.run_dir

    def _record(self, job: dict[str, Any], result: dict[str, Any]) -> None:
        row = self.rows[job["key"]]
        self.trials[job["key"]].append(trial_record(self.run_id, row, job, result))
        self.samples.extend(sample_records(self.run_id, row, result, self.data[row.dataset].image_shape))
