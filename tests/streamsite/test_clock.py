"""streamsite.clock: the clock tests move instead of sleeping, and how positions are written."""

from __future__ import annotations

import time

import pytest

from streamsite import clock as project_clock


def test_advancing_the_clock_moves_both_readings_and_the_fixture_puts_it_back(clock):
    mono, wall = clock.monotonic(), clock.time()

    clock.advance(3600)

    assert clock.monotonic() - mono >= 3600
    assert clock.time() - wall >= 3600
    assert clock.time() - time.time() >= 3599  # the project's clock, not the machine's, moved


def test_without_advancing_the_clock_reads_the_real_time():
    assert abs(project_clock.time() - time.time()) < 60
    assert abs(project_clock.monotonic() - time.monotonic()) < 60


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0:00"), (90, "1:30"), (2530, "42:10"), (3725, "1:02:05"), (None, "0:00"), (-5, "0:00")],
)
def test_a_position_is_written_as_players_show_it(seconds, shown):
    assert project_clock.position(seconds) == shown


@pytest.mark.parametrize(
    ("milliseconds", "written"),
    [(0, "00:00:00.000"), (62_500, "00:01:02.500"), (3_725_001, "01:02:05.001")],
)
def test_a_cue_time_is_written_as_webvtt_asks(milliseconds, written):
    assert project_clock.webvtt(milliseconds) == written
