"""Paired A/B runs: a baseline and a candidate version deployed at once, measured side by side.

Modules, in dependency order:
  * model: the report's `ab` section (`AbResult` and its parts), schema only;
  * paired: per-block paired differences -> mean, t-based 95% interval and a verdict per metric;
  * agreement: every request body sent to both sides, outputs compared at the check's tolerance;
  * blocks: the paired load: interleaved request by request (windows), ABBA blocks, or both at once;
  * run: the A/B part of a scenario run (deploy the candidate, agreement, blocks, verdict).
"""
