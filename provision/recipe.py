"""What a stand-in is made from, reduced to one hash, and the labels that
carry that hash on the image so that a warm run can tell it is current."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

RECIPES = Path(__file__).parent / "recipes"
MACHINE_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

STANDIN_LABEL = "course.standin"
HASH_LABEL = "course.standin.recipe-hash"
RECIPE_LABEL = "course.standin.recipe"
MADE_FROM_LABEL = "course.standin.made-from"
# "rootfs" on the imported base, "image" on a stand-in (which would otherwise inherit "rootfs").
ROLE_LABEL = "course.standin.role"
DESCRIPTION_LABEL = "org.opencontainers.image.description"


@dataclass(frozen=True)
class Recipe:
    """Every input that decides an image's content, as (name, bytes) pairs."""

    name: str
    parts: tuple[tuple[str, bytes], ...]

    @property
    def digest(self) -> str:
        hasher = hashlib.sha256()
        for name, content in self.parts:
            hasher.update(f"{name}\0{len(content)}\0".encode())
            hasher.update(content)
        return hasher.hexdigest()

    @property
    def short(self) -> str:
        return self.digest[:12]


def recipe_file(name: str) -> tuple[str, bytes]:
    """A file of provision/recipes/ as a recipe part."""
    return (name, (RECIPES / name).read_bytes())


def machine_ca_bundle() -> bytes:
    """The machine's CA bundle, which the stand-ins trust."""
    return MACHINE_CA_BUNDLE.read_bytes()


def standin_labels(tag: str, recipe: Recipe, recipe_text: str, made_from: str) -> dict[str, str]:
    """The labels every stand-in carries."""
    return {
        STANDIN_LABEL: "true",
        ROLE_LABEL: "image",
        HASH_LABEL: recipe.digest,
        RECIPE_LABEL: recipe_text,
        MADE_FROM_LABEL: made_from,
        DESCRIPTION_LABEL: (
            f"Local stand-in for the official {tag}, built offline by provision/images.py "
            f"because no registry was reachable; made from {made_from}."
        ),
    }


def is_standin(labels: dict[str, str] | None) -> bool:
    """Whether an image's labels mark it as one of our stand-ins."""
    return bool(labels) and HASH_LABEL in labels
