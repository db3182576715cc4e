"""The client's pure modules, run in the browser page: markdown to formatted_body, the
sanitiser, mxc:// parsing, and the DOM patcher. Table-driven, so one page load covers many cases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from tests.helpers import HomeserverUnderTest
from tests.webclient.conftest import new_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

MARKDOWN = [
    ("plain words", None),
    ("**bold** _it_", "<strong>bold</strong> <em>it</em>"),
    ("a <b>tag</b> & more", None),  # no markup: sent as plain text, shown as text
    ("**<img src=x onerror=alert(1)>**", "<strong>&lt;img src=x onerror=alert(1)&gt;</strong>"),
    ("[x](javascript:alert(1))", None),
    ("[x](https://example.org/?a=1&b=2)", '<a href="https://example.org/?a=1&amp;b=2">x</a>'),
    (
        '[x](https://example.org/"onmouseover="alert(1))',
        '<a href="https://example.org/%22onmouseover=%22alert(1">x</a>)',
    ),
    ("`**not bold**`", "<code>**not bold**</code>"),
    ("```\n<script>\n```", "<pre><code>&lt;script&gt;</code></pre>"),
    ("> quoted\nafter", "<blockquote>quoted</blockquote>after"),
    ("- one\n- two", "<ul><li>one</li><li>two</li></ul>"),
    ("snake_case_name", None),
    (
        "see https://e.org/a_b_c?x=1&y=2.",
        'see <a href="https://e.org/a_b_c?x=1&amp;y=2">https://e.org/a_b_c?x=1&amp;y=2</a>.',
    ),
    (
        "[**bold** label](https://e.org/**x**)",
        '<a href="https://e.org/**x**"><strong>bold</strong> label</a>',
    ),
    ("`a`\u0000`b`\u00001\u0000", "<code>a</code><code>b</code>1"),
]

SANITISE = [
    (
        '<a href="https://e.org/" onclick="x()">a</a>',
        '<a href="https://e.org/" target="_blank" rel="noopener noreferrer">a</a>',
    ),
    ('<a href="javascript:alert(1)">a</a>', "<span>a</span>"),
    (
        '<a href="mailto:a@e.org">m</a>',
        '<a href="mailto:a@e.org" target="_blank" rel="noopener noreferrer">m</a>',
    ),
    ('<a href="/relative">r</a>', "<span>r</span>"),
    ("<img src=x onerror=alert(1)>after", "after"),
    ("<script>alert(1)</script>ok", "ok"),
    ("<mx-reply><blockquote>old</blockquote></mx-reply>new", "new"),
    ('<p style="color:red" class="x">p</p>', "<p>p</p>"),
    ('<font color="red">f</font>', "<span>f</span>"),
    ("<unknown>text</unknown>", "text"),
    ('<code class="language-python">c</code>', '<code class="language-python">c</code>'),
    ('<code class="evil x">c</code>', "<code>c</code>"),
    ('<ol start="3" onclick="x"><li>i</li></ol>', '<ol start="3"><li>i</li></ol>'),
    ('<span data-mx-spoiler="">s</span>', '<span class="spoiler">s</span>'),
    ("<svg><a href='https://e.org'>s</a></svg>", ""),
    ("<table><tr><td>c</td></tr></table>", "<table><tbody><tr><td>c</td></tr></tbody></table>"),
]

MXC = [
    ("mxc://example.org/abcDEF_123-x", {"server": "example.org", "mediaId": "abcDEF_123-x"}),
    ("mxc://example.org:8448/id", {"server": "example.org:8448", "mediaId": "id"}),
    ("mxc://[::1]:8448/id", {"server": "[::1]:8448", "mediaId": "id"}),
    ("mxc://example.org/../../etc", None),
    ("mxc://example.org/a/b", None),
    ("https://example.org/x", None),
    ("mxc://ex ample.org/id", None),
    (None, None),
]


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser, web_hs: HomeserverUnderTest) -> AsyncIterator[Page]:
    context, page, _ = await new_page(browser)
    await page.goto(web_hs.base_url + "/")
    await page.get_by_label("Username").wait_for()
    try:
        yield page
    finally:
        await context.close()


async def run(page: Page, script: str, cases: list[Any]) -> list[Any]:
    result: list[Any] = await page.evaluate(script, [case[0] for case in cases])
    return result


async def test_markdown(page: Page) -> None:
    got = await run(
        page,
        "async (xs) => xs.map((await import('/static/js/markdown.js')).markdownToHtml)",
        MARKDOWN,
    )
    assert got == [expected for _, expected in MARKDOWN]


async def test_sanitiser(page: Page) -> None:
    script = """async (xs) => {
        const s = await import('/static/js/sanitize.js');
        const html = (x) => {
            const d = document.createElement('div');
            d.append(s.sanitizeHtml(x));
            return d.innerHTML;
        };
        return xs.map(html);
    }"""
    assert await run(page, script, SANITISE) == [expected for _, expected in SANITISE]


async def test_sanitiser_limits_depth_and_size(page: Page) -> None:
    script = """async () => {
        const s = await import('/static/js/sanitize.js');
        const deep = '<div>'.repeat(500) + 'core' + '</div>'.repeat(500);
        const wide = '<b>x</b>'.repeat(20000);
        const d1 = document.createElement('div'); d1.append(s.sanitizeHtml(deep));
        const d2 = document.createElement('div'); d2.append(s.sanitizeHtml(wide));
        return [d1.querySelectorAll('div').length, d1.textContent, d2.querySelectorAll('*').length];
    }"""
    depth, text, nodes = await page.evaluate(script)
    assert depth <= 50 and text == "core"  # deep nesting flattened, the text kept
    assert nodes <= 5000


async def test_mxc_parsing(page: Page) -> None:
    got = await run(
        page,
        "async (xs) => { const m = await import('/static/js/media.js'); return xs.map(m.parseMxc); }",
        MXC,
    )
    assert got == [expected for _, expected in MXC]


async def test_patch_keeps_focus_on_nodes_in_order(page: Page) -> None:
    """A row that goes away (a read receipt moving on) or is rebuilt before the focused one
    must not move it: a moved node loses the focus."""
    script = """async () => {
        const { patch } = await import('/static/js/dom.js');
        const li = (t) => Object.assign(document.createElement('li'), { textContent: t, tabIndex: 0 });
        const list = document.createElement('ol');
        document.body.append(list);
        const [a, seen, focused, old] = [li('a'), li('seen'), li('focused'), li('old')];
        patch(list, [a, seen, old, focused]);
        focused.focus();
        const out = [];
        patch(list, [a, focused]);  // two rows gone, one before the focused one
        out.push(document.activeElement === focused, [...list.children].map((n) => n.textContent).join());
        patch(list, [li('rebuilt a'), focused, li('new')]);
        out.push(document.activeElement === focused, [...list.children].map((n) => n.textContent).join());
        patch(list, [focused, li('moved a')]);
        out.push([...list.children].map((n) => n.textContent).join());
        list.remove();
        return out;
    }"""
    assert await page.evaluate(script) == [
        True,
        "a,focused",
        True,
        "rebuilt a,focused,new",
        "focused,moved a",
    ]
