"""Peak resident memory of this process while a block runs, sampled in a background thread.

``ru_maxrss`` only grows over a process's life, so it cannot give a per-job peak when jobs share a
process; sampling RSS can.
"""

from __future__ import annotations

import threading

import psutil


class PeakMemory:
    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self.gpu_peak_mb: float | None = None
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak_mb = self._proc.memory_info().rss / 2**20
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
        except ImportError:  # pragma: no cover
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)
        try:
            import torch

            if torch.cuda.is_available():
                self.gpu_peak_mb = torch.cuda.max_memory_allocated() / 2**20
        except ImportError:  # pragma: no cover
            pass
