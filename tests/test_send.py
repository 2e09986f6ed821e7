"""`mosaic send` (issue 15): into real panes on a real tmux server, read by
fake agents that read lines or take bracketed pastes
(tests/support/input_agents)."""

from __future__ import annotations

import subprocess

import pytest

from mosaic_launch import send as sender
from mosaic_launch import settings
from tests.support.agents import launch
from tests.support.input_agents import READY, events, line_reader_command, paste_tui_command
from tests.support.run import mosaic_argv, one_line_error
from tests.support.wait import wait_for

pytestmark = pytest.mark.usefixtures("settled")

# Everything a shell or tmux would take for something else: quotes, ; and
# &, a command substitution, backticks, a variable, tmux key names (alone,
# as send-keys would read them), a trailing ; (tmux's command separator),
# and text from other scripts.
TRICKY = ("he said \"hi\" & it's; $(touch PWNED) `touch PWNED2` $HOME C-c Enter "
          "ünïcødé 日本語 🎉 #{pane_pid} \\; end;")
KEY_NAMES = ["C-c", "Enter", "Escape", "C-d"]


def screen(tmux, name: str) -> str:
    return tmux.cmd("capture-pane", "-p", "-t", f"={name}:", check=False).stdout


def start(tmux, run_dir, name: str, command: str, runtime: str = "codex") -> dict:
    """Launch NAME running COMMAND, and wait until it has said it is ready."""
    data = launch(tmux, run_dir, name, "--runtime", runtime, command=command)
    wait_for(lambda: READY in screen(tmux, name), 10, f"{name} to be ready")
    return data


def enters(done, name: str) -> int:
    """How many Enters `send` pressed in NAME: 1, or 2 when it said so (the
    pane showed no change within ENTER_CHECK_S of the first: a machine so
    loaded that the fake agent had not redrawn yet)."""
    assert f"sent to {name}" in done.stdout, done.stdout + done.stderr
    return 2 if f"sent to {name} (Enter pressed twice" in done.stdout else 1


def submitted(done, name: str, text: str) -> list[dict]:
    """The events paste_tui.py records for TEXT sent to NAME: one paste
    (line feeds as carriage returns), then each Enter."""
    return [{"paste": text.replace("\n", "\r")}] + [{"key": "\r"}] * enters(done, name)


def send(tmux, run_dir, *args, input: bytes | None = None):
    """`mosaic send ARGS` as a real process on the test's socket and run dir."""
    argv = mosaic_argv("send", "--socket", tmux.socket_name, "--run-dir", run_dir, *args)
    done = subprocess.run(argv, input=input if input is not None else b"", capture_output=True, timeout=60)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert "Traceback" not in stdout + stderr, stdout + stderr
    return subprocess.CompletedProcess(argv, done.returncode, stdout, stderr)


def test_send_into_a_line_reader_delivers_the_text_exactly_and_submits_it(tmux, run_dir, tmp_path):
    out = tmp_path / "lines"
    start(tmux, run_dir, "reader", line_reader_command(out))
    done = send(tmux, run_dir, "reader", TRICKY)
    assert done.returncode == 0, done.stderr
    assert done.stdout in ("sent to reader\n", "sent to reader (Enter pressed twice: the first showed no change)\n")
    expected = (TRICKY + "\n" * enters(done, "reader")).encode()
    wait_for(lambda: out.exists() and out.read_bytes() == expected, 10, "the line to arrive whole")
    for key in KEY_NAMES:  # a key name alone is text too
        done = send(tmux, run_dir, "reader", "--", key)
        assert done.returncode == 0, done.stderr
        expected += (key + "\n" * enters(done, "reader")).encode()
    wait_for(lambda: out.read_bytes() == expected, 10, "the key names as lines")
    assert not any(p.name.startswith("PWNED") for p in (tmp_path / "home").rglob("PWNED*"))
    assert not list(tmp_path.rglob("PWNED*"))


