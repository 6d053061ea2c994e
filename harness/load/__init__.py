"""Load tests: Locust against the predictor, exact client figures, server metrics, SLO verdict.

Modules: spec (the scenario's load section), runner (`run_load`: Locust processes, self-check,
server scrapes), figures (exact statistics from raw records), result (the typed LoadResult), slo
(the verdict), phase (the runner's load phase), gpu (NVML sampling). See README.md beside this file.
"""
