"""The benchmark (bench/run.py) and what only it serves: the floors' views (bench/floors.py)."""
