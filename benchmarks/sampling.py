"""Peak resident memory of a process tree while a command runs, for `benchmarks.run`."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


class RssSampler(threading.Thread):
    """Peak resident memory of a process and all its descendants (sum), sampled every 0.1 s."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.peak_total = self.peak_single = 0
        self.samples: list[tuple[float, int]] = []  # (unix time, tree RSS) to split peaks by phase
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            sizes = []
            for proc in procs:
                try:
                    sizes.append(proc.memory_info().rss)
                except psutil.Error:
                    pass
            if sizes:
                self.samples.append((time.time(), sum(sizes)))
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_single = max(self.peak_single, max(sizes))
            self.done.wait(self.interval)


def run_sampled(command: list[str], log: Path, env: dict | None = None,
                samples: list | None = None, cwd: Path = REPO,
                inherit: bool = True) -> tuple[float, float, float, int]:
    """(seconds, peak tree RSS MB, peak single-process RSS MB, return code); output to `log`.

    `env` is added to this process's environment (or, with `inherit=False`, is the whole of
    it). `samples`, if given, receives the (unix time, tree RSS bytes) samples."""
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**(os.environ if inherit else {}), **(env or {})})
        sampler = RssSampler(proc.pid)
        sampler.start()
        code = proc.wait()
    seconds = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    if samples is not None:
        samples.extend(sampler.samples)
    return seconds, sampler.peak_total / 1e6, sampler.peak_single / 1e6, code
