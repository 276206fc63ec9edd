"""The machine-facing sub-commands: ``topology`` and ``cleanup``."""

import os
import subprocess
import sys

import pytest

from engram_actors.cli import main
from scheduler.placement import usable_cpus
from shm.segments import segment_name

TOKEN = "fedcba9876543210"


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


@pytest.fixture
def shm_dir(tmp_path):
    """A stand-in for /dev/shm: one stale, one live, one foreign segment."""
    stale = segment_name(TOKEN, "graph", pid=_dead_pid())
    live = segment_name(TOKEN, "state", pid=os.getpid())
    (tmp_path / stale).write_bytes(b"x" * 3000)
    (tmp_path / live).write_bytes(b"x" * 10)
    (tmp_path / "psm_other").write_bytes(b"")
    return tmp_path, stale, live


def test_topology_places_one_actor_per_usable_cpu_by_default(capsys):
    assert main(["topology"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("topology from ")
    assert "NUMA node" in lines[0]
    actors = usable_cpus()
    assert f"{actors} actor" in "\n".join(lines)
    assert lines[-actors - 1].split() == ["actor", "cpu", "node", "shared"]


def test_topology_with_more_actors_than_cpus(capsys):
    actors = usable_cpus() + 1
    assert main(["topology", "--actors", str(actors)]) == 0
    out = capsys.readouterr().out
    assert f"{actors} actors, 2 of them on a shared CPU" in out
    assert out.count(" yes") == 2


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "must be at least 1, got 0"),
        ("1025", "must be at most 1024, got 1025"),
        ("many", "not an integer: 'many'"),
    ],
)
def test_topology_refuses_bad_actor_counts(capsys, value, message):
    with pytest.raises(SystemExit) as exited:
        main(["topology", "--actors", value])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_cleanup_dry_run_lists_but_keeps(shm_dir, capsys):
    path, stale, live = shm_dir
    assert main(["cleanup", "--dry-run", "--shm-dir", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"would remove {stale} (owner pid" in out
    assert "would remove 1 stale segment, 3,000 bytes" in out
    assert live not in out
    assert (path / stale).exists()


def test_cleanup_removes_only_stale_segments(shm_dir, capsys):
    path, stale, live = shm_dir
    assert main(["cleanup", "--shm-dir", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"removed {stale}" in out
    assert "removed 1 stale segment, 3,000 bytes" in out
    assert sorted(p.name for p in path.iterdir()) == [live, "psm_other"]

    assert main(["cleanup", "--shm-dir", str(path)]) == 0
    assert f"no stale engram segments in {path}" in capsys.readouterr().out


def test_cleanup_of_a_missing_directory_is_a_user_error(tmp_path, capsys):
    assert main(["cleanup", "--shm-dir", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("engram-actors: error: ") and "absent" in err
