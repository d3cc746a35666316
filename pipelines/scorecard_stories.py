"""The story behind the curve: what partners and residents said about an indicator, as data.

A backbone writes one Markdown file per conversation under
`indicators/<initiative>/stories/`, named `<indicator>[.<anything>].md` (e.g.
`kindergarten_readiness.md`, `kindergarten_readiness.2024.es.md`), with YAML front matter:

    ---
    period: "2024"            # the results the conversation looked at
    date: 2025-02-11          # when it took place
    took_part: [Parents from the Eastside family council, Bright Start teachers]
    language: en              # optional, default en
    title: What we heard      # optional
    ---
    Markdown text...

Front matter is validated on load (errors name the file and the key). The text is hostile input
like any other file a person edits: Markdown is rendered with raw HTML off, images become their
alt text (no remote images), and links become their text followed by the address as plain text,
so the page stays offline and self-contained.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import yaml
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.errors import ConfigError
from pipelines.scorecard_i18n import LANGUAGES, SOURCE_LANGUAGE, current_language, pick
from pipelines.yaml_text_keys import TextKeyLoader

STORY_FOLDER = "stories"
# The story sits under the indicator's h2 and the "Story behind the curve" h3.
HEADING_OFFSET = 3
# About 200 words: what the printed poster holds beside the charts (see the print stylesheet).
MAX_STORY_CHARS = 1200


class StoryMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    period: str = Field(min_length=1)
    date: dt.date
    took_part: tuple[str, ...] = Field(min_length=1)
    language: str = SOURCE_LANGUAGE
    title: str = ""

    @field_validator("period", mode="before")
    @classmethod
    def _period_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value  # `period: 2024` means "2024"

    @field_validator("took_part", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        # `took_part: Parents from the family council` (one group, no brackets) is one entry.
        return (value,) if isinstance(value, str) else value

    @field_validator("language")
    @classmethod
    def _shipped(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"{value!r} is not a scorecard language ({', '.join(LANGUAGES)})")
        return value


class Story(BaseModel):
    model_config = ConfigDict(frozen=True)

    indicator_id: str
    path: Path
    meta: StoryMeta
    body: str


def _split(path: Path, text: str) -> tuple[object, str]:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{path}: (front matter): the file must start with a line '---', then "
                          "period, date and took_part, then a line '---'")
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    except StopIteration:
        raise ConfigError(f"{path}: (front matter): no closing '---' line") from None
    try:
        # A blank line for the opening '---': the parser's line numbers are the file's.
        meta = yaml.load("\n" + "\n".join(lines[1:end]), Loader=TextKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: (front matter): not valid YAML: {exc}") from None
    return meta, "\n".join(lines[end + 1:]).strip()


def load_story(path: Path, indicator_ids: set[str]) -> Story:
    indicator_id = path.name.split(".", 1)[0]
    if indicator_id not in indicator_ids:
        raise ConfigError(f"{path}: (file name): {indicator_id!r} is not an indicator of this "
                          f"initiative ({', '.join(sorted(indicator_ids))}); name the file "
                          "<indicator>.md")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    meta, body = _split(path, text)
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: (front matter): expected keys period, date, took_part")
    try:
        parsed = StoryMeta.model_validate(meta)
    except ValidationError as exc:
        raise ConfigError("\n".join(
            f"{path}: {'.'.join(str(p) for p in e['loc']) or '(front matter)'}: {e['msg']}"
            for e in exc.errors())) from None
    if not body:
        raise ConfigError(f"{path}: (text): the story has no text after the front matter")
    if len(body) > MAX_STORY_CHARS:
        raise ConfigError(f"{path}: (text): {len(body)} characters; a story holds at most "
                          f"{MAX_STORY_CHARS} (about 200 words) so the printed poster keeps it "
                          "on one page with the charts")
    return Story(indicator_id=indicator_id, path=path, meta=parsed, body=body)


def load_stories(folder: Path, indicator_ids: set[str] | list[str]) -> dict[str, list[Story]]:
    """Every story under `folder` by indicator id; a missing folder means no stories."""
    folder = Path(folder)
    stories: dict[str, list[Story]] = {}
    if not folder.is_dir():
        return stories
    for path in sorted(folder.glob("*.md")):
        story = load_story(path, set(indicator_ids))
        stories.setdefault(story.indicator_id, []).append(story)
    return stories


# ---------------------------------------------------------------- safe Markdown

def _markdown():  # noqa: ANN202 - markdown_it is imported only to render (not to validate)
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    rules = md.add_render_rule

    def image(self, tokens, idx, options, env):  # noqa: ANN001 - markdown-it's signature
        alt = "".join(t.content for t in tokens[idx].children or []) or tokens[idx].content
        return f'<span class="story-image">[{escape(alt)}]</span>'

    def link_open(self, tokens, idx, options, env):  # noqa: ANN001
        env.setdefault("links", []).append(tokens[idx].attrGet("href") or "")
        return '<span class="story-link">'

    def link_close(self, tokens, idx, options, env):  # noqa: ANN001
        href = env["links"].pop()
        return "</span>" + (f" ({escape(href)})" if href else "")

    def heading(self, tokens, idx, options, env):  # noqa: ANN001
        level = min(6, int(tokens[idx].tag[1]) + HEADING_OFFSET)
        closing = tokens[idx].nesting == -1
        return f"</h{level}>\n" if closing else f"<h{level}>"

    rules("image", image)
    rules("link_open", link_open)
    rules("link_close", link_close)
    rules("heading_open", heading)
    rules("heading_close", heading)
    return md


def render_markdown(text: str) -> Markup:
    # markdown-it escapes all text itself (html=False), so the result is markup we produced.
    return Markup(_markdown().render(text, {}))


# ---------------------------------------------------------------- what the scorecard shows

def story_view(stories: list[Story], period_key: Callable[[str], object] = str,
               period_name: Callable[[str], str] = str) -> dict | None:
    """The latest conversation, in the page's language when one was written in it.

    `period_key` orders story periods (by when the period starts, not by its label's text);
    `period_name` says a period as the page does ("2024 Q1")."""
    if not stories:
        return None
    language = current_language()
    in_language = [s for s in stories if s.meta.language == language]
    chosen = max(in_language or stories, key=lambda s: (period_key(s.meta.period), s.meta.date))
    return {
        "period": period_name(chosen.meta.period), "date": chosen.meta.date,
        "title": chosen.meta.title,
        "took_part": list(chosen.meta.took_part), "language": chosen.meta.language,
        "other_language": chosen.meta.language != language,
        "html": render_markdown(chosen.body),
    }


def plan_view(plan: dict | None, partner_names: dict[str, str]) -> dict | None:
    """Partners with a role and the strategies for one indicator (initiative.yaml)."""
    if not plan:
        return None
    partners = [{"name": partner_names.get(p.get("partner") or "", "") or pick(p.get("name")),
                 "role": pick(p.get("role"))} for p in plan.get("partners") or []]
    strategies = [pick(s) for s in plan.get("strategies") or []]
    if not partners and not strategies:
        return None
    return {"partners": partners, "strategies": strategies}
