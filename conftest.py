"""Root conftest: makes the repository root importable (tests share `tests.helpers`).

The harness's own pytest plugin (--target, fixtures) is registered through the `pytest11` entry
point in pyproject.toml, so it also works for users' test suites outside this repository.
"""
