"""The storage-initializer's own process: kserve-storage downloads SRC_URI into DEST_PATH.

Run by path (`python download.py SRC_URI DEST_PATH`), not as part of the harness package, so the
child imports nothing but kserve-storage and its start-up time is the download's, as in KServe's
init container. harness.storage.initializer starts it and reads its exit status and log.
"""
import logging
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python download.py SRC_URI DEST_PATH", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    src_uri, dest_path = argv
    logging.info("Initializing, args: src_uri [%s] dest_path [%s]", src_uri, dest_path)
    from kserve_storage import Storage  # after logging is set up: it logs while importing

    Storage.download_files([src_uri], [dest_path])
    logging.info("Storage initializer finished: %s", ", ".join(
        str(p.relative_to(dest_path)) for p in sorted(Path(dest_path).rglob("*")) if p.is_file()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
