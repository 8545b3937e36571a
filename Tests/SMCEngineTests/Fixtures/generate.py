"""Generates the reference outputs that SMCEngineTests compare against for non-default parameters.

Run once (the outputs are committed, tests never need Python):

    python3 -m venv /tmp/smc-ref && /tmp/smc-ref/bin/pip install smartmoneyconcepts==0.0.27
    /tmp/smc-ref/bin/python Tests/SMCEngineTests/Fixtures/generate.py

Inputs:
  eurusd_slice.csv  rows 16000..17999 of the shared EURUSD 15m file (MT5 layout, copied here).
  synthetic_1h.csv  a seeded random walk of hourly candles around the clock (weekends included), with volume,
                    TradingView layout (epoch seconds), for the calendar time frames and order-block volumes.

Each case is (input, output name, call); the Swift side (ReferenceFixtureTests.swift) lists the same cases.
Time frames are written as our spellings (15m, 1M); pandas 3 needs its own aliases (15min, ME).
"""

import os

import numpy as np
import pandas as pd
from smartmoneyconcepts.smc import smc

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "..", "shared", "conformance", "smartmoneyconcepts", "eurusd-15m")


def write_inputs():
    with open(os.path.join(SHARED, "EURUSD_15M.csv")) as f:
        lines = f.read().splitlines()
    with open(os.path.join(HERE, "eurusd_slice.csv"), "w") as f:
        f.write("\n".join([lines[0]] + lines[1 + 16000 : 1 + 18000]) + "\n")

    rng = np.random.default_rng(20240601)
    n = 2400
    start = pd.Timestamp("2023-01-04 13:00:00")  # a Wednesday
    times = [start + pd.Timedelta(hours=i) for i in range(n)]
    close = 1.1 + np.cumsum(rng.normal(0, 0.002, n))
    open_ = np.concatenate([[1.1], close[:-1]])
    spread_hi = np.abs(rng.normal(0, 0.0015, n))
    spread_lo = np.abs(rng.normal(0, 0.0015, n))
    high = np.maximum(open_, close) + spread_hi
    low = np.minimum(open_, close) - spread_lo
    volume = rng.integers(50, 5000, n)
    with open(os.path.join(HERE, "synthetic_1h.csv"), "w") as f:
        f.write("time,open,high,low,close,Volume\n")
        for t, o, h, l, c, v in zip(times, open_, high, low, close, volume):
            f.write(f"{int(t.timestamp())},{o:.5f},{h:.5f},{l:.5f},{c:.5f},{v}\n")


def load(name):
    df = pd.read_csv(os.path.join(HERE, name))
    if "Date" in df.columns:
        df = df.set_index("Date")
        df.index = pd.to_datetime(df.index, format="%Y.%m.%d %H:%M:%S")
    else:
        df.index = pd.to_datetime(df["time"], unit="s")
        df = df.drop(columns=["time"])
    return df


PANDAS_TF = {"15m": "15min", "1M": "ME"}


def swings(df, n):
    return smc.swing_highs_lows(df, swing_length=n)


