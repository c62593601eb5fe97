"""Backtest of vigil's forecasts on seeded synthetic series (trend + daily and weekly
seasonality + noise, hourly): interval coverage and error against seasonal-naive.

Run: PYTHONPATH=$PWD python bench/insight/backtest.py [--seeds 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vigil.engine.insight.forecast import forecast_values

STEP = 3600.0


def synthetic(seed: int, n: int, noise: float = 1.0) -> np.ndarray:
    """Level 20, a random trend, daily and weekly cycles, Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    trend = rng.uniform(-0.01, 0.02) * t
    daily = rng.uniform(2, 5) * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6.28))
    weekly = rng.uniform(1, 3) * np.sin(2 * np.pi * t / 168 + rng.uniform(0, 6.28))
    return 20 + trend + daily + weekly + rng.normal(0, noise, n)


def backtest(seeds: range, history: int, horizon: int) -> dict[str, float]:
    """Coverage of the 80 % / 95 % intervals and MAE against the two seasonal-naive
    baselines (a day earlier, a week earlier), averaged over seeds and lead times."""
    inside = {0.8: [], 0.95: []}
    mae, mae_day, mae_week, seconds = [], [], [], []
    for seed in seeds:
        y = synthetic(seed, history + horizon)
        train, test = y[:history], y[history:]
        began = time.perf_counter()
        f = forecast_values(train, step=STEP, horizon=horizon)
        seconds.append(time.perf_counter() - began)
        for level in inside:
            inside[level].append(np.mean((test >= f.lower[level]) & (test <= f.upper[level])))
        mae.append(np.mean(np.abs(test - f.mean)))
        lead = np.arange(horizon)
        mae_day.append(np.mean(np.abs(test - train[history - 24 + lead % 24])))
        mae_week.append(np.mean(np.abs(test - train[history - 168 + lead % 168])))
    return {
        "method": f.method,
        "coverage_80": float(np.mean(inside[0.8])),
        "coverage_95": float(np.mean(inside[0.95])),
        "mae": float(np.mean(mae)),
        "mae_seasonal_naive_day": float(np.mean(mae_day)),
        "mae_seasonal_naive_week": float(np.mean(mae_week)),
        "fit_seconds": float(np.mean(seconds)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    print(
        "| history | horizon | method | cover 80 % | cover 95 % | MAE | MAE snaive-day "
        "| MAE snaive-week | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for history, horizon in ((24 * 28, 24), (24 * 28, 72), (24 * 14, 24), (24 * 4, 24)):
        r = backtest(range(args.seeds), history, horizon)
        print(
            f"| {history // 24}d | {horizon}h | {r['method']} | {r['coverage_80']:.3f} | "
            f"{r['coverage_95']:.3f} | {r['mae']:.3f} | {r['mae_seasonal_naive_day']:.3f} | "
            f"{r['mae_seasonal_naive_week']:.3f} | {r['fit_seconds']:.2f} |"
        )


if __name__ == "__main__":
    main()
