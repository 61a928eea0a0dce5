import pytest

from reports.models import ReportJob


@pytest.fixture
def reports_storage(tmp_path, monkeypatch):
    """Report files go to this test's own folder (the storage is built at import,
    so its location is moved here rather than through settings)."""
    storage = ReportJob._meta.get_field("file").storage
    monkeypatch.setattr(storage, "_location", str(tmp_path))
    for cached in ("base_location", "location"):
        monkeypatch.delitem(storage.__dict__, cached, raising=False)
    yield tmp_path
    for cached in ("base_location", "location"):
        storage.__dict__.pop(cached, None)