def test_send_into_a_bracketed_paste_tui_is_one_paste_then_enter(tmux, run_dir, tmp_path):
    out = tmp_path / "events"
    start(tmux, run_dir, "tui", paste_tui_command(out))
    text = TRICKY + "\nsecond line\n\nlast"
    done = send(tmux, run_dir, "tui", text)
    assert done.returncode == 0, done.stderr
    # tmux pastes line feeds as carriage returns, as a terminal does.
    wait_for(lambda: events(out) == submitted(done, "tui", text), 10, "one paste, then Enter")


def test_send_100_kb(tmux, run_dir, tmp_path):
    out = tmp_path / "events"
    start(tmux, run_dir, "big", paste_tui_command(out))
    line = "0123456789 ünï 日本 🎉 $(x) C-c; " * 4
    text = "\n".join(f"{n:05d} {line}" for n in range(100 * 1024 // len(line.encode()) + 1))
    assert len(text.encode()) > 100 * 1024
    done = send(tmux, run_dir, "big", "-", input=text.encode())
    assert done.returncode == 0, done.stderr
    wait_for(lambda: events(out) == submitted(done, "big", text), 30, "100 KB as one paste, then Enter")


def test_send_reads_stdin_and_drops_one_final_newline(tmux, run_dir, tmp_path):
    out = tmp_path / "events"
    start(tmux, run_dir, "piped", paste_tui_command(out))
    done = send(tmux, run_dir, "piped", "-", input="task one\n".encode())
    assert done.returncode == 0, done.stderr
    wait_for(lambda: events(out) == submitted(done, "piped", "task one"), 10, "the piped text")


def test_no_enter_pastes_only(tmux, run_dir, tmp_path):
    out = tmp_path / "events"
    start(tmux, run_dir, "draft", paste_tui_command(out))
    done = send(tmux, run_dir, "draft", "--no-enter", "draft text")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "pasted into draft (no Enter)\n"
    wait_for(lambda: events(out) == [{"paste": "draft text"}], 10, "the paste")
    # An empty text with Enter is an Enter alone: submit what is in the composer.
    done = send(tmux, run_dir, "draft", "")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: events(out) == [{"paste": "draft text"}] + [{"key": "\r"}] * enters(done, "draft"), 10,
             "the Enter")


def test_a_swallowed_enter_is_pressed_once_more(tmux, run_dir, tmp_path):
    out = tmp_path / "events"
    start(tmux, run_dir, "deaf", paste_tui_command(out, swallow_first_enter=True))
    # The paste first, and seen, so that only the Enter can change the pane.
    assert send(tmux, run_dir, "deaf", "--no-enter", "are you there").returncode == 0
    wait_for(lambda: events(out) == [{"paste": "are you there"}], 10, "the paste")
    done = send(tmux, run_dir, "deaf", "")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sent to deaf (Enter pressed twice: the first showed no change)\n"
    wait_for(lambda: events(out) == [{"paste": "are you there"}, {"swallowed": "\r"}, {"key": "\r"}], 10,
             "the paste, the lost Enter, the second Enter")


def test_send_into_a_pane_in_copy_mode_reaches_the_program(tmux, run_dir, tmp_path):
    out = tmp_path / "events"
    start(tmux, run_dir, "scrolled", paste_tui_command(out))
    tmux.cmd("copy-mode", "-t", "=scrolled:")
    assert tmux.cmd("display-message", "-p", "-t", "=scrolled:", "#{pane_in_mode}").stdout.strip() == "1"
    done = send(tmux, run_dir, "scrolled", "hello")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: events(out) == submitted(done, "scrolled", "hello"), 10, "paste and Enter past copy mode")


def test_the_settle_delay_is_set_per_runtime():
    assert settings.send_settle("codex") == pytest.approx(0.15)
    assert settings.send_settle("claude") <= settings.send_settle("codex")
    assert settings.send_settle(None) == max(rt.send_settle_s for rt in settings.RUNTIMES.values())
    assert settings.send_settle("newcli") == settings.send_settle(None)


