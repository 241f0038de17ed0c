#!/usr/bin/env python3
"""Makes the search benchmark's catalog and query mix from Debian's package descriptions.

Input: `apt-cache dumpavail` (name, section, maintainer, debtags, installed size) and the
English long descriptions apt keeps in /var/lib/apt/lists/*Translation-en* (fetched by
`apt-get update -o Acquire::Languages=en`). Output, all deterministic for the same input:

  catalog.jsonl  one video per line: title, description, tags, category, language, duration_s,
                 published_at, views, owner (login), owner_display
  catalog.tsv    the same rows for PostgreSQL's COPY (id, title, description, tags, category,
                 language, duration_s, published_at, views, owner_display)
  queries.jsonl  the query mix, one per line: kind, q, and for "filtered" category/min/max

What becomes a video: every package with a long description is one (title: its short
description, description: its long description), and then the second and later paragraphs of
the long descriptions, in order, are one each (title: the paragraph's first sentence, cut at 100
characters; description: the paragraph) until there are COUNT videos. Durations, publication
times and view counts are drawn from a seeded generator (views Zipf-like), because packages have
none; the text, categories (the package's section), tags (its debtags) and uploaders (its
maintainer) are real.
"""

import argparse
import glob
import hashlib
import json
import random
import re
import subprocess
import sys
from collections import Counter

WORD = re.compile(r"[a-z][a-z0-9]+")
# Words too common to make a one-word query worth timing (they'd match a third of the catalog)
# are still kept: the mix draws from several frequency bands below.


def translations():
    """Package -> (short description, [paragraphs of the long description])."""
    files = sorted(glob.glob("/var/lib/apt/lists/*_i18n_Translation-en*"))
    if not files:
        sys.exit("corpus: no Translation-en lists; run: apt-get update -o Acquire::Languages=en")
    out = {}
    for path in files:
        if path.endswith(".lz4"):
            text = subprocess.run(["lz4", "-dc", path], check=True, capture_output=True).stdout
        else:
            text = open(path, "rb").read()
        for record in text.decode("utf-8", "replace").split("\n\n"):
            package, short, body = None, None, []
            for line in record.split("\n"):
                if line.startswith("Package: "):
                    package = line[9:].strip()
                elif line.startswith("Description-en: "):
                    short = line[16:].strip()
                elif line.startswith(" ") and short is not None:
                    body.append(line[1:])
            if not package or not short or package in out:
                continue
            paragraphs, current = [], []
            for line in body:
                if line.strip() == ".":
                    if current:
                        paragraphs.append(" ".join(current))
                    current = []
                else:
                    current.append(line.strip())
            if current:
                paragraphs.append(" ".join(current))
            out[package] = (short, paragraphs)
    return out


def packages():
    """Package -> fields of its first record in `apt-cache dumpavail`."""
    text = subprocess.run(["apt-cache", "dumpavail"], check=True, capture_output=True).stdout
    out = {}
    for record in text.decode("utf-8", "replace").split("\n\n"):
        fields = {}
        for line in record.split("\n"):
            if ": " in line and not line.startswith(" "):
                k, v = line.split(": ", 1)
                fields[k] = v.strip()
        name = fields.get("Package")
        if name and name not in out:
            out[name] = fields
    return out


def login(maintainer):
    """A login name from a maintainer field: letters and digits of the display name."""
    display = maintainer.split("<")[0].strip() or "debian"
    digest = hashlib.sha1(maintainer.encode()).hexdigest()[:6]
    base = re.sub(r"[^a-z0-9]+", "", display.lower())[:20] or "maint"
    return f"{base}{digest}", display[:60]


def tags_of(tag_field):
    """debtags `works-with::audio, role::program` -> ["audio", "program"] (at most 8)."""
    out = []
    for facet in tag_field.split(","):
        value = facet.split("::")[-1].strip()
        value = re.sub(r"[^A-Za-z0-9+ -]", " ", value).strip()
        if value and value not in out and value != "TODO":
            out.append(value)
    return out[:8]


def first_sentence(paragraph):
    sentence = re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]
    if len(sentence) > 100:
        sentence = sentence[:100].rsplit(" ", 1)[0]
    return sentence.rstrip(".:;, ")


