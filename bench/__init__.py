"""Benchmarks for `make bench`. Each module ``bench/<area>.py`` has ``main() -> None`` that prints
its figures as ratios against a baseline measured in the same run."""
