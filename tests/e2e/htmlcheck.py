#!/usr/bin/env python3
"""Checks a kluis HTML report without a browser (docs/COMPLIANCE.md).

usage: htmlcheck.py FILE [--text STRING]...

- well-formed: every element is closed explicitly and in order (void
  elements excepted; SVG elements may close themselves with "/>");
- self-contained: no <script>, <link>, <iframe>, <object>, <embed>, <img>,
  no src/href/srcset/action/poster attribute that is not a "#fragment", no
  url( or @import in CSS;
- has an inline <svg> chart with drawn data (polyline or rect);
- every --text STRING appears in the decoded text content (so that a host
  name such as "<script>" is shown as text, not parsed as markup).
Prints each problem and exits 1 if there is any.
"""
import html.parser
import re
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}
FORBIDDEN = {"script", "link", "iframe", "object", "embed", "img", "frame",
             "frameset", "applet", "base", "audio", "video", "source"}
URL_ATTRS = {"src", "href", "xlink:href", "srcset", "action", "poster",
             "data", "formaction", "background", "manifest", "ping"}
CSS_EXTERNAL = re.compile(r"url\s*\(|@import", re.I)


class Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.problems = []
        self.text = []
        self.tags = set()
        self.in_style = False

    def where(self):
        line, col = self.getpos()
        return "line %d col %d" % (line, col + 1)

    def attrs_check(self, tag, attrs):
        self.tags.add(tag)
        if tag in FORBIDDEN:
            self.problems.append("%s: forbidden element <%s>" %
                                 (self.where(), tag))
        for name, value in attrs:
            value = value or ""
            if name in URL_ATTRS and not value.startswith("#"):
                self.problems.append("%s: external reference %s=%r" %
                                     (self.where(), name, value))
            if name.startswith("on"):
                self.problems.append("%s: event handler %s" %
                                     (self.where(), name))
            if name == "style" and CSS_EXTERNAL.search(value):
                self.problems.append("%s: external CSS in style=%r" %
                                     (self.where(), value))

    def handle_starttag(self, tag, attrs):
        self.attrs_check(tag, attrs)
        if tag not in VOID:
            self.stack.append((tag, self.where()))
        self.in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self.attrs_check(tag, attrs)
        if self.stack and not any(t == "svg" for t, _ in self.stack) \
                and tag not in VOID:
            self.problems.append("%s: <%s/> outside SVG" %
                                 (self.where(), tag))

    def handle_endtag(self, tag):
        self.in_style = False
        if tag in VOID:
            self.problems.append("%s: end tag of void <%s>" %
                                 (self.where(), tag))
            return
        if not self.stack:
            self.problems.append("%s: </%s> closes nothing" %
                                 (self.where(), tag))
            return
        top, opened = self.stack.pop()
        if top != tag:
            self.problems.append("%s: </%s> closes <%s> opened at %s" %
                                 (self.where(), tag, top, opened))

    def handle_data(self, data):
        if self.in_style and CSS_EXTERNAL.search(data):
            self.problems.append("%s: external CSS (url( or @import)" %
                                 self.where())
        self.text.append(data)


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    path = argv[1]
    want = []
    i = 2
    while i < len(argv):
        if argv[i] == "--text" and i + 1 < len(argv):
            want.append(argv[i + 1])
            i += 2
        else:
            print("unknown argument %r" % argv[i])
            return 2
    raw = open(path, "rb").read()
    try:
        doc = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print("not UTF-8: %s" % e)
        return 1
    c = Checker()
    c.feed(doc)
    c.close()
    for tag, opened in c.stack:
        c.problems.append("<%s> opened at %s is never closed" % (tag, opened))
    if not doc.lstrip().lower().startswith("<!doctype html>"):
        c.problems.append("no <!DOCTYPE html> first")
    if "svg" not in c.tags or not ({"polyline", "rect"} & c.tags):
        c.problems.append("no inline SVG chart with data")
    text = "".join(c.text)
    for w in want:
        if w not in text:
            c.problems.append("text %r not in the page's text" % w)
    for p in c.problems:
        print(p)
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
