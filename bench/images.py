"""Part 2: how big the two images are, and what 0.2.0 carries beyond its base and its app.

The images are the ones the pages' own `docker build` commands make, built
by bench/warm.py under the benchmark's tags. "Added" is the image's size minus
its runtime base image's, once the base's layers are checked to be the first
layers of the image. "Deps + app" is measured inside the image: the apparent
size of every file and symlink under the virtual environment and the app's
folder, each hard-linked file once, directories not counted: the way the
engine itself sums a layer's size.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from .engine import Made
from .projects import Course
from .report import Figure, Section
from .warm import rewarm

SIZE_RATIO_TARGET = 0.35
ADDED_RATIO_TARGET = 1.02

# Runs inside the image, with its own Python; prints one JSON line.
MEASURE_INSIDE = r"""
import json, os, shutil, stat, sys
seen = set()
def tally(top):
    found = {"bytes": 0, "files": 0, "pyc": 0, "pycache_dirs": 0}
    for root, dirs, files in os.walk(top):
        found["pycache_dirs"] += dirs.count("__pycache__")
        for name in dirs + files:
            info = os.lstat(os.path.join(root, name))
            if stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            found["bytes"] += info.st_size
            found["files"] += 1
            found["pyc"] += name.endswith(".pyc")
    return found
report = {top: tally(top) for top in sys.argv[1:]}
report["pip cache"] = os.path.exists("/root/.cache/pip")
lists = "/var/lib/apt/lists"
kept = ("lock", "partial", "auxfiles")
names = os.listdir(lists) if os.path.isdir(lists) else []
report["apt lists"] = len([name for name in names if name not in kept])
report["build tools"] = [tool for tool in ("gcc", "cc", "make", "g++") if shutil.which(tool)]
print(json.dumps(report))
"""
INSIDE_PATHS = ("/opt/venv", "/app")


def measure(course: Course, client, made: Made, extra: dict, workdir: Path) -> Section:
    section = Section(2, "image sizes")
    image, single_tag, multi_tag = extra["image"], extra["tag_single"], extra["tag_multi"]
    single_ref, multi_ref = f"{image}:{single_tag}", f"{image}:{multi_tag}"
    base_ref = extra["base_slim"]
    names = [
        (single_ref, "B", None),
        (multi_ref, "B", None),
        (f"{multi_ref} / {single_ref}", "x", SIZE_RATIO_TARGET),
        (f"{multi_ref} above {base_ref}", "B", None),
        ("deps + app inside it (" + " + ".join(INSIDE_PATHS) + ")", "B", None),
        ("added / (deps + app)", "x", ADDED_RATIO_TARGET),
    ]
    if not {single_ref, multi_ref} <= set(made.kept):
        rewarm(course, course.runnable(), made, workdir)
    missing = [ref for ref in (single_ref, multi_ref) if ref not in made.kept]
    if missing:
        section.failed(names, f"the pages build no {', '.join(missing)}")
        return section

    api = client.api
    single, multi = (
        api.inspect_image(made.kept[single_ref]),
        api.inspect_image(made.kept[multi_ref]),
    )
    base = api.inspect_image(base_ref)
    section.add(
        Figure(single_ref, single["Size"], "B", note="Dockerfile, as Exercise 1 builds it"),
        Figure(multi_ref, multi["Size"], "B", note="Dockerfile.multi, as Exercise 2 builds it"),
        Figure(names[2][0], multi["Size"] / single["Size"], "x", SIZE_RATIO_TARGET),
    )

    base_layers, layers = base["RootFS"]["Layers"], multi["RootFS"]["Layers"]
    if layers[: len(base_layers)] != base_layers:
        section.failed(names[3:], f"{multi_ref} does not start with the layers of {base_ref}")
        return section
    added = multi["Size"] - base["Size"]
    inside = _inside(client, made.kept[multi_ref], made.token)
    needed = sum(inside[path]["bytes"] for path in INSIDE_PATHS)
    section.add(
        Figure(names[3][0], added, "B", note=f"{len(layers) - len(base_layers)} layers"),
        Figure(names[4][0], needed, "B"),
        Figure(names[5][0], added / needed, "x", ADDED_RATIO_TARGET),
        Figure(
            ".pyc files in " + " and ".join(INSIDE_PATHS),
            sum(inside[path]["pyc"] for path in INSIDE_PATHS),
            "",
        ),
    )

    section.notes.append(
        f"Sizes are the engine's (`docker image inspect` .Size, uncompressed). Added = "
        f"size({multi_ref}) - size({base_ref}), after checking that {base_ref}'s "
        f"{len(base_layers)} layers are the image's first ones. Deps + app was measured inside "
        f"the image, by its own Python: the apparent size of every file and symlink under "
        + " and ".join(INSIDE_PATHS)
        + ", hard links once, directories not counted (as the engine sums a layer)."
    )
    standins = [ref for ref in (extra["base_full"], base_ref) if _is_standin(api, ref)]
    if standins:
        section.notes.append(
            f"{' and '.join(standins)} are the local stand-ins that provision/ builds when no "
            "registry can be reached (label course.standin), not the official images, so the "
            "sizes differ from a learner's (Exercise 1 says about a gigabyte for 0.1.0 on the "
            "official image)."
        )
    section.notes.append(
        "Inside: "
        + "; ".join(
            f"{path}: {inside[path]['files']} files, {inside[path]['bytes']:,} B, "
            f"{inside[path]['pyc']} .pyc, {inside[path]['pycache_dirs']} __pycache__"
            for path in INSIDE_PATHS
        )
        + f"; pip cache in /root/.cache/pip: {'yes' if inside['pip cache'] else 'no'}; "
        f"apt lists: {inside['apt lists']}; build tools on PATH: "
        + (", ".join(inside["build tools"]) or "none")
        + "."
    )
    section.notes.append(
        "Layers above the base, with content: " + _layers_above(api, made.kept[multi_ref], base_ref)
    )
    return section


def _is_standin(api, ref: str) -> bool:
    labels = api.inspect_image(ref)["Config"].get("Labels") or {}
    return labels.get("course.standin") == "true"


def _inside(client, image: str, token: str) -> dict:
    """Run MEASURE_INSIDE in a throwaway container of `image`, as root, without a network."""
    api = client.api
    container = api.create_container(
        image,
        entrypoint=["python", "-c", MEASURE_INSIDE],
        command=list(INSIDE_PATHS),
        user="0:0",
        network_disabled=True,
        name=f"bench-inside-{token}-{secrets.token_hex(2)}",
    )["Id"]
    try:
        api.start(container)
        status = api.wait(container, timeout=120)["StatusCode"]
        output = api.logs(container, stdout=True, stderr=True).decode()
    finally:
        api.remove_container(container, force=True, v=True)
    if status != 0:
        raise RuntimeError(f"measuring inside {image} failed with status {status}: {output}")
    return json.loads(output.strip().splitlines()[-1])


def _layers_above(api, image: str, base: str) -> str:
    # History is newest first, one entry per instruction, the base's own included.
    history = api.history(image)
    above = history[: len(history) - len(api.history(base))]
    return (
        "; ".join(
            f"{_instruction(entry['CreatedBy'])}: {entry['Size']:,} B"
            for entry in reversed(above)
            if entry["Size"]
        )
        or "none with content"
    )


def _instruction(created_by: str) -> str:
    text = created_by.replace("/bin/sh -c #(nop) ", "").replace("/bin/sh -c ", "RUN ").strip()
    text = re.sub(r"\b(file|dir):[0-9a-f]{64}", r"\1:…", text)
    return text if len(text) <= 60 else text[:57] + "..."
