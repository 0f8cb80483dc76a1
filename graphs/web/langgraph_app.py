"""The review pages for `langgraph dev` / LangGraph Server: `langgraph.json` names this `app`
as its `http.app`, so the server mounts it beside the LangGraph API (pages under `/desk/`).

Building the app opens nothing: the manager (the CLI's checkpoint store under
`COPYDESK_HOME`) is opened on the first page request.
"""

from copydesk.graphs.web.app import create_app

__all__ = ["app"]

app = create_app(root_redirect=False)