def test_send_refuses_a_dead_pane_and_a_name_that_is_not_running(tmux, run_dir):
    launch(tmux, run_dir, "gone", command="exit 3")
    wait_for(lambda: tmux.cmd("display-message", "-p", "-t", "=gone:", "#{pane_dead}").stdout.strip() == "1",
             10, "the pane to die")
    done = send(tmux, run_dir, "gone", "hello")
    line = one_line_error(done, 1)
    assert "gone is not running: its pane is dead (exit 3)" in line
    line = one_line_error(send(tmux, run_dir, "nobody", "hello"), 1)
    assert "nobody is not running" in line
    line = one_line_error(send(tmux, run_dir, "no-*", "hello"), 1)
    assert "no running agent matches no-*" in line


def test_bad_input_is_one_line_and_exit_2(tmux, run_dir):
    cases = [
        (["a", "esc \x1b[201~ then keys"], "control character '\\x1b'"),
        (["a", "nul \x01"], "control character"),
        (["a;b", "x"], "invalid agent name"),
        (["../x", "x"], "invalid agent name"),
        (["x"], "missing NAME"),
        (["--all", "a", "x"], "not both"),
        (["--no-enter", "a", ""], "nothing to send"),
    ]
    for args, expected in cases:
        assert expected in one_line_error(send(tmux, run_dir, *args), 2), args
    assert "not UTF-8" in one_line_error(send(tmux, run_dir, "a", "-", input=b"\xff\xfe"), 2)
    big = b"x" * (sender.MAX_TEXT_BYTES + 1)
    assert "larger than" in one_line_error(send(tmux, run_dir, "a", "-", input=big), 2)


def test_broadcast_to_10_agents_by_glob_and_all(tmux, run_dir, tmp_path):
    names = [f"crew-{n}" for n in range(10)]
    outs = {name: tmp_path / f"{name}.events" for name in names}
    for name in names:
        launch(tmux, run_dir, name, "--runtime", "claude", command=paste_tui_command(outs[name]))
    for name in names:
        wait_for(lambda: READY in screen(tmux, name), 10, f"{name} to be ready")
    done = send(tmux, run_dir, "crew-*", "to everyone")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == len(names)
    first = {name: submitted(done, name, "to everyone") for name in names}
    for name in names:
        wait_for(lambda: events(outs[name]) == first[name], 10, name)
    done = send(tmux, run_dir, "--all", "again")
    assert done.returncode == 0, done.stderr
    for name in names:
        wait_for(lambda: events(outs[name]) == first[name] + submitted(done, name, "again"), 10, name)


def test_broadcast_skips_a_dead_pane_with_all_and_fails_for_it_by_name(tmux, run_dir, tmp_path):
    out = tmp_path / "events"
    start(tmux, run_dir, "live", paste_tui_command(out))
    launch(tmux, run_dir, "dead", command="exit 1")
    wait_for(lambda: tmux.cmd("display-message", "-p", "-t", "=dead:", "#{pane_dead}").stdout.strip() == "1",
             10, "the pane to die")
    done = send(tmux, run_dir, "--all", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent to live") and len(done.stdout.splitlines()) == 1
    assert "warning: dead is not running" in done.stderr
    done = send(tmux, run_dir, "live", "dead", "hi")
    assert done.returncode == 1
    assert done.stdout.startswith("sent to live") and len(done.stdout.splitlines()) == 1
    assert "error: dead is not running" in done.stderr


# ---- a hostile user's inputs (regressions) --------------------------------------------


def test_send_dash_with_stdin_closed_is_one_line_and_exit_2(tmux, run_dir):
    argv = mosaic_argv("send", "--socket", tmux.socket_name, "--run-dir", run_dir, "a", "-")
    done = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh", *argv], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    assert "stdin is closed" in one_line_error(done, 2)


def test_the_size_limit_is_on_the_text_not_on_its_final_newline():
    limit = sender.MAX_TEXT_BYTES
    for ending in (b"\n", b"\r\n"):
        assert sender.text_bytes(b"x" * limit + ending, from_stdin=True) == b"x" * limit
    with pytest.raises(sender.UsageError, match="larger than"):
        sender.text_bytes(b"x" * (limit + 1) + b"\n", from_stdin=True)


def test_send_types_into_the_agents_pane_not_a_pane_split_before_it(tmux, run_dir, tmp_path):
    out, shell_out = tmp_path / "events", tmp_path / "shell-lines"
    start(tmux, run_dir, "split", paste_tui_command(out))
    # The user's pane, put first in the window (-b): a line reader standing
    # for their shell, which would run the text.
    tmux.cmd("split-window", "-b", "-t", "=split:", line_reader_command(shell_out))
    first = tmux.cmd("list-panes", "-t", "=split:", "-F", "#{pane_index} #{pane_current_command}").stdout
    assert first.splitlines()[0].startswith("0 ") and len(first.splitlines()) == 2
    wait_for(lambda: READY in tmux.cmd("capture-pane", "-p", "-t", "=split:.0").stdout, 10, "the user's pane")
    done = send(tmux, run_dir, "split", "for the agent")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: events(out) == submitted(done, "split", "for the agent"), 10, "the agent to get it")
    assert not shell_out.exists() or shell_out.read_bytes() == b""
    assert "for the agent" not in tmux.cmd("capture-pane", "-p", "-t", "=split:.0").stdout


