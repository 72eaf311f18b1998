"""Every measured number in README.md and docs/*.md is traceable to a committed JSON.

A marker on its own line directly above a markdown table, or above a paragraph that quotes
measured numbers, names the JSON files the numbers come from (paths relative to the
repository root, comma-separated):

    <!-- numbers: benchmarks/results/euler.json -->
    <!-- numbers: docs/studies/donaldson_start.json, docs/numbers/derived.json#donaldson_start -->
    <!-- numbers: exact -->

A path may end in "#key" (or "#key/subkey"): only that part of the file counts, which keeps a
table from matching a number of an unrelated run by chance.

`exact` marks a table of mathematical facts (Euler, Hodge and intersection numbers, chart
counts, group orders): results, not measurements; the checker skips it.

For a table every data cell is checked (the header row is not); for a paragraph, every line up
to the next blank line. A printed number matches a JSON number (any numeric leaf, at any depth,
of the named files) when the JSON value rounds to it: |v - x| <= half a unit in the last
printed digit ("0.0176": 0.00005). The forms understood:

- thousands separators ("345,800") and the suffixes k and M ("41.3k", "1.62 M"); an integer
  of three or more digits counts its trailing zeros as rounding ("300,000" is 3 x 10^5 to one
  digit, so it matches 301,994; "600" matches 598);
- percentages: "25 %" matches 25 or 0.25;
- the unicode minus sign "−" (U+2212) and scientific forms "2.0e-16", "3.0 x 10^5" (with
  superscript exponents, "3.0 × 10⁵"); a bare power of ten ("of order 10⁶") is not checked;
- "a ± b": both sides are checked; a ratio "5.4×" is checked as the number 5.4 (derived
  ratios are not computed here: a script writes them into docs/numbers/derived.json);
- ranges "75,000–127,000" (en dash) are two numbers.

Not numbers: anything inside a code span (`--epochs 30`, `base_rate = 0.1`: settings the
reader types), digits glued to letters or underscores (k3_quartic, P5, c2, float64, x86_64,
"99th"), exact fractions written with a slash and no spaces (ψ = −1/5, 5/6), version numbers
(3.11.7), link targets and HTML comments. Integers that are not measurements (epochs, widths
such as 3×64, seeds, point counts) are checked like any other number: the JSON files that
record a run also record its settings.

Exemptions are explicit and visible in the marker, as double-quoted snippets after
"; except": every occurrence of a snippet in the block is left out of the check,

    <!-- numbers: benchmarks/results/euler.json; except "≈ 0.7–0.9" -->

and are meant for the rare number that is not a result of this project: a value quoted from
elsewhere (cymetric's published range), a target the project set itself, a setting that the
JSON records only inside a string ("90k points"), or the definition of a column (the 0.5 of
"points for an error of ±0.5"). Each one is listed in the marker, so a reader of the source
sees what is not backed by a JSON number.

The check is one of membership: a printed number must round from some number of the named
JSON (or of the named part of it), not from the one in the same place. Naming the part of a
file that a table quotes ("euler.json#learned") keeps chance matches rare.

docs/numbers/derived.json holds quantities derived from the committed JSON (ratios, means,
the first time a curve crosses a threshold); docs/numbers/derive.py writes it, and a test
checks that the committed file is what the script computes now.

A second test requires a marker above every table that contains a decimal number
(docs/architecture.md is exempt: it has no measurements). Pure Python: json, re and pathlib
(derive.py is executed from its source, not imported as a package module).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED = {"docs/architecture.md"}

MARKER = re.compile(r"^\s*<!--\s*numbers:\s*(?P<body>.*?)\s*-->\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")

NUMBER = re.compile(
    r"""
    (?<![\w./])                                  # not glued to a word, a digit, a dot, a slash
    (?P<sign>[−-])?
    (?P<int>\d{1,3}(?:,\d{3})+|\d+)
    (?P<frac>\.\d+)?
    (?:
        (?P<exp>e[-+−]?\d+)                      # 2.0e-16
      | \s?×\s?10(?P<sup>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)     # 3.0 × 10⁵
    )?
    (?P<suffix>k|\s?M|\s?%)?
    (?![\w]|\.\d|/\d)                            # not glued to letters; no version, no fraction
    """,
    re.VERBOSE,
)
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w]|\.\d)")


# ---------------------------------------------------------------------------------------------
# Parsing the documents


def documents() -> list[Path]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [p for p in docs if p.relative_to(ROOT).as_posix() not in EXCLUDED]


def plain(text: str) -> str:
    """Text with what is not prose removed: code spans, HTML comments, link targets."""
    text = re.sub(r"<!--.*?-->", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return text.replace("\\|", " ")


def cells(row: str) -> list[str]:
    row = row.strip().replace("\\|", "\0")
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return [c.replace("\0", "\\|") for c in row.split("|")]


def blocks(text: str):
    """Yield (line number, kind, lines, marker) for each table and each marked paragraph.

    kind is "table" or "paragraph"; lines are the data rows of a table (header and separator
    dropped) or the paragraph's lines; marker is the marker's body or None. Fenced code is
    skipped.
    """
    lines = text.splitlines()
    i, fenced = 0, False
    while i < len(lines):
        line = lines[i]
        if FENCE.match(line):
            fenced = not fenced
            i += 1
            continue
        if fenced:
            i += 1
            continue
        m = MARKER.match(line)
        marker = m.group("body") if m else None
        start = i + 1 if m else i
        if start < len(lines) and lines[start].lstrip().startswith("|"):
            j = start
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            rows = lines[start:j]
            yield start + 1, "table", rows[2:], marker
            i = j
            continue
        if m:
            j = start
            while j < len(lines) and lines[j].strip():
                j += 1
            yield start + 1, "paragraph", lines[start:j], marker
            i = j
            continue
        i += 1


def parse_marker(body: str) -> tuple[list[str], list[str]]:
    """(JSON paths or ["exact"], exempted snippets) of a marker's body."""
    head, _, rest = body.partition(";")
    paths = [p.strip() for p in head.split(",") if p.strip()]
    exempt: list[str] = []
    rest = rest.strip()
    if rest:
        if not rest.startswith("except"):
            raise ValueError(f"marker: expected '; except \"...\"', got {rest!r}")
        exempt = re.findall(r'"([^"]+)"', rest)
        if not exempt:
            raise ValueError(f"marker: no quoted snippet after 'except' in {rest!r}")
    return paths, exempt


