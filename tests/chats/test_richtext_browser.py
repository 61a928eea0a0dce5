"""static/common/richtext.js in a real browser: the links in a message become anchors only
for http(s), mailto: and tel:, text stays text (no markup from a message ever reaches the
page), and the times read as the page's language."""

from __future__ import annotations

import pytest

from tests.browser_fixtures import *  # noqa: F403

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# each text as the nodes it becomes: ["#text", text] or ["A", text, href, rel, target]
NODES = """
async (texts) => {
  const { richTextNodes } = await import("/static/common/richtext.js");
  return texts.map((text) => richTextNodes(text).map((node) => node.nodeName === "A"
    ? ["A", node.textContent, node.getAttribute("href"), node.rel, node.target]
    : [node.nodeName, node.textContent]));
}
"""


def nodes_of(page, server, texts: list[str]) -> list[list[list[str]]]:
    page.goto(f"{server.http_url}/console/login/")
    return page.evaluate(NODES, texts)


def test_web_links_become_safe_anchors_and_the_sentence_keeps_its_full_stop(daphne_server, page):
    [nodes] = nodes_of(page, daphne_server, ["See https://shop.example/orders?id=7. Thanks"])
    assert nodes == [
        ["#text", "See "],
        [
            "A",
            "https://shop.example/orders?id=7",
            "https://shop.example/orders?id=7",
            "noopener noreferrer nofollow",
            "_blank",
        ],
        ["#text", ". Thanks"],
    ]


def test_www_and_e_mail_addresses_are_links_too(daphne_server, page):
    www, mail = nodes_of(page, daphne_server, ["www.example.org", "write to ann@example.com"])
    assert www == [
        [
            "A",
            "www.example.org",
            "https://www.example.org/",
            "noopener noreferrer nofollow",
            "_blank",
        ]
    ]
    assert mail == [
        ["#text", "write to "],
        ["A", "ann@example.com", "mailto:ann@example.com", "", ""],
    ]


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        '<img src=x onerror="window.__pwned=1">',
        '<a href="javascript:alert(1)">click</a>',
    ],
)
def test_anything_else_stays_plain_text(daphne_server, page, text):
    [nodes] = nodes_of(page, daphne_server, [text])
    assert all(node[0] == "#text" for node in nodes), nodes
    assert "".join(node[1] for node in nodes) == text
    assert page.evaluate("window.__pwned") is None


def test_a_link_hidden_after_a_javascript_url_is_still_only_the_web_link(daphne_server, page):
    [nodes] = nodes_of(page, daphne_server, ["javascript:alert(1)//https://x.example"])
    anchors = [node for node in nodes if node[0] == "A"]
    assert [anchor[2] for anchor in anchors] == ["https://x.example/"]
    assert "".join(node[1] for node in nodes) == "javascript:alert(1)//https://x.example"


MEDIA = """
async (urls) => {
  const { mediaHref } = await import("/static/common/richtext.js");
  return urls.map((url) => mediaHref(url));
}
"""


def test_attachment_addresses_are_http_only_once_parsed(daphne_server, page):
    page.goto(f"{daphne_server.http_url}/console/login/")
    hrefs = page.evaluate(
        MEDIA,
        [
            "/files/abc/",
            "https://cdn.example/x.png",
            "javascript:alert(1)",
            " JAVASCRIPT:alert(1)",
            "data:image/png;base64,AAAA",
            "",
        ],
    )
    assert hrefs == [
        f"{daphne_server.http_url}/files/abc/",
        "https://cdn.example/x.png",
        None,
        None,
        None,
        None,
    ]
