#!/usr/bin/env python3
"""Server-side view of LL-HLS renditions: when does each part become available?

    python3 bench/playlist_watch.py --seconds 60 --out FILE.json --ref video \
        --playlist main/video=http://127.0.0.1:P/live/main/video/index.m3u8 \
        --playlist main/480p=http://127.0.0.1:P/live/main/480p/index.m3u8 ...

One thread per playlist follows it with LL-HLS blocking reloads (_HLS_msn/_HLS_part for the part
after the last one listed), so every response arrives as soon as the server has a new part; the
wall clock of the first response that lists a part is that part's availability time. Parts listed
in the first response of a thread (already there when the watch began) are not timed.

--playlist takes GROUP/NAME=URL; within a GROUP (a stream), every NAME is compared with the
--ref NAME (default "video") on the parts both list (same media sequence number and part index:
oxcast splits all renditions of a session at the same points). Written to --out as one JSON object:

  {"window": {"start": epoch_s, "end": epoch_s, "seconds": s},
   "groups": {GROUP: {NAME: {
       "parts_timed", "segments_timed", "errors", "target_duration", "part_target",
       "media_s_per_wall_s"   media seconds of parts that appeared in the window / window length
                              (1.0 = the rendition keeps up with real time),
       "segments_per_wall_s", "expected_segments_per_wall_s" (1 / mean EXTINF),
       "ready_after_pdt_ms"   {p50, p95, growth}: part available - (its PROGRAM-DATE-TIME + its
                              duration), i.e. from the ingest of the part's last frame to the part
                              being servable, plus whatever offset the rendition's PDT carries;
                              growth = median of the last quarter - median of the first quarter
                              (a rendition falling behind real time grows; a constant PDT offset
                              cancels),
       "vs_ref_ms"            {p50, p95, mean, n}: available(NAME) - available(ref) per part,
       "pdt_offset_vs_ref_ms" median over common segments of PDT(NAME) - PDT(ref) (0 when the
                              renditions agree on PROGRAM-DATE-TIME),
       "pdt_offset_spread_ms" max - min of that difference (0 unless the renditions' sequence
                              numbers stop matching the same media, e.g. after a restart)}}}}

--stop-file PATH ends the watch early once PATH exists (checked between requests).
Only the Python standard library; 127.0.0.1 URLs only.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def parse_pdt(value):
    # 2026-11-21T16:13:25.784Z
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(v).timestamp()


def parse_playlist(text):
    """-> dict(target, part_target, segments=[(msn, pdt, extinf)], parts=[(msn, idx, dur, pdt_end, indep)])."""
    msn = None
    target = None
    part_target = None
    pdt = None          # PDT of the segment being read (or None)
    offset = 0.0        # media seconds of the current segment's parts so far
    idx = 0
    segments = []
    parts = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART-INF:"):
            for kv in line.split(":", 1)[1].split(","):
                if kv.startswith("PART-TARGET="):
                    part_target = float(kv.split("=", 1)[1])
        elif line.startswith("#EXT-X-SKIP:"):
            # Not requested by this tool; bail out rather than misnumber.
            raise ValueError("unexpected EXT-X-SKIP")
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = parse_pdt(line.split(":", 1)[1])
            offset = 0.0
        elif line.startswith("#EXT-X-PART:"):
            attrs = line.split(":", 1)[1]
            dur = None
            for kv in attrs.split(","):
                if kv.startswith("DURATION="):
                    dur = float(kv.split("=", 1)[1])
            if msn is None or dur is None:
                continue
            offset += dur
            parts.append((msn, idx, dur, (pdt + offset) if pdt is not None else None, "INDEPENDENT=YES" in attrs))
            idx += 1
        elif line.startswith("#EXTINF:"):
            extinf = float(line.split(":", 1)[1].split(",", 1)[0])
            if msn is not None:
                segments.append((msn, pdt, extinf))
        elif line and not line.startswith("#"):
            # A segment URI ends the segment.
            if msn is not None:
                msn += 1
                if pdt is not None:
                    pdt += segments[-1][2] if segments else 0.0
            idx = 0
            offset = 0.0
    return {"target": target, "part_target": part_target, "segments": segments, "parts": parts}


class Watcher(threading.Thread):
    def __init__(self, group, name, url, deadline, stop_file=None):
        super().__init__(daemon=True)
        self.group, self.name, self.url, self.deadline = group, name, url, deadline
        self.stop_file = stop_file
        self.parts = {}      # (msn, idx) -> dict(t, dur, pdt_end, initial)
        self.segments = {}   # msn -> dict(t, pdt, extinf, initial)
        self.errors = 0
        self.error_samples = []
        self.target = None
        self.part_target = None

    def fetch(self, query):
        url = self.url + ("?" + urllib.parse.urlencode(query) if query else "")
        timeout = max(1.0, min(15.0, self.deadline - time.time() + 1.0))
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read().decode("utf-8", "replace")
        return time.time(), body

    def stopped(self):
        return time.time() >= self.deadline or (self.stop_file is not None and os.path.exists(self.stop_file))

    def run(self):
        first = True
        query = None
        while not self.stopped():
            try:
                t, body = self.fetch(query)
                pl = parse_playlist(body)
            except Exception as e:  # 404 before the rendition exists, 503 on a held request, ...
                self.errors += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(str(e)[:200])
                query = None
                time.sleep(0.2)
                continue
            self.target = pl["target"] or self.target
            self.part_target = pl["part_target"] or self.part_target
            for msn, idx, dur, pdt_end, indep in pl["parts"]:
                if (msn, idx) not in self.parts:
                    self.parts[(msn, idx)] = {"t": t, "dur": dur, "pdt_end": pdt_end, "initial": first}
            for msn, pdt, extinf in pl["segments"]:
                if msn not in self.segments:
                    self.segments[msn] = {"t": t, "pdt": pdt, "extinf": extinf, "initial": first}
            if pl["parts"]:
                msn, idx = pl["parts"][-1][0], pl["parts"][-1][1]
                query = {"_HLS_msn": msn, "_HLS_part": idx + 1}
                first = False
            else:
                query = None
                time.sleep(0.1)


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    rank = max(1, -(-p * len(v) // 100))
    return v[int(rank) - 1]


def r3(x):
    return None if x is None else round(x, 3)


def summarize(w, ref, start, end):
    span = end - start
    timed = {k: p for k, p in w.parts.items() if not p["initial"]}
    in_window = [p for p in timed.values() if start < p["t"] <= end]
    segs = [s for s in w.segments.values() if not s["initial"] and start < s["t"] <= end]
    extinfs = [s["extinf"] for s in w.segments.values() if s["extinf"]]
    ready = sorted(((p["t"], (p["t"] - p["pdt_end"]) * 1000) for p in timed.values() if p["pdt_end"] is not None))
    ready_ms = [d for _, d in ready]
    growth = None
    if len(ready) >= 8:
        q = len(ready) // 4
        growth = statistics.median(ready_ms[-q:]) - statistics.median(ready_ms[:q])
    out = {
        "parts_timed": len(timed),
        "segments_timed": len([s for s in w.segments.values() if not s["initial"]]),
        "errors": w.errors,
        "error_samples": w.error_samples,
        "target_duration": w.target,
        "part_target": w.part_target,
        "media_s_per_wall_s": r3(sum(p["dur"] for p in in_window) / span) if span > 0 else None,
        "segments_per_wall_s": r3(len(segs) / span) if span > 0 else None,
        "expected_segments_per_wall_s": r3(1 / statistics.mean(extinfs)) if extinfs else None,
        "ready_after_pdt_ms": {"p50": r3(pct(ready_ms, 50)), "p95": r3(pct(ready_ms, 95)), "growth": r3(growth),
                               "n": len(ready_ms)},
        "vs_ref_ms": None,
        "pdt_offset_vs_ref_ms": None,
    }
    if ref is not None and ref is not w:
        common = [k for k in timed if k in ref.parts and not ref.parts[k]["initial"]]
        lag = [(timed[k]["t"] - ref.parts[k]["t"]) * 1000 for k in common]
        out["vs_ref_ms"] = {"p50": r3(pct(lag, 50)), "p95": r3(pct(lag, 95)),
                            "mean": r3(statistics.mean(lag)) if lag else None, "n": len(lag)}
        offs = [(s["pdt"] - ref.segments[m]["pdt"]) * 1000 for m, s in w.segments.items()
                if m in ref.segments and s["pdt"] is not None and ref.segments[m]["pdt"] is not None]
        out["pdt_offset_vs_ref_ms"] = r3(statistics.median(offs)) if offs else None
        # Not constant = the renditions' media sequence numbers do not cover the same media
        # everywhere (e.g. after a restart), and the per-part comparison above is off as well.
        out["pdt_offset_spread_ms"] = r3(max(offs) - min(offs)) if offs else None
    elif ref is w:
        out["vs_ref_ms"] = {"p50": 0, "p95": 0, "mean": 0, "n": len(timed)}
        out["pdt_offset_vs_ref_ms"] = 0
        out["pdt_offset_spread_ms"] = 0
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--playlist", action="append", required=True, help="GROUP/NAME=URL")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--ref", default="video")
    ap.add_argument("--skip", type=float, default=0.0, help="seconds at the start left out of the rate window")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop-file", default=None)
    a = ap.parse_args()
    start = time.time()
    deadline = start + a.seconds
    watchers = []
    for spec in a.playlist:
        label, url = spec.split("=", 1)
        group, name = label.rsplit("/", 1) if "/" in label else ("", label)
        host = urllib.parse.urlparse(url).hostname
        if host != "127.0.0.1":
            sys.exit(f"playlist_watch: {url}: only 127.0.0.1 URLs")
        watchers.append(Watcher(group, name, url, deadline, a.stop_file))
    for w in watchers:
        w.start()
    for w in watchers:
        w.join(timeout=max(0.0, deadline - time.time()) + 20)
    end = min(time.time(), deadline)
    if a.stop_file and os.path.exists(a.stop_file):
        # The watch ended on request: the window closes when the stop file appeared.
        end = min(end, os.path.getmtime(a.stop_file))
    wstart = start + a.skip
    groups = {}
    for w in watchers:
        ref = next((x for x in watchers if x.group == w.group and x.name == a.ref), None)
        groups.setdefault(w.group, {})[w.name] = summarize(w, ref, wstart, end)
    with open(a.out, "w") as f:
        json.dump({"window": {"start": round(wstart, 3), "end": round(end, 3), "seconds": round(end - wstart, 3)},
                   "ref": a.ref, "groups": groups}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