# ---------------------------------------------------------------------------------------------
# Numbers


def numbers(text: str) -> list[tuple[str, list[tuple[float, float]]]]:
    """Every printed number of `text`: (as printed, [(value, half unit), ...]).

    A percentage gives two readings (25 and 0.25); any of them may match.
    """
    found = []
    for m in NUMBER.finditer(plain(text)):
        digits = m.group("int").replace(",", "")
        frac = m.group("frac") or ""
        mantissa = float(digits + frac)
        if frac:
            unit = 10.0 ** -(len(frac) - 1)
        elif len(digits) >= 3:
            unit = 10.0 ** (len(digits) - len(digits.rstrip("0")))
        else:
            unit = 1.0
        scale = 1.0
        if m.group("exp"):
            scale = 10.0 ** int(m.group("exp")[1:].replace("−", "-"))
        elif m.group("sup"):
            scale = 10.0 ** int(m.group("sup").translate(SUPERSCRIPT))
        suffix = (m.group("suffix") or "").strip()
        if suffix == "k":
            scale *= 1e3
        elif suffix == "M":
            scale *= 1e6
        sign = -1.0 if m.group("sign") else 1.0
        value, half = sign * mantissa * scale, 0.5 * unit * scale
        readings = [(value, half)]
        if suffix == "%":
            readings.append((value / 100, half / 100))
        found.append((m.group(0).strip(), readings))
    return found


def json_numbers(obj) -> list[float]:
    """All numeric leaves of a JSON document, at any depth (booleans are not numbers)."""
    out: list[float] = []
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
        elif isinstance(o, (int, float)) and not isinstance(o, bool):
            out.append(float(o))
    return out


_CACHE: dict[str, list[float]] = {}


def split_path(path: str) -> tuple[str, list[str]]:
    """("file.json", ["key", "subkey"]) of "file.json#key/subkey"."""
    file, _, fragment = path.partition("#")
    return file, [k for k in fragment.split("/") if k]


def values_of(paths: list[str]) -> list[float]:
    vals: list[float] = []
    for p in paths:
        if p not in _CACHE:
            file, keys = split_path(p)
            obj = json.loads((ROOT / file).read_text())
            for key in keys:
                obj = obj[key]
            _CACHE[p] = json_numbers(obj)
        vals.extend(_CACHE[p])
    return sorted(vals)


def first_not_below(values: list[float], x: float) -> int:
    """Index of the first of the sorted `values` that is >= x (binary search)."""
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def matches(readings, values: list[float]) -> bool:
    for value, half in readings:
        tol = half * (1 + 1e-9) + 1e-300
        k = first_not_below(values, value - tol)
        if k < len(values) and values[k] <= value + tol:
            return True
    return False


def check_block(lines: list[str], values: list[float], exempt=()) -> list[str]:
    """The printed numbers of a block that match none of `values`."""
    bad = []
    for line in lines:
        for snippet in exempt:
            line = line.replace(snippet, " ")
        for printed, readings in numbers(line):
            if not matches(readings, values):
                bad.append(printed)
    return bad


def table_data(lines: list[str]) -> list[str]:
    return [c for row in lines for c in cells(row)]


# ---------------------------------------------------------------------------------------------
# The tests