CASES = [
    # (input, output, function)
    ("eurusd_slice.csv", "swing_highs_lows_3", lambda df: swings(df, 3)),
    ("eurusd_slice.csv", "swing_highs_lows_10", lambda df: swings(df, 10)),
    ("eurusd_slice.csv", "swing_highs_lows_1", lambda df: swings(df, 1)),
    ("eurusd_slice.csv", "swing_highs_lows_13", lambda df: swings(df, 13)),
    ("eurusd_slice.csv", "swing_highs_lows_50", lambda df: swings(df, 50)),
    ("eurusd_slice.csv", "bos_choch_20", lambda df: smc.bos_choch(df, swings(df, 20))),
    ("eurusd_slice.csv", "fvg", lambda df: smc.fvg(df)),
    ("eurusd_slice.csv", "fvg_join", lambda df: smc.fvg(df, join_consecutive=True)),
    ("eurusd_slice.csv", "bos_choch_5_high_low", lambda df: smc.bos_choch(df, swings(df, 5), close_break=False)),
    ("eurusd_slice.csv", "bos_choch_3", lambda df: smc.bos_choch(df, swings(df, 3))),
    ("eurusd_slice.csv", "ob_5_close_mitigation", lambda df: smc.ob(df, swings(df, 5), close_mitigation=True)),
    ("eurusd_slice.csv", "ob_3", lambda df: smc.ob(df, swings(df, 3))),
    ("eurusd_slice.csv", "liquidity_5_0.02", lambda df: smc.liquidity(df, swings(df, 5), range_percent=0.02)),
    ("eurusd_slice.csv", "liquidity_3_0.005", lambda df: smc.liquidity(df, swings(df, 3), range_percent=0.005)),
    ("eurusd_slice.csv", "retracements_10", lambda df: smc.retracements(df, swings(df, 10))),
    ("eurusd_slice.csv", "retracements_3", lambda df: smc.retracements(df, swings(df, 3))),
    ("eurusd_slice.csv", "previous_high_low_15m", lambda df: smc.previous_high_low(df, PANDAS_TF["15m"])),
    ("eurusd_slice.csv", "previous_high_low_1h", lambda df: smc.previous_high_low(df, "1h")),
    ("eurusd_slice.csv", "previous_high_low_7h", lambda df: smc.previous_high_low(df, "7h")),
    ("eurusd_slice.csv", "previous_high_low_2D", lambda df: smc.previous_high_low(df, "2D")),
    ("eurusd_slice.csv", "sessions_Sydney", lambda df: smc.sessions(df, "Sydney")),
    ("eurusd_slice.csv", "sessions_Tokyo", lambda df: smc.sessions(df, "Tokyo")),
    ("eurusd_slice.csv", "sessions_New York", lambda df: smc.sessions(df, "New York")),
    ("eurusd_slice.csv", "sessions_Asian kill zone", lambda df: smc.sessions(df, "Asian kill zone")),
    ("eurusd_slice.csv", "sessions_London open kill zone", lambda df: smc.sessions(df, "London open kill zone")),
    ("eurusd_slice.csv", "sessions_New York kill zone", lambda df: smc.sessions(df, "New York kill zone")),
    ("eurusd_slice.csv", "sessions_london close kill zone", lambda df: smc.sessions(df, "london close kill zone")),
    ("eurusd_slice.csv", "sessions_custom_22:30_03:15",
     lambda df: smc.sessions(df, "Custom", start_time="22:30", end_time="03:15")),
    ("eurusd_slice.csv", "sessions_London_UTC+2", lambda df: smc.sessions(df, "London", time_zone="UTC+2")),
    ("eurusd_slice.csv", "sessions_London_GMT-3", lambda df: smc.sessions(df, "London", time_zone="GMT-3")),
    ("eurusd_slice.csv", "sessions_New York_America/New_York",
     lambda df: smc.sessions(df, "New York", time_zone="America/New_York")),
    ("synthetic_1h.csv", "fvg", lambda df: smc.fvg(df)),
    ("synthetic_1h.csv", "swing_highs_lows_5", lambda df: swings(df, 5)),
    ("synthetic_1h.csv", "bos_choch_5", lambda df: smc.bos_choch(df, swings(df, 5))),
    ("synthetic_1h.csv", "ob_5", lambda df: smc.ob(df, swings(df, 5))),
    ("synthetic_1h.csv", "ob_2_close_mitigation", lambda df: smc.ob(df, swings(df, 2), close_mitigation=True)),
    ("synthetic_1h.csv", "liquidity_5", lambda df: smc.liquidity(df, swings(df, 5))),
    ("synthetic_1h.csv", "retracements_5", lambda df: smc.retracements(df, swings(df, 5))),
    ("synthetic_1h.csv", "previous_high_low_4h", lambda df: smc.previous_high_low(df, "4h")),
    ("synthetic_1h.csv", "previous_high_low_1D", lambda df: smc.previous_high_low(df, "1D")),
    ("synthetic_1h.csv", "previous_high_low_W", lambda df: smc.previous_high_low(df, "W")),
    ("synthetic_1h.csv", "previous_high_low_2W", lambda df: smc.previous_high_low(df, "2W")),
    ("synthetic_1h.csv", "previous_high_low_W-MON", lambda df: smc.previous_high_low(df, "W-MON")),
    ("synthetic_1h.csv", "previous_high_low_1M", lambda df: smc.previous_high_low(df, PANDAS_TF["1M"])),
    ("synthetic_1h.csv", "previous_high_low_MS", lambda df: smc.previous_high_low(df, "MS")),
    ("synthetic_1h.csv", "sessions_Sydney", lambda df: smc.sessions(df, "Sydney")),
]


def file_name(input_name, output):
    stem = input_name.removesuffix(".csv")
    return f"{stem}__{output.replace(' ', '_').replace('/', '_').replace(':', '')}.csv"


def main():
    write_inputs()
    for input_name, output, call in CASES:
        result = call(load(input_name))
        result.to_csv(os.path.join(HERE, file_name(input_name, output)), index=False)
        print("wrote", file_name(input_name, output))


if __name__ == "__main__":
    main()
