"""Rollout under load (issue 12.4): the candidate as a new revision of the running
InferenceService, with load kept running through the rollout (harness.rollout.run)."""
