"""The catalog entry (InnerEarSeg.json) and the top-level CMakeLists.txt pass the Slicer Extensions Index checks.

Two layers:

1. Offline checks written for this project from what ``scripts/check_description_files.py`` of
   Slicer/ExtensionsIndex checks (read at commit 07f1d1b2781c7dd9f6e2a9f5521b3ed43631724c): JSON format and LF
   line endings, the v1.0.2 catalog schema's required and allowed keys, extension name, category, repository
   name, scm_url syntax, the literal ``project()``/``EXTENSION_ICONURL``/``EXTENSION_SCREENSHOTURLS`` text of
   CMakeLists.txt, and a license file. Where the Index downloads (schema, icon and screenshot URLs, GitHub
   topics) these tests check the same thing against the checkout: each URL names this repository and a PNG in it.
2. The Index's own script, when a checkout of Slicer/ExtensionsIndex is given in ``INNEREARSEG_EXTENSIONS_INDEX``
   (skipped otherwise; nothing of it is copied here). See docs/slicer.md for the command and its output.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "InnerEarSeg.json"
CMAKE = REPO / "CMakeLists.txt"
EXTENSION_NAME = ENTRY.stem

# The catalog-entry schema v1.0.2 (Slicer/Slicer Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json).
REQUIRED_KEYS = {"$schema", "category", "scm_url"}
ALLOWED_KEYS = REQUIRED_KEYS | {"scm_revision", "scm_type", "build_dependencies", "dicom_support_rule",
                                "build_subdirectory", "enabled", "tier"}
REPOSITORY_PREFIXES = ("Slicer", "Slicer-", "Slicer_", "SlicerExtension-", "SlicerExtension_")
# Categories of the Index that would fit this extension (all in its accepted list at the commit above).
FITTING_CATEGORIES = {"Segmentation", "Otolaryngology", "Quantification"}


def entry() -> dict:
    return json.loads(ENTRY.read_text(encoding="utf-8"))


def cmake_text() -> str:
    return CMAKE.read_text(encoding="utf-8")


def cmake_setting(name: str) -> str:
    """The literal quoted value of ``set(NAME "...")`` (the Index reads the text, it does not run CMake)."""
    found = re.findall(rf'set\s*\({name}\s*"([^"]+)"[ ]*\)', cmake_text(), re.IGNORECASE)
    assert found, f"no literal set({name} \"...\") in CMakeLists.txt"
    return found[0].strip()


def github_owner_and_repository(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url.strip().strip("/")).path.split("/")
    return parts[1], os.path.splitext(parts[2])[0]


def test_the_entry_is_lf_only_json_with_the_schemas_keys_and_types():
    raw = ENTRY.read_bytes()
    assert b"\r" not in raw, "the Index refuses CR or CRLF line endings"
    data = entry()
    assert REQUIRED_KEYS <= data.keys(), f"missing: {REQUIRED_KEYS - data.keys()}"
    assert data.keys() <= ALLOWED_KEYS, f"the schema allows no other keys: {data.keys() - ALLOWED_KEYS}"
    assert data["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.2.json#")
    assert data.get("scm_type", "git") in ("git", "local")
    assert all(isinstance(d, str) for d in data.get("build_dependencies", []))


def test_name_category_repository_and_scm_url_pass_the_index_rules():
    data = entry()
    assert not EXTENSION_NAME.lower().startswith("slicer"), "the extension name must not start with 'Slicer'"
    assert data["category"] in FITTING_CATEGORIES
    scheme = urllib.parse.urlsplit(data["scm_url"]).scheme
    assert "://" in data["scm_url"] and scheme in ("git", "https")
    _, repository = github_owner_and_repository(data["scm_url"])
    assert repository.startswith(REPOSITORY_PREFIXES), f"repository {repository!r} must start with 'Slicer'"


def test_the_entry_leaves_the_maintainers_calls_and_the_dicom_rule_out():
    data = entry()
    assert "tier" not in data, "the tier is the Index maintainers' decision"
    assert "dicom_support_rule" not in data, "a CT rule would advertise the extension for every CT"
    assert data["build_dependencies"] == ["PyTorch"]


def test_cmakelists_declares_the_project_and_literal_icon_and_screenshot_urls_of_this_repository():
    project = re.findall(r"project\s*\(\s*([^\s\)\n\r]+)", cmake_text(), re.IGNORECASE)
    assert project and project[0].strip("\"'") == EXTENSION_NAME
    data = entry()
    owner, repository = github_owner_and_repository(data["scm_url"])
    urls = [cmake_setting("EXTENSION_ICONURL")] + cmake_setting("EXTENSION_SCREENSHOTURLS").split()
    for url in urls:
        assert "${" not in url, f"{url}: the Index reads the text literally, a CMake variable is not expanded"
        parsed = urllib.parse.urlsplit(url)
        assert parsed.scheme == "https" and parsed.netloc == "raw.githubusercontent.com", url
        url_owner, url_repository, revision, *path = parsed.path.strip("/").split("/")
        assert (url_owner, url_repository, revision) == (owner, repository, data["scm_revision"]), url
        image = REPO.joinpath(*path)
        assert image.is_file(), f"{url} points to {image}, which is not in the repository"
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{image} is not a PNG"


def test_homepage_and_scm_url_name_the_same_repository_and_a_license_is_present():
    homepage = cmake_setting("EXTENSION_HOMEPAGE")
    assert github_owner_and_repository(homepage) == github_owner_and_repository(entry()["scm_url"])
    assert (REPO / "LICENSE").is_file()
    assert cmake_setting("EXTENSION_DEPENDS") == "PyTorch"


def test_the_description_does_not_claim_offline_use_and_says_how_the_model_was_trained():
    description = cmake_setting("EXTENSION_DESCRIPTION").lower()
    assert "offline" not in description, "first use installs torch and packages: it is not offline"
    assert "phantom" in description and "installs" in description


# ----------------------------------------------------------------------------- the Index's own script
INDEX_CHECKOUT = os.environ.get("INNEREARSEG_EXTENSIONS_INDEX", "")


def load_index_checker():
    script = Path(INDEX_CHECKOUT) / "scripts" / "check_description_files.py"
    if not INDEX_CHECKOUT or not script.is_file():
        pytest.skip("set INNEREARSEG_EXTENSIONS_INDEX to a checkout of Slicer/ExtensionsIndex to run its checker")
    if sys.version_info < (3, 12):  # the script uses PEP 701 f-strings; the Index runs it on Python 3.12
        pytest.skip("the Extensions Index checker needs Python >= 3.12")
    spec = importlib.util.spec_from_file_location("check_description_files", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_extensions_index_checker_passes_its_offline_checks(monkeypatch):
    checker = load_index_checker()

    def image_in_this_checkout(url, url_type, extension_name, check_name):  # the Index downloads the URL
        path = urllib.parse.urlsplit(url).path.strip("/").split("/")[3:]
        if not REPO.joinpath(*path).is_file():
            raise checker.ExtensionCheckError(extension_name, check_name, f"{url_type} '{url}' is not in the checkout")

    monkeypatch.setattr(checker, "validate_image_url", image_in_this_checkout)
    monkeypatch.chdir(REPO)
    metadata = checker.parse_json(ENTRY.name)
    checker.check_json_file_format(EXTENSION_NAME, metadata, ENTRY.name)
    checker.check_extension_name(EXTENSION_NAME, metadata)
    checker.check_category(EXTENSION_NAME, metadata)
    checker.check_git_repository_name(EXTENSION_NAME, metadata)
    checker.check_scm_url_syntax(EXTENSION_NAME, metadata)
    checker.check_cmakelists_content(EXTENSION_NAME, metadata, cloned_repository_folder=str(REPO))
    checker.check_license_file(EXTENSION_NAME, metadata, cloned_repository_folder=str(REPO))
    schema_path = Path(INDEX_CHECKOUT) / "schemas" / "slicer-extension-catalog-entry-schema-v1.0.2.json"
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(metadata, json.loads(schema_path.read_text(encoding="utf-8")))
