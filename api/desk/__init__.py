"""The support desk: server-rendered pages for staff at `/desk`, on the same app and the same services as the
API. Sign-in (`signin`), the queue and run review (`pages`), the review queue of flagged runs and its golden-case
export (`reviews`), deciding approvals and answering hand-offs (`actions`), the store's figures (`insights`);
templates and the vendored htmx in this folder."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.desk import actions, insights, pages, reviews, signin
from api.desk.errors import DeskPageError, SignInRequired
from api.desk.render import HERE, render


def install(app: FastAPI) -> None:
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.include_router(reviews.router)
    app.include_router(insights.router)
    app.mount("/desk/static", StaticFiles(directory=HERE / "static"), name="desk-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        if request.headers.get("hx-request"):  # htmx follows no redirects: tell it to load the sign-in page
            return Response(status_code=401, headers={"HX-Redirect": "/desk/sign-in"})
        return RedirectResponse("/desk/sign-in", status_code=303)

    @app.exception_handler(DeskPageError)
    async def _page_error(request: Request, error: DeskPageError) -> HTMLResponse:
        return render(request, "problem.html", {"message": error.message}, status_code=error.status)
