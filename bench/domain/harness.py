"""Run one task in this process as a worker would, and print its own run time and memory as JSON.

`python -m bench.domain.harness toolbox.kpi date_from=2024-01-01 ...`
"""

from __future__ import annotations

import json
import resource
import sys
import time


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    from config.celery_config import discovered_tasks

    name, *pairs = sys.argv[1:]
    task = discovered_tasks[name]
    params = task.params_model.model_validate(dict(pair.split("=", 1) for pair in pairs))
    before = _rss_mib()
    started = time.perf_counter()
    result = task.apply(kwargs=params.model_dump(mode="json", exclude_unset=True))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ok": result.successful(), "seconds": seconds, "rss_before_mib": before, "peak_mib": peak,
                      "result": result.result if result.successful() else str(result.result)}, default=str))
    sys.exit(0 if result.successful() else 1)


if __name__ == "__main__":
    main()
