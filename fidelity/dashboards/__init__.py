"""The coordinator's dashboards and the figures behind them: dose and reach, contamination
rates. The process report reads the same figures."""
