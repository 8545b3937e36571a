#!/usr/bin/env python3
"""Times the reference `smartmoneyconcepts` 0.0.27 on the calls smc-bench makes, for scripts/bench.

usage: bench_reference.py CSV [RUNS]

Loads the file as the reference's own tests do, then prints one line per call, `name<TAB>median_ms<TAB>best_ms`,
and a `total` line; the names match smc-bench's. Each call includes the swing computation it is given, as in
`smc.bos_choch(df, smc.swing_highs_lows(df, 5))`.
"""
import os
import statistics
import sys
import time

os.environ["SMC_CREDIT"] = "0"  # the package prints a banner on import otherwise

import pandas as pd  # noqa: E402
from smartmoneyconcepts.smc import smc  # noqa: E402


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3

    df = pd.read_csv(path)
    df = df.set_index("Date")
    df.index = pd.to_datetime(df.index)

    calls = [
        ("fvg", lambda: smc.fvg(df)),
        ("fvg join_consecutive", lambda: smc.fvg(df, join_consecutive=True)),
        ("swing_highs_lows 5", lambda: smc.swing_highs_lows(df, swing_length=5)),
        ("bos_choch", lambda: smc.bos_choch(df, smc.swing_highs_lows(df, swing_length=5))),
        ("ob", lambda: smc.ob(df, smc.swing_highs_lows(df, swing_length=5))),
        ("liquidity", lambda: smc.liquidity(df, smc.swing_highs_lows(df, swing_length=5))),
        ("previous_high_low 4h", lambda: smc.previous_high_low(df, time_frame="4h")),
        ("previous_high_low 1D", lambda: smc.previous_high_low(df, time_frame="1D")),
        ("previous_high_low W", lambda: smc.previous_high_low(df, time_frame="W")),
        ("sessions London", lambda: smc.sessions(df, session="London")),
        ("retracements", lambda: smc.retracements(df, smc.swing_highs_lows(df, swing_length=5))),
    ]
    total_median = 0.0
    total_best = 0.0
    for name, call in calls:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            samples.append((time.perf_counter() - start) * 1e3)
        median = statistics.median(samples)
        best = min(samples)
        total_median += median
        total_best += best
        print(f"{name}\t{median}\t{best}", flush=True)
    print(f"total\t{total_median}\t{total_best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
