"""mosaic-hb log, the pane log writer, on its own: real processes, real
files, its stdin a pipe as tmux's pipe-pane gives it."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

import mosaic_hb

from mosaic_launch import logs as pane_logs
from tests.support.wait import wait_for


def writer(path, *args, data: bytes = b"", preexec_fn=None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([mosaic_hb.sidecar_path(), "log", os.fspath(path), *args], input=data,
                          capture_output=True, timeout=timeout, preexec_fn=preexec_fn)


def markers(text: bytes) -> list[str]:
    return [line.split(" ")[3] for line in text.decode().splitlines() if line.startswith("=== mosaic:")]


def test_appends_after_a_marker_per_start_and_creates_a_private_dir(tmp_path):
    log = tmp_path / "new" / "dir" / "a1.log"
    assert writer(log, "--event", "launch", data=b"one\ncut mid-li").returncode == 0
    assert writer(log, data=b"two\n").returncode == 0
    lines = log.read_bytes().decode().splitlines()
    assert lines[0].startswith("=== mosaic: a1 launch ") and lines[0].endswith("Z ===")
    assert lines[1:3] == ["one", "cut mid-li"]  # the next marker starts a line of its own
    assert lines[3].startswith("=== mosaic: a1 start ") and lines[4] == "two"
    assert log.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert log.parent.stat().st_mode & 0o777 == 0o700


def test_an_existing_file_is_made_private(tmp_path):
    log = tmp_path / "a1.log"
    log.write_text("old\n")
    log.chmod(0o644)
    assert writer(log, data=b"new\n").returncode == 0
    assert log.stat().st_mode & 0o777 == 0o600
    assert log.read_text().startswith("old\n=== mosaic: a1 start")


def test_rotates_at_the_cap_and_keeps_one_old_file(tmp_path):
    log = tmp_path / "logs" / "r.log"
    chunk = b"".join(b"%05d %s\n" % (i, b"z" * 40) for i in range(2000))  # about 94 KB
    done = writer(log, "--max-bytes", "10000", data=chunk)
    assert done.returncode == 0, done.stderr
    old = log.parent / "r.log.1"
    assert old.is_file() and old.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in log.parent.iterdir()) == ["r.log", "r.log.1"]
    # Rotated after the read that crossed the cap (at most one 16 KB read over).
    assert 10000 <= old.stat().st_size <= 10000 + 16384
    assert log.stat().st_size <= 10000 + 16384
    both = old.read_bytes() + log.read_bytes()
    assert both.endswith(b"01999 " + b"z" * 40 + b"\n")
    numbers = [int(line[:5]) for line in both.splitlines() if line[:5].isdigit()]
    assert numbers == list(range(numbers[0], 2000))  # nothing lost within what is kept


def test_no_rotation_with_max_bytes_0(tmp_path):
    log = tmp_path / "n.log"
    assert writer(log, "--max-bytes", "0", data=b"x" * 50000).returncode == 0
    assert log.stat().st_size > 50000 and not (tmp_path / "n.log.1").exists()


@pytest.mark.parametrize("plant", ["symlink", "dangling symlink", "fifo", "hard link", "directory"])
def test_refuses_what_is_planted_at_the_log_path(tmp_path, plant):
    target = tmp_path / "target"
    target.write_text("keep\n")
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o700)
    log = log_dir / "a.log"
    if plant == "symlink":
        log.symlink_to(target)
    elif plant == "dangling symlink":
        log.symlink_to(tmp_path / "nothing")
    elif plant == "fifo":
        os.mkfifo(log)
    elif plant == "hard link":
        os.link(target, log)
    else:
        log.mkdir()
    done = writer(log, data=b"secret\n", timeout=10)
    assert done.returncode == 1
    assert done.stderr.decode().count("\n") == 1 and done.stderr.startswith(b"mosaic-hb: ")
    assert target.read_text() == "keep\n" and not (tmp_path / "nothing").exists()


def test_refuses_a_log_dir_that_is_a_symlink_or_open_to_others(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    done = writer(tmp_path / "link" / "a.log", data=b"x\n")
    assert done.returncode == 1 and b"log dir is a symlink" in done.stderr
    assert list(real.iterdir()) == []
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = writer(shared / "a.log", data=b"x\n")
    assert done.returncode == 1 and b"log dir is group- or world-writable" in done.stderr


def test_a_write_limit_drops_data_but_all_input_is_read(tmp_path):
    """RLIMIT_FSIZE stands for a full disk: every write past it fails
    (EFBIG; the writer ignores SIGXFSZ), and the writer still reads its
    whole input, so the pane that feeds it is never held up."""
    log = tmp_path / "full.log"
    limit = 4096

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = writer(log, "--max-bytes", "0", data=b"y" * 200_000, preexec_fn=limited)
    assert done.returncode == 0, done.stderr
    assert log.stat().st_size == limit


def test_writing_again_after_a_failure_notes_what_was_dropped(tmp_path):
    """A file-size limit of 4096 with a cap of 4000: the write that crosses
    the cap fails part way (EFBIG), the file is rotated, and the new file
    begins with a note of the bytes that were dropped."""
    log = tmp_path / "d.log"
    limit = 4096

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.Popen([mosaic_hb.sidecar_path(), "log", str(log), "--max-bytes", "4000"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limited)
    try:
        proc.stdin.write(b"a" * 2999 + b"\n")
        proc.stdin.flush()
        wait_for(lambda: log.exists() and log.stat().st_size > 3000, 10, "the first chunk written")
        proc.stdin.write(b"b" * 2999 + b"\n")  # 1,0xx bytes fit; the rest is dropped
        proc.stdin.flush()
        wait_for(lambda: (tmp_path / "d.log.1").exists(), 10, "the rotation")
        proc.stdin.write(b"after\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert (tmp_path / "d.log.1").stat().st_size == limit
    dropped = 2 * 3000 - (limit - len(log_marker(tmp_path / "d.log.1")))
    assert log.read_text() == f"[mosaic: {dropped} bytes of output were not logged: File too large]\nafter\n"


@pytest.mark.parametrize("how", ["deleted", "moved away"])
def test_a_log_deleted_or_moved_away_is_begun_again_at_its_path(tmp_path, how):
    """Else the writer would go on writing, unseen, to a file nobody can
    reach (taking its disk space until it ends; its rotation fails too)."""
    log = tmp_path / "gone.log"
    proc = subprocess.Popen([mosaic_hb.sidecar_path(), "log", str(log), "--max-bytes", "0"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    sent = iter(range(1_000_000))

    def feed_until(condition):
        def check():
            proc.stdin.write(b"line %d\n" % next(sent))
            proc.stdin.flush()
            return condition()
        return check

    try:
        wait_for(feed_until(lambda: log.exists() and b"line" in log.read_bytes()), 10, "the first line")
        if how == "deleted":
            log.unlink()
        else:
            log.rename(tmp_path / "kept")
        # The writer looks at most once a second.
        wait_for(feed_until(lambda: log.exists() and b"line" in log.read_bytes()), 10, "a new log at the path")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert log.stat().st_mode & 0o777 == 0o600
    if how == "moved away":
        kept, new = (tmp_path / "kept").read_bytes().splitlines(), log.read_bytes().splitlines()
        assert int(new[0].split()[1]) > int(kept[-1].split()[1])  # the new log begins where the old ends


def test_a_log_cut_short_by_another_process_is_counted_from_its_new_size(tmp_path):
    """The size towards the cap is the file's: a log truncated by hand is not
    rotated early."""
    log = tmp_path / "cut.log"
    proc = subprocess.Popen([mosaic_hb.sidecar_path(), "log", str(log), "--max-bytes", "30000"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"x" * 20000 + b"\n")
        proc.stdin.flush()
        wait_for(lambda: log.exists() and log.stat().st_size > 20000, 10, "the first chunk")
        os.truncate(log, 0)
        proc.stdin.write(b"y" * 15000 + b"\n")  # past the cap counted from 20 KB, not from 0
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert not (tmp_path / "cut.log.1").exists() and log.read_bytes() == b"y" * 15000 + b"\n"


def log_marker(path: Path) -> bytes:
    data = path.read_bytes()
    return data[:data.index(b"\n") + 1]


@pytest.mark.parametrize("args, message", [
    (["--max-bytes", "12"], "invalid --max-bytes '12'"),
    (["--max-bytes", "-1"], "invalid --max-bytes '-1'"),
    (["--max-bytes", "+2048"], "invalid --max-bytes '+2048'"),
    (["--max-bytes", " 2048"], "invalid --max-bytes ' 2048'"),
    (["--max-bytes", "99999999999999999999"], "invalid --max-bytes"),
    (["--max-bytes"], "--max-bytes needs a value"),
    (["--event", "Launch"], "invalid --event 'Launch'"),
    (["--event", "a" * 17], "invalid --event"),
    (["--what"], "unexpected argument '--what'"),
])
def test_bad_arguments_are_usage_errors(tmp_path, args, message):
    done = writer(tmp_path / "a.log", *args)
    assert done.returncode == 2 and message.encode() in done.stderr
    assert not (tmp_path / "a.log").exists()


def test_an_agent_named_log_still_gets_a_sidecar(tmp_path):
    done = subprocess.run([mosaic_hb.sidecar_path(), "log", "999999999", "--run-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 1 and "no such process" in done.stderr


def test_help_describes_the_log_command():
    done = subprocess.run([mosaic_hb.sidecar_path(), "--help"], capture_output=True, text=True, timeout=10)
    assert "mosaic-hb log FILE [--max-bytes N] [--event WORD]" in done.stdout


def test_the_pipe_pane_command_quotes_every_word(tmp_path):
    log_dir = tmp_path / "a b;$(x)'\""
    command = pane_logs.writer_command(log_dir, "a1", 4096, "launch")
    assert command.startswith("exec ")
    done = subprocess.run(["sh", "-c", command], input=b"via sh\n", capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert (log_dir / "a1.log").read_bytes().endswith(b"via sh\n")
    for bad in (dict(name="../x"), dict(event="Start"), dict(max_bytes=-1)):
        kwargs = dict(log_dir=log_dir, name="a1", max_bytes=4096, event="launch") | bad
        with pytest.raises(ValueError):
            pane_logs.writer_command(**kwargs)
    with pytest.raises(ValueError):
        pane_logs.writer_command(Path("relative"), "a1", 4096, "launch")
    with pytest.raises(ValueError):
        pane_logs.writer_command(tmp_path / "new\nline", "a1", 4096, "launch")


@pytest.mark.parametrize("raw, text", [
    (b"\x1b[1;31mred\x1b[0m\r\n", "red\n"),
    (b"\x1b]0;title\x07a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n", "alink\n"),
    (b"\x1bP1$r0m\x1b\\dcs\n", "dcs\n"),
    (b"\x1b(B\x1b=keypad\n", "keypad\n"),
    (b"10%\r50%\r100%\n", "100%\n"),
    (b"tab\there\x07\x08\n", "tab\there\n"),
    (b"bad \xff utf8\n", "bad \ufffd utf8\n"),
])
def test_clean(raw, text):
    assert pane_logs.clean(raw) == text


def test_cleaner_keeps_a_cut_escape_for_later():
    cleaner = pane_logs.Cleaner()
    assert cleaner.feed(b"a\x1b[3") == ""
    assert cleaner.flush() == "a"  # a prompt shows; the cut escape waits
    assert cleaner.feed(b"1mred\x1b[0m\nnext") == "red\n"
    assert cleaner.flush() == "next"


def test_follow_prints_a_progress_bar_once_its_line_ends(tmp_path, monkeypatch):
    """-f printed each version of a line rewritten with carriage returns as
    it came, one after the other: "10%20%30%"; logs prints the last version
    of a line still being rewritten at the end."""
    log = tmp_path / "bar.log"
    log.write_bytes(b"start\n\rprogress 10%")
    rounds = iter([b"\rprogress 20%", b"\rprogress 30%", b"\rprogress 100%\ndone\n"])
    idle: list[int] = []

    def agent_prints(_seconds):
        more = next(rounds, None)
        if more is None:
            idle.append(1)
            return
        with open(log, "ab") as f:
            f.write(more)

    monkeypatch.setattr(pane_logs.time, "sleep", agent_prints)
    written: list[bytes] = []
    pane_logs.follow(tmp_path, "bar", lambda b: written.append(b) or True, until=lambda: idle)
    assert b"".join(written) == b"start\nprogress 100%\ndone\n"
    log.write_bytes(b"start\n\rprogress 10%\rprogress 20%")
    written.clear()
    pane_logs.show_log(tmp_path, "bar", lambda b: written.append(b) or True)
    assert b"".join(written) == b"start\nprogress 20%"


def test_cleaner_holds_a_bounded_part_of_a_line_that_never_ends():
    """A progress bar rewritten with carriage returns for ever, or a line of
    megabytes: the Cleaner keeps at most about MAX_PENDING bytes of it, and
    prints what clean() of the whole would."""
    chunk = 1 << 16
    bar = pane_logs.Cleaner()
    out = [bar.feed((b"%07d\r" % i) * 8192) for i in range(200)]  # 13 MB
    assert len(bar._pending) <= pane_logs.Cleaner.MAX_PENDING + chunk
    assert "".join(out) + bar.flush(rewritten=True) == pane_logs.clean((b"%07d\r" % 199) * 8192) == "0000199"
    long = pane_logs.Cleaner()
    out = [long.feed(b"x" * chunk) for _ in range(100)]
    assert len(long._pending) <= pane_logs.Cleaner.MAX_PENDING + chunk
    assert "".join(out) + long.flush() == "x" * chunk * 100


@pytest.mark.parametrize("data, lines, tail", [
    (b"a\nb\nc\n", 2, b"b\nc\n"),
    (b"a\nb\nc", 2, b"b\nc"),
    (b"a\nb\n", 5, b"a\nb\n"),
    (b"a\nb\n", 0, b""),
    (b"", 3, b""),
    (b"\n\n\n", 2, b"\n\n"),
    (b"".join(b"%d\n" % i for i in range(50000)), 3, b"49997\n49998\n49999\n"),  # several blocks back
    (b"x" * 200000 + b"\nlast", 2, b"x" * 200000 + b"\nlast"),
])
def test_the_last_lines_of_the_old_file_and_the_current_one(tmp_path, data, lines, tail):
    """The tail of both files read as one, wherever the rotation cut them."""
    for cut in sorted({0, len(data) // 3, len(data) - 1, len(data)} - {-1}):
        for suffix, part in ((".log.1", data[:cut]), (".log", data[cut:])):
            (tmp_path / f"t{suffix}").write_bytes(part)
        written: list[bytes] = []
        pane_logs.show_log(tmp_path, "t", lambda b: written.append(b) or True, lines=lines, raw=True)
        assert b"".join(written) == tail, cut


def test_a_tail_of_a_big_log_reads_from_its_end(tmp_path, monkeypatch):
    """-n LINES costs what it prints: the reads stay near the end."""
    (tmp_path / "big.log").write_bytes((b"y" * 99 + b"\n") * 100_000)  # 10 MB
    read = []
    real_pread, real_read = os.pread, os.read
    monkeypatch.setattr(pane_logs.os, "pread", lambda fd, n, at: read.append(n) or real_pread(fd, n, at))
    monkeypatch.setattr(pane_logs.os, "read", lambda fd, n: read.append(n) or real_read(fd, n))
    written: list[bytes] = []
    pane_logs.show_log(tmp_path, "big", lambda b: written.append(b) or True, lines=5)
    assert b"".join(written) == (b"y" * 99 + b"\n") * 5
    assert sum(read) < 300_000


def test_follow_keeps_up_with_two_rotations_while_it_sleeps(tmp_path, monkeypatch):
    """A small cap and a chatty agent: the writer rotates twice between two
    looks of -f. The file in between is NAME.log.1 by then; -f prints it,
    so that no line is lost (three rotations would lose one: the writer
    keeps one old file)."""
    log, old = tmp_path / "r.log", tmp_path / "r.log.1"
    log.write_bytes(b"1\n")
    idle: list[int] = []  # -f looked once more after the last round
    rounds = iter([[b"2\n", b"3\n", b"4\n"], [b"5\n", b"6\n"], [b"7\n"]])

    def writer_while_asleep(_seconds):
        # Appends to the current file, then rotates before each new part.
        parts = next(rounds, None)
        if parts is None:
            idle.append(1)
            return
        with open(log, "ab") as f:
            f.write(parts[0])
        for part in parts[1:]:
            os.rename(log, old)
            log.write_bytes(part)

    monkeypatch.setattr(pane_logs.time, "sleep", writer_while_asleep)
    written: list[bytes] = []
    pane_logs.follow(tmp_path, "r", lambda b: written.append(b) or True, raw=True, until=lambda: idle)
    assert b"".join(written) == b"1\n2\n3\n4\n5\n6\n7\n"


def test_follow_sleeps_a_tenth_of_a_second_between_looks_while_nothing_comes(tmp_path, monkeypatch):
    """At most ten wake-ups a second when the log does not change: every
    look that finds nothing new is followed by a sleep of 0.1 s."""
    (tmp_path / "idle.log").write_bytes(b"=== mosaic: idle launch T ===\nhello\n")
    sleeps: list[float] = []
    monkeypatch.setattr(pane_logs.time, "sleep", sleeps.append)
    written: list[bytes] = []

    def write(data: bytes) -> bool:
        written.append(data)
        return True

    pane_logs.follow(tmp_path, "idle", write, until=lambda: len(sleeps) >= 5)
    assert b"".join(written).decode().endswith("hello\n")
    assert sleeps == [pane_logs.FOLLOW_POLL_SECONDS] * 5 and pane_logs.FOLLOW_POLL_SECONDS >= 0.1