def typo(word, rng):
    """One edit: a letter replaced, dropped or doubled (never the first letter)."""
    i = rng.randrange(1, len(word))
    choice = rng.randrange(3)
    if choice == 0:
        letters = [c for c in "aeiourstnl" if c != word[i]]
        return word[:i] + rng.choice(letters) + word[i + 1 :]
    if choice == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000, help="queries in the mix (5 kinds)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True, help="directory for catalog.jsonl/tsv, queries.jsonl")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    texts = translations()
    meta = packages()
    names = sorted(n for n in texts if n in meta)
    videos = []
    for name in names:
        short, paragraphs = texts[name]
        videos.append((name, short[:140], "\n\n".join(paragraphs)[:5000]))
    first_kind = len(videos)
    for name in names:
        for paragraph in texts[name][1][1:]:
            if len(videos) >= args.count:
                break
            title = first_sentence(paragraph)
            if len(title) >= 12:
                videos.append((name, title, paragraph[:5000]))
    videos = videos[: args.count]
    if len(videos) < args.count:
        sys.exit(f"corpus: only {len(videos)} videos from this machine's lists, asked for {args.count}")

    now = 1_790_000_000
    title_words = Counter()
    rows = []
    for i, (name, title, description) in enumerate(videos):
        fields = meta[name]
        owner, display = login(fields.get("Maintainer", "Debian"))
        category = fields.get("Section", "misc").split("/")[-1]
        duration = int(rng.lognormvariate(5.5, 1.0)) + 5  # median ~4 min
        published = now - int(rng.random() * 5 * 365 * 86_400)
        views = int(10 * (1 / (1 - rng.random())) ** 1.2)  # heavy-tailed
        rows.append(
            {
                "title": title,
                "description": description,
                "tags": tags_of(fields.get("Tag", "")),
                "category": category,
                "language": "en",
                "duration_s": duration,
                "published_at": published,
                "views": views,
                "owner": owner,
                "owner_display": display,
            }
        )
        title_words.update(set(WORD.findall(title.lower())))

    with open(f"{args.out}/catalog.jsonl", "w") as jsonl, open(f"{args.out}/catalog.tsv", "w") as tsv:
        for i, row in enumerate(rows):
            jsonl.write(json.dumps(row) + "\n")
            cells = [str(i), row["title"], row["description"], " ".join(row["tags"]), row["category"],
                     row["language"], str(row["duration_s"]), str(row["published_at"]), str(row["views"]),
                     row["owner_display"]]
            tsv.write("\t".join(c.replace("\\", "\\\\").replace("\t", " ").replace("\n", "\\n") for c in cells) + "\n")

    # The query mix: five kinds in equal shares, words drawn from titles in three frequency bands
    # (rare: 5-50 titles, medium: 50-500, common: 500-5000), so that both needle and broad
    # queries are timed.
    n = len(rows)
    bands = [[w for w, c in title_words.items() if lo <= c < hi and len(w) >= 4] for lo, hi in ((5, 50), (50, 500), (500, 5000))]
    for band in bands:
        band.sort()
    pairs = Counter()
    for row in rows[:first_kind]:
        words = WORD.findall(row["title"].lower())
        pairs.update(f"{a} {b}" for a, b in zip(words, words[1:]) if len(a) >= 3 and len(b) >= 3)
    common_pairs = sorted(p for p, c in pairs.items() if c >= 5)
    categories = Counter(r["category"] for r in rows)
    top_categories = sorted(c for c, _ in categories.most_common(20))
    per_kind = args.queries // 5
    queries = []
    for i in range(per_kind):
        band = bands[i % 3]
        queries.append({"kind": "one-word", "q": rng.choice(band)})
        queries.append({"kind": "two-word", "q": rng.choice(common_pairs)})
        long_words = [w for w in bands[i % 3] if len(w) >= 6]
        queries.append({"kind": "typo", "q": typo(rng.choice(long_words), rng)})
        word = rng.choice([w for w in band if len(w) >= 6])
        queries.append({"kind": "prefix", "q": word[: rng.randrange(3, 6)]})
        lo = rng.choice([0, 60, 300])
        queries.append({"kind": "filtered", "q": rng.choice(bands[1 + i % 2]), "category": rng.choice(top_categories),
                        "min_duration_s": lo, "max_duration_s": lo + rng.choice([300, 1200, 3600])})
    with open(f"{args.out}/queries.jsonl", "w") as out:
        for q in queries:
            out.write(json.dumps(q) + "\n")
    print(json.dumps({"videos": n, "package_videos": min(first_kind, n), "paragraph_videos": max(0, n - first_kind),
                      "owners": len({r["owner"] for r in rows}), "categories": len(categories),
                      "queries": len(queries), "description_bytes": sum(len(r["description"]) for r in rows)}))


if __name__ == "__main__":
    main()
