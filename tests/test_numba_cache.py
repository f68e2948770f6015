"""numba's cache of a module that inlines functions from other files is dropped when one of
those files changes (numba itself checks only the defining file's timestamp)."""

from __future__ import annotations

from pathlib import Path

from stratolink.winds.gridkernel import forget_stale_cache


def test_cached_code_goes_when_an_inlined_source_changes(tmp_path: Path) -> None:
    module, helper = tmp_path / "kernel.py", tmp_path / "helper.py"
    module.write_text("x = 1\n")
    helper.write_text("def f(): return 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    cached = [cache / "kernel.fly-12.py311.nbi", cache / "kernel.fly-12.py311.1.nbc"]
    other = cache / "helper.f-1.py311.nbi"

    def fill() -> None:
        for path in (*cached, other):
            path.write_bytes(b"machine code")

    fill()
    forget_stale_cache(str(module), str(helper))  # no record yet: nothing can be trusted
    assert not any(p.exists() for p in cached) and other.exists()
    fill()
    forget_stale_cache(str(module), str(helper))  # nothing changed: the cache stays
    assert all(p.exists() for p in cached)
    helper.write_text("def f(): return 2\n")
    forget_stale_cache(str(module), str(helper))
    assert not any(p.exists() for p in cached) and other.exists()


def test_a_read_only_cache_folder_is_left_alone(tmp_path: Path) -> None:
    module, helper = tmp_path / "kernel.py", tmp_path / "helper.py"
    module.write_text("x = 1\n")
    helper.write_text("y = 2\n")
    (tmp_path / "__pycache__").write_text("not a folder")  # cannot hold a cache
    forget_stale_cache(str(module), str(helper))  # no exception
