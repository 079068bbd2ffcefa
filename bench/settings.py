"""The app's settings with the benchmark's urlconf: the floor views exist only in the server the
benchmark starts, never as product URLs."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
