"""A paired A/B run on the FAKE cluster (`--target kubeconfig`): the candidate is a second
InferenceService in a namespace of its own, both served by real TorchServe pods of the fake
kubelet, one interleaved load through both port-forwards, and both namespaces gone after.
The fake cluster and its cleanup check are tests/kube/fake_cluster.py's."""
from __future__ import annotations

from harness.kube.naming import namespace_name
from tests.helpers import SCENARIOS


def test_ab_on_a_cluster_deploys_two_inference_services_and_judges_the_pairs(fake_cluster):
    cluster = fake_cluster()
    isvcs = cluster.kube.store.subscribe("inferenceservices")
    outcome = cluster.run(SCENARIOS / "digits-ab.yaml", run_load=True)
    report = outcome.report
    assert report.error is None and report.passed, report.error
    ab = report.ab
    assert ab.verdict in ("no change", "inconclusive", "improvement"), ab.reasons  # identical copies
    assert ab.schedule == "interleaved" and ab.order == "A|B A|B A|B" and all(b.status == "PASS" for b in ab.blocks)
    assert ab.outputs.agree == ab.outputs.outputs == 6
    created = set()
    while (event := isvcs.get(timeout=0)) is not None:
        if event.type == "ADDED":
            created.add((event.object["metadata"]["namespace"], event.object["metadata"]["name"]))
    isvcs.close()
    cand_ns = namespace_name(report.run_id, "digits-ab-candidate")
    assert {ns for ns, _ in created} == {outcome.namespace, cand_ns}
    assert ab.baseline.base_url != ab.candidate.base_url
    cluster.assert_cleaned_up(outcome)
    assert cand_ns not in {n["metadata"]["name"] for n in cluster.kube.store.list("namespaces")}
