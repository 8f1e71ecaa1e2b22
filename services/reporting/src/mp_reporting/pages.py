"""The MindPulse header around each Evidently page: title, disclaimer, what is missing and why.

Evidently writes one self-contained HTML file (its scripts and fonts inlined, nothing fetched);
the header is inserted right after ``<body>`` so the page works offline as before. When a report
cannot be computed at all, :func:`plain_page` writes the same header with the reason alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

DISCLAIMER: Final = (
    "MindPulse is an educational tool about a statistical model. It is not a diagnosis and not "
    "medical advice. If you or someone you know is struggling, talk to someone you trust, your "
    "university's counselling service or a doctor; in an emergency call your local emergency "
    "number or a crisis line."
)

_STYLE: Final = """
<style>
  .mp-header { font-family: system-ui, sans-serif; margin: 16px 24px; color: #1f2933; }
  .mp-header h1 { font-size: 26px; margin: 0 0 6px; }
  .mp-header .mp-disclaimer { background: #fff4e5; border-left: 4px solid #f0a030;
    padding: 8px 12px; margin: 8px 0; font-size: 14px; }
  .mp-header .mp-facts { font-size: 14px; color: #52606d; margin: 4px 0; }
  .mp-header .mp-notes { background: #eef4fb; border-left: 4px solid #3d7cc9;
    padding: 8px 12px 8px 28px; font-size: 14px; }
  .mp-header table { border-collapse: collapse; font-size: 13px; margin: 8px 0 12px; }
  .mp-header th, .mp-header td { border: 1px solid #cbd2d9; padding: 3px 8px; text-align: left; }
  .mp-header th { background: #f5f7fa; }
  .mp-header caption { text-align: left; font-weight: 600; padding: 4px 0; }
  .mp-header .mp-flag { color: #b42318; font-weight: 600; }
</style>
"""


@dataclass(frozen=True, slots=True)
class HtmlTable:
    caption: str
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    flagged_rows: frozenset[int] = frozenset()  # row indexes drawn as warnings


def header_html(
    title: str,
    *,
    facts: Sequence[str] = (),
    notes: Sequence[str] = (),
    tables: Sequence[HtmlTable] = (),
    support: str = "",
) -> str:
    """The header block: title, disclaimer with helplines, one-line facts, notes, small tables."""
    parts = [f'<header class="mp-header"><h1>{escape(title)}</h1>']
    disclaimer = f"{DISCLAIMER} {support}".strip()
    parts.append(f'<p class="mp-disclaimer">{escape(disclaimer)}</p>')
    parts.extend(f'<p class="mp-facts">{escape(fact)}</p>' for fact in facts)
    if notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in notes)
        parts.append(f'<ul class="mp-notes">{items}</ul>')
    parts.extend(_table(table) for table in tables)
    parts.append("</header>")
    return "".join(parts)


def _table(table: HtmlTable) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in table.headers)
    body = []
    for index, row in enumerate(table.rows):
        css = ' class="mp-flag"' if index in table.flagged_rows else ""
        cells = "".join(f"<td>{escape(_cell(value))}</td>" for value in row)
        body.append(f"<tr{css}>{cells}</tr>")
    return (
        f"<table><caption>{escape(table.caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"  # p-values run down to 1e-100; fixed decimals would show 0.000
    return str(value)


def decorate(evidently_html: str, title: str, header: str) -> str:
    """Put ``<title>`` and the MindPulse header into Evidently's standalone page."""
    html = evidently_html.replace("<head>", f"<head><title>{escape(title)}</title>{_STYLE}", 1)
    position = html.find("<body>")
    if position < 0:  # an Evidently release with another template: keep its page usable
        return header + html
    position += len("<body>")
    return html[:position] + header + html[position:]


def plain_page(title: str, header: str) -> str:
    """A page with the header alone, for a report that could not be computed."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">'
        f"<title>{escape(title)}</title>{_STYLE}</head><body>{header}</body></html>\n"
    )