def test_a_session_whose_panes_none_runs_the_recorded_pid_is_refused():
    from types import SimpleNamespace

    from mosaic_launch.tmux import PaneInfo

    def pane(pane_id, pid):
        return PaneInfo("x", pane_id, pid, False, None, None, 0)

    panes = [pane("%1", 10), pane("%2", 20)]
    assert sender.agent_pane("x", panes, SimpleNamespace(pid=20)).pane_id == "%2"
    assert sender.agent_pane("x", panes, None).pane_id == "%1"  # no record: the first pane, as fleet ps
    assert sender.agent_pane("x", panes[:1], SimpleNamespace(pid=30)).pane_id == "%1"
    refusal = sender.agent_pane("x", panes, SimpleNamespace(pid=30))
    assert isinstance(refusal, str) and "2 panes" in refusal and "30" in refusal


def test_concurrent_sends_to_one_agent_are_submitted_one_by_one(tmux, run_dir, tmp_path):
    out = tmp_path / "events"
    start(tmux, run_dir, "busy", paste_tui_command(out))
    texts = [f"task {n}" for n in range(4)]
    procs = [subprocess.Popen(mosaic_argv("send", "--socket", tmux.socket_name, "--run-dir", run_dir,
                                          "busy", text), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for text in texts]
    for proc in procs:
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr

    def turns():
        # Each paste followed by its own Enter(s), before the next paste.
        got = events(out)
        pastes = [n for n, event in enumerate(got) if "paste" in event]
        if len(pastes) != len(texts):
            return None
        return [got[start:end] for start, end in zip(pastes, pastes[1:] + [len(got)])]

    wait_for(turns, 10, "four pastes")
    wait_for(lambda: all(turn[1:] and all(e == {"key": "\r"} for e in turn[1:]) for turn in turns()), 10,
             "each paste to be followed by its Enter")
    assert sorted(turn[0]["paste"] for turn in turns()) == texts
    assert tmux.cmd("list-buffers", check=False).stdout == ""  # every paste's buffer deleted


def test_c1_controls_are_refused_like_esc():
    """U+009B is CSI in one character: U+009B 201~ ends a bracketed paste
    for a program that reads 8-bit controls, as ESC[201~ does."""
    for text in ("x\u009b201~y", "nel \u0085", "\u0080", "\u009f"):
        with pytest.raises(sender.UsageError, match="control character"):
            sender.text_bytes(text)
    assert sender.text_bytes("\u00a0 ü \u00ff") == "\u00a0 ü \u00ff".encode()  # Latin-1 letters are text


def test_a_text_that_starts_with_a_dash_gets_a_hint_not_just_no_such_option(tmux, run_dir):
    line = one_line_error(send(tmux, run_dir, "a", "-n 3 lines"), 2)
    assert "No such option: -n" in line and "put -- before it" in line


@pytest.mark.parametrize("mode", ["clock-mode", "choose-tree"])
def test_send_into_a_pane_in_another_mode_is_still_one_paste(tmux, run_dir, tmp_path, mode):
    """Not only copy mode: in clock mode or a chooser, tmux would paste
    without the bracketed-paste markers and the program would read the text
    as typed keys (each line feed an Enter). The mode is left first."""
    out = tmp_path / "events"
    start(tmux, run_dir, "moded", paste_tui_command(out))
    tmux.cmd(mode, "-t", "=moded:")
    assert tmux.cmd("display-message", "-p", "-t", "=moded:", "#{pane_in_mode}").stdout.strip() != "0"
    done = send(tmux, run_dir, "moded", "two\nlines")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: events(out) == submitted(done, "moded", "two\nlines"), 10, f"one paste past {mode}")


