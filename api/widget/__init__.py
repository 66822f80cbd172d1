"""The customer's chat widget: `/widget.js` and its modules (`assets`), embeddable on any page with one script
tag, and `/demo` (`demo`), a stand-in store page for trying it as a seed customer. The widget itself is plain
JavaScript modules in `static/`, with no build step; it talks to the public HTTP API like any other client."""

from __future__ import annotations

from fastapi import FastAPI

from api.widget import assets, demo


def install(app: FastAPI) -> None:
    app.include_router(assets.router)
    app.include_router(demo.router)
