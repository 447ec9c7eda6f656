"""Artifact storage on S3 (moto's server here): upload and streamed download rates of one large file, and the
memory they take (peak RSS growth of this process, which never holds the whole file).

    .venv/bin/python benchmarks/bench_storage.py --mib 256
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit  # noqa: E402

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256, help="size of the file (MiB)")
    parser.add_argument("--chunk-mib", type=int, default=8, help="multipart part size (MiB, at least 5)")
    args = parser.parse_args()

    from tests.storage.s3server import moto_server

    with moto_server() as server, tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        bucket = server.bucket()
        env = server.env(bucket, ANNOTUNE_S3_MULTIPART_CHUNKSIZE=str(args.chunk_mib * MIB))
        env["ANNOTUNE_S3_MULTIPART_THRESHOLD"] = env["ANNOTUNE_S3_MULTIPART_CHUNKSIZE"]
        os.environ.update({**env, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp}/unused.sqlite3"})
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotune.settings")
        import django

        django.setup()
        from django.core.files import File

        from annotune.storage import ArtifactWriter, open_stream

        source = Path(tmp) / "big.bin"
        with open(source, "wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(MIB))
        base = peak_rss_mib()

        start = time.perf_counter()
        with open(source, "rb") as handle, ArtifactWriter("the benchmark file") as writer:
            name = writer.save("bench/big.bin", File(handle))
        upload = time.perf_counter() - start
        after_upload = peak_rss_mib()
        etag = server.client().head_object(Bucket=bucket, Key=name)["ETag"].strip('"')

        start, read = time.perf_counter(), 0
        with open_stream(name) as stream:
            for chunk in iter(lambda: stream.read(MIB), b""):
                read += len(chunk)
        download = time.perf_counter() - start
        assert read == args.mib * MIB

        extra = {"file_mib": args.mib, "part_mib": args.chunk_mib}
        emit("s3_upload_rate", args.mib / upload, "MiB/s", parts=int(etag.rsplit("-", 1)[-1]), **extra)
        emit("s3_upload_peak_rss_growth", after_upload - base, "MiB", **extra)
        emit("s3_stream_download_rate", args.mib / download, "MiB/s", **extra)
        emit("s3_stream_download_peak_rss_growth", peak_rss_mib() - after_upload, "MiB", **extra)


if __name__ == "__main__":
    main()
