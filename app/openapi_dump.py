"""Write the service's OpenAPI document as JSON: ``python -m app.openapi_dump [PATH]``.

The web client's types (``app/web/src/api-types.ts``) are generated from it by
``npm run gen:api``, part of ``npm run build``. No database is needed: the document comes
from the routes alone, so the build works offline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.main import create_app
from config.settings import load_settings


def openapi_json() -> str:
    """The OpenAPI document of ``create_app()``, as indented JSON with sorted keys."""
    return json.dumps(create_app(load_settings()).openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> None:
    """Print the document, or write it to ``argv[0]`` when a path is given."""
    text = openapi_json()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