def test_a_mode_that_cannot_be_left_is_refused_and_nothing_is_typed(tmux, run_dir, tmp_path, monkeypatch):
    from mosaic_launch import tmux as tmux_calls
    from tests.support.run import mosaic

    out = tmp_path / "events"
    start(tmux, run_dir, "stuck", paste_tui_command(out))
    tmux.cmd("clock-mode", "-t", "=stuck:")
    monkeypatch.setattr(tmux_calls, "leave_mode", lambda socket, pane_id: None)  # a tmux that cannot
    result = mosaic("send", "stuck", "hello", "--socket", tmux.socket_name, "--run-dir", run_dir)
    assert "in a tmux mode that could not be left" in one_line_error(result, 1)
    assert events(out) == []


def test_crlf_line_ends_are_one_line_break_not_two(tmux, run_dir, tmp_path):
    """tmux pastes each LF as a CR: a CR LF text (a Windows file) reached
    the agent as CR CR, an empty line after every line."""
    assert sender.text_bytes("a\r\nb\r\n") == b"a\nb\n"
    assert sender.text_bytes(b"a\r\nb\r\n", from_stdin=True) == b"a\nb"
    assert sender.text_bytes("a\rb") == b"a\rb"  # a lone CR is left alone
    out = tmp_path / "events"
    start(tmux, run_dir, "dos", paste_tui_command(out))
    done = send(tmux, run_dir, "dos", "-", input=b"line1\r\nline2\r\n")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: events(out) == submitted(done, "dos", "line1\nline2"), 10, "two lines, no empty one")


def test_stdin_is_never_cut_short_to_fit():
    """A text read from stdin is all of it or refused: CR LF to LF must not
    make a truncated read of a longer text fit."""
    import io

    limit = sender.MAX_TEXT_BYTES
    fits = b"x\r\n" * (limit // 2) + b"\n"  # 1.5 MiB of bytes, 1 MiB of text once CR LF is LF
    data = sender.read_stdin(io.TextIOWrapper(io.BytesIO(fits)))
    assert sender.text_bytes(data, from_stdin=True) == b"x\n" * (limit // 2)  # all of it: 1 MiB
    too_long = b"x\r\n" * limit  # 2 MiB of text once CR LF is LF
    with pytest.raises(sender.UsageError, match="larger than"):
        sender.text_bytes(sender.read_stdin(io.TextIOWrapper(io.BytesIO(too_long))), from_stdin=True)


def test_a_planted_symlink_as_the_turn_lock_is_not_followed(tmux, run_dir, tmp_path):
    out, target = tmp_path / "events", tmp_path / "planted-target"
    start(tmux, run_dir, "planted", paste_tui_command(out))
    (run_dir / "planted.send.lock").symlink_to(target)
    done = send(tmux, run_dir, "planted", "hello")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: events(out) == submitted(done, "planted", "hello"), 10, "the text")
    assert not target.exists()
