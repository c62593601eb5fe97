"""Monitor: what the hot path records, batching, overflow, flush/close/atexit, GC."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import time
import weakref

import pytest
from support.aio import run_async

from vigil.errors import InvalidParameterError
from vigil.schema import ModelSchema
from vigil.sdk import MemoryTransport, Monitor


def records(sink: MemoryTransport) -> list[dict]:
    return list(sink.predictions.values())


def test_track_records_inputs_output_latency_and_registers_the_model(make_monitor, sink):
    mon = make_monitor(version=3, task="regression")

    @mon.track
    def predict(features):
        time.sleep(0.002)
        return features["x"] * 2

    assert predict({"x": 2.0, "city": "Lyon"}) == 4.0
    assert predict.__name__ == "predict"
    assert mon.flush(timeout_s=10)
    (rec,) = records(sink)
    assert rec["inputs"] == {"x": 2.0, "city": "Lyon"}
    assert rec["outputs"] == 4.0
    assert rec["version"] == "3"
    assert rec["error"] is None
    assert 0.002 <= rec["latency_s"] < 1
    assert abs(rec["ts"] - time.time()) < 10
    model = sink.models["m"]
    assert model["task"] == "regression"
    assert model["schema"]["features"] == [
        {"name": "x", "kind": "numeric"},
        {"name": "city", "kind": "categorical"},
    ]


def test_track_finds_inputs_in_methods_and_kwargs(make_monitor, sink):
    mon = make_monitor()

    class Model:
        @mon.track
        def predict(self, features):
            return len(features)

    @mon.track
    def by_keywords(*, age, plan):
        return age

    @mon.track
    def by_vector(vector):
        return sum(vector)

    assert Model().predict({"a": 1, "b": 2}) == 2
    assert by_keywords(age=4, plan="pro") == 4
    assert by_vector([1.0, 2.0]) == 3.0
    assert mon.flush(timeout_s=10)
    assert [r["inputs"] for r in records(sink)] == [
        {"a": 1, "b": 2},
        {"age": 4, "plan": "pro"},
        {"input": [1.0, 2.0]},
    ]


def test_exceptions_pass_through_unchanged_with_their_traceback(make_monitor, sink):
    mon = make_monitor()
    boom = ValueError("bad feature")

    def predict(features):
        raise boom

    tracked = mon.track(predict)
    with pytest.raises(ValueError, match="bad feature") as info:
        tracked({"x": 1})
    assert info.value is boom
    assert info.traceback[-1].name == "predict"  # the frame that raised is still there
    assert mon.flush(timeout_s=10)
    (rec,) = records(sink)
    assert rec["error"] == "ValueError: bad feature"
    assert rec["outputs"] is None
    assert rec["latency_s"] >= 0


def test_async_functions_are_tracked(make_monitor, sink):
    mon = make_monitor()

    @mon.track
    async def predict(features):
        await asyncio.sleep(0)
        if features["x"] < 0:
            raise KeyError("negative")
        return features["x"] + 1

    assert run_async(predict({"x": 1})) == 2
    with pytest.raises(KeyError):
        run_async(predict({"x": -1}))
    assert mon.flush(timeout_s=10)
    assert [(r["outputs"], r["error"]) for r in records(sink)] == [
        (2, None),
        (None, "KeyError: 'negative'"),
    ]


def test_observe_records_output_proba_subject_and_errors(make_monitor, sink):
    mon = make_monitor()
    with mon.observe({"x": 1.5}, subject_id="u42") as obs:
        obs.output = "yes"
        obs.proba = {"yes": 0.9, "no": 0.1}
    with pytest.raises(RuntimeError, match="oom"), mon.observe({"x": 2.5}) as failed:
        raise RuntimeError("oom")
    assert mon.flush(timeout_s=10)
    first, second = sink.predictions[obs.id], sink.predictions[failed.id]
    assert first["outputs"] == "yes"
    assert first["proba"] == {"yes": 0.9, "no": 0.1}
    assert first["subject_id"] == "u42"
    assert first["latency_s"] == obs.latency_s
    assert second["error"] == "RuntimeError: oom"


def test_log_prediction_label_feedback(make_monitor, sink):
    mon = make_monitor()
    pid = mon.log_prediction({"x": 1}, 1, proba=[0.3, 0.7], latency_s=0.01, subject_id="u1")
    own = mon.log_prediction(
        {"x": 2}, 0, id="my-id", ts=1_700_000_000.0, error=TimeoutError("slow")
    )
    mon.log_label(pid, 0)
    fid = mon.log_feedback(pid, 1, "good")
    assert own == "my-id"
    assert mon.flush(timeout_s=10)
    assert sink.predictions[pid]["proba"] == [0.3, 0.7]
    assert sink.predictions["my-id"]["ts"] == 1_700_000_000.0
    assert sink.predictions["my-id"]["error"] == "TimeoutError: slow"
    assert [(lb["prediction_id"], lb["actual"]) for lb in sink.labels] == [(pid, 0)]
    assert sink.feedback[fid]["score"] == 1
    assert sink.feedback[fid]["comment"] == "good"


def test_given_schema_is_registered_as_is(make_monitor, sink):
    schema = {"task": "binary_classification", "features": [{"name": "age", "kind": "numeric"}]}
    mon = make_monitor(schema=schema)
    mon.log_prediction({"age": 3, "extra": "x"}, 1)
    assert mon.flush(timeout_s=10)
    assert sink.models["m"]["task"] == "binary_classification"
    assert sink.models["m"]["schema"] == ModelSchema.from_dict(schema).to_dict()


def test_existing_model_is_not_registered_again(make_monitor, sink):
    sink.models["m"] = {"name": "m", "task": "ranking", "schema": {"features": []}}
    mon = make_monitor()
    mon.log_prediction({"x": 1}, 1)
    assert mon.flush(timeout_s=10)
    assert sink.models["m"]["task"] == "ranking"


def test_batches_respect_batch_size(make_monitor):
    sink = MemoryTransport(compress=True)
    mon = make_monitor(transport=sink, batch_size=10)
    for i in range(25):
        mon.log_prediction({"x": i}, i)
    assert mon.flush(timeout_s=10)
    sizes = [body.count(b'"id"') for _, _, body in sink.bodies]
    assert sum(sizes) == 25
    assert max(sizes) <= 10
    assert [r["outputs"] for r in sink.predictions.values()] == list(range(25))
    assert mon.stats["batches"] == len(sizes)


def test_a_full_batch_wakes_the_sender_without_flush(make_monitor, sink):
    mon = make_monitor(batch_size=5)
    for i in range(5):
        mon.log_prediction({"x": i}, i)
    deadline = time.monotonic() + 10
    while len(sink.predictions) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sink.predictions) == 5


def test_the_interval_sends_a_partial_batch(make_monitor, sink):
    mon = make_monitor(flush_interval_s=0.05)
    mon.log_prediction({"x": 1}, 1)
    deadline = time.monotonic() + 10
    while not sink.predictions and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sink.predictions) == 1


def test_a_full_queue_drops_and_counts_without_blocking(make_monitor, sink):
    mon = make_monitor(queue_size=5)
    tracked = mon.track(lambda features: 1)
    t0 = time.perf_counter()
    for i in range(8):
        assert tracked({"x": i}) == 1
    assert time.perf_counter() - t0 < 1
    assert mon.stats["queued"] == 5
    assert mon.stats["dropped_queue_full"] == 3
    assert mon.flush(timeout_s=10)
    assert mon.stats["sent"] == 5
    assert mon.stats["queued"] == 0


def test_instrumentation_failures_never_reach_the_caller(make_monitor):
    class Broken(MemoryTransport):
        def send(self, model, kind, body):
            raise RuntimeError("transport bug")

    mon = make_monitor(transport=Broken(), max_retries=0)
    tracked = mon.track(lambda features: "ok")
    assert tracked({"x": 1}) == "ok"
    assert mon.flush(timeout_s=10) is False  # kept in the spool, not lost
    assert mon.stats["send_errors"] >= 1
    assert mon.stats["spooled"] == 1


def test_unencodable_values_are_converted(make_monitor, sink):
    import numpy as np

    class Custom:
        def __str__(self):
            return "custom!"

    mon = make_monitor()
    mon.log_prediction(
        {"v": np.float32(1.5), "arr": np.arange(3), "s": {2, 1}},
        Custom(),
        proba=np.array([0.25, 0.75]),
    )
    assert mon.flush(timeout_s=10)
    (rec,) = records(sink)
    assert rec["inputs"] == {"v": 1.5, "arr": [0, 1, 2], "s": [1, 2]}
    assert rec["outputs"] == "custom!"
    assert rec["proba"] == [0.25, 0.75]


def test_close_flushes_and_later_records_are_dropped(make_monitor, sink):
    mon = make_monitor()
    tracked = mon.track(lambda features: 1)
    tracked({"x": 1})
    assert mon.close(timeout_s=10)
    assert len(sink.predictions) == 1
    assert sink.closed
    assert tracked({"x": 2}) == 1  # still answers
    assert mon.stats["dropped_closed"] == 1
    assert mon.close(timeout_s=1)  # idempotent


def test_monitor_is_a_context_manager(tmp_path, sink):
    with Monitor("m", transport=sink, spool_dir=tmp_path, flush_interval_s=3600) as mon:
        mon.log_prediction({"x": 1}, 1)
    assert len(sink.predictions) == 1


def test_an_unreferenced_monitor_is_collected_and_flushed(tmp_path, sink):
    mon = Monitor("m", transport=sink, spool_dir=tmp_path, flush_interval_s=3600)
    mon.log_prediction({"x": 1}, 1)
    thread = mon._sender._thread
    ref = weakref.ref(mon)
    del mon
    gc.collect()
    assert ref() is None
    thread.join(10)
    assert not thread.is_alive()
    assert len(sink.predictions) == 1


def test_records_are_flushed_at_interpreter_exit(tmp_path, child_env):
    script = textwrap.dedent(
        """
        import sys
        from vigil.sdk import MemoryTransport, Monitor

        class Printing(MemoryTransport):
            def send(self, model, kind, body):
                result = super().send(model, kind, body)
                print("SENT", kind, result["accepted"], flush=True)
                return result

        mon = Monitor("m", transport=Printing(), spool_dir=sys.argv[1],
                      flush_interval_s=3600)
        for i in range(7):
            mon.log_prediction({"x": i}, i)
        mon.log_label("some-id", 1)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=child_env,
    )
    assert out.stdout.split("\n")[:2] == ["SENT predictions 7", "SENT labels 1"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 10_001}, "batch_size"),
        ({"queue_size": -1}, "queue_size"),
        ({"flush_interval_s": 0}, "flush_interval_s"),
        ({"task": "astrology"}, "task"),
    ],
)
def test_invalid_settings_are_clear_errors(make_monitor, kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        make_monitor(**kwargs)


def test_log_methods_reject_wrong_types(make_monitor):
    mon = make_monitor()
    with pytest.raises(InvalidParameterError, match="prediction_id"):
        mon.log_label(123, 1)
    with pytest.raises(InvalidParameterError, match="score"):
        mon.log_feedback("p", "great")
    with pytest.raises(InvalidParameterError, match="'ts'"):
        mon.log_prediction({}, 1, ts="yesterday")
    assert mon.stats["queued"] == 0


def test_a_forked_child_gets_its_own_sender(tmp_path, child_env):
    script = textwrap.dedent(
        """
        import os, sys
        from vigil.sdk import MemoryTransport, Monitor

        sink = MemoryTransport()
        mon = Monitor("m", transport=sink, spool_dir=sys.argv[1], flush_interval_s=3600)
        mon.log_prediction({"x": 0}, 0)
        assert mon.flush(timeout_s=10)
        pid = os.fork()
        if pid == 0:
            for i in range(3):
                mon.log_prediction({"x": i}, i)
            ok = mon.flush(timeout_s=10) and len(sink.predictions) == 4
            os._exit(0 if ok and mon.stats["sent"] == 3 else 1)
        _, status = os.waitpid(pid, 0)
        mon.log_prediction({"x": 9}, 9)
        assert mon.flush(timeout_s=10) and len(sink.predictions) == 2
        print("child", os.waitstatus_to_exitcode(status))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "child 0"


def test_track_with_parentheses_and_interrupts_are_not_predictions(make_monitor, sink):
    mon = make_monitor()

    @mon.track()
    def predict(features):
        return 5

    assert predict({"x": 1}) == 5
    with pytest.raises(KeyboardInterrupt), mon.observe({"x": 2}):
        raise KeyboardInterrupt
    assert mon.flush(timeout_s=10)
    assert [r["outputs"] for r in records(sink)] == [5]


def test_close_never_waits_for_a_sender_that_already_stopped(tmp_path):
    sink = MemoryTransport()
    for i in range(40):  # the sender cycles constantly: close races with its cycles
        mon = Monitor("m", transport=sink, spool_dir=tmp_path, flush_interval_s=0.0005)
        mon.log_prediction({"x": i}, i)
        t0 = time.monotonic()
        assert mon.close(timeout_s=5)
        assert time.monotonic() - t0 < 2
    assert len(sink.predictions) == 40