def test_documented_numbers_match_their_json():
    problems, checked = [], 0
    for doc in documents():
        rel = doc.relative_to(ROOT).as_posix()
        for lineno, kind, lines, marker in blocks(doc.read_text()):
            if marker is None:
                continue
            assert lines, f"{rel}:{lineno}: a marker must sit directly above its table or paragraph"
            paths, exempt = parse_marker(marker)
            if "exact" in paths:
                assert paths == ["exact"] and not exempt, f"{rel}:{lineno}: {marker!r}"
                continue
            files = [split_path(p)[0] for p in paths]
            missing = [f for f in files if not (ROOT / f).is_file()]
            assert not missing, f"{rel}:{lineno}: marker names missing files {missing}"
            assert all(f.endswith(".json") for f in files), f"{rel}:{lineno}: {paths}"
            for snippet in exempt:
                assert any(snippet in line for line in lines), (
                    f"{rel}:{lineno}: exempted snippet {snippet!r} is not in the {kind}"
                )
            values = values_of(paths)
            data = table_data(lines) if kind == "table" else ["\n".join(lines)]
            bad = check_block(data, values, exempt)
            checked += 1
            if bad:
                problems.append(f"{rel}:{lineno} ({kind}, {', '.join(paths)}): {bad}")
    assert checked > 0
    assert not problems, "numbers matching no value of their JSON:\n" + "\n".join(problems)


def test_every_table_with_decimals_has_a_marker():
    unmarked = []
    for doc in documents():
        rel = doc.relative_to(ROOT).as_posix()
        for lineno, kind, lines, marker in blocks(doc.read_text()):
            if kind != "table" or marker is not None:
                continue
            if any(DECIMAL.search(plain(c)) for c in table_data(lines)):
                unmarked.append(f"{rel}:{lineno}")
    assert not unmarked, "tables with decimal numbers and no <!-- numbers: ... --> marker: " + (
        ", ".join(unmarked)
    )


def test_derived_numbers_are_what_the_script_computes():
    script = ROOT / "docs" / "numbers" / "derive.py"
    namespace = {"__name__": "cygen_docs_derive", "__file__": str(script)}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    committed = json.loads((ROOT / "docs" / "numbers" / "derived.json").read_text())
    assert committed == json.loads(json.dumps(namespace["derive"]())), (
        "docs/numbers/derived.json is stale: run python docs/numbers/derive.py"
    )


# ---------------------------------------------------------------------------------------------
# The checker can fail


def test_number_forms():
    def values(text):
        return [(printed, [float(f"{v:.12g}") for v, _ in r]) for printed, r in numbers(text)]

    assert values("| 345,800 | 41.3k | 1.62 M | 25 % |") == [
        ("345,800", [345800.0]),
        ("41.3k", [41300.0]),
        ("1.62 M", [1620000.0]),
        ("25 %", [25.0, 0.25]),
    ]
    assert values("−204.18 ± 3.48, 3.0 × 10⁵, 5.4 × 10⁻⁵, 2.0e-16, 5.4×") == [
        ("−204.18", [-204.18]),
        ("3.48", [3.48]),
        ("3.0 × 10⁵", [300000.0]),
        ("5.4 × 10⁻⁵", [5.4e-05]),
        ("2.0e-16", [2e-16]),
        ("5.4", [5.4]),
    ]
    # not numbers: words with digits, code spans, versions, link targets, bare powers of ten
    assert values("k3_quartic P5 float64 `--epochs 30` 3.11.7 [a](x/1.json) 10⁶ 99th") == []
    assert values("ψ = −1/5, ∫ω³/3! = 5/6") == []
    assert values("75,000–127,000") == [("75,000", [75000.0]), ("127,000", [127000.0])]


def test_checker_reports_a_mismatch():
    values = sorted([0.01764, 345812.0, 0.25, -199.37, 1.402])
    table = ["| a | 0.0176 | 345,800 | 25 % | −199.4 ± 1.4 |"]
    assert check_block(table_data(table), values) == []
    wrong = ["| a | 0.0177 | 345,900 | 26 % | −199.3 ± 1.5 |"]
    assert check_block(table_data(wrong), values) == ["0.0177", "345,900", "26 %", "−199.3", "1.5"]
    assert check_block(["σ 0.0177 after 30 s"], values, exempt=['0.0177', '30 s']) == []

    doc = "\n".join(
        [
            "<!-- numbers: x.json -->",
            "| h | h |",
            "|---|---|",
            "| 0.5 | 0.022 |",
            "",
            "| h |",
            "|---|",
            "| 1.5 |",
            "",
            "<!-- numbers: exact -->",
            "| χ |",
            "|---|",
            "| −200 |",
        ]
    )
    found = list(blocks(doc))
    assert [(kind, marker) for _, kind, _, marker in found] == [
        ("table", "x.json"),
        ("table", None),
        ("table", "exact"),
    ]
    assert check_block(table_data(found[0][2]), [0.5]) == ["0.022"]
    assert split_path("a.json#learned/euler") == ("a.json", ["learned", "euler"])
    assert values_of(["docs/numbers/derived.json#train_c"]) != values_of(
        ["docs/numbers/derived.json"]
    )
    assert parse_marker('a.json, b.json; except "≈ 0.7", "5/6"') == (
        ["a.json", "b.json"],
        ["≈ 0.7", "5/6"],
    )
