"""WSGI entry point (served by gunicorn in ``hepatrial serve``: hepatrial.web.server).

Importing it readies the app for its first request: the URL patterns, the protocol
and hepatrial's templates are built now, not by the first requests, and then the
objects the process keeps for life are moved out of the garbage collector's sight
(``gc.freeze``). Without that, each full collection walked them all again (about
140,000 objects, 70-140 ms on the load benchmark's machine during which no request
of the process moves); with it, a full collection takes a few milliseconds. (So a
template that does not compile stops the server from starting, rather than one page
failing later.) ``hepatrial serve`` imports it in its master process, before forking the
worker processes: they start warm, and share those pages of memory until written.
"""

import gc
import os
from pathlib import Path

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hepatrial.web.settings")
application = get_wsgi_application()


def _warm_up() -> int:
    """Build what the first requests would build; the number of templates compiled."""
    from django.template.loader import get_template
    from django.urls import reverse

    from hepatrial.services.protocol import current_protocol

    reverse("home")  # builds every pattern's reverse lookup
    current_protocol()
    compiled = 0
    for folder in Path(__file__).parent.rglob("templates"):  # hepatrial's own; the cached loader keeps them
        for template in sorted(folder.rglob("*.html")):
            get_template(template.relative_to(folder).as_posix())
            compiled += 1
    return compiled


_warm_up()
gc.collect()
gc.freeze()
