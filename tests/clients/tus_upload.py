#!/usr/bin/env python3
"""Uploads a file to oxcast with tuspy, the Python tus client.

    tus_upload.py --endpoint URL --token TOKEN --file PATH [--chunk-size N]
                  [--resume-url URL] [--stop-after-chunks N] [--title T]

Prints one JSON line per chunk ({"offset": N, "url": U}) and a last one {"done": true, ...}.
With --stop-after-chunks the process exits (as if killed) after that many chunks; with
--resume-url a new process carries on from the server's offset.
"""
import argparse
import json
import sys

from tusclient import client


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--chunk-size", type=int, default=1 << 20)
    p.add_argument("--resume-url")
    p.add_argument("--stop-after-chunks", type=int)
    p.add_argument("--title", default="from tuspy")
    a = p.parse_args()

    tus = client.TusClient(a.endpoint, headers={"Authorization": "Bearer " + a.token})
    uploader = tus.uploader(
        a.file,
        chunk_size=a.chunk_size,
        url=a.resume_url,
        metadata={"filename": a.file.rsplit("/", 1)[-1], "title": a.title, "privacy": "unlisted", "tags": "test,tuspy"},
    )
    chunks = 0
    while uploader.offset < uploader.get_file_size():
        uploader.upload_chunk()
        chunks += 1
        print(json.dumps({"offset": uploader.offset, "url": uploader.url}), flush=True)
        if a.stop_after_chunks and chunks >= a.stop_after_chunks:
            sys.exit(3)
    print(json.dumps({"done": True, "offset": uploader.offset, "url": uploader.url}), flush=True)


if __name__ == "__main__":
    main()
