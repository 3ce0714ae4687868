"""The web page ``gradtui --serve`` hands each browser: a terminal that needs nothing from the internet.

textual-serve's own page loads its font from a web font service, so in a classroom without
internet access (or on this project's machines, which reach only package registries) the
browser waits on a request that never answers and measures the terminal with a fallback
font. This page asks only the server it came from: textual-serve's bundled script
(``static/js/textual.js``, xterm.js with Textual's protocol) and stylesheet, and the Roboto
Mono font files textual-serve ships in the same folder.

Its addresses are built from the request's own ``Host``, so a page opened as
``http://classroom-pc:8000`` connects its websocket back to ``classroom-pc:8000``, also when
the server listens on ``0.0.0.0``. Plain string formatting, values escaped: no template
engine is needed for one page. Imports neither torch nor textual.
"""

from __future__ import annotations

from html import escape

#: The font textual.js asks xterm.js for; served from textual-serve's static folder.
FONT_FAMILY = "Roboto Mono"

_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{static}css/xterm.css">
<style>
@font-face {{
  font-family: "{font}";
  src: url("{static}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype");
  font-weight: 100 700;
  font-style: normal;
}}
@font-face {{
  font-family: "{font}";
  src: url("{static}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype");
  font-weight: 100 700;
  font-style: italic;
}}
html, body {{ margin: 0; height: 100%; background: #0c181f; overflow: hidden; }}
/* xterm.js fits the terminal to this box: the whole window. */
#terminal {{ position: absolute; inset: 0; }}
.notice {{
  position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  font: 16px "{font}", monospace; color: rgba(255, 255, 255, 0.9); text-align: center;
}}
/* Shown until the first screen arrives, and again when the session has ended. */
#ended, body.-first-byte #starting {{ display: none; }}
body.-closed #ended {{ display: flex; background: #0c181f; z-index: 10; }}
#ended a {{ color: #ac5af4; }}
</style>
<script src="{static}js/textual.js"></script>
<script>
// textual.js measures the font when it opens the terminal (on window load). Load the
// font first, so the cells are measured with the font they are drawn in.
(function () {{
  const open = window.onload;
  window.onload = async (event) => {{
    try {{ await document.fonts.load('16px "{font}"'); }} catch (e) {{ /* draw with the fallback */ }}
    open(event);
  }};
}})();
</script>
</head>
<body>
<div id="starting" class="notice">{name}: starting a session of its own for this page…</div>
<div id="ended" class="notice"><div>The session has ended.<br><br>
<a href="{index}">Start a new one</a></div></div>
<div id="terminal" class="textual-terminal" data-session-websocket-url="{websocket}"
 data-font-size="{font_size}"></div>
</body>
</html>
"""


def page(*, name: str, host: str, secure: bool, font_size: int = 16) -> str:
    """The page for one visitor who asked ``host`` (the request's ``Host``) for it.

    ``name`` is what is served (``accumulation.py``); ``secure`` when the page came over
    https (behind a proxy), so that the websocket is ``wss:`` too.
    """
    websocket = f"{'wss' if secure else 'ws'}://{host}/ws"
    return _PAGE.format(title=escape(f"gradtui · {name}"), name=escape(name), static="/static/",
                        font=FONT_FAMILY, index="/", websocket=escape(websocket, quote=True),
                        font_size=int(font_size))
