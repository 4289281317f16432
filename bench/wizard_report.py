"""The wizard's section of docs/BENCHMARKS.md, from :func:`bench.wizard_timing.measure`'s figures.

Every kubeha figure stands beside a bare Textual app measured in the same run, and beside the
figures from before issue 13 (``BEFORE``: the same bench on the wizard of commit e340249, whose
screens are fed111e's, run alternately with the new code on the same machine and hour, so both
saw the same load).
"""

from __future__ import annotations

BEFORE_COMMIT = "e340249"
BEFORE_NOTE = (
    "The *before* column: the same bench on the wizard before issue 13 (commit e340249), run "
    "alternately with the new code, 3 rounds each, on this 2-core machine on 2026-12-01 while "
    "other engineers' tests ran on it."
)
BEFORE: dict[str, float | None] = {
    "first_screen_s": 0.618,
    "bare_first_screen_s": 0.315,
    "first_screen_over_bare_s": 0.303,
    "first_screen_16_colours_over_bare_s": 0.215,
    "keypress_p50_ms": 474.8,
    "keypress_max_ms": 1913.5,
    "bare_keypress_p50_ms": 8.4,
    "bare_keypress_max_ms": 31.1,
    "switch_p50_ms": 183.9,
    "switch_max_ms": 314.6,
    "first_visit_p50_ms": 137.7,
    "deploy_open_ms": 3282.0,
    "widgets": 1414,
    "applies": 2,
    "behind_ms": 2091.3,
    "stream_keypress_p50_ms": None,
    "stream_keypress_max_ms": None,
    "loop_stall_max_ms": 2729.3,
}

TARGETS = {
    "first_screen_over_bare_s": "≤ +0.25 s",
    "keypress_p50_ms": "≤ 50 ms",
    "keypress_max_ms": "≤ 150 ms",
    "switch_p50_ms": "≤ 100 ms",
    "switch_max_ms": "≤ 100 ms",
    "applies": "once per frame (≤ 30 a second)",
}

ROWS = (
    ("first screen: `kubeha` to Start painted", "first_screen_s", "bare_first_screen_s", "s"),
    ("first screen, kubeha − bare", "first_screen_over_bare_s", None, "s"),
    (
        "first screen with 16 colours, kubeha − bare",
        "first_screen_16_colours_over_bare_s",
        None,
        "s",
    ),
    ("keypress to paint, 200 panes, median", "keypress_p50_ms", "bare_keypress_p50_ms", "ms"),
    ("keypress to paint, 200 panes, worst", "keypress_max_ms", "bare_keypress_max_ms", "ms"),
    ("step switch back and forth, median", "switch_p50_ms", None, "ms"),
    ("step switch back and forth, worst", "switch_max_ms", None, "ms"),
    ("step, first visit, median", "first_visit_p50_ms", None, "ms"),
    ("deploy screen open, 200 nodes", "deploy_open_ms", None, "ms"),
    ("widgets on the deploy screen", "widgets", None, ""),
    ("2400 events in 2 s: times applied", "applies", None, ""),
    ("UI behind the engine at the end", "behind_ms", None, "ms"),
    ("keypress during the stream, median", "stream_keypress_p50_ms", None, "ms"),
    ("keypress during the stream, worst", "stream_keypress_max_ms", None, "ms"),
    ("event loop's worst stall", "loop_stall_max_ms", None, "ms"),
)

WHERE_THE_TIME_WENT = (
    "**Where the time went** (pyinstrument, cProfile and `-X importtime` on the runs above). "
    "*First screen*: `kubeha` built the parser of every command, which imported the renderer "
    "and jinja2, the lab and the engine's CLI, then the screen registry imported all eight "
    "screens (Preview brings the renderer and the syntax viewer) and tomlkit: about 0.3 s of "
    "imports before Textual drew anything. Now `kubeha` and `kubeha wizard` load only the "
    "wizard's command, a step's module is imported on its first visit (or by a thread once the "
    "first screen is up), tomlkit only when saving, and the garbage collector, which spent "
    "about 40 ms collecting while modules loaded, waits for the first screen; what is left "
    "over a bare app is Textual "
    "parsing our CSS and the widgets' (DataTable, Header, Footer, Button) and composing the "
    "Start screen. With 16 colours the ANSI theme is set in `on_mount`, so Textual parses all "
    "CSS and restyles the first screen once more (0 to 0.1 s in these runs; setting the theme "
    "before the first screen mounts would save it). "
    "*Deploy screen*: "
    "200 panes of 7 widgets each were 1414 widgets; mounting them froze the UI for seconds "
    "while the engine's events piled up (applied once, seconds behind), and every key press "
    "restyled and laid them all out. Now `PaneList` mounts only the panes in view (one widget "
    "each, between two spacers that stand for the rest). With that, a Tab was still mostly "
    "Textual's Footer rebuilding its keys on every focus move (now `StepFooter`, rebuilt only "
    "when its keys change), each pane's own component styles recomputed at every restyle (now "
    "on the list, once) and the summary line's `Static.update` laying out the whole screen at "
    "every frame (now `layout=False`). *Events*: applied once per frame (1/30 s) from the "
    "bridge's buffer. *Step switch*: every step was composed, mounted and styled again (the "
    "balancer's form is the largest); now each is built once and kept. A revisit then cost "
    "Textual's full restyle on resume (skipped while the CSS is unchanged: `KeepsStyles`) and, "
    "at random, a full garbage collection walking every kept screen and module (about 100 ms; "
    "they are now frozen out of it with `gc.freeze`)."
)


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:.0f}"


def wizard_lines(w: dict) -> list[str]:
    lines = [
        "## 4. The wizard",
        "",
        "Headless (Textual's test driver), `python -m bench.wizard_timing`: the first screen in "
        "fresh interpreters from `kubeha` (imports included) against a bare Textual app with "
        "one Static, alternately; then a deploy of "
        f"{w['panes']} nodes whose scripted engine streams about 1200 events a second, "
        f"{w['presses']} key presses (Tab, and scrolling the panes) timed from the key to the "
        "paint that shows it, against Tab on a bare app in the same process; and the steps "
        f"Strategy → Preview, back and forth. Medians of {w.get('rounds', 1)} rounds; a "
        "dash: not measured (before, no key could be pressed while the panes mounted).",
        "",
    ]
    header = ["", f"before ({BEFORE_COMMIT})", "now", "bare Textual app, same run", "target"]
    rows = []
    for label, key, bare, unit in ROWS:
        rows.append(
            [
                label,
                _cell(BEFORE.get(key), unit),
                _cell(w.get(key), unit),
                _cell(w.get(bare), unit) if bare else "",
                TARGETS.get(key, ""),
            ]
        )
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", BEFORE_NOTE, "", WHERE_THE_TIME_WENT]
    return [*lines, ""]
