"""Static files for slow networks: hashed names, brotli and gzip beside each, and plotly.js's
basic bundle (scatter, bar, pie: every chart here is a scatter) instead of the full one."""

import re

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.test import Client

from monitoring.reports import charts, study_charts


def test_static_files_have_hashed_names_and_compressed_copies():
    assert "CompressedManifest" in settings.STORAGES["staticfiles"]["BACKEND"]
    url = staticfiles_storage.url("vendor/plotly/plotly-basic.min.js")
    assert re.search(r"plotly-basic\.min\.[0-9a-f]{12}\.js$", url), url
    hashed = url.removeprefix(settings.STATIC_URL)
    for suffix in ("", ".br", ".gz"):
        assert staticfiles_storage.exists(hashed + suffix), hashed + suffix
    full = staticfiles_storage.size(hashed)
    assert staticfiles_storage.size(hashed + ".br") < full / 3


def test_whitenoise_serves_brotli_to_a_browser_that_accepts_it(db):
    url = staticfiles_storage.url("vendor/plotly/plotly-basic.min.js")
    response = Client().get(url, headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == "br"
    assert "max-age=315360000" in response["Cache-Control"]


def test_every_chart_draws_only_traces_of_the_basic_bundle():
    source = open(charts.__file__).read() + open(study_charts.__file__).read()
    kinds = set(re.findall(r"go\.(\w+)\(", source)) - {"Figure"}
    kinds |= set(re.findall(r'"type": "(\w+)"', source)) - {"line", "rect", "date", "log", "linear"}
    assert kinds <= {"Scatter", "scatter", "Bar", "bar", "Pie", "pie"}, kinds
