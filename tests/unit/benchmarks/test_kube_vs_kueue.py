"""benchmarks.kube_vs_kueue records a ratio only when both sides ran: a one-side run (``--only``, used for A/B
comparisons of one side) leaves the recorded figure as it was."""

from benchmarks import kube_vs_kueue


def test_a_one_side_run_leaves_the_recorded_ratio_as_it_was(monkeypatch):
    written = []
    monkeypatch.setattr(kube_vs_kueue, "write_result", lambda *args, **kw: written.append((args, kw)) or
                        {"value": args[1], "command": args[5]})
    ours = {"batchyard": {"admitted_per_s": 92.0}}
    one_side = kube_vs_kueue.recorded(ours, {}, 1000, 250, {"batchyard"}, True)
    assert one_side["value"] is None and written == []
    assert one_side["command"].endswith("--jobs 1000 --tuned-only --only batchyard")

    both = kube_vs_kueue.recorded(ours | {"kueue_tuned": {"admitted_per_s": 16.0}}, {}, 1000, 250,
                                  {"batchyard", "kueue"}, True)
    assert both == {"value": 5.75, "command": ".venv/bin/python -m benchmarks.kube_vs_kueue --jobs 1000 --tuned-only"}
    assert written[0][1]["expected"] == kube_vs_kueue.expected_admitted(1000)
