"""What the panel says about the model and about how far a result can be trusted (plain data, no Qt).

The model text comes from the model package's JSON manifest (read as JSON: no torch, nothing loaded).
The trust flag is the assessment's per-ear verdict (plausible / doubtful / implausible, with reasons);
reports written before it existed have none, which reads as "not assessed", never as "plausible".
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from .paths import resourceFile

TRUST_MEANINGS = {
    "plausible": "the automatic checks found nothing unusual; still review the result",
    "doubtful": "one or more checks failed (reasons shown): review every structure before using it",
    "implausible": "the result contradicts the anatomy or the input: do not use it without correcting it",
    "not assessed": "no trust check in this result (older report or model); review every structure",
}
#: Colours of the trust levels (Okabe-Ito): a doubtful or implausible ear never looks like a normal one.
TRUST_COLOURS = {"plausible": "#009E73", "doubtful": "#E69F00", "implausible": "#D55E00", "not assessed": "#777777"}


@dataclass(frozen=True)
class Trust:
    """The trust flag of one ear as the panel shows it."""

    level: str
    reasons: tuple[str, ...] = ()

    @property
    def meaning(self) -> str:
        return TRUST_MEANINGS.get(self.level, TRUST_MEANINGS["not assessed"])

    @property
    def colour(self) -> str:
        return TRUST_COLOURS.get(self.level, TRUST_COLOURS["not assessed"])

    @property
    def isNormal(self) -> bool:
        return self.level == "plausible"


def trustOfEar(ear) -> Trust:
    """The trust flag of a report's ear (an ``InnerEarSegLib.report.EarRecord``, its dict, or None), read
    defensively: absent or malformed = "not assessed", never "plausible".

    Accepts ``trust = "doubtful"`` or ``trust = {"flag"|"level": ..., "reasons": [...]}``, at the ear level
    or inside its ``assessment``.
    """
    if ear is None:
        return Trust("not assessed")
    if not isinstance(ear, dict):  # a report record
        ear = {"trust": ear.trust, "assessment": ear.assessment}
    for holder in (ear, ear.get("assessment") or {}):
        value = holder.get("trust") if isinstance(holder, dict) else None
        if isinstance(value, str):
            value = {"flag": value}
        if isinstance(value, dict):
            level = str(value.get("flag") or value.get("level") or "").lower()
            if level in TRUST_MEANINGS and level != "not assessed":
                reasons = value.get("reasons") or ()
                reasons = reasons if isinstance(reasons, (list, tuple)) else [reasons]
                return Trust(level, tuple(str(r) for r in reasons))
    return Trust("not assessed")


def manifestPath(modelPath: str | None = None) -> Path | None:
    """The JSON manifest of `modelPath` (its ``.json`` sibling), or of the bundled model when None/empty."""
    if modelPath:
        candidate = Path(modelPath).with_suffix(".json")
        return candidate if candidate.is_file() else None
    folder = resourceFile("Models")
    manifests = sorted(folder.glob("*.json")) if folder else []
    return manifests[0] if manifests else None


def modelInformation(modelPath: str | None = None) -> str:
    """Rich text for the panel's Model section: name, version, training data, measured accuracy, trust flag."""
    path = manifestPath(modelPath)
    if path is None:
        return html.escape(f"No manifest found for the model {modelPath or '(bundled)'}; its origin is unknown.")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    e = html.escape
    training = manifest.get("training") or {}
    accuracy = manifest.get("accuracy") or {}
    lines = [f"<b>{e(str(manifest.get('name', path.stem)))}</b> version {e(str(manifest.get('version', '?')))} "
             f"({e(str(manifest.get('architecture', '?')))}, {e(str(manifest.get('spacing_mm', '?')))} mm grid)"]
    if training.get("data"):
        lines.append(f"<b>Trained on:</b> {e(str(training['data']))}")
    held_out = accuracy.get("held_out_ct_dice") or {}
    dice = held_out.get("mean_dice_normal_ears") or accuracy.get("validation_dice") or {}
    if dice:
        where = held_out.get("cases") or accuracy.get("measured_on") or "validation data"
        figures = ", ".join(f"{e(k)} {float(v):.2f}" for k, v in dice.items())
        lines.append(f"<b>Measured Dice</b> on {e(str(where))}: {figures}")
    real = (accuracy.get("real_shapes_dice") or {}).get("renderings") or {}
    if real:
        figures = "; ".join(
            f"{e(name)}: labyrinth {float(r['median_dice']['labyrinth']):.2f}, lateral canal "
            f"{float(r['median_dice']['lateral']):.2f} ({int(r['ears'])} ears)" for name, r in real.items())
        lines.append(f"<b>On real labyrinth shapes</b> (real surfaces in synthetic CT, median Dice): {figures}")
    if accuracy.get("note"):
        lines.append(f"<b>Note:</b> {e(str(accuracy['note']))}")
    lines.append("<b>Trust flag</b> (per ear, in Review): " + "; ".join(
        f"<span style='color:{TRUST_COLOURS[k]}'><b>{k}</b></span>: {e(v)}" for k, v in TRUST_MEANINGS.items()))
    return "<br>".join(lines)


def resultSummary(report, elapsedS: float, device: str, segments: int) -> str:
    """The status line after a run (`report`: an ``InnerEarSegLib.report.SegmentationReport``); an ear whose
    trust flag is not "plausible" is named in it."""
    ears = report.ears
    text = f"Done in {elapsedS:.1f} s on {device}: {len(ears)} ear(s) found, {segments} segments."
    flagged = [(ear.side, trustOfEar(ear)) for ear in ears]
    flagged = [f"{side} ear {trust.level}" for side, trust in flagged if not trust.isNormal]
    if flagged:
        text += " Check before use: " + ", ".join(flagged) + "."
    return text
