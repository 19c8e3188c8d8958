"""The progress bar: formatting, terminal redraws, sparse log lines, disabled mode."""
import io
import math

import pytest

from cconv.training.progress import Progress, format_count, format_seconds


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


class TTYStringIO(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("seconds, text", [
    (0, "00:00"), (7.2, "00:07"), (59.6, "01:00"), (65, "01:05"), (3599, "59:59"),
    (3600, "1:00:00"), (7384, "2:03:04"), (-3, "00:00"),
    (None, "?"), (math.inf, "?"), (math.nan, "?"),
])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("n, scale, text", [
    (12, False, "12"), (600, False, "600"), (0.5, False, "0.5"),
    (12, True, "12"), (999, True, "999"), (1000, True, "1.00k"), (123456, True, "123k"),
    (9912422, True, "9.91M"), (47040016, True, "47.0M"), (2.5e9, True, "2.50G"),
])
def test_format_count(n, scale, text):
    assert format_count(n, scale) == text


def test_line_has_count_percent_rate_elapsed_eta_and_postfix():
    clock = FakeClock()
    bar = Progress(600, desc="epoch 1", file=io.StringIO(), tty=False, clock=clock)
    clock.t += 10
    bar.update(300, loss=0.1234567, acc=0.5)
    line = bar.format_line()
    assert line.startswith("epoch 1:  50%|##########..........| 300/600 it")
    assert "[00:10<00:10, 30 it/s, loss=0.1235, acc=0.5]" in line
    bar.update(0, loss=0.01)       # a new value replaces the old, other keys stay
    assert "loss=0.01, acc=0.5]" in bar.format_line()


def test_slow_rate_is_shown_as_seconds_per_unit():
    clock = FakeClock()
    bar = Progress(10, unit="epoch", file=io.StringIO(), tty=False, clock=clock)
    clock.t += 8
    bar.update(2)
    assert "4 s/epoch" in bar.format_line()
    assert "00:08<00:32" in bar.format_line()


def test_bytes_with_unit_scale():
    clock = FakeClock()
    bar = Progress(9912422, desc="train-images-idx3-ubyte.gz", unit="B", unit_scale=True,
                   file=io.StringIO(), tty=False, clock=clock)
    clock.t += 2
    bar.update(4956211)
    assert "4.96M/9.91MB [00:02<00:02, 2.48MB/s]" in bar.format_line()


def test_unknown_total_has_no_percent_or_eta():
    clock = FakeClock()
    bar = Progress(None, desc="stream", file=io.StringIO(), tty=False, clock=clock)
    clock.t += 4
    bar.update(8)
    assert bar.format_line() == "stream: 8 it [00:04, 2 it/s]"


def test_non_tty_prints_a_line_per_tenth_and_one_final_line():
    out = io.StringIO()
    clock = FakeClock()
    with Progress(1000, desc="train", file=out, tty=False, clock=clock) as bar:
        for _ in range(1000):
            clock.t += 0.01
            bar.update(1)
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert len(lines) == 10
    assert [ln.split("%")[0].split()[-1] for ln in lines] == [str(p) for p in range(10, 101, 10)]
    assert lines[-1].startswith("train: 100%|####################| 1000/1000 it [00:10<00:00")


def test_non_tty_many_small_updates_stay_few_lines():
    out = io.StringIO()
    with Progress(123457, file=out, tty=False) as bar:
        for _ in range(123457):
            bar.update()
    assert len(out.getvalue().splitlines()) <= 11


def test_non_tty_close_before_the_end_prints_the_state_reached():
    out = io.StringIO()
    with Progress(100, file=out, tty=False) as bar:
        bar.update(15)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2                     # the 10 % line, then the final state
    assert " 15/100 it" in lines[-1] and lines[-1].lstrip().startswith("15%")


def test_non_tty_unknown_total_prints_only_at_close():
    out = io.StringIO()
    bar = Progress(None, file=out, tty=False)
    for _ in range(50):
        bar.update(3)
    assert out.getvalue() == ""
    bar.close()
    assert out.getvalue().count("\n") == 1 and "150 it" in out.getvalue()


def test_tty_redraws_in_place_throttled_by_min_interval():
    out = TTYStringIO()
    clock = FakeClock()
    bar = Progress(100, desc="d", file=out, clock=clock, min_interval=0.5)  # tty detected
    assert bar.tty
    assert out.getvalue().startswith("\r") and "\n" not in out.getvalue()
    for _ in range(100):
        clock.t += 0.1
        bar.update(1)
    draws = out.getvalue().count("\r")
    assert 10 <= draws <= 21   # the first draw, then one per 0.5 s of the 10 s (not 100)
    bar.close()
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    assert text.rsplit("\r", 1)[-1].startswith("d: 100%|####################| 100/100 it")


def test_tty_blanks_the_rest_of_a_longer_previous_line():
    out = TTYStringIO()
    clock = FakeClock()
    bar = Progress(None, file=out, clock=clock, min_interval=0)
    bar.update(1, note="a long message here")
    longer = len(bar.format_line())
    bar.postfix.clear()
    bar.update(1)
    last = out.getvalue().rsplit("\r", 1)[-1]
    assert len(last) == longer and last.endswith(" ")


def test_write_prints_above_the_bar():
    out = TTYStringIO()
    bar = Progress(10, file=out, min_interval=0)
    bar.update(5)
    bar.write("=== epoch 1, train acc 0.91 ===")
    bar.close()
    text = out.getvalue()
    assert "=== epoch 1, train acc 0.91 ===\n" in text
    assert text.rsplit("\r", 1)[-1].lstrip().startswith("50%")

    log = io.StringIO()
    with Progress(10, file=log, tty=False) as bar:
        bar.write("hello")
    assert log.getvalue().splitlines()[0] == "hello"


def test_disabled_prints_nothing_but_counts():
    for tty_out in (io.StringIO(), TTYStringIO()):
        with Progress(10, file=tty_out, enabled=False) as bar:
            for _ in range(10):
                bar.update(1, loss=1.0)
            bar.write("nothing")
        assert tty_out.getvalue() == ""
        assert bar.n == 10 and bar.postfix == {"loss": 1.0}


def test_environment_switch_disables_by_default(monkeypatch):
    monkeypatch.setenv("CCONV_PROGRESS", "0")
    out = io.StringIO()
    with Progress(10, file=out, tty=False) as bar:
        bar.update(10)
    assert out.getvalue() == ""
    with Progress(10, file=out, tty=False, enabled=True) as bar:   # explicit wins
        bar.update(10)
    assert "10/10" in out.getvalue()


def test_close_is_idempotent_and_update_after_close_raises():
    out = io.StringIO()
    bar = Progress(4, file=out, tty=False)
    bar.update(4)
    bar.close()
    bar.close()
    assert out.getvalue().count("\n") == 1
    with pytest.raises(ValueError, match="closed"):
        bar.update()


def test_context_manager_closes_on_exception():
    out = TTYStringIO()
    with pytest.raises(RuntimeError):
        with Progress(10, file=out) as bar:
            bar.update(3)
            raise RuntimeError("boom")
    assert bar.closed and out.getvalue().endswith("\n")


def test_default_file_is_stderr(capsys):
    with Progress(2, desc="to-stderr", tty=False, enabled=True) as bar:
        bar.update(2)
    captured = capsys.readouterr()
    assert captured.out == "" and "to-stderr: 100%" in captured.err


@pytest.mark.parametrize("kwargs, exc", [
    (dict(total=-1), ValueError), (dict(total="10"), TypeError), (dict(total=True), TypeError),
    (dict(total=10, min_interval=-0.1), ValueError),
])
def test_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        Progress(file=io.StringIO(), **kwargs)
