"""The worker scaler's decisions: more workers for a lasting backlog, fewer after a quiet minute."""

from functions_app.runtime.scaling import SCALE_DOWN_IDLE_SECONDS, WorkerScaler


def test_it_starts_workers_up_to_the_minimum():
    assert WorkerScaler(minimum=2, maximum=4).decide(running=1, queued=0, now=0) == 1


def test_it_adds_a_worker_when_a_backlog_lasts_two_checks_and_stops_at_the_maximum():
    scaler = WorkerScaler(minimum=2, maximum=3)
    assert scaler.decide(running=2, queued=5, now=0) == 0
    assert scaler.decide(running=2, queued=5, now=1) == 1
    assert scaler.decide(running=3, queued=5, now=2) == 0
    assert scaler.decide(running=3, queued=5, now=3) == 0


def test_it_ignores_a_one_off_blip():
    scaler = WorkerScaler(minimum=1, maximum=4)
    assert scaler.decide(running=1, queued=3, now=0) == 0
    assert scaler.decide(running=1, queued=0, now=1) == 0
    assert scaler.decide(running=1, queued=3, now=2) == 0


def test_it_removes_an_extra_worker_after_a_quiet_minute_but_never_below_the_minimum():
    scaler = WorkerScaler(minimum=2, maximum=4)
    assert scaler.decide(running=3, queued=0, now=0) == 0
    assert scaler.decide(running=3, queued=0, now=SCALE_DOWN_IDLE_SECONDS - 1) == 0
    assert scaler.decide(running=3, queued=0, now=SCALE_DOWN_IDLE_SECONDS) == -1
    assert scaler.decide(running=2, queued=0, now=3 * SCALE_DOWN_IDLE_SECONDS) == 0
