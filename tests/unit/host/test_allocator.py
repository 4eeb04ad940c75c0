"""handlers.host.allocator: the C library's calls (this process's glibc), and when to trim."""

from __future__ import annotations

import ctypes

from handlers.host import allocator


def test_configure_and_trim_on_this_libc() -> None:
    libc = ctypes.CDLL(None)
    assert allocator.configure(libc) is hasattr(libc, "mallopt")
    allocator.trim(libc)  # returns nothing, raises nothing


def test_a_libc_without_the_calls_is_left_alone() -> None:
    class Bare:  # musl has no malloc_trim
        pass

    assert allocator.configure(Bare()) is False  # type: ignore[arg-type]
    allocator.trim(Bare())  # type: ignore[arg-type]


def test_one_trim_per_busy_spell_at_its_first_quiet_tick() -> None:
    clock, cpu = [0.0], [0.0]
    trimmer = allocator.Trimmer(lambda: clock[0], lambda: cpu[0])

    def tick(cpu_seconds: float) -> bool:
        clock[0] += 10.0
        cpu[0] += cpu_seconds
        return trimmer.tick()

    assert [tick(0.01), tick(0.02)] == [False, False]  # idle: never
    assert [tick(3.0), tick(6.0), tick(0.01), tick(0.01)] == [False, False, True, False]
    assert [tick(1.0), tick(0.0)] == [False, True]
